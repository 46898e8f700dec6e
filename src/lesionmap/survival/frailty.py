"""Cox proportional hazards with a Gaussian random intercept per group: the model of R's ``coxme``.

    fit = FrailtyCox().fit(lesion_events, duration_col="day", event_col="event", group_col="patient_id",
                           covariates=["organ", "treatment_group", "line"], references={"organ": "abdomen"})
    fit.summary            # coef, exp(coef), se(coef), 95% intervals, z, p (lifelines' columns)
    fit.lrt("line")        # likelihood-ratio test of a term, refitting without it
    fit.print_summary()

The model: hazard h0(t) exp(x'beta + b_g), b_g ~ N(0, variance) for group (patient) g. As coxme does, the
variance is estimated by maximising the Laplace-approximated integrated partial likelihood over log(variance):

    L_int(variance) = PPL(beta^, b^) - (q log(variance) + log det H_bb) / 2,

where PPL = PL(beta, b) - b'b / (2 variance) is the penalized partial likelihood maximised over (beta, b) by
Newton-Raphson (``lesionmap.survival.penalized``), q the number of groups and H_bb the information block of
the random effects. With 50 or more groups, groups holding at most 2% of the rows are *sparse*: their block
of H is taken as diagonal in the log-determinant and the standard errors (coxme's ``sparse = c(50, .02)``);
with fewer groups the block is dense. Standard errors come from the inverse of the penalized information at
the estimated variance. The outer search (``lesionmap.survival.search``) follows coxme's optimiser by
default, so estimates match coxme's (tests/reference/coxme: coefficients within 2e-5, variances within 5e-5);
``search="brent"`` goes to the exact maximum, which on a flat likelihood can lie a little away from coxme's.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from lesionmap.survival.design import Term, build_terms, design_matrix, parse_formula
from lesionmap.survival.penalized import InnerFitError, PenalizedProblem, VarianceProfile
from lesionmap.survival.riskset import TIES, RiskSetAlgebra
from lesionmap.survival.search import brent_search, coxme_search

log = logging.getLogger(__name__)

#: coxme's sparse rule: with this many groups or more, groups holding at most this share of rows are sparse.
SPARSE_RULE = (50, 0.02)
#: Outer searches over log(variance) (see ``lesionmap.survival.search``).
SEARCHES = ("coxme", "brent")


class FrailtyCox:
    """Cox model with a Gaussian random intercept per group (coxme), fitted like a lifelines fitter.

    Parameters
    ----------
    ties : "efron" (default, as coxme) or "breslow".
    variance : fix the frailty variance instead of estimating it (as ``coxph(... frailty(theta=))``).
    search : "coxme" (default) follows coxme's optimiser and stops where it stops; "brent" maximises the
        integrated likelihood to ``variance_tol`` on log(variance). Where coxme's path reaches a variance whose
        inner fit fails (R's optim would stop with a non-finite value; it happens when the likelihood keeps
        rising towards variances where a patient's effect runs away, e.g. many lesions of a patient with one
        event day), the fit takes Brent's maximum within its bounds instead; ``variance_search_`` says which.
    alpha : 1 - level of the confidence intervals in ``summary``.
    sparse_rule : (minimum groups, maximum row share) for the diagonal random-effect block (coxme's default).
    tol : convergence of the inner Newton-Raphson (largest coefficient step).
    max_iter : inner Newton-Raphson iterations at most.
    variance_tol : tolerance of Brent's search on log(variance).
    start_variance : where Brent's search starts (its first bracket is around it; see
        ``lesionmap.survival.search.brent_search``), e.g. the variance of a nested model; coxme's grid when None.
    """

    def __init__(
        self,
        ties: str = "efron",
        variance: float | None = None,
        search: str = "coxme",
        alpha: float = 0.05,
        sparse_rule: tuple[int, float] = SPARSE_RULE,
        tol: float = 1e-9,
        max_iter: int = 50,
        variance_tol: float = 1e-6,
        start_variance: float | None = None,
    ):
        self.ties = ties
        self.variance = variance
        self.search = search
        self.alpha = alpha
        self.sparse_rule = sparse_rule
        self.tol = tol
        self.max_iter = max_iter
        self.variance_tol = variance_tol
        self.start_variance = start_variance

    def get_params(self) -> dict:
        """Constructor parameters (scikit-learn's contract); refits for likelihood-ratio tests reuse them."""
        return {
            name: getattr(self, name)
            for name in (
                "ties",
                "variance",
                "search",
                "alpha",
                "sparse_rule",
                "tol",
                "max_iter",
                "variance_tol",
                "start_variance",
            )
        }

    def __repr__(self) -> str:
        state = (
            f"fitted: {self.n_obs_} rows, {self.n_events_} events, {self.n_groups_} groups"
            if hasattr(self, "params_")
            else "not fitted"
        )
        return f"<lesionmap.survival.FrailtyCox ({state})>"

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        df: pd.DataFrame,
        duration_col: str,
        event_col: str,
        group_col: str,
        covariates: list[str] | None = None,
        formula: str | None = None,
        references: dict | None = None,
        strata: str | list[str] | None = None,
    ) -> FrailtyCox:
        """Fit the model; returns ``self``.

        ``covariates`` (a list of columns) or ``formula`` (``"organ + treatment + line"``) name the fixed-effect
        terms; categorical terms use ``references`` ({column: reference level}, may name other columns too)
        or their first level. ``strata`` gives each stratum (one or more columns) its own baseline hazard.
        Rows with a missing value in any column used are excluded and counted in ``n_excluded_``.
        """
        self._check_options()
        if covariates is not None and formula is not None:
            raise ValueError("give covariates or formula, not both")
        names = parse_formula(formula) if formula is not None else list(covariates or [])
        strata_cols = [strata] if isinstance(strata, str) else list(strata or [])
        prepared = _PreparedData.build(df, duration_col, event_col, group_col, names, references, strata_cols)
        blocks = _GroupBlocks.build(prepared.group_codes, len(prepared.group_labels), self.sparse_rule)
        design = np.hstack([blocks.dense_indicators(prepared.group_codes), prepared.centered])
        with threadpool_limits(limits=1, user_api="blas"):
            algebra = RiskSetAlgebra(
                prepared.time,
                prepared.event,
                prepared.strata_codes,
                blocks.sparse_code[prepared.group_codes],
                blocks.n_sparse,
                design,
                self.ties,
            )
            final, evaluations = self._estimate(
                PenalizedProblem(algebra, blocks.n_dense, self.tol, self.max_iter), prepared
            )
            null_loglik = algebra.evaluate(np.zeros(design.shape[1]), np.zeros(blocks.n_sparse), second=False).loglik
            inverse = final.system.inverse_dense()
            trace_groups = final.system.trace_inverse_groups(blocks.n_dense)
        self._store(prepared, blocks, final, inverse, trace_groups, null_loglik, evaluations)
        self.duration_col, self.event_col, self.group_col = duration_col, event_col, group_col
        self.strata_ = strata_cols
        return self

    def _check_options(self) -> None:
        if self.ties not in TIES:
            raise ValueError(f"ties must be one of {TIES}, got {self.ties!r}")
        if self.search not in SEARCHES:
            raise ValueError(f"search must be one of {SEARCHES}, got {self.search!r}")
        if self.variance is not None and not self.variance > 0:
            raise ValueError(f"a fixed variance must be > 0, got {self.variance}")
        if self.start_variance is not None and not self.start_variance > 0:
            raise ValueError(f"start_variance must be > 0, got {self.start_variance}")

    def _estimate(self, problem: PenalizedProblem, prepared: _PreparedData):
        """The penalized fit at the fixed or estimated variance, and the number of variances solved.

        The Cox model without random effects is fitted first: its maximised partial likelihood is coxme's
        reference in the search objective, and its coefficients start the inner loop.
        """
        without_groups = RiskSetAlgebra(
            prepared.time,
            prepared.event,
            prepared.strata_codes,
            np.full(len(prepared.time), -1),
            0,
            prepared.centered,
            self.ties,
        )
        cox = PenalizedProblem(without_groups, 0, self.tol, self.max_iter).solve(1.0)
        start_w = np.concatenate([np.zeros(problem.n_dense_groups), cox.w])
        if self.variance is not None:
            final = problem.refresh(problem.solve(float(self.variance), start_w))
            if not final.converged:
                raise InnerFitError(
                    f"the penalized fit did not converge in {self.max_iter} iterations at variance {self.variance:g}"
                )
            self.variance_search_ = "fixed"
            return final, 1
        profile = VarianceProfile(problem, start_w)
        self.variance_search_ = self.search
        if self.search == "coxme":
            try:
                chosen = coxme_search(profile.integrated, cox.loglik_partial)
            except FloatingPointError as error:
                log.info("coxme's variance search failed (%s): Brent's maximum is used instead", error)
                self.variance_search_ = "brent (coxme's path failed)"
                chosen = brent_search(profile.integrated, self.variance_tol)
        else:
            start = np.log(self.start_variance) if self.start_variance else None
            chosen = brent_search(profile.integrated, self.variance_tol, start)
        return profile.fit_at(chosen), profile.evaluations

    def _store(self, prepared, blocks, final, inverse, trace_groups, null_loglik, evaluations) -> None:
        """Learned attributes (scikit-learn's trailing underscore)."""
        nd = blocks.n_dense
        index = pd.Index(prepared.columns, name="covariate")
        beta_cov = inverse[nd:, nd:]
        effects = np.empty(len(prepared.group_labels))
        effects[blocks.sparse_ids] = final.b
        effects[blocks.dense_ids] = final.w[:nd]
        self.terms_: list[Term] = prepared.terms
        self.params_ = pd.Series(final.w[nd:], index=index, name="coef")
        self.variance_matrix_ = pd.DataFrame(beta_cov, index=index, columns=index)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(beta_cov)), index=index, name="se(coef)")
        self.hazard_ratios_ = np.exp(self.params_).rename("exp(coef)")
        self.frailty_variance_ = float(final.variance)
        self.frailty_sd_ = float(np.sqrt(final.variance))
        self.random_effects_ = pd.Series(
            effects, index=pd.Index(prepared.group_labels, name=prepared.group_col), name="b"
        )
        self.loglik_integrated_ = float(final.loglik_integrated)
        self.loglik_penalized_ = float(final.loglik_penalized)
        self.loglik_partial_ = float(final.loglik_partial)
        self.loglik_null_ = float(null_loglik)
        self.log_likelihood_ = self.loglik_integrated_
        self.penalty_ = self.loglik_partial_ - self.loglik_penalized_
        self.df_ = float(len(prepared.columns) + len(effects) - trace_groups / final.variance)
        self.n_obs_ = len(prepared.time)
        self.n_events_ = int(prepared.event.sum())
        self.n_groups_ = len(effects)
        self.n_sparse_groups_ = blocks.n_sparse
        self.n_excluded_ = prepared.n_excluded
        self.n_strata_ = int(prepared.strata_codes.max() + 1)
        self.evaluations_ = evaluations
        self.converged_ = bool(final.converged)
        self.references_ = {term.name: term.reference for term in prepared.terms if term.categorical}
        self._data = prepared.data

    # ------------------------------------------------------------------ results
    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise AttributeError("this FrailtyCox is not fitted yet: call fit() first")

    @property
    def confidence_intervals_(self) -> pd.DataFrame:
        """Wald intervals of the coefficients at level 1 - alpha."""
        self._check_fitted()
        z = stats.norm.ppf(1 - self.alpha / 2)
        level = round(100 * (1 - self.alpha))
        return pd.DataFrame(
            {
                f"coef lower {level}%": self.params_ - z * self.standard_errors_,
                f"coef upper {level}%": self.params_ + z * self.standard_errors_,
            }
        )

    @property
    def summary(self) -> pd.DataFrame:
        """One row per coefficient: coef, exp(coef), se(coef), intervals, z, p (Wald), term and level."""
        self._check_fitted()
        level = round(100 * (1 - self.alpha))
        intervals = self.confidence_intervals_
        z = self.params_ / self.standard_errors_
        # A level without events has a coefficient drifting to -inf and a huge SE: its interval is unbounded,
        # and exp() overflowing to inf says so; the overflow is the answer, not a warning.
        with np.errstate(over="ignore"):
            lower, upper = np.exp(intervals.iloc[:, 0]), np.exp(intervals.iloc[:, 1])
        out = pd.DataFrame(
            {
                "coef": self.params_,
                "exp(coef)": self.hazard_ratios_,
                "se(coef)": self.standard_errors_,
                f"coef lower {level}%": intervals.iloc[:, 0],
                f"coef upper {level}%": intervals.iloc[:, 1],
                f"exp(coef) lower {level}%": lower,
                f"exp(coef) upper {level}%": upper,
                "z": z,
                "p": 2 * stats.norm.sf(np.abs(z)),
            }
        )
        out["term"] = [term.name for term in self.terms_ for _ in term.columns]
        out["level"] = [level_ for term in self.terms_ for level_ in term.non_reference_levels]
        return out

    def _refit(self, terms: list[str]) -> FrailtyCox:
        """The same model on the same rows with other fixed-effect terms."""
        references = {name: ref for name, ref in self.references_.items() if name in terms}
        return FrailtyCox(**self.get_params()).fit(
            self._data,
            self.duration_col,
            self.event_col,
            self.group_col,
            covariates=terms,
            references=references,
            strata=self.strata_ or None,
        )

    def lrt(self, term: str) -> pd.Series:
        """Likelihood-ratio test of one term: refit without it (variance re-estimated), compare L_int."""
        self._check_fitted()
        names = [t.name for t in self.terms_]
        if term not in names:
            raise KeyError(f"{term!r} is not a term of this model; terms are {names}")
        reduced = self._refit([name for name in names if name != term])
        return likelihood_ratio(self, reduced, term)

    def anova(self) -> pd.DataFrame:
        """Likelihood-ratio test of each term, dropping one at a time (R's ``drop1``)."""
        self._check_fitted()
        return pd.DataFrame([self.lrt(term.name) for term in self.terms_]).set_index("term")

    def print_summary(self, decimals: int = 3) -> None:
        """Print the model, its likelihoods and the coefficient table."""
        self._check_fitted()
        lines = [
            repr(self),
            f"      duration col = {self.duration_col!r}",
            f"         event col = {self.event_col!r}",
            f"         group col = {self.group_col!r} ({self.n_groups_} groups, "
            f"{self.n_sparse_groups_} with a diagonal random-effect block)",
        ]
        if self.strata_:
            lines.append(f"            strata = {self.strata_} ({self.n_strata_} strata)")
        lines += [
            f"              ties = {self.ties}",
            f"  frailty variance = {self.frailty_variance_:.{decimals + 2}g} (sd {self.frailty_sd_:.{decimals + 2}g})"
            + ("  [fixed]" if self.variance is not None else f"  [search: {self.variance_search_}]"),
            f" integrated loglik = {self.loglik_integrated_:.{decimals}f}",
            f"  penalized loglik = {self.loglik_penalized_:.{decimals}f}",
            f"       null loglik = {self.loglik_null_:.{decimals}f}",
            f"      effective df = {self.df_:.{decimals}f}",
            f"     excluded rows = {self.n_excluded_} (missing values)",
            "---",
            self.summary.drop(columns=["term", "level"]).to_string(float_format=lambda v: f"{v:.{decimals}f}"),
        ]
        print("\n".join(lines))


def likelihood_ratio(full: FrailtyCox, reduced: FrailtyCox, label: str = "") -> pd.Series:
    """Likelihood-ratio test of nested frailty Cox fits on the same rows (integrated log-likelihoods)."""
    if full.n_obs_ != reduced.n_obs_:
        raise ValueError(f"nested fits must use the same rows ({full.n_obs_} vs {reduced.n_obs_})")
    df = len(full.params_) - len(reduced.params_)
    if df <= 0:
        raise ValueError("the full model must have more coefficients than the reduced one")
    chi2 = max(2.0 * (full.loglik_integrated_ - reduced.loglik_integrated_), 0.0)
    return pd.Series(
        {
            "term": label,
            "df": df,
            "chi2": chi2,
            "p": float(stats.chi2.sf(chi2, df)),
            "loglik_full": full.loglik_integrated_,
            "loglik_reduced": reduced.loglik_integrated_,
            "n": full.n_obs_,
        }
    )


@dataclass
class _PreparedData:
    """Complete rows of the columns a model uses, validated, with its design matrix and codes."""

    data: pd.DataFrame
    group_col: str
    time: np.ndarray
    event: np.ndarray
    terms: list[Term]
    columns: list[str]
    centered: np.ndarray
    group_codes: np.ndarray
    group_labels: pd.Index
    strata_codes: np.ndarray
    n_excluded: int

    @classmethod
    def build(
        cls,
        df: pd.DataFrame,
        duration_col: str,
        event_col: str,
        group_col: str,
        names: list[str],
        references: dict | None,
        strata_cols: list[str],
    ) -> _PreparedData:
        used = list(dict.fromkeys([duration_col, event_col, group_col, *names, *strata_cols]))
        missing = [col for col in used if col not in df.columns]
        if missing:
            raise KeyError(f"column(s) {missing} not in the data; columns are {list(df.columns)}")
        unknown = [name for name in (references or {}) if name not in df.columns]
        if unknown:
            raise KeyError(f"references name column(s) {unknown} that are not in the data")
        complete = df[used].notna().all(axis=1).to_numpy()
        data = df.loc[complete, used].reset_index(drop=True)
        if len(data) == 0:
            raise ValueError(f"no row is complete in columns {used}")
        time = data[duration_col].to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(time) | (time < 0))
        if len(bad):
            raise ValueError(
                f"column {duration_col!r}: durations must be finite and >= 0 (complete row {bad[0]}: {time[bad[0]]})"
            )
        event_values = data[event_col].to_numpy()
        if not np.isin(event_values, (0, 1)).all():
            raise ValueError(
                f"column {event_col!r}: events must be 0/1 or boolean, got {sorted(set(event_values.tolist()))[:5]}"
            )
        event = event_values.astype(bool)
        if not event.any():
            raise ValueError(f"column {event_col!r}: no events among the {len(data)} complete rows")

        terms = build_terms(data, names, {k: v for k, v in (references or {}).items() if k in names})
        X = design_matrix(data, terms)
        columns = [col for term in terms for col in term.columns]
        indicator = np.all((X == 0.0) | (X == 1.0), axis=0)
        eventless = [columns[j] for j in np.flatnonzero(indicator & (event @ X == 0))]
        if eventless:
            warnings.warn(
                f"no event among the rows of {eventless}: their coefficients drift to -infinity "
                "(the fit stops where the likelihood is flat, as coxph and coxme do)",
                RuntimeWarning,
                stacklevel=3,
            )
        centered = X - X.mean(axis=0)
        if X.shape[1]:
            gram = np.linalg.eigvalsh(centered.T @ centered)
            if gram[0] <= 1e-10 * max(gram[-1], 1e-300):
                raise ValueError(f"the design columns {columns} are collinear (or one is constant)")
        group_codes, group_labels = pd.factorize(data[group_col], sort=True)
        strata_codes = (
            data.groupby(strata_cols, sort=True).ngroup().to_numpy()
            if strata_cols
            else np.zeros(len(data), dtype=np.int64)
        )
        return cls(
            data,
            group_col,
            time,
            event,
            terms,
            columns,
            centered,
            group_codes,
            group_labels,
            strata_codes,
            int((~complete).sum()),
        )


@dataclass
class _GroupBlocks:
    """Which groups are sparse (diagonal information block) and which dense, by coxme's rule."""

    sparse_ids: np.ndarray
    dense_ids: np.ndarray
    sparse_code: np.ndarray
    dense_code: np.ndarray

    @classmethod
    def build(cls, group_codes: np.ndarray, n_groups: int, sparse_rule: tuple[int, float]) -> _GroupBlocks:
        min_groups, max_share = sparse_rule
        share = np.bincount(group_codes, minlength=n_groups) / len(group_codes)
        is_sparse = (share <= max_share) if n_groups >= min_groups else np.zeros(n_groups, dtype=bool)
        sparse_ids, dense_ids = np.flatnonzero(is_sparse), np.flatnonzero(~is_sparse)
        sparse_code = np.full(n_groups, -1, dtype=np.int64)
        sparse_code[sparse_ids] = np.arange(len(sparse_ids))
        dense_code = np.full(n_groups, -1, dtype=np.int64)
        dense_code[dense_ids] = np.arange(len(dense_ids))
        return cls(sparse_ids, dense_ids, sparse_code, dense_code)

    @property
    def n_sparse(self) -> int:
        return len(self.sparse_ids)

    @property
    def n_dense(self) -> int:
        return len(self.dense_ids)

    def dense_indicators(self, group_codes: np.ndarray) -> np.ndarray:
        """0/1 columns of the dense groups (they join the dense design, penalized)."""
        return (self.dense_code[group_codes][:, None] == np.arange(self.n_dense)[None, :]).astype(float)
