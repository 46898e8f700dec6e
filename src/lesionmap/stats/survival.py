"""Kaplan-Meier summaries, log-rank tests and the concordance of a grouping, over lifelines.

- ``km_medians``: median survival per group with its confidence interval. lifelines derives the interval of
  the median from the pointwise band of the curve (Greenwood variance on the log(-log) scale): the interval
  holds the times where the band crosses 0.5. A bound the band never reaches is infinite (not reached);
- ``km_curve``: the curve as a tidy step table (group, time, survival, ci_lower, ci_upper, at_risk, events,
  censored) starting at time 0, for an Altair ``interpolate="step-after"`` line;
- ``km_on_grid``: the same curves read every few days, small enough for a chart of thousands of patients (the
  book's one thinning of Kaplan-Meier curves);
- ``logrank``: log-rank test across two or more groups;
- ``group_concordance``: Harrell's C of a grouping for survival: a Cox model on the group dummies gives each
  group a risk, and the C-index compares that risk with the observed times. It is computed on the same
  patients the groups were made from, so it is optimistic; use it to compare groupings of one cohort.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceWarning
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import concordance_index, median_survival_times

from lesionmap.stats.frames import group_levels, require_columns
from lesionmap.stats.results import LogRankResult

#: Penalty of the Cox fit behind ``group_concordance``: tiny, so that a group with no event cannot make the
#: fit diverge, yet the order of the groups' risks (all the C-index uses) is that of the unpenalised fit.
CONCORDANCE_PENALIZER = 1e-4

#: Newton-Raphson step of that fit (lifelines' default is 0.95). Full steps overshoot when a group holds one or two
#: patients with an early death (NaN after a few steps: a ConvergenceError, seen with 150 patients at k = 13); half
#: steps reach the same optimum where full steps converge, and converge where they do not.
CONCORDANCE_STEP_SIZE = 0.5


def _survival_data(frame: pd.DataFrame, duration: str, event: str, group: str | None) -> pd.DataFrame:
    columns = [duration, event] + ([group] if group is not None else [])
    require_columns(frame, columns)
    data = frame[columns].copy()
    data[duration] = pd.to_numeric(data[duration], errors="coerce")
    keep = np.isfinite(data[duration].to_numpy(float)) & data[event].notna().to_numpy()
    if group is not None:
        keep &= data[group].notna().to_numpy()
    data = data[keep]
    if (data[duration] < 0).any():
        raise ValueError(f"negative survival times in {duration!r}")
    data[event] = data[event].astype(bool)
    return data


def _groups(data: pd.DataFrame, group: str | None):
    if group is None:
        return [("all", data)]
    labels = data[group]
    return [(level, data[labels == level]) for level in group_levels(labels)]


def _fit(part: pd.DataFrame, duration: str, event: str, alpha: float) -> KaplanMeierFitter:
    return KaplanMeierFitter(alpha=alpha).fit(part[duration], event_observed=part[event])


def km_medians(
    frame: pd.DataFrame,
    duration: str = "os_days",
    event: str = "os_event",
    group: str | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Kaplan-Meier median per group: group, n, events, median, ci_lower, ci_upper (inf: not reached)."""
    data = _survival_data(frame, duration, event, group)
    rows = []
    for level, part in _groups(data, group):
        fitter = _fit(part, duration, event, alpha)
        interval = median_survival_times(fitter.confidence_interval_).to_numpy(float).ravel()
        rows.append(
            {
                "group": level,
                "n": len(part),
                "events": int(part[event].sum()),
                "median": float(fitter.median_survival_time_),
                "ci_lower": float(interval[0]),
                "ci_upper": float(interval[1]),
            }
        )
    return pd.DataFrame(rows)


def km_curve(
    frame: pd.DataFrame,
    duration: str = "os_days",
    event: str = "os_event",
    group: str | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Kaplan-Meier curve(s) as a step table, one row per group and distinct time (time 0 included).

    Columns: group, time, survival, ci_lower, ci_upper, at_risk (just before the time), events, censored.
    Plot with ``mark_line(interpolate="step-after")``; the band with ``mark_area(interpolate="step-after")``.
    """
    data = _survival_data(frame, duration, event, group)
    pieces = []
    for level, part in _groups(data, group):
        fitter = _fit(part, duration, event, alpha)
        table = fitter.event_table
        band = fitter.confidence_interval_
        pieces.append(
            pd.DataFrame(
                {
                    "group": level,
                    "time": fitter.survival_function_.index.to_numpy(float),
                    "survival": fitter.survival_function_.iloc[:, 0].to_numpy(float),
                    "ci_lower": band.iloc[:, 0].to_numpy(float),
                    "ci_upper": band.iloc[:, 1].to_numpy(float),
                    "at_risk": table["at_risk"].to_numpy(int),
                    "events": table["observed"].to_numpy(int),
                    "censored": table["censored"].to_numpy(int),
                }
            )
        )
    return pd.concat(pieces, ignore_index=True)


def km_on_grid(
    frame: pd.DataFrame,
    duration: str = "os_days",
    event: str = "os_event",
    group: str | None = None,
    step: float = 7.0,
    horizon: float | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Kaplan-Meier curves (``km_curve``) read every ``step`` days from 0 up to ``horizon`` (the last time).

    Each grid day takes the value of the curve's last step on or before it, so a chart needs a few hundred rows
    per group whatever the number of distinct times, and the step shape is kept at that scale. Columns: group,
    time, survival, ci_lower, ci_upper, at_risk (at the last step on or before the grid day).
    """
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    curves = km_curve(frame, duration, event, group=group, alpha=alpha)
    end = horizon if horizon is not None else float(curves["time"].max())
    grid = np.arange(0.0, end + step, step)
    pieces = []
    for level, curve in curves.groupby("group", sort=False):
        index = np.searchsorted(curve["time"].to_numpy(float), grid, side="right") - 1
        index = index[index >= 0]
        sampled = curve.iloc[index][["survival", "ci_lower", "ci_upper", "at_risk"]].reset_index(drop=True)
        pieces.append(sampled.assign(time=grid[: len(index)], group=level))
    return pd.concat(pieces, ignore_index=True)[["group", "time", "survival", "ci_lower", "ci_upper", "at_risk"]]


def logrank(
    frame: pd.DataFrame, duration: str = "os_days", event: str = "os_event", group: str = "group"
) -> LogRankResult:
    """Log-rank test that all groups share one survival curve (chi-square with groups - 1 df)."""
    data = _survival_data(frame, duration, event, group)
    levels = [level for level, _ in _groups(data, group)]
    if len(levels) < 2:
        raise ValueError(f"the log-rank test needs two groups of {group!r}; found {levels}")
    result = multivariate_logrank_test(data[duration], data[group], data[event])
    return LogRankResult(
        statistic=float(result.test_statistic),
        p=float(result.p_value),
        df=int(result.degrees_of_freedom),
        n=len(data),
        events=int(data[event].sum()),
        groups=tuple(levels),
    )


def group_risks(
    frame: pd.DataFrame, duration: str = "os_days", event: str = "os_event", group: str = "group"
) -> pd.Series:
    """Each group's log hazard ratio against the largest group, from a Cox model on the group dummies."""
    data = _survival_data(frame, duration, event, group)
    levels = [level for level, _ in _groups(data, group)]
    if len(levels) < 2:
        return pd.Series(0.0, index=pd.Index(levels, name=group), name="log_hr")
    reference = data[group].value_counts().sort_index(key=lambda idx: idx.map(str)).idxmax()
    others = [level for level in levels if level != reference]
    dummies = pd.DataFrame({f"g{i}": (data[group] == level).to_numpy(float) for i, level in enumerate(others)})
    dummies["T"] = data[duration].to_numpy(float)
    dummies["E"] = data[event].to_numpy(bool)
    with warnings.catch_warnings():  # a small group without events separates: the penalty is there for it
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = CoxPHFitter(penalizer=CONCORDANCE_PENALIZER).fit(
            dummies, duration_col="T", event_col="E", fit_options={"step_size": CONCORDANCE_STEP_SIZE}
        )
    coefficients = fit.params_.to_numpy(float)
    risks = dict(zip(others, coefficients, strict=True)) | {reference: 0.0}
    return pd.Series([risks[level] for level in levels], index=pd.Index(levels, name=group), name="log_hr")


def group_concordance(
    frame: pd.DataFrame, duration: str = "os_days", event: str = "os_event", group: str = "group"
) -> float:
    """Harrell's C of a grouping for survival (0.5 for a single group or groups of equal risk)."""
    data = _survival_data(frame, duration, event, group)
    risks = group_risks(data, duration, event, group)
    score = data[group].map(risks).to_numpy(float)
    return float(concordance_index(data[duration].to_numpy(float), -score, data[event].to_numpy(bool)))
