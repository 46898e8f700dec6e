"""Predicting a patient's progression-sequence cluster from what is known at baseline (paper: Supplementary
Fig. 11, Supplementary Table 4).

``baseline_features`` builds the inputs (demographics, clinical covariates, metastatic organs, number of
metastases, baseline target volume) from an explicit allow-list, so no follow-up information can reach a model;
``evaluate_models`` runs nested cross-validation (stratified 5-fold outer rotation of an 80/20 split, grid search on
macro F1 inside) for gradient boosting, histogram gradient boosting, a multinomial logistic regression and the
majority class, and returns tidy tables (ROC points, metrics, confusion, permutation importance, calibration,
chosen hyper-parameters) and a summary dict.
"""

from lesionmap.predict.evaluate import CLUSTER_ORDER, HEADLINE_METRICS, PredictionResult, evaluate_models
from lesionmap.predict.features import (
    BASELINE_KINDS,
    CATEGORICAL_COVARIATES,
    CONTINUOUS_COVARIATES,
    ORGAN_PREFIX,
    PATIENT_COVARIATES,
    POST_BASELINE_COLUMNS,
    SKEWED_FEATURES,
    baseline_features,
    check_baseline_features,
    feature_kinds,
)
from lesionmap.predict.models import DEFAULT_GRIDS, MODELS, build_pipeline, make_classifier, make_preprocessor

__all__ = [
    "BASELINE_KINDS",
    "CATEGORICAL_COVARIATES",
    "CLUSTER_ORDER",
    "CONTINUOUS_COVARIATES",
    "DEFAULT_GRIDS",
    "HEADLINE_METRICS",
    "MODELS",
    "ORGAN_PREFIX",
    "PATIENT_COVARIATES",
    "POST_BASELINE_COLUMNS",
    "PredictionResult",
    "SKEWED_FEATURES",
    "baseline_features",
    "build_pipeline",
    "check_baseline_features",
    "evaluate_models",
    "feature_kinds",
    "make_classifier",
    "make_preprocessor",
]
