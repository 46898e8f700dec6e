"""Group comparisons and associations the paper reports, as thin wrappers over scipy and scikit-posthocs.

- ``kruskal``: Kruskal-Wallis across groups (Fig. 2b, Fig. 5f-h);
- ``dunn``: Dunn's pairwise comparisons of mean ranks after Kruskal-Wallis (Fig. 4c). The default adjustment
  is Bonferroni (raw p times the number of pairs, capped at 1), which is what GraphPad Prism, the authors'
  software, applies under the name "Dunn's multiple comparisons test";
- ``mann_whitney`` / ``mann_whitney_groups``: two-sided Mann-Whitney with the rank-biserial correlation
  (= Cliff's delta) and Rosenthal's r = |Z| / sqrt(N) (Supplementary Fig. 2; the paper does not name its effect size);
- ``pearson``: two-sided Pearson correlation with its confidence interval (Fig. 2c, d);
- ``chi_square`` and ``contingency``: chi-square test of a contingency table (cluster proportions by treatment,
  Fig. 5b);
- ``by_stratum``: run any of these per stratum (per interval, per cluster) into one tidy table.

Missing values are dropped and counted, never silently: groups need at least one value, two-sample tests need
at least one value on each side.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from lesionmap.stats.frames import group_levels, require_columns
from lesionmap.stats.results import (
    ChiSquareResult,
    KruskalResult,
    MannWhitneyResult,
    PearsonResult,
    TestResult,
)

#: Multiple-comparison adjustment of Dunn's test by default (GraphPad Prism's Dunn's test).
DUNN_DEFAULT_ADJUSTMENT = "bonferroni"


def _valued(frame: pd.DataFrame, value: str, group: str) -> pd.DataFrame:
    """Rows with a finite value and a group label, groups in order of first appearance unless categorical."""
    require_columns(frame, [value, group])
    values = pd.to_numeric(frame[value], errors="coerce")
    keep = np.isfinite(values.to_numpy(float)) & frame[group].notna().to_numpy()
    return pd.DataFrame({value: values[keep].to_numpy(float), group: frame.loc[keep, group].to_numpy()})


def kruskal(frame: pd.DataFrame, value: str, group: str) -> KruskalResult:
    """Kruskal-Wallis H test of ``value`` across the levels of ``group`` (two or more non-empty groups)."""
    data = _valued(frame, value, group)
    order = group_levels(frame[group])
    samples = [data.loc[data[group] == level, value].to_numpy() for level in order]
    samples_kept = [(level, s) for level, s in zip(order, samples, strict=True) if len(s)]
    if len(samples_kept) < 2:
        raise ValueError(f"Kruskal-Wallis needs two non-empty groups of {group!r}; found {len(samples_kept)}")
    result = stats.kruskal(*(s for _, s in samples_kept))
    return KruskalResult(
        statistic=float(result.statistic),
        p=float(result.pvalue),
        df=len(samples_kept) - 1,
        n=int(sum(len(s) for _, s in samples_kept)),
        groups=tuple(level for level, _ in samples_kept),
    )


def dunn(frame: pd.DataFrame, value: str, group: str, p_adjust: str | None = DUNN_DEFAULT_ADJUSTMENT) -> pd.DataFrame:
    """Dunn's pairwise comparisons of mean ranks (ranks over all groups together, tie-corrected).

    One row per pair: group_a, group_b, n_a, n_b, mean_rank_a, mean_rank_b, z (positive when a ranks higher),
    p (raw two-sided), p_adjusted (scikit-posthocs ``posthoc_dunn`` with ``p_adjust``; a statsmodels
    ``multipletests`` method name, or None for no adjustment), adjustment.
    """
    data = _valued(frame, value, group)
    order = [level for level in group_levels(frame[group]) if (data[group] == level).any()]
    if len(order) < 2:
        raise ValueError(f"Dunn's test needs two non-empty groups of {group!r}; found {len(order)}")
    ranks = stats.rankdata(data[value].to_numpy())
    n = len(ranks)
    _, tie_counts = np.unique(ranks, return_counts=True)
    tie_term = np.sum(tie_counts.astype(float) ** 3 - tie_counts) / (12.0 * (n - 1))
    codes = pd.Categorical(data[group], categories=order).codes
    counts = np.bincount(codes, minlength=len(order)).astype(float)
    mean_ranks = np.bincount(codes, weights=ranks, minlength=len(order)) / counts
    first, second = np.triu_indices(len(order), 1)
    scale = np.sqrt((n * (n + 1) / 12.0 - tie_term) * (1.0 / counts[first] + 1.0 / counts[second]))
    z = (mean_ranks[first] - mean_ranks[second]) / scale
    p_raw = 2.0 * stats.norm.sf(np.abs(z))
    import scikit_posthocs  # imported here: it loads matplotlib, half a second for every chapter kernel

    matrix = scikit_posthocs.posthoc_dunn(data, val_col=value, group_col=group, p_adjust=p_adjust)
    labels_a, labels_b = np.asarray(order, dtype=object)[first], np.asarray(order, dtype=object)[second]
    adjusted = np.array([matrix.loc[a, b] for a, b in zip(labels_a, labels_b, strict=True)], dtype=float)
    return pd.DataFrame(
        {
            "group_a": labels_a,
            "group_b": labels_b,
            "n_a": counts[first].astype(int),
            "n_b": counts[second].astype(int),
            "mean_rank_a": mean_ranks[first],
            "mean_rank_b": mean_ranks[second],
            "z": z,
            "p": p_raw,
            "p_adjusted": adjusted,
            "adjustment": p_adjust or "none",
        }
    )


def mann_whitney(a, b, group_a: str = "a", group_b: str = "b") -> MannWhitneyResult:
    """Two-sided Mann-Whitney U test of samples a and b (asymptotic p with tie correction, as Prism for large n).

    Non-finite values are dropped. Effect sizes: the rank-biserial correlation (= Cliff's delta) and
    r = |Z| / sqrt(N); see ``MannWhitneyResult``.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        raise ValueError(f"Mann-Whitney needs values on both sides; got n_a={len(a)}, n_b={len(b)}")
    n_a, n_b = len(a), len(b)
    result = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True)
    u = float(result.statistic)
    _, tie_counts = np.unique(np.concatenate([a, b]), return_counts=True)
    n = n_a + n_b
    variance = n_a * n_b / 12.0 * ((n + 1) - np.sum(tie_counts.astype(float) ** 3 - tie_counts) / (n * (n - 1)))
    z = (u - n_a * n_b / 2.0) / np.sqrt(variance) if variance > 0 else 0.0
    return MannWhitneyResult(
        u=u,
        p=float(result.pvalue),
        n_a=n_a,
        n_b=n_b,
        median_a=float(np.median(a)),
        median_b=float(np.median(b)),
        rank_biserial=2.0 * u / (n_a * n_b) - 1.0,
        r=float(abs(z) / np.sqrt(n)),
        group_a=str(group_a),
        group_b=str(group_b),
    )


def mann_whitney_groups(frame: pd.DataFrame, value: str, group: str, order=None) -> MannWhitneyResult:
    """Mann-Whitney test between the two levels of ``group`` (``order`` = (a, b) fixes the direction)."""
    data = _valued(frame, value, group)
    levels = list(order) if order is not None else group_levels(frame[group])
    if len(levels) != 2:
        raise ValueError(f"{group!r} must have exactly two levels (or pass order=(a, b)); found {levels}")
    a, b = (data.loc[data[group] == level, value].to_numpy() for level in levels)
    return mann_whitney(a, b, group_a=levels[0], group_b=levels[1])


def pearson(x, y, confidence: float = 0.95) -> PearsonResult:
    """Two-sided Pearson correlation over the pairs where both values are finite (the others are counted)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length: {x.shape} vs {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        raise ValueError(f"Pearson correlation needs at least 3 complete pairs; found {int(keep.sum())}")
    result = stats.pearsonr(x[keep], y[keep])
    interval = result.confidence_interval(confidence_level=confidence)
    return PearsonResult(
        r=float(result.statistic),
        p=float(result.pvalue),
        n=int(keep.sum()),
        ci_lower=float(interval.low),
        ci_upper=float(interval.high),
        dropped=int((~keep).sum()),
    )


def contingency(frame: pd.DataFrame, rows: str, columns: str) -> pd.DataFrame:
    """Counts of ``rows`` x ``columns`` (rows with a missing label on either side are left out)."""
    require_columns(frame, [rows, columns])
    return pd.crosstab(frame[rows], frame[columns])


def chi_square(table, correction: bool = True) -> ChiSquareResult:
    """Chi-square test of independence of a contingency table (array or DataFrame of counts).

    ``correction`` applies Yates' continuity correction to 2 x 2 tables only (scipy's rule). Rows or columns
    summing to zero are dropped first (they carry no information and make expected counts zero).
    """
    observed = table if isinstance(table, pd.DataFrame) else pd.DataFrame(np.asarray(table))
    observed = observed.loc[observed.sum(axis=1) > 0, observed.sum(axis=0) > 0]
    if min(observed.shape) < 2:
        raise ValueError(f"chi-square needs at least 2 non-empty rows and columns; got {observed.shape}")
    result = stats.chi2_contingency(observed.to_numpy(), correction=correction)
    n = int(observed.to_numpy().sum())
    uncorrected = stats.chi2_contingency(observed.to_numpy(), correction=False).statistic
    cramers_v = float(np.sqrt(uncorrected / (n * (min(observed.shape) - 1))))
    expected = pd.DataFrame(result.expected_freq, index=observed.index, columns=observed.columns)
    return ChiSquareResult(
        statistic=float(result.statistic),
        p=float(result.pvalue),
        dof=int(result.dof),
        n=n,
        cramers_v=cramers_v,
        correction=bool(correction),
        observed=observed,
        expected=expected,
    )


def by_stratum(test: Callable, frame: pd.DataFrame, by: str | list[str], **arguments) -> pd.DataFrame:
    """Run ``test(stratum_frame, **arguments)`` in each stratum of ``by`` and stack the tidy results.

    ``test`` returns a result record (one row) or a DataFrame (several rows, e.g. Dunn's pairs); the stratum
    columns come first. Strata where the test cannot run (e.g. a single group) get a row with an ``error``.
    """
    keys = [by] if isinstance(by, str) else list(by)
    require_columns(frame, keys)
    pieces = []
    for stratum, part in frame.groupby(keys, observed=True, sort=True):
        stratum = stratum if isinstance(stratum, tuple) else (stratum,)
        try:
            result = test(part, **arguments)
        except ValueError as error:
            rows = pd.DataFrame([{"error": str(error)}])
        else:
            rows = result.to_frame() if isinstance(result, TestResult) else result.reset_index(drop=True)
        for key, level in zip(reversed(keys), reversed(stratum), strict=True):
            rows.insert(0, key, level)
        pieces.append(rows)
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=keys)
