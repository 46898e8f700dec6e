"""The analyses behind Chapters 4 and 5 on hand-made inputs with known answers: group names and duplicates,
sizes against the paper, survival and interval tests, the padded encoding, hazard ratios by treatment,
the simulated treatment effects, and the chapters' chart builders."""

import numpy as np
import pandas as pd
import pytest

from lesionmap.charts import sequences as sequence_charts
from lesionmap.sequence import (
    HETERO_ORGAN,
    LIVER_FIRST,
    MONO_ORGAN,
    NO_PROGRESSION,
    OTHER_FIRST,
    PAPER_GROUP_SIZES,
    SequenceClustering,
    base_name,
    baseline_metastases,
    chartable_hazard_ratios,
    duplicated_names,
    encode_sequences,
    encoding_comparison,
    first_organ_by_treatment,
    interval_quantiles,
    interval_table,
    interval_tests,
    intervals_by_treatment,
    naming_check,
    organ_hazard_ratios,
    organ_hr_differences,
    os_by_group,
    os_by_treatment,
    paper_class_ranking,
    progression_sequences,
    proportions_by_treatment,
    sequence_counts,
    simulated_treatment_effects,
    size_comparison,
)


def _events(rows):
    return pd.DataFrame(rows, columns=["patient_id", "organ", "kind", "endpoint", "day", "event"])


def test_base_name_and_duplicates():
    assert base_name("Other-First 2") == OTHER_FIRST
    assert base_name("Mono-Organ") == MONO_ORGAN
    assert base_name("Cluster 2") == "Cluster 2"  # not a paper group: the number is part of the name
    names = ["Other-First", "Liver-First", "Other-First 2", "Other-First 3", "Lung-First", "Other-First"]
    assert duplicated_names(names) == {OTHER_FIRST: ["Other-First", "Other-First 2", "Other-First 3"]}
    assert duplicated_names([MONO_ORGAN, HETERO_ORGAN]) == {}


def test_paper_class_ranking_counts_numbered_groups_and_compares_with_every_first_group():
    duplicates = pd.Series({"Hetero-Organ 2": 0.89, HETERO_ORGAN: 0.88, MONO_ORGAN: 0.87, LIVER_FIRST: 0.72})
    holds, text = paper_class_ranking(duplicates)
    assert holds is True and "weakest, Mono-Organ, 0.87" in text and "Liver-First, 0.72" in text
    first_wins = pd.Series({MONO_ORGAN: 0.95, HETERO_ORGAN: 0.80, "Other-First 2": 0.85, LIVER_FIRST: 0.70})
    holds, text = paper_class_ranking(first_wins)
    assert holds is False and text.startswith("the best First group, Other-First 2 (0.85)")
    assert "Hetero-Organ (0.80)" in text
    assert paper_class_ranking(pd.Series({MONO_ORGAN: 0.9, LIVER_FIRST: 0.7}))[0] is None
    assert paper_class_ranking(pd.Series({MONO_ORGAN: 0.9, "Mono-Organ 2": 0.8, HETERO_ORGAN: 0.7}))[0] is None


def test_naming_check_flags_every_cluster_that_shares_a_group():
    composition = pd.DataFrame(
        {
            "n": [10, 5, 7],
            "mean_organs": [2.0, 2.5, 1.0],
            "share_mono": [0.2, 0.1, 1.0],
            "share_many": [0.1, 0.2, 0.0],
            "first_liver": [0.0, 0.0, 1.0],
            "first_lung": [0.0, 0.0, 0.0],
            "first_other": [1.0, 1.0, 0.0],
        },
        index=pd.Index([0, 1, 2], name="cluster"),
    )
    names = pd.DataFrame(
        {"name": ["Other-First", "Other-First 2", MONO_ORGAN], "basis": ["a", "b", "c"], "claim": [1.0, 1.0, 1.0]},
        index=composition.index,
    )
    table = naming_check(composition, names).set_index("cluster")
    assert table["duplicate"].to_dict() == {0: True, 1: True, 2: False}
    assert table["group"].tolist() == [MONO_ORGAN, OTHER_FIRST, OTHER_FIRST]  # paper order, Mono-Organ first


def test_size_comparison_against_the_paper():
    counts = pd.Series({MONO_ORGAN: 30, "Other-First 2": 10, NO_PROGRESSION: 60})
    table = size_comparison(counts).set_index("group")
    assert table.loc[MONO_ORGAN, ["n", "paper_n"]].tolist() == [30, 1425]
    assert table.loc[MONO_ORGAN, "share"] == pytest.approx(0.3)
    assert table.loc[HETERO_ORGAN, "n"] == 0  # a paper group this clustering lacks keeps its row
    assert table.loc[MONO_ORGAN, "paper_share_of_sum"] == pytest.approx(1425 / 4885)
    assert table.loc[MONO_ORGAN, "paper_share_of_cohort"] == pytest.approx(1425 / 4308)
    assert pd.isna(table.loc["Other-First 2", "paper_n"])
    assert sum(PAPER_GROUP_SIZES.values()) == 4885


def test_os_by_group_medians_and_logrank():
    table = pd.DataFrame(
        {
            "group": ["A"] * 3 + ["B"] * 3 + [NO_PROGRESSION],
            "os_days": [10, 20, 30, 100, 200, 300, 5],
            "os_event": [1] * 7,
        }
    )
    medians, test = os_by_group(table)
    assert medians.set_index("group")["median"].to_dict() == {"A": 20.0, "B": 200.0}
    assert test.n == 6 and test.p < 0.05  # the no-progression patient is left out


def test_interval_tests_kruskal_and_dunn():
    intervals = pd.DataFrame(
        {
            "patient_id": range(12),
            "group": ["a"] * 6 + ["b"] * 6,
            "interval": ["1st"] * 12,
            "days": [1, 2, 3, 4, 5, 6, 101, 102, 103, 104, 105, 106],
        }
    )
    kw, pairs = interval_tests(intervals)
    assert kw["interval"].tolist() == ["1st"] and kw["p"].iat[0] < 0.01
    assert pairs[["group_a", "group_b"]].values.tolist() == [["a", "b"]]
    assert pairs["z"].iat[0] < 0  # group a ranks lower


def test_padded_encoding_marks_empty_ranks_and_finds_mono_organ():
    rows = []
    for i, organ in enumerate(["liver", "bone", "lung", "adrenal"] * 10):  # one organ each, four different organs
        rows.append((f"m{i}", organ, "target", "progression", 50.0, True))
    for i in range(40):  # liver, then two more organs
        rows += [
            (f"l{i}", "liver", "target", "progression", 50.0, True),
            (f"l{i}", "lung", "target", "progression", 100.0, True),
            (f"l{i}", "bone", "target", "progression", 150.0, True),
        ]
    sequences = progression_sequences(_events(rows))
    padded = encode_sequences(sequences, "onehot_padded")
    assert [c for c in padded.columns if c.startswith("none@")] == ["none@1", "none@2", "none@3"]
    onehot_row = np.array([1.0 if c in ("bone@1", "none@2", "none@3") else 0.0 for c in padded.columns])
    bone = padded.index[sequences.patients.set_index("patient_id").loc[padded.index, "sequence"] == "bone"][0]
    assert padded.loc[bone].to_numpy() == pytest.approx(np.exp(onehot_row) / np.exp(onehot_row).sum())
    # single-organ patients share their empty ranks: with k = 2 they form one cluster, named Mono-Organ
    fit = SequenceClustering(n_clusters=2, encoding="onehot_padded", random_state=0).fit(sequences)
    assert set(fit.names_["name"]) == {MONO_ORGAN, LIVER_FIRST}
    assert (fit.labels_[fit.labels_.index.str.startswith("m")] == MONO_ORGAN).all()
    # the authors' encoding has no column single-organ patients share: the liver-only ones join Liver-First
    authors = SequenceClustering(n_clusters=2, encoding="onehot_softmax", random_state=0).fit(sequences)
    assert (authors.labels_[["m0", "m4"]] == authors.labels_["l0"]).all()
    assert authors.labels_[authors.labels_.index.str.startswith("m")].nunique() == 2
    table = encoding_comparison(sequences, ["onehot_softmax", "onehot_padded"], n_clusters=2).set_index("encoding")
    assert table.loc["onehot_padded", ["paper_groups_found", "duplicates"]].tolist() == [2, 0]
    assert table.loc["onehot_padded", "mono_cluster_share"] == pytest.approx(1.0)


def test_baseline_metastases_counts_target_and_non_target_only():
    lesions = pd.DataFrame(
        {
            "patient_id": ["A", "A", "A", "B"],
            "organ": ["liver", "liver", "lung", "bone"],
            "kind": ["target", "non-target", "target", "new"],
        }
    )
    table = baseline_metastases(lesions, pd.Series({"A": "g", "B": "h"})).set_index("patient_id")
    assert table.loc["A", ["lesions", "organs"]].tolist() == [3, 2]
    assert table.loc["B", ["lesions", "organs"]].tolist() == [0, 0]


class _Fit:
    """A stand-in for FrailtyCox with a fixed summary table."""

    def __init__(self, organs, coefs, ses):
        coefs, ses = np.asarray(coefs, float), np.asarray(ses, float)
        self.summary = pd.DataFrame(
            {
                "coef": coefs,
                "exp(coef)": np.exp(coefs),
                "se(coef)": ses,
                "exp(coef) lower 95%": np.exp(coefs - 1.96 * ses),
                "exp(coef) upper 95%": np.exp(coefs + 1.96 * ses),
                "p": 0.5,
                "term": "organ",
                "level": organs,
            }
        )


def test_organ_hazard_ratios_and_their_differences():
    fits = {
        "TAR+Chemo": _Fit(["liver", "skin"], [np.log(0.5), 0.0], [0.1, 0.1]),
        "Chemo alone": _Fit(["liver", "skin"], [np.log(0.5), np.log(2.0)], [0.1, 0.1]),
    }
    table = organ_hazard_ratios(fits)
    assert len(table) == 4 and table.loc[0, "hr"] == pytest.approx(0.5)
    differences = organ_hr_differences(table).set_index("organ")
    assert differences.loc["liver", "ratio"] == pytest.approx(1.0) and differences.loc["liver", "p"] == pytest.approx(
        1.0
    )
    assert differences.loc["skin", "ratio"] == pytest.approx(0.5)
    assert differences.loc["skin", "z"] == pytest.approx(np.log(0.5) / np.sqrt(0.02))
    with pytest.raises(ValueError, match="no hazard ratios"):
        organ_hr_differences(table, levels=("TAR+Chemo", "placebo"))
    with pytest.raises(ValueError, match="empty"):
        organ_hazard_ratios({})


def test_treatment_comparisons_within_groups():
    rng = np.random.default_rng(0)
    n = 200
    treatment = np.repeat(["TAR+Chemo", "Chemo alone"], n // 2)
    group = np.tile(["g", "h"], n // 2)
    os_days = np.where(treatment == "TAR+Chemo", 2.0, 1.0) * rng.exponential(300, n)
    table = pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(n)],
            "group": group,
            "treatment_group": treatment,
            "os_days": os_days,
            "os_event": 1,
        }
    )
    medians, tests = os_by_treatment(table, ["g", "h", "absent"])
    assert tests["group"].tolist() == ["g", "h"] and (tests["p"] < 0.05).all()
    assert len(medians) == 4
    # group and treatment independent by design (each group half treated)
    assert proportions_by_treatment(table).p == pytest.approx(1.0)


def test_first_organ_and_intervals_by_treatment():
    rows, treatment = [], {}
    for i in range(20):
        tar = i % 2 == 0
        treatment[f"p{i}"] = "TAR+Chemo" if tar else "Chemo alone"
        first = "liver" if tar else "lung"  # the first organ follows the treatment exactly
        rows += [
            (f"p{i}", first, "target", "progression", 100.0 if tar else 50.0, True),
            (f"p{i}", "bone", "target", "progression", 300.0, True),
        ]
    sequences = progression_sequences(_events(rows))
    patients = pd.DataFrame({"patient_id": list(treatment), "treatment_group": list(treatment.values())})
    labels = pd.Series("g", index=pd.Index(list(treatment), name="patient_id"))
    shift = first_organ_by_treatment(sequences, labels, patients, ["g"])
    assert shift.loc[0, "n"] == 20 and shift.loc[0, "p"] < 0.001
    intervals = intervals_by_treatment(interval_table(sequences, labels), patients).set_index("interval")
    assert intervals.loc["1st", ["median TAR+Chemo", "median Chemo alone"]].tolist() == [100.0, 50.0]
    assert intervals.loc["1st", "p"] < 0.001


def test_simulated_treatment_effects_read_the_spec():
    values = {
        "treatment_effects": {
            "tar_logit_F": -0.4,
            "tar_log_Kg": -0.3,
            "tar_log_Kd": 0.01,
            "tar_max_organs": 3,
            "tar_log_new_lesion_rate": -0.2,
        },
        "organs": {"tar_acts": {"liver": True, "skin": False, "kidney": False}},
    }
    table = simulated_treatment_effects(values).set_index("effect")
    assert table.loc["slower regrowth (log Kg)", "value"] == -0.3
    assert "not in kidney, skin" in table.loc["slower regrowth (log Kg)", "where"]
    assert "at most 3" in table.loc["fewer new lesions (log rate)", "where"]


def test_chart_builders_take_aggregates():
    rows = [
        ("a", "liver", "target", "progression", 50.0, True),
        ("a", "lung", "target", "progression", 90.0, True),
        ("b", "bone", "target", "progression", 60.0, True),
    ]
    sequences = progression_sequences(_events(rows))
    labels = pd.Series({"a": LIVER_FIRST, "b": "Other-First 2"})
    heat = sequence_charts.sequence_heatmap(sequence_counts(sequences, labels), "t").to_dict()
    assert len(heat["datasets"][next(iter(heat["datasets"]))]) == 2 * 2 * 3  # groups x ranks x organs
    quantiles = interval_quantiles(interval_table(sequences, labels))
    boxes = sequence_charts.interval_boxes(quantiles, "t").to_dict()
    assert {row["group"] for row in boxes["datasets"][next(iter(boxes["datasets"]))]} == {LIVER_FIRST, "Other-First 2"}
    metrics = pd.DataFrame(
        {
            "k": [1, 2, 3],
            "inertia": [3.0, 2.0, 1.0],
            "silhouette": [np.nan, 0.5, 0.4],
            "aic": [5.0, 4.0, 4.5],
            "bic": [6.0, 5.0, 5.5],
            "concordance": [0.5, 0.6, 0.62],
        }
    )
    assert "hconcat" in sequence_charts.k_selection(metrics, 2, "t").to_dict()
    with pytest.raises(ValueError, match="'k'"):
        sequence_charts.k_selection(metrics.drop(columns="k"), 2, "t")


def test_chartable_hazard_ratios_leave_out_unbounded_intervals():
    table = pd.DataFrame(
        {
            "treatment_group": ["a", "a", "b"],
            "organ": ["liver", "skin", "skin"],
            "hr": [0.5, 1e-9, 2.0],
            "lower": [0.3, 0.0, 1.0],
            "upper": [0.8, np.inf, 4.0],
        }
    )
    shown, left_out = chartable_hazard_ratios(table)
    assert shown["organ"].tolist() == ["liver", "skin"] and left_out == [("a", "skin")]
