"""The classifiers and their preprocessing: one scikit-learn pipeline per model, and the default search grids.

Preprocessing (a ColumnTransformer, as the paper: one-hot categoricals, z-scored continuous inputs):
- age, bmi: median imputation (bmi is often missing), then StandardScaler;
- n_metastases, baseline_target_volume_mm3: median imputation, log1p (both are right-skewed; z-scoring raw volumes
  would let a few very large tumours dominate the linear baseline; trees are unaffected), then StandardScaler;
- categorical covariates: OneHotEncoder(handle_unknown="ignore");
- organ indicators: passed through as 0/1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from lesionmap.predict.features import feature_kinds

#: Models that ``evaluate_models`` knows, in the order a chapter shows them.
MODELS = ("gradient_boosting", "hist_gradient_boosting", "logistic", "majority")

#: Default hyper-parameter grids (classifier parameter -> values). Sized for the full cohort on 2 cores:
#: gradient boosting 2 x 2 x 2 = 8 combinations, each fitted 5 x 5 times in the nested search. Fixed settings
#: beside the grid follow the authors' public script (row and column subsampling 0.5).
DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    "gradient_boosting": {"learning_rate": [0.05, 0.1], "max_depth": [2, 3], "n_estimators": [100, 200]},
    "hist_gradient_boosting": {"learning_rate": [0.05, 0.1], "max_depth": [2, 3], "max_iter": [100, 200]},
    "logistic": {"C": [0.01, 0.1, 1.0, 10.0]},
    "majority": {"strategy": ["most_frequent"]},
}


def make_classifier(model: str, random_state: int):
    """A fresh, unfitted classifier for ``model`` (one of ``MODELS``)."""
    if model == "gradient_boosting":
        return GradientBoostingClassifier(subsample=0.5, max_features=0.5, random_state=random_state)
    if model == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(early_stopping=False, max_features=0.5, random_state=random_state)
    if model == "logistic":
        return LogisticRegression(max_iter=2000)
    if model == "majority":
        return DummyClassifier(strategy="most_frequent")
    raise ValueError(f"unknown model {model!r}; choose from {MODELS}")


def make_preprocessor(features: pd.DataFrame) -> ColumnTransformer:
    """The ColumnTransformer that turns a ``baseline_features`` frame into a numeric design matrix."""
    kinds = feature_kinds(features)
    continuous = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    skewed = Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("log1p", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
        ("scale", StandardScaler()),
    ])
    categorical = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    branches = [
        ("continuous", continuous, kinds["continuous"]),
        ("skewed", skewed, kinds["skewed"]),
        ("categorical", categorical, kinds["categorical"]),
        ("organs", "passthrough", kinds["organs"]),
    ]
    return ColumnTransformer([b for b in branches if b[2]], remainder="drop")


def build_pipeline(model: str, features: pd.DataFrame, random_state: int = 0) -> Pipeline:
    """Preprocessing then the classifier: Pipeline(steps=[("preprocess", ...), ("classifier", ...)])."""
    return Pipeline([("preprocess", make_preprocessor(features)),
                     ("classifier", make_classifier(model, random_state))])
