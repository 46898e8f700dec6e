"""One least-squares fit per series: the naive alternative to a mixed-effects model.

Each series (a lesion, or a patient's sum of diameters) is fitted alone with scipy's ``least_squares`` on
the log scale (proportional error), its baseline fixed at the first observed value, parameters Kd, F, Kg
on their model scale (log, logit, log). Values below the limit of quantification are kept at the limit.
This is the comparator of the benchmark and of the real-data appendix: with four or five points per
series, three parameters are often ill-determined, which is what a mixed-effects model is for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

_INITIAL = np.log([0.01]), np.log([0.1 / 0.9]), np.log([0.01])


def log_model_residuals(phi: np.ndarray, t: np.ndarray, log_y: np.ndarray, log_v0: float, jacobian: bool = False):
    """Residuals log V(t) - log y of the model at phi = (log Kd, logit F, log Kg), and with ``jacobian`` their
    derivatives (rows: times; columns: the three parameters).

    log V = log V0 + log(F e^{Kg t} + (1 - F) e^{-Kd t}) is computed as a log-sum-exp, so that a steep trial
    point of the optimiser overflows nowhere. With w_g and w_d the shares of the two terms in the sum, the
    derivatives are -t Kd w_d, (1 - F) w_g - F w_d and t Kg w_g.
    """
    kd, kg = np.exp(phi[0]), np.exp(phi[2])
    log_f, log_1mf = -np.logaddexp(0.0, -phi[1]), -np.logaddexp(0.0, phi[1])
    growth, decay = log_f + kg * t, log_1mf - kd * t
    log_sum = np.logaddexp(growth, decay)
    if not jacobian:
        return log_v0 + log_sum - log_y
    w_g, w_d = np.exp(growth - log_sum), np.exp(decay - log_sum)
    f = np.exp(log_f)
    return np.column_stack([-t * kd * w_d, (1.0 - f) * w_g - f * w_d, t * kg * w_g])


def _fit_one(t: np.ndarray, y: np.ndarray, v0: float):
    log_y, log_v0 = np.log(y), float(np.log(v0))
    start = np.concatenate(_INITIAL)
    lower, upper = np.array([-12.0, -12.0, -12.0]), np.array([2.0, 12.0, 2.0])
    result = least_squares(
        log_model_residuals,
        start,
        jac=lambda phi, *args: log_model_residuals(phi, *args, jacobian=True),
        bounds=(lower, upper),
        max_nfev=200,
        args=(t, log_y, log_v0),
    )
    kd, f, kg = np.exp(result.x[0]), 1 / (1 + np.exp(-result.x[1])), np.exp(result.x[2])
    at_bound = bool(np.any(np.minimum(result.x - lower, upper - result.x) < 1e-3))
    return kd, f, kg, bool(result.success and result.status > 0 and not at_bound)


def fit_each_series(
    frame: pd.DataFrame,
    id_col: str = "lesion_id",
    time_col: str = "day",
    value_col: str = "volume_mm3",
    censored_col: str = "blq",
) -> pd.DataFrame:
    """Fit every series alone; returns Kd, F, Kg, V0 and ``converged`` per series id.

    ``converged`` is False when the optimiser failed, stopped on a parameter bound (an estimate pushed to
    0 or infinity: the data do not determine it), or the series has fewer than three values.
    """
    rows = []
    ordered = frame.sort_values([id_col, time_col], kind="stable")
    for series_id, series in ordered.groupby(id_col, sort=True):
        t = series[time_col].to_numpy(float)
        y = np.maximum(series[value_col].to_numpy(float), 1e-6)
        kd, f, kg, converged = _fit_one(t, y, y[0])
        rows.append((series_id, kd, f, kg, y[0], converged and len(t) >= 3))
    return pd.DataFrame(rows, columns=[id_col, "Kd", "F", "Kg", "V0", "converged"]).set_index(id_col)
