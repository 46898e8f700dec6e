"""The tables Chapter 6 shows, from a ``PredictionResult``: metrics across outer folds (mean ± sd), AUCs by class,
the grid and the hyper-parameters chosen in each outer fold (Supplementary Table 4), and paired fold-by-fold
differences between two models (what boosting adds over a baseline, on the same patients)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lesionmap.predict.evaluate import PredictionResult
from lesionmap.predict.features import PROFILE_PREFIXES, feature_kinds
from lesionmap.predict.models import BOOSTING, MAX_TREES, MODEL_LABELS, N_ITER_NO_CHANGE

#: Rows of the metric table: (metric, average) in ``PredictionResult.metrics`` -> the row's label.
TABLE_METRICS = {
    ("auc", "macro"): "AUC, macro average",
    ("auc", "micro"): "AUC, micro average",
    ("accuracy", "overall"): "accuracy",
    ("precision", "macro"): "precision, macro average",
    ("recall", "macro"): "recall, macro average",
    ("f1", "macro"): "F1, macro average",
    ("brier", "overall"): "Brier score (lower is better)",
}


def _mean_sd(values: pd.Series, digits: int) -> str:
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def _models(result: PredictionResult, models: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(result.metrics["model"]))
    chosen = present if models is None else list(models)
    missing = [m for m in chosen if m not in present]
    if missing:
        raise ValueError(f"model(s) {missing} were not evaluated (evaluated: {present})")
    return chosen


def metric_table(result: PredictionResult, models: Sequence[str] | None = None, digits: int = 3) -> pd.DataFrame:
    """One row per metric, one column per model: mean ± sd over the outer folds."""
    models = _models(result, models)
    metrics = result.metrics.set_index(["metric", "average"]).sort_index()
    rows = []
    for key, label in TABLE_METRICS.items():
        values = metrics.loc[key]
        rows.append(
            {
                "metric": label,
                **{MODEL_LABELS[m]: _mean_sd(values.loc[values["model"] == m, "value"], digits) for m in models},
            }
        )
    return pd.DataFrame(rows)


def auc_table(result: PredictionResult, models: Sequence[str] | None = None, digits: int = 3) -> pd.DataFrame:
    """One row per class (with its patients) then the macro and micro averages; one column per model: the
    one-vs-rest AUC, mean ± sd over the outer folds."""
    models = _models(result, models)
    aucs = result.metrics[result.metrics["metric"] == "auc"]
    counts = result.predictions.drop_duplicates("patient_id")["observed"].value_counts()
    rows = []
    for average in [*result.classes, "macro", "micro"]:
        chosen = aucs[aucs["average"] == average]
        rows.append(
            {
                "class": average if average in result.classes else f"{average} average",
                "patients": int(counts.get(average, counts.sum())),
                **{MODEL_LABELS[m]: _mean_sd(chosen.loc[chosen["model"] == m, "value"], digits) for m in models},
            }
        )
    return pd.DataFrame(rows)


def hyperparameter_table(result: PredictionResult, models: Sequence[str] | None = None) -> pd.DataFrame:
    """Supplementary Table 4: per model and parameter, the values searched and the value chosen in each outer
    fold; for the boosting models a last row gives the trees early stopping kept in each fold."""
    models = _models(result, models)
    folds = sorted(result.hyperparameters["fold"].unique())
    rows = []
    for model in models:
        chosen = result.hyperparameters[result.hyperparameters["model"] == model]
        for parameter, values in result.grid[model].items():
            picks = chosen[chosen["parameter"] == parameter].set_index("fold")["value"]
            rows.append(
                {
                    "model": MODEL_LABELS[model],
                    "parameter": parameter,
                    "grid": ", ".join(str(v) for v in values),
                    **{f"fold {f}": picks.get(f, "") for f in folds},
                }
            )
        if model in BOOSTING:
            trees = result.trees[result.trees["model"] == model].set_index("fold")["trees"]
            rows.append(
                {
                    "model": MODEL_LABELS[model],
                    "parameter": "trees per class",
                    "grid": f"early stopping: at most {MAX_TREES}, stop after {N_ITER_NO_CHANGE} rounds "
                    "without a better held-out loss",
                    **{f"fold {f}": str(trees.get(f, "")) for f in folds},
                }
            )
    return pd.DataFrame(rows)


def paired_difference(
    result: PredictionResult,
    model: str,
    baseline: str,
    metrics: Sequence[tuple[str, str]] = (("auc", "macro"), ("f1", "macro"), ("accuracy", "overall")),
) -> pd.DataFrame:
    """``model`` minus ``baseline`` fold by fold (both were fitted and tested on the same outer folds): per metric,
    the mean difference, its sd over folds, and the folds where ``model`` scored higher."""
    _models(result, [model, baseline])
    rows = []
    for metric, average in metrics:
        chosen = result.metrics[(result.metrics["metric"] == metric) & (result.metrics["average"] == average)]
        by_fold = chosen.pivot(index="fold", columns="model", values="value")
        difference = by_fold[model] - by_fold[baseline]
        rows.append(
            {
                "metric": metric,
                "average": average,
                "difference": float(difference.mean()),
                "sd": float(difference.std()),
                "folds_better": int(np.sum(difference > 0)),
                "folds": int(len(difference)),
            }
        )
    return pd.DataFrame(rows)


def input_table(features: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs by kind: the columns, how the pipeline encodes them, and how many patients lack them."""
    encodings = {
        "continuous": "median imputation, then z-score",
        "skewed": "median imputation, log(1 + x), then z-score",
        "categorical": "one-hot (missing is a level of its own)",
        "organs": "0/1 indicator, as is",
    }
    rows = []
    for kind, columns in feature_kinds(features).items():
        if columns:
            rows.append(
                {
                    "inputs": kind,
                    "columns": _column_list(columns),
                    "encoding": encodings[kind],
                    "missing values": int(features[columns].isna().sum().sum()),
                }
            )
    return pd.DataFrame(rows)


def _column_list(columns: list[str]) -> str:
    """Column names, each per-organ profile family shown once as '<prefix><organ> (n organs)'."""
    shown, families = [], {}
    for column in columns:
        prefix = next((p for p in PROFILE_PREFIXES if column.startswith(p)), None)
        if prefix is None:
            shown.append(column)
        else:
            families[prefix] = families.get(prefix, 0) + 1
    shown += [f"{prefix}<organ> ({n} organs)" for prefix, n in families.items()]
    return ", ".join(shown)
