"""Real-data variation: an SDTM-only package in another sponsor's style, derived survival, and pooled trials.

The inputs are the simulator's SDTM transformed by ``sdtm_sponsor`` (lower-case columns, dates only, death dates
to the month, DIAMETER, locations only in SUPPTR TRLOC keyed by TRSEQ, a few conflicting locations, blank
evaluator fields for the investigator, no SUPPDM and no ADTTE). Each test compares the reader's result on the
transformed package with its result on the original files, whose answer is known.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

import sdtm_sponsor as sponsor
from lesionmap.cohort import load_spec, simulate, write_sdtm
from lesionmap.io import SDTMError, read_sdtm
from lesionmap.io.survival import derived_survival

PATIENTS = 60


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    root = tmp_path_factory.mktemp("sponsor")
    original = root / "original"
    write_sdtm(simulate(load_spec("mcrc"), n_patients=PATIENTS, seed=3), original, fmt="csv")
    styled = root / "styled"
    expected = sponsor.another_sponsor(original, styled, n_conflicts=3)
    return original, styled, expected


def test_an_sdtm_only_package_reads_like_the_original(packages):
    original, styled, expected = packages
    reference = read_sdtm(original)
    data = read_sdtm(styled, unknown_location="other")
    assert sorted(path.name for path in styled.iterdir()) == ["dm.csv", "rs.csv", "supptr.csv", "tr.csv", "tu.csv"]
    pd.testing.assert_frame_equal(data.measurements, reference.measurements)
    pd.testing.assert_frame_equal(data.lesion_status, reference.lesion_status)
    pd.testing.assert_frame_equal(data.exclusions, reference.exclusions)
    kept = data.lesions.set_index("lesion_id")
    truth = reference.lesions.set_index("lesion_id")
    with_records = kept.index[kept["location"] != ""]
    assert (kept.loc[with_records, "organ"] == truth.loc[with_records, "organ"]).all()
    assert set(data.patients["trial"]) == {sponsor.STUDY}
    notes = data.report["notes"]
    assert notes["lesions whose recorded locations disagree (the identification record's location kept)"] == len(
        expected["conflicts"]
    )
    assert data.report["set_aside"]["TR records by other evaluators"] > 0
    assert data.report["set_aside"]["TR records of other tests (not a diameter or status test of the map)"] == 0


def test_derived_survival_follows_dm_death_dates_and_rs_progression(packages):
    original, styled, _ = packages
    reference = read_sdtm(original).patients.set_index("patient_id")
    data = read_sdtm(styled, unknown_location="other")
    patients = data.patients.set_index("patient_id")
    assert data.report["derivations"]["os"]["source"].startswith("derived")
    assert data.report["derivations"]["pfs"]["source"].startswith("derived")
    assert (patients["os_event"] == reference["os_event"]).all()
    died = patients["os_event"]
    # Death dates given to the month are imputed to the 1st: never later than the true date, less than a month early.
    shift = reference.loc[died, "os_days"] - patients.loc[died, "os_days"]
    assert shift.between(0, 30).all() and shift.max() > 0
    counts = data.report["derivations"]["os"]["counts"]
    assert counts["events: deaths with a date"] == int(died.sum())
    assert counts["censored at the last day known alive"] == int((~died).sum())
    # Censored OS ends at the last record: never before the last tumour assessment kept.
    assert (patients.loc[~died, "os_days"] >= patients.loc[~died, "last_day"]).all()
    pfs = data.report["derivations"]["pfs"]["counts"]
    assert pfs["events: progression"] + pfs["events: death before any progression"] == int(patients["pfs_event"].sum())
    assert (patients["pfs_days"] <= patients["os_days"]).all()
    missing = data.report["missing_covariates"]
    assert missing["line"] == missing["prior_surgery"] == missing["bmi"] == len(patients)
    assert patients["line"].isna().all() and patients["prior_surgery"].isna().all()


def test_adtte_wins_when_present(packages):
    original, _, _ = packages
    data = read_sdtm(original)
    assert data.report["derivations"]["os"]["source"] == "ADTTE (adtte.csv)"


def test_location_conflicts_can_be_an_error(packages):
    _, styled, _ = packages
    with pytest.raises(SDTMError) as error:
        read_sdtm(styled, unknown_location="other", location_conflicts="error")
    assert error.value.file == "supptr.csv" and error.value.column == "QVAL"
    assert "the lesion has two different locations in SUPPTR" in error.value.rule
    assert len(error.value.rows) >= 2


def test_derived_survival_by_hand():
    ids = pd.Index(["a", "b", "c", "d"])
    frame, counts = derived_survival(
        ids,
        died=np.array([True, True, False, False]),
        death_day=np.array([300.0, np.nan, np.nan, np.nan]),
        last_alive=pd.Series({"a": 250.0, "b": 120.0, "c": 400.0}),
        progression_day=pd.Series({"a": 100.0, "c": 200.0}),
        last_assessment=pd.Series({"a": 100, "b": 56, "c": 390}),
    )
    assert frame["os_days"].tolist() == [300.0, 120.0, 400.0, 0.0]
    assert frame["os_event"].tolist() == [True, True, False, False]
    assert frame["pfs_days"].tolist() == [100.0, 120.0, 200.0, 0.0]
    assert frame["pfs_event"].tolist() == [True, True, True, False]
    assert counts["os"]["events: deaths without a date (time: the last day known alive)"] == 1
    assert counts["pfs"]["events: death before any progression"] == 1
    assert counts["pfs"]["censored at day 0 (no tumour assessment)"] == 1


@pytest.fixture(scope="module")
def two_trials(tmp_path_factory):
    root = tmp_path_factory.mktemp("pool")
    for name, seed in (("trial-a", 1), ("trial-b", 2)):
        write_sdtm(simulate(load_spec("mcrc"), n_patients=40, seed=seed), root / name, fmt="csv")
    return root


def test_two_trials_pool_with_ids_unique_per_folder(two_trials):
    single = [read_sdtm(two_trials / name) for name in ("trial-a", "trial-b")]
    shared = set(single[0].patients["trial"]) & set(single[1].patients["trial"])
    assert shared, "the simulator reuses its study ids, so two seeds share trial names"
    pooled = read_sdtm([two_trials / "trial-a", two_trials / "trial-b"])
    assert len(pooled.patients) == sum(len(part.patients) for part in single)
    assert pooled.patients["patient_id"].is_unique and pooled.lesions["lesion_id"].is_unique
    assert pooled.report["trials_prefixed"]
    assert pooled.patients["trial"].str.startswith(("trial-a:", "trial-b:")).all()
    assert pooled.patients["trial"].nunique() == sum(part.patients["trial"].nunique() for part in single)
    by_trial = pd.DataFrame(pooled.report["consort_by_trial"])
    assert by_trial["analysed"].sum() == len(pooled.patients)
    assert by_trial["screened"].sum() == pooled.report["consort"]["screened"]
    assert pooled.report["set_aside"]["TR records by other evaluators"] == sum(
        part.report["set_aside"]["TR records by other evaluators"] for part in single
    )
    folder_of_folders = read_sdtm(two_trials)
    pd.testing.assert_frame_equal(folder_of_folders.patients, pooled.patients)


def test_shared_patient_ids_are_prefixed_with_their_folder(two_trials, tmp_path):
    copy = tmp_path / "trial-a-again"
    shutil.copytree(two_trials / "trial-a", copy)
    pooled = read_sdtm([two_trials / "trial-a", copy])
    single = read_sdtm(copy)
    assert pooled.report["ids_prefixed"]
    assert len(pooled.patients) == 2 * len(single.patients) and pooled.patients["patient_id"].is_unique
    assert set(pooled.lesions["lesion_id"]) == {
        f"{folder}:{lesion}" for folder in ("trial-a", "trial-a-again") for lesion in single.lesions["lesion_id"]
    }


def test_a_folder_given_twice_is_refused(two_trials):
    with pytest.raises(SDTMError, match="the folder is given twice"):
        read_sdtm([two_trials / "trial-a", two_trials / "trial-a"])


def test_distinct_trials_keep_their_ids(two_trials, tmp_path):
    styled = tmp_path / "styled"
    sponsor.another_sponsor(two_trials / "trial-a", styled, n_conflicts=1)
    pooled = read_sdtm([styled, two_trials / "trial-b"], unknown_location="other")
    assert not pooled.report["ids_prefixed"] and not pooled.report["trials_prefixed"]
    assert sponsor.STUDY in set(pooled.patients["trial"])
    shutil.rmtree(styled)
