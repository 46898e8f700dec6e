"""The conditional likelihood p(y_i | phi_i), vectorised over lesions, chains and observations.

``ChainLikelihood`` serves the MCMC of the SAEM: observations of all lesions and chains lie in one flat
array grouped by subject (subject = chain x lesion), per-subject sums are ``np.bincount`` reductions, and
the exponentials e^{Kg t} and e^{-Kd t} of the current state are cached so that a proposal that moves one
parameter recomputes only what it changes (moving F or V0 costs no exponential at all). It works in float32
(NumPy's float32 exp and log are SIMD-vectorised, float64's are not here); sums are float64.

Below the LOQ (M3, Beal 2001) an observation contributes log Phi((LOQ - f) / g(f)), with g(f) = b f
(proportional error) or a + b f (combined error). Everything else here (the conditional mode, the
log-likelihood by importance sampling, the derivatives for the Fisher information) works in float64.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit, gammaln, log_ndtr, ndtri, ndtri_exp
from scipy.stats import chi2, qmc

from lesionmap.growth.data import GrowthData
from lesionmap.growth.parameters import TRANSFORMS

_EXP_LIMIT = 80.0  # exponents are clipped here: float32 exp overflows at 88.7 and underflows to subnormals
_F_FLOOR = 1e-30  # F is kept in [1e-30, 1 - 1e-7] so that float32 never sees subnormals
_F_CEIL = 1.0 - 1e-7
_TINY = 1e-30
_EXP_LIMIT_64 = 300.0  # float64 exponents are clipped here so that predictions stay finite
_F_MAX = {"f": 1e30, "d": 1e250}  # largest prediction kept in the importance sampler, by dtype
_LOG_2PI = float(np.log(2.0 * np.pi))


def inverse_mills(c):
    """phi(c) / Phi(c), stable in both tails."""
    c = np.asarray(c, dtype=float)
    return np.exp(-0.5 * c * c - 0.5 * _LOG_2PI - log_ndtr(c))


def natural_parameters(phi: np.ndarray, names, fixed_v0: np.ndarray | None) -> dict:
    """Per-subject natural-scale parameters (float64) from phi (parameters x subjects), clipped for float32."""
    out = {}
    for i, name in enumerate(names):
        if TRANSFORMS[name] == "logit":
            out[name] = np.clip(expit(phi[i]), _F_FLOOR, _F_CEIL)
        else:
            out[name] = np.exp(np.clip(phi[i], -_EXP_LIMIT, _EXP_LIMIT))
    if "V0" not in out:
        out["V0"] = fixed_v0
    return out


def log_density_residual(f, y, censored, a, b):
    """Log density of each observation given its prediction f (float64, with constants).

    ``f`` may carry leading axes (samples); ``y`` and the boolean ``censored`` run along its last axis.
    Quantified: normal with sd g = a + b f. Censored (y holds the LOQ): log Phi((LOQ - f) / g).
    """
    g = np.maximum(a + b * f, _TINY)
    z = (y - f) / g
    out = -0.5 * _LOG_2PI - np.log(g) - 0.5 * z * z
    columns = np.flatnonzero(censored)
    if len(columns):
        out[..., columns] = log_ndtr(z[..., columns])
    return out


def dloglik_df(f, y, censored, a, b):
    """d log p(y | f) / d f for each observation (float64); see ``log_density_residual``."""
    g = np.maximum(a + b * f, _TINY)
    e = y - f
    quantified = -b / g + e / g**2 + e * e * b / g**3
    c = e / g
    censored_term = inverse_mills(c) * (-(1.0 + c * b) / g)
    return np.where(censored, censored_term, quantified)


def residual_derivatives(f, y, censored, a, b, error_model: str):
    """First and second derivatives of log p(y | f) in the residual-error parameters, per observation.

    Returns ``(first, second)``: ``first`` has one row per error parameter ((b,) for proportional error,
    (a, b) for combined), ``second`` the matching products (b,b) or (a,a), (a,b), (b,b). Works through
    g = a + b f: dg/da = 1, dg/db = f.
    """
    g = np.maximum(a + b * f, _TINY)
    e = y - f
    q1 = -1.0 / g + e * e / g**3
    q2 = 1.0 / g**2 - 3.0 * e * e / g**4
    if censored.any():
        c = e[censored] / g[censored]
        lam = inverse_mills(c)
        gc = g[censored]
        q1[censored] = -lam * c / gc
        q2[censored] = -lam * (c + lam) * c * c / gc**2 + 2.0 * lam * c / gc**2
    if error_model == "proportional":
        return np.stack([q1 * f]), np.stack([q2 * f * f])
    return np.stack([q1, q1 * f]), np.stack([q2, q2 * f, q2 * f * f])


# Coefficients of the Chebyshev-fitted erfc of Numerical Recipes (erfcc): erfc(z) = t exp(-z^2 + P(t)),
# t = 1 / (1 + z / 2), with a relative error below 1.2e-7 for every z >= 0.
_ERFC_COEFFICIENTS = (
    0.17087277,
    -0.82215223,
    1.48851587,
    -1.13520398,
    0.27886807,
    -0.18628806,
    0.09678418,
    0.37409196,
    1.00002368,
    -1.26551223,
)


def _log_ndtr_fast(c: np.ndarray) -> np.ndarray:
    """log Phi(c) in float32 for the MCMC, from the erfc approximation above (no exp in the lower tail).

    Relative error under 1e-5 of ``scipy.special.log_ndtr`` over the whole line, several times faster.
    """
    c = np.asarray(c, dtype=np.float32)
    z = np.abs(c)
    z *= np.float32(1.0 / math.sqrt(2.0))
    t = z * np.float32(0.5)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = np.full_like(t, np.float32(_ERFC_COEFFICIENTS[0]))
    for coefficient in _ERFC_COEFFICIENTS[1:]:
        poly *= t
        poly += np.float32(coefficient)
    z *= z
    log_tail = np.log(t)
    log_tail -= z
    log_tail += poly
    log_tail -= np.float32(math.log(2.0))  # log Phi(-|c|)
    upper = c > 0
    if upper.any():
        log_tail[upper] = np.log1p(-np.exp(log_tail[upper]))
    return log_tail


class SubjectState:
    """Natural parameters of every subject in float32 (what the observation arrays need).

    ``v0_terms`` caches the part of -log p that depends on V0 alone (pre-dose rows and, for proportional
    error, sum log V0 over quantified rows), valid for residual error ``v0_terms_b``.
    """

    __slots__ = ("Kd", "F", "Kg", "inv_v0", "log_v0", "v0_terms", "v0_terms_b")

    def __init__(self, Kd, F, Kg, inv_v0, log_v0, v0_terms=None, v0_terms_b=None):
        self.Kd, self.F, self.Kg, self.inv_v0, self.log_v0 = Kd, F, Kg, inv_v0, log_v0
        self.v0_terms, self.v0_terms_b = v0_terms, v0_terms_b

    def replaced(self, **changes) -> SubjectState:
        values = {k: getattr(self, k) for k in self.__slots__}
        if "inv_v0" in changes and "v0_terms" not in changes:
            values.update(v0_terms=None, v0_terms_b=None)
        values.update(changes)
        return SubjectState(**values)


class ChainLikelihood:
    """log p(y_i | phi_i) for every subject (chain x lesion) at once, without constants, for the MCMC.

    Observations of chain c are the data's observations with subject index c * n_lesions + lesion.
    The MCMC state keeps e^{Kg t} (``g``) and e^{-Kd t} (``d``) per observation; a proposal recomputes
    only the exponentials of the parameters it moves.
    """

    def __init__(self, data: GrowthData, names, n_chains: int, error_model: str, dtype=np.float32):
        self.names = tuple(names)
        self.n_lesions = data.n_lesions
        self.n_chains = int(n_chains)
        self.n_subjects = self.n_lesions * self.n_chains
        self.error_model = error_model
        self.dtype = np.dtype(dtype)
        offsets = self.n_lesions * np.arange(self.n_chains)
        subject = (data.subject[None, :] + offsets[:, None]).ravel()
        time = np.tile(np.maximum(data.time, 0.0), self.n_chains)
        y = np.tile(data.y, self.n_chains)
        censored = np.tile(data.censored, self.n_chains)
        # Before the first dose V = V0: those rows depend on V0 alone and skip the exponentials.
        post = time > 0
        self.subject = subject[post]
        self.time = time[post].astype(self.dtype)
        self.neg_time = (-time[post]).astype(self.dtype)
        self.y = y[post].astype(self.dtype)
        self.censored_index = np.flatnonzero(censored[post])
        self.censored_subject = self.subject[self.censored_index]
        self.y_censored = self.y[self.censored_index]
        self.pre_subject = subject[~post]
        self.pre_y = y[~post].astype(self.dtype)
        self.pre_censored = censored[~post]
        # Every observation, post rows first: for predictions and the residual-error statistics.
        self.subject_all = np.concatenate([self.subject, self.pre_subject])
        self.y_all = np.concatenate([self.y, self.pre_y])
        self.censored_all = np.concatenate([censored[post], self.pre_censored])
        self.n_quantified = np.bincount(subject[~censored], minlength=self.n_subjects).astype(float)
        self.fixed_v0 = None if data.baseline is None else np.tile(data.baseline, self.n_chains)
        self.n_obs = len(y)

    # -- per-subject natural parameters -----------------------------------------------------------------
    def natural(self, name: str, phi_row: np.ndarray) -> np.ndarray:
        """Natural-scale values of one parameter for all subjects, in the working precision (clipped)."""
        x = np.clip(phi_row, -_EXP_LIMIT, _EXP_LIMIT).astype(self.dtype)
        if TRANSFORMS[name] == "logit":
            x = np.negative(x, out=x)
            np.exp(x, out=x)
            x += 1
            np.reciprocal(x, out=x)
            return np.clip(x, _F_FLOOR, _F_CEIL, out=x)
        return np.exp(x, out=x)

    def state(self, phi: np.ndarray) -> SubjectState:
        """The subject state for phi (parameters x subjects)."""
        values = {name: self.natural(name, phi[i]) for i, name in enumerate(self.names)}
        if "V0" in values:
            log_v0 = np.clip(phi[self.names.index("V0")], -_EXP_LIMIT, _EXP_LIMIT)
        else:
            log_v0 = np.log(self.fixed_v0)
        inv_v0 = np.exp(-log_v0).astype(self.dtype)
        return SubjectState(values["Kd"], values["F"], values["Kg"], inv_v0, log_v0)

    def moved_state(self, state: SubjectState, rows, phi_rows: np.ndarray) -> SubjectState:
        """``state`` with the parameters of ``rows`` set from ``phi_rows`` (len(rows) x subjects)."""
        changes = {}
        for row, values in zip(rows, phi_rows):
            name = self.names[row]
            if name == "V0":
                log_v0 = np.clip(values, -_EXP_LIMIT, _EXP_LIMIT)
                changes.update(log_v0=log_v0, inv_v0=np.exp(-log_v0).astype(self.dtype))
            else:
                changes[name] = self.natural(name, values)
        return state.replaced(**changes)

    # -- per-observation pieces -------------------------------------------------------------------------
    def growth(self, Kg: np.ndarray) -> np.ndarray:
        """e^{Kg t} per observation (exponent clipped below float32 overflow)."""
        x = Kg[self.subject]
        x *= self.time
        np.minimum(x, _EXP_LIMIT, out=x)
        return np.exp(x, out=x)

    def decay(self, Kd: np.ndarray) -> np.ndarray:
        """e^{-Kd t} per observation (exponent clipped above float32 subnormals)."""
        x = Kd[self.subject]
        x *= self.neg_time
        np.maximum(x, -_EXP_LIMIT, out=x)
        return np.exp(x, out=x)

    def shape(self, F: np.ndarray, g: np.ndarray, d: np.ndarray) -> np.ndarray:
        """V / V0 = F g + (1 - F) d = d + F (g - d) per observation (positive: d >= e^-80)."""
        s = np.subtract(g, d)
        s *= F[self.subject]
        s += d
        return s

    def prediction(self, state: SubjectState, g: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Predicted volume f per observation (working precision)."""
        s = self.shape(state.F, g, d)
        s /= state.inv_v0[self.subject]
        return s

    def prediction_all(self, state: SubjectState, g: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Predicted volume of every observation, in the order of ``y_all`` (post-dose rows, then pre-dose)."""
        pre = np.reciprocal(state.inv_v0[self.pre_subject])
        return np.concatenate([self.prediction(state, g, d), pre])

    def v0_terms(self, state: SubjectState, a: float, b: float) -> np.ndarray:
        """Per-subject -log p terms that depend on V0 alone, cached on the state (recomputed when b moves)."""
        if state.v0_terms is None or state.v0_terms_b != (a, b):
            terms = (
                self.n_quantified * state.log_v0 if self.error_model == "proportional" else np.zeros(self.n_subjects)
            )
            if len(self.pre_subject):
                terms = terms + np.bincount(
                    self.pre_subject, weights=self._pre_dose_terms(state, a, b), minlength=self.n_subjects
                )
            state.v0_terms, state.v0_terms_b = terms, (a, b)
        return state.v0_terms

    def _pre_dose_terms(self, state: SubjectState, a: float, b: float) -> np.ndarray:
        """-log p (up to constants) of the pre-dose rows, where f = V0 (one value per row, float64).

        Proportional error leaves out log f = log V0, which ``loglik`` adds per subject.
        """
        f = 1.0 / state.inv_v0[self.pre_subject].astype(float)
        sd = np.maximum(a + b * f, _TINY)
        z = (self.pre_y - f) / sd
        w = 0.5 * z * z
        if self.error_model == "combined":
            w += np.log(sd)
        if self.pre_censored.any():
            w[self.pre_censored] = -log_ndtr(z[self.pre_censored])
        return w

    def blend(self, cached: np.ndarray, candidate: np.ndarray, accept_on_obs: np.ndarray) -> None:
        """cached <- candidate where accepted (arithmetic blend: faster than boolean masking here)."""
        candidate -= cached
        candidate *= accept_on_obs
        cached += candidate

    # -- the log-likelihood -----------------------------------------------------------------------------
    def loglik(self, state: SubjectState, g: np.ndarray, d: np.ndarray, a: float, b: float) -> np.ndarray:
        """Per-subject log-likelihood (float64), up to terms that do not depend on phi."""
        if self.error_model == "proportional":
            return self._loglik_proportional(state, g, d, b)
        return self._loglik_combined(state, g, d, a, b)

    def _loglik_proportional(self, state, g, d, b):
        s = self.shape(state.F, g, d)
        r = state.inv_v0[self.subject]
        r *= self.y
        r /= s  # r = y / f
        w = np.log(s)
        r -= 1.0
        r *= r
        r *= self.dtype.type(0.5 / (b * b))
        w += r  # -log p up to constants: log(f / V0) + (y / f - 1)^2 / (2 b^2)
        if len(self.censored_index):
            i = self.censored_index
            rc = self.y_censored * state.inv_v0[self.censored_subject] / s[i]
            rc -= 1.0
            rc *= self.dtype.type(1.0 / b)
            w[i] = -_log_ndtr_fast(rc)
        total = np.bincount(self.subject, weights=w, minlength=self.n_subjects)
        total += self.v0_terms(state, 0.0, b)
        return -total

    def _loglik_combined(self, state, g, d, a, b):
        f = self.prediction(state, g, d)
        sd = f * self.dtype.type(b)
        sd += self.dtype.type(a)
        np.maximum(sd, _TINY, out=sd)
        z = self.y - f
        z /= sd
        w = np.log(sd)
        if len(self.censored_index):
            zc = z[self.censored_index]
        z *= z
        z *= 0.5
        w += z
        if len(self.censored_index):
            w[self.censored_index] = -_log_ndtr_fast(zc)
        total = np.bincount(self.subject, weights=w, minlength=self.n_subjects)
        total += self.v0_terms(state, a, b)
        return -total

    # -- sufficient statistics of the residual error -----------------------------------------------------
    def residual_statistics(self, state, g, d, a, b, rng: np.random.Generator):
        """Complete-data residual statistics at the current state, for the M-step.

        Censored observations are imputed from their normal distribution truncated above at the LOQ
        (Samson, Lavielle and Mentre 2006): that is how their log Phi term enters the residual-error update
        in SAEM (the expected complete-data score equals the score of log Phi). Returns
        ``(f, y_completed)`` as float64 arrays over all observations of all chains.
        """
        f = self.prediction_all(state, g, d).astype(float)
        y = self.y_all.astype(float)
        if self.censored_all.any():
            i = np.flatnonzero(self.censored_all)
            sd = np.maximum(a + b * f[i], _TINY)
            upper = (y[i] - f[i]) / sd
            u = rng.random(len(i))
            z = ndtri_exp(np.log(np.maximum(u, 1e-300)) + log_ndtr(upper))
            y[i] = f[i] + sd * np.minimum(z, upper)
        return f, y


def _by_lesion(mu) -> np.ndarray:
    """Typical phi as (parameters x lesions) or (parameters x 1): one value per parameter, or one per lesion
    (a model with covariates)."""
    mu = np.asarray(mu, dtype=float)
    return mu if mu.ndim == 2 else mu[:, None]


def map_objective_and_gradient(phi, names, data: GrowthData, mu, omega2, a, b, fixed_v0=None):
    """Negative log posterior of each lesion and its gradient in phi (float64).

    ``phi`` is (parameters x lesions); ``mu`` the typical phi, per parameter or (parameters x lesions). Returns ``(objective (n_lesions,), gradient (parameters x lesions))``.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _map_objective_and_gradient(phi, names, data, mu, omega2, a, b, fixed_v0)


def _map_objective_and_gradient(phi, names, data, mu, omega2, a, b, fixed_v0):
    nat = natural_parameters(phi, names, data.baseline if fixed_v0 is None else fixed_v0)
    s_idx = data.subject
    t = np.maximum(data.time, 0.0)
    V0, Kd, F, Kg = (nat[p][s_idx] for p in ("V0", "Kd", "F", "Kg"))
    g = np.exp(np.minimum(Kg * t, _EXP_LIMIT_64))
    dcy = np.exp(-np.minimum(Kd * t, _EXP_LIMIT_64))
    f = V0 * (F * g + (1.0 - F) * dcy)
    n = data.n_lesions
    loglik = np.bincount(s_idx, weights=log_density_residual(f, data.y, data.censored, a, b), minlength=n)
    eta = phi - _by_lesion(mu)
    objective = -loglik + 0.5 * np.sum(eta * eta / omega2[:, None], axis=0)
    dl = dloglik_df(f, data.y, data.censored, a, b)
    dfdphi = {
        "V0": f,
        "Kd": -V0 * (1.0 - F) * Kd * t * dcy,
        "Kg": V0 * F * Kg * t * g,
        "F": V0 * F * (1.0 - F) * (g - dcy),
    }
    grad = np.empty_like(phi)
    for i, name in enumerate(names):
        grad[i] = -np.bincount(s_idx, weights=dl * dfdphi[name], minlength=n)
    grad += eta / omega2[:, None]
    return objective, grad


def conditional_mode(
    phi_start, names, data: GrowthData, mu, omega2, a, b, max_iter: int = 100, tolerance: float = 1e-8
):
    """Mode of each lesion's conditional distribution p(phi | y) (MAP), by vectorised damped Newton.

    The Hessian is the forward difference of the analytic gradient, symmetrised and made positive definite
    (eigenvalues floored); steps are capped at one unit per parameter and each lesion backtracks on its
    own until its objective decreases. Returns
    ``(mode, hessian)``: the modes (parameters x lesions) and the Hessians there (lesions x P x P).
    """
    phi = np.array(phi_start, dtype=float, copy=True)
    n_par, n = phi.shape
    step_fd = 1e-5
    obj, grad = map_objective_and_gradient(phi, names, data, mu, omega2, a, b)
    lost = ~np.isfinite(obj) | ~np.isfinite(grad).all(axis=0)
    if lost.any():  # a start where the model overflows: restart those lesions at the population values
        phi[:, lost] = np.broadcast_to(_by_lesion(mu), phi.shape)[:, lost]
        obj, grad = map_objective_and_gradient(phi, names, data, mu, omega2, a, b)
    active = np.ones(n, dtype=bool)
    hessian = np.zeros((n, n_par, n_par))
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        hessian[idx] = _fd_hessian(phi, grad, idx, names, data, mu, omega2, a, b, step_fd)
        values, vectors = np.linalg.eigh(hessian[idx])
        floor = 1e-6 * np.maximum(values.max(axis=1, keepdims=True), 1e-12)
        values = np.maximum(values, floor)
        newton = -np.einsum("nij,nj,nkj,nk->ni", vectors, 1.0 / values, vectors, grad[:, idx].T)
        # A trust region of one unit on the transformed scale keeps far starts from leaping into regions
        # where the exponentials saturate (and the gradient stops describing the objective).
        newton /= np.maximum(1.0, np.abs(newton).max(axis=1, keepdims=True))
        scale = np.ones(len(idx))
        improved = np.zeros(len(idx), dtype=bool)
        for _ in range(40):
            trial = phi.copy()
            pending = ~improved
            trial[:, idx[pending]] += (scale[pending, None] * newton[pending]).T
            t_obj, t_grad = map_objective_and_gradient(trial, names, data, mu, omega2, a, b)
            ok = pending & (t_obj[idx] <= obj[idx] + 1e-12 * np.abs(obj[idx]))
            sel = idx[ok]
            phi[:, sel] = trial[:, sel]
            change = obj[sel] - t_obj[sel]
            obj[sel], grad[:, sel] = t_obj[sel], t_grad[:, sel]
            improved |= ok
            converged_now = np.zeros(n, dtype=bool)
            converged_now[sel] = change < tolerance * np.maximum(1.0, np.abs(obj[sel]))
            active &= ~converged_now
            if improved.all():
                break
            scale[~improved] *= 0.5
        active[idx[~improved]] = False  # no decrease along the Newton direction: at the mode numerically
        small = np.max(np.abs(grad[:, idx]), axis=0) < 1e-7
        active[idx[small]] = False
    final = np.flatnonzero(np.ones(n, dtype=bool))
    hessian = _fd_hessian(phi, grad, final, names, data, mu, omega2, a, b, step_fd)
    return phi, hessian


def _fd_hessian(phi, grad, idx, names, data, mu, omega2, a, b, step):
    """Symmetrised forward-difference Hessian of the MAP objective for lesions ``idx``."""
    n_par = phi.shape[0]
    out = np.empty((len(idx), n_par, n_par))
    for k in range(n_par):
        shifted = phi.copy()
        shifted[k, idx] += step
        _, g2 = map_objective_and_gradient(shifted, names, data, mu, omega2, a, b)
        out[:, :, k] = ((g2[:, idx] - grad[:, idx]) / step).T
    out = 0.5 * (out + np.transpose(out, (0, 2, 1)))
    broken = ~np.isfinite(out).all(axis=(1, 2))
    out[broken] = np.diag(1.0 / np.asarray(omega2))  # overflow at this point: fall back on the prior's curvature
    return out


def importance_sampling_loglik(
    data: GrowthData,
    names,
    mu,
    omega2,
    a,
    b,
    center,
    covariance,
    n_samples: int,
    rng: np.random.Generator,
    df: float = 4.0,
    block_elements: int = 2_000_000,
    dtype=np.float64,
) -> tuple[float, np.ndarray]:
    """log p(y) by importance sampling, per lesion and in total (float64).

    The proposal of lesion i is a multivariate Student t (``df`` degrees of freedom, as in saemix) centred
    at ``center[:, i]`` with scale matrix ``covariance[i]`` (its conditional mean and covariance):
    log p(y_i) = log mean_m p(y_i | phi_m) p(phi_m) / q(phi_m). The draws are randomised quasi-Monte Carlo
    (a scrambled Sobol sequence mapped through the normal and chi-square quantiles), which keeps the
    estimate unbiased for p(y_i) and makes its error shrink close to 1/m instead of 1/sqrt(m) on these
    smooth, low-dimensional integrands; ``n_samples`` is rounded up to a power of two. ``dtype`` is the
    precision of the per-observation densities (float32 halves the time; sums stay float64).
    ``mu`` is the typical phi, per parameter or (parameters x lesions). Returns ``(total, per_lesion)``.
    """
    n_par, n = center.shape
    n_samples = 1 << max(0, int(math.ceil(math.log2(max(int(n_samples), 1)))))
    chol = np.linalg.cholesky(covariance)
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    log_t_const = gammaln(0.5 * (df + n_par)) - gammaln(0.5 * df) - 0.5 * n_par * np.log(df * np.pi) - 0.5 * log_det
    prior_const = -0.5 * n_par * _LOG_2PI - 0.5 * np.sum(np.log(omega2))
    typical = np.broadcast_to(_by_lesion(mu), (n_par, n)).T[None]  # (1, lesions, parameters)
    dtype = np.dtype(dtype)
    s_idx, t = data.subject, np.maximum(data.time, 0.0).astype(dtype)
    y = data.y.astype(dtype)
    fixed_v0 = None if data.baseline is None else data.baseline[s_idx].astype(dtype)
    limit = _EXP_LIMIT if dtype == np.float32 else _EXP_LIMIT_64
    block = 1 << int(max(0, math.floor(math.log2(max(1, block_elements // max(data.n_obs + n, 1))))))
    block = min(block, n_samples)
    sobol = qmc.Sobol(d=n_par + 1, scramble=True, seed=rng)
    running_max = np.full(n, -np.inf)
    running_sum = np.zeros(n)
    done = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while done < n_samples:
            m = min(block, n_samples - done)
            u = np.clip(sobol.random(m), 1e-15, 1.0 - 1e-15)
            z = ndtri(u[:, :n_par])
            w = chi2.ppf(u[:, n_par], df) / df
            phi = center.T[None] + np.einsum("nij,mj->mni", chol, z / np.sqrt(w)[:, None])
            log_q = log_t_const[None] - 0.5 * (df + n_par) * np.log1p(np.sum(z * z, axis=1) / (w * df))[:, None]
            eta = phi - typical
            log_prior = prior_const - 0.5 * np.sum(eta * eta / omega2[None, None, :], axis=2)
            nat = natural_parameters(phi.reshape(m * n, n_par).T, names, None)
            per_obs = {p: v.astype(dtype).reshape(m, n)[:, s_idx] for p, v in nat.items() if v is not None}
            Kd, F, Kg = per_obs["Kd"], per_obs["F"], per_obs["Kg"]
            growth = np.exp(np.minimum(Kg * t, limit))
            f = np.exp(-np.minimum(Kd * t, limit))
            growth -= f
            growth *= F
            f += growth
            f *= per_obs["V0"] if "V0" in per_obs else fixed_v0[None, :]
            np.minimum(f, _F_MAX[dtype.char], out=f)  # a saturated curve stays finite (and improbable)
            dens = log_density_residual(f, y, data.censored, a, b)
            flat = (s_idx[None, :] + n * np.arange(m)[:, None]).ravel()
            log_lik = np.bincount(flat, weights=dens.ravel(), minlength=m * n).reshape(m, n)
            log_w = log_lik + log_prior - log_q
            new_max = np.maximum(running_max, log_w.max(axis=0))
            running_sum = running_sum * np.exp(running_max - new_max) + np.exp(log_w - new_max).sum(axis=0)
            running_max = new_max
            done += m
    per_lesion = running_max + np.log(running_sum / n_samples)
    return float(per_lesion.sum()), per_lesion
