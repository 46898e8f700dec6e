"""Nested cross-validation of the baseline classifiers, and the tidy tables a chapter charts.

Outer loop: stratified 5-fold (an 80/20 split whose test fold rotates five times), the same folds for every model
so that models are compared on the same patients. Inner loop: GridSearchCV, stratified 5-fold on the training part,
macro F1 (the paper's selection metric). Everything reported is computed on the held-out outer folds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    make_scorer,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from lesionmap.predict.features import check_baseline_features
from lesionmap.predict.importance import permutation_importance_by_input
from lesionmap.predict.models import BOOSTING, DEFAULT_GRIDS, MODELS, VALIDATION_FRACTION, build_pipeline, fitted_trees

#: The progression-sequence clusters of the paper, in the order tables and charts list them.
CLUSTER_ORDER = ("Mono-Organ", "Hetero-Organ", "Liver-First", "Lung-First", "Other-First")


def f1_macro(observed: np.ndarray, predicted: np.ndarray) -> float:
    """Macro F1 (the paper's model selection metric); a class never predicted scores 0."""
    return float(f1_score(observed, predicted, average="macro", zero_division=0))


#: The inner search's scorer (macro F1; the permutation importance uses the same metric, ``macro_f1_rows``).
F1_MACRO = make_scorer(f1_macro)

#: The numbers ``PredictionResult.summary`` reports per model: name -> (metric, average) in ``metrics``.
HEADLINE_METRICS = {
    "auc_micro": ("auc", "micro"),
    "auc_macro": ("auc", "macro"),
    "accuracy": ("accuracy", "overall"),
    "precision_macro": ("precision", "macro"),
    "recall_macro": ("recall", "macro"),
    "f1_macro": ("f1", "macro"),
    "brier": ("brier", "overall"),
}


@dataclass
class PredictionResult:
    """Out-of-fold performance of each model, as tidy tables.

    - ``predictions``: model, fold, patient_id, observed, predicted, then one probability column per class;
    - ``metrics``: model, fold, metric, average, value (metric: accuracy, precision, recall, f1, auc, brier,
      inner_f1; average: 'macro', 'micro', a class name, or 'overall');
    - ``metrics_summary``: model, metric, average, mean, sd (across outer folds), pooled (on all out-of-fold
      predictions together);
    - ``roc``: model, class (a class, 'micro' or 'macro'), fpr, tpr, from the pooled out-of-fold probabilities;
    - ``confusion``: model, observed, predicted, n (summed over outer folds);
    - ``importance``: model, feature, mean, sd (permutation importance on held-out folds, per input column);
    - ``calibration``: model, class, bin_lower, bin_upper, predicted, observed, n (reliability table);
    - ``hyperparameters``: model, fold, parameter, value (the inner search's choice; Supplementary Table 4);
    - ``trees``: model, fold, trees (boosting models: trees per class kept by early stopping in the refit);
    - ``grid``: the grid searched for each model; ``classes``; ``settings``: folds, seed, selection metric;
      ``exclusions``: counts of patients with features but no label, and labels with no features.
    """

    classes: list[str]
    grid: dict[str, dict[str, list]]
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    metrics_summary: pd.DataFrame
    roc: pd.DataFrame
    confusion: pd.DataFrame
    importance: pd.DataFrame
    calibration: pd.DataFrame
    hyperparameters: pd.DataFrame
    settings: dict = field(default_factory=dict)
    exclusions: dict = field(default_factory=dict)
    trees: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["model", "fold", "trees"]))

    def summary(self) -> dict:
        """The numbers a chapter quotes (``_build/results/prediction.json``): per model, fold means and sds of
        the AUCs (micro, macro, per class), accuracy, precision, recall, F1 (macro) and the Brier score."""
        table = self.metrics_summary
        models = {}
        for model, rows in table.groupby("model", sort=False):
            keyed = rows.set_index(["metric", "average"])
            models[model] = {
                **{name: float(keyed.loc[key, "mean"]) for name, key in HEADLINE_METRICS.items()},
                "auc_by_class": {c: float(keyed.loc[("auc", c), "mean"]) for c in self.classes},
                "sd": {name: float(keyed.loc[key, "sd"]) for name, key in HEADLINE_METRICS.items()},
                "pooled": {name: float(keyed.loc[key, "pooled"]) for name, key in HEADLINE_METRICS.items()},
            }
        class_counts = self.predictions.drop_duplicates("patient_id")["observed"].value_counts()
        return {
            "classes": list(self.classes),
            "n_patients": int(class_counts.sum()),
            "class_counts": {c: int(class_counts.get(c, 0)) for c in self.classes},
            **self.settings,
            "grid": self.grid,
            "exclusions": self.exclusions,
            "models": models,
        }


def _seeds(seed: int | np.random.Generator) -> np.ndarray:
    """Four independent integer seeds (outer split, inner split, estimators, permutations) from one seed."""
    if isinstance(seed, np.random.Generator):
        return seed.integers(0, 2**31 - 1, size=4)
    return np.random.SeedSequence(seed).generate_state(4) % (2**31 - 1)


def _class_order(labels: pd.Series) -> list[str]:
    present = set(labels.unique())
    return [c for c in CLUSTER_ORDER if c in present] + sorted(present - set(CLUSTER_ORDER))


def _align(features: pd.DataFrame, labels: pd.Series) -> tuple[pd.DataFrame, pd.Series, dict]:
    """Patients with both features and a label; counts of those without (nothing is dropped silently)."""
    labels = labels.dropna().astype(str)
    if labels.index.has_duplicates:
        raise ValueError(f"labels: patient_id {labels.index[labels.index.duplicated()][0]!r} appears twice")
    common = features.index.intersection(labels.index, sort=False)
    exclusions = {
        "features_without_label": int(len(features.index.difference(labels.index))),
        "labels_without_features": int(len(labels.index.difference(features.index))),
    }
    if len(common) == 0:
        raise ValueError("no patient has both features and a cluster label (check the patient_id index of both)")
    return features.loc[common], labels.loc[common], exclusions


def minimum_class_size(outer_folds: int, inner_folds: int) -> int:
    """The fewest patients a cluster needs so that every outer and every inner stratified test fold holds one."""
    return max(outer_folds, int(np.ceil(inner_folds * outer_folds / (outer_folds - 1))))


def separate_small_classes(labels: pd.Series, outer_folds: int, inner_folds: int) -> tuple[pd.Series, dict]:
    """The labels of the clusters large enough for the folds, and the others with their sizes ({name: n}).

    A chapter predicts the first and names the second; ``evaluate_models`` itself refuses small clusters."""
    counts = labels.value_counts()
    small = counts[counts < minimum_class_size(outer_folds, inner_folds)]
    return labels[~labels.isin(small.index)], {str(k): int(v) for k, v in small.items()}


def _check_class_sizes(labels: pd.Series, outer_folds: int, inner_folds: int, early_stopping: bool) -> None:
    """Refuse clusters too small for every outer and inner test fold to hold one of their patients, and (with an
    early-stopped booster) an inner training part too small for a stratified validation share of every cluster."""
    counts = labels.value_counts()
    if outer_folds < 2 or inner_folds < 2:
        raise ValueError(f"outer_folds and inner_folds must be at least 2, got {outer_folds} and {inner_folds}")
    needed = minimum_class_size(outer_folds, inner_folds)
    if len(counts) < 2:
        raise ValueError(f"labels: at least two clusters are needed, got {list(counts.index)}")
    small = counts[counts < needed]
    if len(small):
        raise ValueError(
            f"labels: cluster(s) {small.to_dict()} have fewer than {needed} patients, too few for "
            f"{outer_folds} outer x {inner_folds} inner stratified folds "
            "(use fewer folds or more patients)"
        )
    inner_train = len(labels) * (outer_folds - 1) // outer_folds * (inner_folds - 1) // inner_folds
    if early_stopping and int(np.ceil(VALIDATION_FRACTION * inner_train)) < len(counts):
        raise ValueError(
            f"labels: {len(labels)} patients leave about {inner_train} for an inner training part, whose "
            f"{VALIDATION_FRACTION:.0%} early-stopping share cannot hold each of the {len(counts)} "
            f"clusters; use more patients or fewer clusters"
        )


def _fold_metrics(
    observed: np.ndarray, predicted: np.ndarray, proba: np.ndarray, classes: list[str]
) -> list[tuple[str, str, float]]:
    """(metric, average, value) rows for one set of held-out predictions."""
    indicator = (observed[:, None] == np.asarray(classes)[None, :]).astype(int)
    rows = [
        ("accuracy", "overall", accuracy_score(observed, predicted)),
        ("brier", "overall", float(np.mean(np.sum((proba - indicator) ** 2, axis=1)))),
    ]
    precision, recall, f1, _ = precision_recall_fscore_support(observed, predicted, labels=classes, zero_division=0)
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        rows.append((name, "macro", float(np.mean(values))))
        rows.extend((name, c, float(v)) for c, v in zip(classes, values))
    by_class = [roc_auc_score(indicator[:, k], proba[:, k]) for k in range(len(classes))]
    rows.append(("auc", "micro", roc_auc_score(indicator.ravel(), proba.ravel())))
    rows.append(("auc", "macro", float(np.mean(by_class))))
    rows.extend(("auc", c, float(v)) for c, v in zip(classes, by_class))
    return [(m, a, float(v)) for m, a, v in rows]


def _thin(fpr: np.ndarray, tpr: np.ndarray, max_points: int | None) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` vertices of a ROC curve, evenly spaced along it, first and last kept (a chart at
    book width needs no more; the AUCs are computed from the full curves)."""
    if max_points is None or len(fpr) <= max_points:
        return fpr, tpr
    keep = np.unique(np.round(np.linspace(0, len(fpr) - 1, max_points)).astype(int))
    return fpr[keep], tpr[keep]


def _roc_points(
    model: str, observed: np.ndarray, proba: np.ndarray, classes: list[str], max_points: int | None
) -> pd.DataFrame:
    """One-vs-rest ROC curves per class, the micro curve (all class-patient pairs pooled) and the macro curve
    (class tprs averaged on the union of their fprs)."""
    indicator = (observed[:, None] == np.asarray(classes)[None, :]).astype(int)
    curves = {}
    for k, name in enumerate(classes):
        curves[name] = roc_curve(indicator[:, k], proba[:, k])[:2]
    grid = np.unique(np.concatenate([curves[name][0] for name in classes]))
    macro_tpr = np.mean([np.interp(grid, *curves[name]) for name in classes], axis=0)
    curves["micro"] = roc_curve(indicator.ravel(), proba.ravel())[:2]
    curves["macro"] = (grid, macro_tpr)
    frames = []
    for name, (fpr, tpr) in curves.items():
        fpr, tpr = _thin(fpr, tpr, max_points)
        frames.append(pd.DataFrame({"model": model, "class": name, "fpr": fpr, "tpr": tpr}))
    return pd.concat(frames, ignore_index=True)


def _calibration(model: str, observed: np.ndarray, proba: np.ndarray, classes: list[str], n_bins: int) -> pd.DataFrame:
    """Reliability table: per class and probability bin, mean predicted probability vs observed frequency."""
    indicator = (observed[:, None] == np.asarray(classes)[None, :]).astype(float)
    bins = np.minimum((proba * n_bins).astype(int), n_bins - 1)
    long = pd.DataFrame(
        {"class": np.tile(classes, len(observed)), "bin": bins.ravel(), "p": proba.ravel(), "y": indicator.ravel()}
    )
    table = (
        long.groupby(["class", "bin"], sort=False)
        .agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
        .reset_index()
    )
    table["class"] = pd.Categorical(table["class"], categories=classes, ordered=True)
    table = table.sort_values(["class", "bin"]).reset_index(drop=True)
    table["class"] = table["class"].astype(str)
    table.insert(0, "model", model)
    table.insert(2, "bin_lower", table.pop("bin") / n_bins)
    table.insert(3, "bin_upper", table["bin_lower"] + 1.0 / n_bins)
    return table


def _outer_fold(
    search: GridSearchCV,
    features: pd.DataFrame,
    y: np.ndarray,
    split: tuple[np.ndarray, np.ndarray],
    classes: list[str],
    importance_repeats: int,
    permutation_seed: int,
) -> dict[str, pd.DataFrame]:
    """Grid search on the training part of one outer split, then everything measured on its held-out part."""
    train, test = split
    search.fit(features.iloc[train], y[train])
    fitted = search.best_estimator_
    x_test, y_test = features.iloc[test], y[test]
    order = [list(fitted.classes_).index(c) for c in classes]
    proba = fitted.predict_proba(x_test)[:, order]
    predicted = fitted.predict(x_test)
    predictions = pd.concat(
        [
            pd.DataFrame({"patient_id": features.index[test], "observed": y_test, "predicted": predicted}),
            pd.DataFrame(proba, columns=classes),
        ],
        axis=1,
    )
    rows = _fold_metrics(y_test, predicted, proba, classes) + [("inner_f1", "macro", float(search.best_score_))]
    trees = fitted_trees(fitted.named_steps["classifier"])
    drops = permutation_importance_by_input(
        fitted, x_test, y_test, n_repeats=importance_repeats, random_state=permutation_seed
    )
    return {
        "predictions": predictions,
        "metrics": pd.DataFrame(rows, columns=["metric", "average", "value"]),
        "hyperparameters": pd.DataFrame(
            {
                "parameter": [p.removeprefix("classifier__") for p in search.best_params_],
                "value": [str(v) for v in search.best_params_.values()],
            }
        ),
        "trees": pd.DataFrame({"trees": [] if trees is None else [trees]}, dtype=int),
        "importance": drops.reset_index().melt(id_vars="feature", value_name="drop"),
    }


def _pooled_tables(
    predictions: pd.DataFrame, classes: list[str], roc_points: int | None, calibration_bins: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """ROC points, confusion counts, reliability table and metrics of all out-of-fold predictions of each model."""
    roc, confusion, calibration, pooled = [], [], [], []
    for model, rows in predictions.groupby("model", sort=False):
        observed, predicted, proba = rows["observed"].to_numpy(), rows["predicted"].to_numpy(), rows[classes].to_numpy()
        roc.append(_roc_points(model, observed, proba, classes, roc_points))
        calibration.append(_calibration(model, observed, proba, classes, calibration_bins))
        counts = confusion_matrix(observed, predicted, labels=classes)
        confusion.append(
            pd.DataFrame(
                {
                    "model": model,
                    "observed": np.repeat(classes, len(classes)),
                    "predicted": np.tile(classes, len(classes)),
                    "n": counts.ravel(),
                }
            )
        )
        pooled.append(
            pd.DataFrame(
                _fold_metrics(observed, predicted, proba, classes), columns=["metric", "average", "pooled"]
            ).assign(model=model)
        )
    return tuple(pd.concat(frames, ignore_index=True) for frames in (roc, confusion, calibration, pooled))


def _grids(models: Sequence[str], grid: Mapping[str, Mapping[str, Sequence]] | None) -> dict[str, dict[str, list]]:
    if len(set(models)) != len(models):
        raise ValueError(f"models: each model once, got {list(models)}")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {MODELS}")
    given = dict(grid or {})
    extra = [m for m in given if m not in models]
    if extra:
        raise ValueError(f"grid given for model(s) {extra} that are not evaluated ({list(models)})")
    return {m: {p: list(v) for p, v in given.get(m, DEFAULT_GRIDS[m]).items()} for m in models}


@dataclass
class NestedCVPlan:
    """Everything the outer folds of a nested cross-validation share: the aligned data, the outer splits, the
    grids, the class order and the seeds. Made by ``plan_nested_cv``; each (model, outer fold) is then an
    independent piece of work (``evaluate_fold``) and ``combine_folds`` assembles the pieces, so the folds can
    run anywhere (one process, or as separate Dask tasks of the study) and give the same numbers."""

    features: pd.DataFrame
    y: np.ndarray
    splits: list[tuple[np.ndarray, np.ndarray]]
    models: list[str]
    grids: dict[str, dict[str, list]]
    classes: list[str]
    inner: StratifiedKFold
    model_seed: int
    permutation_seed: int
    exclusions: dict
    settings: dict

    @property
    def steps(self) -> list[tuple[str, int]]:
        """Every (model, outer fold index) of the plan, in the order results are assembled."""
        return [(m, f) for m in self.models for f in range(len(self.splits))]


def plan_nested_cv(
    features: pd.DataFrame,
    labels: pd.Series,
    models: Sequence[str] = MODELS,
    grid: Mapping[str, Mapping[str, Sequence]] | None = None,
    outer_folds: int = 5,
    inner_folds: int = 5,
    seed: int | np.random.Generator = 0,
    importance_repeats: int = 5,
) -> NestedCVPlan:
    """Check and align the inputs and fix the folds and seeds of ``evaluate_models`` (same arguments)."""
    check_baseline_features(features)
    features, labels, exclusions = _align(features, labels)
    grids = _grids(models, grid)
    _check_class_sizes(labels, outer_folds, inner_folds, early_stopping=bool(set(BOOSTING) & set(models)))
    outer_seed, inner_seed, model_seed, permutation_seed = (int(s) for s in _seeds(seed))
    outer = StratifiedKFold(outer_folds, shuffle=True, random_state=outer_seed)
    y = labels.to_numpy()
    return NestedCVPlan(
        features=features,
        y=y,
        splits=list(outer.split(features, y)),
        models=list(models),
        grids=grids,
        classes=_class_order(labels),
        inner=StratifiedKFold(inner_folds, shuffle=True, random_state=inner_seed),
        model_seed=model_seed,
        permutation_seed=permutation_seed,
        exclusions=exclusions,
        settings={
            "outer_folds": outer_folds,
            "inner_folds": inner_folds,
            "selection_metric": "f1_macro",
            "seed": seed if isinstance(seed, (int, np.integer)) else None,
            "importance_repeats": importance_repeats,
        },
    )


def evaluate_fold(plan: NestedCVPlan, model: str, fold: int, n_jobs: int = 1) -> dict[str, pd.DataFrame]:
    """The inner grid search of ``model`` on the training part of outer fold ``fold`` (0-based) and what its best
    model does on the held-out part: tables of predictions, metrics, hyperparameters, trees and importance."""
    search = GridSearchCV(
        build_pipeline(model, plan.features, random_state=plan.model_seed),
        {f"classifier__{p}": v for p, v in plan.grids[model].items()},
        scoring=F1_MACRO,
        cv=plan.inner,
        n_jobs=n_jobs,
        refit=True,
        error_score="raise",
    )
    held_out = _outer_fold(
        search,
        plan.features,
        plan.y,
        plan.splits[fold],
        plan.classes,
        plan.settings["importance_repeats"],
        plan.permutation_seed + fold,
    )
    return {name: frame.assign(model=model, fold=fold + 1) for name, frame in held_out.items()}


def combine_folds(
    plan: NestedCVPlan,
    folds: Sequence[Mapping[str, pd.DataFrame]],
    calibration_bins: int = 10,
    roc_points: int | None = 200,
) -> PredictionResult:
    """The ``PredictionResult`` of a plan from the outputs of ``evaluate_fold``, given in ``plan.steps`` order."""
    if len(folds) != len(plan.steps):
        raise ValueError(f"the plan has {len(plan.steps)} (model, fold) steps; got {len(folds)} results")
    classes, models = plan.classes, plan.models
    parts = {name: [fold[name] for fold in folds] for name in _FOLD_TABLES}
    predictions = pd.concat(parts["predictions"], ignore_index=True)
    predictions = predictions[["model", "fold", *predictions.columns[:-2]]]
    metrics = pd.concat(parts["metrics"], ignore_index=True)[["model", "fold", "metric", "average", "value"]]
    roc, confusion, calibration, pooled = _pooled_tables(predictions, classes, roc_points, calibration_bins)
    summary = (
        metrics.groupby(["model", "metric", "average"], sort=False)["value"]
        .agg(mean="mean", sd="std")
        .reset_index()
        .merge(pooled, on=["model", "metric", "average"], how="left")
    )
    importance = pd.concat(parts["importance"], ignore_index=True)
    importance["model"] = pd.Categorical(importance["model"], categories=list(models), ordered=True)
    importance = (
        importance.groupby(["model", "feature"], observed=True, sort=False)["drop"]
        .agg(mean="mean", sd="std")
        .reset_index()
        .sort_values(["model", "mean"], ascending=[True, False], kind="stable")
        .astype({"model": str})
        .reset_index(drop=True)
    )
    hyperparameters = pd.concat(parts["hyperparameters"], ignore_index=True)[["model", "fold", "parameter", "value"]]
    trees = pd.concat(parts["trees"], ignore_index=True)[["model", "fold", "trees"]]
    return PredictionResult(
        classes=classes,
        grid=plan.grids,
        predictions=predictions,
        metrics=metrics,
        metrics_summary=summary,
        roc=roc,
        confusion=confusion,
        importance=importance,
        calibration=calibration,
        hyperparameters=hyperparameters,
        settings=dict(plan.settings),
        exclusions=plan.exclusions,
        trees=trees,
    )


#: The tables ``evaluate_fold`` returns.
_FOLD_TABLES = ("predictions", "metrics", "hyperparameters", "importance", "trees")


def evaluate_models(
    features: pd.DataFrame,
    labels: pd.Series,
    models: Sequence[str] = MODELS,
    grid: Mapping[str, Mapping[str, Sequence]] | None = None,
    outer_folds: int = 5,
    inner_folds: int = 5,
    seed: int | np.random.Generator = 0,
    n_jobs: int = 2,
    importance_repeats: int = 5,
    calibration_bins: int = 10,
    roc_points: int | None = 200,
    progress: bool = False,
    threads_per_job: int | None = 1,
) -> PredictionResult:
    """Nested cross-validation of each model on the baseline features; tidy tables of its held-out performance.

    ``features``: from ``baseline_features`` (indexed by patient_id; any column outside the baseline allow-list
    is refused). ``labels``: the progression cluster of each patient (a Series indexed by patient_id); patients
    present in only one of the two are left out and counted in ``exclusions``. ``grid``: per model, a mapping of
    classifier parameter -> values (models not named use ``DEFAULT_GRIDS``). ``n_jobs`` parallelises the inner
    search (worker processes); ``threads_per_job`` caps the BLAS/OpenMP threads of this
    process meanwhile (1 by default: threads on top of ``n_jobs`` processes oversubscribe the cores, which slows
    histogram boosting tenfold on a busy 2-core machine; None leaves the libraries' defaults). ``roc_points`` caps
    the points kept per ROC curve (None keeps them all).
    Same ``seed``, same result. The work is ``plan_nested_cv``, then ``evaluate_fold`` for every (model, outer
    fold), then ``combine_folds``; the replicate study runs the folds as separate Dask tasks.
    """
    plan = plan_nested_cv(features, labels, models, grid, outer_folds, inner_folds, seed, importance_repeats)
    with threadpool_limits(threads_per_job):
        folds = [
            evaluate_fold(plan, model, fold, n_jobs=n_jobs)
            for model, fold in tqdm(plan.steps, desc="nested CV", unit="fit", disable=not progress)
        ]
    return combine_folds(plan, folds, calibration_bins=calibration_bins, roc_points=roc_points)
