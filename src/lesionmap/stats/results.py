"""Small result records shared by the tests of ``lesionmap.stats``.

Every single test returns a frozen dataclass whose scalar fields a chapter can glue (``to_dict``) and whose
``to_frame`` gives one tidy row; families of tests (per stratum, per pair) return DataFrames.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd


class TestResult:
    """Mixin: scalar fields as a dict (for glue) or as a one-row DataFrame (for tables)."""

    __test__ = False  # not a pytest test class despite the name

    def to_dict(self) -> dict:
        """The scalar fields (numbers, strings, tuples of group names), in declaration order."""
        out = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, (pd.DataFrame, pd.Series, np.ndarray)):
                continue
            out[item.name] = value
        return out

    def to_frame(self) -> pd.DataFrame:
        """One tidy row with the scalar fields."""
        return pd.DataFrame([self.to_dict()])


@dataclass(frozen=True)
class KruskalResult(TestResult):
    """Kruskal-Wallis H test across groups (scipy.stats.kruskal, tie-corrected, chi-square reference)."""

    statistic: float
    p: float
    df: int
    n: int
    groups: tuple


@dataclass(frozen=True)
class MannWhitneyResult(TestResult):
    """Two-sided Mann-Whitney U test of a against b, with effect sizes.

    ``u`` is the U statistic of a (scipy's convention). ``rank_biserial`` = 2U/(n_a n_b) - 1 = P(a > b) - P(a < b),
    which is also Cliff's delta (ties count one half); positive when a tends to be larger.
    ``r`` = |Z| / sqrt(n_a + n_b), Z the tie-corrected normal score without continuity correction: the
    "effect size r" of Rosenthal often reported beside Mann-Whitney tests.
    """

    u: float
    p: float
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    rank_biserial: float
    r: float
    group_a: str = "a"
    group_b: str = "b"


@dataclass(frozen=True)
class PearsonResult(TestResult):
    """Two-sided Pearson correlation with its Fisher-z confidence interval (scipy.stats.pearsonr)."""

    r: float
    p: float
    n: int
    ci_lower: float
    ci_upper: float
    dropped: int


@dataclass(frozen=True)
class ChiSquareResult(TestResult):
    """Pearson chi-square test of independence of a contingency table (scipy.stats.chi2_contingency).

    ``cramers_v`` = sqrt(chi2 / (n (min(rows, columns) - 1))), computed on the uncorrected statistic.
    """

    statistic: float
    p: float
    dof: int
    n: int
    cramers_v: float
    correction: bool
    observed: pd.DataFrame
    expected: pd.DataFrame


@dataclass(frozen=True)
class LogRankResult(TestResult):
    """Log-rank test of equal survival across groups (lifelines.statistics.multivariate_logrank_test)."""

    statistic: float
    p: float
    df: int
    n: int
    events: int
    groups: tuple
