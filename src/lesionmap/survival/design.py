"""Model terms to a numeric design matrix: numeric columns as they are, categorical columns as treatment dummies.

A term is one column of the data frame. A categorical term (object, string or category dtype, or any column
named in ``references``) becomes one 0/1 column per level other than its reference level, named
``"organ[liver]"``; a numeric or boolean term becomes one column under its own name. The reference level is the
one the caller names, else the first category (category dtype) or the first level in sorted order (as R does).
Levels with no rows are dropped, so every dummy has at least one row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Term:
    """One model term: a data column and the design columns it becomes."""

    name: str
    categorical: bool
    levels: tuple = ()
    reference: object = None

    @property
    def non_reference_levels(self) -> tuple:
        """The level behind each design column (None for a numeric term)."""
        if not self.categorical:
            return (None,)
        return tuple(level for level in self.levels if level != self.reference)

    @property
    def columns(self) -> tuple[str, ...]:
        """Design column names: ``name[level]`` per non-reference level, or ``name`` for a numeric term."""
        if not self.categorical:
            return (self.name,)
        return tuple(f"{self.name}[{level}]" for level in self.non_reference_levels)


def parse_formula(formula: str) -> list[str]:
    """Terms of a main-effects formula such as ``"organ + treatment + line"`` (a leading ``~`` is allowed)."""
    text = formula.strip()
    if "~" in text:
        text = text.split("~", 1)[1]
    terms = [part.strip() for part in text.split("+")]
    if not terms or any(not part for part in terms):
        raise ValueError(f"formula {formula!r}: expected terms separated by '+', e.g. 'organ + treatment'")
    for part in terms:
        if any(symbol in part for symbol in ("*", ":", "(", ")", "|")):
            raise ValueError(
                f"formula {formula!r}: only main effects are supported, got term {part!r}; "
                "fit interactions per stratum with lesionmap.survival.fit_by"
            )
    if len(set(terms)) != len(terms):
        raise ValueError(f"formula {formula!r}: a term is repeated")
    return terms


def _is_categorical(series: pd.Series) -> bool:
    return (
        isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
    )


def build_terms(frame: pd.DataFrame, names: list[str], references: dict | None = None) -> list[Term]:
    """Describe each term from the data: numeric or categorical, its observed levels and reference level.

    ``references`` may name columns that are not terms of this model (one mapping can serve several models);
    a name that is not a column at all is an error.
    """
    references = dict(references or {})
    unknown = [name for name in references if name not in frame.columns]
    if unknown:
        raise KeyError(f"references name column(s) {unknown} that are not in the data")
    terms = []
    for name in names:
        if name not in frame.columns:
            raise KeyError(f"column {name!r} (a model term) is not in the data; columns are {list(frame.columns)}")
        series = frame[name]
        if name in references or _is_categorical(series):
            observed = set(series.dropna().unique())
            if isinstance(series.dtype, pd.CategoricalDtype):
                levels = [level for level in series.cat.categories if level in observed]
            else:
                levels = sorted(observed, key=lambda level: (str(type(level)), level))
            reference = references.get(name, levels[0] if levels else None)
            if reference not in observed:
                raise ValueError(f"column {name!r}: reference level {reference!r} has no rows; levels are {levels}")
            if len(levels) < 2:
                raise ValueError(f"column {name!r}: a categorical term needs two levels, found {levels}")
            terms.append(Term(name, True, tuple(levels), reference))
        else:
            if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
                raise TypeError(f"column {name!r}: dtype {series.dtype} is neither numeric nor categorical")
            terms.append(Term(name, False))
    return terms


def design_matrix(frame: pd.DataFrame, terms: list[Term]) -> np.ndarray:
    """The n x p design matrix of ``terms`` (rows with missing values must be removed before)."""
    blocks = []
    for term in terms:
        values = frame[term.name]
        if term.categorical:
            codes = pd.Categorical(values, categories=list(term.levels)).codes
            if (codes < 0).any():
                bad = values[codes < 0].iloc[0]
                raise ValueError(f"column {term.name!r}: level {bad!r} was not seen when the terms were built")
            kept = [i for i, level in enumerate(term.levels) if level != term.reference]
            blocks.append((codes[:, None] == np.asarray(kept)[None, :]).astype(float))
        else:
            blocks.append(values.to_numpy(dtype=float)[:, None])
    if not blocks:
        return np.zeros((len(frame), 0))
    return np.hstack(blocks)


def term_slices(terms: list[Term]) -> dict[str, slice]:
    """Position of each term's columns in the design matrix."""
    slices, start = {}, 0
    for term in terms:
        width = len(term.columns)
        slices[term.name] = slice(start, start + width)
        start += width
    return slices
