"""Long studies of the SAEM estimator (``make test-slow``): the paper's scale, coverage, 4-D quadrature."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_ndtr, logsumexp

from conftest import SAEM_REFERENCE as REFERENCE
from conftest import TGI_COLUMNS
from lesionmap.growth import SAEM, GrowthParameters, simulate_growth_data

pytestmark = pytest.mark.slow


def test_recovers_the_truth_at_the_papers_scale():
    """19,180 lesions (about 94,000 scans): typical values within 5%, random-effect SDs within 10%."""
    sim = simulate_growth_data(19_180, seed=2023)
    fit = SAEM(estimate_v0=True, random_state=2023, verbose=False).fit(sim.measurements)
    truth = sim.truth
    assert 90_000 < fit.n_obs < 98_000
    for p in fit.parameter_names:
        assert abs(fit.population[p] / truth.population[p] - 1) < 0.05, (p, fit.population[p])
        assert abs(fit.omega[p] / truth.omega[p] - 1) < 0.10, (p, fit.omega[p])
    assert abs(fit.error["b"] / truth.b - 1) < 0.05
    assert np.isfinite(fit.minus2loglik)


def test_confidence_intervals_cover_the_truth():
    """95% intervals of the typical values, omegas and b over 40 simulated cohorts of 500 lesions."""
    truth = GrowthParameters()
    hits = {}
    n_rep = 40
    for rep in range(n_rep):
        sim = simulate_growth_data(500, truth, seed=1000 + rep)
        fit = SAEM(estimate_v0=True, random_state=rep, verbose=False, n_is_samples=0).fit(sim.measurements)
        for p in fit.parameter_names:
            lo, hi = fit.population_ci[p]
            hits.setdefault(p, []).append(lo <= truth.population[p] <= hi)
            hits.setdefault(f"omega_{p}", []).append(abs(fit.omega[p] - truth.omega[p]) <= 1.96 * fit.omega_se[p])
        hits.setdefault("b", []).append(abs(fit.error["b"] - truth.b) <= 1.96 * fit.error_se["b"])
    coverage = {k: float(np.mean(v)) for k, v in hits.items()}
    # 40 replicates: a true 95% coverage falls below 85% with probability < 0.5%.
    assert all(c >= 0.85 for c in coverage.values()), coverage


def test_importance_sampling_loglik_matches_quadrature_with_v0_estimated():
    """The four-parameter model of tgi_1000 (M3): a 4-D graded grid around each lesion's mode."""
    df = pd.read_csv(REFERENCE / "tgi_1000.csv")
    df["cens"] = df["cens"].astype(bool)
    ref = json.loads((REFERENCE / "saemix_1000.json").read_text())["fits"]["saemix_m3"]
    pop, omega, b = ref["pop"], ref["omega_sd"], ref["b"]
    n_censored = df.groupby("id")["cens"].sum()
    lesions = list(n_censored[n_censored >= 2].index[:2]) + list(n_censored[n_censored == 0].index[:2])
    subset = df[df["id"].isin(lesions)]
    params = GrowthParameters(population=pop, omega=omega, b=b)
    is_total = SAEM(estimate_v0=True, verbose=False, **TGI_COLUMNS).loglik(
        subset, params, n_samples=2**20, random_state=0
    )
    names = ("V0", "Kd", "F", "Kg")
    mu = np.array([np.log(pop["V0"]), np.log(pop["Kd"]), np.log(pop["F"] / (1 - pop["F"])), np.log(pop["Kg"])])
    om = np.array([omega[p] for p in names])
    quad_total = 0.0
    for _, g in subset.groupby("id"):
        t, y, c = g["time"].to_numpy(), g["y"].to_numpy(), g["cens"].to_numpy()

        def log_post(phi, t=t, y=y, c=c):
            with np.errstate(all="ignore"):
                v0, kd, f, kg = (
                    np.exp(phi[..., 0:1]),
                    np.exp(phi[..., 1:2]),
                    expit(phi[..., 2:3]),
                    np.exp(phi[..., 3:4]),
                )
                pred = v0 * (f * np.exp(kg * t) + (1 - f) * np.exp(-kd * t))
                z = (y - pred) / (b * pred)
                ll = np.where(c, log_ndtr(z), -0.5 * np.log(2 * np.pi) - np.log(b * pred) - 0.5 * z * z).sum(-1)
                e = (phi - mu) / om
                out = ll - 0.5 * (e * e).sum(-1) - 2 * np.log(2 * np.pi) - np.log(om).sum()
            return np.where(np.isnan(out), -np.inf, out)

        def neg(phi, log_post=log_post):
            return -log_post(phi[None])[0]

        mode = minimize(neg, mu, method="BFGS", options={"gtol": 1e-9}).x
        eye = np.eye(4) * 1e-4
        hess = np.array(
            [
                [
                    (
                        neg(mode + eye[i] + eye[j])
                        - neg(mode + eye[i] - eye[j])
                        - neg(mode - eye[i] + eye[j])
                        + neg(mode - eye[i] - eye[j])
                    )
                    / 4e-8
                    for j in range(4)
                ]
                for i in range(4)
            ]
        )
        chol = np.linalg.cholesky(np.linalg.inv(hess))
        v = np.arange(-10.0, 10.0 + 0.175, 0.35)
        u, log_w1 = 2 * np.sinh(v / 2), np.log(0.35 * np.cosh(v / 2))
        inner = np.stack(np.meshgrid(u, u, u, indexing="ij"), -1).reshape(-1, 3)
        inner_w = np.stack(np.meshgrid(log_w1, log_w1, log_w1, indexing="ij"), -1).reshape(-1, 3).sum(1)
        parts = [
            logsumexp(log_post(mode + np.column_stack([np.full(len(inner), u0), inner]) @ chol.T) + inner_w + w0)
            for u0, w0 in zip(u, log_w1)
        ]
        quad_total += logsumexp(parts) + np.log(np.linalg.det(chol))
    assert is_total == pytest.approx(quad_total, abs=2e-3)
