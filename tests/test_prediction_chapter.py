"""Chapter 6 (prediction at baseline): the chapter's feature table and the leakage guard on simulated SDTM-derived
tables, the outcome labels, the grids, the fast permutation importance against scikit-learn's, the chapter's
tables and its charts (they must draw whatever the group names are)."""

import numpy as np
import pandas as pd
import pytest
import vl_convert
from sklearn.inspection import permutation_importance
from sklearn.metrics import f1_score, make_scorer

from lesionmap import charts
from lesionmap.charts import prediction as prediction_charts
from lesionmap.cohort import simulate
from lesionmap.predict import (
    COUNT_PREFIX,
    DEFAULT_GRIDS,
    MAX_TREES,
    MODEL_LABELS,
    ORGAN_PREFIX,
    PATIENT_COVARIATES,
    POST_BASELINE_COLUMNS,
    PROFILE_PREFIXES,
    SKEWED_FEATURES,
    VOLUME_PREFIX,
    auc_table,
    baseline_features,
    build_pipeline,
    check_baseline_features,
    design_columns,
    evaluate_models,
    feature_kinds,
    hyperparameter_table,
    input_table,
    macro_f1_rows,
    metric_table,
    minimum_class_size,
    paired_difference,
    permutation_importance_by_input,
    progression_labels,
    search_grids,
    separate_small_classes,
)

#: Group names as odd as a small cohort's clustering can make them.
GROUPS = ("Liver-First", "Other-First 3", "Group with spaces")


@pytest.fixture(scope="module")
def simulated():
    return simulate("mcrc", n_patients=60, seed=3)


@pytest.fixture(scope="module")
def chapter_features(simulated):
    """The feature table exactly as the chapter builds it, from the analysis tables the SDTM reader gives."""
    return baseline_features(simulated.patients, simulated.lesions, simulated.measurements)


def test_the_chapter_feature_table_passes_the_leakage_guard(chapter_features, simulated):
    check_baseline_features(chapter_features)
    allowed = set(PATIENT_COVARIATES) | set(SKEWED_FEATURES)
    assert {c for c in chapter_features if not c.startswith((ORGAN_PREFIX, *PROFILE_PREFIXES))} == allowed
    assert not set(chapter_features) & (set(simulated.patients) - allowed)  # trial, arm, survival, ...
    baseline_organs = simulated.lesions.loc[simulated.lesions["kind"] != "new", "organ"].unique()
    organs = {c.removeprefix(ORGAN_PREFIX) for c in chapter_features if c.startswith(ORGAN_PREFIX)}
    assert organs == set(baseline_organs)
    assert len(chapter_features) == len(simulated.patients) and chapter_features.index.is_unique
    for column in ("os_days", "recist_bor", "trial", "group"):
        with pytest.raises(ValueError, match="not baseline features"):
            check_baseline_features(chapter_features.assign(**{column: 1}))


def test_the_metastasis_profile_counts_and_sums_each_organ(chapter_features, simulated):
    organs = [c.removeprefix(ORGAN_PREFIX) for c in chapter_features if c.startswith(ORGAN_PREFIX)]
    counts = chapter_features[[f"{COUNT_PREFIX}{o}" for o in organs]]
    assert (counts.sum(axis=1) == chapter_features["n_metastases"]).all()
    assert ((counts.to_numpy() > 0) == chapter_features[[f"{ORGAN_PREFIX}{o}" for o in organs]].to_numpy()).all()
    volumes = chapter_features[[f"{VOLUME_PREFIX}{o}" for o in organs]].sum(axis=1)
    total = chapter_features["baseline_target_volume_mm3"]
    np.testing.assert_allclose(volumes[total.notna()], total.dropna(), rtol=1e-12)
    assert "target_volume_liver" in set(feature_kinds(chapter_features)["skewed"])


def test_post_baseline_records_of_the_simulated_tables_never_reach_the_features(chapter_features, simulated):
    rng = np.random.default_rng(5)
    patients = simulated.patients.copy()
    for column in (*POST_BASELINE_COLUMNS, "trial", "arm"):
        patients[column] = rng.permutation(patients[column].to_numpy())
    measurements = simulated.measurements.copy()
    later = measurements["day"] > 0
    assert later.any()
    measurements.loc[later, "volume_mm3"] = rng.lognormal(9, 2, later.sum())
    lesions = simulated.lesions.copy()
    new = lesions["kind"] == "new"
    lesions.loc[new, "organ"] = "skin"
    extra_new = lesions.iloc[:3].assign(lesion_id=lambda f: f["lesion_id"] + "-late", kind="new", organ="adrenal")
    rebuilt = baseline_features(patients, pd.concat([lesions, extra_new]), measurements)
    pd.testing.assert_frame_equal(rebuilt, chapter_features)


def test_patients_without_progression_are_left_out_and_counted_or_kept_as_a_class():
    groups = pd.Series(
        ["Liver-First", "No progression", "Other-First 3", "No progression"],
        index=pd.Index(["A", "B", "C", "D"], name="patient_id"),
    )
    labels, left_out = progression_labels(groups)
    assert labels.to_dict() == {"A": "Liver-First", "C": "Other-First 3"} and left_out == 2
    kept, none_left = progression_labels(groups, include_no_progression=True)
    assert kept.tolist() == groups.tolist() and none_left == 0
    with pytest.raises(ValueError, match="'B' has no group"):
        progression_labels(groups.where(groups.index != "B"))
    with pytest.raises(ValueError, match="appears twice"):
        progression_labels(pd.concat([groups, groups.iloc[:1]]))


def test_search_grids_take_the_chapter_parameters_and_refuse_bad_ones():
    grids = search_grids(["hist_gradient_boosting", "logistic", "majority"], [0.2], (2, 4), 3.0)
    assert grids == {
        "hist_gradient_boosting": {"learning_rate": [0.2], "max_depth": [2, 4], "max_features": [0.5]},
        "logistic": {"C": [3.0]},
        "majority": DEFAULT_GRIDS["majority"],
    }
    assert search_grids(["gradient_boosting"]) == {"gradient_boosting": DEFAULT_GRIDS["gradient_boosting"]}
    assert search_grids(["xgboost"], max_depths=[4]) == {
        "xgboost": {"learning_rate": [0.1], "max_depth": [4], "colsample_bytree": [0.5]}
    }
    with pytest.raises(ValueError, match="lightgbm"):
        search_grids(["lightgbm"])
    with pytest.raises(ValueError, match="empty"):
        search_grids(["logistic"], logistic_c=[])


def _hand_made(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Baseline-shaped features and groups that depend on the liver and lung indicators (and noise)."""
    rng = np.random.default_rng(seed)
    liver, lung = rng.random(n) < 0.6, rng.random(n) < 0.4
    features = pd.DataFrame(
        {
            "age": rng.normal(60, 10, n),
            "bmi": np.where(rng.random(n) < 0.1, np.nan, rng.normal(26, 4, n)),
            "sex": rng.choice(["F", "M"], n),
            "kras": rng.choice(["mutant", "wild-type", "missing"], n),
            "n_metastases": rng.integers(1, 9, n),
            "baseline_target_volume_mm3": rng.lognormal(8, 1, n),
            "organ_liver": liver.astype(int),
            "organ_lung": lung.astype(int),
        },
        index=pd.Index([f"P{i:04d}" for i in range(n)], name="patient_id"),
    )
    score = 2.5 * liver - 2.5 * lung + rng.normal(0, 1, n)
    groups = np.where(score > 1.2, GROUPS[0], np.where(score < -0.5, GROUPS[1], GROUPS[2]))
    return features, pd.Series(groups, index=features.index, name="group")


@pytest.fixture(scope="module")
def result():
    features, labels = _hand_made(240, seed=1)
    grid = {"hist_gradient_boosting": {"learning_rate": [0.1], "max_depth": [2]}, "logistic": {"C": [0.1, 10.0]}}
    return evaluate_models(
        features,
        labels,
        models=["hist_gradient_boosting", "logistic", "majority"],
        grid=grid,
        outer_folds=3,
        inner_folds=2,
        seed=4,
        n_jobs=1,
        importance_repeats=2,
    )


@pytest.mark.parametrize("model", ["xgboost", "hist_gradient_boosting", "gradient_boosting", "majority"])
def test_fast_permutation_importance_is_scikit_learns(model):
    features, labels = _hand_made(150, seed=2)
    pipeline = build_pipeline(model, features, random_state=0).fit(features.iloc[:100], labels.iloc[:100])
    held_out, observed = features.iloc[100:], labels.iloc[100:].to_numpy()
    ours = permutation_importance_by_input(pipeline, held_out, observed, n_repeats=3, random_state=7)
    reference = permutation_importance(
        pipeline,
        held_out,
        observed,
        n_repeats=3,
        random_state=7,
        scoring=make_scorer(f1_score, average="macro", zero_division=0),
    )
    assert list(ours.index) == list(features.columns)
    np.testing.assert_allclose(ours.to_numpy(), reference.importances, atol=1e-12)
    if model != "majority":
        assert ours.loc["organ_liver"].mean() > 0.05 and ours.loc["organ_liver"].mean() > ours.loc["age"].mean()


def test_macro_f1_of_many_rows_is_scikit_learns():
    rng = np.random.default_rng(9)
    observed = rng.choice(["a", "b", "c"], 40)
    predicted = rng.choice(["a", "b", "c", "d"], (30, 40), p=[0.5, 0.3, 0.15, 0.05])
    predicted[0] = "a"  # b and c never predicted
    predicted[1] = observed  # perfect
    expected = [f1_score(observed, row, average="macro", zero_division=0) for row in predicted]
    np.testing.assert_allclose(macro_f1_rows(observed, predicted), expected, atol=1e-12)
    assert macro_f1_rows(observed, predicted)[1] == 1.0


def test_design_columns_follow_the_one_hot_levels():
    features, labels = _hand_made(60, seed=3)
    preprocessor = build_pipeline("logistic", features).fit(features, labels).named_steps["preprocess"]
    groups = design_columns(preprocessor)
    names = preprocessor.get_feature_names_out()
    assert [names[i] for i in groups["kras"]] == [
        "categorical__kras_missing",
        "categorical__kras_mutant",
        "categorical__kras_wild-type",
    ]
    assert [names[i] for i in groups["organ_lung"]] == ["organs__organ_lung"]
    assert sorted(np.concatenate(list(groups.values()))) == list(range(len(names)))


def test_the_chapter_tables_agree_with_the_fold_metrics(result):
    table = metric_table(result)
    assert list(table.columns) == [
        "metric",
        *[MODEL_LABELS[m] for m in ("hist_gradient_boosting", "logistic", "majority")],
    ]
    macro = result.metrics.query("model == 'logistic' and metric == 'auc' and average == 'macro'")["value"]
    row = table.set_index("metric").loc["AUC, macro average", MODEL_LABELS["logistic"]]
    assert row == f"{macro.mean():.3f} ± {macro.std():.3f}"

    aucs = auc_table(result, ["majority"])
    assert aucs["class"].tolist() == [*result.classes, "macro average", "micro average"]
    assert aucs["patients"].tolist()[:3] == [
        int((result.predictions.query("model == 'majority'")["observed"] == c).sum()) for c in result.classes
    ]
    assert aucs.loc[aucs["class"] == "macro average", MODEL_LABELS["majority"]].item() == "0.500 ± 0.000"

    settings = hyperparameter_table(result)
    assert settings.columns.tolist() == ["model", "parameter", "grid", "fold 1", "fold 2", "fold 3"]
    trees = settings[settings["parameter"] == "trees per class"]
    assert len(trees) == 1 and f"at most {MAX_TREES}" in trees["grid"].item()
    fitted = result.trees.set_index("fold")["trees"]
    assert trees[["fold 1", "fold 2", "fold 3"]].to_numpy().ravel().tolist() == [str(fitted[f]) for f in (1, 2, 3)]
    assert fitted.between(1, MAX_TREES).all()
    assert set(settings.loc[settings["parameter"] == "C", ["fold 1", "fold 2", "fold 3"]].to_numpy().ravel()) <= {
        "0.1",
        "10.0",
    }

    difference = paired_difference(result, "logistic", "majority").set_index("metric")
    f1 = result.metrics.query("metric == 'f1' and average == 'macro'").pivot(
        index="fold", columns="model", values="value"
    )
    assert difference.loc["f1", "difference"] == pytest.approx((f1["logistic"] - f1["majority"]).mean())
    assert difference.loc["f1", "folds_better"] == 3 and difference.loc["f1", "folds"] == 3
    with pytest.raises(ValueError, match="gradient_boosting"):
        paired_difference(result, "gradient_boosting", "majority")


def test_input_table_counts_missing_values():
    features, _ = _hand_made(50, seed=6)
    table = input_table(features).set_index("inputs")
    assert table.loc["continuous", "missing values"] == features["bmi"].isna().sum() > 0
    assert table.loc["organs", "columns"] == "organ_liver, organ_lung"
    assert "one-hot" in table.loc["categorical", "encoding"]


def test_a_group_too_small_for_the_folds_or_for_early_stopping_fails_clearly():
    features, labels = _hand_made(240, seed=8)
    tiny = labels.copy()
    tiny.iloc[:4] = "Tiny group"
    with pytest.raises(ValueError, match="Tiny group"):
        evaluate_models(features, tiny, models=["logistic"], outer_folds=5, inner_folds=5)
    few = labels.groupby(labels).head(8)  # 8 per group: enough for 5 x 5 folds, too few for early stopping
    small = evaluate_models(
        features, few, models=["majority"], outer_folds=2, inner_folds=2, importance_repeats=1, n_jobs=1
    )
    assert sorted(small.classes) == sorted(GROUPS) and len(small.predictions) == len(few)
    with pytest.raises(ValueError, match="early-stopping share"):
        evaluate_models(features, few, models=["hist_gradient_boosting"], outer_folds=5, inner_folds=5)


def _draws(chart) -> str:
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    assert svg.startswith("<svg")
    return svg


def test_every_chart_draws_with_any_group_names(result):
    charts.setup()
    models = ["hist_gradient_boosting", "logistic", "majority"]
    built = {
        "averages": prediction_charts.roc_averages_chart(result, models, "Supplementary Fig. 11a"),
        "classes": prediction_charts.roc_classes_chart(result, "logistic", "Supplementary Fig. 11b"),
        "folds": prediction_charts.fold_metrics_chart(result, models, "folds"),
        "importance": prediction_charts.importance_chart(result, "hist_gradient_boosting", "importance", top=5),
        "calibration": prediction_charts.calibration_chart(result, "logistic", "calibration"),
        "confusion": prediction_charts.confusion_chart(result, "logistic", "confusion"),
    }
    for name, chart in built.items():
        svg = _draws(chart)
        assert "Group with spaces" in svg or name in ("averages", "folds", "importance"), name
        assert len(chart.to_json()) < 400_000, name
    legend = _draws(built["averages"])
    majority_micro = result.metrics_summary.query("model == 'majority' and metric == 'auc' and average == 'micro'")
    assert f"majority class, micro (AUC {majority_micro['pooled'].item():.2f})" in legend
    confusion = built["confusion"].data  # the layers share one table
    assert confusion["n"].sum() == len(result.predictions.query("model == 'logistic'"))
    assert confusion.groupby("observed")["share"].sum().round(12).eq(1).all()
    with pytest.raises(ValueError, match="gradient_boosting"):
        prediction_charts.roc_classes_chart(result, "gradient_boosting", "not run")


def test_groups_too_small_for_the_folds_are_separated_and_named():
    _, labels = _hand_made(120, seed=9)
    labels.iloc[:3] = "Tiny group"
    kept, small = separate_small_classes(labels, outer_folds=5, inner_folds=5)
    assert small == {"Tiny group": 3} and minimum_class_size(5, 5) == 7
    assert "Tiny group" not in set(kept) and len(kept) == len(labels) - 3
    assert separate_small_classes(kept, 5, 5)[1] == {}
