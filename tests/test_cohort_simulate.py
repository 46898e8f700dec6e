"""The simulated cohorts: spec, published totals, RECIST rules, the growth mechanism, survival, reproducibility."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from scipy.special import logit
from scipy.stats import pearsonr

from lesionmap import tables as contract
from lesionmap.cohort import SpecError, calibration_table, load_spec, recist, simulate
from lesionmap.cohort.spec import COHORT_DIR, load_site_map
from lesionmap.growth import model

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
    broken = text.replace(
        '  v0_log_sd: {value: 1.0, source: "assumed: spread of baseline lesion volumes within an organ (log scale)"}',
        "  v0_log_sd: 1.0",
    )
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


def test_the_simulator_uses_the_growth_models_solvers():
    """One home for the model: the cohort's true event times are those of lesionmap.growth.model."""
    from lesionmap.cohort import lesion_growth

    assert lesion_growth.model is model
    assert not (COHORT_DIR.parent.parent / "src" / "lesionmap" / "cohort" / "dynamics.py").exists()


def test_recist_overall_response_cases():
    # Five patients, visits: baseline + 2. Sums (mm) of target diameters.
    target_sum = np.array(
        [
            [100, 65, 60],  # PR then PR
            [100, 80, 97],  # nadir 80, +21%, +17 mm -> PD at visit 2
            [20, 17, 20.5],  # +20.6% but only +3.5 mm -> SD
            [100, 90, 95],  # SD, new lesion at visit 2 -> PD
            [30, 0, 0],
        ],
        float,
    )  # all gone -> CR when non-targets absent
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
    for observed, expected in (
        (kinds["target"], published["target_lesions"]),
        (kinds["non-target"], published["nontarget_lesions"]),
        (kinds["new"], published["new_lesions"]),
        (len(full.measurements), published["target_measurements"]),
    ):
        assert abs(observed / expected - 1) < 0.02, (observed, expected)
    assert 16 <= full.lesions["organ"].nunique() <= 18
    assert abs(full.patients["age"].mean() - published["mean_age"]) < 0.5
    top3 = full.lesions["organ"].value_counts().index[:4]
    assert {"liver", "lung"} <= set(top3) and ({"regional LN", "distal LN"} & set(top3))


def test_tables_follow_the_contract(small):
    columns = {
        "patients": contract.PATIENT_COLUMNS,
        "lesions": contract.LESION_COLUMNS,
        "measurements": contract.MEASUREMENT_COLUMNS,
        "lesion_status": contract.LESION_STATUS_COLUMNS,
        "exclusions": contract.EXCLUSION_COLUMNS,
    }
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


def test_target_lesions_follow_recist(full, mcrc_spec):
    rules = mcrc_spec.values["recist"]
    lesions = full.lesions
    targets = lesions[lesions["kind"] == "target"]
    per_patient = targets.groupby("patient_id").size()
    assert per_patient.max() <= rules["max_targets"] and per_patient.max() > 5
    assert targets.groupby(["patient_id", "organ"]).size().max() == rules["max_targets_per_organ"]
    baseline = full.measurements.merge(full.patients[["patient_id", "baseline_day"]], on="patient_id")
    baseline = baseline[baseline["day"] == baseline["baseline_day"]].merge(
        targets[["lesion_id", "nodal"]], on="lesion_id"
    )
    assert len(baseline) == len(targets)
    assert (baseline.loc[~baseline["nodal"], "diameter_mm"] >= rules["measurable_mm"]).all()
    assert (baseline.loc[baseline["nodal"], "diameter_mm"] >= rules["nodal_measurable_mm"]).all()
    assert baseline["nodal"].any()
    assert (
        lesions.loc[lesions["kind"] != "new", "detected_day"].to_numpy()
        == lesions.loc[lesions["kind"] != "new", "patient_id"]
        .map(full.patients.set_index("patient_id")["baseline_day"])
        .to_numpy()
    ).all()


def test_measurements_carry_volume_and_blq_as_the_reader_computes_them(full):
    m = full.measurements
    too_small = m["diameter_mm"].isna().to_numpy()
    volume, blq = contract.measured_volume(m["diameter_mm"].to_numpy(), too_small)
    assert np.array_equal(m["volume_mm3"].to_numpy(), volume) and np.array_equal(m["blq"].to_numpy(), blq)
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
    best = (
        rs.assign(rank=rs["response"].map({r: i for i, r in enumerate(recist.RESPONSES)}))
        .groupby("usubjid")["rank"]
        .min()
    )
    assert (patients["recist_bor"] == best.loc[patients.index].map(lambda i: recist.RESPONSES[i])).all()
    assert {"PR", "SD", "PD"} <= set(patients["recist_bor"])


def test_new_lesions_are_found_at_the_last_scan(full):
    new = full.lesions[full.lesions["kind"] == "new"]
    last_day = new["patient_id"].map(full.patients.set_index("patient_id")["last_day"])
    assert (new["detected_day"] == last_day).all()
    status = full.lesion_status.merge(new[["lesion_id"]], on="lesion_id")
    assert len(status) == len(new) and (status["status"] == "PD").all()


# --- the mechanism: the truth behind the data ---------------------------------------------------------------


def test_vanished_lesions_are_recorded_as_zero(mcrc_spec):
    """Deliberately: a vanishing threshold above the too-small one makes shrinking lesions read 0."""
    spec = load_spec("mcrc")
    spec.values["measurement"]["vanished_mm3"] = 400.0
    cohort = simulate(spec, n_patients=200, seed=3)
    m = cohort.measurements
    zero = m["diameter_mm"] == 0
    assert zero.sum() > 20
    assert (m.loc[zero, "volume_mm3"] < cohort.truth.population["measurement"]["loq_mm3"]).all() and m.loc[
        zero, "blq"
    ].all()
    volume, blq = contract.measured_volume(m["diameter_mm"].to_numpy(), m["diameter_mm"].isna().to_numpy())
    assert np.array_equal(m["volume_mm3"].to_numpy(), volume) and np.array_equal(m["blq"].to_numpy(), blq)
    # and the default world rarely lets a lesion fall below 10 mm^3 (about 3 mm)
    assert (simulate(mcrc_spec, n_patients=200, seed=3).measurements["diameter_mm"] == 0).sum() < zero.sum()


def test_truth_covers_every_lesion_and_solves_its_events(full):
    truth = full.truth.lesions
    assert list(truth["lesion_id"]) == list(full.lesions["lesion_id"])
    grown = truth[truth["kind"] != "new"]
    assert grown[["V0", "Kd", "F", "Kg", "t_progression"]].notna().all().all()
    assert truth.loc[truth["kind"] == "new", "appeared_day"].notna().all()
    # Before the liver hub starts, the lesion's clock is the calendar: the response day solves the model.
    ok = grown["t_response"].notna() & (grown["t_response"] <= grown["hub_day"])
    assert ok.sum() > 1000
    ratio = model.volume_ratio(
        grown.loc[ok, "t_response"], grown.loc[ok, "Kd"], grown.loc[ok, "F"], grown.loc[ok, "Kg"]
    )
    assert np.allclose(ratio, 0.8, atol=1e-8)
    # After it, the remaining time to progression is divided by the hub factor.
    natural = model.time_to_progression(grown["V0"], grown["Kd"], grown["F"], grown["Kg"])
    late = (natural > grown["hub_day"]).to_numpy()
    factor = np.exp(full.truth.population["liver_hub"]["growth_log_acceleration"])
    hub = grown["hub_day"].to_numpy()[late]
    assert late.sum() > 100
    assert np.allclose(grown["t_progression"].to_numpy()[late], hub + (natural[late] - hub) / factor)
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
    assert all(pearsonr(volume, medians[p]).pvalue > 0.05 for p in ("Kd", "F", "Kg"))


def test_targeted_agents_deepen_response_and_slow_regrowth(full):
    truth = full.truth.lesions[full.truth.lesions["kind"] == "target"].merge(
        full.patients[["patient_id", "treatment_group"]], on="patient_id"
    )
    tar = truth["treatment_group"] == "TAR+Chemo"

    def standardised(values):
        return (values[tar].mean() - values[~tar].mean()) / values.std()

    d_f, d_kg, d_kd = (
        standardised(logit(truth["F"])),
        standardised(np.log(truth["Kg"])),
        standardised(np.log(truth["Kd"])),
    )
    assert -0.6 < d_f < -0.3  # paper effect size 0.43
    assert -0.4 < d_kg < -0.12  # paper 0.26
    assert abs(d_kd) < 0.12  # paper 0.06
    assert abs(d_f) > abs(d_kg) > abs(d_kd)


def test_targeted_agents_act_only_in_the_organs_they_reach(mcrc_spec):
    """organs.tar_acts: switching it off for the lung removes TAR's shifts from lung lesions and nothing else (same
    seed, so every random draw is shared and the differences are exactly the treatment terms)."""
    values = copy.deepcopy(mcrc_spec.values)
    values["organs"]["tar_acts"]["lung"] = False
    reached = simulate(mcrc_spec, n_patients=2000, seed=5)
    spared = simulate(dataclasses.replace(mcrc_spec, values=values), n_patients=2000, seed=5)
    columns = ["patient_id", "organ", "kind", "F", "Kd", "Kg"]
    a = reached.truth.lesions.loc[reached.truth.lesions["kind"] != "new", columns].reset_index(drop=True)
    b = spared.truth.lesions.loc[spared.truth.lesions["kind"] != "new", columns].reset_index(drop=True)
    assert a[["patient_id", "organ", "kind"]].equals(b[["patient_id", "organ", "kind"]])
    arm = a["patient_id"].map(reached.patients.set_index("patient_id")["treatment_group"])
    lung, tar = a["organ"] == "lung", arm == "TAR+Chemo"
    effects = mcrc_spec.values["treatment_effects"]
    shift_f = logit(b["F"]) - logit(a["F"])
    np.testing.assert_allclose(shift_f[lung & tar], -effects["tar_logit_F"], atol=1e-9)
    np.testing.assert_allclose(np.log(b["Kd"] / a["Kd"])[lung & tar], -effects["tar_log_Kd"], atol=1e-9)
    kg_shift = np.log(b["Kg"] / a["Kg"])[lung & tar]
    assert set(np.round(kg_shift, 9)) == {0.0, round(-effects["tar_log_Kg"], 9)}  # only patients TAR slows
    assert np.allclose(shift_f[~(lung & tar)], 0.0) and np.allclose(b["Kg"][~lung], a["Kg"][~lung])

    def first_new_lung_lesion(cohort):
        """Latent day of each TAR patient's first new lung lesion (inf: none before the horizon)."""
        table = cohort.truth.organ_progression
        lung_rows = table[table["organ"] == "lung"].set_index("patient_id")["new_lesion_day"]
        arms = cohort.patients.set_index("patient_id")["treatment_group"]
        return lung_rows[arms.reindex(lung_rows.index) == "TAR+Chemo"]

    earlier, later = first_new_lung_lesion(spared), first_new_lung_lesion(reached)
    assert (earlier <= later + 1e-9).all() and (earlier < later - 1e-9).mean() > 0.2  # TAR no longer delays them


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
    pd.testing.assert_frame_equal(pd.read_parquet(paths["organ_sequences"]), small.truth.organ_sequences)


def test_true_organ_sequences_are_complete(full):
    """Every organ that truly progresses before death is in the sequence, ranked densely by day."""
    organs = full.truth.organ_progression
    death = full.truth.patients.set_index("patient_id")["death_time"]
    expected = organs[organs["progression_day"] < organs["patient_id"].map(death)]
    sequences = full.truth.organ_sequences
    assert len(sequences) == len(expected)
    merged = sequences.merge(expected, on=["patient_id", "organ"], validate="one_to_one")
    assert np.allclose(merged["day"], merged["progression_day"])
    dense = sequences.groupby("patient_id")["day"].rank(method="dense").astype(int)
    assert (dense == sequences["rank"]).all()
    assert set(sequences["source"]) == {"baseline lesion", "new lesion"}
    last_alive = sequences["patient_id"].map(full.patients.set_index("patient_id")["os_days"])
    assert (sequences["by_cutoff"] == (sequences["day"] <= last_alive)).all()
    # the trials' scans see far fewer organs than truly progress: the reason for model-derived progression
    assert sequences.groupby("patient_id").size().mean() > 2.5


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


def test_the_mhnscc_spec_gives_liver_and_brain_the_earliest_progression():
    """The input the mHNSCC spec states (paper: liver and brain "showed high progression potential"): a typical
    lesion progresses soonest in those two organs. Kg alone does not say it: a shallow response (high F) regrows
    sooner, which put bone (F 0.39, Kg 0.0070) ahead of the liver (F 0.15) in an earlier spec."""
    values = load_spec("mhnscc").values
    organs, events = values["organs"], values["lesion_events"]
    names = list(organs["F"])
    typical = {p: np.array([organs[p][o] for o in names], float) for p in ("v0_median_mm3", "Kd", "F", "Kg")}
    days = model.time_to_progression(
        typical["v0_median_mm3"],
        typical["Kd"],
        typical["F"],
        typical["Kg"],
        rise=events["progression_rise"],
        absolute=events["progression_volume_mm3"],
    )
    assert set(np.array(names)[np.argsort(days)[:2]]) == {"liver", "brain/CNS"}


# --- each mechanism on its own, with known truth --------------------------------------------------------------


def test_baseline_involvement_follows_the_count_and_the_weights():
    from lesionmap.cohort.patients import baseline_involvement

    organs = ["liver", "lung", "bone", "skin"]
    block = {
        "organ_count_share": {1: 0.5, 2: 0.3, 3: 0.2},
        "weight": {"liver": 6.0, "lung": 2.0, "bone": 1.0, "skin": 1.0},
    }
    involved = baseline_involvement(block, organs, 40000, np.random.default_rng(0))
    counts = involved.sum(axis=1)
    assert np.allclose([np.mean(counts == k) for k in (1, 2, 3)], [0.5, 0.3, 0.2], atol=0.01)
    single = involved[counts == 1]
    assert np.allclose(single.mean(axis=0), [0.6, 0.2, 0.1, 0.1], atol=0.015)  # w / sum(w): liver-only 60%
    assert involved[counts == 3][:, 0].mean() > 0.95  # a multi-organ patient almost always has the liver
    with pytest.raises(ValueError, match="sums to"):
        baseline_involvement({**block, "organ_count_share": {1: 0.5}}, organs, 10, np.random.default_rng(0))


def test_the_mcrc_baseline_volumes_do_not_follow_the_organ_dynamics():
    """The input behind the paper's Fig. 2d (no correlation of baseline volume with Kd, F or Kg across organs): the
    spec's log median volumes are uncorrelated with its organs' typical values, the liver large all the same."""
    organs = load_spec("mcrc").values["organs"]
    names = list(organs["v0_median_mm3"])
    log_volume = np.log([organs["v0_median_mm3"][o] for o in names])
    for parameter in ("Kd", "F", "Kg"):
        r = pearsonr(log_volume, [organs[parameter][o] for o in names]).statistic
        assert abs(r) < 0.2, (parameter, r)
    assert max(names, key=organs["v0_median_mm3"].get) == "liver"


def test_the_mcrc_involvement_shares_are_those_its_spec_states():
    """The spec's involvement source quotes the shares its weights give; they must stay true."""
    from lesionmap.cohort.patients import baseline_involvement

    spec = load_spec("mcrc")
    values = spec.values["involvement"]
    organs = list(values["weight"])
    involved = pd.DataFrame(baseline_involvement(values, organs, 200000, np.random.default_rng(1)), columns=organs)
    assert involved["liver"].mean() == pytest.approx(0.76, abs=0.01)
    assert involved["lung"].mean() == pytest.approx(0.45, abs=0.01)
    assert (involved["lung"] & ~involved["liver"]).mean() == pytest.approx(0.10, abs=0.01)
    source = spec.raw["involvement"]["weight"]["source"]
    assert "76% of the patients have liver and 45% lung disease" in source


def test_the_mcrc_baseline_has_liver_only_lung_only_and_multi_organ_patients(full):
    organs = full.truth.organ_progression
    involved = organs[organs["involved_at_baseline"]].groupby("patient_id")["organ"].agg(frozenset)
    single = involved[involved.map(len) == 1].map(lambda s: next(iter(s)))
    assert 0.2 < len(single) / len(involved) < 0.45
    assert single.value_counts(normalize=True).index[:2].tolist() == ["liver", "lung"]
    assert (involved.map(len) >= 4).mean() > 0.1


def _kept_initial_organs(truth) -> pd.Series:
    """For patients with liver and/or lung disease only at baseline: no new lesion in another organ before death."""
    organs = truth.organ_progression.merge(truth.patients[["patient_id", "death_time"]], on="patient_id")
    involved = organs[organs["involved_at_baseline"]].groupby("patient_id")["organ"].agg(frozenset)
    liver_lung = involved[involved.map(lambda s: s <= {"liver", "lung"})].index
    uninvolved = organs[~organs["involved_at_baseline"] & organs["patient_id"].isin(liver_lung)]
    gained = uninvolved.loc[uninvolved["new_lesion_day"] < uninvolved["death_time"], "patient_id"].unique()
    return pd.Series(~liver_lung.isin(gained), index=liver_lung)


def test_most_liver_and_lung_patients_keep_their_initial_organs(full):
    """Calibration of new_lesions.involved_log_hazard_ratio: 62.9-74.2% of mCRC patients with liver, lung or
    both keep their initial metastatic status (Acta Oncol 2020); the simulated truth lands in about that range."""
    kept = _kept_initial_organs(full.truth)
    assert len(kept) > 800
    assert 0.58 < kept.mean() < 0.76


def test_new_lesions_favour_involved_organs_only_when_the_term_is_on():
    def kept_share(log_ratio, level):
        spec = load_spec("mcrc")
        spec.values["new_lesions"]["involved_log_hazard_ratio"] = log_ratio
        rates = spec.values["organs"]["new_lesion_rate"]
        spec.values["organs"]["new_lesion_rate"] = {organ: rate * level for organ, rate in rates.items()}
        return _kept_initial_organs(simulate(spec, n_patients=800, seed=5).truth).mean()

    # Off, at an overall level that gives about as many new lesions: far fewer patients keep their organs.
    assert kept_share(4.5, 1.0) > kept_share(0.0, 26.0) + 0.25


def test_liver_hub_raises_the_new_lesion_hazard_after_liver_progression():
    from lesionmap.cohort.spread import first_event_day

    rng = np.random.default_rng(1)
    draws = rng.exponential(size=200000)
    rate, hub_day, ratio = 0.002, 100.0, 3.0
    with_hub = first_event_day(rate, 1e-12, hub_day, ratio, draws)
    without = first_event_day(rate, 1e-12, np.inf, ratio, draws)
    # known truth, constant rate: S(t) = exp(-rate t) before the hub day, exp(-rate (L + ratio (t - L))) after it
    for t in (50.0, 200.0, 400.0):
        expected = np.exp(-rate * (min(t, hub_day) + ratio * max(t - hub_day, 0.0)))
        assert np.mean(with_hub > t) == pytest.approx(expected, abs=0.005)
        assert np.mean(without > t) == pytest.approx(np.exp(-rate * t), abs=0.005)
    assert np.array_equal(with_hub[draws <= rate * hub_day], without[draws <= rate * hub_day])


def test_liver_hub_term_on_versus_off_in_the_cohort(mcrc_spec):
    """Switching the hub off removes the excess of new lesions outside the liver after liver progression."""

    def new_lesions_after_liver(log_ratio):
        spec = load_spec("mcrc")
        spec.values["liver_hub"]["new_lesion_log_hazard_ratio"] = log_ratio
        truth = simulate(spec, n_patients=600, seed=5).truth
        organs = truth.organ_progression.merge(truth.patients[["patient_id", "liver_progression_day"]], on="patient_id")
        outside = organs[organs["organ"] != "liver"]
        after = outside["new_lesion_day"] - outside["liver_progression_day"]
        return int(((after > 0) & (after <= 365)).sum())

    assert new_lesions_after_liver(1.1) > 1.5 * new_lesions_after_liver(0.0)


def test_organ_death_weights_order_the_hazard():
    from lesionmap.cohort.death import piecewise_event_times

    rng = np.random.default_rng(2)
    n = 100000
    scale = np.full(n, 0.001)
    draws = rng.exponential(size=n)
    # one organ progresses on day 0 (liver beta 1.2 or lung beta 0.3) or never: exponential with rate scale e^beta
    for beta in (1.2, 0.3):
        times = piecewise_event_times(scale, np.zeros((n, 1)), np.array([[beta]]), draws)
        assert np.mean(times) == pytest.approx(1 / (0.001 * np.exp(beta)), rel=0.02)
    never = piecewise_event_times(scale, np.full((n, 1), np.inf), np.array([[1.2]]), draws)
    assert np.mean(never) == pytest.approx(1000, rel=0.02)
    # a change on day 200: the hazard steps up there (exact piecewise inversion)
    stepped = piecewise_event_times(scale, np.full((n, 1), 200.0), np.array([[np.log(4.0)]]), draws)
    assert np.array_equal(stepped[draws <= 0.2], never[draws <= 0.2])
    assert np.allclose(stepped[draws > 0.2], 200 + (draws[draws > 0.2] - 0.2) / 0.004)


def test_liver_progression_kills_sooner_than_lung_progression(full):
    organs = full.truth.organ_progression
    first = organs[np.isfinite(organs["progression_day"])].sort_values("progression_day").drop_duplicates("patient_id")
    patients = full.patients.set_index("patient_id")
    liver = patients.loc[first.loc[first["organ"] == "liver", "patient_id"]]
    lung = patients.loc[first.loc[first["organ"] == "lung", "patient_id"]]
    assert km_median(liver) < km_median(lung)


def test_the_follow_up_parameter_changes_which_progressions_are_seen():
    def cohort(after):
        spec = load_spec("mcrc")
        spec.values["follow_up"]["scans_after_progression"] = after
        return simulate(spec, n_patients=400, seed=7)

    stop, keep = cohort(False), cohort(True)
    for c in (stop, keep):
        assert c.patients["pfs_event"].mean() > 0.5
    after_pd = (keep.patients["last_day"] > keep.patients["pfs_days"]) & keep.patients["pfs_event"]
    assert after_pd.mean() > 0.3
    assert not ((stop.patients["last_day"] > stop.patients["pfs_days"]) & stop.patients["pfs_event"]).any()
    assert len(keep.measurements) > 1.2 * len(stop.measurements)
    assert (keep.lesions["kind"] == "new").sum() > (stop.lesions["kind"] == "new").sum()


def test_the_simulator_shows_its_steps_on_a_terminal_and_nothing_in_a_kernel(monkeypatch, capsys):
    from lesionmap import logs
    from lesionmap.cohort.simulate import SIMULATION_STEPS

    monkeypatch.setattr(logs, "progress_enabled", lambda stream=None: True)
    simulate("mcrc", n_patients=30, seed=5)
    shown = capsys.readouterr().err
    last = len(SIMULATION_STEPS) - 1
    assert "simulate mcrc" in shown and f"{last}/{len(SIMULATION_STEPS)}" in shown  # the bar clears itself at the end
    assert all(step in shown for step in SIMULATION_STEPS)
    monkeypatch.setattr(logs, "progress_enabled", lambda stream=None: False)
    simulate("mcrc", n_patients=30, seed=5)
    assert "simulate mcrc" not in capsys.readouterr().err
