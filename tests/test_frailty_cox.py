"""FrailtyCox against coxme and coxph (R), against lifelines without frailty, and its fitter interface."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from lesionmap.survival import FrailtyCox

REFERENCE = Path(__file__).parent / "reference" / "coxme"
LESION_TERMS = ["organ", "treatment", "line", "age_z"]
COEF_TOL, VARIANCE_RTOL, LOGLIK_TOL, SE_RTOL = 1e-4, 1e-3, 1e-2, 1e-3


def reference(name):
    return json.loads((REFERENCE / name).read_text())


def column(r_name):
    """R's coefficient name (organbone) to ours (organ[bone])."""
    return f"organ[{r_name[5:]}]" if r_name.startswith("organ") else r_name


@pytest.fixture(scope="module")
def kidney():
    return pd.read_csv(REFERENCE / "kidney.csv")


@pytest.fixture(scope="module")
def lung():
    data = pd.read_csv(REFERENCE / "lung.csv")
    data["status"] = data["status"] - 1  # R's Surv reads 1/2 as censored/dead
    return data


@pytest.fixture(scope="module")
def lesions_1000():
    return pd.read_csv(REFERENCE / "cox_1000.csv")


def fit_lesions(data, **options):
    return FrailtyCox(**options).fit(
        data, "time", "event", "patient_id", covariates=LESION_TERMS, references={"organ": "abdominal"}
    )


def assert_matches(fit, ref, loglik_integrated=True):
    coef = pd.Series({column(k): v for k, v in ref["coef"].items()})
    se = pd.Series({column(k): v for k, v in ref["se"].items()})
    np.testing.assert_allclose(fit.params_[coef.index], coef, rtol=0, atol=COEF_TOL)
    np.testing.assert_allclose(fit.standard_errors_[se.index], se, rtol=SE_RTOL)
    np.testing.assert_allclose(fit.frailty_variance_, ref["frailty_variance"], rtol=VARIANCE_RTOL)
    np.testing.assert_allclose(fit.loglik_null_, ref["loglik_null"], rtol=0, atol=1e-6)
    if loglik_integrated:
        np.testing.assert_allclose(fit.loglik_integrated_, ref["loglik_integrated"], rtol=0, atol=LOGLIK_TOL)
        # PPL moves with the variance (d PPL / d variance = b'b / 2 variance^2): compare it relatively
        np.testing.assert_allclose(fit.loglik_penalized_, ref["loglik_penalized"], rtol=1e-6)


def test_kidney_dense_block_matches_coxme(kidney):
    fit = FrailtyCox().fit(kidney, "time", "status", "id", covariates=["age", "sex"])
    assert fit.n_groups_ == 38 and fit.n_sparse_groups_ == 0
    assert_matches(fit, reference("coxme_kidney.json"))


def test_lung_dense_block_matches_coxme(lung):
    fit = FrailtyCox().fit(lung, "time", "status", "inst", covariates=["ph.ecog", "age"])
    assert fit.n_groups_ == 18 and fit.n_sparse_groups_ == 0
    assert_matches(fit, reference("coxme_lung.json"))


@pytest.mark.parametrize("ties, name", [("efron", "coxme_1000.json"), ("breslow", "coxme_breslow_1000.json")])
def test_lesions_1000_sparse_block_matches_coxme(lesions_1000, ties, name):
    ref = reference(name)
    fit = fit_lesions(lesions_1000, ties=ties)
    assert (fit.n_obs_, fit.n_events_, fit.n_groups_) == (ref["n"], ref["n_events"], ref["n_groups"])
    assert fit.n_sparse_groups_ == ref["n_groups"]
    assert_matches(fit, ref)
    np.testing.assert_allclose(fit.df_, ref["df"][1], rtol=1e-3)
    summary = fit.summary
    for key, ours in (
        ("hr", "exp(coef)"),
        ("hr_lower95", "exp(coef) lower 95%"),
        ("hr_upper95", "exp(coef) upper 95%"),
        ("z", "z"),
        ("p", "p"),
    ):
        expected = pd.Series({column(k): v for k, v in ref[key].items()})
        np.testing.assert_allclose(summary.loc[expected.index, ours], expected, rtol=2e-3)


def test_lesions_5000_matches_coxme():
    fit = fit_lesions(pd.read_csv(REFERENCE / "cox_5000.csv"))
    assert_matches(fit, reference("coxme_5000.json"))


def test_fixed_variance_inner_loop_matches_coxph_frailty(lesions_1000):
    ref = reference("coxph_frailty_fixed_theta_1000.json")
    fit = fit_lesions(lesions_1000, variance=ref["frailty_variance"])
    assert fit.frailty_variance_ == ref["frailty_variance"] and fit.evaluations_ == 1
    assert_matches(fit, ref, loglik_integrated=False)
    # coxph reports the unpenalized partial likelihood at the penalized solution
    np.testing.assert_allclose(fit.loglik_partial_, ref["loglik_penalized"], rtol=0, atol=LOGLIK_TOL)
    # and at coxme's variance the fit is coxme's: same integrated likelihood and effective df
    coxme = reference("coxme_1000.json")
    np.testing.assert_allclose(fit.loglik_integrated_, coxme["loglik_integrated"], rtol=0, atol=LOGLIK_TOL)
    np.testing.assert_allclose(fit.df_, coxme["df"][1], rtol=1e-4)


def test_brent_search_reaches_the_maximum_coxme_stops_near(kidney, lesions_1000):
    ref = reference("coxme_kidney.json")
    exact = FrailtyCox(search="brent").fit(kidney, "time", "status", "id", covariates=["age", "sex"])
    assert exact.loglik_integrated_ >= ref["loglik_integrated"] - 1e-9
    np.testing.assert_allclose(exact.frailty_variance_, ref["frailty_variance"], rtol=1e-2)
    # where the likelihood is curved enough, the exact maximum is coxme's answer
    assert_matches(fit_lesions(lesions_1000, search="brent"), reference("coxme_1000.json"))


@pytest.mark.parametrize("start_variance", [1e-3, 0.2, 5.0])
def test_warm_started_brent_search_finds_the_same_maximum_in_fewer_fits(lesions_1000, start_variance):
    """A start far from the maximum only widens the bracket; a start near it saves inner fits."""
    grid = fit_lesions(lesions_1000, search="brent")
    warm = fit_lesions(lesions_1000, search="brent", start_variance=start_variance)
    np.testing.assert_allclose(warm.frailty_variance_, grid.frailty_variance_, rtol=1e-3)
    np.testing.assert_allclose(warm.loglik_integrated_, grid.loglik_integrated_, rtol=0, atol=1e-6)
    near = fit_lesions(lesions_1000, search="brent", start_variance=grid.frailty_variance_ * 1.1)
    assert near.evaluations_ < grid.evaluations_
    with pytest.raises(ValueError, match="start_variance"):
        fit_lesions(lesions_1000, search="brent", start_variance=0.0)


def test_tiny_variance_is_the_cox_model_of_lifelines(lesions_1000):
    """With the variance near zero the model is a stratified Cox model: lifelines (Efron ties) is the reference."""
    data = lesions_1000.assign(arm=np.where(lesions_1000["treatment"] == 1, "a", "b"))
    fit = FrailtyCox(variance=1e-10).fit(
        data,
        "time",
        "event",
        "patient_id",
        covariates=["organ", "line", "age_z"],
        references={"organ": "abdominal"},
        strata="arm",
    )
    assert fit.n_strata_ == 2
    design = pd.get_dummies(data[["time", "event", "arm", "organ", "line", "age_z"]], columns=["organ"], dtype=float)
    design = design.drop(columns="organ_abdominal")
    cph = CoxPHFitter().fit(design, "time", "event", strata=["arm"])
    ours = fit.params_.rename(lambda c: c.replace("organ[", "organ_").rstrip("]"))
    np.testing.assert_allclose(ours[cph.params_.index], cph.params_, atol=1e-5)
    np.testing.assert_allclose(fit.loglik_partial_, cph.log_likelihood_, rtol=1e-9)
    se = fit.standard_errors_.rename(lambda c: c.replace("organ[", "organ_").rstrip("]"))
    np.testing.assert_allclose(se[cph.standard_errors_.index], cph.standard_errors_, rtol=1e-4)


def test_formula_and_covariate_list_agree(lesions_1000):
    by_list = fit_lesions(lesions_1000, variance=0.3)
    by_formula = FrailtyCox(variance=0.3).fit(
        lesions_1000,
        "time",
        "event",
        "patient_id",
        formula="organ + treatment + line + age_z",
        references={"organ": "abdominal"},
    )
    pd.testing.assert_series_equal(by_list.params_, by_formula.params_)
    with pytest.raises(ValueError, match="main effects"):
        FrailtyCox().fit(lesions_1000, "time", "event", "patient_id", formula="organ * treatment")


def test_reference_level_and_categorical_terms(lesions_1000):
    liver = FrailtyCox(variance=0.3).fit(
        lesions_1000, "time", "event", "patient_id", covariates=["organ"], references={"organ": "liver"}
    )
    abdominal = FrailtyCox(variance=0.3).fit(
        lesions_1000, "time", "event", "patient_id", covariates=["organ"], references={"organ": "abdominal"}
    )
    assert "organ[liver]" not in liver.params_ and "organ[abdominal]" in liver.params_
    # changing the reference reparametrises the same model
    np.testing.assert_allclose(liver.params_["organ[abdominal]"], -abdominal.params_["organ[liver]"], atol=1e-8)
    np.testing.assert_allclose(liver.loglik_integrated_, abdominal.loglik_integrated_, atol=1e-8)
    summary = liver.summary
    assert summary.loc["organ[bone]", "term"] == "organ" and summary.loc["organ[bone]", "level"] == "bone"


def test_random_effects_and_likelihood_bookkeeping(lesions_1000):
    fit = fit_lesions(lesions_1000)
    assert fit.random_effects_.index.name == "patient_id" and len(fit.random_effects_) == fit.n_groups_
    b = fit.random_effects_.to_numpy()
    np.testing.assert_allclose(fit.penalty_, b @ b / (2 * fit.frailty_variance_), rtol=1e-10)
    np.testing.assert_allclose(b.sum(), 0.0, atol=1e-6)
    assert fit.loglik_null_ < fit.loglik_integrated_ < fit.loglik_penalized_ < fit.loglik_partial_
    # the patient with the most events relative to risk gets the largest frailty
    per_patient = lesions_1000.groupby("patient_id")["event"].mean()
    assert np.corrcoef(per_patient[fit.random_effects_.index], b)[0, 1] > 0.5


def test_lrt_and_anova_refit_without_the_term(lesions_1000):
    fit = fit_lesions(lesions_1000)
    test = fit.lrt("line")
    reduced = FrailtyCox().fit(
        lesions_1000,
        "time",
        "event",
        "patient_id",
        covariates=["organ", "treatment", "age_z"],
        references={"organ": "abdominal"},
    )
    np.testing.assert_allclose(test["chi2"], 2 * (fit.loglik_integrated_ - reduced.loglik_integrated_), rtol=1e-12)
    assert test["df"] == 1
    # one degree of freedom: the likelihood-ratio and Wald statistics are close
    np.testing.assert_allclose(test["chi2"], fit.summary.loc["line", "z"] ** 2, rtol=0.1)
    table = fit.anova()
    assert list(table.index) == LESION_TERMS and table.loc["organ", "df"] == 4
    assert table.loc["treatment", "p"] < 1e-6 and table.loc["organ", "p"] < 1e-6
    with pytest.raises(KeyError, match="not a term"):
        fit.lrt("sex")


def test_model_with_no_fixed_effect(lesions_1000):
    fit = FrailtyCox().fit(lesions_1000, "time", "event", "patient_id")
    assert len(fit.params_) == 0 and fit.frailty_variance_ > 0
    # the frailty can only add to the likelihood of the model without any effect (coxme's loglik_null)
    assert fit.loglik_integrated_ >= reference("coxme_1000.json")["loglik_null"] - 1e-6
    with_organ = FrailtyCox().fit(
        lesions_1000, "time", "event", "patient_id", covariates=["organ"], references={"organ": "abdominal"}
    )
    organ = with_organ.lrt("organ")
    # the data were simulated with organ effects (bone and liver z > 4 in coxme's fit): the test must see them
    assert organ["df"] == 4 and organ["p"] < 1e-4
    np.testing.assert_allclose(with_organ.lrt("organ")["loglik_reduced"], fit.loglik_integrated_, rtol=1e-12)


def test_missing_rows_are_counted_and_bad_input_named(lesions_1000):
    data = lesions_1000.copy()
    data.loc[[3, 10, 50], "age_z"] = np.nan
    fit = fit_lesions(data, variance=0.3)
    assert fit.n_excluded_ == 3 and fit.n_obs_ == len(data) - 3
    with pytest.raises(KeyError, match="nope"):
        FrailtyCox().fit(data, "time", "event", "patient_id", covariates=["nope"])
    with pytest.raises(ValueError, match="events must be 0/1"):
        FrailtyCox().fit(data.assign(event=data["event"] * 2), "time", "event", "patient_id")
    with pytest.raises(ValueError, match="durations"):
        FrailtyCox().fit(data.assign(time=-data["time"]), "time", "event", "patient_id")
    with pytest.raises(ValueError, match="collinear"):
        FrailtyCox().fit(
            data.assign(line2=2 * data["line"]), "time", "event", "patient_id", covariates=["line", "line2"]
        )
    with pytest.raises(ValueError, match="reference level"):
        FrailtyCox().fit(data, "time", "event", "patient_id", covariates=["organ"], references={"organ": "brain"})
    with pytest.raises(ValueError, match="ties"):
        FrailtyCox(ties="exact").fit(data, "time", "event", "patient_id")


def test_print_summary_names_the_model(lesions_1000, capsys):
    fit = fit_lesions(lesions_1000)
    fit.print_summary()
    out = capsys.readouterr().out
    assert "frailty variance = 0.2996" in out and "integrated loglik = -4128.16" in out
    assert "organ[bone]" in out and "327 groups, 327 with a diagonal random-effect block" in out
    assert repr(fit).startswith("<lesionmap.survival.FrailtyCox (fitted: 1000 rows")


def test_comparison_table_for_readers_is_within_the_golden_tolerances():
    from lesionmap.survival import compare_with_coxme

    table = compare_with_coxme(REFERENCE)
    assert len(table) == 5 and table["rows"].tolist() == [76, 226, 1000, 1000, 5000]
    assert (table["coef |diff|"] < COEF_TOL).all() and (table["variance rel. diff"] < VARIANCE_RTOL).all()
    assert (table["loglik |diff|"] < LOGLIK_TOL).all() and (table["SE rel. diff"] < SE_RTOL).all()


def test_a_category_without_events_does_not_break_the_variance_search():
    """A level with no event has a coefficient drifting to -infinity (monotone likelihood): the fit must still
    converge, as coxme's does, with a very negative coefficient (seen on a 160-patient simulated cohort)."""
    events = pd.read_csv(Path(__file__).parent / "reference" / "frailty_no_event_level.csv")
    assert events.loc[events["organ"] == "brain/CNS", "event"].sum() == 0
    with pytest.warns(RuntimeWarning, match=r"no event among the rows of \['organ\[brain/CNS\]'\]"):
        fit = FrailtyCox().fit(
            events,
            "day",
            "event",
            "patient_id",
            covariates=["organ", "treatment_group"],
            references={"organ": "abdomen", "treatment_group": "Chemo alone"},
        )
    assert np.isfinite(fit.loglik_integrated_) and 0 < fit.frailty_variance_ < 1
    assert fit.params_["organ[brain/CNS]"] < -5
    assert np.isfinite(fit.params_["treatment_group[TAR+Chemo]"])


def test_levels_with_one_lesion_or_all_events_do_not_overflow_the_fit():
    """A level with a single lesion that has an event asks Newton for a huge step (seen on a 150-patient user
    cohort, within one treatment group): steps are capped, and the fit converges with finite estimates."""
    events = pd.read_csv(Path(__file__).parent / "reference" / "frailty_sparse_levels.csv")
    fit = FrailtyCox().fit(
        events, "day", "event", "patient_id", covariates=["organ", "bmi", "line"], references={"organ": "abdomen"}
    )
    assert np.isfinite(fit.loglik_integrated_) and np.isfinite(fit.frailty_variance_)
    assert np.isfinite(fit.params_[["bmi", "line", "organ[liver]"]]).all()
    assert fit.loglik_integrated_ > fit.loglik_null_


def test_generalized_cholesky_solves_like_cholesky_and_drops_an_unidentified_direction():
    from scipy import linalg

    from lesionmap.survival.penalized import GeneralizedCholesky

    rng = np.random.default_rng(4)
    root = rng.normal(size=(5, 5))
    positive = root @ root.T + np.eye(5)
    rhs = rng.normal(size=5)
    np.testing.assert_allclose(GeneralizedCholesky(positive).solve(rhs), linalg.solve(positive, rhs), rtol=1e-10)
    # the third column repeats the first: rank 4, the repeated direction is dropped and the rest is solved
    basis = rng.normal(size=(5, 4))
    singular = basis @ basis.T
    singular[:, 2], singular[2, :] = singular[:, 0], singular[0, :]
    singular[2, 2] = singular[0, 0]
    factor = GeneralizedCholesky(singular)
    assert factor.rank == 4 and factor.pivots[2] == 0.0
    consistent = singular @ rng.normal(size=5)
    solution = factor.solve(consistent)
    assert solution[2] == 0.0
    np.testing.assert_allclose(singular @ solution, consistent, rtol=1e-8, atol=1e-8)
    assert np.isnan(factor.logdet_leading(3)) and np.isfinite(factor.logdet_leading(2))


def _six_lesions_per_patient(seed: int) -> pd.DataFrame:
    """60 patients with 6 lesions each in three organs, a patient frailty (SD 0.7) and 20% censoring."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(60):
        frailty_term = rng.normal(0, 0.7)
        for lesion in range(6):
            day = rng.exponential(100 * np.exp(-frailty_term))
            rows.append((f"P{patient}", ["liver", "lung", "bone"][lesion % 3], patient % 2, day, rng.random() < 0.8))
    return pd.DataFrame(rows, columns=["patient_id", "organ", "arm", "day", "event"])


def test_a_failed_coxme_path_falls_back_to_brents_maximum(monkeypatch):
    """Where coxme's optimiser meets a variance whose inner fit fails (R's optim stops there with an error), the
    fit takes Brent's maximum, the same as search='brent' gives, and says so."""
    import lesionmap.survival.frailty as frailty

    table = _six_lesions_per_patient(seed=0)
    assert (
        FrailtyCox().fit(table, "day", "event", "patient_id", covariates=["organ", "arm"]).variance_search_ == "coxme"
    )

    def failing_path(integrated, loglik_cox):
        integrated(0.0)
        raise FloatingPointError("non-finite finite-difference gradient in the variance search")

    monkeypatch.setattr(frailty, "coxme_search", failing_path)
    fallback = FrailtyCox().fit(table, "day", "event", "patient_id", covariates=["organ", "arm"])
    brent = FrailtyCox(search="brent").fit(table, "day", "event", "patient_id", covariates=["organ", "arm"])
    assert fallback.variance_search_ == "brent (coxme's path failed)" and brent.variance_search_ == "brent"
    assert fallback.frailty_variance_ == pytest.approx(brent.frailty_variance_, rel=1e-4)
    assert fallback.params_.to_numpy() == pytest.approx(brent.params_.to_numpy(), rel=1e-4, abs=1e-6)


def test_a_tangent_that_cannot_be_solved_only_loses_the_warm_start(monkeypatch):
    """The path's tangent only warm-starts the next variance. Where the information is not positive definite
    along it (a 300-patient replicate's oracle fit met this), the search goes on and reaches the same maximum."""
    from lesionmap.survival.penalized import InnerFitError, PenalizedProblem

    table = _six_lesions_per_patient(seed=3)
    usual = FrailtyCox().fit(table, "day", "event", "patient_id", covariates=["organ", "arm"])

    def failing_tangent(self, fit):
        raise InnerFitError("penalized information not positive definite along a conjugate direction")

    monkeypatch.setattr(PenalizedProblem, "tangent", failing_tangent)
    cold = FrailtyCox().fit(table, "day", "event", "patient_id", covariates=["organ", "arm"])
    assert cold.frailty_variance_ == pytest.approx(usual.frailty_variance_, rel=1e-3)
    assert cold.params_.to_numpy() == pytest.approx(usual.params_.to_numpy(), rel=1e-3, abs=1e-5)
