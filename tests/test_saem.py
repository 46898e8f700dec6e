"""The SAEM estimator of the growth model: against saemix, against quadrature, and on known truth."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_ndtr, logsumexp

from conftest import SAEM_REFERENCE as REFERENCE
from conftest import TGI_COLUMNS
from lesionmap.growth import SAEM, GrowthParameters, simulate_from_fit, simulate_growth_data, vpc_table
from lesionmap.growth.likelihood import conditional_mode

TGI_START = {"V0": 30.0, "Kd": 0.1, "F": 0.3, "Kg": 0.02}  # per week


@pytest.fixture(scope="module")
def tgi():
    df = pd.read_csv(REFERENCE / "tgi_1000.csv")
    df["cens"] = df["cens"].astype(bool)
    return df


@pytest.fixture(scope="module")
def saemix():
    return json.loads((REFERENCE / "saemix_1000.json").read_text())["fits"]


@pytest.fixture(scope="module")
def fits(tgi):
    out = {}
    for censoring in ("M1", "M3"):
        est = SAEM(
            estimate_v0=True, censoring=censoring, initial=TGI_START, random_state=1, verbose=False, **TGI_COLUMNS
        )
        out[censoring] = est.fit(tgi)
    return out


# -- against saemix (tests/reference/saemix) ---------------------------------------------------------------
@pytest.mark.parametrize("censoring, key", [("M1", "saemix_m1"), ("M3", "saemix_m3")])
def test_estimates_agree_with_saemix_within_about_one_standard_error(fits, saemix, censoring, key):
    fit, ref = fits[censoring], saemix[key]
    se = ref.get("se_pop", fit.population_se)  # saemix reports SEs for M1 only
    for p, value in ref["pop"].items():
        assert abs(fit.population[p] - value) < 1.5 * se[p], (p, fit.population[p], value, se[p])
        assert abs(fit.omega[p] - ref["omega_sd"][p]) < 2.0 * fit.omega_se[p], (p, fit.omega[p])
    b_ref = ref["b"] if "b" in ref else ref["residual"][1]
    assert abs(fit.error["b"] - b_ref) < 2.0 * fit.error_se["b"]
    assert fit.n_obs == 7114 - (231 if censoring == "M1" else 0)
    assert fit.n_censored == (231 if censoring == "M3" else 0)


def test_standard_errors_agree_with_saemix(fits, saemix):
    """Louis' formula (stochastic approximation) against saemix's linearised Fisher information, M1."""
    for p, se in saemix["saemix_m1"]["se_pop"].items():
        assert fits["M1"].population_se[p] == pytest.approx(se, rel=0.3), p


def test_m3_uses_the_censored_rows(fits):
    m1, m3 = fits["M1"], fits["M3"]
    assert m3.n_censored == 231 and m1.n_dropped_blq == 231
    # Dropping observations below the LOQ (M1) hides the deepest responses: F is pushed up.
    assert m3.population["F"] < m1.population["F"]


# -- the log-likelihood against an independent quadrature ------------------------------------------------
def quadrature_loglik(t, y, censored, v0, pop, omega, b, check_convergence=False):
    """log p(y) of one lesion (V0 fixed) by a graded grid over (log Kd, logit F, log Kg) around its mode.

    The grid u = 2 sinh(v / 2) (v uniform) in the Laplace coordinates reaches hundreds of Laplace SDs, so
    long one-sided tails (censored lesions) are covered; ``check_convergence`` compares it with a coarser grid.
    """
    mu = np.array([np.log(pop["Kd"]), np.log(pop["F"] / (1 - pop["F"])), np.log(pop["Kg"])])
    om = np.array([omega["Kd"], omega["F"], omega["Kg"]])

    def log_post(phi):
        with np.errstate(all="ignore"):
            kd, f, kg = np.exp(phi[..., 0:1]), expit(phi[..., 1:2]), np.exp(phi[..., 2:3])
            pred = v0 * (f * np.exp(kg * t) + (1 - f) * np.exp(-kd * t))
            z = (y - pred) / (b * pred)
            ll = np.where(censored, log_ndtr(z), -0.5 * np.log(2 * np.pi) - np.log(b * pred) - 0.5 * z * z).sum(-1)
            e = (phi - mu) / om
            out = ll - 0.5 * (e * e).sum(-1) - 1.5 * np.log(2 * np.pi) - np.log(om).sum()
        return np.where(np.isnan(out), -np.inf, out)

    def neg(phi):
        return -log_post(phi[None])[0]

    mode = minimize(neg, mu, method="BFGS", options={"gtol": 1e-9}).x
    eps, eye = 1e-4, np.eye(3) * 1e-4
    hess = np.array(
        [
            [
                (
                    neg(mode + eye[i] + eye[j])
                    - neg(mode + eye[i] - eye[j])
                    - neg(mode - eye[i] + eye[j])
                    + neg(mode - eye[i] - eye[j])
                )
                / (4 * eps * eps)
                for j in range(3)
            ]
            for i in range(3)
        ]
    )
    chol = np.linalg.cholesky(np.linalg.inv(hess))

    def grid(half_width, step):
        v = np.arange(-half_width, half_width + step / 2, step)
        u, w = 2 * np.sinh(v / 2), step * np.cosh(v / 2)
        nodes = np.stack(np.meshgrid(u, u, u, indexing="ij"), -1).reshape(-1, 3)
        log_w = np.log(np.stack(np.meshgrid(w, w, w, indexing="ij"), -1).reshape(-1, 3)).sum(1)
        return logsumexp(log_post(mode + nodes @ chol.T) + log_w) + np.log(np.linalg.det(chol))

    fine = grid(12.0, 0.25)
    if check_convergence:
        assert abs(grid(12.0, 0.3) - fine) < 1e-4
    return fine


@pytest.mark.parametrize("censoring", ["M3", "M1"])
def test_importance_sampling_loglik_matches_quadrature(tgi, saemix, censoring):
    ref = saemix["saemix_m3"]
    params = GrowthParameters(population=ref["pop"], omega=ref["omega_sd"], b=ref["b"])
    n_censored = tgi.groupby("id")["cens"].sum()
    lesions = list(n_censored[n_censored >= 2].index[:3]) + list(n_censored[n_censored == 0].index[:3])
    subset = tgi[tgi["id"].isin(lesions)]
    if censoring == "M1":
        subset = subset[~subset["cens"]]
    est = SAEM(estimate_v0=False, censoring=censoring, verbose=False, **TGI_COLUMNS)
    is_total = est.loglik(subset, params, n_samples=2**19, random_state=0)
    quad_total = 0.0
    for i, (_, g) in enumerate(subset.sort_values(["id", "time"]).groupby("id")):
        quad_total += quadrature_loglik(
            g["time"].to_numpy()[1:],
            g["y"].to_numpy()[1:],
            g["cens"].to_numpy()[1:],
            g["y"].iloc[0],
            ref["pop"],
            ref["omega_sd"],
            ref["b"],
            check_convergence=i == 0,
        )
    assert is_total == pytest.approx(quad_total, abs=1e-3)


def test_fit_reports_the_loglik_of_its_estimates(tgi, fits):
    fit = fits["M3"]
    est = SAEM(estimate_v0=True, censoring="M3", verbose=False, **TGI_COLUMNS)
    again = est.loglik(tgi, fit.parameters, n_samples=4096, random_state=3)
    assert fit.loglik == pytest.approx(again, abs=25.0)  # 1,000 lesions, 512 vs 4,096 importance samples
    assert fit.minus2loglik == pytest.approx(-2 * fit.loglik)
    assert fit.aic == pytest.approx(fit.minus2loglik + 2 * 9)


# -- individual estimates ----------------------------------------------------------------------------------
def test_conditional_modes_match_a_per_lesion_optimiser(tgi, fits):
    fit = fits["M3"]
    est = SAEM(estimate_v0=True, censoring="M3", verbose=False, **TGI_COLUMNS)
    data = est.prepare(tgi)
    names = fit.parameter_names
    mu = fit.parameters.mu(names)
    omega2 = fit.parameters.omega_vector(names) ** 2
    b = fit.error["b"]
    mode, hessian = conditional_mode(np.repeat(mu[:, None], data.n_lesions, axis=1), names, data, mu, omega2, 0.0, b)
    assert np.all(np.linalg.eigvalsh(hessian) > 0)
    for lesion in (0, 1, 2, 57, 401, 999):
        rows = data.subject == lesion
        t, y, c = np.maximum(data.time[rows], 0), data.y[rows], data.censored[rows]

        def neg_log_post(phi):
            v0, kd, f, kg = np.exp(phi[0]), np.exp(phi[1]), expit(phi[2]), np.exp(phi[3])
            pred = v0 * (f * np.exp(kg * t) + (1 - f) * np.exp(-kd * t))
            z = (y - pred) / (b * pred)
            ll = np.where(c, log_ndtr(z), -np.log(b * pred) - 0.5 * z * z).sum()
            return -ll + 0.5 * np.sum((phi - mu) ** 2 / omega2)

        best = minimize(
            neg_log_post, mu, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 40000}
        ).x
        assert np.allclose(mode[:, lesion], best, atol=2e-4), lesion
    table = fit.individual
    assert list(table.columns) == ["Kd", "F", "Kg", "V0"] and table.index.name == "id"
    assert np.allclose(np.log(table["Kg"].to_numpy()), mode[3], atol=1e-6)


def test_shrinkage_and_individual_tables(fits):
    fit = fits["M3"]
    assert set(fit.shrinkage) == set(fit.parameter_names)
    assert all(0 <= v < 100 for v in fit.shrinkage.values())
    assert fit.shrinkage["V0"] < 15 < fit.shrinkage["Kg"]  # V0 is measured at baseline; Kg only by regrowth
    assert (fit.individual_mean.index == fit.individual.index).all()
    assert fit.individual_mean["F"].between(0, 1).all()


# -- recovery of a known truth -----------------------------------------------------------------------------
def _check_recovery(fit, truth, fixed_rel, omega_rel):
    for p in fit.parameter_names:
        est, true = fit.population[p], truth.population[p]
        assert abs(est - true) < 3.5 * fit.population_se[p], (p, est, true, fit.population_se[p])
        assert abs(est / true - 1) < fixed_rel, (p, est, true)
        assert abs(fit.omega[p] - truth.omega[p]) < 3.5 * fit.omega_se[p], (p, fit.omega[p], truth.omega[p])
        assert abs(fit.omega[p] / truth.omega[p] - 1) < omega_rel, (p, fit.omega[p])
    assert abs(fit.error["b"] / truth.b - 1) < 0.05


def test_recovers_the_truth_with_v0_estimated():
    """1,500 lesions, four parameters: SEs of 2-5% on the typical values, 3-6% on the omegas."""
    sim = simulate_growth_data(1500, seed=11)
    fit = SAEM(estimate_v0=True, random_state=11, verbose=False, n_is_samples=0).fit(sim.measurements)
    _check_recovery(fit, sim.truth, fixed_rel=0.15, omega_rel=0.2)


def test_recovers_the_truth_with_v0_fixed_at_baseline():
    """The paper's three-parameter model, exact when the baseline is recorded without error."""
    sim = simulate_growth_data(1500, seed=12, baseline_noise=False)
    m = sim.measurements
    m = m[~m.groupby("lesion_id")["blq"].transform("first")]  # V0 fixed needs a quantified baseline
    fit = SAEM(random_state=12, verbose=False, n_is_samples=0).fit(m)
    assert fit.parameter_names == ("Kd", "F", "Kg")
    _check_recovery(fit, sim.truth, fixed_rel=0.15, omega_rel=0.2)
    first = m.groupby("lesion_id")["volume_mm3"].first()
    assert np.allclose(fit.individual["V0"], first.loc[fit.individual.index])
    sims = fit.simulate(n_replicates=20, seed=1)
    at_baseline = sims[sims["day"] <= 0]
    ratio = at_baseline["volume_mm3"].to_numpy() / first.loc[at_baseline["lesion_id"]].to_numpy()
    assert np.median(ratio) == pytest.approx(1.0, abs=0.01)  # replicates keep each lesion's own baseline


def test_combined_error_model_recovers_both_terms():
    truth = GrowthParameters(a=150.0, b=0.1)
    sim = simulate_growth_data(1500, truth, seed=13)
    fit = SAEM(estimate_v0=True, error_model="combined", random_state=13, verbose=False, n_is_samples=0).fit(
        sim.measurements
    )
    assert set(fit.error) == {"a", "b"}
    assert fit.error["a"] == pytest.approx(150.0, rel=0.25)
    assert fit.error["b"] == pytest.approx(0.1, rel=0.1)
    for p in ("Kd", "F", "Kg"):
        assert abs(fit.population[p] / truth.population[p] - 1) < 0.15


# -- the results object ------------------------------------------------------------------------------------
def test_results_tables_and_serialisation(fits, tmp_path):
    fit = fits["M3"]
    summary = fit.summary
    assert list(summary.index) == ["V0", "Kd", "F", "Kg", "b"] and summary.index.name == "parameter"
    assert {"estimate", "SE", "RSE%", "omega", "shrinkage%", "CI95_lower", "CI95_upper"} <= set(summary.columns)
    assert (summary["CI95_lower"] < summary["estimate"]).all() and (summary["estimate"] < summary["CI95_upper"]).all()
    as_json = json.dumps(fit.to_dict())
    assert json.loads(as_json)["population"]["Kg"] == pytest.approx(fit.population["Kg"])
    restored = pickle.loads(pickle.dumps(fit))
    pd.testing.assert_frame_equal(restored.individual, fit.individual)
    pred = fit.predictions
    assert len(pred) == 7114 and {"pred", "ipred", "ipred_mean", "in_likelihood"} <= set(pred.columns)
    quantified = pred[~pred["cens"]]
    log_residual = np.log(quantified["y"] / quantified["ipred"])
    assert abs(log_residual.mean()) < 0.02 and log_residual.std() < 0.15  # b = 0.1
    traj = fit.trajectory
    assert len(traj) == 400 and list(traj["phase"].unique()) == ["burn-in", "exploration", "smoothing"]
    assert traj["Kg"].iloc[-1] == pytest.approx(fit.population["Kg"])


def test_same_seed_same_fit_and_quiet_output(tgi, capsys):
    small = tgi[tgi["id"] <= 150]
    kwargs = dict(estimate_v0=True, n_iter=(60, 20), n_is_samples=0, initial=TGI_START, verbose=False, **TGI_COLUMNS)
    a = SAEM(random_state=5, **kwargs).fit(small)
    b = SAEM(random_state=5, **kwargs).fit(small)
    c = SAEM(random_state=6, **kwargs).fit(small)
    assert a.population == b.population and a.omega == b.omega
    assert a.population != c.population
    assert a.n_chains == 14  # 150 lesions: chains until lesions x chains >= 2,000
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.drop(columns="y"), "no column"),
        (lambda d: d.assign(time=d["time"].where(d.index != 3)), "missing or non-numeric time"),
        (lambda d: d.assign(y=d["y"].where(d.index != 5, -1.0)), "must be positive"),
        (lambda d: pd.concat([d, d.iloc[[0]]]), "same time"),
    ],
)
def test_bad_input_names_the_column_and_rule(tgi, mutate, message):
    with pytest.raises(ValueError, match=message):
        SAEM(verbose=False, **TGI_COLUMNS).prepare(mutate(tgi.copy()))


def test_censored_rows_are_censored_at_the_loq_whatever_size_they_record(tgi):
    """A BLQ row may carry a small measured size or 0 (a lesion that disappeared): its bound is the LOQ."""
    recorded = tgi.assign(y=tgi["y"].where(tgi["cens"] == 0, 0.0))
    recorded.loc[recorded.index[recorded["cens"] == 1][:5], "y"] = 2.5
    model = SAEM(verbose=False, **TGI_COLUMNS)
    as_given, as_recorded = model.prepare(tgi), model.prepare(recorded)
    assert as_recorded.n_censored == 231
    np.testing.assert_array_equal(as_recorded.y, as_given.y)


def test_fixed_v0_refuses_a_censored_baseline(tgi):
    bad = tgi.copy()
    bad.loc[0, "cens"] = True
    with pytest.raises(ValueError, match="first scan of some lesions is below the LOQ"):
        SAEM(verbose=False, **TGI_COLUMNS).prepare(bad)
    with pytest.raises(ValueError, match="error_model"):
        SAEM(error_model="exponential", verbose=False).fit(tgi)


# -- simulation from a fit (VPC) ---------------------------------------------------------------------------
def test_simulations_from_the_fit_reproduce_the_data(tgi, fits):
    fit = fits["M3"]
    sims = simulate_from_fit(fit, n_replicates=50, seed=2)
    n_rows = len(fit.predictions)
    assert len(sims) == 50 * n_rows and sims["replicate"].nunique() == 50
    assert np.allclose(sims.loc[sims["cens"], "y"], 5.0)
    observed_blq = tgi["cens"].mean()
    simulated_blq = sims.groupby("replicate")["cens"].mean()
    assert simulated_blq.quantile(0.02) < observed_blq < simulated_blq.quantile(0.98)
    table = vpc_table(tgi, sims, time_col="time", value_col="y", censored_col="cens")
    median = table[table["quantile"] == 0.5]
    inside = (median["observed"] >= median["simulated_lower"]) & (median["observed"] <= median["simulated_upper"])
    assert inside.mean() >= 0.75
    assert {"blq_observed", "blq_simulated_median", "time_mid"} <= set(table.columns)
