"""Sentences that compare this cohort with the paper, built from the computed numbers (never typed).

Each function states this book's direction first, then whether it agrees with the paper's, and returns the
facts behind the sentence too (so the ledger and the prose read the same numbers):

- ``median_comparison``: is one group's median survival shorter than another's, here and in the paper;
- ``os_comparisons``: ``median_comparison`` of each of the paper's survival orderings (``OS_ORDERINGS``);
- ``gap_comparison``: does one group wait less than the others between two progressions (medians and Dunn's
  adjusted p of each pair).
"""

from __future__ import annotations

import math

import pandas as pd

from lesionmap.sequence.groups import PAPER_OS_MEDIANS
from lesionmap.sequence.naming import HETERO_ORGAN, LIVER_FIRST, LUNG_FIRST, MONO_ORGAN, OTHER_FIRST

#: The paper's survival orderings of its groups: key -> (the group that lives shorter, the group that lives longer).
OS_ORDERINGS = {
    "hetero_mono": (HETERO_ORGAN, MONO_ORGAN),
    "liver_lung": (LIVER_FIRST, LUNG_FIRST),
    "liver_other": (LIVER_FIRST, OTHER_FIRST),
}


def _days(value: float) -> str:
    return "not reached" if math.isinf(value) else f"{value:,.0f}"


def median_comparison(medians: pd.Series, shorter: str, longer: str, paper: dict = PAPER_OS_MEDIANS) -> dict:
    """Whether ``shorter``'s median overall survival is below ``longer``'s here (the paper's direction).

    ``medians`` maps group -> median days (inf: not reached). Returns ``holds`` (True, False, or None when a
    group is absent or a median is missing), ``here`` and ``paper`` ((median of shorter, median of longer)) and
    ``text``, a sentence that gives this book's direction first.
    """
    paper_pair = (paper[shorter], paper[longer])
    paper_text = f"paper: {paper_pair[0]:,} vs {paper_pair[1]:,} days"
    absent = [g for g in (shorter, longer) if g not in medians.index or pd.isna(medians[g])]
    if absent:
        return {
            "holds": None,
            "here": None,
            "paper": paper_pair,
            "text": f"This clustering has no {' and no '.join(absent)} group, so the comparison of {shorter} "
            f"with {longer} cannot be made ({paper_text}).",
        }
    a, b = float(medians[shorter]), float(medians[longer])
    holds = a < b
    if a == b:
        direction = f"{shorter} and {longer} patients have the same median survival"
    else:
        direction = f"{shorter} patients live {'shorter' if holds else 'longer'} than {longer} patients"
    agreement = "as in the paper" if holds else "the reverse of the paper's order" if a > b else "unlike the paper"
    return {
        "holds": holds,
        "here": (a, b),
        "paper": paper_pair,
        "text": f"Here {direction} (median {_days(a)} vs {_days(b)} days), {agreement} ({paper_text}).",
    }


def os_comparisons(medians: pd.Series) -> dict:
    """``median_comparison`` of each ordering of ``OS_ORDERINGS`` on ``medians`` (group -> median days), by key."""
    return {key: median_comparison(medians, shorter, longer) for key, (shorter, longer) in OS_ORDERINGS.items()}


def gap_comparison(
    quantiles: pd.DataFrame,
    dunn: pd.DataFrame,
    group: str,
    others: list[str],
    interval: str = "2nd-1st",
    alpha: float = 0.05,
) -> dict:
    """Whether ``group`` waits less than each of ``others`` for ``interval`` (median days, Dunn's adjusted p).

    ``quantiles`` is ``interval_quantiles`` (group, interval, median...), ``dunn`` the pairs of ``interval_tests``.
    Returns ``holds`` (True when ``group``'s median is below every other's and every pair's adjusted p is below
    ``alpha``; None when ``group`` or every other group is absent), ``pairs`` (one row per other group: median
    of each, adjusted p, shorter) and ``text``.
    """
    table = quantiles[quantiles["interval"].astype(str) == interval].set_index("group")["median"]
    present = [o for o in others if o in table.index]
    if group not in table.index or not present:
        return {
            "holds": None,
            "pairs": pd.DataFrame(),
            "text": f"The {interval} gap of {group} cannot be compared: the clustering lacks the groups.",
        }
    pairs = []
    for other in present:
        row = (
            dunn[
                (dunn["interval"] == interval)
                & (dunn["group_a"].isin([group, other]))
                & (dunn["group_b"].isin([group, other]))
            ]
            if len(dunn)
            else dunn
        )
        p = float(row["p_adjusted"].iat[0]) if len(row) else float("nan")
        pairs.append(
            {
                "other": other,
                "median": float(table[group]),
                "median_other": float(table[other]),
                "p_adjusted": p,
                "shorter": bool(table[group] < table[other]),
            }
        )
    pairs = pd.DataFrame(pairs)
    significant = pairs["p_adjusted"] < alpha
    holds = bool(pairs["shorter"].all() and significant.all())
    parts = [
        f"{'shorter' if r.shorter else 'longer'} than {r.other} ({r.median:,.0f} vs {r.median_other:,.0f} days, "
        f"Dunn adjusted p {_p(r.p_adjusted)})"
        for r in pairs.itertuples()
    ]
    verdict = (
        "as in the paper"
        if holds
        else "shorter but not clearly so, where the paper found it clearly shorter"
        if pairs["shorter"].all()
        else "unlike the paper, where it is shorter"
    )
    return {
        "holds": holds,
        "pairs": pairs,
        "text": f"Here the median {interval} gap of {group} patients is {'; '.join(parts)}: {verdict}.",
    }


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}"
