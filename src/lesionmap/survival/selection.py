"""Covariate selection by likelihood ratio (as in the paper) and separate fits per stratum.

The paper tests each candidate covariate (treatment, age, BMI, sex, race, surgical history, line) by a
likelihood-ratio test and keeps those with p < 0.05. ``select_covariates`` does this two ways:

- ``method="each"`` (the paper's reading, default): each candidate is added alone to the base model
  (organ) and tested against it;
- ``method="forward"``: forward selection, adding at each step the candidate with the smallest p while
  p < alpha, each test made against the model selected so far.

Each test compares two fits on the same rows: the rows complete for the base terms and the candidate (a
candidate with missing values, such as BMI, is tested on the rows where it is recorded; the ``n`` column
says how many). A likelihood-ratio test needs each model's maximised integrated likelihood, so the tests
fit with Brent's search to the maximum (``search="brent"``, to ``SELECTION_VARIANCE_TOL`` on log variance),
each started around the variance of the first model fitted: nested models on nearly the same rows have nearly
the same frailty variance, and the warm start halves the inner fits. The reported model keeps the caller's
search (coxme's path by default, which can stop a few thousandths of a log-likelihood unit short of the maximum).

``fit_by`` fits the model separately within each level of a column (e.g. treatment group: the paper's
Fig. 3e, f), and ``combine_summaries`` stacks their coefficient tables for a chart.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd

from lesionmap import logs
from lesionmap.survival.frailty import FrailtyCox, likelihood_ratio

log = logging.getLogger(__name__)

SELECTION_METHODS = ("each", "forward")

#: Tolerance of the tests' Brent search on log(variance). The integrated likelihood is flat near its maximum
#: (a 0.1% change of the variance moves it by far less than 1e-4), so a tighter search only adds inner fits.
SELECTION_VARIANCE_TOL = 1e-3


class CovariateSelection(NamedTuple):
    """Terms kept (base terms first) and the table of likelihood-ratio tests."""

    kept: list[str]
    table: pd.DataFrame


def _template(model: FrailtyCox | None) -> dict:
    return (model or FrailtyCox()).get_params()


def select_covariates(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    group_col: str,
    candidates: list[str],
    base_terms: list[str] | tuple[str, ...] = ("organ",),
    alpha: float = 0.05,
    method: str = "each",
    references: dict | None = None,
    strata: str | list[str] | None = None,
    model: FrailtyCox | None = None,
) -> CovariateSelection:
    """Test candidate covariates by likelihood ratio against the base model; keep those with p < ``alpha``.

    ``model`` sets the fitter's options (ties, search, ...). The table has one row per test: step (1 for
    ``each``), candidate, df, chi2, p, kept, n (rows used), and the two integrated log-likelihoods.
    """
    if method not in SELECTION_METHODS:
        raise ValueError(f"method must be one of {SELECTION_METHODS}, got {method!r}")
    base_terms = list(base_terms)
    overlap = set(base_terms) & set(candidates)
    if overlap:
        raise ValueError(f"terms {sorted(overlap)} are both base terms and candidates")
    strata_cols = [strata] if isinstance(strata, str) else list(strata or [])
    params = {**_template(model), "search": "brent", "variance_tol": SELECTION_VARIANCE_TOL}
    fixed_cols = [duration_col, event_col, group_col, *strata_cols]
    cache: dict[tuple, FrailtyCox] = {}

    def fitted(terms: list[str], rows: np.ndarray) -> FrailtyCox:
        key = (tuple(terms), rows.tobytes())
        if key not in cache:
            refs = {name: ref for name, ref in (references or {}).items() if name in terms}
            cache[key] = FrailtyCox(**params).fit(
                df.loc[rows],
                duration_col,
                event_col,
                group_col,
                covariates=terms,
                references=refs,
                strata=strata or None,
            )
            if params["variance"] is None and params["start_variance"] is None:
                params["start_variance"] = cache[key].frailty_variance_
        return cache[key]

    bar = logs.progress(total=len(candidates) if method == "each" else None, desc="covariate selection", unit="test")

    def test(current: list[str], candidate: str, step: int) -> dict:
        rows = df[fixed_cols + current + [candidate]].notna().all(axis=1).to_numpy()
        result = likelihood_ratio(fitted(current + [candidate], rows), fitted(current, rows), candidate)
        bar.update()
        log.debug("step %d, %s: chi2 %.3g, p %.3g", step, candidate, result["chi2"], result["p"])
        return {"step": step, "candidate": candidate, **result.drop("term").to_dict()}

    with bar:
        kept, table = _run_tests(test, base_terms, candidates, alpha, method)
    log.info("covariate selection (%s, p < %g): kept %s", method, alpha, ", ".join(kept[len(base_terms) :]) or "none")
    columns = ["step", "candidate", "df", "chi2", "p", "kept", "n", "loglik_full", "loglik_reduced"]
    table = table[columns].astype({"step": int, "df": int, "n": int, "kept": bool})
    return CovariateSelection(kept, table)


def _run_tests(
    test, base_terms: list[str], candidates: list[str], alpha: float, method: str
) -> tuple[list[str], pd.DataFrame]:
    """The likelihood-ratio tests of ``select_covariates``: each candidate once, or forward steps."""
    records = []
    if method == "each":
        for candidate in candidates:
            records.append(test(base_terms, candidate, 1))
        table = pd.DataFrame(records)
        table["kept"] = table["p"] < alpha
        kept = base_terms + list(table.loc[table["kept"], "candidate"])
    else:
        kept, remaining, step = list(base_terms), list(candidates), 1
        while remaining:
            tests = pd.DataFrame([test(kept, candidate, step) for candidate in remaining])
            best = tests["p"].idxmin()
            tests["kept"] = False
            if tests.loc[best, "p"] < alpha:
                tests.loc[best, "kept"] = True
                kept.append(tests.loc[best, "candidate"])
                remaining.remove(tests.loc[best, "candidate"])
            records.append(tests)
            step += 1
            if not tests["kept"].any():
                break
        table = pd.concat(records, ignore_index=True)
    return kept, table


def fit_by(
    df: pd.DataFrame,
    by: str,
    duration_col: str,
    event_col: str,
    group_col: str,
    model: FrailtyCox | None = None,
    **fit_kwargs,
) -> dict:
    """Fit the model separately within each level of ``by`` (e.g. treatment group); {level: fitted model}."""
    if by not in df.columns:
        raise KeyError(f"column {by!r} not in the data")
    params = _template(model)
    fits = {}
    for level, part in df.groupby(by, sort=True, observed=True):
        fits[level] = FrailtyCox(**params).fit(part, duration_col, event_col, group_col, **fit_kwargs)
    return fits


def combine_summaries(fits: dict, name: str) -> pd.DataFrame:
    """Stack the ``summary`` tables of several fits, with the fit's key in column ``name``."""
    frames = [fit.summary.reset_index().assign(**{name: key}) for key, fit in fits.items()]
    out = pd.concat(frames, ignore_index=True)
    return out[[name] + [col for col in out.columns if col != name]]
