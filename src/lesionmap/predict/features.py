"""Baseline features: what is known about a patient on the day treatment starts, and nothing else.

The feature builder reads only allow-listed columns (``PATIENT_COVARIATES`` from ``patients``; lesion_id,
patient_id, kind, organ from ``lesions``; lesion_id, day, volume_mm3 from ``measurements``) and only baseline rows
(target and non-target lesions, pre-treatment measurements). Survival, PFS, best response, last day on study and new
lesions cannot reach it. ``check_baseline_features`` refuses any feature column outside the allow-list, so a frame
with, say, ``os_days`` added by hand is refused by the models too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Demographic and clinical covariates taken from ``patients`` (the allow-list), by kind of input.
CATEGORICAL_COVARIATES = ("sex", "race", "kras", "line", "prior_surgery", "treatment_group")
CONTINUOUS_COVARIATES = ("age", "bmi")
PATIENT_COVARIATES = CONTINUOUS_COVARIATES + CATEGORICAL_COVARIATES

#: Features derived from the baseline lesions: counts and volumes are right-skewed (log-transformed before scaling).
SKEWED_FEATURES = ("n_metastases", "baseline_target_volume_mm3")

#: Prefix of the organ indicators: ``organ_liver`` is 1 when the patient has a baseline lesion in the liver.
ORGAN_PREFIX = "organ_"

#: Prefixes of the per-organ metastasis profile (right-skewed, log-transformed like the totals):
#: ``metastases_liver`` counts the baseline target and non-target lesions in the liver, ``target_volume_liver``
#: sums the baseline volumes (mm^3) of its target lesions.
COUNT_PREFIX = "metastases_"
VOLUME_PREFIX = "target_volume_"
PROFILE_PREFIXES = (COUNT_PREFIX, VOLUME_PREFIX)

#: Lesion kinds present at baseline; new lesions appear after it and never enter the features.
BASELINE_KINDS = ("target", "non-target")

#: Columns of ``patients`` that carry follow-up information; named so that tests and errors can point at them.
POST_BASELINE_COLUMNS = (
    "last_day",
    "os_days",
    "os_event",
    "pfs_days",
    "pfs_event",
    "recist_bor",
    "recist_response_day",
    "recist_progression_day",
)

#: Text given to a missing categorical value (its own category, rather than a dropped patient).
MISSING_CATEGORY = "missing"


def _category_text(values: pd.Series) -> pd.Series:
    """Categorical covariate as text ('1', 'True', 'WHITE'), missing values as ``MISSING_CATEGORY``."""
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if np.array_equal(finite, np.round(finite)):
            values = values.astype("Int64")
    return values.astype("string").fillna(MISSING_CATEGORY).astype(object)


def _baseline_target_volumes(
    targets: pd.DataFrame, measurements: pd.DataFrame, baseline_day: pd.Series
) -> pd.DataFrame:
    """Each target lesion's baseline volume (mm^3): patient_id, organ, volume_mm3 (pre-treatment rows only).

    A lesion's baseline measurement is the one on the patient's baseline_day; a lesion without one uses its first
    measurement at or before day 0; a lesion with no pre-treatment measurement has no row.
    """
    pre_treatment = measurements.loc[measurements["day"] <= 0, ["lesion_id", "day", "volume_mm3"]]
    rows = pre_treatment.merge(targets[["lesion_id", "patient_id", "organ"]], on="lesion_id", how="inner")
    rows["off_baseline_day"] = rows["day"].to_numpy(float) != rows["patient_id"].map(baseline_day).to_numpy(float)
    chosen = rows.sort_values(["lesion_id", "off_baseline_day", "day"], kind="stable").drop_duplicates("lesion_id")
    return chosen[["patient_id", "organ", "volume_mm3"]]


def _baseline_target_volume(volumes: pd.DataFrame, targets: pd.DataFrame, index: pd.Index) -> pd.Series:
    """Sum over a patient's target lesions of the baseline volume: NaN (imputed in the model) when the patient's
    target lesions have no pre-treatment measurement, 0 without target lesions."""
    total = volumes.groupby("patient_id")["volume_mm3"].sum(min_count=1).reindex(index)
    has_targets = pd.Index(targets["patient_id"].unique())
    return total.where(total.notna() | index.isin(has_targets), 0.0).astype(float)


def baseline_features(
    patients: pd.DataFrame, lesions: pd.DataFrame, measurements: pd.DataFrame, organs: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per patient (indexed by patient_id) of the inputs known at baseline.

    Columns: the continuous covariates (age, bmi), the categorical covariates as text (sex, race, kras, line,
    prior_surgery, treatment_group; missing values become 'missing'), ``n_metastases`` (baseline target and
    non-target lesions), ``baseline_target_volume_mm3``, one 0/1 indicator ``organ_<organ>`` per organ with a
    baseline lesion, and the metastasis profile of each organ: ``metastases_<organ>`` (its baseline lesions) and
    ``target_volume_<organ>`` (the baseline volume of its target lesions, 0 without one). ``organs`` fixes the indicator columns (to score a new cohort with a model fitted on another);
    by default they are the organs seen at baseline in ``lesions``.
    """
    if patients["patient_id"].duplicated().any():
        duplicated = patients.loc[patients["patient_id"].duplicated(), "patient_id"].iloc[0]
        raise ValueError(f"patients: patient_id {duplicated!r} appears more than once")
    missing = [c for c in ("patient_id", "baseline_day", *PATIENT_COVARIATES) if c not in patients]
    if missing:
        raise ValueError(f"patients: missing column(s) {missing}")
    index = pd.Index(patients["patient_id"], name="patient_id")
    covariates = patients.set_index("patient_id")[list(PATIENT_COVARIATES)]
    baseline_day = patients.set_index("patient_id")["baseline_day"]

    features = pd.DataFrame(index=index)
    for column in CONTINUOUS_COVARIATES:
        try:
            features[column] = pd.to_numeric(covariates[column], errors="raise").astype(float)
        except (TypeError, ValueError) as error:
            raise ValueError(f"patients: column {column!r} must be numeric ({error})") from None
    # A continuous covariate missing for every patient (a trial without SUPPDM has no BMI) carries no information.
    features = features.drop(columns=[c for c in CONTINUOUS_COVARIATES if features[c].isna().all()])
    for column in CATEGORICAL_COVARIATES:
        features[column] = _category_text(covariates[column])

    baseline_lesions = lesions.loc[
        lesions["kind"].isin(BASELINE_KINDS) & lesions["patient_id"].isin(index),
        ["lesion_id", "patient_id", "kind", "organ"],
    ]
    features["n_metastases"] = baseline_lesions.groupby("patient_id").size().reindex(index, fill_value=0).astype(int)
    targets = baseline_lesions[baseline_lesions["kind"] == "target"]
    volumes = _baseline_target_volumes(targets, measurements, baseline_day)
    features["baseline_target_volume_mm3"] = _baseline_target_volume(volumes, targets, index)

    organ_names = sorted(baseline_lesions["organ"].dropna().unique()) if organs is None else list(organs)
    lesion_counts = pd.crosstab(baseline_lesions["patient_id"], baseline_lesions["organ"])
    indicators = lesion_counts.gt(0).reindex(index=index, columns=organ_names, fill_value=False).astype(int)
    indicators.columns = [f"{ORGAN_PREFIX}{organ}" for organ in organ_names]
    counts = lesion_counts.reindex(index=index, columns=organ_names, fill_value=0).astype(int)
    counts.columns = [f"{COUNT_PREFIX}{organ}" for organ in organ_names]
    organ_volumes = (
        volumes.pivot_table(index="patient_id", columns="organ", values="volume_mm3", aggfunc="sum")
        .reindex(index=index, columns=organ_names)
        .fillna(0.0)
        .astype(float)
    )
    organ_volumes.columns = [f"{VOLUME_PREFIX}{organ}" for organ in organ_names]
    return pd.concat([features, indicators, counts, organ_volumes], axis=1)


def feature_kinds(features: pd.DataFrame) -> dict[str, list[str]]:
    """Split feature columns by how the model encodes them: continuous, skewed, categorical, organ indicators."""
    check_baseline_features(features)
    return {
        "continuous": [c for c in CONTINUOUS_COVARIATES if c in features],
        "skewed": [c for c in SKEWED_FEATURES if c in features]
        + [c for c in features if str(c).startswith(PROFILE_PREFIXES)],
        "categorical": [c for c in CATEGORICAL_COVARIATES if c in features],
        "organs": [c for c in features if c.startswith(ORGAN_PREFIX)],
    }


def check_baseline_features(features: pd.DataFrame) -> None:
    """Refuse a feature frame holding any column outside the baseline allow-list (e.g. os_days, recist_bor)."""
    allowed = set(PATIENT_COVARIATES) | set(SKEWED_FEATURES)
    refused = [
        c for c in features.columns if c not in allowed and not str(c).startswith((ORGAN_PREFIX, *PROFILE_PREFIXES))
    ]
    if refused:
        post = [c for c in refused if c in POST_BASELINE_COLUMNS]
        why = f" ({post} are known only after baseline)" if post else ""
        raise ValueError(
            f"features: column(s) {refused} are not baseline features{why}; "
            f"allowed: {sorted(allowed)} and the per-organ columns "
            f"{[p + '<organ>' for p in (ORGAN_PREFIX, *PROFILE_PREFIXES)]}"
        )
    if features.index.has_duplicates:
        raise ValueError(f"features: patient_id {features.index[features.index.duplicated()][0]!r} appears twice")


def progression_labels(
    groups: pd.Series, include_no_progression: bool = False, no_progression: str = "No progression"
) -> tuple[pd.Series, int]:
    """The outcome of the prediction: each patient's progression group (indexed by patient_id).

    Patients who never progressed have no sequence, so the paper's k-means never saw them: by default they are
    left out (and counted, the second value returned); ``include_no_progression`` keeps them as a class of their own.
    """
    if groups.index.has_duplicates:
        raise ValueError(f"groups: patient_id {groups.index[groups.index.duplicated()][0]!r} appears twice")
    if groups.isna().any():
        raise ValueError(f"groups: patient_id {groups.index[groups.isna()][0]!r} has no group")
    labels = groups.astype(str).rename("group")
    if include_no_progression:
        return labels, 0
    never = labels == no_progression
    return labels[~never], int(never.sum())
