"""Covariate selection by likelihood ratio, and fits per stratum."""

import numpy as np
import pandas as pd
import pytest

from lesionmap.survival import FrailtyCox, combine_summaries, fit_by, select_covariates, simulate_frailty_cox
from lesionmap.survival.simulate import REFERENCES

CANDIDATES = ["treatment_group", "line", "age_z", "sex", "bmi_z"]


@pytest.fixture(scope="module")
def lesions():
    data, _ = simulate_frailty_cox(n_patients=400, seed=7, covariate_log_hr={"age_z": 0.35})
    rng = np.random.default_rng(0)
    data.loc[rng.random(len(data)) < 0.1, "bmi_z"] = np.nan  # BMI not always recorded
    return data


@pytest.fixture(scope="module")
def each(lesions):
    return select_covariates(
        lesions, "day", "event", "patient_id", candidates=CANDIDATES, base_terms=["organ"], references=REFERENCES
    )


def test_each_candidate_is_tested_against_the_base_model(lesions, each):
    table = each.table.set_index("candidate")
    assert list(table.index) == CANDIDATES and (table["step"] == 1).all()
    assert each.kept == ["organ"] + [c for c in CANDIDATES if table.loc[c, "p"] < 0.05]
    assert table.loc[["treatment_group", "line", "age_z"], "p"].max() < 1e-3
    # the statistic is twice the gain in integrated log-likelihood of two separate fits on the same rows
    full = FrailtyCox(search="brent").fit(
        lesions, "day", "event", "patient_id", covariates=["organ", "line"], references=REFERENCES
    )
    base = FrailtyCox(search="brent").fit(
        lesions, "day", "event", "patient_id", covariates=["organ"], references=REFERENCES
    )
    np.testing.assert_allclose(
        table.loc["line", "chi2"], 2 * (full.loglik_integrated_ - base.loglik_integrated_), rtol=1e-4
    )
    # a candidate with missing values is tested on the rows where it is recorded
    assert table.loc["bmi_z", "n"] == lesions["bmi_z"].notna().sum() < table.loc["line", "n"] == len(lesions)
    assert table.loc["bmi_z", "loglik_reduced"] != table.loc["line", "loglik_reduced"]


def test_forward_selection_adds_the_best_candidate_while_significant(lesions, each):
    forward = select_covariates(
        lesions,
        "day",
        "event",
        "patient_id",
        candidates=CANDIDATES,
        base_terms=["organ"],
        references=REFERENCES,
        method="forward",
    )
    table = forward.table
    first = table[table["step"] == 1].drop(columns="kept").reset_index(drop=True)
    pd.testing.assert_frame_equal(first, each.table.drop(columns="kept"))
    kept_by_step = table[table["kept"]].sort_values("step")
    assert forward.kept == ["organ"] + list(kept_by_step["candidate"])
    for step, chosen in zip(kept_by_step["step"], kept_by_step["candidate"]):
        tests = table[table["step"] == step]
        assert tests.loc[tests["p"].idxmin(), "candidate"] == chosen and tests["p"].min() < 0.05
    last = table[table["step"] == table["step"].max()]
    assert not last["kept"].any() or len(forward.kept) == 1 + len(CANDIDATES)


def test_selection_rejects_bad_requests(lesions):
    with pytest.raises(ValueError, match="method"):
        select_covariates(lesions, "day", "event", "patient_id", candidates=["line"], method="backward")
    with pytest.raises(ValueError, match="both base terms and candidates"):
        select_covariates(lesions, "day", "event", "patient_id", candidates=["organ"], base_terms=["organ"])


def test_fit_by_fits_each_stratum_separately(lesions):
    fits = fit_by(
        lesions,
        "treatment_group",
        "day",
        "event",
        "patient_id",
        covariates=["organ", "line"],
        references=REFERENCES,
        model=FrailtyCox(search="brent"),
    )
    assert list(fits) == ["Chemo alone", "TAR+Chemo"]
    part = lesions[lesions["treatment_group"] == "TAR+Chemo"]
    direct = FrailtyCox(search="brent").fit(
        part, "day", "event", "patient_id", covariates=["organ", "line"], references=REFERENCES
    )
    pd.testing.assert_series_equal(fits["TAR+Chemo"].params_, direct.params_)
    table = combine_summaries(fits, "treatment_group")
    assert table.columns[0] == "treatment_group" and "covariate" in table.columns
    assert len(table) == sum(len(fit.params_) for fit in fits.values())
