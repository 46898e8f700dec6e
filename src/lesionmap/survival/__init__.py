"""Frailty Cox models: Cox proportional hazards with a Gaussian random intercept per patient (R's coxme).

    from lesionmap.survival import FrailtyCox, select_covariates, fit_by
    fit = FrailtyCox().fit(events, "day", "event", "patient_id", covariates=["organ", "line"],
                           references={"organ": "abdomen"})
    fit.summary; fit.lrt("line"); fit.print_summary()
    kept, table = select_covariates(events, "day", "event", "patient_id", candidates=["line", "age"],
                                    base_terms=["organ"], references={"organ": "abdomen"})
    by_arm = fit_by(events, "treatment_group", "day", "event", "patient_id", covariates=["organ"])

``simulate_frailty_cox`` draws data with known truth (Weibull baseline, Gaussian patient frailty).
"""

from lesionmap.survival.frailty import SEARCHES, SPARSE_RULE, FrailtyCox, likelihood_ratio
from lesionmap.survival.reference import compare_with_coxme
from lesionmap.survival.selection import CovariateSelection, combine_summaries, fit_by, select_covariates
from lesionmap.survival.simulate import FrailtyTruth, simulate_frailty_cox

__all__ = [
    "CovariateSelection",
    "FrailtyCox",
    "FrailtyTruth",
    "SEARCHES",
    "SPARSE_RULE",
    "combine_summaries",
    "compare_with_coxme",
    "fit_by",
    "likelihood_ratio",
    "select_covariates",
    "simulate_frailty_cox",
]
