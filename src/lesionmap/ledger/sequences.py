"""Ledger rules of Chapter 4 (progression sequences, Fig. 4, Supplementary Figs. 7-9), read from ``sequences.json``.

Every finding is emergent in a simulated cohort: the spec (``data/cohorts/mcrc.yaml``) never names a progression
group. ``how`` names the mechanisms that can make each finding appear.
"""

from __future__ import annotations

from lesionmap.ledger import Finding, origin_for, rule
from lesionmap.sequence.groups import PAPER_COHORT, PAPER_GROUP_SIZES, PAPER_OS_MEDIANS
from lesionmap.sequence.naming import MANY_ORGANS

FIVE_GROUPS = ("Mono-Organ", "Hetero-Organ", "Liver-First", "Lung-First", "Other-First")

#: The spec mechanisms behind the clusters (five separate modules of ``lesionmap.cohort``).
CLUSTER_MECHANISMS = (
    "baseline involvement (involvement), organ growth (organs), new lesions favouring involved organs "
    "(new_lesions), the liver hub (liver_hub) and follow-up (follow_up); no spec entry names a group"
)


def _days(value) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _pair(comparison: dict) -> str:
    here = comparison.get("here")
    return "group absent" if here is None else f"{_days(here[0])} vs {_days(here[1])} days"


def _paper_pair(shorter: str, longer: str) -> str:
    return f"{PAPER_OS_MEDIANS[shorter]} vs {PAPER_OS_MEDIANS[longer]} days"


def _all_hold(comparisons: list[dict]) -> bool | None:
    """False when any comparison fails, None when one cannot be made (and none fails), else True."""
    verdicts = [c.get("holds") for c in comparisons]
    return False if False in verdicts else None if None in verdicts else True


@rule("sequences")
def sequence_findings(results: dict) -> list[Finding]:
    """The paper's findings on progression groups, their survival and the choice of k."""
    found = results.get("paper_groups_found", [])
    duplicates = results.get("duplicated_names", {})
    sizes = {row["group"]: row for row in results.get("sizes", [])}
    size_ratios = {g: (sizes.get(g) or {}).get("ratio") for g in FIVE_GROUPS}
    comparisons = results.get("os_comparisons", {})
    k_choice = results.get("k_choice", {})
    gap = results.get("liver_first_gap", {})
    timing = results.get("hetero_liver_timing", {})
    logrank_p = results.get("os_logrank", {}).get("p")
    baseline_p = results.get("baseline_organs_kruskal_p")
    emergent = origin_for(results, "emergent")
    liver_lung, liver_other = comparisons.get("liver_lung", {}), comparisons.get("liver_other", {})
    rule_comparisons = results.get("rule_os_comparisons", {})
    within = [g for g, r in size_ratios.items() if r is not None and 0.6 <= r <= 1.4]
    return [
        Finding(
            "five_groups",
            "k-means at k = 5 gives the five named groups, each once",
            ", ".join(FIVE_GROUPS),
            (", ".join(found) or "none") + (f"; duplicated: {', '.join(duplicates)}" if duplicates else ""),
            emergent,
            len(found) == len(FIVE_GROUPS) and not duplicates,
            how=CLUSTER_MECHANISMS,
        ),
        Finding(
            "group_sizes",
            "Each group's share of the cohort is within 40% of the paper's",
            " / ".join(f"{PAPER_GROUP_SIZES[g]:,}" for g in FIVE_GROUPS) + f" of {PAPER_COHORT:,}",
            "; ".join(f"{g} {r:.2f}x" if r is not None else f"{g} absent" for g, r in size_ratios.items()),
            emergent,
            len(within) == len(FIVE_GROUPS),
            how=CLUSTER_MECHANISMS,
        ),
        Finding(
            "k_choice",
            "The survival concordance favours k = 5 (or is within 1% of its best)",
            "k = 5",
            f"best k = {k_choice.get('best_k')}, k = 5 {k_choice.get('gap', float('nan')):.1%} below"
            if k_choice
            else "n/a",
            emergent,
            None if not k_choice else bool(k_choice["gap"] <= 0.01),
            how=CLUSTER_MECHANISMS,
        ),
        Finding(
            "os_by_group",
            "Overall survival differs across the groups (log-rank)",
            "p < 0.0001",
            "n/a" if logrank_p is None else f"p = {logrank_p:.2g}",
            emergent,
            None if logrank_p is None else bool(logrank_p < 0.05),
            how="death hazard rising with each progressing organ (organs.death_log_hazard)",
        ),
        Finding(
            "hetero_below_mono",
            "Hetero-Organ patients live shorter than Mono-Organ ones (median OS)",
            _paper_pair("Hetero-Organ", "Mono-Organ"),
            _pair(comparisons.get("hetero_mono", {})),
            emergent,
            comparisons.get("hetero_mono", {}).get("holds"),
            how="death hazard rising with each progressing organ (organs.death_log_hazard)",
        ),
        Finding(
            "liver_first_worst",
            "Liver-First patients live shorter than Lung-First and Other-First ones",
            f"{PAPER_OS_MEDIANS['Liver-First']} vs {PAPER_OS_MEDIANS['Lung-First']} and "
            f"{PAPER_OS_MEDIANS['Other-First']} days",
            f"{_pair(liver_lung)}; {_pair(liver_other)}",
            emergent,
            _all_hold([liver_lung, liver_other]),
            how="liver progression weighs most in the death hazard (organs.death_log_hazard) and speeds later "
            "progression (liver_hub)",
        ),
        Finding(
            "rule_groups_os",
            "The same three survival orderings on the paper's groups drawn by its stated rule (one organ, "
            f"{MANY_ORGANS} or more, else the first organ) instead of by k-means",
            f"{_paper_pair('Hetero-Organ', 'Mono-Organ')}; Liver-First {_paper_pair('Liver-First', 'Lung-First')} "
            f"(Lung-First) and {PAPER_OS_MEDIANS['Other-First']} days (Other-First)",
            "; ".join(f"{key.replace('_', ' vs ')}: {_pair(c)}" for key, c in rule_comparisons.items()) or "n/a",
            emergent,
            _all_hold(list(rule_comparisons.values())) if rule_comparisons else None,
            how="liver progression weighs most in the death hazard and each progressing organ adds to it "
            "(organs.death_log_hazard)",
        ),
        Finding(
            "liver_first_gap",
            "Liver-First patients wait less for their second progression (Dunn p < 0.05)",
            "p < 0.0001",
            "; ".join(
                f"{p['median']:,.0f} vs {p['median_other']:,.0f} days ({p['other']}, adj. p {p['p_adjusted']:.2g})"
                for p in gap.get("pairs", [])
                if p.get("p_adjusted") is not None
            )
            or "n/a",
            emergent,
            gap.get("holds"),
            how="the liver hub: new lesions and faster regrowth elsewhere once the liver progresses (liver_hub)",
        ),
        Finding(
            "baseline_comparable",
            "Baseline organ counts are comparable across the groups (Kruskal-Wallis)",
            "comparable",
            "n/a" if baseline_p is None else f"p = {baseline_p:.2g}",
            emergent,
            None if baseline_p is None else bool(baseline_p >= 0.05),
            how="baseline involvement (involvement) against spread and follow-up",
        ),
        Finding(
            "hetero_liver_early",
            "Hetero-Organ sub-clusters with early liver progression survive shortest",
            "liver 1st or 2nd: worse survival",
            "n/a"
            if timing.get("liver_early_shorter") is None
            else f"{_days(timing['liver_early_median'])} vs {_days(timing['liver_late_median'])} days",
            emergent,
            timing.get("liver_early_shorter"),
            how="liver progression weighs most in the death hazard (organs.death_log_hazard)",
        ),
    ]
