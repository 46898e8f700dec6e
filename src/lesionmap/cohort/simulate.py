"""Simulate a cohort from its spec: one module per mechanism, each reading its own section of the spec.

1. ``patients``: trials, arms, demographics, enrolment and baseline organ involvement (count, then organs).
2. ``lesion_growth``: baseline lesions and the paper's growth model (``lesionmap.growth.model``).
3. ``spread``: new lesions, likeliest in organs already involved, with the liver as a hub for spread (each its
   own term).
4. ``death``: the death hazard, with an organ-specific weight for each progressing organ (liver most).
5. ``followup``: scans, RECIST and the two evaluators, as trials record them.
6. ``records``: the SDTM records, the analysis tables and the truth (including every patient's complete
   true organ progression sequence, ``truth/organ_sequences.parquet``).

The order follows causality: growth and spread set when each organ progresses (the liver first, because its
progression starts the hub); organ progression drives death; death, withdrawal and the cut-off end the scans.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from lesionmap import logs
from lesionmap import tables as contract
from lesionmap.cohort import death, followup, lesion_growth, records, spread
from lesionmap.cohort import patients as patients_module
from lesionmap.cohort.records import (
    EVALUATORS,
    INDEPENDENT,
    INVESTIGATOR,
    TOO_SMALL,
    TUMSTATE_RESULTS,
    TUMSTATE_STATUS,
    CohortTruth,
    SdtmRecords,
    SimulatedCohort,
)
from lesionmap.cohort.spec import CohortSpec, load_spec
from lesionmap.config import DEFAULT_SEED

__all__ = [
    "DEFAULT_SEED",
    "EVALUATORS",
    "INDEPENDENT",
    "INVESTIGATOR",
    "TOO_SMALL",
    "TUMSTATE_RESULTS",
    "TUMSTATE_STATUS",
    "CohortTruth",
    "SdtmRecords",
    "SimulatedCohort",
    "simulate",
]

#: The steps of ``simulate`` its progress bar counts.
SIMULATION_STEPS = ("mechanisms", "SDTM records", "analysis tables", "truth")

log = logging.getLogger(__name__)


def _screen(spec: CohortSpec, n: int, rng: np.random.Generator) -> dict:
    """Every mechanism for ``n`` screened patients, in causal order."""
    values, organs = spec.values, spec.organs
    pts = patients_module.draw_patients(values, organs, spec.site_map, n, rng)
    les = lesion_growth.draw_lesions(values, organs, pts, rng)
    natural = lesion_growth.natural_event_times(values, les)

    # Each organ's first baseline-lesion progression on the natural clock; the liver's sets the hub day.
    baseline_natural = np.full((n, len(organs)), np.inf)
    np.minimum.at(baseline_natural, (les.patient, les.organ), natural["t_progression"])
    spreading = spread.draw_spread(values, organs, pts, les, baseline_natural, rng)

    factor = lesion_growth.hub_factor(values)
    is_liver = np.array([o == spread.LIVER for o in organs])[les.organ]
    hub_day = np.where(is_liver, np.inf, spreading.liver_day[les.patient])
    event_days = {name: lesion_growth.calendar_day(days, hub_day, factor) for name, days in natural.items()}
    baseline_progression = np.full((n, len(organs)), np.inf)
    np.minimum.at(baseline_progression, (les.patient, les.organ), event_days["t_progression"])
    organ_progression = np.minimum(baseline_progression, spreading.appears)

    death_time = death.death_times(values, organs, pts, organ_progression, rng)
    death_day = np.floor(np.minimum(death_time, 1e9)).astype(np.int64) + 1  # 1e9: alive at any cut-off
    scans = followup.scan_patients(
        values, organs, spec.site_map["nodal"], pts, les, spreading.liver_day, factor, spreading.appears, death_day, rng
    )
    return {
        "patients": pts,
        "lesions": les,
        "spread": spreading,
        "hub_day": hub_day,
        "event_days": event_days,
        "baseline_progression": baseline_progression,
        "organ_progression": organ_progression,
        "death_time": death_time,
        "death_day": death_day,
        "scans": scans,
    }


def population_truth(spec: CohortSpec, seed: int) -> dict:
    """Organ typical values per treatment group and every population parameter of the mechanisms."""
    v = spec.values
    organs, tre = v["organs"], v["treatment_effects"]
    per_organ = {}
    for o in spec.organs:
        reaches = float(bool(organs["tar_acts"][o]))
        chemo = {"Kd": organs["Kd"][o], "F": organs["F"][o], "Kg": organs["Kg"][o]}
        tar = {
            "Kd": float(organs["Kd"][o] * np.exp(tre["tar_log_Kd"] * reaches)),
            "F": float(expit(logit(organs["F"][o]) + tre["tar_logit_F"] * reaches)),
            "Kg": float(organs["Kg"][o] * np.exp(tre["tar_log_Kg"] * reaches)),
        }
        per_organ[o] = {
            "typical": {contract.TREATMENT_GROUPS[1]: chemo, contract.TREATMENT_GROUPS[0]: tar},
            **{name: organs[name][o] for name in organs if name not in ("Kd", "F", "Kg")},
        }
    blocks = (
        "involvement",
        "variability",
        "treatment_effects",
        "covariate_effects",
        "new_lesions",
        "liver_hub",
        "survival",
        "follow_up",
        "nontarget",
        "measurement",
        "lesion_events",
        "disease",
        "recist",
    )
    return {
        "cohort": spec.name,
        "seed": seed,
        "time_unit": "day",
        "organs": per_organ,
        "typical_values_note": "Kd, F, Kg typical values for a first-line, white patient without prior surgery; "
        "the TAR+Chemo values apply in the organs TAR reaches (organs.tar_acts; the others keep the Chemo "
        "alone values) and its Kg to patients with at most tar_max_organs involved organs; outside the liver the lesion clock runs "
        "e^growth_log_acceleration times faster after liver progression",
        **{block: v[block] for block in blocks if block in v},
        "survival_model": "piecewise-constant death hazard: base_hazard x exp(line2_log_hazard [line 2] + "
        "age_log_hazard_per_decade (age - 60) / 10 + frailty) x exp(sum over progressed organs "
        "of death_log_hazard(organ))",
    }


def simulate(spec: CohortSpec | str, n_patients: int | None = None, seed: int = DEFAULT_SEED) -> SimulatedCohort:
    """Simulate a cohort from its spec (or spec name); ``n_patients`` analysed patients (default: the spec's).

    Extra screened patients fall under the exclusion rules so that exactly ``n_patients`` remain; they are
    part of the SDTM records and listed in ``exclusions``. Same spec, size and seed: same cohort, bit for bit.
    """
    if not isinstance(spec, CohortSpec):
        spec = load_spec(spec)
    n_keep = spec.n_patients if n_patients is None else int(n_patients)
    if n_keep < 1:
        raise ValueError(f"n_patients must be at least 1, not {n_patients}")
    rng = np.random.default_rng(seed)
    n_screen = int(np.ceil(1.25 * n_keep)) + 40
    with logs.progress(total=len(SIMULATION_STEPS), desc=f"simulate {spec.name}", unit="step") as bar:
        bar.set_postfix_str(SIMULATION_STEPS[0])
        while True:
            world = _screen(spec, n_screen, rng)
            reasons = followup.exclusion_reasons(world["patients"], world["lesions"], world["scans"])
            kept_index = np.flatnonzero(reasons == "")
            if len(kept_index) >= n_keep:
                break
            n_screen *= 2
        bar.update()
        bar.set_postfix_str(SIMULATION_STEPS[1])
        n_used = int(kept_index[n_keep - 1]) + 1
        pts, les, scans = world["patients"], world["lesions"], world["scans"]
        sdtm, index = records.build_records(
            spec.values, spec.site_map, spec.organs, pts, les, scans, world["death_day"], n_used, reasons, rng
        )
        bar.update()
        bar.set_postfix_str(SIMULATION_STEPS[2])
        tables = records.analysis_tables(spec.values, sdtm)
        bar.update()
        bar.set_postfix_str(SIMULATION_STEPS[3])
        truth = _truth(spec, seed, world, sdtm, index, reasons, n_used, set(tables["lesions"]["lesion_id"]))
        bar.update()
    log.info("simulated %s: %d patients (%d screened), seed %d", spec.name, n_keep, n_used, seed)
    return SimulatedCohort(spec.name, int(seed), truth=truth, records=sdtm, **tables)


def _truth(spec, seed, world, sdtm, index, reasons, n_used, lesion_ids) -> CohortTruth:
    pts, les = world["patients"], world["lesions"]
    lesions = records.truth_lesions(
        les, world["event_days"], world["hub_day"], world["spread"].appears, index, spec.organs
    )
    lesions = lesions[lesions["lesion_id"].isin(lesion_ids)].sort_values("lesion_id", kind="stable")
    usubjid = index["usubjid"]
    var = spec.values["variability"]
    organ_progression = world["organ_progression"][:n_used]
    patients = (
        pd.DataFrame(
            {
                "patient_id": usubjid,
                "treatment_group": sdtm.subjects["treatment_group"].to_numpy(),
                "death_time": world["death_time"][:n_used],
                "first_progression_day": organ_progression.min(axis=1),
                "liver_progression_day": world["spread"].liver_day[:n_used],
                "n_organs_baseline": pts.involved[:n_used].sum(axis=1),
                "logit_F_effect": var["patient_sd_F"] * les.u_F[:n_used],
                "log_Kg_effect": var["patient_sd_Kg"] * les.u_Kg[:n_used],
                "exclusion": reasons[:n_used],
            }
        )
        .sort_values("patient_id", kind="stable")
        .reset_index(drop=True)
    )
    kept = reasons[:n_used] == ""
    n_org = len(spec.organs)
    organ_table = (
        pd.DataFrame(
            {
                "patient_id": np.repeat(usubjid[kept], n_org),
                "organ": np.tile(np.array(spec.organs, dtype=object), int(kept.sum())),
                "involved_at_baseline": pts.involved[:n_used][kept].ravel(),
                "progression_day": organ_progression[kept].ravel(),
                "baseline_progression_day": world["baseline_progression"][:n_used][kept].ravel(),
                "new_lesion_day": world["spread"].appears[:n_used][kept].ravel(),
            }
        )
        .sort_values(["patient_id", "organ"], kind="stable")
        .reset_index(drop=True)
    )
    last_alive = sdtm.subjects["os_days"].to_numpy(float)[kept]
    sequences = records.organ_sequences(
        usubjid[kept],
        spec.organs,
        world["baseline_progression"][:n_used][kept],
        world["spread"].appears[:n_used][kept],
        world["death_time"][:n_used][kept],
        last_alive,
    )
    return CohortTruth(lesions.reset_index(drop=True), patients, organ_table, sequences, population_truth(spec, seed))
