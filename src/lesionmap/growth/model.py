"""The lesion growth model of the paper and the event times it implies, vectorised over lesions.

V(t) = V0 [F e^{Kg t} + (1 - F) e^{-Kd t}] (paper, Methods), t in days since the first dose; before the
first dose the lesion is untreated and keeps its baseline volume V0. The curve is a sum of two convex
exponentials, so it falls to a single nadir and rises after it: the nadir has a closed form and each
threshold crossing is found by Newton's method, which converges monotonically on a convex curve when
started on the far side of the root (no bracketing, no overshoot).

Response: the predicted volume falls 20% below V0. Progression: it rises 30% above the nadir or 200 mm^3
above it, whichever comes first (paper, Methods). Both are searched only up to a per-lesion horizon (the
end of follow-up); a threshold not reached by then gives NaN.
"""

from __future__ import annotations

import numpy as np

from lesionmap.tables import DEFAULT_LOQ_MM3, VOLUME_COEFFICIENT

_NEWTON_STEPS = 60
_RELATIVE_TOLERANCE = 1e-12


def volume_from_diameter(diameter_mm):
    """Lesion volume (mm^3) from its longest diameter (mm): V = 0.2914 L^3 (``lesionmap.tables``)."""
    return VOLUME_COEFFICIENT * np.asarray(diameter_mm, dtype=float) ** 3


def diameter_from_volume(volume_mm3):
    """Longest diameter (mm) of a lesion of the given volume: the inverse of ``volume_from_diameter``."""
    return np.cbrt(np.asarray(volume_mm3, dtype=float) / VOLUME_COEFFICIENT)


def _arrays(*values):
    return np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values))


def volume_ratio(t, Kd, F, Kg):
    """V(t) / V0; times before the first dose count as the first dose."""
    t = np.maximum(np.asarray(t, dtype=float), 0.0)
    with np.errstate(over="ignore"):
        return F * np.exp(Kg * t) + (1.0 - F) * np.exp(-Kd * t)


def predict_volume(t, V0, Kd, F, Kg):
    """Predicted volume V(t) (same unit as V0), broadcast over any shapes of its arguments."""
    return np.asarray(V0, dtype=float) * volume_ratio(t, Kd, F, Kg)


def nadir(V0, Kd, F, Kg):
    """Time and volume of the smallest predicted volume.

    dV/dt = 0 at t* = ln((1 - F) Kd / (F Kg)) / (Kd + Kg); a lesion whose curve starts rising (t* <= 0,
    or F = 1) has its nadir at t = 0 with volume V0; a lesion that never regrows (F = 0 or Kg = 0) has
    t* = inf and a nadir volume V0 F (the limit). Returns ``(time, volume)`` arrays.
    """
    V0, Kd, F, Kg = _arrays(V0, Kd, F, Kg)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = np.log((1.0 - F) * Kd / (F * Kg)) / (Kd + Kg)
    t = np.where(np.isnan(t), 0.0, np.maximum(t, 0.0))
    with np.errstate(invalid="ignore"):
        volume = np.where(np.isinf(t), V0 * F, V0 * volume_ratio(np.where(np.isinf(t), 0.0, t), Kd, F, Kg))
    return t, volume


def _newton_crossing(t_start, target, Kd, F, Kg):
    """Where the convex curve V/V0 crosses ``target``, by Newton's method from ``t_start``.

    ``t_start`` must lie on the far side of the root (left of it on the falling branch, right of it on
    the rising branch); each step then moves towards the root without passing it.
    """
    t = t_start.copy()
    active = np.isfinite(t)
    for _ in range(_NEWTON_STEPS):
        if not active.any():
            break
        ta, kd, f, kg = t[active], Kd[active], F[active], Kg[active]
        grow, decay = f * np.exp(kg * ta), (1.0 - f) * np.exp(-kd * ta)
        slope = kg * grow - kd * decay
        step = (grow + decay - target[active]) / slope
        t_new = ta - step
        t[active] = t_new
        still = np.abs(step) > _RELATIVE_TOLERANCE * np.maximum(np.abs(t_new), 1.0)
        active[np.flatnonzero(active)[~still]] = False
    return t


def time_to_response(Kd, F, Kg, drop=0.2, horizon=None):
    """First time the predicted volume is ``drop`` (20%) below baseline; NaN if not reached by ``horizon``.

    ``horizon`` (per lesion or scalar; default: no limit) is the end of follow-up. Lesions whose nadir
    stays above (1 - drop) V0 never respond.
    """
    Kd, F, Kg = _arrays(Kd, F, Kg)
    limit = np.full(Kd.shape, np.inf) if horizon is None else np.broadcast_to(np.asarray(horizon, float), Kd.shape)
    t_nadir, ratio_nadir = nadir(1.0, Kd, F, Kg)
    target = np.full(Kd.shape, 1.0 - drop)
    reached = (ratio_nadir <= target) & (target < 1.0)
    start = np.where(reached, 0.0, np.nan)
    t = _newton_crossing(start.ravel(), target.ravel(), Kd.ravel(), F.ravel(), Kg.ravel()).reshape(Kd.shape)
    return np.where(reached & (t <= limit), t, np.nan)


def progression_threshold(V0, Kd, F, Kg, rise=0.3, absolute=DEFAULT_LOQ_MM3):
    """V / V0 at which a lesion progresses: the smaller of (1 + rise) x nadir and nadir + ``absolute`` mm^3."""
    V0 = np.asarray(V0, dtype=float)
    _, nadir_volume = nadir(V0, Kd, F, Kg)
    return np.minimum((1.0 + rise) * nadir_volume, nadir_volume + absolute) / V0


def time_to_progression(V0, Kd, F, Kg, rise=0.3, absolute=DEFAULT_LOQ_MM3, horizon=None):
    """First time after the nadir the volume reaches the progression threshold; NaN if not by ``horizon``.

    The threshold is the smaller of (1 + ``rise``) x nadir and nadir + ``absolute`` mm^3. A lesion that
    never regrows (F = 0 or Kg = 0), or whose nadir comes after the horizon, never progresses.
    """
    V0, Kd, F, Kg = _arrays(V0, Kd, F, Kg)
    limit = np.full(Kd.shape, np.inf) if horizon is None else np.broadcast_to(np.asarray(horizon, float), Kd.shape)
    t_nadir, _ = nadir(V0, Kd, F, Kg)
    threshold = progression_threshold(V0, Kd, F, Kg, rise, absolute)
    regrows = (F > 0) & (Kg > 0) & np.isfinite(t_nadir) & (t_nadir <= limit)
    with np.errstate(divide="ignore", invalid="ignore"):
        # F e^{Kg t} alone reaches the threshold by t_upper, so the whole curve has crossed it there.
        t_upper = np.maximum(t_nadir, np.log(threshold / F) / Kg)
    start = np.where(regrows, t_upper, np.nan)
    t = _newton_crossing(start.ravel(), threshold.ravel(), Kd.ravel(), F.ravel(), Kg.ravel()).reshape(Kd.shape)
    t = np.maximum(t, t_nadir)
    return np.where(regrows & (t <= limit), t, np.nan)
