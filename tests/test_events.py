"""Lesion events on hand-made lesions whose event times are known."""

import numpy as np
import pandas as pd
import pytest

from lesionmap.events import HORIZONS, horizon_days, lesion_events, new_lesion_events, nontarget_events, target_events
from lesionmap.tables import LESION_EVENT_COLUMNS


@pytest.fixture
def tables():
    patients = pd.DataFrame(
        {
            "patient_id": ["P1", "P2"],
            "last_day": [400, 100],
            "os_days": [400.0, 100.0],
            "recist_response_day": [56.0, np.nan],
            "recist_progression_day": [112.0, np.nan],
        }
    )
    lesions = pd.DataFrame(
        {
            "lesion_id": ["P1/T01", "P1/T02", "P1/NT01", "P1/NEW01", "P2/T01", "P2/NT01"],
            "patient_id": ["P1", "P1", "P1", "P1", "P2", "P2"],
            "kind": ["target", "target", "non-target", "new", "target", "non-target"],
            "organ": ["liver", "lung", "bone", "liver", "liver", "lung"],
            "detected_day": [-5, -5, -5, 168, -3, -3],
        }
    )
    # P1/T01: pure shrinkage (F = 0): responds when e^{-Kd t} = 0.8, never progresses.
    # P1/T02: pure growth (F = 1), small (500 mm3): never responds; progresses at 1.3 V0 (30% before +200 mm3).
    # P2/T01 is large (5000 mm3): +200 mm3 over its nadir comes before +30%.
    # P2/T01: shrinks then regrows, but P2's follow-up (100 days) ends before it progresses.
    individual = pd.DataFrame(
        {
            "V0": [5000.0, 500.0, 5000.0],
            "Kd": [0.01, 0.01, 0.02],
            "F": [0.0, 1.0, 0.2],
            "Kg": [0.005, 0.004, 0.002],
        },
        index=pd.Index(["P1/T01", "P1/T02", "P2/T01"], name="lesion_id"),
    )
    status = pd.DataFrame(
        {
            "lesion_id": ["P1/NT01", "P1/NT01", "P1/NT01", "P2/NT01", "P2/NT01"],
            "patient_id": ["P1", "P1", "P1", "P2", "P2"],
            "day": [-5, 56, 112, -3, 56],
            "status": ["non-CR/non-PD", "CR", "PD", "non-CR/non-PD", "non-CR/non-PD"],
        }
    )
    return patients, lesions, individual, status


def test_target_events_match_closed_forms_and_are_censored_at_follow_up(tables):
    patients, lesions, individual, _ = tables
    events = target_events(individual, lesions, patients).set_index(["lesion_id", "endpoint"])
    assert events.loc[("P1/T01", "response"), "day"] == pytest.approx(np.log(1 / 0.8) / 0.01, rel=1e-9)
    assert events.loc[("P1/T01", "response"), "event"]
    assert not events.loc[("P1/T01", "progression"), "event"]
    assert events.loc[("P1/T01", "progression"), "day"] == 400
    assert not events.loc[("P1/T02", "response"), "event"]
    assert events.loc[("P1/T02", "progression"), "day"] == pytest.approx(np.log(1.3) / 0.004, rel=1e-9)
    assert events.loc[("P2/T01", "response"), "event"]
    assert not events.loc[("P2/T01", "progression"), "event"]
    assert (events["day"] <= events.join(patients.set_index("patient_id"), on="patient_id")["last_day"]).all()


def test_nontarget_and_new_lesions_by_their_own_status(tables):
    patients, lesions, _, status = tables
    events = nontarget_events(status, lesions, patients, rule="lesion").set_index(["lesion_id", "endpoint"])
    assert events.loc[("P1/NT01", "response"), ["day", "event"]].tolist() == [56, True]
    assert events.loc[("P1/NT01", "progression"), ["day", "event"]].tolist() == [112, True]
    assert events.loc[("P2/NT01", "progression"), ["day", "event"]].tolist() == [100, False]
    new = new_lesion_events(lesions)
    assert new[["lesion_id", "endpoint", "day", "event"]].values.tolist() == [["P1/NEW01", "progression", 168, True]]


def test_nontarget_lesions_by_the_overall_response_take_the_patients_days(tables):
    patients, lesions, _, status = tables
    lesions = pd.concat([lesions, lesions.iloc[[2]].assign(lesion_id="P1/NT02", organ="peritoneum")])
    patients = patients.assign(recist_response_day=[56.0, np.nan], recist_progression_day=[168.0, np.nan])
    events = nontarget_events(status, lesions, patients).set_index(["lesion_id", "endpoint"])
    for lesion in ("P1/NT01", "P1/NT02"):
        assert events.loc[(lesion, "response"), ["day", "event"]].tolist() == [56, True]
        assert events.loc[(lesion, "progression"), ["day", "event"]].tolist() == [168, True]
    assert events.loc[("P2/NT01", "response"), ["day", "event"]].tolist() == [100, False]
    assert events.loc[("P2/NT01", "progression"), ["day", "event"]].tolist() == [100, False]
    with pytest.raises(ValueError, match="recist_progression_day"):
        nontarget_events(status, lesions, patients.drop(columns="recist_progression_day"))
    with pytest.raises(ValueError, match="rule must be one of"):
        nontarget_events(status, lesions, patients, rule="patient")


def test_lesion_events_table_follows_the_contract(tables):
    patients, lesions, individual, status = tables
    events = lesion_events(individual, lesions, status, patients)
    assert list(events.columns) == list(LESION_EVENT_COLUMNS)
    assert len(events) == 2 * 3 + 2 * 2 + 1
    assert events["event"].dtype == bool
    assert set(events.loc[events["kind"] == "new", "endpoint"]) == {"progression"}


def test_the_horizon_decides_how_far_target_progression_is_derived(tables):
    """P2/T01 progresses after P2's last scan (day 100): seen with the 'last_alive' horizon, not 'last_scan'."""
    patients, lesions, individual, _ = tables
    alive = patients.assign(os_days=[400.0, 900.0])
    by_scan = target_events(individual, lesions, alive, horizon="last_scan").set_index(["lesion_id", "endpoint"])
    by_alive = target_events(individual, lesions, alive).set_index(["lesion_id", "endpoint"])
    assert not by_scan.loc[("P2/T01", "progression"), "event"] and by_scan.loc[("P2/T01", "progression"), "day"] == 100
    assert by_alive.loc[("P2/T01", "progression"), "event"]
    assert 100 < by_alive.loc[("P2/T01", "progression"), "day"] <= 900
    # the default horizon is the last day known alive, and never before the last scan
    assert set(HORIZONS) == {"last_alive", "last_scan"}
    early = horizon_days(patients.assign(os_days=[50.0, np.nan]))
    assert early.tolist() == [400.0, 100.0]
    with pytest.raises(ValueError, match="horizon"):
        horizon_days(patients, "forever")
    # non-target lesions stay censored at the last scan whatever the horizon
    events = lesion_events(individual, lesions, tables[3], alive)
    nt = events[(events["lesion_id"] == "P2/NT01") & (events["endpoint"] == "progression")]
    assert nt["day"].tolist() == [100] and not nt["event"].any()


def test_parameters_of_non_target_or_unknown_lesions_are_refused(tables):
    patients, lesions, individual, _ = tables
    non_target = pd.concat(
        [individual, pd.DataFrame({"V0": [500.0], "Kd": [0.01], "F": [0.2], "Kg": [0.003]}, index=["P1/NT01"])]
    )
    with pytest.raises(ValueError, match="not target lesions.*P1/NT01.*non-target"):
        target_events(non_target, lesions, patients)
    unknown = individual.rename(index={"P2/T01": "P9/T01"})
    with pytest.raises(ValueError, match="not in the lesions table.*P9/T01"):
        target_events(unknown, lesions, patients)
