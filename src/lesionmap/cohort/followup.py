"""Mechanism 4: scans and follow-up as trials record them (spec sections ``follow_up``, ``recist``,
``measurement``, ``nontarget``, ``disease.visit_window_days``, ``exclusions``).

Scans come every 8 (or 12) weeks (within a visit window) while the patient is alive, still followed
(patients leave follow-up without progression at ``follow_up.scan_stop_rate`` per day: toxicity, withdrawal)
and before the data cut-off. ``follow_up.scans_after_progression`` chooses what happens at the first RECIST
progression: false (the default, as the pooled trials recorded it) stops the scans there; true keeps
scanning until death, withdrawal or cut-off. The analysis then sees later target-lesion progressions through
the fitted growth model (``lesionmap.events``, whose horizon is its own documented parameter).

At each scan: RECIST target lesions (measurable at baseline: large enough and not among the
``measurement.nonmeasurable_share`` of lesions a reader cannot measure; at most ``max_targets_per_organ`` per
organ and ``max_targets`` per patient, organs represented first) are measured from their true volume
(V = 0.2914 L^3) with proportional error; non-target lesions read ABSENT, PRESENT or UNEQUIVOCAL
PROGRESSION; new lesions are found at the first scan after they appear; the RECIST overall response is
computed. A second evaluator (the investigator) reads slightly different diameters and statuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lesionmap import tables as contract
from lesionmap.cohort import recist
from lesionmap.cohort.lesion_growth import lesion_clock, true_volume
from lesionmap.growth import model

ABSENT, PRESENT, UNEQUIVOCAL = range(3)

#: Exclusion rule 1 (paper, Methods): baseline scan more than 12 weeks before the first dose.
EARLY_BASELINE_DAYS = 84


@dataclass
class Scans:
    """What the scans recorded (patients x visits, or lesions x visits for lesion readings)."""

    days: np.ndarray
    valid: np.ndarray
    observed: np.ndarray
    last_visit: np.ndarray
    stop_day: np.ndarray
    target: np.ndarray
    nodal: np.ndarray
    diameter: np.ndarray
    too_small: np.ndarray
    vanished: np.ndarray
    nt_status: np.ndarray
    not_done: np.ndarray
    codes: np.ndarray
    first_pd: np.ndarray
    first_new: np.ndarray
    detect_visit: np.ndarray
    inv_diameter: np.ndarray
    inv_too_small: np.ndarray
    inv_status: np.ndarray
    inv_codes: np.ndarray


def rank_within(group, *order_keys):
    """Position of each row within its group when rows are sorted by ``order_keys`` (last key primary)."""
    group = np.asarray(group)
    order = np.lexsort((*order_keys, group))
    sorted_group = group[order]
    starts = np.r_[True, sorted_group[1:] != sorted_group[:-1]]
    start_index = np.maximum.accumulate(np.where(starts, np.arange(len(group)), 0))
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - start_index
    return rank


def _patient_sum(values, patient, n_patients):
    """Sum of lesion rows (lesions x visits) per patient -> (patients x visits)."""
    out = np.zeros((n_patients, values.shape[1]), dtype=float)
    np.add.at(out, patient, values)
    return out


def visit_days(patients, window: int, rng: np.random.Generator) -> np.ndarray:
    """Scheduled scan days (patients x visits; column 0 is the baseline scan) within the data cut-off."""
    n_visits = int((patients.admin_day // patients.interval).max()) + 1
    k = np.arange(1, n_visits + 1)
    days = k[None, :] * patients.interval[:, None] + rng.integers(-window, window + 1, (patients.n, n_visits))
    return np.concatenate([patients.baseline_day[:, None], days], axis=1)


def select_targets(
    rules: dict,
    nodal: np.ndarray,
    lesions,
    n_organs: int,
    baseline_diameter: np.ndarray,
    well_defined: np.ndarray | None = None,
) -> np.ndarray:
    """RECIST target lesions: measurable at baseline (large enough and, when given, ``well_defined``), the
    largest per organ, a patient maximum, every organ's largest before any organ's second."""
    measurable = baseline_diameter >= np.where(nodal, rules["nodal_measurable_mm"], rules["measurable_mm"])
    if well_defined is not None:
        measurable &= well_defined
    group = lesions.patient * n_organs + lesions.organ
    organ_rank = rank_within(group, -baseline_diameter, ~measurable)
    candidate = measurable & (organ_rank < rules["max_targets_per_organ"])
    patient_rank = rank_within(lesions.patient, -baseline_diameter, organ_rank, ~candidate)
    return candidate & (patient_rank < rules["max_targets"])


def _read_diameters(meas: dict, rules: dict, volume: np.ndarray, rng: np.random.Generator) -> dict:
    """Measured diameters (NaN when too small), vanished and too-small flags, and the RECIST sum value."""
    noise = np.maximum(1.0 + meas["proportional_error"] * rng.standard_normal(volume.shape), 1e-3)
    observed = volume * noise
    diameter = np.round(model.diameter_from_volume(observed), meas["diameter_decimals"])
    vanished = volume < meas["vanished_mm3"]
    too_small = ~vanished & (diameter < meas["too_small_mm"])
    value = np.where(vanished, 0.0, np.where(too_small, rules["too_small_default_mm"], diameter))
    recorded = np.where(vanished, 0.0, np.where(too_small, np.nan, diameter))
    return {
        "observed_volume": observed,
        "diameter": recorded,
        "vanished": vanished,
        "too_small": too_small,
        "sum_value": value,
    }


def _nontarget_status(nt: dict, lesions, clock: np.ndarray, observed_volume: np.ndarray) -> np.ndarray:
    """ABSENT below a fraction of baseline; UNEQUIVOCAL PROGRESSION at a multiple of the nadir so far once the
    lesion is also larger than at baseline; else PRESENT."""
    t_nadir, _ = model.nadir(lesions.V0, lesions.Kd, lesions.F, lesions.Kg)
    nadir_so_far = model.volume_ratio(
        np.minimum(np.maximum(clock, 0), t_nadir[:, None]), lesions.Kd[:, None], lesions.F[:, None], lesions.Kg[:, None]
    )
    ratio = observed_volume / lesions.V0[:, None]
    status = np.where(
        ratio < nt["absent_fraction"],
        ABSENT,
        np.where(
            (ratio >= nt["progression_factor"] * nadir_so_far) & (ratio >= nt["progression_over_baseline"]),
            UNEQUIVOCAL,
            PRESENT,
        ),
    )
    status[:, 0] = PRESENT
    return status


def _visit_inputs(lesions, n, is_target, is_nodal, sum_value, not_done, nt_status, new_visit, nodal_normal_mm):
    """Per patient and visit: the inputs of ``recist.overall_response``."""
    n_cols = sum_value.shape[1]
    is_nontarget = ~is_target
    tp, ntp = lesions.patient[is_target], lesions.patient[is_nontarget]
    t_nd = not_done[is_target]
    target_sum = _patient_sum(np.where(t_nd, 0.0, sum_value[is_target]), tp, n)
    target_missing = _patient_sum(t_nd.astype(float), tp, n) > 0
    gone = np.where(is_nodal[is_target][:, None], sum_value[is_target] < nodal_normal_mm, sum_value[is_target] == 0)
    target_all_gone = _patient_sum((~gone).astype(float), tp, n) == 0
    has_targets = np.bincount(tp, minlength=n) > 0
    nt_nd = not_done[is_nontarget]
    status = nt_status[is_nontarget]
    nontarget_pd = _patient_sum(((status == UNEQUIVOCAL) & ~nt_nd).astype(float), ntp, n) > 0
    nontarget_all_absent = _patient_sum(((status != ABSENT) | nt_nd).astype(float), ntp, n) == 0
    new_lesion = new_visit[:, None] == np.arange(n_cols)[None, :]
    return target_sum, target_missing, target_all_gone, has_targets, nontarget_pd, nontarget_all_absent, new_lesion


def _first_progression(codes, valid):
    """Index of the first follow-up visit with PD (a large sentinel when none)."""
    pd_visit = (codes == recist.PD) & valid
    pd_visit[:, 0] = False
    return np.where(pd_visit.any(axis=1), pd_visit.argmax(axis=1), np.iinfo(np.int64).max)


def scan_patients(
    values: dict,
    organs: list[str],
    nodal_organs: list[str],
    patients,
    lesions,
    hub_day: np.ndarray,
    hub_factor: float,
    new_appears: np.ndarray,
    death_day: np.ndarray,
    rng: np.random.Generator,
) -> Scans:
    """Scan every patient until death, withdrawal, cut-off or (by default) the first RECIST progression.

    ``hub_day`` (per patient) and ``hub_factor`` set each lesion's clock (``lesion_growth.lesion_clock``;
    liver lesions keep their own clock); ``new_appears`` (patients x organs) the new lesions' days.
    """
    rules_spec, meas, follow = values["recist"], values["measurement"], values["follow_up"]
    n = patients.n
    days = visit_days(patients, values["disease"]["visit_window_days"], rng)
    lesion_days = days[lesions.patient]
    is_liver = np.array([o == "liver" for o in organs])[lesions.organ]
    lesion_hub = np.where(is_liver, np.inf, hub_day[lesions.patient])
    clock = lesion_clock(lesion_days, lesion_hub[:, None], hub_factor)
    obs = _read_diameters(meas, rules_spec, true_volume(lesions, clock), rng)
    nodal = np.isin(np.array(organs), nodal_organs)[lesions.organ]
    # Some lesions cannot be measured whatever their size (ill-defined margins, confluent, cystic): non-target.
    well_defined = rng.random(lesions.m) >= meas["nonmeasurable_share"]
    target = select_targets(rules_spec, nodal, lesions, len(organs), obs["diameter"][:, 0], well_defined)

    stop_day = np.floor(rng.exponential(1.0 / follow["scan_stop_rate"], n)).astype(np.int64) + 1
    valid = (days < death_day[:, None]) & (days < stop_day[:, None]) & (days <= patients.admin_day[:, None])
    valid[:, 0] = True
    last_valid = valid.sum(axis=1) - 1

    detect_visit = 1 + (days[:, None, 1:] < new_appears[:, :, None]).sum(axis=2)
    first_new = detect_visit.min(axis=1)
    nt_status = _nontarget_status(values["nontarget"], lesions, clock, obs["observed_volume"])
    not_done = rng.random(lesion_days.shape) < meas["not_done_rate"]
    not_done[:, 0] = False
    rules = recist.RecistRules(rules_spec["pd_increase"], rules_spec["pd_absolute_mm"], rules_spec["pr_decrease"])

    def responses(sum_value, status, nd):
        inputs = _visit_inputs(
            lesions, n, target, nodal, sum_value, nd, status, first_new, rules_spec["nodal_normal_mm"]
        )
        return np.where(valid, recist.overall_response(*inputs, rules=rules), recist.NE)

    codes = responses(obs["sum_value"], nt_status, not_done)
    if bool(follow["scans_after_progression"]):
        last_visit = last_valid
    else:
        last_visit = np.minimum(_first_progression(codes, valid), last_valid)
    # The last scan of a patient is always complete (so its day is the last day whatever the reader keeps).
    not_done[np.arange(lesions.m), last_visit[lesions.patient]] = False
    codes = responses(obs["sum_value"], nt_status, not_done)
    observed = np.arange(days.shape[1])[None, :] <= last_visit[:, None]

    # The investigator's reading: slightly different diameters and a few absent/present statuses flipped.
    inv_diameter = np.round(
        obs["diameter"] * np.exp(meas["investigator_log_sd"] * rng.standard_normal(obs["diameter"].shape)),
        meas["diameter_decimals"],
    )
    inv_too_small = obs["too_small"] | (~obs["vanished"] & (inv_diameter < meas["too_small_mm"]))
    inv_diameter = np.where(obs["vanished"], 0.0, np.where(inv_too_small, np.nan, inv_diameter))
    inv_sum = np.where(obs["vanished"], 0.0, np.where(inv_too_small, rules_spec["too_small_default_mm"], inv_diameter))
    inv_diameter[:, 0] = obs["diameter"][:, 0]
    inv_sum[:, 0] = obs["sum_value"][:, 0]
    inv_too_small[:, 0] = obs["too_small"][:, 0]
    flip = (rng.random(nt_status.shape) < meas["investigator_status_flip"]) & (nt_status != UNEQUIVOCAL)
    flip[:, 0] = False
    inv_status = np.where(flip, np.where(nt_status == ABSENT, PRESENT, ABSENT), nt_status)

    return Scans(
        days=days,
        valid=valid,
        observed=observed,
        last_visit=last_visit,
        stop_day=stop_day,
        target=target,
        nodal=nodal,
        diameter=obs["diameter"],
        too_small=obs["too_small"],
        vanished=obs["vanished"],
        nt_status=nt_status,
        not_done=not_done,
        codes=codes,
        first_pd=_first_progression(codes, valid),
        first_new=first_new,
        detect_visit=detect_visit,
        inv_diameter=inv_diameter,
        inv_too_small=inv_too_small,
        inv_status=inv_status,
        inv_codes=responses(inv_sum, inv_status, not_done),
    )


def exclusion_reasons(patients, lesions, scans: Scans) -> np.ndarray:
    """The paper's two rules, in order: early baseline scan; no longitudinal target measurement."""
    followed = scans.observed[lesions.patient] & ~scans.not_done
    followed[:, 0] = False
    longitudinal = (
        np.bincount(lesions.patient[scans.target], weights=followed[scans.target].any(axis=1), minlength=patients.n) > 0
    )
    early = patients.baseline_day < -EARLY_BASELINE_DAYS
    return np.where(early, contract.EXCLUSION_RULES[0], np.where(longitudinal, "", contract.EXCLUSION_RULES[1])).astype(
        object
    )
