"""Known truth: FrailtyCox recovers the log hazard ratios and the frailty variance of simulated data."""

import numpy as np
import pytest
from scipy import stats

from lesionmap.survival import FrailtyCox, simulate_frailty_cox
from lesionmap.survival.simulate import ORGANS, REFERENCES

TERMS = ["organ", "treatment_group", "line", "prior_surgery", "age_z"]


def fit_simulated(data, terms=TERMS, **options):
    return FrailtyCox(**options).fit(data, "day", "event", "patient_id", covariates=terms, references=REFERENCES)


def test_recovers_truth_at_the_paper_scale():
    data, truth = simulate_frailty_cox(seed=2023)
    assert data["patient_id"].nunique() == 4308 and abs(len(data) - 40612) < 0.02 * 40612
    fit = fit_simulated(data)
    assert len(fit.params_) == 21 and fit.converged_
    z = (fit.params_ - truth.log_hazard_ratios[fit.params_.index]) / fit.standard_errors_
    assert np.max(np.abs(z)) < 4.0
    assert np.sqrt(np.mean(z**2)) < 1.6
    np.testing.assert_allclose(fit.frailty_variance_, truth.variance, rtol=0.1)
    # ignoring the frailty biases the hazard ratios towards 1: the frailty model is closer to the truth
    naive = fit_simulated(data, variance=1e-8)
    covariates = ["treatment_group[TAR+Chemo]", "line", "prior_surgery", "age_z"]
    truth_values = truth.log_hazard_ratios[covariates]
    assert np.all(np.abs(naive.params_[covariates]) < np.abs(fit.params_[covariates]))
    assert np.abs(fit.params_[covariates] - truth_values).sum() < np.abs(naive.params_[covariates] - truth_values).sum()


def test_simulation_is_reproducible_and_seeded():
    first, truth = simulate_frailty_cox(n_patients=50, seed=4)
    again, _ = simulate_frailty_cox(n_patients=50, seed=np.random.default_rng(4))
    other, _ = simulate_frailty_cox(n_patients=50, seed=5)
    assert first.equals(again) and not first.equals(other)
    assert set(first["organ"]) <= set(ORGANS) and truth.references["organ"] == "abdomen"
    assert first["day"].eq(np.ceil(first["day"])).all() and first["event"].isin([0, 1]).all()
    with pytest.raises(ValueError, match="reference organ"):
        simulate_frailty_cox(n_patients=5, organ_log_hr={"abdomen": 0.3})


@pytest.mark.slow
def test_interval_coverage_and_likelihood_ratio_calibration():
    """Over repeated smaller cohorts: 95% Wald intervals cover the truth about 95% of the time, the variance is
    close to the truth, and the likelihood-ratio p-values of a covariate with no effect (sex) are uniform."""
    replicates, covered, variances, null_p = 150, [], [], []
    covariates = ["organ[liver]", "organ[lung]", "treatment_group[TAR+Chemo]", "line", "prior_surgery", "age_z"]
    for seed in range(replicates):
        data, truth = simulate_frailty_cox(n_patients=300, seed=1000 + seed)
        data["organ"] = data["organ"].where(data["organ"].isin(["abdomen", "liver", "lung"]), "other")
        fit = fit_simulated(data, TERMS + ["sex"], search="brent")
        low = fit.summary.loc[covariates, "coef lower 95%"]
        high = fit.summary.loc[covariates, "coef upper 95%"]
        true = truth.log_hazard_ratios[covariates]
        covered.append(((low <= true) & (true <= high)).to_numpy())
        variances.append(fit.frailty_variance_)
        null_p.append(fit.lrt("sex")["p"])
    coverage = np.mean(covered)
    assert 0.93 <= coverage <= 0.97, coverage
    # the Laplace approximation underestimates the variance by about 5-7% with clusters of ~9 lesions (and
    # ~6 events), whatever the number of patients; coxme does the same (reference README: 0.27 for 0.3)
    relative_bias = np.mean(variances) / 0.4 - 1
    assert -0.12 < relative_bias < 0.03, relative_bias
    assert stats.kstest(null_p, "uniform").pvalue > 0.01
