"""The lesion growth model of the paper and its event times, vectorised over lesions.

V(t) = V0 [F e^{Kg t} + (1 - F) e^{-Kd t}] with t in days since the first dose (the volume is V0 before it).
The simulator uses these functions to generate volumes and the true times to lesion response and progression
(paper, Methods: response when the volume falls >= 20% below baseline; progression when it rises >= 30% or
>= 200 mm^3 above the nadir).
"""

from __future__ import annotations

import numpy as np

_BISECTION_STEPS = 60


def volume_ratio(t, Kd, F, Kg):
    """V(t) / V0; times before the first dose count as the first dose (the lesion is untreated)."""
    t = np.maximum(np.asarray(t, dtype=float), 0.0)
    return F * np.exp(Kg * t) + (1.0 - F) * np.exp(-Kd * t)


def nadir_time(Kd, F, Kg):
    """Day of the smallest volume: ln((1-F) Kd / (F Kg)) / (Kd + Kg), or 0 when the lesion never shrinks."""
    Kd, F, Kg = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (Kd, F, Kg)))
    with np.errstate(divide="ignore"):
        t = np.log((1.0 - F) * Kd / (F * Kg)) / (Kd + Kg)
    return np.maximum(t, 0.0)


def _bisect(ratio_minus_target, lo, hi):
    """Root of a function monotone on [lo, hi] (elementwise), by bisection; sign at ``lo`` sets the direction."""
    lo, hi = lo.copy(), hi.copy()
    sign_lo = np.sign(ratio_minus_target(lo))
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        same = np.sign(ratio_minus_target(mid)) == sign_lo
        lo = np.where(same, mid, lo)
        hi = np.where(same, hi, mid)
    return 0.5 * (lo + hi)


def time_to_response(Kd, F, Kg, drop=0.2):
    """First day the volume is ``drop`` below baseline; NaN for lesions that never shrink that far."""
    Kd, F, Kg = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (Kd, F, Kg)))
    t_nadir = nadir_time(Kd, F, Kg)
    target = 1.0 - drop
    reached = volume_ratio(t_nadir, Kd, F, Kg) <= target
    t = _bisect(lambda s: volume_ratio(s, Kd, F, Kg) - target, np.zeros_like(t_nadir), t_nadir)
    return np.where(reached, t, np.nan)


def progression_threshold(V0, Kd, F, Kg, rise=0.3, absolute=200.0):
    """V / V0 at which a lesion progresses: the smaller of (1 + rise) x nadir and nadir + absolute mm^3."""
    nadir = volume_ratio(nadir_time(Kd, F, Kg), Kd, F, Kg)
    return np.minimum((1.0 + rise) * nadir, nadir + absolute / np.asarray(V0, dtype=float))


def time_to_progression(V0, Kd, F, Kg, rise=0.3, absolute=200.0):
    """First day after the nadir the volume reaches the progression threshold (always finite: Kg > 0, F > 0)."""
    V0, Kd, F, Kg = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (V0, Kd, F, Kg)))
    t_nadir = nadir_time(Kd, F, Kg)
    threshold = progression_threshold(V0, Kd, F, Kg, rise, absolute)
    # F e^{Kg t} alone reaches the threshold by t_upper, so the full curve does too.
    t_upper = np.maximum(t_nadir, np.log(threshold / F) / Kg) + 1.0
    return _bisect(lambda s: volume_ratio(s, Kd, F, Kg) - threshold, t_nadir, t_upper)
