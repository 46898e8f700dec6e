"""The classifiers and their preprocessing: one scikit-learn pipeline per model, and the default search grids.

Preprocessing (a ColumnTransformer, as the paper: one-hot categoricals, z-scored continuous inputs):
- age, bmi: median imputation (bmi is often missing), then StandardScaler;
- n_metastases, baseline_target_volume_mm3: median imputation, log1p (both are right-skewed; z-scoring raw volumes
  would let a few very large tumours dominate the linear baseline; trees are unaffected), then StandardScaler;
- categorical covariates: OneHotEncoder(handle_unknown="ignore");
- organ indicators: passed through as 0/1.

Three boosting models, all early-stopped:
- ``xgboost``: XGBoost, which the authors' public script used, with its settings (row and column subsampling 0.5,
  minimum child weight 2, learning rate 0.1); the book's default, and the fastest of the three here;
- ``gradient_boosting``: scikit-learn's ``GradientBoostingClassifier``, the classifier the article names;
- ``hist_gradient_boosting``: scikit-learn's histogram version.

Each adds trees until the loss on a held-out tenth of its training data (stratified) has not improved for
``N_ITER_NO_CHANGE`` rounds, with ``MAX_TREES`` as the cap.
The number of trees is then learnt from the data rather than searched on a grid, and the cost of a fit grows
with the cohort: a small cohort stops after a few dozen trees, the full cohort goes further.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from lesionmap.predict.features import feature_kinds

#: Models that ``evaluate_models`` knows, in the order a chapter shows them.
MODELS = ("xgboost", "gradient_boosting", "hist_gradient_boosting", "logistic", "majority")

#: The boosting models (early-stopped; the others are the baselines a reader compares them with).
BOOSTING = ("xgboost", "gradient_boosting", "hist_gradient_boosting")

#: How tables and charts name the models.
MODEL_LABELS = {
    "xgboost": "XGBoost gradient boosting",
    "gradient_boosting": "gradient boosting",
    "hist_gradient_boosting": "histogram gradient boosting",
    "logistic": "multinomial logistic",
    "majority": "majority class",
}

#: Early stopping of the boosting models: rounds without improvement of the held-out loss, share held out.
N_ITER_NO_CHANGE = 10
VALIDATION_FRACTION = 0.1

#: Cap on the trees per class of a boosting model (early stopping usually ends well before it).
MAX_TREES = 400

#: Default hyper-parameter grids (classifier parameter -> values). Sized for the full cohort on 2 cores: the
#: boosting models search the tree depth at the authors' learning rate (0.1) and column subsampling (0.5, listed
#: so that Supplementary Table 4 shows it), each candidate fitted 5 x 5 times in the nested search, and early
#: stopping chooses the number of trees (a lower rate would only need more trees); the logistic regression searches
#: its penalty from strong to practically none. Gradient boosting also keeps the authors' row subsampling (0.5).
DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    "xgboost": {"learning_rate": [0.1], "max_depth": [2, 3], "colsample_bytree": [0.5]},
    "gradient_boosting": {"learning_rate": [0.1], "max_depth": [2, 3], "max_features": [0.5]},
    "hist_gradient_boosting": {"learning_rate": [0.1], "max_depth": [2, 3], "max_features": [0.5]},
    "logistic": {"C": [0.1, 10.0, 1000.0]},
    "majority": {"strategy": ["prior"]},
}


class EarlyStoppedXGBClassifier(ClassifierMixin, BaseEstimator):
    """XGBoost's multi-class gradient boosting with the early-stopping contract of scikit-learn's boosting models.

    ``fit`` holds out a stratified ``validation_fraction`` of the rows it is given, adds trees (one per class per
    round) until the multi-class log loss on that share has not improved for ``n_iter_no_change`` rounds (at most
    ``max_trees``), and predicts with the best round (``n_trees_``). The defaults are the authors' public script's
    settings (row and column subsampling 0.5, minimum child weight 2, learning rate 0.1, depth 3); it had a fixed
    200 trees where early stopping learns the number. One thread by default: the nested search parallelises over
    fits, not inside them. Labels may be any values (``classes_`` keeps them; XGBoost sees their codes).
    """

    def __init__(
        self,
        max_depth: int = 3,
        learning_rate: float = 0.1,
        subsample: float = 0.5,
        colsample_bytree: float = 0.5,
        min_child_weight: float = 2,
        max_trees: int = MAX_TREES,
        n_iter_no_change: int = N_ITER_NO_CHANGE,
        validation_fraction: float = VALIDATION_FRACTION,
        random_state: int | None = None,
        n_jobs: int = 1,
    ):
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.max_trees = max_trees
        self.n_iter_no_change = n_iter_no_change
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y):
        try:
            from xgboost import XGBClassifier  # imported when used: the other models do not pay for it
        except ImportError as error:
            raise ImportError(
                "the 'xgboost' model needs the xgboost package (pip install xgboost-cpu, or xgboost on macOS and "
                "ARM; the lock requirements.txt has it), or choose another model: prediction_models "
                '["gradient_boosting", "logistic", "majority"]'
            ) from error

        X = np.asarray(X, dtype=float)
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"EarlyStoppedXGBClassifier needs at least two classes, got {list(self.classes_)}")
        self.n_features_in_ = X.shape[1]
        seed = None if self.random_state is None else int(self.random_state) % (2**31 - 1)
        train, held_out = train_test_split(
            np.arange(len(codes)), test_size=self.validation_fraction, stratify=codes, random_state=seed
        )
        booster = XGBClassifier(
            n_estimators=self.max_trees,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            min_child_weight=self.min_child_weight,
            early_stopping_rounds=self.n_iter_no_change,
            eval_metric="mlogloss" if len(self.classes_) > 2 else "logloss",
            tree_method="hist",
            n_jobs=self.n_jobs,
            random_state=seed,
        )
        booster.fit(X[train], codes[train], eval_set=[(X[held_out], codes[held_out])], verbose=False)
        self.booster_ = booster
        self.n_trees_ = int(booster.best_iteration) + 1
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (columns in ``classes_`` order) from the trees of the best round."""
        check_is_fitted(self, "booster_")
        proba = self.booster_.predict_proba(np.asarray(X, dtype=float)).astype(float)
        return proba / proba.sum(axis=1, keepdims=True)  # XGBoost's are single precision

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def make_classifier(model: str, random_state: int):
    """A fresh, unfitted classifier for ``model`` (one of ``MODELS``)."""
    if model == "xgboost":
        return EarlyStoppedXGBClassifier(random_state=random_state)
    if model == "gradient_boosting":
        return GradientBoostingClassifier(
            n_estimators=MAX_TREES,
            subsample=0.5,
            max_features=0.5,
            n_iter_no_change=N_ITER_NO_CHANGE,
            validation_fraction=VALIDATION_FRACTION,
            random_state=random_state,
        )
    if model == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(
            max_iter=MAX_TREES,
            max_features=0.5,
            early_stopping=True,
            n_iter_no_change=N_ITER_NO_CHANGE,
            validation_fraction=VALIDATION_FRACTION,
            random_state=random_state,
        )
    if model == "logistic":
        # Newton steps with a Cholesky solve: a few iterations for a few dozen inputs, where L-BFGS takes hundreds.
        return LogisticRegression(max_iter=2000, solver="newton-cholesky")
    if model == "majority":
        # Predicts the largest class; its probabilities are the class shares (an honest no-information forecast).
        return DummyClassifier(strategy="prior")
    raise ValueError(f"unknown model {model!r}; choose from {MODELS}")


def fitted_trees(classifier) -> int | None:
    """Trees per class that a fitted boosting model kept (early stopping); None for the other models."""
    if isinstance(classifier, EarlyStoppedXGBClassifier):
        return classifier.n_trees_
    if isinstance(classifier, HistGradientBoostingClassifier):
        return int(classifier.n_iter_)
    if isinstance(classifier, GradientBoostingClassifier):
        return int(classifier.n_estimators_)
    return None


def make_preprocessor(features: pd.DataFrame) -> ColumnTransformer:
    """The ColumnTransformer that turns a ``baseline_features`` frame into a numeric design matrix."""
    kinds = feature_kinds(features)
    continuous = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    skewed = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("log1p", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ]
    )
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
    return Pipeline([("preprocess", make_preprocessor(features)), ("classifier", make_classifier(model, random_state))])


def search_grids(models, learning_rates=None, max_depths=None, logistic_c=None) -> dict[str, dict[str, list]]:
    """The grid of each model in ``models``: the boosting models search learning_rate x max_depth (their number of
    trees comes from early stopping), the logistic regression its inverse penalty C, the majority class nothing.
    A value left None keeps ``DEFAULT_GRIDS``' values."""
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {MODELS}")
    chosen = {"learning_rate": learning_rates, "max_depth": max_depths, "C": logistic_c}
    grids = {}
    for model in models:
        grid = {name: list(values) for name, values in DEFAULT_GRIDS[model].items()}
        for name in grid:
            if chosen.get(name) is not None:
                values = list(chosen[name]) if isinstance(chosen[name], (list, tuple)) else [chosen[name]]
                if not values:
                    raise ValueError(f"{model}: the grid of {name} is empty")
                grid[name] = values
        grids[model] = grid
    return grids
