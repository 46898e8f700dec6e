"""The frailty Cox algebra against a direct, row-by-row implementation of the same formulas.

The direct version builds the n x n Hessian of the Efron log partial likelihood in the linear predictor,
so it only runs on small data; it checks the risk-set sums, the coxme treatment of the random-effect block
(diagonal for sparse groups, dense for groups above 2% of the rows), the Laplace approximation and the
standard errors, for Efron and Breslow ties and with strata.
"""

import numpy as np
import pandas as pd
import pytest

from lesionmap.survival import FrailtyCox, simulate_frailty_cox
from lesionmap.survival.riskset import RiskSetAlgebra


def direct_partial_likelihood(time, event, strata, eta, ties):
    """Log partial likelihood, gradient and Hessian in eta, one event time at a time."""
    n = len(time)
    loglik, grad, hess = 0.0, np.zeros(n), np.zeros((n, n))
    risk = np.exp(eta)
    for stratum in np.unique(strata):
        for t in np.unique(time[(strata == stratum) & event]):
            at_risk = ((strata == stratum) & (time >= t)).astype(float)
            dead = ((strata == stratum) & (time == t) & event).astype(float)
            d = int(dead.sum())
            loglik += eta @ dead
            grad += dead
            for k in range(d):
                c = k / d if ties == "efron" else 0.0
                weights = risk * (at_risk - c * dead)
                den = weights.sum()
                loglik -= np.log(den)
                grad -= weights / den
                hess -= np.diag(weights) / den - np.outer(weights, weights) / den**2
    return loglik, grad, hess


def small_data(seed, n_patients, lesions_per_patient):
    data, _ = simulate_frailty_cox(
        n_patients=n_patients, lesions_per_patient=lesions_per_patient, scale=150.0, seed=seed
    )
    common = data["organ"].isin(["abdomen", "liver", "lung"])
    return data.assign(organ=data["organ"].where(common, "other"))


def design(data, fit, columns):
    x = np.column_stack(
        [(data[c] == level).astype(float) if level is not None else data[c].astype(float) for c, level in columns]
    )
    groups = pd.Categorical(data["patient_id"], categories=fit.random_effects_.index)
    z = (groups.codes[:, None] == np.arange(len(groups.categories))[None, :]).astype(float)
    return x, z


@pytest.mark.parametrize(
    "ties, strata, n_patients, lesions",
    [("efron", None, 150, 2.0), ("breslow", None, 150, 2.0), ("efron", "treatment_group", 60, 4.0)],
)
def test_laplace_likelihood_and_standard_errors_match_direct_algebra(ties, strata, n_patients, lesions):
    data = small_data(seed=5, n_patients=n_patients, lesions_per_patient=lesions)
    fit = FrailtyCox(ties=ties, variance=0.45).fit(
        data, "day", "event", "patient_id", covariates=["organ", "line"], references={"organ": "abdomen"}, strata=strata
    )
    share = data["patient_id"].value_counts(normalize=True)[fit.random_effects_.index].to_numpy()
    sparse = share <= 0.02
    assert fit.n_groups_ == n_patients and fit.n_sparse_groups_ == sparse.sum()
    if lesions > 3:  # a mixed block: some groups hold more than 2% of the rows
        assert 0 < sparse.sum() < n_patients
    else:
        assert sparse.all()
    q = n_patients
    columns = [("organ", level) for level in fit.summary["level"].iloc[:-1]] + [("line", None)]
    x, z = design(data, fit, columns)
    beta, b = fit.params_.to_numpy(), fit.random_effects_.to_numpy()
    strata_codes = data[strata].to_numpy() if strata else np.zeros(len(data))
    loglik, grad, hess = direct_partial_likelihood(
        data["day"].to_numpy(float), data["event"].to_numpy(bool), strata_codes, x @ beta + z @ b, ties
    )
    theta = fit.frailty_variance_
    np.testing.assert_allclose(fit.loglik_partial_, loglik, rtol=1e-12)
    np.testing.assert_allclose(fit.loglik_penalized_, loglik - b @ b / (2 * theta), rtol=1e-12)
    # stationary point of the penalized likelihood
    np.testing.assert_allclose(x.T @ grad, 0.0, atol=1e-7)
    np.testing.assert_allclose(z.T @ grad - b / theta, 0.0, atol=1e-7)
    # coxme's information: the block between two sparse groups is dropped
    full = np.hstack([z, x])
    info = -full.T @ hess @ full
    info[:q, :q] += np.eye(q) / theta
    dropped = np.outer(sparse, sparse) & ~np.eye(q, dtype=bool)
    info[:q, :q][dropped] = 0.0
    logdet = np.linalg.slogdet(info[:q, :q])[1]
    np.testing.assert_allclose(
        fit.loglik_integrated_, fit.loglik_penalized_ - 0.5 * (q * np.log(theta) + logdet), rtol=0, atol=1e-8
    )
    se = np.sqrt(np.diag(np.linalg.inv(info))[q:])
    np.testing.assert_allclose(fit.standard_errors_.to_numpy(), se, rtol=1e-8)


def test_score_information_and_offdiagonal_product_match_finite_differences():
    rng = np.random.default_rng(2)
    n, groups, m = 80, 12, 3
    time = rng.integers(1, 15, n).astype(float)
    event = rng.random(n) < 0.7
    strata = rng.integers(0, 2, n)
    group = rng.integers(0, groups, n)
    group[rng.random(n) < 0.1] = -1  # rows without a sparse intercept
    design_matrix = rng.normal(size=(n, m))
    for ties in ("efron", "breslow"):
        algebra = RiskSetAlgebra(time, event, strata, group, groups, design_matrix, ties)
        w, b = rng.normal(size=m) * 0.3, rng.normal(size=groups) * 0.5
        der = algebra.evaluate(w, b)
        point, h = np.r_[w, b], 1e-5

        def score(p):
            out = algebra.evaluate(p[:m], p[m:], second=False)
            return np.r_[out.score_w, out.score_b]

        def loglik(p):
            return algebra.evaluate(p[:m], p[m:], second=False).loglik

        unit = np.eye(m + groups)
        numeric_score = np.array([(loglik(point + h * e) - loglik(point - h * e)) / (2 * h) for e in unit])
        np.testing.assert_allclose(np.r_[der.score_w, der.score_b], numeric_score, atol=1e-7)
        information = -np.array([(score(point + h * e) - score(point - h * e)) / (2 * h) for e in unit])
        np.testing.assert_allclose(der.info_ww, information[:m, :m], atol=1e-7)
        np.testing.assert_allclose(der.info_bw, information[m:, :m], atol=1e-7)
        np.testing.assert_allclose(der.info_bb_diag, np.diag(information)[m:], atol=1e-7)
        block = information[m:, m:]
        offdiagonal = block - np.diag(np.diag(block))
        v = rng.normal(size=groups)
        np.testing.assert_allclose(algebra.offdiagonal_product(der.curvature, v), offdiagonal @ v, atol=1e-7)
