"""Answers to the growth chapter's exercises, computed by the book itself (shown in a hidden cell).

The exercises ask a reader to refit the model with a shorter exploratory phase, with V0 estimated, and on a
teaching-size cohort, and to see what moves. ``exercise_answers`` makes those three refits on the same data
and tabulates them beside the chapter's own fit (and the truth, for simulated data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lesionmap.growth.saem import SAEM

_RATES = ("Kd", "F", "Kg")


def _rows(label: str, fit, truth_medians: dict | None) -> list[dict]:
    rows = []
    for name in _RATES:
        lower, upper = fit.population_ci[name]
        rows.append(
            {
                "fit": label,
                "parameter": name,
                "lesions": fit.n_lesions,
                "estimate": fit.population[name],
                "RSE%": 100.0 * fit.population_se[name] / abs(fit.population[name]),
                "CI95 width": upper - lower,
                "omega": fit.omega[name],
                "truth (median)": np.nan if truth_medians is None else truth_medians[name],
            }
        )
    return rows


def exercise_answers(
    fit,
    measurements: pd.DataFrame,
    lesions: pd.DataFrame,
    truth: pd.DataFrame | None,
    seed: int,
    fit_options: dict | None = None,
    short_k1: int = 100,
    class_patients: int = 300,
) -> pd.DataFrame:
    """The chapter's fit beside three refits: K1 = ``short_k1``; V0 estimated; ``class_patients`` patients.

    ``measurements`` are the target measurements the chapter fitted (with ``lesion_id``), ``lesions`` maps
    lesions to patients, ``truth`` holds the true lesion parameters (None for a user's data). The subset of
    patients is drawn with ``seed``; every refit uses ``seed`` too. One row per fit and parameter. A refit that
    would repeat the chapter's fit (a cohort of at most ``class_patients`` patients, or V0 already estimated)
    is not run again: its rows are the chapter's fit's.
    """
    options = {"random_state": seed, "verbose": False, **(fit_options or {})}
    truth_medians = None
    if truth is not None:
        fitted = truth[truth["lesion_id"].isin(fit.individual.index)]
        truth_medians = {name: float(fitted[name].median()) for name in _RATES}
    n_iter = options.get("n_iter", (300, 100))
    short = SAEM(**{**options, "n_iter": (short_k1, n_iter[1])}).fit(measurements)
    with_v0 = fit if options.get("estimate_v0") else SAEM(**{**options, "estimate_v0": True}).fit(measurements)
    patients = lesions.loc[lesions["lesion_id"].isin(measurements["lesion_id"]), "patient_id"].unique()
    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.sort(patients), size=min(class_patients, len(patients)), replace=False)
    if len(chosen) == len(patients):
        small = fit
    else:
        chosen_lesions = lesions.loc[lesions["patient_id"].isin(chosen), "lesion_id"]
        small = SAEM(**options).fit(measurements[measurements["lesion_id"].isin(chosen_lesions)])
    rows = (
        _rows("this chapter's fit", fit, truth_medians)
        + _rows(f"K1 = {short_k1}", short, truth_medians)
        + _rows("V0 estimated", with_v0, truth_medians)
        + _rows(f"{len(chosen):,} patients", small, truth_medians)
    )
    return pd.DataFrame(rows)
