"""Predicting a patient's progression-sequence cluster from what is known at baseline (paper: Supplementary
Fig. 11, Supplementary Table 4).

``baseline_features`` builds the inputs (demographics, clinical covariates, metastatic organs, number of
metastases, baseline target volume) from an explicit allow-list, so no follow-up information can reach a model;
``progression_labels`` gives the outcome (the progression group; patients who never progressed are left out by
default); ``evaluate_models`` runs nested cross-validation (stratified 5-fold outer rotation of an 80/20 split, grid
search on macro F1 inside) for XGBoost (the authors' script), scikit-learn's gradient boosting and histogram
gradient boosting (all early-stopped), a multinomial logistic regression and the majority class, and returns tidy
tables (ROC points, metrics, confusion, permutation importance, calibration, chosen hyper-parameters) and a summary
dict; ``lesionmap.predict.report`` turns them into the chapter's tables.
"""

from lesionmap.predict.evaluate import (
    CLUSTER_ORDER,
    HEADLINE_METRICS,
    NestedCVPlan,
    PredictionResult,
    combine_folds,
    evaluate_fold,
    evaluate_models,
    minimum_class_size,
    plan_nested_cv,
    separate_small_classes,
)
from lesionmap.predict.features import (
    BASELINE_KINDS,
    CATEGORICAL_COVARIATES,
    CONTINUOUS_COVARIATES,
    COUNT_PREFIX,
    ORGAN_PREFIX,
    PATIENT_COVARIATES,
    POST_BASELINE_COLUMNS,
    PROFILE_PREFIXES,
    SKEWED_FEATURES,
    VOLUME_PREFIX,
    baseline_features,
    check_baseline_features,
    feature_kinds,
    progression_labels,
)
from lesionmap.predict.importance import design_columns, macro_f1_rows, permutation_importance_by_input
from lesionmap.predict.models import (
    BOOSTING,
    DEFAULT_GRIDS,
    MAX_TREES,
    MODEL_LABELS,
    MODELS,
    N_ITER_NO_CHANGE,
    VALIDATION_FRACTION,
    EarlyStoppedXGBClassifier,
    build_pipeline,
    fitted_trees,
    make_classifier,
    make_preprocessor,
    search_grids,
)
from lesionmap.predict.report import (
    TABLE_METRICS,
    auc_table,
    hyperparameter_table,
    input_table,
    metric_table,
    paired_difference,
)

__all__ = [
    "BASELINE_KINDS",
    "BOOSTING",
    "CATEGORICAL_COVARIATES",
    "CLUSTER_ORDER",
    "CONTINUOUS_COVARIATES",
    "COUNT_PREFIX",
    "DEFAULT_GRIDS",
    "EarlyStoppedXGBClassifier",
    "HEADLINE_METRICS",
    "MAX_TREES",
    "MODEL_LABELS",
    "MODELS",
    "N_ITER_NO_CHANGE",
    "ORGAN_PREFIX",
    "PATIENT_COVARIATES",
    "POST_BASELINE_COLUMNS",
    "PROFILE_PREFIXES",
    "NestedCVPlan",
    "PredictionResult",
    "SKEWED_FEATURES",
    "TABLE_METRICS",
    "VOLUME_PREFIX",
    "VALIDATION_FRACTION",
    "auc_table",
    "baseline_features",
    "build_pipeline",
    "check_baseline_features",
    "combine_folds",
    "design_columns",
    "evaluate_fold",
    "evaluate_models",
    "feature_kinds",
    "fitted_trees",
    "hyperparameter_table",
    "input_table",
    "macro_f1_rows",
    "make_classifier",
    "make_preprocessor",
    "minimum_class_size",
    "metric_table",
    "paired_difference",
    "plan_nested_cv",
    "permutation_importance_by_input",
    "progression_labels",
    "search_grids",
    "separate_small_classes",
]
