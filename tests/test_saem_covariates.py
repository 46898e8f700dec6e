"""Covariates in the SAEM growth model: recovery of known effects, the no-covariate limit, bad designs."""

import numpy as np
import pandas as pd
import pytest

from lesionmap.growth import SAEM, GrowthParameters, likelihood_ratio_test, simulate_growth_data
from lesionmap.growth.covariates import build_design

ORGANS = ("liver", "lung", "node")
#: True covariate effects on the transformed scale (reference: liver, chemo).
EFFECTS = {
    "Kd": {"lung": 0.4, "node": -0.4, "TAR": 0.0},
    "F": {"lung": 0.8, "node": 0.0, "TAR": -0.6},
    "Kg": {"lung": -0.6, "node": 0.4, "TAR": -0.5},
}
DESIGN = {p: ["organ", "group"] for p in ("Kd", "F", "Kg")}
REFERENCES = {"organ": "liver", "group": "chemo"}


def simulate(n_lesions: int, seed: int, effects=EFFECTS):
    """Lesions with organ and treatment effects on the typical values; returns (measurements, covariates)."""
    rng = np.random.default_rng(seed)
    organ = rng.choice(ORGANS, n_lesions, p=[0.5, 0.3, 0.2])
    tar = rng.random(n_lesions) < 0.4
    shift = {p: np.array([e.get(o, 0.0) for o in organ]) + e["TAR"] * tar for p, e in effects.items()}
    sim = simulate_growth_data(n_lesions, seed=seed + 1, phi_shift=shift, baseline_noise=False)
    table = pd.DataFrame(
        {"organ": organ, "group": np.where(tar, "TAR", "chemo")}, index=pd.Index(sim.individual.index, name="lesion_id")
    )
    return _measurable_baseline(sim.measurements), table


def _measurable_baseline(measurements: pd.DataFrame) -> pd.DataFrame:
    """The lesions whose baseline scan is above the LOQ (V0 is fixed at it)."""
    first = measurements.groupby("lesion_id", sort=False)["blq"].transform("first")
    return measurements[~first].reset_index(drop=True)


def true_coefficient(term: str, parameter: str, effects=EFFECTS) -> float:
    if term == f"mu_{parameter}":
        from lesionmap.growth.parameters import to_phi

        return float(to_phi(parameter, GrowthParameters().population[parameter]))
    level = term.split("[")[1].rstrip("]")
    return effects[parameter][level]


@pytest.fixture(scope="module")
def data():
    return simulate(1500, seed=11)


@pytest.fixture(scope="module")
def covariate_fit(data):
    measurements, table = data
    return SAEM(covariates=DESIGN, references=REFERENCES, n_iter=(200, 80), random_state=5, verbose=False).fit(
        measurements, covariate_table=table
    )


def test_recovers_known_covariate_effects(covariate_fit):
    table = covariate_fit.coefficients
    assert len(table) == 3 * 4  # intercept, two organs, TAR on each of Kd, F, Kg
    for row in table.itertuples():
        truth = true_coefficient(row.term, row.parameter)
        assert abs(row.estimate - truth) < 3.5 * row.se + 0.05, (row.term, row.estimate, truth, row.se)
        assert 0 < row.se < 0.5, row.term
    lung_kg = table.set_index("term").loc["beta_Kg_organ[lung]"]
    assert lung_kg["p"] < 1e-6 and lung_kg["z"] < 0
    assert set(table.columns) >= {"parameter", "covariate", "level", "estimate", "se", "z", "p"}


def test_wald_and_likelihood_ratio_tests_find_the_effects(data, covariate_fit):
    assert covariate_fit.wald_test("Kg", "organ")["p"] < 1e-6
    assert covariate_fit.wald_test("Kg", "organ")["df"] == 2
    plain = SAEM(n_iter=(200, 80), random_state=5, verbose=False).fit(data[0])
    lrt = likelihood_ratio_test(plain, covariate_fit)
    assert lrt["df"] == 9 and lrt["statistic"] > 50 and lrt["p"] < 1e-6
    # the covariates explain part of the spread: less variance left, less shrinkage of what is left is not
    # guaranteed, but the residual omega must fall where effects are large
    assert covariate_fit.omega["Kg"] < plain.omega["Kg"]
    assert covariate_fit.omega["F"] < plain.omega["F"]


def test_typical_values_and_predictions_follow_the_covariates(data, covariate_fit):
    typical = covariate_fit.typical
    _, table = data
    lung_chemo = table.index[(table["organ"] == "lung") & (table["group"] == "chemo")][0]
    liver_chemo = table.index[(table["organ"] == "liver") & (table["group"] == "chemo")][0]
    assert typical.loc[liver_chemo, "Kg"] == pytest.approx(covariate_fit.population["Kg"])
    beta = covariate_fit.coefficients.set_index("term")["estimate"]
    assert np.log(typical.loc[lung_chemo, "Kg"] / typical.loc[liver_chemo, "Kg"]) == pytest.approx(
        beta["beta_Kg_organ[lung]"]
    )
    assert covariate_fit.n_parameters == 12 + 3 + 1
    assert covariate_fit.to_dict()["coefficients"][0]["term"] == "mu_Kd"


def test_zero_effects_give_the_no_covariate_fit():
    """A covariate without effect: its coefficients are near zero, the rest equals the plain fit."""
    zero = {p: {"lung": 0.0, "node": 0.0, "TAR": 0.0} for p in EFFECTS}
    measurements, table = simulate(1200, seed=21, effects=zero)
    plain = SAEM(n_iter=(150, 60), random_state=9, verbose=False).fit(measurements)
    with_covariates = SAEM(
        covariates={"Kg": ["organ"], "F": ["group"]}, n_iter=(150, 60), random_state=9, verbose=False
    ).fit(measurements, covariate_table=table)
    coefficients = with_covariates.coefficients
    betas = coefficients[coefficients["covariate"] != "(intercept)"]
    assert (betas["estimate"].abs() < 3.0 * betas["se"]).all(), betas
    for p in ("Kd", "F", "Kg"):
        tolerance = 2.5 * plain.population_se[p] + 2.0 * with_covariates.population_se[p]
        assert abs(with_covariates.population[p] - plain.population[p]) < tolerance, p
        assert with_covariates.omega[p] == pytest.approx(plain.omega[p], abs=3.0 * plain.omega_se[p])


def test_no_covariates_is_the_plain_fit_exactly(data):
    """covariates={} (or None) runs the same algorithm on an intercept-only design: the same numbers."""
    measurements, _ = data
    subset = measurements[measurements["lesion_id"].isin(measurements["lesion_id"].unique()[:300])]
    a = SAEM(n_iter=(30, 10), n_is_samples=64, random_state=4, verbose=False).fit(subset)
    b = SAEM(covariates={}, n_iter=(30, 10), n_is_samples=64, random_state=4, verbose=False).fit(subset)
    assert a.population == b.population and a.omega == b.omega and a.loglik == b.loglik
    assert not b.has_covariates and list(b.coefficients["covariate"]) == ["(intercept)"] * 3


def test_covariates_may_come_from_the_measurement_table(data):
    measurements, table = data
    subset = measurements[measurements["lesion_id"].isin(table.index[:300])]
    long = subset.merge(table, left_on="lesion_id", right_index=True)
    from_long = SAEM(covariates={"Kg": ["organ"]}, n_iter=(20, 5), n_is_samples=0, random_state=1, verbose=False).fit(
        long
    )
    from_table = SAEM(covariates={"Kg": ["organ"]}, n_iter=(20, 5), n_is_samples=0, random_state=1, verbose=False).fit(
        subset, covariate_table=table
    )
    assert from_long.population == from_table.population


@pytest.mark.parametrize(
    "covariates, references, table_change, message",
    [
        ({"Kx": ["organ"]}, None, None, "parameter(s) ['Kx'] are not estimated"),
        ({"Kg": "organ"}, None, None, "must be a list of column names"),
        ({"Kg": ["site"]}, None, None, "no column(s) ['site']"),
        ({"Kg": ["organ"]}, {"organ": "brain"}, None, "'brain' is not a level of column 'organ'"),
        ({"Kg": ["organ"]}, {"group": "chemo"}, None, "no parameter uses"),
        ({"Kg": ["organ"]}, None, "missing", "column 'organ': missing value for lesion(s)"),
        ({"Kg": ["organ"]}, None, "drop", "no row for 1 lesion(s)"),
        ({"Kg": ["organ"]}, None, "single", "a single level"),
        ({"Kg": ["organ", "organ_copy"]}, None, "copy", "not identifiable"),
    ],
)
def test_bad_design_names_the_problem(data, covariates, references, table_change, message):
    measurements, table = data
    ids = pd.Index(measurements["lesion_id"].unique()[:50], name="lesion_id")
    table = table.loc[ids].copy()
    if table_change == "missing":
        table.iloc[3, 0] = None
    elif table_change == "drop":
        table = table.iloc[1:]
    elif table_change == "single":
        table["organ"] = "liver"
    elif table_change == "copy":
        table["organ_copy"] = table["organ"]
    with pytest.raises(ValueError) as error:
        build_design(("Kd", "F", "Kg"), ids, covariates, table, references)
    assert message in str(error.value)


def test_a_covariate_that_varies_within_a_lesion_is_refused(data):
    measurements, table = data
    subset = measurements[measurements["lesion_id"].isin(table.index[:20])].copy()
    subset["organ"] = np.where(np.arange(len(subset)) % 2 == 0, "liver", "lung")
    with pytest.raises(ValueError, match="column 'organ': a covariate must be constant within a lesion"):
        SAEM(covariates={"Kg": ["organ"]}, verbose=False).fit(subset)
    with pytest.raises(ValueError, match="no covariate table was given"):
        build_design(("Kd", "F", "Kg"), pd.Index(["a", "b"]), {"Kg": ["organ"]}, None)
