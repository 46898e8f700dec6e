"""Mechanism 2: baseline lesions and their growth (spec sections ``organs``, ``disease``, ``variability``,
``treatment_effects``, ``covariate_effects``, ``lesion_events``, ``liver_hub.growth_log_acceleration``).

Every involved organ holds 1 + Poisson(``extra_lesions``) lesions with a log-normal baseline volume V0 (above
the smallest volume a scan records). Each lesion follows the paper's model
V(t) = V0 [F e^{Kg t} + (1 - F) e^{-Kd t}] (``lesionmap.growth.model``, the one home of the model and its
event-time solvers) with Kd, F, Kg log/logit-normal around organ typical values, shifted by treatment and
covariates, with a patient-level effect on logit F and log Kg. TAR acts only on lesions in the organs it reaches
(``organs.tar_acts``): there it deepens the response (F, Kd), and it lowers Kg only for patients with at most
``tar_max_organs`` involved organs (paper Results).

The liver hub acts on growth through the lesion's clock: once the patient's liver has progressed (day L, see
``lesionmap.cohort.spread``), the disease clock of every lesion outside the liver runs ``e^a`` times faster
(a = ``liver_hub.growth_log_acceleration``): the lesion is at V(tau(t)) with tau(t) = t before L and
L + e^a (t - L) after it, so its remaining time to progression is divided by e^a.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit, ndtr, ndtri

from lesionmap.growth import model


@dataclass
class Lesions:
    """Baseline lesions sorted by patient, then organ; ``u_F`` and ``u_Kg`` are per patient (standard normal)."""

    patient: np.ndarray
    organ: np.ndarray
    V0: np.ndarray
    Kd: np.ndarray
    F: np.ndarray
    Kg: np.ndarray
    u_F: np.ndarray
    u_Kg: np.ndarray
    tar_slows: np.ndarray
    tar_reaches: np.ndarray

    @property
    def m(self) -> int:
        return len(self.patient)


def organ_values(values: dict, family: str, organs: list[str]) -> np.ndarray:
    """One organ-level family of the spec (``organs.<family>``) as an array in the spec's organ order."""
    return np.array([values["organs"][family][o] for o in organs])


def draw_lesions(values: dict, organs: list[str], patients, rng: np.random.Generator) -> Lesions:
    """Baseline lesions of the involved organs with their volumes and growth parameters."""
    n, n_org = patients.n, len(organs)
    disease, var = values["disease"], values["variability"]
    tre, cov = values["treatment_effects"], values["covariate_effects"]
    involved = patients.involved

    counts = np.where(
        involved, 1 + rng.poisson(np.broadcast_to(organ_values(values, "extra_lesions", organs), (n, n_org))), 0
    )
    patient = np.repeat(np.repeat(np.arange(n), n_org), counts.ravel())
    organ = np.repeat(np.tile(np.arange(n_org), n), counts.ravel())
    m = len(patient)

    mu = np.log(organ_values(values, "v0_median_mm3", organs))[organ]
    lower = ndtr((np.log(disease["min_volume_mm3"]) - mu) / disease["v0_log_sd"])
    v0 = np.exp(mu + disease["v0_log_sd"] * ndtri(lower + (1 - lower) * rng.random(m)))

    u_F, u_Kg = rng.standard_normal(n), rng.standard_normal(n)
    reaches = organ_values(values, "tar_acts", organs).astype(bool)
    tar = patients.tar[patient] & reaches[organ]
    # Paper, Results: targeted agents delay progression in patients with few metastatic organs only.
    tar_slows = patients.tar & (involved.sum(axis=1) <= tre["tar_max_organs"])
    line2 = patients.line[patient] == 2
    log_kd = (
        np.log(organ_values(values, "Kd", organs))[organ]
        + tre["tar_log_Kd"] * tar
        + var["omega_Kd"] * rng.standard_normal(m)
    )
    logit_f = (
        logit(organ_values(values, "F", organs))[organ]
        + tre["tar_logit_F"] * tar
        + cov["line2_logit_F"] * line2
        + cov["nonwhite_logit_F"] * (patients.race[patient] != "WHITE")
        + var["patient_sd_F"] * u_F[patient]
        + var["omega_F"] * rng.standard_normal(m)
    )
    log_kg = (
        np.log(organ_values(values, "Kg", organs))[organ]
        + tre["tar_log_Kg"] * (tar_slows[patient] & tar)
        + cov["line2_log_Kg"] * line2
        + cov["surgery_log_Kg"] * patients.prior_surgery[patient]
        + var["patient_sd_Kg"] * u_Kg[patient]
        + var["omega_Kg"] * rng.standard_normal(m)
    )
    return Lesions(patient, organ, v0, np.exp(log_kd), expit(logit_f), np.exp(log_kg), u_F, u_Kg, tar_slows, reaches)


def natural_event_times(values: dict, lesions: Lesions) -> dict[str, np.ndarray]:
    """Nadir, response and progression days of each lesion on its own clock (no liver hub): the paper's
    lesion definitions (response: -20% from V0; progression: +30% or +200 mm^3 over the nadir)."""
    events = values["lesion_events"]
    t_nadir, _ = model.nadir(lesions.V0, lesions.Kd, lesions.F, lesions.Kg)
    t_response = model.time_to_response(lesions.Kd, lesions.F, lesions.Kg, drop=events["response_drop"])
    t_progression = model.time_to_progression(
        lesions.V0,
        lesions.Kd,
        lesions.F,
        lesions.Kg,
        rise=events["progression_rise"],
        absolute=events["progression_volume_mm3"],
    )
    return {
        "t_nadir": t_nadir,
        "t_response": t_response,
        "t_progression": np.where(np.isnan(t_progression), np.inf, t_progression),
    }


def hub_factor(values: dict) -> float:
    """How many times faster the clock of lesions outside the liver runs after liver progression."""
    return float(np.exp(values["liver_hub"]["growth_log_acceleration"]))


def calendar_day(natural_day, hub_day, factor: float):
    """Calendar day at which a lesion's own clock reaches ``natural_day`` (clock e^a faster after ``hub_day``)."""
    natural_day, hub_day = np.broadcast_arrays(np.asarray(natural_day, float), np.asarray(hub_day, float))
    with np.errstate(invalid="ignore"):
        later = natural_day > hub_day
        return np.where(later, hub_day + (natural_day - hub_day) / factor, natural_day)


def lesion_clock(day, hub_day, factor: float):
    """A lesion's own clock tau at calendar ``day``: the day itself before ``hub_day``, faster after it."""
    day, hub_day = np.broadcast_arrays(np.asarray(day, float), np.asarray(hub_day, float))
    with np.errstate(invalid="ignore"):
        return np.where(day > hub_day, hub_day + factor * (day - hub_day), day)


def true_volume(lesions: Lesions, clock) -> np.ndarray:
    """True volume of each lesion (rows) at the clock values given (lesions x visits)."""
    return model.predict_volume(
        clock, lesions.V0[:, None], lesions.Kd[:, None], lesions.F[:, None], lesions.Kg[:, None]
    )
