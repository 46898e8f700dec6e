"""Organ-level growth parameters three ways: the paper's per-lesion medians, a covariate model, the truth.

The paper compares organs through the medians of each lesion's estimate. Those estimates are conditional
modes of a model without organ effects, so they are shrunk towards one population value, and an organ's
median inherits that pull. A model with organ covariates estimates the organ's typical value inside the
likelihood instead. Each organ's value is compared on the model scale (log Kd, logit F, log Kg):

- per-lesion median: the median of the organ's lesion estimates (the paper's Fig. 2b/2c);
- covariate model: the mean over the organ's lesions of their typical value x_i' beta (so the organ's own
  mix of treatment groups, as in the other two columns);
- truth: the mean over the organ's lesions of the true transformed value (what the other two estimate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from lesionmap.growth.parameters import from_phi, to_phi

PARAMETERS = ("Kd", "F", "Kg")
SOURCES = ("per-lesion median", "covariate model", "truth")


def _organ_mean_on_model_scale(frame: pd.DataFrame, parameter: str) -> pd.Series:
    phi = pd.Series(to_phi(parameter, frame[parameter].to_numpy(float)), index=frame.index)
    return pd.Series(from_phi(parameter, phi.groupby(frame["organ"]).mean()), index=sorted(frame["organ"].unique()))


def organ_values(
    estimates: pd.DataFrame, typical: pd.DataFrame | None, truth: pd.DataFrame | None, min_lesions: int = 1
) -> pd.DataFrame:
    """One row per organ and parameter: lesions, and the organ's value from each available source.

    ``estimates``: per-lesion estimates with ``organ`` (``pipeline.lesion_parameters``); ``typical``: each
    lesion's typical value from a covariate fit (``results.typical``, indexed by lesion id) or None;
    ``truth``: the true lesion parameters with ``lesion_id`` (restricted to the lesions of ``estimates``) or None.
    """
    counts = estimates["organ"].value_counts()
    organs = sorted(counts[counts >= min_lesions].index)
    columns = {}
    for p in PARAMETERS:
        columns[("per-lesion median", p)] = estimates.groupby("organ")[p].median()
        if typical is not None:
            frame = typical.reindex(estimates["lesion_id"]).assign(organ=estimates["organ"].to_numpy())
            columns[("covariate model", p)] = _organ_mean_on_model_scale(frame, p)
        if truth is not None:
            frame = truth[truth["lesion_id"].isin(estimates["lesion_id"])]
            columns[("truth", p)] = _organ_mean_on_model_scale(frame, p)
    rows = []
    for organ in organs:
        for p in PARAMETERS:
            row = {"organ": organ, "parameter": p, "lesions": int(counts[organ])}
            for source in SOURCES:
                if (source, p) in columns:
                    row[source] = float(columns[(source, p)].get(organ, np.nan))
            rows.append(row)
    return pd.DataFrame(rows)


def mean_absolute_errors(values: pd.DataFrame) -> pd.DataFrame:
    """Errors (model scale) of each estimated source against the truth, per parameter and over all three.

    ``mae_effect``: mean absolute error of the organ effects, each organ's value minus the mean over organs
    (what organ comparisons, orderings and organ-level correlations depend on); ``mae_level``: of the organ
    values themselves; ``offset``: the mean signed difference, a shift shared by every organ (it is in
    ``mae_level`` but not in ``mae_effect``).
    """
    if "truth" not in values:
        raise ValueError("mean_absolute_errors needs a 'truth' column (simulated data)")
    rows = []
    for source in [s for s in SOURCES[:2] if s in values]:
        effects, levels, offsets = [], [], []
        for p in PARAMETERS:
            part = values[values["parameter"] == p]
            estimate = to_phi(p, part[source].to_numpy(float))
            truth = to_phi(p, part["truth"].to_numpy(float))
            effect = np.abs((estimate - estimate.mean()) - (truth - truth.mean()))
            level = np.abs(estimate - truth)
            offset = float(np.mean(estimate - truth))
            rows.append(
                {
                    "source": source,
                    "parameter": p,
                    "mae_effect": float(np.mean(effect)),
                    "mae_level": float(np.mean(level)),
                    "offset": offset,
                }
            )
            effects.append(effect)
            levels.append(level)
            offsets.append(offset)
        rows.append(
            {
                "source": source,
                "parameter": "all",
                "mae_effect": float(np.mean(np.concatenate(effects))),
                "mae_level": float(np.mean(np.concatenate(levels))),
                "offset": float(np.mean(np.abs(offsets))),
            }
        )
    return pd.DataFrame(rows)


def wide(values: pd.DataFrame, source: str) -> pd.DataFrame:
    """One row per organ with the ``source``'s Kd, F, Kg and the organ's lesion count."""
    table = values.pivot(index="organ", columns="parameter", values=source)[list(PARAMETERS)]
    table["lesions"] = values.groupby("organ")["lesions"].first()
    return table.reset_index()


def organ_correlations(values: pd.DataFrame, pairs=(("F", "Kd"), ("F", "Kg"), ("Kg", "Kd"))) -> pd.DataFrame:
    """Pearson r and p across organs of each pair of parameters, for each available source."""
    rows = []
    for source in [s for s in SOURCES if s in values]:
        table = wide(values, source)
        for x, y in pairs:
            ok = table[[x, y]].notna().all(axis=1)
            r, p = stats.pearsonr(table.loc[ok, x], table.loc[ok, y]) if ok.sum() > 2 else (np.nan, np.nan)
            rows.append({"source": source, "x": x, "y": y, "r": float(r), "p": float(p), "organs": int(ok.sum())})
    return pd.DataFrame(rows)


def baseline_volume_by_organ(values: pd.DataFrame, estimates: pd.DataFrame, volume_col: str = "V0") -> pd.DataFrame:
    """Fig. 2d as the paper tests it: Pearson r across organs of the median baseline volume with each parameter."""
    volume = estimates.groupby("organ")[volume_col].median()
    rows = []
    for source in [s for s in SOURCES if s in values]:
        table = wide(values, source).set_index("organ")
        for p in PARAMETERS:
            x = volume.reindex(table.index).to_numpy(float)
            y = table[p].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            r, pv = stats.pearsonr(x[ok], y[ok]) if ok.sum() > 2 else (np.nan, np.nan)
            rows.append({"source": source, "parameter": p, "r": float(r), "p": float(pv), "organs": int(ok.sum())})
    return pd.DataFrame(rows)


def shrinkage_bias(values: pd.DataFrame) -> pd.DataFrame:
    """How far the per-lesion organ medians sit from the truth, against the spread of the true organ values.

    ``slope``: the regression slope of the per-lesion organ medians on the true organ values (model scale);
    1 means no pull towards the population value, 0 means every organ looks the same.
    """
    rows = []
    for p in PARAMETERS:
        part = values[values["parameter"] == p]
        true_phi = to_phi(p, part["truth"].to_numpy(float))
        for source in [s for s in SOURCES[:2] if s in part]:
            est_phi = to_phi(p, part[source].to_numpy(float))
            slope = float(np.polyfit(true_phi, est_phi, 1)[0]) if len(part) > 2 else np.nan
            rows.append({"parameter": p, "source": source, "slope": slope})
    return pd.DataFrame(rows)
