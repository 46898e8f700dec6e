"""The inner problem: maximise the penalized partial likelihood at a fixed frailty variance.

PPL(w, b) = PL(w, b) - (b'b + w_d'w_d) / (2 variance), where b are the sparse groups' intercepts and w_d the
dense groups' (the first columns of the dense design). Newton-Raphson, with the Newton direction solved
exactly by conjugate gradients preconditioned with coxme's approximate information (diagonal sparse block),
so the iteration converges quadratically although the reported log-determinant and standard errors use
coxme's approximation, as coxme does.

``VarianceProfile`` solves the inner problem along a search over log(variance), starting each solve from the
nearest solved variance moved along the tangent of the solution path (implicit function theorem), so a
solve next to a known one takes one or two Newton steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from lesionmap.survival.riskset import Derivatives, RiskSetAlgebra

#: A Newton step shorter than this is the last one: the error after it is of the order of its square.
LAST_STEP = 1e-5


#: The largest change of any coefficient or random effect in one Newton step (log hazard ratio units).
MAX_STEP = 5.0


#: coxme's tolerance for a zero pivot of its generalized Cholesky decomposition (``coxme.control(toler.chol)``).
CHOLESKY_TOLERANCE = float(np.finfo(float).eps ** 0.75)


class InnerFitError(ArithmeticError):
    """The penalized fit failed at this variance (non-finite likelihood or information not positive definite)."""


class GeneralizedCholesky:
    """coxme's generalized Cholesky decomposition (``gchol``) of a symmetric matrix, S = L D L'.

    L is unit lower-triangular; a pivot below ``tolerance`` times the largest diagonal element (zero, negative,
    or lost to rounding) is set to zero with its column of L, and ``solve`` gives that component zero: a
    direction the information cannot identify (a patient-level covariate that the random effects absorb once
    the variance is large) is left where it is instead of failing the fit. Used where the ordinary Cholesky
    factorisation fails.
    """

    def __init__(self, matrix: np.ndarray, tolerance: float = CHOLESKY_TOLERANCE):
        a = np.asarray(matrix, dtype=float)
        n = len(a)
        lower, pivots = np.eye(n), np.zeros(n)
        smallest = tolerance * np.max(np.abs(np.diag(a)), initial=0.0)
        for j in range(n):
            pivot = a[j, j] - (lower[j, :j] ** 2) @ pivots[:j]
            if not pivot > smallest:
                continue
            pivots[j] = pivot
            lower[j + 1 :, j] = (a[j + 1 :, j] - lower[j + 1 :, :j] @ (pivots[:j] * lower[j, :j])) / pivot
        self.lower, self.pivots = lower, pivots
        self.rank = int(np.sum(pivots > 0))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """x with S x = rhs on the identified directions, 0 on the dropped ones (a vector or the columns of a matrix)."""
        y = linalg.solve_triangular(self.lower, rhs, lower=True, unit_diagonal=True, check_finite=False)
        scale = np.divide(1.0, self.pivots, out=np.zeros_like(self.pivots), where=self.pivots > 0)
        y = y * (scale if y.ndim == 1 else scale[:, None])
        return linalg.solve_triangular(self.lower.T, y, lower=False, unit_diagonal=True, check_finite=False)

    def logdet_leading(self, n: int) -> float:
        """Sum of the log pivots of the first ``n`` rows (NaN where one was dropped: no determinant to report)."""
        pivots = self.pivots[:n]
        return float(np.sum(np.log(pivots))) if np.all(pivots > 0) else float("nan")


class _CholeskyFactor:
    """The ordinary Cholesky factor, with the ``solve`` of ``GeneralizedCholesky``."""

    def __init__(self, matrix: np.ndarray):
        self.factor = linalg.cho_factor(matrix, lower=False, check_finite=False)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return linalg.cho_solve(self.factor, rhs, check_finite=False)

    def logdet_leading(self, n: int) -> float:
        """Sum of the log pivots (squared diagonal of the factor) of the first ``n`` rows."""
        return 2.0 * float(np.sum(np.log(np.abs(np.diag(self.factor[0])[:n]))))


class NewtonSystem:
    """The penalized information H = [[D + O, C], [C', A]] at one point, and the solution of H x = u.

    D is the diagonal of the sparse groups' block, O its off-diagonal part (applied as a product only),
    C the sparse-by-dense block and A the dense block with its penalty. coxme's approximation drops O;
    it is factorised here through the Schur complement S = A - C' D^-1 C and serves as the preconditioner.
    """

    def __init__(self, algebra: RiskSetAlgebra, der: Derivatives, penalty_w: np.ndarray, variance: float):
        self.algebra = algebra
        self.curvature = der.curvature
        sparse_groups = algebra.n_sparse > 0
        self.diag = der.info_bb_diag + 1.0 / variance if sparse_groups else np.zeros(0)
        self.info_bw = der.info_bw if sparse_groups else np.zeros((0, len(penalty_w)))
        self.dense = der.info_ww + np.diag(penalty_w)
        self.scaled = self.info_bw / self.diag[:, None]
        self.factor = None
        if len(penalty_w):
            schur = self.dense - self.info_bw.T @ self.scaled
            try:
                self.factor = _CholeskyFactor(schur)
            except linalg.LinAlgError:
                # coxme factorises with its generalized Cholesky, which drops a direction it cannot identify
                self.factor = GeneralizedCholesky(schur)
                if not np.all(np.isfinite(self.factor.lower)) or self.factor.rank == 0:
                    raise InnerFitError(
                        f"penalized information not positive definite at variance {variance:g}"
                    ) from None

    def approximate_solve(self, u_b: np.ndarray, u_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Solve coxme's approximate system (O dropped) through the Schur complement."""
        x_w = self.factor.solve(u_w - self.scaled.T @ u_b) if self.factor is not None else np.zeros(0)
        return u_b / self.diag - self.scaled @ x_w, x_w

    def product(self, p_b: np.ndarray, p_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The exact penalized information times (p_b, p_w)."""
        h_b = self.diag * p_b + self.info_bw @ p_w + self.algebra.offdiagonal_product(self.curvature, p_b)
        return h_b, self.info_bw.T @ p_b + self.dense @ p_w

    def solve(self, u_b: np.ndarray, u_w: np.ndarray, tol: float, relative: float | None = None, max_iter: int = 100):
        """x = H^-1 u by preconditioned conjugate gradients (the approximate solve is exact without sparse groups).

        Stops when the preconditioned residual is below ``relative`` times the solution (default: the size of
        the solution itself, capped at 1e-3: an inexact Newton step that keeps the convergence quadratic).
        """
        x_b, x_w = self.approximate_solve(u_b, u_w)
        if self.curvature is None:
            return x_b, x_w
        h_b, h_w = self.product(x_b, x_w)
        r_b, r_w = u_b - h_b, u_w - h_w
        z_b, z_w = self.approximate_solve(r_b, r_w)
        p_b, p_w = z_b, z_w
        rz = r_b @ z_b + r_w @ z_w
        for _ in range(max_iter):
            size = max(np.max(np.abs(x_b), initial=0.0), np.max(np.abs(x_w), initial=0.0))
            forcing = min(1e-3, size) if relative is None else relative
            if max(np.max(np.abs(z_b), initial=0.0), np.max(np.abs(z_w), initial=0.0)) <= forcing * size + 0.1 * tol:
                break
            h_b, h_w = self.product(p_b, p_w)
            curvature = p_b @ h_b + p_w @ h_w
            if not curvature > 0:
                raise InnerFitError("penalized information not positive definite along a conjugate direction")
            alpha = rz / curvature
            x_b, x_w = x_b + alpha * p_b, x_w + alpha * p_w
            r_b, r_w = r_b - alpha * h_b, r_w - alpha * h_w
            z_b, z_w = self.approximate_solve(r_b, r_w)
            rz_next = r_b @ z_b + r_w @ z_w
            p_b, p_w = z_b + (rz_next / rz) * p_b, z_w + (rz_next / rz) * p_w
            rz = rz_next
        return x_b, x_w

    def inverse_dense(self) -> np.ndarray:
        """Block of coxme's approximate inverse information for the dense coefficients ([dense groups | beta])."""
        if self.factor is None:
            return np.zeros((0, 0))
        return self.factor.solve(np.eye(self.dense.shape[0]))

    def trace_inverse_groups(self, n_dense_groups: int) -> float:
        """Trace of the random-effect block of coxme's approximate inverse information.

        The sparse diagonal of H^-1 is 1/D + rowsums((D^-1 C) S^-1 * (D^-1 C)); the dense groups' part is the
        top block of S^-1.
        """
        inverse = self.inverse_dense()
        sparse_part = float(np.sum(1.0 / self.diag) + np.sum((self.scaled @ inverse) * self.scaled))
        return sparse_part + float(np.trace(inverse[:n_dense_groups, :n_dense_groups]))


@dataclass
class PenalizedFit:
    """The penalized fit at one variance."""

    variance: float
    w: np.ndarray
    b: np.ndarray
    loglik_partial: float
    loglik_penalized: float
    logdet_groups: float
    system: NewtonSystem
    n_groups: int
    iterations: int
    converged: bool
    stale: bool = False

    @property
    def loglik_integrated(self) -> float:
        """Laplace-approximated integrated log partial likelihood: PPL - (q log variance + log det H_bb) / 2."""
        return self.loglik_penalized - 0.5 * (self.n_groups * np.log(self.variance) + self.logdet_groups)


class PenalizedProblem:
    """One data set's penalized problem: coefficients w on the dense design [dense-group indicators | X], b."""

    def __init__(self, algebra: RiskSetAlgebra, n_dense_groups: int, tol: float = 1e-9, max_iter: int = 50):
        self.algebra = algebra
        self.n_dense_groups = n_dense_groups
        self.n_groups = algebra.n_sparse + n_dense_groups
        self.n_dense = algebra.W.shape[1]
        self.recenter = algebra.n_sparse > 0
        self.tol = tol
        self.max_iter = max_iter

    def _penalty_weights(self, variance: float) -> np.ndarray:
        weights = np.zeros(self.n_dense)
        weights[: self.n_dense_groups] = 1.0 / variance
        return weights

    def _recentered(self, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shift all group intercepts to mean zero (as coxme does between steps; true at the solution)."""
        if not self.recenter:
            return w, b
        nd = self.n_dense_groups
        center = (b.sum() + w[:nd].sum()) / self.n_groups
        return np.concatenate([w[:nd] - center, w[nd:]]), b - center

    def _fit(self, variance, w, b, ppl, loglik, system, iterations, converged, diag=None) -> PenalizedFit:
        diag = system.diag if diag is None else diag
        logdet = float(np.sum(np.log(diag)))
        if self.n_dense_groups:
            logdet += system.factor.logdet_leading(self.n_dense_groups)
        return PenalizedFit(variance, w, b, loglik, ppl, logdet, system, self.n_groups, iterations, converged)

    def solve(self, variance: float, w: np.ndarray | None = None, b: np.ndarray | None = None) -> PenalizedFit:
        """Maximise PPL at a fixed variance from (w, b) (zeros by default), halving steps that lower PPL.

        Converged when the largest step is below ``tol``, or when PPL no longer changes (relative 1e-11; coxme stops at 1e-8): a
        coefficient drifting to infinity (no event in a category) then stops where coxph and coxme stop.
        A last step shorter than ``LAST_STEP`` (after which the error is of order its square) is taken
        without a second-order evaluation: PPL and the diagonal D are computed at the new point, and the fit
        keeps the previous point's information (``stale``; see ``refresh``).
        """
        nd = self.n_dense_groups
        w = np.zeros(self.n_dense) if w is None else np.asarray(w, dtype=float)
        b = np.zeros(self.algebra.n_sparse) if b is None else np.asarray(b, dtype=float)
        penalty_w = self._penalty_weights(variance)
        best = None
        for iterations in range(1, self.max_iter + 1):
            der = self.algebra.evaluate(w, b)
            ppl = der.loglik - 0.5 * (b @ b + w[:nd] @ w[:nd]) / variance
            if best is None and not np.isfinite(ppl):
                raise InnerFitError(f"non-finite partial likelihood at variance {variance:g}")
            if best is not None and not ppl >= best[2] - 1e-12 * (1.0 + abs(best[2])):
                w, b = 0.5 * (w + best[0]), 0.5 * (b + best[1])
                continue
            system = NewtonSystem(self.algebra, der, penalty_w, variance)
            u_b, u_w = der.score_b - b / variance, der.score_w - penalty_w * w
            step_b, step_w = system.solve(u_b, u_w, self.tol)
            flat = best is not None and abs(ppl - best[2]) <= 1e-11 * (1.0 + abs(ppl))
            best = (w, b, ppl, der.loglik, system)
            size = max(np.max(np.abs(step_w), initial=0.0), np.max(np.abs(step_b), initial=0.0))
            if flat or size < self.tol:
                return self._fit(variance, w, b, ppl, der.loglik, system, iterations, True)
            if size > MAX_STEP:
                # a near-singular direction (a level with one lesion, or no events) asks for a huge step that
                # overflows exp(eta): walk towards it instead (the solution, where finite, is unchanged)
                step_w, step_b = step_w * (MAX_STEP / size), step_b * (MAX_STEP / size)
            w, b = self._recentered(w + step_w, b + step_b)
            if size < LAST_STEP and nd == 0 and self.algebra.n_sparse:
                loglik, diag = self.algebra.loglik_and_group_diagonal(w, b)
                new_ppl = loglik - 0.5 * (b @ b) / variance
                predicted_gain = 0.5 * (u_b @ step_b + u_w @ step_w)
                if abs(new_ppl - ppl - predicted_gain) <= 1e-3 * abs(predicted_gain) + 1e-12 * (1.0 + abs(ppl)):
                    fit = self._fit(variance, w, b, new_ppl, loglik, system, iterations, True, diag + 1.0 / variance)
                    fit.stale = True
                    return fit
        w, b, ppl, loglik, system = best
        return self._fit(variance, w, b, ppl, loglik, system, self.max_iter, False)

    def refresh(self, fit: PenalizedFit) -> PenalizedFit:
        """The fit with its information evaluated at its own point (for standard errors)."""
        if not fit.stale:
            return fit
        der = self.algebra.evaluate(fit.w, fit.b)
        system = NewtonSystem(self.algebra, der, self._penalty_weights(fit.variance), fit.variance)
        return self._fit(
            fit.variance, fit.w, fit.b, fit.loglik_penalized, fit.loglik_partial, system, fit.iterations, fit.converged
        )

    def tangent(self, fit: PenalizedFit) -> tuple[np.ndarray, np.ndarray]:
        """d(w, b) / d log(variance) at a solution: H^-1 [b / variance; w_d / variance; 0]."""
        step_b, step_w = fit.system.solve(
            fit.b / fit.variance, self._penalty_weights(fit.variance) * fit.w, self.tol, relative=1e-4
        )
        return step_w, step_b


@dataclass
class _Solved:
    """What the profile keeps of a solved variance: the solution, L_int and the path's tangent there."""

    w: np.ndarray
    b: np.ndarray
    value: float
    tangent: tuple | None


class VarianceProfile:
    """L_int as a function of log(variance), with warm starts predicted along the solution path.

    Keeps only the coefficients of each solved variance and the full fit of the best one. The first solve
    starts from ``start_w`` (e.g. the fit without random effects) and zero random effects.
    """

    def __init__(self, problem: PenalizedProblem, start_w: np.ndarray | None = None):
        self.problem = problem
        self.start_w = start_w
        self.solved: dict[float, _Solved] = {}
        self.best: tuple[float, PenalizedFit] | None = None

    def _start(self, log_variance: float):
        usable = [x for x, record in self.solved.items() if record.tangent is not None]
        if not usable:
            return self.start_w, None
        nearest = min(usable, key=lambda x: abs(x - log_variance))
        record = self.solved[nearest]
        delta = float(np.clip(log_variance - nearest, -1.0, 1.0))  # a far jump moves one unit along the tangent
        tangent_w, tangent_b = record.tangent
        return record.w + delta * tangent_w, record.b + delta * tangent_b

    def _attempt(self, log_variance: float, w, b):
        """Solve at one variance from (w, b): (fit, L_int, usable); (None, -inf, False) where it fails."""
        try:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                fit = self.problem.solve(float(np.exp(log_variance)), w, b)
                value = fit.loglik_integrated
        except InnerFitError:
            return None, -np.inf, False
        return fit, value, bool(fit.converged and np.isfinite(value))

    def _first_usable(self, log_variance: float, start: tuple):
        """``_attempt`` from ``start``, then from the fit without random effects, then from zeros.

        A warm start extrapolated along the path, or the fit without random effects, can overflow where a
        coefficient drifts to infinity (a category without events, or with events only). Returns the first
        usable attempt, or the last one.
        """
        tried = []
        for w, b in (start, (self.start_w, None), (None, None)):
            if any(w is w_tried and b is b_tried for w_tried, b_tried in tried):
                continue
            tried.append((w, b))
            fit, value, usable = self._attempt(log_variance, w, b)
            if usable:
                break
        return fit, value, usable

    def _solve(self, log_variance: float) -> None:
        fit, value, usable = self._first_usable(log_variance, self._start(log_variance))
        if fit is None:
            self.solved[log_variance] = _Solved(np.zeros(0), np.zeros(0), -np.inf, None)
            return
        tangent = self._tangent(fit) if usable else None
        self.solved[log_variance] = _Solved(fit.w, fit.b, value if usable else -np.inf, tangent)
        if usable and (self.best is None or value > self.best[1].loglik_integrated):
            self.best = (log_variance, fit)

    def _tangent(self, fit: PenalizedFit):
        """The path's tangent at a usable fit, or None where the information is not positive definite along it
        (the tangent only warm-starts neighbouring variances; without it they start from another solved
        variance or from the fit without random effects)."""
        try:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                return self.problem.tangent(fit)
        except InnerFitError:
            return None

    def integrated(self, log_variance: float) -> float:
        """L_int at exp(log_variance); -inf where the inner fit fails."""
        if log_variance not in self.solved:
            self._solve(log_variance)
        return self.solved[log_variance].value

    def fit_at(self, log_variance: float) -> PenalizedFit:
        """The full penalized fit at a solved (or new) log(variance), its information at its own point."""
        if self.best is not None and self.best[0] == log_variance:
            return self.problem.refresh(self.best[1])
        record = self.solved.get(log_variance)
        start = (record.w, record.b) if record is not None and record.tangent is not None else self._start(log_variance)
        fit, _, usable = self._first_usable(log_variance, start)
        if not usable:
            raise InnerFitError(f"the penalized fit did not converge at variance {np.exp(log_variance):g}")
        return self.problem.refresh(fit)

    @property
    def evaluations(self) -> int:
        """Number of variances solved."""
        return len(self.solved)
