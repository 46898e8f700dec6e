"""FrailtyCox beside R's coxme on the reference data shipped in ``tests/reference/coxme`` (one row per fit).

The reference fits were made with coxme 2.2-22 and survival 3.5-3 (R 4.2.2); their JSON files name the
formula. The same comparison is asserted, with tolerances, by ``tests/test_frailty_cox.py``; this function
gives the numbers to a reader (the validation appendix).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lesionmap.survival.frailty import FrailtyCox

_LESION_TERMS = ["organ", "treatment", "line", "age_z"]

#: (label, reference JSON, data CSV, duration, event, group, covariates, FrailtyCox options)
REFERENCE_FITS = (
    (
        "kidney (38 patients, dense block)",
        "coxme_kidney.json",
        "kidney.csv",
        "time",
        "status",
        "id",
        ["age", "sex"],
        {},
    ),
    (
        "lung (18 institutions, dense block)",
        "coxme_lung.json",
        "lung.csv",
        "time",
        "status",
        "inst",
        ["ph.ecog", "age"],
        {},
    ),
    ("cox_1000, Efron", "coxme_1000.json", "cox_1000.csv", "time", "event", "patient_id", _LESION_TERMS, {}),
    (
        "cox_1000, Breslow",
        "coxme_breslow_1000.json",
        "cox_1000.csv",
        "time",
        "event",
        "patient_id",
        _LESION_TERMS,
        {"ties": "breslow"},
    ),
    ("cox_5000, Efron", "coxme_5000.json", "cox_5000.csv", "time", "event", "patient_id", _LESION_TERMS, {}),
)


def _our_name(r_name: str) -> str:
    """R's coefficient name (``organbone``) to ours (``organ[bone]``)."""
    return f"organ[{r_name[5:]}]" if r_name.startswith("organ") else r_name


def _read_data(folder: Path, name: str) -> pd.DataFrame:
    data = pd.read_csv(folder / name)
    if name == "lung.csv":
        data["status"] = data["status"] - 1  # R's Surv reads 1/2 as censored/dead
    return data


def compare_with_coxme(folder: str | Path) -> pd.DataFrame:
    """Fit every reference data set with FrailtyCox and tabulate the largest differences from coxme.

    Columns: the data set, rows, groups, coxme's frailty variance and ours, their relative difference, the
    largest absolute coefficient difference, the largest relative SE difference, both integrated
    log-likelihoods and their absolute difference.
    """
    folder = Path(folder)
    rows = []
    for label, ref_name, data_name, duration, event, group, covariates, options in REFERENCE_FITS:
        ref = json.loads((folder / ref_name).read_text())
        data = _read_data(folder, data_name)
        references = {"organ": ref["reference_organ"]} if "reference_organ" in ref else None
        fit = FrailtyCox(**options).fit(data, duration, event, group, covariates=covariates, references=references)
        coef = pd.Series({_our_name(k): v for k, v in ref["coef"].items()})
        se = pd.Series({_our_name(k): v for k, v in ref["se"].items()})
        rows.append(
            {
                "data": label,
                "rows": fit.n_obs_,
                "groups": fit.n_groups_,
                "variance coxme": ref["frailty_variance"],
                "variance lesionmap": fit.frailty_variance_,
                "variance rel. diff": abs(fit.frailty_variance_ / ref["frailty_variance"] - 1),
                "coef |diff|": float(np.max(np.abs(fit.params_[coef.index] - coef))),
                "SE rel. diff": float(np.max(np.abs(fit.standard_errors_[se.index] / se - 1))),
                "loglik coxme": ref["loglik_integrated"],
                "loglik lesionmap": fit.loglik_integrated_,
                "loglik |diff|": abs(fit.loglik_integrated_ - ref["loglik_integrated"]),
            }
        )
    return pd.DataFrame(rows)
