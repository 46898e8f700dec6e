"""Permutation importance of each input column, computed on the preprocessed design matrix.

Preprocessing (imputation, scaling, one-hot encoding) works row by row with parameters learnt on the training
part, so shuffling an input column's rows gives the same design as shuffling, together, the rows of the design
columns that input column becomes. Transforming the held-out part once and shuffling design columns therefore
gives exactly scikit-learn's ``permutation_importance`` on the whole pipeline (same seed, same shuffles), without
running the ColumnTransformer again for every shuffle: at small cohort sizes that transform is most of the cost.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils import check_random_state


def design_columns(preprocessor: ColumnTransformer) -> dict[str, np.ndarray]:
    """For a fitted ColumnTransformer, the design-matrix column indices each input column becomes (a one-hot
    encoded column becomes one column per level; every other branch maps one input to one output column)."""
    groups: dict[str, np.ndarray] = {}
    for name, transformer, columns in preprocessor.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        block = preprocessor.output_indices_[name]
        widths = (
            [len(levels) for levels in transformer.categories_]
            if isinstance(transformer, OneHotEncoder)
            else [1] * len(columns)
        )
        if sum(widths) != block.stop - block.start:
            raise ValueError(
                f"preprocessor branch {name!r}: {sum(widths)} expected design columns, "
                f"found {block.stop - block.start} (only one-to-one and one-hot branches are supported)"
            )
        edges = block.start + np.concatenate([[0], np.cumsum(widths)])
        for column, start, stop in zip(columns, edges[:-1], edges[1:]):
            groups[column] = np.arange(start, stop)
    return groups


def macro_f1_rows(observed: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Macro F1 of each row of ``predicted`` (shuffles x patients) against ``observed``, as
    ``f1_score(observed, row, average="macro", zero_division=0)``: the mean over the labels in ``observed`` or in
    the row of 2 TP / (true + predicted), in one pass (one call per shuffle costs more than the predictions)."""
    observed, predicted = np.asarray(observed), np.atleast_2d(np.asarray(predicted))
    labels, codes = np.unique(np.concatenate([observed, predicted.ravel()]), return_inverse=True)
    truth, guesses = codes[: len(observed)], codes[len(observed) :].reshape(predicted.shape)
    k = len(labels)
    rows = np.arange(len(guesses))[:, None]
    true_counts = np.bincount(truth, minlength=k)[None, :]
    predicted_counts = np.zeros((len(guesses), k))
    np.add.at(predicted_counts, (rows, guesses), 1)
    hits = np.zeros((len(guesses), k))
    np.add.at(hits, (rows, guesses), (guesses == truth[None, :]))
    present = (true_counts + predicted_counts) > 0
    f1 = np.divide(2 * hits, true_counts + predicted_counts, out=np.zeros_like(hits), where=present)
    return f1.sum(axis=1) / present.sum(axis=1)


def permutation_importance_by_input(
    pipeline: Pipeline,
    features: pd.DataFrame,
    labels: np.ndarray,
    n_repeats: int,
    random_state,
    metric: Callable[[np.ndarray, np.ndarray], np.ndarray] = macro_f1_rows,
) -> pd.DataFrame:
    """Drop in ``metric`` when each input column of ``features`` is shuffled (rows: input columns in order;
    columns: repeats), for a fitted Pipeline([("preprocess", ColumnTransformer), ("classifier", ...)]).

    ``metric(observed, predicted)`` scores each row of a 2-D array of predictions (macro F1 by default).
    Identical to ``sklearn.inspection.permutation_importance(pipeline, features, labels, scoring=...,
    n_repeats=n_repeats, random_state=random_state).importances`` with the same metric (same shuffles), faster:
    the held-out part is transformed once, and the shuffles of one input are predicted and scored in one call.
    """
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1, got {n_repeats}")
    preprocessor, classifier = pipeline.named_steps["preprocess"], pipeline.named_steps["classifier"]
    groups = design_columns(preprocessor)
    missing = [c for c in features.columns if c not in groups]
    if missing:
        raise ValueError(f"features: column(s) {missing} are not inputs of the fitted preprocessor")
    labels = np.asarray(labels)
    design = np.asarray(preprocessor.transform(features), dtype=float)
    baseline = metric(labels, classifier.predict(design)[None, :])[0]
    # scikit-learn draws one seed and restarts every column's shuffles from it; each shuffle permutes the
    # previous one (the index is shuffled in place, and the column of the permuted copy is re-indexed).
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max + 1)
    n = len(design)
    drops = np.empty((features.shape[1], n_repeats))
    for row, column in enumerate(features.columns):
        shuffles = check_random_state(seed)
        index = np.arange(n)
        order = np.arange(n)
        stacked = np.tile(design, (n_repeats, 1))
        for repeat in range(n_repeats):
            shuffles.shuffle(index)
            order = order[index]
            stacked[repeat * n : (repeat + 1) * n, groups[column]] = design[np.ix_(order, groups[column])]
        drops[row] = baseline - metric(labels, classifier.predict(stacked).reshape(n_repeats, n))
    return pd.DataFrame(drops, index=pd.Index(features.columns, name="feature"))
