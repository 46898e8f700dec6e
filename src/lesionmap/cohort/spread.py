"""Mechanism 3: metastatic spread, new lesions and the liver as a hub (spec sections ``organs.new_lesion_rate``,
``new_lesions``, ``liver_hub``, ``treatment_effects``, ``covariate_effects``).

A first new lesion appears in organ o at the first event of a hazard

    h_o(t) = r_o exp(patient terms) e^{s [o involved at baseline]} e^{c t} x e^{b [o is not the liver and t > L]},

where r_o is the organ's rate at the first dose in a patient without disease there; s
(``new_lesions.involved_log_hazard_ratio``) makes new lesions far likelier in organs already involved
(metastases seed their own organ; most patients keep their initial metastatic organs, Acta Oncol 2020);
c (``new_lesions.acceleration``) lets the hazard grow as resistant cells do; the patient terms are TAR (for
patients it slows, in the organs it reaches: ``organs.tar_acts``), line and a patient effect correlated with the patient's growth effect; and b
(``liver_hub.new_lesion_log_hazard_ratio``) is the liver hub: from the day L the liver progresses (its first
baseline-lesion progression or first new liver lesion) the hazard of new lesions in every other organ is
e^b times higher (paper, Discussion: the liver may serve as a trafficking hub for spread; Newton et al.
found liver metastases act as spreaders). The same L speeds the growth of lesions outside the liver by
e^a (``liver_hub.growth_log_acceleration``, ``lesionmap.cohort.lesion_growth``). With b = 0 and a = 0 the
hub is off; with s = 0 new lesions ignore where the disease is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lesionmap.cohort.lesion_growth import organ_values

LIVER = "liver"


@dataclass
class Spread:
    """New lesions and the hub: ``appears`` (patients x organs) is the day the organ's first new lesion appears
    (inf: never); ``liver_day`` the day the liver progresses (inf: never), which starts the hub."""

    appears: np.ndarray
    liver_day: np.ndarray


def new_lesion_rates(values: dict, organs: list[str], patients, lesions, rng: np.random.Generator) -> np.ndarray:
    """Each patient's first-dose new-lesion rate per organ (patients x organs, per day); organs involved at
    baseline take e^s times the rate of the others (s: ``new_lesions.involved_log_hazard_ratio``)."""
    newp, tre, cov = values["new_lesions"], values["treatment_effects"], values["covariate_effects"]
    rho = newp["growth_correlation"]
    u_new = rho * lesions.u_Kg + np.sqrt(1.0 - rho**2) * rng.standard_normal(patients.n)
    log_scale = cov["line2_log_new_lesion_rate"] * (patients.line == 2) + newp["patient_sd"] * u_new
    tar = tre["tar_log_new_lesion_rate"] * (lesions.tar_slows[:, None] & lesions.tar_reaches[None, :])
    organ_rates = organ_values(values, "new_lesion_rate", organs)[None, :]
    involved = newp["involved_log_hazard_ratio"] * patients.involved
    return organ_rates * np.exp(log_scale[:, None] + tar + involved)


def first_event_day(rate, acceleration: float, hub_day, hub_ratio, draw) -> np.ndarray:
    """Day of the first event of h(t) = rate e^{c t} (x ``hub_ratio`` after ``hub_day``) for unit-exponential
    ``draw``s, by inverting the cumulative hazard (exact, piecewise closed form)."""
    rate, hub_day, hub_ratio, draw = np.broadcast_arrays(
        *(np.asarray(x, float) for x in (rate, hub_day, hub_ratio, draw))
    )
    c = acceleration
    with np.errstate(over="ignore", invalid="ignore"):
        before_hub = rate / c * np.expm1(c * hub_day)
        early = np.log1p(c * draw / rate) / c
        rest = draw - before_hub
        late = np.log(np.exp(c * hub_day) + c * rest / (rate * hub_ratio)) / c
    return np.where(draw <= before_hub, early, late)


def draw_spread(
    values: dict, organs: list[str], patients, lesions, baseline_progression: np.ndarray, rng: np.random.Generator
) -> Spread:
    """First new lesion per organ, the liver first (it sets the hub day), then the others under the hub.

    ``baseline_progression`` (patients x organs) is each organ's first baseline-lesion progression day
    (inf: none).
    """
    acceleration = values["new_lesions"]["acceleration"]
    hub_ratio = float(np.exp(values["liver_hub"]["new_lesion_log_hazard_ratio"]))
    rates = new_lesion_rates(values, organs, patients, lesions, rng)
    draws = rng.exponential(size=rates.shape)
    appears = np.empty_like(rates)
    never = np.full(patients.n, np.inf)
    if LIVER in organs:
        liver = organs.index(LIVER)
        appears[:, liver] = first_event_day(rates[:, liver], acceleration, never, 1.0, draws[:, liver])
        liver_day = np.minimum(appears[:, liver], baseline_progression[:, liver])
    else:
        liver, liver_day = None, never
    others = [k for k in range(len(organs)) if k != liver]
    appears[:, others] = first_event_day(
        rates[:, others], acceleration, liver_day[:, None], hub_ratio, draws[:, others]
    )
    return Spread(appears=appears, liver_day=liver_day)
