"""Chapter 4's and 5's comparisons with the truth and the paper on hand-made inputs with known answers: clusters
of true against observed sequences, the naming threshold, Supplementary Table 3, the computed comparison
sentences, and the ledger rules of Chapters 4-6 read from results files."""

import json

import numpy as np
import pandas as pd
import pytest

from lesionmap import ledger
from lesionmap.sequence import (
    HETERO_ORGAN,
    LIVER_FIRST,
    LUNG_FIRST,
    MONO_ORGAN,
    NO_PROGRESSION,
    OTHER_FIRST,
    SequenceClustering,
    gap_comparison,
    group_characteristics,
    hetero_members,
    median_comparison,
    naming_sensitivity,
    os_comparisons,
    progression_sequences,
    sequences_from_organ_days,
    truth_agreement,
)


def _organ_days(patterns: dict[str, list[tuple[str, float]]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(p, organ, day) for p, organs in patterns.items() for organ, day in organs],
        columns=["patient_id", "organ", "day"],
    )


def _as_events(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(endpoint="progression", event=True)


@pytest.fixture(scope="module")
def cohort():
    """Forty patients truly progress in one organ (liver), forty in three (lung, bone, liver); follow-up stops
    after the first organ for half of the three-organ patients, so they look Mono-Organ when observed."""
    truth, observed = {}, {}
    for i in range(40):
        truth[f"m{i}"] = [("liver", 60.0)]
        observed[f"m{i}"] = [("liver", 60.0)]
    for i in range(40):
        truth[f"h{i}"] = [("lung", 50.0), ("bone", 90.0), ("liver", 120.0)]
        observed[f"h{i}"] = truth[f"h{i}"] if i % 2 else [("lung", 50.0)]
    ids = list(truth) + ["n0", "n1"]
    true_table = _organ_days(truth)
    true_table = pd.concat([true_table, pd.DataFrame({"patient_id": ["n0"], "organ": ["skin"], "day": [np.inf]})])
    observed_sequences = progression_sequences(_as_events(_organ_days(observed)), pd.DataFrame({"patient_id": ids}))
    return ids, true_table, observed_sequences


def test_true_sequences_drop_organs_that_never_progress_and_refuse_unknown_patients(cohort):
    ids, true_table, _ = cohort
    true = sequences_from_organ_days(true_table, ids)
    assert true.counts["progressed"] == 80 and true.counts["no_progression"] == 2
    assert true.patients.set_index("patient_id").loc["h3", "sequence"] == "lung > bone > liver"
    with pytest.raises(ValueError, match="not in the cohort"):
        sequences_from_organ_days(true_table, ids[:5])
    with pytest.raises(ValueError, match="missing column"):
        sequences_from_organ_days(true_table.drop(columns="day"), ids)


def test_truth_agreement_shows_what_short_follow_up_does_to_the_groups(cohort):
    ids, true_table, observed_sequences = cohort
    observed = SequenceClustering(n_clusters=2, encoding="onehot_padded", random_state=0).fit(observed_sequences)
    true = sequences_from_organ_days(true_table, ids)
    agreement = truth_agreement(observed, observed_sequences, true)
    assert set(agreement["true_clustering"].labels_.drop(["n0", "n1"])) == {MONO_ORGAN, LUNG_FIRST}
    # the truth separates the groups perfectly; follow-up moved half of the three-organ patients
    assert 0 < agreement["ari_all"] < 1 and agreement["n_progressed_both"] == 80
    profile = agreement["profile"].set_index("observed group")
    mono = profile.loc[MONO_ORGAN]
    assert mono["patients"] == 60 and mono["mean_observed_organs"] == 1
    assert mono["mean_true_organs"] == pytest.approx((40 * 1 + 20 * 3) / 60)
    assert mono["share_true_single_organ"] == pytest.approx(40 / 60)
    assert mono["share_same_first_class"] == 1
    identical = truth_agreement(observed, observed_sequences, observed_sequences)
    assert identical["ari_all"] == pytest.approx(1.0)


def test_naming_sensitivity_renames_only_clusters_near_the_threshold():
    rows = []
    for i in range(30):  # three organs each, bone first: Hetero-Organ at a threshold of three, Other-First at four
        rows += [(f"a{i}", "bone", 10.0), (f"a{i}", "lung", 20.0), (f"a{i}", "liver", 30.0)]
    for i in range(30):  # one organ each
        rows.append((f"b{i}", "lung", 10.0))
    sequences = progression_sequences(_as_events(pd.DataFrame(rows, columns=["patient_id", "organ", "day"])))
    clusters = pd.Series(np.repeat([0, 1], 30), index=sequences.progressed_ids)
    table = naming_sensitivity(sequences, clusters, thresholds=(3, 4)).set_index("cluster")
    assert table.loc[0, ["name_3", "name_4", "changed"]].tolist() == [HETERO_ORGAN, OTHER_FIRST, True]
    assert table.loc[1, ["name_3", "name_4", "changed"]].tolist() == [MONO_ORGAN, MONO_ORGAN, False]
    assert table.loc[0, "share_many_3"] == 1 and table.loc[0, "share_many_4"] == 0


def test_group_characteristics_summarise_and_test_the_progression_groups():
    rng = np.random.default_rng(1)
    n = 120
    labels = pd.Series(
        np.repeat([MONO_ORGAN, HETERO_ORGAN, NO_PROGRESSION], n // 3),
        index=pd.Index([f"p{i}" for i in range(n)], name="patient_id"),
    )
    features = pd.DataFrame(
        {
            "age": np.where(labels == HETERO_ORGAN, 70.0, 50.0) + rng.normal(0, 2, n),
            "sex": np.where(rng.random(n) < 0.5, "M", "F"),
            "n_metastases": rng.integers(1, 5, n),
            "organ_liver": 1,
            "organ_lung": (rng.random(n) < 0.5).astype(int),
        },
        index=labels.index,
    )
    table = group_characteristics(features, labels)
    assert list(table.columns) == ["characteristic", "level", MONO_ORGAN, HETERO_ORGAN, NO_PROGRESSION, "p"]
    rows = table.set_index(["characteristic", "level"])
    assert rows.loc[("patients", ""), MONO_ORGAN] == "40"
    assert rows.loc[("age, years", "mean (sd)"), "p"] < 1e-6  # planted difference
    assert rows.loc[("sex", "F"), "p"] > 0.001  # no planted difference
    assert rows.loc[("organs involved at baseline", "median (IQR)"), MONO_ORGAN].startswith(("1", "2"))
    with pytest.raises(ValueError, match="no baseline features"):
        group_characteristics(features.iloc[1:], labels)


def test_median_comparison_states_this_cohorts_direction_first():
    medians = pd.Series({HETERO_ORGAN: 300.0, MONO_ORGAN: 700.0, LIVER_FIRST: 800.0, OTHER_FIRST: np.inf})
    same = median_comparison(medians, HETERO_ORGAN, MONO_ORGAN)
    assert same["holds"] is True and same["text"].startswith("Here Hetero-Organ patients live shorter")
    assert "as in the paper" in same["text"] and "385 vs 653" in same["text"]
    reversed_ = median_comparison(medians, LIVER_FIRST, MONO_ORGAN)
    assert reversed_["holds"] is False and "the reverse of the paper's order" in reversed_["text"]
    assert median_comparison(medians, LIVER_FIRST, OTHER_FIRST)["holds"] is True  # not reached counts as longest
    absent = median_comparison(medians, LIVER_FIRST, LUNG_FIRST)
    assert absent["holds"] is None and "no Lung-First group" in absent["text"]
    orderings = os_comparisons(medians)
    assert list(orderings) == ["hetero_mono", "liver_lung", "liver_other"]
    assert [orderings[k]["holds"] for k in orderings] == [True, None, True]


def test_gap_comparison_needs_shorter_medians_and_significant_pairs():
    quantiles = pd.DataFrame(
        {"group": [LIVER_FIRST, LUNG_FIRST, OTHER_FIRST], "interval": ["2nd-1st"] * 3, "median": [40.0, 90.0, 80.0]}
    )
    dunn = pd.DataFrame(
        {
            "interval": ["2nd-1st"] * 2,
            "group_a": [LIVER_FIRST, OTHER_FIRST],
            "group_b": [LUNG_FIRST, LIVER_FIRST],
            "p_adjusted": [0.001, 0.2],
        }
    )
    result = gap_comparison(quantiles, dunn, LIVER_FIRST, [LUNG_FIRST, OTHER_FIRST])
    assert result["holds"] is False and "not clearly" in result["text"]
    assert result["pairs"]["p_adjusted"].tolist() == [0.001, 0.2]
    dunn.loc[1, "p_adjusted"] = 0.01
    assert gap_comparison(quantiles, dunn, LIVER_FIRST, [LUNG_FIRST, OTHER_FIRST])["holds"] is True
    assert gap_comparison(quantiles, dunn, "Absent", [LUNG_FIRST])["holds"] is None


def test_hetero_members_include_numbered_clusters():
    labels = pd.Series([HETERO_ORGAN, f"{HETERO_ORGAN} 2", MONO_ORGAN, "Hetero-Organism"], index=list("abcd"))
    assert list(hetero_members(labels)) == ["a", "b"]


def _write(tmp_path, name, payload):
    (tmp_path / f"{name}.json").write_text(json.dumps({"cohort": "mcrc", "n_patients": 0, "seed": 1, **payload}))


def test_sequence_ledger_rules_follow_the_results(tmp_path):
    sizes = [
        {"group": g, "ratio": r}
        for g, r in [(MONO_ORGAN, 1.1), (HETERO_ORGAN, 0.9), (LIVER_FIRST, 1.3), (LUNG_FIRST, 0.7), (OTHER_FIRST, 1.0)]
    ]
    payload = {
        "paper_groups_found": [MONO_ORGAN, HETERO_ORGAN, LIVER_FIRST, LUNG_FIRST, OTHER_FIRST],
        "duplicated_names": {},
        "sizes": sizes,
        "os_comparisons": {
            "hetero_mono": {"holds": True, "here": [300, 600]},
            "liver_lung": {"holds": True, "here": [400, 700]},
            "liver_other": {"holds": False, "here": [400, 350]},
        },
        "rule_os_comparisons": {
            "hetero_mono": {"holds": True, "here": [300, 600]},
            "liver_lung": {"holds": True, "here": [400, 700]},
            "liver_other": {"holds": True, "here": [400, 450]},
        },
        "k_choice": {"best_k": 6, "gap": 0.004},
        "liver_first_gap": {"holds": None, "pairs": []},
        "hetero_liver_timing": {"liver_early_shorter": None},
        "os_logrank": {"p": 1e-6},
        "baseline_organs_kruskal_p": 0.3,
    }
    _write(tmp_path, "sequences", payload)
    holds = {f.key: f.holds for f in ledger.findings(tmp_path, "sequences")}
    assert holds == {
        "five_groups": True,
        "group_sizes": True,
        "k_choice": True,
        "os_by_group": True,
        "hetero_below_mono": True,
        "liver_first_worst": False,
        "rule_groups_os": True,
        "liver_first_gap": None,
        "baseline_comparable": True,
        "hetero_liver_early": None,
    }
    payload["os_comparisons"]["liver_lung"] = {"holds": None, "here": None}
    _write(tmp_path, "sequences", payload)
    holds = {f.key: f.holds for f in ledger.findings(tmp_path, "sequences")}
    assert holds["liver_first_worst"] is False  # one comparison reversed decides, whatever the absent one says
    payload["os_comparisons"]["liver_other"]["holds"] = True
    _write(tmp_path, "sequences", payload)
    assert {f.key: f.holds for f in ledger.findings(tmp_path, "sequences")}["liver_first_worst"] is None
    payload["rule_os_comparisons"]["liver_lung"]["holds"] = None
    _write(tmp_path, "sequences", payload)
    assert {f.key: f.holds for f in ledger.findings(tmp_path, "sequences")}["rule_groups_os"] is None
    payload["rule_os_comparisons"]["hetero_mono"]["holds"] = False
    _write(tmp_path, "sequences", payload)
    assert {f.key: f.holds for f in ledger.findings(tmp_path, "sequences")}["rule_groups_os"] is False
    payload["sizes"][3]["ratio"] = 0.5
    payload["duplicated_names"] = {OTHER_FIRST: [OTHER_FIRST, f"{OTHER_FIRST} 2"]}
    _write(tmp_path, "sequences", payload)
    holds = {f.key: f.holds for f in ledger.findings(tmp_path, "sequences")}
    assert holds["group_sizes"] is False and holds["five_groups"] is False


def test_treatment_and_prediction_ledgers_say_input_emergent_or_real_data(tmp_path):
    treatment = {
        "tar_hazard_ratio": {"progression": {"hr": 0.7, "p": 0.001}},
        "first_groups": ["Liver-First"],
        "first_groups_with_benefit": ["Liver-First"],
        "hetero_benefit": False,
        "proportions_chi_square": {"p": 0.01},
        "interaction": {"holds": True, "grouped": [], "contrast": None},
        "first_progression": {"median_a": 200, "median_b": 150, "p": 0.001, "slower_under_tar": True},
        "spec_spared_organs": ["skin"],
    }
    _write(tmp_path, "treatment", treatment)
    items = {f.key: f for f in ledger.findings(tmp_path, "treatment")}
    assert items["tar_slows_progression"].origin == "input" and items["tar_slows_progression"].holds is True
    assert items["group_mix_by_treatment"].holds is False and items["group_mix_by_treatment"].origin == "emergent"
    assert "skin" in items["tar_spares_four_organs"].how
    treatment["interaction"] = {
        "holds": False,
        "grouped": [{"set": "four", "hr": 0.67}, {"set": "other organs", "hr": 0.56}],
        "contrast": {"ratio": 1.21, "p": 0.13},
        "n_others_lower": 10,
        "n_others": 12,
        "by_kind": [
            {"lesions": "target", "ratio": 1.74, "p": 0.0055},
            {"lesions": "non-target", "ratio": 1.07, "p": 0.72},
        ],
    }
    _write(tmp_path, "treatment", treatment)
    sparing = {f.key: f for f in ledger.findings(tmp_path, "treatment")}["tar_spares_four_organs"]
    assert sparing.holds is False  # the verdict is the paper's analysis, every lesion kind
    assert "ratio 1.21, p = 0.13" in sparing.value and "target lesions alone: ratio 1.74, p = 0.0055" in sparing.value
    prediction = {
        "headline_model": "gradient_boosting",
        "models": {"gradient_boosting": {"auc_macro": 0.86, "auc_micro": 0.9}},
        "class_ranking": {MONO_ORGAN: 0.95, HETERO_ORGAN: 0.9, LIVER_FIRST: 0.7},
        "paper_best_classes_hold": True,
        "paper_auc": 0.91,
    }
    (tmp_path / "prediction.json").write_text(json.dumps({"cohort": "/data/trial", **prediction}))
    found = {f.key: f for f in ledger.findings(tmp_path, "prediction")}
    assert found["auc"].holds is True and found["auc"].origin == "real data"
    assert found["best_classes"].holds is True
