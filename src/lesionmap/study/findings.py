"""The paper's findings, tested on one replicate's stage outputs (rows of stage ``findings``, 1 = holds).

The book's finding ledger (``lesionmap.ledger``) reads a chapter's results file, which a replicate does not
write; these small functions test the same kinds of finding directly on the stage outputs a replicate has in
memory: the organ phenotype quadrants of Fig. 3c, the presence of the five progression groups of Fig. 4, the
order of their median overall survival, and the sign of the organ-level correlation of F and Kg (Fig. 2c).
Across replicates, the mean of a finding's rows is the share of cohorts of the simulated world in which it
holds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lesionmap.ledger.phenotypes import PAPER_PHENOTYPES
from lesionmap.sequence.groups import PAPER_GROUP_SIZES, PAPER_OS_MEDIANS


def _finding(name: str, holds) -> dict:
    """A finding row: estimate 1 when it holds, 0 when not, NaN when it cannot be tested in this replicate."""
    value = np.nan if holds is None else float(bool(holds))
    return {
        "stage": "findings",
        "quantity": name,
        "estimate": value,
        "se": np.nan,
        "lower": np.nan,
        "upper": np.nan,
        "truth": np.nan,
    }


def phenotype_findings(phenotypes: pd.DataFrame) -> list[dict]:
    """Whether each organ the paper classifies has the paper's phenotype (untestable when the organ is absent)."""
    found = phenotypes.set_index("organ")["phenotype"]
    return [
        _finding(f"phenotype {organ} {paper}", found[organ] == paper if organ in found.index else None)
        for organ, paper in PAPER_PHENOTYPES.items()
    ]


def group_findings(names) -> list[dict]:
    """Whether each of the paper's five progression groups is named among the clusters."""
    from lesionmap.sequence.groups import base_name

    present = {base_name(str(name)) for name in names}
    return [_finding(f"group {group} present", group in present) for group in PAPER_GROUP_SIZES]


def os_order_findings(medians: pd.Series) -> list[dict]:
    """The paper's order of median overall survival between progression groups: the group with the shortest
    median, the one with the longest, and each adjacent pair of the paper's order (untestable when a group is
    missing or its median is not reached)."""
    paper = sorted(PAPER_OS_MEDIANS, key=PAPER_OS_MEDIANS.get)
    medians = medians.dropna()
    complete = all(group in medians.index for group in paper)
    rows = [
        _finding(f"OS shortest: {paper[0]}", medians.idxmin() == paper[0] if complete else None),
        _finding(f"OS longest: {paper[-1]}", medians.idxmax() == paper[-1] if complete else None),
    ]
    for shorter, longer in zip(paper, paper[1:]):
        testable = shorter in medians.index and longer in medians.index
        rows.append(_finding(f"OS {shorter} < {longer}", medians[shorter] < medians[longer] if testable else None))
    return rows


def sequence_findings(clustering, patients: pd.DataFrame) -> list[dict]:
    """Group presence and OS order from one replicate's clustering (names without their duplicate number)."""
    from lesionmap.sequence import os_by_group, with_groups
    from lesionmap.sequence.groups import base_name

    table = with_groups(patients, clustering.labels_)
    medians, _ = os_by_group(table)
    by_group = medians.assign(base=medians["group"].map(base_name)).drop_duplicates("base").set_index("base")["median"]
    return group_findings(clustering.labels_.unique()) + os_order_findings(by_group)


def growth_findings(estimates: pd.DataFrame) -> list[dict]:
    """Fig. 2c: the organ medians of F and Kg correlate positively (Pearson r > 0 with p < 0.05)."""
    from lesionmap import organs

    table = organs.pearson_table(organs.organ_medians(estimates), [("F", "Kg")]).iloc[0]
    return [_finding("organ r(F,Kg) positive, p < 0.05", table["r"] > 0 and table["p"] < 0.05)]
