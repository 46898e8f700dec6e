"""Baseline prediction of the progression cluster: features without leakage, nested CV, tidy outputs.

The synthetic cohort plants a known multinomial-logistic truth on baseline inputs (liver metastases raise the
odds of Liver-First, lung metastases those of Lung-First, more metastatic organs those of Hetero-Organ, KRAS
mutation and a larger tumour burden add a little), so the oracle AUC is known and a correctly specified model
must come close to it. Post-baseline data (later scans, new lesions, survival) are made to depend on the label, so
any leak would show.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import brier_score_loss, roc_auc_score

from lesionmap.predict import (
    CLUSTER_ORDER,
    DEFAULT_GRIDS,
    MODELS,
    POST_BASELINE_COLUMNS,
    PROFILE_PREFIXES,
    EarlyStoppedXGBClassifier,
    baseline_features,
    build_pipeline,
    check_baseline_features,
    combine_folds,
    evaluate_fold,
    evaluate_models,
    fitted_trees,
    plan_nested_cv,
)
from lesionmap.tables import LESION_COLUMNS, MEASUREMENT_COLUMNS, PATIENT_COLUMNS, volume_from_diameter

ORGANS = ("liver", "lung", "regional LN", "peritoneum", "bone")
ORGAN_PREVALENCE = np.array([0.70, 0.40, 0.30, 0.15, 0.08])

#: True log-odds against Mono-Organ: intercept and per-input slopes (organs in ORGANS order, kras mutant,
#: standardised log baseline volume). Hetero-Organ rises with every extra metastatic organ.
TRUE_INTERCEPT = {"Mono-Organ": 0.0, "Hetero-Organ": -5.0, "Liver-First": -2.5, "Lung-First": -4.0, "Other-First": -3.5}
TRUE_ORGAN_SLOPES = {
    "Mono-Organ": [0, 0, 0, 0, 0],
    "Hetero-Organ": [2.6, 2.6, 2.6, 2.6, 2.6],
    "Liver-First": [3.5, 0, 0, 0, 0],
    "Lung-First": [0, 5.0, 0, 0, 0],
    "Other-First": [0, 0, 3.2, 4.0, 4.0],
}
TRUE_KRAS_SLOPE = {"Mono-Organ": 0.0, "Hetero-Organ": 0.0, "Liver-First": 0.6, "Lung-First": 0.0, "Other-First": 0.0}
TRUE_VOLUME_SLOPE = {"Mono-Organ": 0.0, "Hetero-Organ": 0.5, "Liver-First": 0.0, "Lung-First": 0.0, "Other-First": 0.0}

TINY_GRID = {
    "gradient_boosting": {"learning_rate": [0.1], "max_depth": [2], "n_estimators": [40, 80]},
    "hist_gradient_boosting": {"learning_rate": [0.1], "max_depth": [2], "max_iter": [60]},
    "logistic": {"C": [0.1, 1.0]},
}


def synthetic_cohort(n_patients: int, seed: int):
    """Analysis tables (patients, lesions, measurements), the cluster labels and their true probabilities."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("P", np.char.zfill(np.arange(n_patients).astype(str), 5))
    has_organ = rng.random((n_patients, len(ORGANS))) < ORGAN_PREVALENCE
    has_organ[~has_organ.any(axis=1), 0] = True
    lesions_per_organ = np.where(has_organ, 1 + rng.poisson(0.8, has_organ.shape), 0)
    patient_of_lesion = np.repeat(np.repeat(np.arange(n_patients), len(ORGANS)), lesions_per_organ.ravel())
    organ_of_lesion = np.repeat(np.tile(np.arange(len(ORGANS)), n_patients), lesions_per_organ.ravel())
    rank_in_patient = np.arange(len(patient_of_lesion)) - np.searchsorted(patient_of_lesion, patient_of_lesion)
    is_target = rank_in_patient < 3
    diameter = np.where(is_target, rng.lognormal(np.log(25.0), 0.5, len(patient_of_lesion)), np.nan)

    baseline_day = -rng.integers(1, 29, n_patients)
    volume = volume_from_diameter(diameter)
    burden = np.bincount(patient_of_lesion, weights=np.nan_to_num(volume), minlength=n_patients)
    log_burden = np.log1p(burden)
    kras_mutant = rng.random(n_patients) < 0.45
    z_burden = (log_burden - log_burden.mean()) / log_burden.std()
    logits = np.column_stack(
        [
            TRUE_INTERCEPT[c]
            + has_organ @ np.array(TRUE_ORGAN_SLOPES[c], float)
            + TRUE_KRAS_SLOPE[c] * kras_mutant
            + TRUE_VOLUME_SLOPE[c] * z_burden
            for c in CLUSTER_ORDER
        ]
    )
    probability = np.exp(logits - logits.max(axis=1, keepdims=True))
    probability /= probability.sum(axis=1, keepdims=True)
    label_index = (rng.random((n_patients, 1)) > probability.cumsum(axis=1)).sum(axis=1)
    labels = pd.Series(np.asarray(CLUSTER_ORDER)[label_index], index=pd.Index(ids, name="patient_id"), name="cluster")

    last_day = 200 + 60 * label_index + rng.integers(0, 300, n_patients)
    patients = pd.DataFrame(
        {
            "patient_id": ids,
            "trial": "SYN-1",
            "arm": np.where(rng.random(n_patients) < 0.5, "FOLFOX+TAR", "FOLFOX"),
            "line": rng.integers(1, 3, n_patients),
            "age": rng.normal(60, 10, n_patients).round(1),
            "sex": rng.choice(["M", "F"], n_patients),
            "race": rng.choice(["WHITE", "ASIAN", "BLACK"], n_patients),
            "bmi": np.where(rng.random(n_patients) < 0.15, np.nan, rng.normal(26, 4, n_patients).round(1)),
            "kras": np.where(kras_mutant, "mutant", np.where(rng.random(n_patients) < 0.1, "unknown", "wild-type")),
            "prior_surgery": rng.random(n_patients) < 0.6,
            "baseline_day": baseline_day,
            "last_day": last_day,
            "os_days": last_day + 100.0 * (4 - label_index),
            "os_event": rng.random(n_patients) < 0.7,
            "pfs_days": 60.0 + 30 * label_index,
            "pfs_event": True,
            "recist_bor": np.asarray(["PR", "SD", "PD", "SD", "PR"])[label_index],
            "recist_response_day": np.where(label_index % 2 == 0, 56.0, np.nan),
            "recist_progression_day": 60.0 + 30 * label_index,
        }
    )
    patients.insert(3, "treatment_group", np.where(patients["arm"].str.contains("TAR"), "TAR+Chemo", "Chemo alone"))

    # New lesions (after baseline) in the organ the cluster names, so that a leak would be predictive.
    new_organ = np.asarray(["liver", "lung", "liver", "lung", "peritoneum"])[label_index]
    with_new = rng.random(n_patients) < 0.6
    lesion_patient = np.concatenate([patient_of_lesion, np.flatnonzero(with_new)])
    n_baseline = len(patient_of_lesion)
    kind = np.concatenate([np.where(is_target, "target", "non-target"), np.full(with_new.sum(), "new")])
    lesions = pd.DataFrame(
        {
            "lesion_id": np.char.add(
                np.char.add(ids[lesion_patient], "/L"), np.arange(len(lesion_patient)).astype(str)
            ),
            "patient_id": ids[lesion_patient],
            "kind": kind,
            "organ": np.concatenate([np.asarray(ORGANS)[organ_of_lesion], new_organ[with_new]]),
            "nodal": np.concatenate(
                [np.asarray(ORGANS)[organ_of_lesion] == "regional LN", np.zeros(with_new.sum(), bool)]
            ),
            "detected_day": np.concatenate([baseline_day[patient_of_lesion], last_day[with_new] // 2]),
        }
    )
    lesions.insert(4, "location", lesions["organ"].str.upper())

    targets = np.flatnonzero(is_target)
    # One target lesion in ten was measured on a screening scan a week before the patient's baseline scan.
    screening = rng.random(len(targets)) < 0.1
    scan_days = np.array([0, 42, 84, 126])
    days = np.concatenate(
        [
            np.where(screening, baseline_day[patient_of_lesion[targets]] - 7, baseline_day[patient_of_lesion[targets]])[
                :, None
            ],
            np.broadcast_to(scan_days[1:], (len(targets), 3)),
        ],
        axis=1,
    )
    growth = np.exp((label_index[patient_of_lesion[targets]] * 0.002 - 0.003)[:, None] * days.clip(0))
    follow_diameter = diameter[targets, None] * growth
    measurements = pd.DataFrame(
        {
            "lesion_id": np.repeat(lesions["lesion_id"].to_numpy()[targets], days.shape[1]),
            "patient_id": np.repeat(ids[patient_of_lesion[targets]], days.shape[1]),
            "day": days.ravel(),
            "diameter_mm": follow_diameter.ravel(),
        }
    )
    measurements["volume_mm3"] = volume_from_diameter(measurements["diameter_mm"])
    measurements["blq"] = measurements["volume_mm3"] < 200.0
    assert n_baseline == int(lesions["kind"].ne("new").sum())
    return patients, lesions, measurements, labels, pd.DataFrame(probability, index=labels.index, columns=CLUSTER_ORDER)


@pytest.fixture(scope="module")
def cohort():
    return synthetic_cohort(900, seed=11)


@pytest.fixture(scope="module")
def features(cohort):
    """The baseline features without the per-organ profile: the synthetic groups depend on the organ indicators,
    and a count and a volume per organ would share (and so hide) each indicator's permutation importance."""
    patients, lesions, measurements, _, _ = cohort
    table = baseline_features(patients, lesions, measurements)
    return table.drop(columns=[c for c in table if c.startswith(PROFILE_PREFIXES)])


@pytest.fixture(scope="module")
def result(features, cohort):
    return evaluate_models(
        features, cohort[3], grid=TINY_GRID, outer_folds=3, inner_folds=3, seed=3, importance_repeats=3
    )


def test_synthetic_tables_follow_the_contract(cohort):
    patients, lesions, measurements, _, _ = cohort
    assert list(patients.columns) == list(PATIENT_COLUMNS)
    assert list(lesions.columns) == list(LESION_COLUMNS)
    assert list(measurements.columns) == list(MEASUREMENT_COLUMNS)


def test_baseline_features_by_hand():
    patients = pd.DataFrame(
        {
            "patient_id": ["A", "B", "C"],
            "baseline_day": [-10, -5, -3],
            "age": [50.0, 61.0, 70.0],
            "bmi": [22.0, np.nan, 30.0],
            "sex": ["F", "M", None],
            "race": ["WHITE", "ASIAN", "WHITE"],
            "kras": ["mutant", "wild-type", "unknown"],
            "line": [1, 2, 1],
            "prior_surgery": [True, False, True],
            "treatment_group": ["TAR+Chemo", "Chemo alone", "TAR+Chemo"],
            "os_days": [1.0, 2.0, 3.0],
        }
    )
    lesions = pd.DataFrame(
        {
            "lesion_id": ["A1", "A2", "A3", "A4", "B1", "B2"],
            "patient_id": ["A", "A", "A", "A", "B", "B"],
            "kind": ["target", "target", "non-target", "new", "target", "non-target"],
            "organ": ["liver", "lung", "liver", "bone", "lung", "peritoneum"],
        }
    )
    measurements = pd.DataFrame(
        {
            # A1: on A's baseline day (and an earlier screening scan, ignored); A2: no baseline-day row, so its first
            # pre-treatment measurement counts; B1: never measured before treatment.
            "lesion_id": ["A1", "A1", "A1", "A2", "A2", "A2", "B1"],
            "day": [-30, -10, 40, -12, -2, 40, 30],
            "volume_mm3": [999.0, 1000.0, 5.0, 300.0, 350.0, 7.0, 11.0],
        }
    )
    table = baseline_features(patients, lesions, measurements)
    assert list(table.index) == ["A", "B", "C"]
    assert table["n_metastases"].tolist() == [3, 2, 0]
    np.testing.assert_array_equal(table["baseline_target_volume_mm3"].to_numpy(), [1300.0, np.nan, 0.0])
    organs = table[["organ_liver", "organ_lung", "organ_peritoneum"]]
    assert organs.to_numpy().tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 0]]
    assert "organ_bone" not in table  # only a new lesion there
    assert table["sex"].tolist() == ["F", "M", "missing"]
    assert table["line"].tolist() == ["1", "2", "1"] and table["prior_surgery"].tolist() == ["True", "False", "True"]
    assert "os_days" not in table and np.isnan(table.loc["B", "bmi"])
    fixed = baseline_features(patients, lesions, measurements, organs=["lung", "skin"])
    assert [c for c in fixed if c.startswith("organ_")] == ["organ_lung", "organ_skin"]


def test_no_post_baseline_information_reaches_the_features(cohort, features):
    patients, lesions, measurements, labels, _ = cohort
    rng = np.random.default_rng(99)
    perturbed_patients = patients.copy()
    for column in POST_BASELINE_COLUMNS:
        perturbed_patients[column] = rng.permutation(perturbed_patients[column].to_numpy())
    perturbed_patients["cluster"] = labels.to_numpy()
    later = measurements["day"] > 0
    perturbed_measurements = measurements.copy()
    perturbed_measurements.loc[later, "volume_mm3"] = rng.lognormal(10, 2, later.sum())
    perturbed_measurements.loc[later, "day"] = rng.integers(1, 900, later.sum())
    extra = perturbed_measurements[later].assign(day=lambda f: f["day"] + 1000)
    new = lesions["kind"] == "new"
    perturbed_lesions = lesions.copy()
    perturbed_lesions.loc[new, "organ"] = rng.choice(["brain/CNS", "skin", "liver"], new.sum())
    perturbed_lesions.loc[new, "detected_day"] = rng.integers(1, 900, new.sum())
    more_new = perturbed_lesions[new].assign(lesion_id=lambda f: f["lesion_id"] + "x", organ="adrenal")
    rebuilt = baseline_features(
        perturbed_patients, pd.concat([perturbed_lesions, more_new]), pd.concat([perturbed_measurements, extra])
    )
    pd.testing.assert_frame_equal(rebuilt, baseline_features(patients, lesions, measurements))  # profile included


def test_models_refuse_columns_outside_the_allow_list(features, cohort):
    for column in ("os_days", "recist_bor", "cluster"):
        leaky = features.assign(**{column: 1.0})
        with pytest.raises(ValueError, match=column):
            check_baseline_features(leaky)
        with pytest.raises(ValueError, match="not baseline features"):
            evaluate_models(leaky, cohort[3], models=("majority",), outer_folds=2, inner_folds=2)
    with pytest.raises(ValueError, match="not baseline features"):
        build_pipeline("logistic", features.assign(pfs_days=1.0))


def test_pipeline_encodes_as_documented(features, cohort):
    pipeline = build_pipeline("logistic", features).fit(features, cohort[3])
    names = list(pipeline.named_steps["preprocess"].get_feature_names_out())
    assert "skewed__baseline_target_volume_mm3" in names and "categorical__kras_mutant" in names
    assert "organs__organ_liver" in names and "continuous__bmi" in names
    unseen = features.iloc[:5].assign(race="NOT SEEN BEFORE", kras="novel")
    assert pipeline.predict_proba(unseen).shape == (5, 5)
    design = pipeline.named_steps["preprocess"].transform(features)
    assert np.isfinite(design).all()
    continuous = [names.index(n) for n in ("continuous__age", "continuous__bmi", "skewed__n_metastases")]
    np.testing.assert_allclose(design[:, continuous].mean(axis=0), 0.0, atol=1e-9)


def test_tables_have_the_documented_shapes(result, features):
    classes, n = result.classes, len(features)
    assert classes == list(CLUSTER_ORDER)
    assert result.predictions.groupby("model").size().eq(n).all()
    assert list(result.predictions.columns) == ["model", "fold", "patient_id", "observed", "predicted", *classes]
    assert set(result.predictions["model"]) == set(MODELS)
    folds = result.predictions[result.predictions["model"] == "logistic"]
    assert folds["patient_id"].is_unique and set(folds["fold"]) == {1, 2, 3}
    np.testing.assert_allclose(result.predictions[classes].sum(axis=1), 1.0)
    assert list(result.metrics.columns) == ["model", "fold", "metric", "average", "value"]
    assert {"model", "class", "fpr", "tpr"} <= set(result.roc.columns)
    assert set(result.roc["class"]) == set(classes) | {"micro", "macro"}
    assert result.roc[["fpr", "tpr"]].stack().between(0, 1).all()
    assert result.roc.groupby(["model", "class"]).size().max() <= 200
    assert result.confusion.groupby("model")["n"].sum().eq(n).all()
    assert len(result.confusion) == len(MODELS) * len(classes) ** 2
    assert set(result.importance["feature"]) == set(features.columns)
    assert list(result.importance.columns) == ["model", "feature", "mean", "sd"]
    assert result.calibration.groupby(["model", "class"])["n"].sum().eq(n).all()
    assert result.calibration[["predicted", "observed"]].stack().between(0, 1).all()
    chosen = result.hyperparameters[result.hyperparameters["model"] == "gradient_boosting"]
    assert len(chosen) == 3 * 3 and set(chosen["value"][chosen["parameter"] == "n_estimators"]) <= {"40", "80"}
    assert result.grid["majority"] == DEFAULT_GRIDS["majority"] and result.grid["logistic"] == {"C": [0.1, 1.0]}


def test_metrics_agree_with_scikit_learn(result):
    classes = result.classes
    for (model, fold), rows in result.predictions.groupby(["model", "fold"]):
        proba, observed = rows[classes].to_numpy(), rows["observed"].to_numpy()
        stored = result.metrics[(result.metrics["model"] == model) & (result.metrics["fold"] == fold)]
        value = stored.set_index(["metric", "average"])["value"]
        order = np.argsort(classes)  # scikit-learn wants the labels sorted, with the probability columns to match
        for average in ("macro", "micro"):
            expected = roc_auc_score(
                observed, proba[:, order], multi_class="ovr", average=average, labels=np.asarray(classes)[order]
            )
            assert value[("auc", average)] == pytest.approx(expected, abs=1e-12)
        assert value[("brier", "overall")] == pytest.approx(
            brier_score_loss(observed, proba[:, order], labels=np.asarray(classes)[order]), abs=1e-12
        )
        assert value[("accuracy", "overall")] == pytest.approx(np.mean(rows["predicted"] == observed))
    aucs = result.metrics.loc[result.metrics["metric"] == "auc", "value"]
    assert aucs.between(0, 1).all()
    summary = result.metrics_summary.set_index(["model", "metric", "average"])
    for model in MODELS:
        curves = result.roc[result.roc["model"] == model]
        for average in ("micro", "macro"):
            curve = curves[curves["class"] == average]
            area = np.trapezoid(curve["tpr"], curve["fpr"])
            assert area == pytest.approx(summary.loc[(model, "auc", average), "pooled"], abs=0.01)
        confusion = result.confusion[result.confusion["model"] == model]
        accuracy = confusion.loc[confusion["observed"] == confusion["predicted"], "n"].sum() / confusion["n"].sum()
        assert accuracy == pytest.approx(summary.loc[(model, "accuracy", "overall"), "pooled"])


def test_boosting_beats_the_majority_class_and_finds_the_planted_organs(result):
    auc = result.metrics_summary.set_index(["model", "metric", "average"])["mean"]
    assert auc[("majority", "auc", "macro")] == pytest.approx(0.5)
    for model in ("xgboost", "gradient_boosting", "hist_gradient_boosting", "logistic"):
        assert auc[(model, "auc", "macro")] > 0.78
        assert auc[(model, "f1", "macro")] > auc[("majority", "f1", "macro")] + 0.1
    for model in ("xgboost", "gradient_boosting"):
        importance = result.importance[result.importance["model"] == model]
        top = importance.nlargest(3, "mean")["feature"].tolist()
        assert {"organ_liver", "organ_lung"} <= set(top)
        assert importance.set_index("feature").loc["race", "mean"] < 0.02
    assert result.importance.loc[result.importance["model"] == "majority", "mean"].eq(0).all()


def test_summary_holds_the_chapter_numbers(result):
    summary = result.summary()
    assert summary["classes"] == list(CLUSTER_ORDER) and summary["n_patients"] == 900
    assert summary["exclusions"] == {"features_without_label": 0, "labels_without_features": 0}
    for model in MODELS:
        entry = summary["models"][model]
        assert set(entry["auc_by_class"]) == set(CLUSTER_ORDER)
        assert all(0 <= entry[k] <= 1 for k in ("auc_micro", "auc_macro", "accuracy", "f1_macro"))
        assert isinstance(entry["sd"]["auc_macro"], float)


def test_logistic_recovers_the_oracle_auc_and_runs_are_reproducible():
    patients, lesions, measurements, labels, truth = synthetic_cohort(3000, seed=5)
    features = baseline_features(patients, lesions, measurements)
    run = dict(
        models=("logistic",),
        grid={"logistic": {"C": [1.0]}},
        outer_folds=3,
        inner_folds=2,
        importance_repeats=1,
        n_jobs=1,
    )
    first = evaluate_models(features, labels, seed=8, roc_points=None, **run)
    oracle = roc_auc_score(labels, truth.loc[labels.index, sorted(CLUSTER_ORDER)].to_numpy(), multi_class="ovr")
    pooled = first.metrics_summary.set_index(["metric", "average"])["pooled"]
    assert pooled[("auc", "macro")] == pytest.approx(oracle, abs=0.02)
    exact_area = {name: np.trapezoid(curve["tpr"], curve["fpr"]) for name, curve in first.roc.groupby("class")}
    for name in [*CLUSTER_ORDER, "micro"]:
        assert exact_area[name] == pytest.approx(pooled[("auc", name)], abs=1e-12)
    again = evaluate_models(features, labels, seed=8, **run)
    pd.testing.assert_frame_equal(first.metrics, again.metrics)
    pd.testing.assert_frame_equal(first.importance, again.importance)
    assert again.roc.groupby("class").size().max() == 200 < first.roc.groupby("class").size().max()
    for name, curve in again.roc.groupby("class"):
        assert np.trapezoid(curve["tpr"], curve["fpr"]) == pytest.approx(exact_area[name], abs=0.005)
    other = evaluate_models(features, labels, seed=9, **run)
    fold_of = [run.predictions.set_index("patient_id")["fold"].sort_index() for run in (first, other)]
    assert not fold_of[0].equals(fold_of[1])


def test_unmatched_patients_are_counted_and_bad_requests_refused(features, cohort):
    labels = cohort[3]
    partial = pd.concat([labels.iloc[40:], pd.Series(["Mono-Organ"], index=["NOT-A-PATIENT"])])
    run = evaluate_models(
        features,
        partial,
        models=("majority",),
        outer_folds=2,
        inner_folds=2,
        importance_repeats=1,
        seed=np.random.default_rng(4),
    )
    assert run.exclusions == {"features_without_label": 40, "labels_without_features": 1}
    assert run.settings["seed"] is None and run.predictions["patient_id"].is_unique
    assert run.summary()["n_patients"] == len(features) - 40
    with pytest.raises(ValueError, match="unknown model"):
        evaluate_models(features, labels, models=("lightgbm",))
    with pytest.raises(ValueError, match="not evaluated"):
        evaluate_models(features, labels, models=("majority",), grid={"logistic": {"C": [1.0]}})
    rare = labels.copy()
    rare.iloc[:3] = "Rare-First"
    with pytest.raises(ValueError, match="Rare-First"):
        evaluate_models(features, rare, models=("majority",))
    with pytest.raises(ValueError, match="no patient"):
        evaluate_models(features, labels.set_axis([f"X{i}" for i in range(len(labels))]), models=("majority",))


@pytest.mark.slow
def test_default_grid_nested_cv_at_scale_recovers_the_oracle():
    patients, lesions, measurements, labels, truth = synthetic_cohort(4308, seed=21)
    features = baseline_features(patients, lesions, measurements)
    result = evaluate_models(features, labels, seed=0, n_jobs=2)
    oracle = roc_auc_score(labels, truth.loc[labels.index, sorted(CLUSTER_ORDER)].to_numpy(), multi_class="ovr")
    models = result.summary()["models"]
    for model in ("xgboost", "gradient_boosting", "hist_gradient_boosting", "logistic"):
        assert models[model]["pooled"]["auc_macro"] == pytest.approx(oracle, abs=0.03)
        assert models[model]["f1_macro"] > models["majority"]["f1_macro"] + 0.15
    chosen = result.hyperparameters[result.hyperparameters["model"] == "gradient_boosting"]
    assert len(chosen) == 5 * 3
    for parameter, values in DEFAULT_GRIDS["gradient_boosting"].items():
        assert set(chosen.loc[chosen["parameter"] == parameter, "value"]) <= {str(v) for v in values}


def test_folds_run_apart_and_in_any_order_give_the_nested_cv_result(features, cohort, result):
    """The study runs each (model, outer fold) as its own task: pieces computed in reverse order and combined
    give exactly ``evaluate_models``' tables; a missing piece is refused."""
    plan = plan_nested_cv(
        features, cohort[3], grid=TINY_GRID, outer_folds=3, inner_folds=3, seed=3, importance_repeats=3
    )
    assert plan.steps == [(m, f) for m in MODELS for f in range(3)]
    pieces = {step: evaluate_fold(plan, *step) for step in reversed(plan.steps)}
    combined = combine_folds(plan, [pieces[step] for step in plan.steps])
    for name in ("predictions", "metrics", "metrics_summary", "roc", "importance", "hyperparameters", "trees"):
        pd.testing.assert_frame_equal(getattr(combined, name), getattr(result, name), check_exact=True)
    assert combined.settings == result.settings
    steps = len(MODELS) * 3
    with pytest.raises(ValueError, match=f"{steps} .model, fold. steps; got {steps - 1}"):
        combine_folds(plan, [pieces[step] for step in plan.steps[:-1]])


def test_xgboost_keeps_the_labels_stops_early_and_is_reproducible(features, cohort):
    """The XGBoost wrapper behaves as a scikit-learn classifier: any label values, probabilities in ``classes_``
    order summing to one, early stopping below the cap, the same fit for the same seed, refusal of one class."""
    labels = cohort[3].loc[features.index]
    design = build_pipeline("xgboost", features).named_steps["preprocess"].fit_transform(features)
    model = EarlyStoppedXGBClassifier(max_trees=300, random_state=5).fit(design, labels.to_numpy())
    assert list(model.classes_) == sorted(CLUSTER_ORDER)
    proba = model.predict_proba(design)
    assert proba.shape == (len(labels), len(CLUSTER_ORDER))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert set(model.predict(design)) <= set(CLUSTER_ORDER)
    assert 1 <= model.n_trees_ < 300 and fitted_trees(model) == model.n_trees_
    assert roc_auc_score(labels, proba, multi_class="ovr") > 0.8
    again = clone(model).fit(design, labels.to_numpy())
    np.testing.assert_array_equal(again.predict_proba(design), proba)
    other_seed = EarlyStoppedXGBClassifier(max_trees=300, random_state=6).fit(design, labels.to_numpy())
    assert not np.array_equal(other_seed.predict_proba(design), proba)
    binary = np.where(labels.to_numpy() == "Mono-Organ", "mono", "other")
    assert list(EarlyStoppedXGBClassifier(random_state=0).fit(design, binary).classes_) == ["mono", "other"]
    with pytest.raises(ValueError, match="two classes"):
        EarlyStoppedXGBClassifier().fit(design, np.full(len(design), "Mono-Organ"))


def test_xgboost_missing_says_what_to_install_or_choose(features, cohort, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "xgboost", None)  # import xgboost now raises ImportError
    with pytest.raises(ImportError, match="pip install xgboost-cpu.*gradient_boosting"):
        EarlyStoppedXGBClassifier().fit(np.zeros((20, 2)), np.repeat(["a", "b"], 10))
