"""Supplementary Table 3: the clinical demographics and baseline disease of each progression group.

``group_characteristics`` summarises the baseline features of ``lesionmap.predict.baseline_features`` (the same
allow-listed inputs Chapter 6 predicts from) per group: mean (sd) of age and BMI, median (IQR) of the baseline
metastases, involved organs and target volume, and the share of each level of the categorical covariates. The
p-value compares the progression groups (Kruskal-Wallis for numbers, chi-square for categories); patients who
never progressed are shown in their own column and left out of the test, as k-means never saw them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lesionmap.sequence.naming import GROUP_ORDER, NO_PROGRESSION
from lesionmap.stats import chi_square, contingency, kruskal

#: Numeric characteristics: (feature column, label, summary) with summary "mean" (mean (sd)) or "median" (IQR).
NUMERIC_CHARACTERISTICS = (
    ("age", "age, years", "mean"),
    ("bmi", "BMI, kg/m²", "mean"),
    ("n_metastases", "baseline metastases", "median"),
    ("n_organs", "organs involved at baseline", "median"),
    ("baseline_target_volume_mm3", "baseline target volume, mm³", "median"),
)

#: Categorical characteristics: (feature column, label); one row per level.
CATEGORICAL_CHARACTERISTICS = (
    ("sex", "sex"),
    ("race", "race"),
    ("kras", "KRAS"),
    ("line", "line of therapy"),
    ("prior_surgery", "prior surgery"),
    ("treatment_group", "treatment"),
)


def _summary(values: pd.Series, kind: str) -> str:
    values = values.dropna()
    if not len(values):
        return "n/a"
    if kind == "mean":
        return f"{values.mean():.1f} ({values.std():.1f})"
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    digits = 0 if median >= 100 else 1
    return f"{median:,.{digits}f} ({q1:,.{digits}f}-{q3:,.{digits}f})"


def _groups_in_order(labels: pd.Series) -> list[str]:
    present = list(pd.unique(labels.astype(str)))
    known = [g for g in GROUP_ORDER if g in present and g != NO_PROGRESSION]
    others = sorted((g for g in present if g not in GROUP_ORDER), key=str)
    return known + others + ([NO_PROGRESSION] if NO_PROGRESSION in present else [])


def group_characteristics(features: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """One row per characteristic (and level): characteristic, level, one column per group, p.

    ``features`` is ``baseline_features`` (indexed by patient_id, organ indicators ``organ_<organ>``); ``labels``
    maps every patient to a group. A patient of ``labels`` without a feature row is an error.
    """
    absent = labels.index.difference(features.index)
    if len(absent):
        raise ValueError(f"{len(absent)} labelled patient(s) have no baseline features (first: {list(absent[:3])})")
    organs = [c for c in features.columns if c.startswith("organ_")]
    table = features.loc[labels.index].assign(
        n_organs=features.loc[labels.index, organs].sum(axis=1), group=labels.astype(str).to_numpy()
    )
    groups = _groups_in_order(table["group"])
    tested = table[table["group"] != NO_PROGRESSION]
    rows = [
        {
            "characteristic": "patients",
            "level": "",
            **{g: f"{(table['group'] == g).sum():,}" for g in groups},
            "p": np.nan,
        }
    ]
    for column, label, kind in NUMERIC_CHARACTERISTICS:
        if column not in table:
            continue
        p = _p_value(lambda: kruskal(tested, column, "group").p)
        rows.append(
            {
                "characteristic": label,
                "level": "mean (sd)" if kind == "mean" else "median (IQR)",
                **{g: _summary(table.loc[table["group"] == g, column], kind) for g in groups},
                "p": p,
            }
        )
    for column, label in CATEGORICAL_CHARACTERISTICS:
        if column not in table:
            continue
        values = table[column].astype(str)
        p = _p_value(
            lambda: chi_square(contingency(tested.assign(**{column: tested[column].astype(str)}), column, "group")).p
        )
        for i, level in enumerate(sorted(values.unique(), key=str)):
            shares = {g: f"{(values[table['group'] == g] == level).mean():.0%}" for g in groups}
            rows.append(
                {"characteristic": label if i == 0 else "", "level": level, **shares, "p": p if i == 0 else np.nan}
            )
    return pd.DataFrame(rows, columns=["characteristic", "level", *groups, "p"])


def _p_value(test) -> float:
    """The test's p, or NaN when it cannot run (one group, one level)."""
    try:
        return float(test())
    except ValueError:
        return np.nan
