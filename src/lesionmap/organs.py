"""Organ-level summaries of lesion growth parameters (Chapter 2: Fig. 2b-d, Supplementary Fig. 2).

The tests are the paper's: Kruskal-Wallis across organs, two-sided Pearson correlations of organ medians,
Pearson correlations with baseline volume, and Mann-Whitney tests between treatment groups with an effect
size. The effect size is Cohen's d on the parameter's model scale (log Kd, logit(1 - F), log Kg): the
difference of group means in pooled standard deviations, so 0.2 is small, 0.5 medium (the paper reports
0.06, 0.43 and 0.26 without naming its measure).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Organ categories in the order the book lists them (most frequent first, then by body region).
ORGAN_ORDER = (
    "liver",
    "lung",
    "regional LN",
    "distal LN",
    "abdomen",
    "peritoneum",
    "spleen",
    "bone",
    "brain/CNS",
    "GI tract",
    "GR",
    "skin",
    "kidney",
    "soft tissue",
    "adrenal",
    "pancreas",
    "pleura",
    "head and neck",
    "other",
)

GROWTH_PARAMETERS = ("Kd", "F", "Kg")
_MIN_LESIONS = 5


def model_scale(name: str, values) -> np.ndarray:
    """The parameter on the scale its random effect lives on: log for rates, logit for F (and 1 - F)."""
    values = np.asarray(values, dtype=float)
    if name in ("F", "1-F"):
        clipped = np.clip(values, 1e-9, 1 - 1e-9)
        return np.log(clipped / (1 - clipped))
    return np.log(values)


def organ_kruskal(
    individual: pd.DataFrame, parameters=GROWTH_PARAMETERS, min_lesions: int = _MIN_LESIONS
) -> pd.DataFrame:
    """Kruskal-Wallis test of each parameter across organs (organs with at least ``min_lesions`` lesions)."""
    counts = individual["organ"].value_counts()
    kept = individual[individual["organ"].isin(counts[counts >= min_lesions].index)]
    rows = []
    for name in parameters:
        groups = [g[name].to_numpy() for _, g in kept.groupby("organ", observed=True)]
        h, p = stats.kruskal(*groups) if len(groups) > 1 else (np.nan, np.nan)
        rows.append({"parameter": name, "H": h, "p": p, "organs": len(groups), "lesions": len(kept)})
    return pd.DataFrame(rows)


def organ_medians(
    individual: pd.DataFrame, parameters=GROWTH_PARAMETERS, min_lesions: int = _MIN_LESIONS
) -> pd.DataFrame:
    """Median of each parameter per organ, with the lesion count (organs with at least ``min_lesions``)."""
    grouped = individual.groupby("organ", observed=True)
    medians = grouped[list(parameters)].median()
    medians["lesions"] = grouped.size()
    return medians[medians["lesions"] >= min_lesions].reset_index()


def pearson_table(frame: pd.DataFrame, pairs, log: bool = False) -> pd.DataFrame:
    """Two-sided Pearson r and p for pairs of columns (optionally on log10 values)."""
    rows = []
    for x, y in pairs:
        a, b = frame[x].to_numpy(float), frame[y].to_numpy(float)
        if log:
            a, b = np.log10(a), np.log10(b)
        ok = np.isfinite(a) & np.isfinite(b)
        r, p = stats.pearsonr(a[ok], b[ok]) if ok.sum() > 2 else (np.nan, np.nan)
        rows.append({"x": x, "y": y, "r": r, "p": p, "n": int(ok.sum())})
    return pd.DataFrame(rows)


def baseline_volume_correlations(
    individual: pd.DataFrame, volume_col: str = "V0", parameters=GROWTH_PARAMETERS
) -> pd.DataFrame:
    """Pearson correlation of each parameter (model scale) with log10 baseline volume, over lesions."""
    rows = []
    log_volume = np.log10(individual[volume_col].to_numpy(float))
    for name in parameters:
        values = model_scale(name, individual[name])
        ok = np.isfinite(values) & np.isfinite(log_volume)
        r, p = stats.pearsonr(log_volume[ok], values[ok])
        rows.append({"parameter": name, "r": r, "p": p, "lesions": int(ok.sum())})
    return pd.DataFrame(rows)


def cohens_d(a, b) -> float:
    """Difference of means in pooled standard deviations (a minus b)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    return float((a.mean() - b.mean()) / pooled)


def treatment_effects(
    individual: pd.DataFrame,
    group_col: str = "treatment_group",
    treated: str = "TAR+Chemo",
    control: str = "Chemo alone",
) -> pd.DataFrame:
    """Supplementary Fig. 2: TAR + Chemo vs Chemo alone on Kd, 1 - F and Kg.

    Effect size: |Cohen's d| on the model scale, signed so that a positive value means the treated group
    has faster regression (Kd), deeper response (1 - F) or slower growth (Kg). Mann-Whitney U, two-sided.
    """
    rows = []
    frame = individual.assign(**{"1-F": 1 - individual["F"]})
    direction = {"Kd": 1.0, "1-F": 1.0, "Kg": -1.0}
    for name, sign in direction.items():
        a = frame.loc[frame[group_col] == treated, name].to_numpy(float)
        b = frame.loc[frame[group_col] == control, name].to_numpy(float)
        d = cohens_d(model_scale(name, a), model_scale(name, b))
        u, p = stats.mannwhitneyu(a, b, alternative="two-sided")
        rows.append(
            {
                "parameter": name,
                "median_treated": float(np.median(a)),
                "median_control": float(np.median(b)),
                "effect_size": sign * d,
                "U": u,
                "p": p,
                "n_treated": len(a),
                "n_control": len(b),
            }
        )
    return pd.DataFrame(rows)


def spread_ratio(individual: pd.DataFrame) -> dict[str, float]:
    """Coefficient of variation of Kg and of Kd across lesions (the paper: progression rates vary more)."""
    return {name: float(individual[name].std() / individual[name].mean()) for name in ("Kd", "Kg")}
