"""The statistical tests the paper uses, as thin wrappers over scipy, scikit-posthocs and lifelines.

One test returns a small frozen dataclass (``to_dict`` for glue, ``to_frame`` for a tidy row); a family of
tests (pairs, strata) or a curve returns a tidy DataFrame ready for Altair.

    km_medians(patients, "os_days", "os_event", group="cluster")   # medians with 95% CI
    km_curve(patients, group="cluster")                            # step table for a KM chart
    km_on_grid(patients, group="cluster", step=7)                  # the same, read weekly (for big charts)
    logrank(patients, group="cluster").p
    by_stratum(kruskal, intervals, by="interval", value="days", group="treatment_group")
    dunn(intervals, "days", "cluster")                             # Bonferroni-adjusted, as Prism
    mann_whitney_groups(lesions, "Kg", "treatment_group").rank_biserial
"""

from lesionmap.stats.comparisons import (
    DUNN_DEFAULT_ADJUSTMENT,
    by_stratum,
    chi_square,
    contingency,
    dunn,
    kruskal,
    mann_whitney,
    mann_whitney_groups,
    pearson,
)
from lesionmap.stats.results import (
    ChiSquareResult,
    KruskalResult,
    LogRankResult,
    MannWhitneyResult,
    PearsonResult,
    TestResult,
)
from lesionmap.stats.survival import (
    CONCORDANCE_PENALIZER,
    group_concordance,
    group_risks,
    km_curve,
    km_medians,
    km_on_grid,
    logrank,
)

__all__ = [
    "CONCORDANCE_PENALIZER",
    "ChiSquareResult",
    "DUNN_DEFAULT_ADJUSTMENT",
    "KruskalResult",
    "LogRankResult",
    "MannWhitneyResult",
    "PearsonResult",
    "TestResult",
    "by_stratum",
    "chi_square",
    "contingency",
    "dunn",
    "group_concordance",
    "group_risks",
    "km_curve",
    "km_medians",
    "km_on_grid",
    "kruskal",
    "logrank",
    "mann_whitney",
    "mann_whitney_groups",
    "pearson",
]
