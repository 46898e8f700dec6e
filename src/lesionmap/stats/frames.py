"""Column checks and group ordering shared by the tests of ``lesionmap.stats`` (one home for both modules).

- ``require_columns``: a clear error naming the missing columns and those the frame has;
- ``group_levels``: the order of a grouping's levels: a categorical's categories that occur, else the levels
  sorted by their text (so that tables, tests and curves list groups alike).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def require_columns(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    """Raise a ValueError naming every column of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; the frame has {list(frame.columns)}")


def group_levels(labels: pd.Series) -> list:
    """The levels of ``labels`` that occur: in category order for a categorical, else sorted by their text."""
    if isinstance(labels.dtype, pd.CategoricalDtype):
        present = set(labels.dropna())
        return [c for c in labels.cat.categories if c in present]
    return sorted(pd.unique(labels.dropna()), key=str)
