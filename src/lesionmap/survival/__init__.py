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
from lesionmap.survival.phenotypes import (
    PHENOTYPES,
    classify_phenotypes,
    compare_hazard_ratios,
    covariate_effects,
    event_time_agreement,
    fit_organ_model,
    oracle_event_table,
    organ_hazard_ratios,
    patient_phenotype_groups,
)
from lesionmap.survival.reference import compare_with_coxme
from lesionmap.survival.selection import CovariateSelection, combine_summaries, fit_by, select_covariates
from lesionmap.survival.simulate import FrailtyTruth, simulate_frailty_cox

__all__ = [
    "CovariateSelection",
    "FrailtyCox",
    "FrailtyTruth",
    "PHENOTYPES",
    "SEARCHES",
    "SPARSE_RULE",
    "classify_phenotypes",
    "combine_summaries",
    "compare_hazard_ratios",
    "compare_with_coxme",
    "covariate_effects",
    "event_time_agreement",
    "fit_by",
    "fit_organ_model",
    "likelihood_ratio",
    "oracle_event_table",
    "organ_hazard_ratios",
    "patient_phenotype_groups",
    "select_covariates",
    "simulate_frailty_cox",
]
