"""From a long measurement table to the arrays the estimator works on (lesions sorted, observations grouped).

The input has one row per lesion and scan: lesion id, time, observed volume and a below-LOQ flag (the
``measurements`` table of ``lesionmap.tables`` by default). Bad input raises an error that names the
column, the rows and the rule; rows are never dropped silently (M1 drops BLQ rows and counts them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lesionmap.tables import DEFAULT_LOQ_MM3

CENSORING_METHODS = ("M3", "M1")


@dataclass(frozen=True)
class GrowthData:
    """Observations of the likelihood, sorted by lesion then time.

    ``subject[i]`` is the lesion index (0..n_lesions-1) of observation i; ``time`` is as given (the model
    treats negative times as 0); ``y`` holds the LOQ on censored rows. ``baseline`` is each lesion's
    observed baseline volume (its first scan) when V0 is fixed at it, else None; the baseline row is then
    not part of the likelihood. ``frame`` keeps every input row (sorted) with ``obs_row`` pointing from
    likelihood observations to it, for predictions.
    """

    lesion_ids: pd.Index
    subject: np.ndarray
    time: np.ndarray
    y: np.ndarray
    censored: np.ndarray
    baseline: np.ndarray | None
    frame: pd.DataFrame
    obs_row: np.ndarray
    n_dropped_blq: int

    @property
    def n_lesions(self) -> int:
        return len(self.lesion_ids)

    @property
    def n_obs(self) -> int:
        return len(self.y)

    @property
    def n_censored(self) -> int:
        return int(self.censored.sum())


def _rows(mask: np.ndarray, frame: pd.DataFrame, limit: int = 5) -> str:
    """The first offending rows (original index labels) for an error message."""
    labels = list(frame.index[mask][:limit])
    more = int(mask.sum()) - len(labels)
    return f"{labels}" + (f" and {more} more" if more > 0 else "")


def prepare_growth_data(
    df: pd.DataFrame,
    *,
    lesion_col: str = "lesion_id",
    time_col: str = "day",
    value_col: str = "volume_mm3",
    censored_col: str = "blq",
    estimate_v0: bool = False,
    censoring: str = "M3",
    loq: float = DEFAULT_LOQ_MM3,
) -> GrowthData:
    """Validate the long table and build the likelihood arrays.

    Censored rows (``censored_col`` true) are censored at ``loq``, whatever ``value_col`` holds there (a small
    recorded size, 0, or nothing). With ``censoring="M1"`` they are dropped (and counted); with "M3" they stay in the likelihood.
    With ``estimate_v0=False`` each lesion's first row is its observed baseline volume, which must be
    quantified.
    """
    if censoring not in CENSORING_METHODS:
        raise ValueError(f"censoring must be one of {CENSORING_METHODS}, got {censoring!r}")
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in (lesion_col, time_col, value_col) if c not in df.columns]
    if missing:
        raise ValueError(f"input table has no column(s) {missing}; columns are {list(df.columns)}")
    if len(df) == 0:
        raise ValueError("input table is empty")

    censored = (
        df[censored_col].fillna(False).to_numpy(bool) if censored_col in df.columns else np.zeros(len(df), dtype=bool)
    )
    time = pd.to_numeric(df[time_col], errors="coerce").to_numpy(float)
    value = pd.to_numeric(df[value_col], errors="coerce").to_numpy(float)
    # a censored row's bound is the LOQ: a size recorded with it (a small diameter, or 0 for a lesion that
    # disappeared) is not used by the likelihood
    value = np.where(censored, loq, value)
    missing_id = df[lesion_col].isna().to_numpy()
    if missing_id.any():
        raise ValueError(f"column '{lesion_col}': missing lesion id in rows {_rows(missing_id, df)}")
    bad = ~np.isfinite(time)
    if bad.any():
        raise ValueError(f"column '{time_col}': missing or non-numeric time in rows {_rows(bad, df)}")
    bad = ~np.isfinite(value) | (value <= 0)
    if bad.any():
        raise ValueError(
            f"column '{value_col}': volumes must be positive numbers (censored rows hold the LOQ); "
            f"rows {_rows(bad, df)}"
        )

    frame = pd.DataFrame(
        {"lesion": df[lesion_col].to_numpy(), "time": time, "y": value, "censored": censored}, index=df.index
    )
    frame["position"] = np.arange(len(frame))
    frame = frame.sort_values(["lesion", "time"], kind="stable")
    codes, lesion_ids = pd.factorize(frame["lesion"], sort=True)
    duplicated = frame.duplicated(["lesion", "time"], keep=False).to_numpy()
    if duplicated.any():
        raise ValueError(
            f"columns '{lesion_col}', '{time_col}': a lesion has two scans at the same time, "
            f"rows {_rows(duplicated, frame)}"
        )

    first = np.r_[True, codes[1:] != codes[:-1]]
    in_likelihood = np.ones(len(frame), dtype=bool)
    baseline = None
    if not estimate_v0:
        censored_baseline = first & frame["censored"].to_numpy()
        if censored_baseline.any():
            raise ValueError(
                f"column '{censored_col}': V0 is fixed at the observed baseline, but the first scan "
                f"of some lesions is below the LOQ (rows {_rows(censored_baseline, frame)}); "
                "estimate V0 instead (estimate_v0=True)"
            )
        baseline = frame["y"].to_numpy()[first]
        in_likelihood &= ~first
    n_dropped = 0
    if censoring == "M1":
        cens = frame["censored"].to_numpy()
        n_dropped = int((cens & in_likelihood).sum())
        in_likelihood &= ~cens

    obs_row = np.flatnonzero(in_likelihood)
    kept = frame.iloc[obs_row]
    return GrowthData(
        lesion_ids=pd.Index(lesion_ids, name=lesion_col),
        subject=codes[obs_row].astype(np.int64),
        time=kept["time"].to_numpy(float),
        y=kept["y"].to_numpy(float),
        censored=kept["censored"].to_numpy(bool),
        baseline=baseline,
        frame=frame.assign(subject=codes),
        obs_row=obs_row,
        n_dropped_blq=n_dropped,
    )
