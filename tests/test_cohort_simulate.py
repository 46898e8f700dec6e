"""The simulated cohorts: spec, published totals, RECIST rules, the growth mechanism, survival, reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from scipy.special import logit

from lesionmap import tables as contract
from lesionmap.cohort import SpecError, calibration_table, load_spec, simulate
from lesionmap.cohort import dynamics, recist
from lesionmap.cohort.spec import COHORT_DIR, load_site_map

TABLES = ("patients", "lesions", "measurements", "lesion_status", "exclusions")


@pytest.fixture(scope="module")
def mcrc_spec():
    return load_spec("mcrc")


@pytest.fixture(scope="module")
def full(mcrc_spec):
    """The mCRC cohort at the paper's scale, default seed (about two seconds)."""
    return simulate(mcrc_spec)


@pytest.fixture(scope="module")
def small(mcrc_spec):
    return simulate(mcrc_spec, n_patients=300, seed=11)


def km_median(frame: pd.DataFrame) -> float:
    return float(KaplanMeierFitter().fit(frame["os_days"], frame["os_event"]).median_survival_time_)


# --- the spec -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mcrc", "mhnscc"])
def test_every_spec_number_has_a_source_and_a_status(name):
    table = calibration_table(load_spec(name))
    assert list(table.columns) == ["parameter", "item", "value", "source", "status"]
    assert table["source"].str.strip().str.len().gt(0).all()
    assert set(table["status"]) == {"published", "assumed"}
    assumed = table[table["status"] == "assumed"]
    assert assumed["source"].str.match(r"(?i)assumed:\s*\S").all(), "an assumption must say why"
    assert (table["parameter"] == "organs.Kd").sum() == len(load_spec(name).organs)


def test_spec_organs_are_site_map_categories(mcrc_spec):
    site_map = load_site_map()
    assert set(mcrc_spec.organs) <= set(site_map["site_map"])
    assert len(mcrc_spec.organs) == 18


def test_a_number_without_source_is_refused(tmp_path):
    text = (COHORT_DIR / "mcrc.yaml").read_text()
    broken = text.replace('  v0_log_sd: {value: 1.0, source: "assumed: spread of baseline lesion volumes within an organ (log scale)"}',
                          "  v0_log_sd: 1.0")
    assert broken != text
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    with pytest.raises(SpecError, match="disease.v0_log_sd"):
        load_spec(path)


def test_unknown_organ_and_unknown_spec_are_refused(tmp_path):
    text = (COHORT_DIR / "mcrc.yaml").read_text().replace("liver:", "livr:")
    path = tmp_path / "typo.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match="livr"):
        load_spec(path)
    with pytest.raises(FileNotFoundError, match="mcrc"):
        load_spec("no-such-cohort")


# --- the growth model and RECIST ---------------------------------------------------------------------------

def test_event_times_recover_closed_forms():
    kd, kg, v0 = np.array([0.01, 0.02]), np.array([0.003, 0.005]), np.array([500.0, 5000.0])
    # F -> 0: pure regression, V/V0 = e^{-Kd t}.
    assert np.allclose(dynamics.time_to_response(kd, 1e-12, kg), -np.log(0.8) / kd, rtol=1e-6)
    # F = 1: pure growth from day 0, nadir at 0; progression at the smaller of +30% and +200 mm^3.
    expected = np.log(np.minimum(1.3, 1 + 200 / v0)) / kg
    assert np.allclose(dynamics.time_to_progression(v0, kd, 1.0, kg), expected, rtol=1e-9)
    assert np.all(np.isnan(dynamics.time_to_response(kd, 1.0, kg)))


def test_event_times_solve_the_model():
    rng = np.random.default_rng(0)
    kd, f, kg = rng.uniform(0.005, 0.03, 200), rng.uniform(0.02, 0.9, 200), rng.uniform(0.001, 0.008, 200)
    v0 = rng.uniform(100, 20000, 200)
    t_resp = dynamics.time_to_response(kd, f, kg)
    ok = np.isfinite(t_resp)
    assert 0 < ok.sum() < 200
    assert np.allclose(dynamics.volume_ratio(t_resp[ok], kd[ok], f[ok], kg[ok]), 0.8, atol=1e-9)
    t_prog = dynamics.time_to_progression(v0, kd, f, kg)
    threshold = dynamics.progression_threshold(v0, kd, f, kg)
    assert np.allclose(dynamics.volume_ratio(t_prog, kd, f, kg), threshold, rtol=1e-9)
    assert np.all(t_prog >= dynamics.nadir_time(kd, f, kg))


def test_recist_overall_response_cases():
    # Five patients, visits: baseline + 2. Sums (mm) of target diameters.
    target_sum = np.array([[100, 65, 60],     # PR then PR
                           [100, 80, 97],     # nadir 80, +21%, +17 mm -> PD at visit 2
                           [20, 17, 20.5],    # +20.6% but only +3.5 mm -> SD
                           [100, 90, 95],     # SD, new lesion at visit 2 -> PD
                           [30, 0, 0]], float)  # all gone -> CR when non-targets absent
    missing = np.zeros_like(target_sum, dtype=bool)
    missing[0, 2] = True  # a target not assessed -> NE
    all_gone = target_sum == 0
    has_targets = np.ones(5, dtype=bool)
    nt_pd = np.zeros_like(missing)
    nt_absent = np.ones_like(missing)
    new = np.zeros_like(missing)
    new[3, 2] = True
    codes = recist.overall_response(target_sum, missing, all_gone, has_targets, nt_pd, nt_absent, new)
    names = np.array(recist.RESPONSES)[codes]
    assert names[:, 1:].tolist() == [["PR", "NE"], ["SD", "PD"], ["SD", "SD"], ["SD", "PD"], ["CR", "CR"]]
    best = recist.best_response(codes, np.ones_like(missing))
    assert np.array(recist.RESPONSES)[best].tolist() == ["PR", "SD", "SD", "SD", "CR"]


# --- the cohort at the paper's scale ------------------------------------------------------------------------

def test_full_scale_totals_match_the_paper(full, mcrc_spec):
    published = mcrc_spec.values["published"]
    kinds = full.lesions["kind"].value_counts()
    assert len(full.patients) == 4308
    assert full.patients["trial"].nunique() == 8
    for observed, expected in ((kinds["target"], published["target_lesions"]),
                               (kinds["non-target"], published["nontarget_lesions"]),
                               (kinds["new"], published["new_lesions"]),
                               (len(full.measurements), published["target_measurements"])):
        assert abs(observed / expected - 1) < 0.02, (observed, expected)
    assert 16 <= full.lesions["organ"].nunique() <= 18
    assert abs(full.patients["age"].mean() - published["mean_age"]) < 0.5
    top3 = full.lesions["organ"].value_counts().index[:4]
    assert {"liver", "lung"} <= set(top3) and ({"regional LN", "distal LN"} & set(top3))


def test_tables_follow_the_contract(small):
    columns = {"patients": contract.PATIENT_COLUMNS, "lesions": contract.LESION_COLUMNS,
               "measurements": contract.MEASUREMENT_COLUMNS, "lesion_status": contract.LESION_STATUS_COLUMNS,
               "exclusions": contract.EXCLUSION_COLUMNS}
    for name in TABLES:
        table = getattr(small, name)
        assert list(table.columns) == list(columns[name]), name
        assert table.index.equals(pd.RangeIndex(len(table)))
    p, m = small.patients, small.measurements
    assert p["patient_id"].dtype == object and p["line"].dtype == np.int64 and p["os_event"].dtype == bool
    assert p["baseline_day"].dtype == np.int64 and p["last_day"].dtype == np.int64 and p["age"].dtype == np.float64
    assert m["day"].dtype == np.int64 and m["blq"].dtype == bool and m["volume_mm3"].dtype == np.float64
    assert small.lesions["nodal"].dtype == bool and small.lesion_status["day"].dtype == np.int64
    assert p["patient_id"].is_monotonic_increasing and small.lesions["lesion_id"].is_unique
    assert small.lesions["lesion_id"].is_monotonic_increasing
    assert list(m.sort_values(["lesion_id", "day"]).index) == list(m.index)
    assert set(p["treatment_group"]) == set(contract.TREATMENT_GROUPS)
    assert set(p["recist_bor"]) <= set(contract.RECIST_RESPONSES)
    assert set(small.lesion_status["status"]) <= set(contract.LESION_STATUSES)
    assert (p["baseline_day"] <= 0).all() and (p["baseline_day"] >= -84).all()


def test_exactly_n_patients_remain_after_both_exclusion_rules(small):
    assert len(small.patients) == 300
    reasons = small.exclusions["reason"].value_counts()
    assert set(reasons.index) == set(contract.EXCLUSION_RULES)
    assert not set(small.exclusions["patient_id"]) & set(small.patients["patient_id"])
    subjects = small.records.subjects.set_index("usubjid")
    early = small.exclusions[small.exclusions["reason"] == contract.EXCLUSION_RULES[0]]["patient_id"]
    assert (subjects.loc[early, "baseline_day"] < -84).all()
    # Excluded patients are in the records (they are written to SDTM), kept ones all have follow-up.
    assert len(subjects) == 300 + len(small.exclusions)
    measured = small.measurements.merge(small.patients[["patient_id", "baseline_day"]], on="patient_id")
    follow_up = measured[measured["day"] > measured["baseline_day"]]["patient_id"].unique()
    assert set(follow_up) == set(small.patients["patient_id"])


def test_target_lesions_follow_recist(full):
    lesions = full.lesions
    targets = lesions[lesions["kind"] == "target"]
    assert targets.groupby("patient_id").size().max() == 5
    assert targets.groupby(["patient_id", "organ"]).size().max() == 2
    baseline = full.measurements.merge(full.patients[["patient_id", "baseline_day"]], on="patient_id")
    baseline = baseline[baseline["day"] == baseline["baseline_day"]].merge(targets[["lesion_id", "nodal"]], on="lesion_id")
    assert len(baseline) == len(targets)
    assert (baseline.loc[~baseline["nodal"], "diameter_mm"] >= 10).all()
    assert (baseline.loc[baseline["nodal"], "diameter_mm"] >= 15).all()
    assert baseline["nodal"].any()
    assert (lesions.loc[lesions["kind"] != "new", "detected_day"].to_numpy()
            == lesions.loc[lesions["kind"] != "new", "patient_id"].map(full.patients.set_index("patient_id")["baseline_day"]).to_numpy()).all()


def test_measurements_carry_volume_and_blq_as_the_reader_computes_them(full):
    m = full.measurements
    too_small = m["diameter_mm"].isna().to_numpy()
    volume, blq = contract.measured_volume(m["diameter_mm"].to_numpy(), too_small)
    assert np.array_equal(m["volume_mm3"].to_numpy(), volume) and np.array_equal(m["blq"].to_numpy(), blq)
    # Vanished lesions (recorded 0) are rare at full scale: one of ~94,600 measurements under the old calibration,
    # none after the organ-phenotype recalibration of data/cohorts/mcrc.yaml; the volume check above covers
    # the 0 rows whenever they occur, so only too-small rows are required here.
    assert too_small.any()
    assert np.allclose(m["diameter_mm"].dropna() * 10, np.round(m["diameter_mm"].dropna() * 10))
    assert 0.01 < m["blq"].mean() < 0.10
    per_target = len(m) / (full.lesions["kind"] == "target").sum()
    assert 4.5 < per_target < 5.3  # the paper: 4.91


def test_scans_stop_at_the_first_progression(full):
    rs = full.records.responses
    rs = rs[rs["evaluator"] == "INDEPENDENT ASSESSOR"]
    first_pd = rs[rs["response"] == "PD"].groupby("usubjid")["day"].min()
    last_scan = rs.groupby("usubjid")["day"].max()
    assert len(first_pd) > 0.5 * rs["usubjid"].nunique()
    assert (first_pd == last_scan.loc[first_pd.index]).all()
    patients = full.patients.set_index("patient_id")
    kept = first_pd.index.intersection(patients.index)
    assert (patients.loc[kept, "pfs_days"] == first_pd.loc[kept]).all() and patients.loc[kept, "pfs_event"].all()
    assert (patients["last_day"] == full.measurements.groupby("patient_id")["day"].max().loc[patients.index]).all()
    assert (patients["os_days"] >= patients["last_day"]).all() and (patients["pfs_days"] <= patients["os_days"]).all()
    best = rs.assign(rank=rs["response"].map({r: i for i, r in enumerate(recist.RESPONSES)})).groupby("usubjid")["rank"].min()
    assert (patients["recist_bor"] == best.loc[patients.index].map(lambda i: recist.RESPONSES[i])).all()
    assert {"PR", "SD", "PD"} <= set(patients["recist_bor"])


def test_new_lesions_are_found_at_the_last_scan(full):
    new = full.lesions[full.lesions["kind"] == "new"]
    last_day = new["patient_id"].map(full.patients.set_index("patient_id")["last_day"])
    assert (new["detected_day"] == last_day).all()
    status = full.lesion_status.merge(new[["lesion_id"]], on="lesion_id")
    assert len(status) == len(new) and (status["status"] == "PD").all()


# --- the mechanism: the truth behind the data ---------------------------------------------------------------

def test_truth_covers_every_lesion_and_solves_its_events(full):
    truth = full.truth.lesions
    assert list(truth["lesion_id"]) == list(full.lesions["lesion_id"])
    grown = truth[truth["kind"] != "new"]
    assert grown[["V0", "Kd", "F", "Kg", "t_progression"]].notna().all().all()
    assert truth.loc[truth["kind"] == "new", "appeared_day"].notna().all()
    ok = grown["t_response"].notna()
    ratio = dynamics.volume_ratio(grown.loc[ok, "t_response"], grown.loc[ok, "Kd"], grown.loc[ok, "F"], grown.loc[ok, "Kg"])
    assert np.allclose(ratio, 0.8, atol=1e-8)
    assert full.truth.patients["exclusion"].isin(["", *contract.EXCLUSION_RULES]).all()


def test_truth_organ_phenotypes_follow_the_paper(full):
    targets = full.truth.lesions[full.truth.lesions["kind"] == "target"]
    medians = targets.groupby("organ")[["Kd", "F", "Kg"]].median()
    assert medians["F"].idxmax() == "bone"
    assert medians["Kg"].idxmax() == "GR"
    assert medians["Kd"].idxmin() == "kidney"
    big3 = medians.loc[["liver", "lung", "regional LN", "distal LN"]]
    assert big3["F"].idxmin() == "liver" and big3["Kg"].idxmax() == "liver"
    r_f_kd = np.corrcoef(medians["F"], medians["Kd"])[0, 1]
    r_f_kg = np.corrcoef(medians["F"], medians["Kg"])[0, 1]
    r_kg_kd = np.corrcoef(medians["Kg"], medians["Kd"])[0, 1]
    assert -0.85 < r_f_kd < -0.55 and 0.35 < r_f_kg < 0.7 and abs(r_kg_kd) < 0.3  # paper: -0.69, +0.53, none
    assert np.log(targets["Kg"]).std() > np.log(targets["Kd"]).std()
    # Baseline volume is not associated with the dynamics across organs (paper Fig. 2d: no significant r, 18 organs).
    volume = np.log(targets.groupby("organ")["V0"].median())
    assert all(abs(np.corrcoef(volume, medians[p])[0, 1]) < 0.4 for p in ("Kd", "F", "Kg"))


def test_targeted_agents_deepen_response_and_slow_regrowth(full):
    truth = full.truth.lesions[full.truth.lesions["kind"] == "target"].merge(
        full.patients[["patient_id", "treatment_group"]], on="patient_id")
    tar = truth["treatment_group"] == "TAR+Chemo"

    def standardised(values):
        return (values[tar].mean() - values[~tar].mean()) / values.std()

    d_f, d_kg, d_kd = standardised(logit(truth["F"])), standardised(np.log(truth["Kg"])), standardised(np.log(truth["Kd"]))
    assert -0.6 < d_f < -0.3  # paper effect size 0.43
    assert -0.4 < d_kg < -0.12  # paper 0.26
    assert abs(d_kd) < 0.12  # paper 0.06
    assert abs(d_f) > abs(d_kg) > abs(d_kd)


def test_survival_depends_on_what_progresses(full):
    patients = full.patients
    organs = full.lesions[full.lesions["kind"] != "new"].groupby("patient_id")["organ"].agg(set)
    low_high = patients["patient_id"].map(organs.map(lambda s: bool(s & {"bone", "brain/CNS"})))
    high_low_only = patients["patient_id"].map(organs.map(lambda s: s <= {"lung", "regional LN", "distal LN"}))
    assert km_median(patients[low_high]) < 0.85 * km_median(patients[~low_high])  # paper: 378 vs 561 days
    assert km_median(patients[high_low_only]) > 1.3 * km_median(patients[~high_low_only])  # paper: 770 vs 524
    tar = patients["treatment_group"] == "TAR+Chemo"
    assert km_median(patients[tar]) > km_median(patients[~tar])
    assert km_median(patients[patients["line"] == 1]) > km_median(patients[patients["line"] == 2])
    assert 450 < km_median(patients) < 650
    assert patients["os_event"].mean() > 0.5


def test_truth_is_saved_beside_the_data(small, tmp_path):
    paths = small.save_truth(tmp_path / "truth")
    lesions = pd.read_parquet(paths["lesions"])
    pd.testing.assert_frame_equal(lesions, small.truth.lesions)
    population = json.loads(paths["population"].read_text())
    assert population["seed"] == 11 and population["cohort"] == "mcrc"
    assert set(population["organs"]) == set(load_spec("mcrc").organs)
    liver = population["organs"]["liver"]["typical"]
    assert liver["TAR+Chemo"]["F"] < liver["Chemo alone"]["F"]
    assert pd.read_parquet(paths["organ_progression"])["progression_day"].gt(0).all()


# --- reproducibility and the other cohort --------------------------------------------------------------------

def test_same_seed_same_cohort_bit_for_bit(mcrc_spec, small):
    again = simulate(mcrc_spec, n_patients=300, seed=11)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(again, name), getattr(small, name), check_exact=True)
    pd.testing.assert_frame_equal(again.truth.lesions, small.truth.lesions, check_exact=True)
    pd.testing.assert_frame_equal(again.records.assessments, small.records.assessments, check_exact=True)
    other = simulate(mcrc_spec, n_patients=300, seed=12)
    assert not other.measurements["diameter_mm"].equals(small.measurements["diameter_mm"])


def test_a_tiny_cohort_works():
    cohort = simulate("mcrc", n_patients=5, seed=1)
    assert len(cohort.patients) == 5 and (cohort.lesions["kind"] == "target").any()
    with pytest.raises(ValueError, match="at least 1"):
        simulate("mcrc", n_patients=0)


def test_mhnscc_validation_cohort():
    spec = load_spec("mhnscc")
    cohort = simulate(spec)
    assert len(cohort.patients) == 393 and cohort.patients["trial"].nunique() == 1
    assert cohort.lesions["organ"].nunique() == 11
    assert abs(len(cohort.lesions) / spec.values["published"]["lesions"] - 1) < 0.05  # 393 patients: ~3% noise
    assert set(cohort.patients["treatment_group"]) == set(contract.TREATMENT_GROUPS)
    assert (cohort.patients["kras"] == "unknown").all()
    truth = cohort.truth.population["organs"]
    kg = {organ: values["typical"]["Chemo alone"]["Kg"] for organ, values in truth.items()}
    f = {organ: values["typical"]["Chemo alone"]["F"] for organ, values in truth.items()}
    assert set(sorted(kg, key=kg.get)[-2:]) == {"liver", "brain/CNS"}
    assert min(f, key=f.get) in {"regional LN", "distal LN"}
