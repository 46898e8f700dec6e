"""The outer search over log(variance): coxme's own path, or Brent's method to the exact maximum.

``coxme_search`` follows what coxme does, step for step: evaluate its grid of starting variances, then
minimise f(x) = -(1 + L_int(exp(x)) - L_cox) with R's ``optim(method = "BFGS")`` (Nash's variable-metric
algorithm, finite-difference gradient with step 1e-3, relative tolerance 1e-5), L_cox being the maximised
log partial likelihood of the model without the random effect. It stops where coxme stops, which on a flat
likelihood (few groups) can be a few tenths of a percent of the variance away from the exact maximum.
``brent_search`` brackets the maximum from the same grid and refines it with Brent's method.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from scipy import optimize

from lesionmap import logs

log = logging.getLogger(__name__)

#: coxme's starting grid for the variance (``coxme.control(varinit = c(.02, .1, .4, .8)^2)``).
START_VARIANCES = (0.02**2, 0.1**2, 0.4**2, 0.8**2)
#: coxme keeps log(variance) within +-36.
COXME_LOG_VARIANCE_LIMIT = 36.0
#: Half-width, on log(variance), of the first bracket of a warm-started Brent search.
WARM_BRACKET = 0.25
#: Brent's search stays within these variances.
BRENT_LOG_VARIANCE_BOUNDS = (float(np.log(1e-8)), float(np.log(100.0)))


def variable_metric_minimise(
    fn: Callable[[np.ndarray], float], x0, reltol: float = 1e-5, ndeps: float = 1e-3, max_iter: int = 100
) -> np.ndarray:
    """Minimise ``fn`` as R's ``optim(method = "BFGS")`` does, with its finite-difference gradient.

    Nash's variable-metric method (Compact Numerical Methods, 1990, Algorithm 21): BFGS updates of an inverse
    Hessian that restarts at the identity, backtracking by 0.2 until the Armijo condition (1e-4) holds,
    and a stop when a step changes f by no more than ``reltol`` (|f| + ``reltol``).
    """
    step_reduction, acceptance, reltest = 0.2, 1e-4, 10.0
    x = np.array(x0, dtype=float)
    n = len(x)

    def gradient(point: np.ndarray) -> np.ndarray:
        out = np.empty(n)
        for i in range(n):
            up, down = point.copy(), point.copy()
            up[i] += ndeps
            down[i] -= ndeps
            out[i] = (fn(up) - fn(down)) / (2.0 * ndeps)
        if not np.all(np.isfinite(out)):
            raise FloatingPointError("non-finite finite-difference gradient in the variance search")
        return out

    f_min = value = fn(x)
    if not np.isfinite(f_min):
        raise FloatingPointError("the variance search starts at a non-finite value")
    g = gradient(x)
    gradient_count, iteration, last_restart = 1, 1, 1
    inverse_hessian = np.eye(n)
    while True:
        if last_restart == gradient_count:
            inverse_hessian = np.eye(n)
        start, start_gradient = x.copy(), g.copy()
        direction = -inverse_hessian @ g
        slope = direction @ g
        if slope < 0:
            step = 1.0
            while True:
                x = start + step * direction
                unchanged = int(np.sum(reltest + start == reltest + x))
                accepted = False
                if unchanged < n:
                    value = fn(x)
                    accepted = bool(np.isfinite(value) and value <= f_min + slope * step * acceptance)
                    if not accepted:
                        step *= step_reduction
                if unchanged == n or accepted:
                    break
            if not abs(value - f_min) > reltol * (abs(f_min) + reltol):
                unchanged, f_min = n, value
            if unchanged < n:
                f_min = value
                g = gradient(x)
                gradient_count += 1
                iteration += 1
                moved = step * direction
                change = g - start_gradient
                d1 = moved @ change
                if d1 > 0:
                    projected = inverse_hessian @ change
                    d2 = 1.0 + (projected @ change) / d1
                    inverse_hessian = (
                        inverse_hessian
                        + (d2 * np.outer(moved, moved) - np.outer(projected, moved) - np.outer(moved, projected)) / d1
                    )
                else:
                    last_restart = gradient_count
            elif last_restart < gradient_count:
                unchanged, last_restart = 0, gradient_count
        else:
            unchanged = 0
            if last_restart == gradient_count:
                unchanged = n
            else:
                last_restart = gradient_count
        if iteration >= max_iter:
            break
        if gradient_count - last_restart > 2 * n:
            last_restart = gradient_count
        if unchanged == n and last_restart == gradient_count:
            break
    return x


def _counted(integrated: Callable[[float], float], bar) -> Callable[[float], float]:
    """``integrated``, ticking the progress bar at each evaluation (each is a full inner fit)."""

    def evaluate(log_variance: float) -> float:
        value = integrated(log_variance)
        bar.update()
        return value

    return evaluate


def coxme_search(integrated: Callable[[float], float], loglik_cox: float) -> float:
    """log(variance) where coxme's optimiser stops; ``integrated`` maps log(variance) to L_int (or -inf)."""
    limit = COXME_LOG_VARIANCE_LIMIT
    with logs.progress(desc="variance search (coxme)", unit="fit") as bar:
        counted = _counted(integrated, bar)

        def objective(x: np.ndarray) -> float:
            return -(1.0 + counted(float(np.clip(x[0], -limit, limit))) - loglik_cox)

        grid = np.log(START_VARIANCES)
        values = [objective(np.array([x])) for x in grid]
        start = grid[int(np.argmin(values))]
        result = float(np.clip(variable_metric_minimise(objective, [start])[0], -limit, limit))
        log.debug("coxme search: variance %.4g after %d evaluations", np.exp(result), bar.n)
    return result


def brent_search(integrated: Callable[[float], float], tol: float = 1e-6, start: float | None = None) -> float:
    """log(variance) maximising L_int: bracket from coxme's grid (extended if needed), then Brent's method.

    With ``start`` (a log variance, e.g. that of a nested model just fitted) the bracket is
    ``start`` +- ``WARM_BRACKET`` instead of the grid, extended the same way: a warm start where the maximum is
    known to lie near, which takes about half the evaluations of the grid.
    """
    with logs.progress(desc="variance search (Brent)", unit="fit") as bar:
        result = _brent_search(_counted(integrated, bar), tol, start)
        log.debug("Brent search: variance %.4g after %d evaluations", np.exp(result), bar.n)
    return result


def _brent_search(integrated: Callable[[float], float], tol: float, start: float | None = None) -> float:
    low, high = BRENT_LOG_VARIANCE_BOUNDS

    def objective(x: float) -> float:
        return -integrated(float(np.clip(x, low, high)))

    if start is None or not np.isfinite(start):
        grid = list(np.log(START_VARIANCES))
    else:
        centre = float(np.clip(start, low + WARM_BRACKET, high - WARM_BRACKET))
        grid = [centre - WARM_BRACKET, centre, centre + WARM_BRACKET]
    values = [objective(x) for x in grid]
    best = int(np.argmin(values))
    while best == len(grid) - 1 and grid[-1] < high:
        grid.append(min(grid[-1] + np.log(4.0), high))
        values.append(objective(grid[-1]))
        best = int(np.argmin(values))
    while best == 0 and grid[0] > low:
        grid.insert(0, max(grid[0] - np.log(10.0), low))
        values.insert(0, objective(grid[0]))
        best = int(np.argmin(values))
    if not 0 < best < len(grid) - 1:
        return float(grid[best])
    result = optimize.minimize_scalar(
        objective, bracket=(grid[best - 1], grid[best], grid[best + 1]), method="brent", tol=tol
    )
    return float(np.clip(result.x, low, high)) if result.fun <= values[best] else float(grid[best])
