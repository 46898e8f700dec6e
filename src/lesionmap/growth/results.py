"""What a SAEM fit returns, and simulations from a fitted population (for VPCs).

``SAEMResults`` holds the population estimates with standard errors (Louis' formula), Omega, the residual
error, shrinkage, individual parameters (conditional mode and mean) and predictions per observation, the
log-likelihood by importance sampling and the convergence trajectory. It pickles as it is and writes a
JSON-ready dict with ``to_dict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from lesionmap.growth.covariates import CovariateDesign
from lesionmap.growth.data import GrowthData
from lesionmap.growth.model import predict_volume
from lesionmap.growth.parameters import TRANSFORMS, GrowthParameters, from_phi, natural_derivative, to_phi

_Z95 = float(norm.ppf(0.975))


@dataclass
class SAEMResults:
    """Results of ``SAEM.fit``.

    Population values are typical values (medians) on the natural scale; ``omega`` is the SD of each
    random effect on its transformed scale (log or logit); ``error`` holds b (and a for combined error).
    ``individual`` (conditional modes) and ``individual_mean`` (conditional means) are indexed by lesion
    id with columns Kd, F, Kg and V0 (the observed baseline when V0 is fixed). ``predictions`` has one row
    per input row with ``pred`` (population: random effects 0), ``ipred`` (at the mode) and ``ipred_mean``.
    ``covariance`` is the inverse Fisher information of (coefficients, omega^2, error) in ``covariance_names``
    order; the coefficients are each parameter's intercept mu and, with covariates, its betas.

    With covariates, ``population`` holds the typical values at the reference levels, ``omega`` the SD of the
    random effects left after the covariates, ``typical`` each lesion's typical value (natural scale) and
    ``coefficients`` the tidy table of every coefficient (estimate, SE, z, p, 95% CI on the model scale).
    """

    parameter_names: tuple
    population: dict
    population_se: dict
    population_ci: dict
    omega: dict
    omega_se: dict
    error: dict
    error_se: dict
    shrinkage: dict
    covariance: np.ndarray
    covariance_names: tuple
    individual: pd.DataFrame
    individual_mean: pd.DataFrame
    predictions: pd.DataFrame
    trajectory: pd.DataFrame
    loglik: float
    loglik_lesion: pd.Series
    n_lesions: int
    n_obs: int
    n_censored: int
    n_dropped_blq: int
    n_chains: int
    acceptance: dict
    settings: dict
    elapsed_s: float
    conditional_mean_phi: np.ndarray = field(repr=False)
    conditional_cov_phi: np.ndarray = field(repr=False)
    coefficients: pd.DataFrame = field(default=None, repr=False)
    typical: pd.DataFrame = field(default=None, repr=False)
    design: CovariateDesign = field(default=None, repr=False)

    # -- derived tables ---------------------------------------------------------------------------------
    @property
    def n_parameters(self) -> int:
        """Number of estimated population parameters (typical values, variances, error terms)."""
        n_coefficients = len(self.parameter_names) if self.design is None else self.design.n_coefficients
        return n_coefficients + len(self.parameter_names) + len(self.error)

    @property
    def has_covariates(self) -> bool:
        return self.design is not None and self.design.has_covariates

    def wald_test(self, parameter: str, covariate: str) -> dict:
        """Joint Wald test that every coefficient of ``covariate`` on ``parameter`` is zero (chi-square)."""
        rows = self.coefficients.index[
            (self.coefficients["parameter"] == parameter) & (self.coefficients["covariate"] == covariate)
        ]
        if len(rows) == 0:
            raise KeyError(
                f"no coefficient of covariate {covariate!r} on parameter {parameter!r}; the model has "
                f"{sorted(set(zip(self.coefficients['parameter'], self.coefficients['covariate'])))}"
            )
        positions = [self.covariance_names.index(label) for label in self.coefficients.loc[rows, "term"]]
        estimate = self.coefficients.loc[rows, "estimate"].to_numpy(float)
        block = self.covariance[np.ix_(positions, positions)]
        statistic = float(estimate @ np.linalg.solve(block, estimate))
        return {
            "parameter": parameter,
            "covariate": covariate,
            "chi2": statistic,
            "df": len(rows),
            "p": float(chi2.sf(statistic, len(rows))),
        }

    @property
    def minus2loglik(self) -> float:
        """-2 log-likelihood (importance sampling)."""
        return -2.0 * self.loglik

    @property
    def aic(self) -> float:
        return self.minus2loglik + 2.0 * self.n_parameters

    @property
    def bic(self) -> float:
        return self.minus2loglik + self.n_parameters * math.log(self.n_lesions)

    @property
    def parameters(self) -> GrowthParameters:
        """The estimates as ``GrowthParameters`` (for simulation or a log-likelihood at fixed values)."""
        return GrowthParameters(
            population=dict(self.population), omega=dict(self.omega), b=self.error["b"], a=self.error.get("a", 0.0)
        )

    @property
    def summary(self) -> pd.DataFrame:
        """One row per parameter: estimate, SE, RSE%, 95% CI, omega (SD), its SE, shrinkage (%)."""
        rows = []
        for p in self.parameter_names:
            lo, hi = self.population_ci[p]
            rows.append(
                {
                    "parameter": p,
                    "estimate": self.population[p],
                    "SE": self.population_se[p],
                    "RSE%": 100.0 * self.population_se[p] / abs(self.population[p]),
                    "CI95_lower": lo,
                    "CI95_upper": hi,
                    "omega": self.omega[p],
                    "omega_SE": self.omega_se[p],
                    "shrinkage%": self.shrinkage[p],
                }
            )
        for name, value in self.error.items():
            se = self.error_se[name]
            rows.append(
                {
                    "parameter": name,
                    "estimate": value,
                    "SE": se,
                    "RSE%": 100.0 * se / abs(value),
                    "CI95_lower": value - _Z95 * se,
                    "CI95_upper": value + _Z95 * se,
                    "omega": np.nan,
                    "omega_SE": np.nan,
                    "shrinkage%": np.nan,
                }
            )
        return pd.DataFrame(rows).set_index("parameter")

    def print_summary(self, decimals: int = 4) -> None:
        """Print the fit for people: data, settings, the summary table and -2LL."""
        s = self.settings
        print(
            f"SAEM fit of the growth model ({s['error_model']} error, {s['censoring']}, "
            f"V0 {'estimated' if s['estimate_v0'] else 'fixed at baseline'})"
        )
        print(
            f"lesions {self.n_lesions}, observations {self.n_obs} ({self.n_censored} below LOQ), "
            f"chains {self.n_chains}, K = {tuple(s['n_iter'])}, {self.elapsed_s:.1f} s"
        )
        print(self.summary.round(decimals).to_string())
        print(f"-2LL (importance sampling) {self.minus2loglik:.2f}  AIC {self.aic:.2f}  BIC {self.bic:.2f}")

    def to_dict(self) -> dict:
        """A JSON-ready dict of the estimates (no per-lesion tables)."""
        summary = self.summary.reset_index()
        return {
            "parameters": list(self.parameter_names),
            "population": _floats(self.population),
            "population_se": _floats(self.population_se),
            "population_ci95": {k: [float(v[0]), float(v[1])] for k, v in self.population_ci.items()},
            "omega": _floats(self.omega),
            "omega_se": _floats(self.omega_se),
            "error": _floats(self.error),
            "error_se": _floats(self.error_se),
            "shrinkage_pct": _floats(self.shrinkage),
            "loglik": _float(self.loglik),
            "minus2loglik": _float(self.minus2loglik),
            "aic": _float(self.aic),
            "bic": _float(self.bic),
            "n_lesions": self.n_lesions,
            "n_obs": self.n_obs,
            "n_censored": self.n_censored,
            "n_dropped_blq": self.n_dropped_blq,
            "n_chains": self.n_chains,
            "acceptance": _floats(self.acceptance),
            "settings": self.settings,
            "elapsed_s": self.elapsed_s,
            "summary": summary.astype(object).where(summary.notna(), None).to_dict(orient="records"),
            "coefficients": (
                None
                if self.coefficients is None
                else self.coefficients.astype(object).where(self.coefficients.notna(), None).to_dict(orient="records")
            ),
        }

    def simulate(self, n_replicates: int = 100, design: pd.DataFrame | None = None, seed=None) -> pd.DataFrame:
        """Replicate observations from the fitted population (see ``simulate_from_fit``)."""
        return simulate_from_fit(self, n_replicates=n_replicates, design=design, seed=seed)

    def __str__(self) -> str:
        return (
            f"SAEMResults({self.n_lesions} lesions, {self.n_obs} observations; "
            + ", ".join(f"{p}={self.population[p]:.4g}" for p in self.parameter_names)
            + f", b={self.error['b']:.3g}, -2LL={self.minus2loglik:.1f})"
        )


def _float(x) -> float | None:
    x = float(x)
    return None if not math.isfinite(x) else x


def _floats(d: dict) -> dict:
    return {k: _float(v) for k, v in d.items()}


def _individual_table(phi: np.ndarray, names, data: GrowthData) -> pd.DataFrame:
    table = pd.DataFrame({p: from_phi(p, phi[i]) for i, p in enumerate(names)}, index=data.lesion_ids)
    if "V0" not in names:
        table["V0"] = data.baseline
    return table[[p for p in ("Kd", "F", "Kg", "V0")]]


def coefficient_table(design: CovariateDesign, beta: dict, se: np.ndarray) -> pd.DataFrame:
    """Tidy table of the coefficients (model scale): term, parameter, covariate, level, estimate, SE, z, p, CI."""
    rows = []
    for term, estimate, s in zip(design.all_terms(), np.concatenate([beta[p] for p in design.names]), se):
        z = estimate / s if s > 0 else np.nan
        rows.append(
            {
                "term": term.label,
                "parameter": term.parameter,
                "scale": TRANSFORMS[term.parameter],
                "covariate": term.covariate or "(intercept)",
                "level": term.level,
                "reference": term.reference,
                "estimate": float(estimate),
                "se": float(s),
                "z": float(z),
                "p": float(2.0 * norm.sf(abs(z))),
                "ci95_lower": float(estimate - _Z95 * s),
                "ci95_upper": float(estimate + _Z95 * s),
            }
        )
    return pd.DataFrame(rows)


def likelihood_ratio_test(reduced: SAEMResults, full: SAEMResults) -> dict:
    """Likelihood-ratio test of nested fits (log-likelihoods by importance sampling): chi-square on the extra
    parameters. The two fits must share the data (lesions and observations)."""
    if (reduced.n_lesions, reduced.n_obs) != (full.n_lesions, full.n_obs):
        raise ValueError(
            "likelihood_ratio_test: the fits are of different data "
            f"({reduced.n_lesions} vs {full.n_lesions} lesions, {reduced.n_obs} vs {full.n_obs} rows)"
        )
    df = full.n_parameters - reduced.n_parameters
    if df <= 0:
        raise ValueError(
            f"likelihood_ratio_test: the full model must have more parameters than the reduced one "
            f"({full.n_parameters} vs {reduced.n_parameters})"
        )
    statistic = 2.0 * (full.loglik - reduced.loglik)
    return {"statistic": float(statistic), "df": int(df), "p": float(chi2.sf(max(statistic, 0.0), df))}


def build_results(
    *,
    estimator,
    data: GrowthData,
    names,
    design: CovariateDesign,
    beta: dict,
    mu_lesion,
    omega2,
    a,
    b,
    fisher,
    mean_phi,
    cov_phi,
    mean_psi,
    mode_phi,
    loglik,
    loglik_lesion,
    trajectory,
    n_chains,
    acceptance,
    initial,
    elapsed_s,
) -> SAEMResults:
    """Assemble ``SAEMResults`` from the final state of a fit."""
    combined = estimator.error_model == "combined"
    error_names = ("a", "b") if combined else ("b",)
    terms = design.all_terms()
    K = len(terms)
    cov_names = tuple([t.label for t in terms] + [f"omega2_{p}" for p in names] + list(error_names))
    try:
        covariance = np.linalg.inv(fisher)
    except np.linalg.LinAlgError:
        covariance = np.full_like(fisher, np.nan)
    variances = np.diag(covariance).copy()
    variances[variances < 0] = np.nan
    se = np.sqrt(variances)
    P = len(names)
    mu = np.array([beta[p][0] for p in names])
    intercept_se = se[[cov_names.index(f"mu_{p}") for p in names]]
    population = {p: float(from_phi(p, m)) for p, m in zip(names, mu)}
    population_se = {p: float(natural_derivative(p, m) * s) for p, m, s in zip(names, mu, intercept_se)}
    population_ci = {
        p: (float(from_phi(p, m - _Z95 * s)), float(from_phi(p, m + _Z95 * s)))
        for p, m, s in zip(names, mu, intercept_se)
    }
    omega = {p: float(math.sqrt(w)) for p, w in zip(names, omega2)}
    omega_se = {p: float(s / (2.0 * math.sqrt(w))) for p, w, s in zip(names, omega2, se[K : K + P])}
    error = {"a": float(a), "b": float(b)} if combined else {"b": float(b)}
    error_se = dict(zip(error_names, map(float, se[K + P :])))
    coefficients = coefficient_table(design, beta, se[:K])
    typical = _individual_table(mu_lesion, names, data)

    eta_mode = mode_phi - mu_lesion
    shrinkage = {p: float(100.0 * (1.0 - np.var(eta_mode[i]) / omega2[i])) for i, p in enumerate(names)}

    individual = _individual_table(mode_phi, names, data)
    individual_mean = pd.DataFrame({p: mean_psi[i] for i, p in enumerate(names)}, index=data.lesion_ids)
    if "V0" not in names:
        individual_mean["V0"] = data.baseline
    individual_mean = individual_mean[["Kd", "F", "Kg", "V0"]]

    frame = data.frame
    subject = frame["subject"].to_numpy()
    t = frame["time"].to_numpy()
    pop_v0 = typical["V0"].to_numpy()[subject]

    def curve(table):
        return predict_volume(
            t,
            table["V0"].to_numpy()[subject],
            table["Kd"].to_numpy()[subject],
            table["F"].to_numpy()[subject],
            table["Kg"].to_numpy()[subject],
        )

    in_likelihood = np.zeros(len(frame), dtype=bool)
    in_likelihood[data.obs_row] = True
    predictions = pd.DataFrame(
        {
            estimator.lesion_col: frame["lesion"].to_numpy(),
            estimator.time_col: t,
            estimator.value_col: frame["y"].to_numpy(),
            estimator.censored_col: frame["censored"].to_numpy(),
            "in_likelihood": in_likelihood,
            "pred": predict_volume(t, pop_v0, *(typical[p].to_numpy()[subject] for p in ("Kd", "F", "Kg"))),
            "ipred": curve(individual),
            "ipred_mean": curve(individual_mean),
        },
        index=frame.index,
    ).sort_index()
    settings = {
        "estimate_v0": bool(estimator.estimate_v0),
        "error_model": estimator.error_model,
        "censoring": estimator.censoring,
        "n_iter": [int(k) for k in estimator.n_iter],
        "n_burn_in": int(estimator.n_burn_in),
        "n_mcmc": [int(k) for k in estimator.n_mcmc],
        "n_is_samples": int(estimator.n_is_samples),
        "dtype": str(estimator.dtype),
        "random_state": (
            estimator.random_state if isinstance(estimator.random_state, (int, type(None))) else "Generator"
        ),
        "loq": float(estimator.loq),
        "initial": {k: float(v) for k, v in initial.items()},
        "covariates": design.covariates,
        "references": {c: levels[0] for c, levels in design.levels.items()},
        "columns": {
            "lesion": estimator.lesion_col,
            "time": estimator.time_col,
            "value": estimator.value_col,
            "censored": estimator.censored_col,
        },
    }
    return SAEMResults(
        parameter_names=tuple(names),
        population=population,
        population_se=population_se,
        population_ci=population_ci,
        omega=omega,
        omega_se=omega_se,
        error=error,
        error_se=error_se,
        shrinkage=shrinkage,
        covariance=covariance,
        covariance_names=cov_names,
        individual=individual,
        individual_mean=individual_mean,
        predictions=predictions,
        trajectory=trajectory,
        loglik=float(loglik),
        loglik_lesion=pd.Series(loglik_lesion, index=data.lesion_ids, name="loglik"),
        n_lesions=data.n_lesions,
        n_obs=data.n_obs,
        n_censored=data.n_censored,
        n_dropped_blq=data.n_dropped_blq,
        n_chains=int(n_chains),
        acceptance={k: float(v) for k, v in acceptance.items()},
        settings=settings,
        elapsed_s=float(elapsed_s),
        conditional_mean_phi=mean_phi,
        conditional_cov_phi=cov_phi,
        coefficients=coefficients,
        typical=typical,
        design=design,
    )


def simulate_from_fit(
    results: SAEMResults, n_replicates: int = 100, design: pd.DataFrame | None = None, seed=None
) -> pd.DataFrame:
    """Replicate observations from the fitted population, for visual predictive checks.

    Each replicate draws new lesions from the population (random effects from Omega) at the times of
    ``design`` (default: every row of ``results.predictions``, so that a VPC can set the simulations beside
    ``results.predictions`` itself), adds residual error and applies the LOQ (BLQ values hold the LOQ, as in
    the data). With V0 fixed, each lesion keeps its observed baseline. Returns a long table: replicate,
    lesion id, time, value, BLQ flag.
    """
    rng = np.random.default_rng(seed)
    cols = results.settings["columns"]
    lesion_col, time_col = cols["lesion"], cols["time"]
    if design is None:
        design = results.predictions[[lesion_col, time_col]]
    lesions = pd.Index(design[lesion_col].unique())
    code = lesions.get_indexer(design[lesion_col])
    t = design[time_col].to_numpy(float)
    names = results.parameter_names
    draws = {}
    for p in names:
        if results.has_covariates:
            unknown = ~lesions.isin(results.typical.index)
            if unknown.any():
                raise ValueError(
                    f"design names lesions the covariate fit did not see (their typical values are "
                    f"unknown): {list(lesions[unknown][:5])}"
                )
            mu = to_phi(p, results.typical[p].reindex(lesions).to_numpy())
        else:
            mu = float(to_phi(p, results.population[p]))
        draws[p] = from_phi(p, mu + results.omega[p] * rng.standard_normal((n_replicates, len(lesions))))
    if "V0" not in names:
        baseline = results.individual["V0"].reindex(lesions).to_numpy()
        if np.isnan(baseline).any():
            raise ValueError("design names lesions without an observed baseline; V0 is fixed at the baseline")
        draws["V0"] = np.broadcast_to(baseline, (n_replicates, len(lesions)))
    f = predict_volume(t[None, :], *(draws[p][:, code] for p in ("V0", "Kd", "F", "Kg")))
    sd = results.error.get("a", 0.0) + results.error["b"] * f
    y = f + sd * rng.standard_normal(f.shape)
    loq = results.settings["loq"]
    blq = y < loq
    return pd.DataFrame(
        {
            "replicate": np.repeat(np.arange(n_replicates), len(t)),
            lesion_col: np.tile(design[lesion_col].to_numpy(), n_replicates),
            time_col: np.tile(t, n_replicates),
            cols["value"]: np.where(blq, loq, y).ravel(),
            cols["censored"]: blq.ravel(),
        }
    )


def vpc_table(
    observed: pd.DataFrame,
    simulated: pd.DataFrame,
    *,
    time_col: str = "day",
    value_col: str = "volume_mm3",
    censored_col: str = "blq",
    bins=None,
    quantiles=(0.1, 0.5, 0.9),
    interval: float = 0.9,
) -> pd.DataFrame:
    """Percentiles of observed and simulated values per time bin, for a visual predictive check.

    ``simulated`` comes from ``simulate_from_fit`` (a ``replicate`` column). For each bin and quantile:
    the observed percentile and the median and ``interval`` prediction interval of the simulated
    percentiles across replicates; also the observed and simulated fractions below the LOQ. Values
    below the LOQ count at the LOQ (so percentiles under it read as 'below LOQ').
    """
    if bins is None:
        bins = np.unique(np.quantile(observed[time_col], np.linspace(0, 1, 9)))
    bins = np.asarray(bins, dtype=float)
    lo_q, hi_q = (1 - interval) / 2, 1 - (1 - interval) / 2

    def binned(frame):
        return pd.cut(frame[time_col], bins, include_lowest=True)

    obs = observed.assign(bin=binned(observed))
    sim = simulated.assign(bin=binned(simulated))
    rows = []
    for q in quantiles:
        o = obs.groupby("bin", observed=False)[value_col].quantile(q)
        s = sim.groupby(["bin", "replicate"], observed=False)[value_col].quantile(q).groupby(level=0, observed=False)
        rows.append(
            pd.DataFrame(
                {
                    "quantile": q,
                    "observed": o,
                    "simulated_median": s.median(),
                    "simulated_lower": s.quantile(lo_q),
                    "simulated_upper": s.quantile(hi_q),
                }
            )
        )
    table = pd.concat(rows).reset_index()
    frac_obs = obs.groupby("bin", observed=False)[censored_col].mean()
    frac_sim = sim.groupby(["bin", "replicate"], observed=False)[censored_col].mean().groupby(level=0, observed=False)
    blq = pd.DataFrame(
        {
            "blq_observed": frac_obs,
            "blq_simulated_median": frac_sim.median(),
            "blq_simulated_lower": frac_sim.quantile(lo_q),
            "blq_simulated_upper": frac_sim.quantile(hi_q),
        }
    )
    mid = {interval_: 0.5 * (interval_.left + interval_.right) for interval_ in table["bin"].unique()}
    table["time_mid"] = table["bin"].map(mid).astype(float)
    table = table.merge(blq.reset_index(), on="bin", how="left")
    table["bin"] = table["bin"].astype(str)
    return table
