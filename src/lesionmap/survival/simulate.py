"""Simulate lesion event times from a frailty Cox model with known truth (recovery tests and benchmarks).

Each patient has a Gaussian frailty b ~ N(0, variance) shared by all their lesions, patient covariates
(treatment group, line of therapy, prior surgery, standardised age; sex and standardised BMI with no effect,
so that covariate selection has something to reject) and lesions in organs. A lesion's hazard is Weibull:
h(t) = (shape / scale) (t / scale)^(shape - 1) exp(x'beta + b). Lesions are censored at their patient's last
day on study (uniform between ``censor_days``), and times are rounded up to whole days, so events tie as in
the scan-based data of the paper.

The default organ effects are ASSUMED values that only mimic the shape of the paper's Fig. 3b (brain/CNS, GR
and liver progress most; GI tract and lymph nodes least); the default scale is the paper's
(4,308 patients, about 40,600 lesions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lesionmap.organs import ORGAN_ORDER
from lesionmap.survival.design import build_terms, design_matrix

#: Organ categories of the book (``data/cohorts/mcrc.yaml``), reference first.
ORGANS = ("abdomen",) + tuple(o for o in ORGAN_ORDER if o not in ("abdomen", "head and neck"))
#: Share of lesions per organ (ASSUMED; liver, lung and lymph nodes most frequent, as in the paper's Fig. 1b).
ORGAN_SHARES = (
    0.05,
    0.33,
    0.20,
    0.09,
    0.07,
    0.05,
    0.01,
    0.025,
    0.008,
    0.02,
    0.01,
    0.01,
    0.01,
    0.02,
    0.02,
    0.01,
    0.03,
    0.027,
)
#: Log hazard ratios of progression against abdomen (ASSUMED, shaped like the paper's Fig. 3b).
ORGAN_LOG_HR = (
    0.0,
    0.45,
    -0.25,
    -0.55,
    -0.45,
    0.05,
    0.10,
    0.20,
    0.70,
    -0.65,
    0.60,
    -0.20,
    0.15,
    0.0,
    0.20,
    0.30,
    -0.10,
    0.05,
)
#: Patient covariate log hazard ratios (ASSUMED); sex and bmi_z have no effect.
COVARIATE_LOG_HR = {
    "treatment_group[TAR+Chemo]": -0.40,
    "line": 0.25,
    "prior_surgery": -0.20,
    "age_z": 0.10,
    "sex[M]": 0.0,
    "bmi_z": 0.0,
}
#: Columns of the simulated frame that are model terms, and the reference levels of the categorical ones.
TERMS = ("organ", "treatment_group", "line", "prior_surgery", "age_z", "sex", "bmi_z")
REFERENCES = {"organ": "abdomen", "treatment_group": "Chemo alone", "sex": "F"}


@dataclass(frozen=True)
class FrailtyTruth:
    """The parameters a simulated data set was drawn from."""

    log_hazard_ratios: pd.Series
    variance: float
    shape: float
    scale: float
    references: dict


def simulate_frailty_cox(
    n_patients: int = 4308,
    lesions_per_patient: float = 9.43,
    variance: float = 0.4,
    shape: float = 1.2,
    scale: float = 400.0,
    censor_days: tuple[float, float] = (60.0, 900.0),
    organ_log_hr: dict | None = None,
    covariate_log_hr: dict | None = None,
    seed: int | np.random.Generator = 0,
) -> tuple[pd.DataFrame, FrailtyTruth]:
    """Simulate one lesion per row: patient_id, lesion_id, organ, patient covariates, day, event.

    ``lesions_per_patient`` is the mean (one lesion plus a Poisson number more); ``organ_log_hr`` maps organ ->
    log hazard ratio against ``abdomen`` and ``covariate_log_hr`` maps design column -> log hazard ratio
    (defaults: ``ORGAN_LOG_HR``, ``COVARIATE_LOG_HR``). Returns the frame and the truth.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    organ_effects = dict(zip(ORGANS, ORGAN_LOG_HR)) if organ_log_hr is None else {"abdomen": 0.0, **organ_log_hr}
    covariate_effects = {**COVARIATE_LOG_HR, **(covariate_log_hr or {})}
    if organ_effects.get("abdomen", 0.0) != 0.0:
        raise ValueError("abdomen is the reference organ: its log hazard ratio must be 0")
    unknown = set(organ_effects) - set(ORGANS)
    if unknown:
        raise ValueError(f"unknown organ(s) {sorted(unknown)}; organs are {ORGANS}")
    unknown = set(covariate_effects) - set(COVARIATE_LOG_HR)
    if unknown:
        raise ValueError(f"unknown covariate(s) {sorted(unknown)}; covariates are {list(COVARIATE_LOG_HR)}")

    patients = pd.DataFrame(
        {
            "patient_id": "P" + pd.Series(np.arange(1, n_patients + 1)).astype(str).str.zfill(5),
            "treatment_group": np.where(rng.random(n_patients) < 0.5, "TAR+Chemo", "Chemo alone"),
            "line": np.where(rng.random(n_patients) < 0.3, 2, 1),
            "prior_surgery": (rng.random(n_patients) < 0.6).astype(int),
            "age_z": np.round(rng.standard_normal(n_patients), 4),
            "sex": np.where(rng.random(n_patients) < 0.6, "M", "F"),
            "bmi_z": np.round(rng.standard_normal(n_patients), 4),
        }
    )
    frailty = rng.normal(0.0, np.sqrt(variance), n_patients)
    last_day = rng.uniform(*censor_days, n_patients)
    counts = 1 + rng.poisson(max(lesions_per_patient - 1.0, 0.0), n_patients)
    owner = np.repeat(np.arange(n_patients), counts)
    shares = np.asarray(ORGAN_SHARES) / np.sum(ORGAN_SHARES)
    organ_index = rng.choice(len(ORGANS), size=len(owner), p=shares)

    lesions = patients.iloc[owner].reset_index(drop=True)
    ranks = pd.Series(_rank_within(owner)).astype(str).str.zfill(2)
    lesions.insert(1, "lesion_id", lesions["patient_id"] + "/L" + ranks)
    lesions.insert(2, "organ", np.asarray(ORGANS, dtype=object)[organ_index])

    log_hr = pd.Series(
        {
            **{f"organ[{name}]": organ_effects.get(name, 0.0) for name in ORGANS[1:]},
            **{name: covariate_effects[name] for name in COVARIATE_LOG_HR},
        },
        name="log_hr",
    )
    terms = build_terms(lesions, list(TERMS), REFERENCES)
    columns = [column for term in terms for column in term.columns]
    linear_predictor = design_matrix(lesions, terms) @ log_hr[columns].to_numpy() + frailty[owner]
    event_time = scale * (rng.exponential(size=len(owner)) * np.exp(-linear_predictor)) ** (1.0 / shape)
    censor = last_day[owner]
    lesions["event"] = (event_time <= censor).astype(int)
    lesions["day"] = np.ceil(np.minimum(event_time, censor))
    return lesions, FrailtyTruth(log_hr, variance, shape, scale, dict(REFERENCES))


def _rank_within(owner: np.ndarray) -> np.ndarray:
    """1-based position of each row within its (sorted, contiguous) owner."""
    starts = np.searchsorted(owner, owner, side="left")
    return np.arange(len(owner)) - starts + 1
