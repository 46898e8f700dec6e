"""Mechanism 5: death with organ-specific risk (spec sections ``survival`` and ``organs.death_log_hazard``).

The death hazard is piecewise constant in time:

    h(t) = base x exp(line2_log_hazard [line 2] + age_log_hazard_per_decade (age - 60) / 10 + frailty)
             x exp(sum over organs o of beta_o [organ o has progressed by t]),

where an organ progresses at its first baseline-lesion progression or first new lesion (the truth, on the
calendar with the liver hub applied). beta_o (``organs.death_log_hazard``) is the organ's own weight: liver
progression weighs most, so a patient whose liver progresses early dies sooner, and each further
progressing organ adds its own weight, so disease progressing in many organs kills sooner than progression
confined to one. There is no term for the count of organs and none for the regrown volume.
"""

from __future__ import annotations

import numpy as np

from lesionmap.cohort.lesion_growth import organ_values

#: Stand-in for "never" in the piecewise sums (days; far beyond any data cut-off).
_NEVER_DAY = 1e7


def death_hazard_scale(values: dict, patients, frailty: np.ndarray) -> np.ndarray:
    """Each patient's hazard before any organ progresses (per day)."""
    surv = values["survival"]
    return surv["base_hazard"] * np.exp(
        surv["line2_log_hazard"] * (patients.line == 2)
        + surv["age_log_hazard_per_decade"] * (patients.age - 60.0) / 10.0
        + surv["frailty_sd"] * frailty
    )


def piecewise_event_times(
    scale: np.ndarray, change_day: np.ndarray, log_ratio: np.ndarray, draw: np.ndarray
) -> np.ndarray:
    """First event of h(t) = scale x exp(sum of ``log_ratio`` of the changes with ``change_day`` <= t).

    ``change_day`` and ``log_ratio`` are (patients x changes); inf days never happen. ``draw`` are unit
    exponentials; the result is inf when the cumulative hazard stays below the draw.
    """
    n = len(scale)
    days = np.minimum(np.where(np.isfinite(change_day), change_day, _NEVER_DAY), _NEVER_DAY)
    order = np.argsort(days, axis=1, kind="stable")
    days = np.take_along_axis(days, order, axis=1)
    ratio = np.take_along_axis(np.broadcast_to(log_ratio, change_day.shape), order, axis=1)
    starts = np.concatenate([np.zeros((n, 1)), days], axis=1)
    ends = np.concatenate([days, np.full((n, 1), _NEVER_DAY)], axis=1)
    rate = scale[:, None] * np.exp(np.concatenate([np.zeros((n, 1)), np.cumsum(ratio, axis=1)], axis=1))
    accumulated = np.cumsum(rate * (ends - starts), axis=1)
    segment = (accumulated < draw[:, None]).sum(axis=1)
    inside = segment < accumulated.shape[1]
    rows = np.flatnonzero(inside)
    j = segment[inside]
    before = np.where(j > 0, accumulated[rows, np.maximum(j - 1, 0)], 0.0)
    death = np.full(n, np.inf)
    death[rows] = starts[rows, j] + (draw[inside] - before) / rate[rows, j]
    return death


def death_times(
    values: dict, organs: list[str], patients, organ_progression: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Latent death day of each patient (inf beyond any horizon) from its organs' progression days."""
    frailty = rng.standard_normal(patients.n)
    beta = organ_values(values, "death_log_hazard", organs).astype(float)
    return piecewise_event_times(
        death_hazard_scale(values, patients, frailty),
        organ_progression,
        beta[None, :],
        rng.exponential(size=patients.n),
    )
