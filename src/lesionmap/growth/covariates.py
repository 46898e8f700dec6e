"""Covariates on the growth model's transformed parameters, as Monolix and saemix put them.

Each parameter's typical value may depend on covariates of the lesion (organ) or of its patient (treatment):
phi_ij = x_ij' beta_j + eta_ij, e.g. log Kg = mu + beta_organ + beta_TAR + eta. A categorical covariate
enters as indicators of its levels against a reference level (default: its most frequent level); a numeric
covariate enters as it is (centre it first if its zero means nothing). ``CovariateDesign`` turns a lesion
table and a mapping ``{"Kg": ["organ", "treatment_group"], ...}`` into one design matrix per parameter,
checked for every way it can go wrong (a lesion without covariates, a missing value, a level alone, columns
that are not identifiable), with errors that name the column, the rows and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Largest ratio of largest to smallest singular value of a design matrix that still counts as identifiable.
_MAX_CONDITION = 1e10


@dataclass(frozen=True)
class DesignTerm:
    """One column of a parameter's design matrix: the intercept, a level of a categorical covariate, or a number."""

    parameter: str
    covariate: str  # "" for the intercept
    level: str  # the level against the reference for a categorical covariate; "" otherwise
    reference: str  # the reference level of a categorical covariate; "" otherwise

    @property
    def label(self) -> str:
        if not self.covariate:
            return f"mu_{self.parameter}"
        return f"beta_{self.parameter}_{self.covariate}" + (f"[{self.level}]" if self.level else "")


@dataclass(frozen=True)
class CovariateDesign:
    """Per-parameter design matrices over the lesions of a fit (rows in the fit's lesion order).

    ``matrices[p]`` is (lesions x terms of p) with the intercept first; ``terms[p]`` names its columns.
    ``levels`` holds each categorical covariate's levels (reference first); ``covariates`` the mapping used.
    """

    names: tuple
    matrices: dict
    terms: dict
    levels: dict
    covariates: dict

    @property
    def n_coefficients(self) -> int:
        return sum(m.shape[1] for m in self.matrices.values())

    @property
    def has_covariates(self) -> bool:
        return any(m.shape[1] > 1 for m in self.matrices.values())

    def all_terms(self) -> list[DesignTerm]:
        """Every coefficient's term, parameter by parameter in the fit's order."""
        return [term for p in self.names for term in self.terms[p]]

    def linear_predictor(self, beta: dict) -> np.ndarray:
        """x_i' beta_p for every parameter and lesion (parameters x lesions)."""
        return np.vstack([self.matrices[p] @ beta[p] for p in self.names])


def _rows(mask, index, limit: int = 5) -> str:
    labels = list(index[np.asarray(mask)][:limit])
    more = int(np.sum(mask)) - len(labels)
    return f"{labels}" + (f" and {more} more" if more > 0 else "")


def build_design(
    names,
    lesion_ids: pd.Index,
    covariates: dict | None,
    table: pd.DataFrame | None,
    references: dict | None = None,
    lesion_col: str = "lesion_id",
) -> CovariateDesign:
    """The design of a fit: ``covariates`` maps parameters to covariate columns of ``table`` (one row per lesion).

    ``table`` is indexed by lesion id or has a ``lesion_col`` column; ``references`` maps a categorical
    covariate to its reference level (default: its most frequent level, ties broken by sort order).
    Numeric columns are continuous unless they appear in ``references``; any other column is categorical.
    """
    names = tuple(names)
    covariates = {} if covariates is None else dict(covariates)
    references = {} if references is None else dict(references)
    unknown = [p for p in covariates if p not in names]
    if unknown:
        raise ValueError(f"covariates: parameter(s) {unknown} are not estimated here; the parameters are {list(names)}")
    for p, columns in covariates.items():
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise ValueError(f"covariates[{p!r}] must be a list of column names, got {columns!r}")
        if len(set(columns)) != len(columns):
            raise ValueError(f"covariates[{p!r}] names a column twice: {list(columns)}")
    used = sorted({c for columns in covariates.values() for c in columns})
    frame = None
    if used:
        if table is None:
            raise ValueError(f"covariates name columns {used} but no covariate table was given (covariate_table=)")
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"covariate_table must be a pandas DataFrame, got {type(table).__name__}")
        if lesion_col in table.columns:
            duplicated = table[lesion_col].duplicated(keep=False).to_numpy()
            if duplicated.any():
                raise ValueError(
                    f"covariate table, column '{lesion_col}': a lesion has more than one row, rows "
                    f"{_rows(duplicated, table.index)}"
                )
            table = table.set_index(lesion_col)
        elif table.index.duplicated().any():
            raise ValueError(
                f"covariate table: its index (lesion ids) repeats {list(table.index[table.index.duplicated()][:5])}"
            )
        missing_columns = [c for c in used if c not in table.columns]
        if missing_columns:
            raise ValueError(f"covariate table has no column(s) {missing_columns}; columns are {list(table.columns)}")
        absent = ~lesion_ids.isin(table.index)
        if absent.any():
            raise ValueError(
                f"covariate table has no row for {int(absent.sum())} lesion(s) of the fit: {_rows(absent, lesion_ids)}"
            )
        frame = table.loc[lesion_ids, used]
        for column in used:
            empty = frame[column].isna().to_numpy()
            if empty.any():
                raise ValueError(
                    f"covariate table, column '{column}': missing value for lesion(s) {_rows(empty, lesion_ids)}"
                )
    unused = [c for c in references if c not in used]
    if unused:
        raise ValueError(f"references name covariate(s) {unused} that no parameter uses")

    levels, encoded = {}, {}
    for column in used:
        values = frame[column]
        if (
            pd.api.types.is_numeric_dtype(values)
            and not pd.api.types.is_bool_dtype(values)
            and column not in references
        ):
            x = values.to_numpy(float)
            if not np.isfinite(x).all():
                raise ValueError(
                    f"covariate table, column '{column}': non-finite value for lesion(s) "
                    f"{_rows(~np.isfinite(x), lesion_ids)}"
                )
            if np.ptp(x) == 0:
                raise ValueError(
                    f"covariate table, column '{column}': the same value for every lesion; "
                    "a constant covariate is not identifiable beside the intercept"
                )
            encoded[column] = ([("", "")], x[:, None])
            continue
        text = values.astype(str)
        counts = text.value_counts()
        if len(counts) < 2:
            raise ValueError(
                f"covariate table, column '{column}': a single level ({counts.index[0]!r}); "
                "a covariate needs at least two"
            )
        if column in references:
            reference = str(references[column])
            if reference not in counts.index:
                raise ValueError(
                    f"references[{column!r}] = {reference!r} is not a level of column '{column}'; "
                    f"levels: {sorted(counts.index)}"
                )
        else:
            top = counts[counts == counts.max()].index
            reference = sorted(top)[0]
        others = sorted(level for level in counts.index if level != reference)
        levels[column] = [reference, *others]
        indicators = (text.to_numpy()[:, None] == np.array(others, dtype=object)[None, :]).astype(float)
        encoded[column] = ([(level, reference) for level in others], indicators)

    matrices, terms = {}, {}
    for p in names:
        blocks = [np.ones((len(lesion_ids), 1))]
        p_terms = [DesignTerm(p, "", "", "")]
        for column in covariates.get(p, []):
            labels, block = encoded[column]
            blocks.append(block)
            p_terms += [DesignTerm(p, column, level, reference) for level, reference in labels]
        matrix = np.hstack(blocks)
        eigenvalues = np.linalg.eigvalsh(matrix.T @ matrix)  # squared singular values, from the small Gram matrix
        if eigenvalues[0] <= eigenvalues[-1] / _MAX_CONDITION**2:
            raise ValueError(
                f"covariates[{p!r}] = {covariates.get(p, [])}: the design is not identifiable "
                "(collinear columns, e.g. a level that coincides with another covariate)"
            )
        matrices[p], terms[p] = matrix, p_terms
    return CovariateDesign(
        names=names,
        matrices=matrices,
        terms=terms,
        levels=levels,
        covariates={p: list(covariates.get(p, [])) for p in names},
    )
