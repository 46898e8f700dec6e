"""Organ phenotypes (Chapter 3): hazard-ratio tables, the phenotype rule, patient groups, oracle events."""

import numpy as np
import pandas as pd
import pytest

from lesionmap.survival import FrailtyCox
from lesionmap.survival import phenotypes as ph


def _hr(organs, hrs):
    return pd.DataFrame({"organ": organs, "hr": hrs})


def test_phenotype_rule_splits_at_one_and_marks_the_reference():
    organs = ["abdomen", "liver", "bone", "lung", "GI tract"]
    response = _hr(organs, [1.0, 2.0, 0.5, 1.5, 0.8])
    progression = _hr(organs, [1.0, 1.4, 2.5, 0.6, 1.0])
    table = ph.classify_phenotypes(response, progression, reference="abdomen").set_index("organ")
    assert table.loc["liver", "phenotype"] == "high-high"
    assert table.loc["bone", "phenotype"] == "low-high"
    assert table.loc["lung", "phenotype"] == "high-low"
    assert table.loc["GI tract", "phenotype"] == "low-low"  # exactly 1 is not above 1
    assert table.loc["abdomen", "phenotype"] == ph.REFERENCE_PHENOTYPE
    assert table.loc["bone", "description"] == "low response, high progression"


def test_phenotype_rule_needs_hazard_ratio_columns():
    with pytest.raises(KeyError, match="response"):
        ph.classify_phenotypes(pd.DataFrame({"organ": ["liver"]}), _hr(["liver"], [1.2]), reference="abdomen")


def test_patient_groups_use_baseline_lesions_only():
    lesions = pd.DataFrame(
        {
            "patient_id": ["a", "a", "b", "b", "c", "c"],
            "kind": ["target", "non-target", "target", "new", "target", "target"],
            "organ": ["lung", "regional LN", "lung", "bone", "liver", "bone"],
        }
    )
    patients = pd.DataFrame(
        {"patient_id": ["a", "b", "c", "d"], "os_days": [10.0, 20.0, 30.0, 40.0], "os_event": [True, True, False, True]}
    )
    phenotypes = pd.DataFrame(
        {
            "organ": ["lung", "regional LN", "bone", "liver"],
            "phenotype": ["high-low", "high-low", "low-high", "high-high"],
        }
    )
    groups = ph.patient_phenotype_groups(lesions, patients, phenotypes).set_index("patient_id")
    assert list(groups.index) == ["a", "b", "c"]  # d has no baseline lesion
    assert groups.loc["a", "high_low"] == "only high-low organs"
    assert groups.loc["b", "high_low"] == "only high-low organs"  # the new bone lesion does not count
    assert groups.loc["b", "low_high"] == "no low-high lesions"
    assert groups.loc["c", "low_high"] == "low-high lesions"
    assert groups.loc["c", "high_low"] == "other organs"


def _event_table():
    return pd.DataFrame(
        {
            "lesion_id": ["p1/T1", "p1/T2", "p1/NT1", "p2/T1"],
            "patient_id": ["p1", "p1", "p1", "p2"],
            "kind": ["target", "target", "non-target", "target"],
            "organ": ["liver", "lung", "liver", "lung"],
            "day": [30.0, 100.0, 56.0, 200.0],
            "event": [1, 0, 1, 0],
        }
    )


def test_oracle_replaces_target_times_and_censors_at_the_last_day():
    truth = pd.DataFrame(
        {
            "lesion_id": ["p1/T1", "p1/T2", "p2/T1"],
            "t_response": [12.5, np.nan, 150.0],
            "t_progression": [400.0, 90.0, -3.0],
        }
    )
    patients = pd.DataFrame({"patient_id": ["p1", "p2"], "last_day": [100, 200]})
    table = _event_table()
    response = ph.oracle_event_table(table, truth, patients, "response")
    assert response["day"].tolist() == [12.5, 100.0, 56.0, 150.0]  # never shrinks: censored at the last day
    assert response["event"].tolist() == [1, 0, 1, 1]
    progression = ph.oracle_event_table(table, truth, patients, "progression")
    assert progression["day"].tolist() == [100.0, 90.0, 56.0, 0.0]  # beyond follow-up censored; before day 0 at 0
    assert progression["event"].tolist() == [0, 1, 1, 1]
    assert table["day"].tolist() == [30.0, 100.0, 56.0, 200.0]  # the input is not changed


def test_oracle_needs_every_target_lesion_in_the_truth():
    truth = pd.DataFrame({"lesion_id": ["p1/T1"], "t_response": [1.0], "t_progression": [2.0]})
    patients = pd.DataFrame({"patient_id": ["p1", "p2"], "last_day": [100, 200]})
    with pytest.raises(KeyError, match="not in the truth"):
        ph.oracle_event_table(_event_table(), truth, patients, "response")
    with pytest.raises(ValueError, match="endpoint"):
        ph.oracle_event_table(_event_table(), truth, patients, "survival")


def test_event_time_agreement_counts():
    derived = _event_table()
    oracle = derived.copy()
    oracle.loc[0, "day"] = 40.0  # both events: 10 days apart
    oracle.loc[1, "event"] = 1  # status disagrees
    result = ph.event_time_agreement(derived, oracle)
    assert result["target_lesions"] == 3
    assert result["status_agreement"] == pytest.approx(2 / 3)
    assert result["both_events"] == 1 and result["median_abs_difference_days"] == 10.0
    with pytest.raises(ValueError, match="same lesions"):
        ph.event_time_agreement(derived, oracle.iloc[::-1])


def _simulated_events(n_patients=300, seed=1):
    """Exponential lesion times with organ hazard ratios liver 2, bone 0.5 against abdomen (no frailty)."""
    rng = np.random.default_rng(seed)
    organs = np.array(["abdomen", "liver", "bone"])
    organ = organs[rng.integers(0, 3, size=n_patients * 3)]
    rate = 0.01 * np.select([organ == "liver", organ == "bone"], [2.0, 0.5], 1.0)
    time = rng.exponential(1 / rate)
    censor = np.full_like(time, 150.0)
    return pd.DataFrame(
        {
            "patient_id": np.repeat(np.arange(n_patients), 3),
            "organ": organ,
            "day": np.minimum(time, censor),
            "event": (time <= censor).astype(int),
            "treated": rng.integers(0, 2, size=n_patients * 3),
        }
    )


def test_hazard_ratio_table_recovers_known_ratios_and_counts():
    events = _simulated_events()
    fit = FrailtyCox().fit(
        events, "day", "event", "patient_id", covariates=["organ", "treated"], references={"organ": "abdomen"}
    )
    table = ph.organ_hazard_ratios(fit, events).set_index("organ")
    assert table.loc["abdomen", "reference"] and table.loc["abdomen", "hr"] == 1.0
    assert table.loc["liver", "hr"] == pytest.approx(2.0, rel=0.2)
    assert table.loc["bone", "hr"] == pytest.approx(0.5, rel=0.2)
    assert table.loc["liver", "lower"] < table.loc["liver", "hr"] < table.loc["liver", "upper"]
    assert table["lesions"].sum() == len(events) and table["events"].sum() == events["event"].sum()
    effects = ph.covariate_effects(fit)
    assert effects["term"].tolist() == ["treated"] and effects["hr"].iat[0] == pytest.approx(1.0, abs=0.2)
    with pytest.raises(KeyError, match="not a categorical term"):
        ph.organ_hazard_ratios(fit, events, term="site")


def test_compare_hazard_ratios_flags_oracle_inside_interval():
    estimated = pd.DataFrame(
        {
            "organ": ["abdomen", "liver", "bone"],
            "hr": [1.0, 2.0, 0.5],
            "lower": [1.0, 1.5, 0.4],
            "upper": [1.0, 2.6, 0.6],
            "reference": [True, False, False],
        }
    )
    oracle = estimated.assign(hr=[1.0, 2.4, 0.8])
    table = ph.compare_hazard_ratios(estimated, oracle).set_index("organ")
    assert list(table.index) == ["liver", "bone"]
    assert table.loc["liver", "oracle_in_ci"] and not table.loc["bone", "oracle_in_ci"]
    assert table.loc["bone", "ratio"] == pytest.approx(0.625)


def test_km_on_grid_reads_the_step_function():
    frame = pd.DataFrame({"days": [5.0, 10.0, 10.0, 20.0], "event": [1, 1, 0, 1], "group": ["a"] * 4})
    curve = ph.km_on_grid(frame, "days", "event", "group", step=5, horizon=20)
    assert curve["time"].tolist() == [0.0, 5.0, 10.0, 15.0, 20.0]
    # S: 1 until 5, 3/4 from 5, 3/4 * 2/3 = 1/2 from 10, 0 from 20
    assert curve["survival"].tolist() == pytest.approx([1.0, 0.75, 0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="step"):
        ph.km_on_grid(frame, "days", "event", "group", step=0)


def test_kind_composition_shares_and_event_rates():
    table = _event_table()
    out = ph.kind_composition(table).set_index("organ")
    assert out.loc["liver", "lesions"] == 2 and out.loc["liver", "share non-target"] == 0.5
    assert out.loc["lung", "events among target"] == 0.0
    assert out.loc["liver", "events among target"] == 1.0
