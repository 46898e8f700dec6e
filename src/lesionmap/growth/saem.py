"""SAEM for the lesion growth model: the algorithm of Kuhn and Lavielle (2005) as saemix and Monolix run it.

Each iteration draws the lesions' parameters phi_i from their conditional distribution with three MCMC
kernels (saemix's E-step), then updates the population parameters in closed form from stochastic
approximations of the sufficient statistics (the M-step):

- kernel 1: independent proposals from the prior N(mu, Omega), accepted on the likelihood ratio;
- kernel 2: component-wise random walks, one parameter at a time;
- kernel 3: random walks moving blocks of parameters (block size cycling 2..P), with
  random-walk scales adapted towards 40% acceptance, per parameter and block size.

Phases: a burn-in with fixed parameters, an exploratory phase with step size 1 (K1 iterations) whose first
half anneals the variances (Omega and the residual error may shrink by at most 3% an iteration), then a
smoothing phase with step sizes 1/k (K2 iterations). Several chains run side by side when lesions are
few. Censored observations (M3) enter the acceptance ratios through log Phi((LOQ - f) / g) and the
residual-error update through their truncated-normal imputation.

During the smoothing phase the estimator also accumulates each lesion's conditional mean and covariance
and the Fisher information by Louis' formula (stochastic approximation, as Monolix does); after it come
the conditional modes and the log-likelihood by importance sampling.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lesionmap.growth.covariates import CovariateDesign, build_design
from lesionmap.growth.data import CENSORING_METHODS, GrowthData, prepare_growth_data
from lesionmap.growth.likelihood import (
    ChainLikelihood,
    conditional_mode,
    importance_sampling_loglik,
    residual_derivatives,
)
from lesionmap.growth.parameters import ERROR_MODELS, PARAMETERS, GrowthParameters, from_phi, to_phi
from lesionmap.growth.results import SAEMResults, build_results
from lesionmap.tables import DEFAULT_LOQ_MM3

#: Chains per lesion by default: enough for lesions x chains >= 2000. Below that the SAEM estimates wander
#: by one to three standard errors from run to run in the slow F-Kg direction (measured on tgi_1000, M1).
MIN_SUBJECTS = 2000

#: Initial values of the paper (Methods): Kg 0.01/day, Kd 0.01/day, F 0.1.
PAPER_INITIAL_VALUES = {"Kd": 0.01, "F": 0.1, "Kg": 0.01}


class SAEM:
    """Stochastic approximation EM for the lesion growth model V0 [F e^{Kg t} + (1 - F) e^{-Kd t}].

    Parameters
    ----------
    covariates : dict or None
        Covariates on the typical values, as Monolix and saemix put them: a mapping parameter -> covariate
        columns, e.g. ``{"Kg": ["organ", "treatment_group"]}`` for log Kg = mu + beta_organ + beta_TAR + eta.
        Categorical columns enter as level indicators against a reference level, numeric ones as they are.
        The columns come from ``fit(..., covariate_table=)`` or, without one, from the measurement table
        (constant within a lesion). None: no covariates (each parameter has one typical value).
    references : dict or None
        Reference level of each categorical covariate (default: its most frequent level).
    estimate_v0 : bool
        Estimate V0 with its own random effect (four parameters); by default V0 is fixed at each lesion's
        observed baseline volume and only Kd, F, Kg are estimated (the paper's model).
    error_model : {"proportional", "combined"}
        Residual error sd = b f, or a + b f.
    censoring : {"M3", "M1"}
        Below-LOQ observations in the likelihood (M3) or dropped (M1).
    n_iter : (int, int)
        Iterations of the exploratory phase K1 (step size 1) and the smoothing phase K2 (saemix: 300, 100).
    n_burn_in : int
        Initial iterations with the parameters held fixed (saemix: 5).
    n_annealing : int or None
        Iterations of simulated annealing at the start (default K1 / 2, as saemix).
    annealing_rate : float
        Largest factor by which a variance may shrink per annealing iteration (saemix: 0.97).
    n_mcmc : (int, int, int)
        Iterations of kernels 1, 2 and 3 per SAEM iteration. saemix runs (2, 2, 2); the default runs four
        component-wise sweeps, because at the paper's scale (19,000 lesions, K = 300 + 100) the F-Kg
        direction mixes slowly and two sweeps leave F about 3% low and Kg about 3% high (measured).
    n_chains : int or None
        Chains per lesion; default ceil(2000 / n_lesions), so data sets under 2,000 lesions get several.
    rw_init, rw_adapt, target_acceptance : float
        Initial random-walk scale (x omega), its adaptation rate and target acceptance (saemix: 0.5, 0.4, 0.4).
    initial : dict or None
        Initial typical values; default the paper's (Kd 0.01, F 0.1, Kg 0.01, per time unit of the data)
        and, when estimated, V0 at the median observed baseline volume.
    initial_omega : float or dict
        Initial SD of the random effects (saemix: 1).
    initial_error : (float, float) or None
        Initial (a, b); default (0, 1) for proportional error, (1, 1) for combined (saemix: 1, 1).
    loq : float
        Limit of quantification, used for censored rows that carry no value.
    n_is_samples : int
        Importance samples per lesion for the log-likelihood (rounded up to a power of two; 0 skips it).
    dtype : str
        Floating type of the MCMC's observation arrays ("float32", the fast default, or "float64").
    random_state : int, numpy Generator or None
        Seed of every random draw of the fit.
    verbose : bool
        Show a progress bar (only in a terminal).
    lesion_col, time_col, value_col, censored_col : str
        Column names of the long input table.
    """

    def __init__(
        self,
        *,
        covariates: dict | None = None,
        references: dict | None = None,
        estimate_v0: bool = False,
        error_model: str = "proportional",
        censoring: str = "M3",
        n_iter: tuple[int, int] = (300, 100),
        n_burn_in: int = 5,
        n_annealing: int | None = None,
        annealing_rate: float = 0.97,
        n_mcmc: tuple[int, int, int] = (2, 4, 2),
        n_chains: int | None = None,
        rw_init: float = 0.5,
        rw_adapt: float = 0.4,
        target_acceptance: float = 0.4,
        initial: dict | None = None,
        initial_omega: float | dict = 1.0,
        initial_error: tuple[float, float] | None = None,
        loq: float = DEFAULT_LOQ_MM3,
        n_is_samples: int = 512,
        dtype: str = "float32",
        random_state: int | np.random.Generator | None = None,
        verbose: bool = True,
        lesion_col: str = "lesion_id",
        time_col: str = "day",
        value_col: str = "volume_mm3",
        censored_col: str = "blq",
    ):
        self.covariates = covariates
        self.references = references
        self.estimate_v0 = estimate_v0
        self.error_model = error_model
        self.censoring = censoring
        self.n_iter = n_iter
        self.n_burn_in = n_burn_in
        self.n_annealing = n_annealing
        self.annealing_rate = annealing_rate
        self.n_mcmc = n_mcmc
        self.n_chains = n_chains
        self.rw_init = rw_init
        self.rw_adapt = rw_adapt
        self.target_acceptance = target_acceptance
        self.initial = initial
        self.initial_omega = initial_omega
        self.initial_error = initial_error
        self.loq = loq
        self.n_is_samples = n_is_samples
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.lesion_col = lesion_col
        self.time_col = time_col
        self.value_col = value_col
        self.censored_col = censored_col

    # ------------------------------------------------------------------------------------------------
    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Estimated parameters, in the order the fit keeps them."""
        return PARAMETERS if self.estimate_v0 else PARAMETERS[1:]

    def prepare(self, df: pd.DataFrame) -> GrowthData:
        """The validated likelihood arrays of ``df`` under this estimator's settings."""
        return prepare_growth_data(
            df,
            lesion_col=self.lesion_col,
            time_col=self.time_col,
            value_col=self.value_col,
            censored_col=self.censored_col,
            estimate_v0=self.estimate_v0,
            censoring=self.censoring,
            loq=self.loq,
        )

    def _check(self):
        if self.error_model not in ERROR_MODELS:
            raise ValueError(f"error_model must be one of {ERROR_MODELS}, got {self.error_model!r}")
        if self.censoring not in CENSORING_METHODS:
            raise ValueError(f"censoring must be one of {CENSORING_METHODS}, got {self.censoring!r}")
        k1, k2 = self.n_iter
        if k1 < 1 or k2 < 2 or self.n_burn_in < 0 or self.n_burn_in >= k1:
            raise ValueError("n_iter must be (K1 >= 1, K2 >= 2) with 0 <= n_burn_in < K1")
        if len(self.n_mcmc) != 3 or min(self.n_mcmc) < 0 or sum(self.n_mcmc) == 0:
            raise ValueError("n_mcmc must hold three non-negative kernel counts, not all zero")

    def _initial_values(self, data: GrowthData) -> dict:
        values = dict(PAPER_INITIAL_VALUES)
        if self.estimate_v0:
            first = np.r_[True, data.subject[1:] != data.subject[:-1]]
            values["V0"] = (
                float(np.median(data.y[first & ~data.censored]))
                if (first & ~data.censored).any()
                else float(np.median(data.y))
            )
        values.update(self.initial or {})
        return values

    # ------------------------------------------------------------------------------------------------
    def design(self, data: GrowthData, df: pd.DataFrame, covariate_table: pd.DataFrame | None) -> CovariateDesign:
        """The covariate design over the lesions of ``data`` (see ``lesionmap.growth.covariates``)."""
        if covariate_table is None and self.covariates:
            covariate_table = _lesion_covariates(
                df, self.lesion_col, sorted({c for cols in self.covariates.values() for c in cols})
            )
        return build_design(
            self.parameter_names,
            data.lesion_ids,
            self.covariates,
            covariate_table,
            self.references,
            lesion_col=self.lesion_col,
        )

    def fit(self, df: pd.DataFrame, covariate_table: pd.DataFrame | None = None) -> SAEMResults:
        """Fit the model to a long measurement table; returns the results (also kept as ``results_``).

        ``covariate_table``: one row per lesion (indexed by lesion id, or with the lesion column) holding the
        columns named in ``covariates``; by default they are read from ``df``.
        """
        self._check()
        started = time.perf_counter()
        data = self.prepare(df)
        if data.n_obs == 0:
            raise ValueError("no observations left to fit (every lesion has only its baseline scan)")
        design = self.design(data, df, covariate_table)
        run = _SAEMRun(self, data, design=design)
        run.iterate()
        results = run.finish(started)
        self.results_ = results
        return results

    def loglik(
        self,
        df: pd.DataFrame,
        parameters: GrowthParameters,
        n_samples: int = 5000,
        n_mcmc_iter: int = 200,
        random_state: int | np.random.Generator | None = None,
    ) -> float:
        """log p(y) at fixed population ``parameters``, by importance sampling (as in the fit).

        The MCMC of the E-step first runs ``n_mcmc_iter`` iterations at the fixed parameters (after as many
        to burn in) to estimate each lesion's conditional mean and covariance; the proposal is then a
        Student t (4 d.f.) with these moments, as in saemix. Uses this estimator's data settings.
        """
        self._check()
        if self.covariates:
            raise ValueError(
                "loglik at fixed parameters takes typical values without covariates; a covariate "
                "fit reports its own log-likelihood (results.loglik)"
            )
        data = self.prepare(df)
        rng = np.random.default_rng(random_state)
        run = _SAEMRun(self, data, rng=rng, parameters=parameters)
        run.sample_conditional(n_burn=n_mcmc_iter, n_iter=n_mcmc_iter)
        mean_phi, cov_phi, _ = run.conditional_moments()
        total, _ = importance_sampling_loglik(
            data,
            run.names,
            run.mu,
            run.omega2,
            run.a,
            run.b,
            mean_phi,
            _proposal_covariance(cov_phi, run.omega2),
            n_samples,
            rng,
        )
        return total


def _lesion_covariates(df: pd.DataFrame, lesion_col: str, columns: list) -> pd.DataFrame:
    """One row per lesion of the covariate ``columns`` of a long table, which must be constant within a lesion."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"covariates name column(s) {missing} that are neither in the measurement table nor in a "
            f"covariate_table; measurement columns are {list(df.columns)}"
        )
    table = df[[lesion_col, *columns]]
    varying = table.groupby(lesion_col, sort=False)[columns].nunique(dropna=False).gt(1)
    for column in columns:
        if varying[column].any():
            lesions = list(varying.index[varying[column]][:5])
            raise ValueError(
                f"column '{column}': a covariate must be constant within a lesion; it changes within "
                f"lesion(s) {lesions}"
            )
    return table.drop_duplicates(lesion_col).set_index(lesion_col)


def _proposal_covariance(cov: np.ndarray, omega2: np.ndarray) -> np.ndarray:
    """Conditional covariances made safely positive definite (eigenvalues >= 1e-4 of the smallest omega^2)."""
    values, vectors = np.linalg.eigh(0.5 * (cov + np.transpose(cov, (0, 2, 1))))
    values = np.maximum(values, 1e-4 * float(np.min(omega2)))
    return np.einsum("nij,nj,nkj->nik", vectors, values, vectors)


class _SAEMRun:
    """The state of one SAEM fit (kept apart from the estimator, whose attributes are its settings)."""

    def __init__(
        self,
        est: SAEM,
        data: GrowthData,
        rng: np.random.Generator | None = None,
        parameters: GrowthParameters | None = None,
        design: CovariateDesign | None = None,
    ):
        self.est = est
        self.data = data
        self.names = est.parameter_names
        self.n_par = len(self.names)
        self.rng = np.random.default_rng(est.random_state) if rng is None else rng
        self.k1, self.k2 = (int(k) for k in est.n_iter)
        self.n_total = self.k1 + self.k2
        self.n_annealing = self.k1 // 2 if est.n_annealing is None else int(est.n_annealing)
        self.n_chains = est.n_chains or max(1, math.ceil(MIN_SUBJECTS / data.n_lesions))
        self.lik = ChainLikelihood(data, self.names, self.n_chains, est.error_model, np.dtype(est.dtype))
        self.n_lesions = data.n_lesions
        self.n_subjects = self.lik.n_subjects
        self.combined = est.error_model == "combined"

        initial = self._initial = est._initial_values(data)
        self.mu = np.array([float(to_phi(p, initial[p])) for p in self.names])
        omega0 = est.initial_omega
        self.omega2 = np.array([float(omega0[p] if isinstance(omega0, dict) else omega0) ** 2 for p in self.names])
        a0, b0 = est.initial_error if est.initial_error is not None else ((1.0, 1.0) if self.combined else (0.0, 1.0))
        self.a, self.b = (float(a0) if self.combined else 0.0), float(b0)
        if parameters is not None:
            self.mu = parameters.mu(self.names)
            self.omega2 = parameters.omega_vector(self.names) ** 2
            self.a, self.b = (float(parameters.a) if self.combined else 0.0), float(parameters.b)
        self.design = design if design is not None else build_design(self.names, data.lesion_ids, None, None)
        X = self.design.matrices
        # beta_p = (X'X)^-1 X' E[phi_p]: the M-step of a linear Gaussian model on the sufficient statistics
        self.regression = {p: np.linalg.solve(X[p].T @ X[p], X[p].T) for p in self.names}
        self.lesion_of_subject = np.tile(np.arange(self.n_lesions), self.n_chains)
        self.design_by_subject = {p: np.ascontiguousarray(X[p][self.lesion_of_subject].T) for p in self.names}
        self.gram = {p: X[p].T @ X[p] for p in self.names}
        self.beta = {p: np.r_[m, np.zeros(X[p].shape[1] - 1)] for p, m in zip(self.names, self.mu)}
        self._set_typical()

        self.phi = np.array(self.mu_subject, dtype=float, copy=True)
        self.state = self.lik.state(self.phi)
        self.g = self.lik.growth(self.state.Kg)
        self.d = self.lik.decay(self.state.Kd)
        self.rw_scale = np.repeat(np.sqrt(self.omega2)[:, None] * est.rw_init, self.n_par, axis=1)

        self.stat1 = np.zeros((self.n_par, self.n_lesions))
        self.stat2 = np.zeros(self.n_par)
        self.stat_res = 0.0
        self.trajectory: list[tuple] = []
        self.acceptance = np.zeros(3)
        self.proposals = np.zeros(3)

        n_fim = self.design.n_coefficients + self.n_par + (2 if self.combined else 1)
        self.fim_outer = np.zeros((n_fim, n_fim))
        self.score_halves = np.zeros((2, n_fim, self.n_lesions))
        self.half_counts = np.zeros(2)
        self.sum_phi = np.zeros((self.n_par, self.n_lesions))
        self.sum_phi2 = np.zeros((self.n_lesions, self.n_par, self.n_par))
        self.sum_psi = np.zeros((self.n_par, self.n_lesions))
        self.n_smooth = 0
        self.n_moments = 0

    def _set_typical(self):
        """Each lesion's (and subject's) typical phi x_i' beta, and mu: the typical values at the reference levels."""
        self.mu_lesion = self.design.linear_predictor(self.beta)
        self.mu_subject = self.mu_lesion[:, self.lesion_of_subject]
        self.mu = np.array([self.beta[p][0] for p in self.names])

    # -- E-step -----------------------------------------------------------------------------------------
    def _propose(self, rows: tuple, phi_rows: np.ndarray):
        """Log-likelihood of a candidate that sets parameters ``rows`` to ``phi_rows``."""
        moved = {self.names[r] for r in rows}
        state_c = self.lik.moved_state(self.state, rows, phi_rows)
        g_c = self.lik.growth(state_c.Kg) if "Kg" in moved else self.g
        d_c = self.lik.decay(state_c.Kd) if "Kd" in moved else self.d
        ll_c = self.lik.loglik(state_c, g_c, d_c, self.a, self.b)
        return moved, state_c, g_c, d_c, ll_c

    def _accept(self, accept: np.ndarray, rows: tuple, phi_rows: np.ndarray, moved, state_c, g_c, d_c, ll_c):
        """Move the accepted subjects to the candidate (parameters, cached exponentials, log-likelihood).

        Updates scatter the accepted subjects' values in place (boolean ``where`` is slower here).
        """
        idx = np.flatnonzero(accept)
        for row, values in zip(rows, phi_rows):
            self.phi[row, idx] = values[idx]
        changes = {}
        for name in moved:
            for key in ("inv_v0", "log_v0", "v0_terms") if name == "V0" else (name,):
                current = getattr(self.state, key)
                current[idx] = getattr(state_c, key)[idx]
                changes[key] = current
        self.state = self.state.replaced(**changes)
        self.ll[idx] = ll_c[idx]
        if "Kg" in moved or "Kd" in moved:
            on_obs = accept.astype(self.lik.dtype)[self.lik.subject]
            if "Kg" in moved:
                self.lik.blend(self.g, g_c, on_obs)
            if "Kd" in moved:
                self.lik.blend(self.d, d_c, on_obs)

    def _normal(self, rows: int) -> np.ndarray:
        """Standard normal draws (rows x subjects) by Box-Muller in float32, faster than the ziggurat here."""
        n = rows * self.n_subjects
        half = (n + 1) // 2
        u = self.rng.random((2, half), dtype=np.float32)
        radius = np.log1p(-u[0])
        radius *= -2.0
        np.sqrt(radius, out=radius)
        angle = u[1] * np.float32(2.0 * np.pi)
        out = np.empty(2 * half, dtype=np.float32)
        np.multiply(radius, np.cos(angle), out=out[:half])
        np.multiply(radius, np.sin(angle), out=out[half:])
        return out[:n].reshape(rows, self.n_subjects)

    def _estep(self, iteration: int):
        n1, n2, n3 = self.est.n_mcmc
        P = self.n_par
        sd = np.sqrt(self.omega2)
        inv2 = 0.5 / self.omega2
        self.ll = self.lik.loglik(self.state, self.g, self.d, self.a, self.b)
        all_rows = tuple(range(P))
        for _ in range(n1):
            phi_rows = self.mu_subject + sd[:, None] * self._normal(P)
            self.acceptance[0] += self._metropolis(self._propose_and_ratio(all_rows, phi_rows), all_rows, phi_rows)
            self.proposals[0] += 1
        if n2:
            accepted = np.zeros(P)
            for _ in range(n2):
                for r in range(P):
                    accepted[r] += self._random_walk((r,), self.rw_scale[[r], 0, None] * self._normal(1), inv2)
            self._adapt(0, accepted / n2)
        if n3 and P > 1:
            self._block_kernel(iteration, n3, inv2)

    def _block_kernel(self, iteration: int, n3: int, inv2: np.ndarray):
        """saemix's kernel 3: random walks on blocks of size 2..P (cycling with the iteration), diagonal steps."""
        P = self.n_par
        block = iteration % (P - 1) + 2
        accepted, tried = np.zeros(P), np.zeros(P)
        for _ in range(n3):
            if block < P:
                offsets = np.r_[0, self.rng.choice(np.arange(1, P), block - 1, replace=False)]
                shifts = range(P)
            else:
                offsets, shifts = np.arange(P), range(1)
            for shift in shifts:
                rows = tuple(int(r) for r in (offsets + shift) % P)
                step = self.rw_scale[list(rows), block - 1, None] * self._normal(len(rows))
                accepted[list(rows)] += self._random_walk(rows, step, inv2)
                tried[list(rows)] += 1
        self._adapt(block - 1, accepted / np.maximum(tried, 1))

    def _random_walk(self, rows: tuple, step: np.ndarray, inv2: np.ndarray) -> float:
        """One random-walk Metropolis step moving parameters ``rows`` of every subject; the acceptance rate."""
        rows_l = list(rows)
        current = self.phi[rows_l]
        phi_rows = current + step
        # eta_new^2 - eta_old^2 = step (step + 2 eta_old)
        twice_eta = current - self.mu_subject[rows_l]
        twice_eta *= 2.0
        twice_eta += step
        twice_eta *= step
        twice_eta *= inv2[rows_l, None]
        log_ratio = self._propose_and_ratio(rows, phi_rows)
        log_ratio -= twice_eta.sum(axis=0) if len(rows_l) > 1 else twice_eta[0]
        rate = self._metropolis(log_ratio, rows, phi_rows)
        self.acceptance[1 if len(rows_l) == 1 else 2] += rate
        self.proposals[1 if len(rows_l) == 1 else 2] += 1
        return rate

    def _propose_and_ratio(self, rows: tuple, phi_rows: np.ndarray) -> np.ndarray:
        """Evaluate a candidate and keep it for ``_metropolis``; returns its log-likelihood ratio."""
        self._pending = self._propose(rows, phi_rows)
        return self._pending[-1] - self.ll

    def _metropolis(self, log_ratio: np.ndarray, rows: tuple, phi_rows: np.ndarray) -> float:
        """Accept the pending candidate where log_ratio > -Exp(1); returns the acceptance rate."""
        accept = log_ratio > -self.rng.standard_exponential(self.n_subjects, dtype=np.float32)
        self._accept(accept, rows, phi_rows, *self._pending)
        self._pending = None
        return np.count_nonzero(accept) / self.n_subjects

    def _adapt(self, column: int, rate: np.ndarray):
        self.rw_scale[:, column] *= 1.0 + self.est.rw_adapt * (rate - self.est.target_acceptance)

    # -- M-step -----------------------------------------------------------------------------------------
    def _mstep(self, iteration: int, step: float):
        C, N, P = self.n_chains, self.n_lesions, self.n_par
        phi = self.phi.reshape(P, C, N)
        self.stat1 += step * (phi.mean(axis=1) - self.stat1)
        self.stat2 += step * ((phi * phi).sum(axis=2).mean(axis=1) - self.stat2)
        beta = {p: self.regression[p] @ self.stat1[i] for i, p in enumerate(self.names)}
        typical = self.design.linear_predictor(beta)
        # sum_i E[(phi_i - x_i' beta)^2] from the statistics: S2 - 2 sum_i S1_i m_i + sum_i m_i^2
        omega2 = np.maximum((self.stat2 - np.sum(typical * (2.0 * self.stat1 - typical), axis=1)) / N, 1e-12)
        f, y = self.lik.residual_statistics(self.state, self.g, self.d, self.a, self.b, self.rng)
        annealing = iteration <= self.n_annealing
        alpha = self.est.annealing_rate
        if self.combined:
            a_new, b_new = _fit_combined_error(f, y, self.a, self.b)
            if annealing:
                a_new, b_new = max(alpha * self.a, a_new), max(alpha * self.b, b_new)
            elif iteration > self.k1:
                a_new, b_new = self.a + step * (a_new - self.a), self.b + step * (b_new - self.b)
            self.a, self.b = a_new, b_new
        else:
            relative = (y - f) / np.maximum(f, 1e-30)
            self.stat_res += step * (np.dot(relative, relative) / C - self.stat_res)
            b_new = math.sqrt(self.stat_res / (self.lik.n_obs / C))
            self.b = max(alpha * self.b, b_new) if annealing else b_new
        self.omega2 = np.maximum(omega2, alpha * self.omega2) if annealing else omega2
        self.beta = beta
        self._set_typical()

    # -- smoothing-phase accumulators -------------------------------------------------------------------
    def _accumulate_moments(self):
        """Running sums of each lesion's phi, phi phi' and natural parameters (over chains)."""
        C, N, P = self.n_chains, self.n_lesions, self.n_par
        phi = self.phi.reshape(P, C, N)
        self.sum_phi += phi.sum(axis=1)
        self.sum_phi2 += np.einsum("pcn,qcn->npq", phi, phi)
        psi = np.stack([from_phi(name, phi[i]) for i, name in enumerate(self.names)])
        self.sum_psi += psi.sum(axis=1)
        self.n_moments += 1

    def conditional_moments(self):
        """Conditional mean and covariance of each lesion's phi, and mean of its natural parameters."""
        count = self.n_moments * self.n_chains
        mean_phi = self.sum_phi / count
        cov_phi = self.sum_phi2 / count - np.einsum("pn,qn->npq", mean_phi, mean_phi)
        return mean_phi, cov_phi, self.sum_psi / count

    def _accumulate_fim(self):
        """Louis' formula terms at the current state: sum of H + s s' and per-lesion mean scores."""
        C, N, P = self.n_chains, self.n_lesions, self.n_par
        eta = self.phi - self.mu_subject
        w = self.omega2[:, None]
        s_mu = eta / w
        s_om = -0.5 / w + 0.5 * eta * eta / w**2
        Xs = self.design_by_subject
        sizes = [Xs[p].shape[0] for p in self.names]
        K = sum(sizes)
        n_fim = K + P + (2 if self.combined else 1)
        scores = np.empty((n_fim, self.n_subjects))
        start = 0
        for i, p in enumerate(self.names):
            np.multiply(Xs[p], s_mu[i], out=scores[start : start + sizes[i]])
            start += sizes[i]
        scores[K : K + P] = s_om
        f = self.lik.prediction_all(self.state, self.g, self.d).astype(float)
        first, second = residual_derivatives(
            f, self.lik.y_all.astype(float), self.lik.censored_all, self.a, self.b, self.est.error_model
        )
        s_res = np.stack([np.bincount(self.lik.subject_all, weights=q, minlength=self.n_subjects) for q in first])
        h_res = second.sum(axis=1)
        scores[K + P :] = s_res
        hess = np.zeros((n_fim, n_fim))
        idx = np.arange(P)
        start = 0
        for i, p in enumerate(self.names):
            block = slice(start, start + sizes[i])
            hess[block, block] = -C * self.gram[p] / self.omega2[i]
            cross = -(Xs[p] @ eta[i]) / self.omega2[i] ** 2
            hess[block, K + i] = hess[K + i, block] = cross
            start += sizes[i]
        hess[K + idx, K + idx] = self.n_subjects * 0.5 / self.omega2**2 - np.sum(eta * eta, axis=1) / self.omega2**3
        r0 = K + P
        if self.combined:
            hess[r0, r0], hess[r0, r0 + 1], hess[r0 + 1, r0 + 1] = h_res
            hess[r0 + 1, r0] = h_res[1]
        else:
            hess[r0, r0] = h_res[0]
        self.fim_outer += (hess + scores @ scores.T) / C
        half = 0 if self.n_smooth < self.k2 // 2 else 1
        self.score_halves[half] += scores.reshape(n_fim, C, N).mean(axis=1)
        self.half_counts[half] += 1
        self.n_smooth += 1

    def fisher_information(self) -> np.ndarray:
        """Observed Fisher information of (mu, omega^2, error) by Louis' formula, from the smoothing phase."""
        mean_outer = self.fim_outer / self.n_smooth
        d1 = self.score_halves[0] / self.half_counts[0]
        d2 = self.score_halves[1] / self.half_counts[1]
        between = 0.5 * (d1 @ d2.T + d2 @ d1.T)
        return -mean_outer + between

    # -- the loop ---------------------------------------------------------------------------------------
    def iterate(self):
        show = bool(self.est.verbose) and sys.stderr.isatty()
        with (
            tqdm(total=self.n_total, desc="SAEM", disable=not show, leave=False) as bar,
            np.errstate(over="ignore", divide="ignore", invalid="ignore"),
        ):
            for iteration in range(1, self.n_total + 1):
                self._estep(iteration)
                if iteration > self.est.n_burn_in:
                    step = 1.0 if iteration <= self.k1 else 1.0 / (iteration - self.k1)
                    self._mstep(iteration, step)
                if iteration > self.k1:
                    self._accumulate_moments()
                    self._accumulate_fim()
                self._record(iteration)
                bar.update(1)
                if show and iteration % 20 == 0:
                    bar.set_postfix({p: f"{from_phi(p, m):.4g}" for p, m in zip(self.names, self.mu)}, refresh=False)

    def sample_conditional(self, n_burn: int, n_iter: int):
        """Run the E-step at the current (fixed) parameters and accumulate the conditional moments."""
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            for iteration in range(1, n_burn + n_iter + 1):
                self._estep(iteration)
                if iteration > n_burn:
                    self._accumulate_moments()

    def _record(self, iteration: int):
        phase = "burn-in" if iteration <= self.est.n_burn_in else "exploration" if iteration <= self.k1 else "smoothing"
        typical = [float(from_phi(p, m)) for p, m in zip(self.names, self.mu)]
        self.trajectory.append((iteration, phase, *typical, *np.sqrt(self.omega2), self.a, self.b))

    def finish(self, started: float) -> SAEMResults:
        """Conditional modes, log-likelihood and the results object; ``started`` is the fit's start time."""
        est, data = self.est, self.data
        names = self.names
        mean_phi, cov_phi, mean_psi = self.conditional_moments()
        mode, hessian = conditional_mode(mean_phi, names, data, self.mu_lesion, self.omega2, self.a, self.b)
        loglik = math.nan
        loglik_lesion = np.full(self.n_lesions, np.nan)
        if est.n_is_samples > 0:
            loglik, loglik_lesion = importance_sampling_loglik(
                data,
                names,
                self.mu_lesion,
                self.omega2,
                self.a,
                self.b,
                mean_phi,
                _proposal_covariance(cov_phi, self.omega2),
                int(est.n_is_samples),
                self.rng,
                dtype=est.dtype,
            )
        columns = ["iteration", "phase", *names, *[f"omega_{p}" for p in names], "a", "b"]
        trajectory = pd.DataFrame(self.trajectory, columns=columns)
        if not self.combined:
            trajectory = trajectory.drop(columns="a")
        return build_results(
            estimator=est,
            data=data,
            names=names,
            design=self.design,
            beta=self.beta,
            mu_lesion=self.mu_lesion,
            omega2=self.omega2,
            a=self.a,
            b=self.b,
            fisher=self.fisher_information(),
            mean_phi=mean_phi,
            cov_phi=cov_phi,
            mean_psi=mean_psi,
            mode_phi=mode,
            loglik=loglik,
            loglik_lesion=loglik_lesion,
            trajectory=trajectory,
            n_chains=self.n_chains,
            acceptance=dict(zip(("prior", "component", "block"), self.acceptance / np.maximum(self.proposals, 1))),
            initial=self._initial,
            elapsed_s=time.perf_counter() - started,
        )


def _fit_combined_error(f: np.ndarray, y: np.ndarray, a0: float, b0: float, max_iter: int = 50):
    """(a, b) minimising sum log(a + b f) + (y - f)^2 / (2 (a + b f)^2), by damped Newton on log a, log b."""
    e2 = (y - f) ** 2

    def parts(x):
        a, b = np.exp(x)
        g = a + b * f
        value = np.sum(np.log(g) + 0.5 * e2 / g**2)
        p1 = 1.0 / g - e2 / g**3
        p2 = -1.0 / g**2 + 3.0 * e2 / g**4
        ga, gb = a, b * f
        grad = np.array([np.sum(p1 * ga), np.sum(p1 * gb)])
        hess = np.array(
            [
                [np.sum(p2 * ga * ga) + grad[0], np.sum(p2 * ga * gb)],
                [np.sum(p2 * ga * gb), np.sum(p2 * gb * gb) + grad[1]],
            ]
        )
        return value, grad, hess

    x = np.log([max(a0, 1e-8), max(b0, 1e-8)])
    value, grad, hess = parts(x)
    for _ in range(max_iter):
        values, vectors = np.linalg.eigh(hess)
        values = np.maximum(values, 1e-8 + 1e-6 * abs(values).max())
        direction = -vectors @ ((vectors.T @ grad) / values)
        scale = 1.0
        for _ in range(30):
            trial = x + scale * direction
            t_value, t_grad, t_hess = parts(trial)
            if t_value <= value:
                break
            scale *= 0.5
        else:
            break
        converged = value - t_value < 1e-10 * abs(value)
        x, value, grad, hess = trial, t_value, t_grad, t_hess
        if converged:
            break
    a, b = np.exp(x)
    return float(a), float(b)
