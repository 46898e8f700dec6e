"""Simulate a cohort from its spec: patients, lesions that grow by the paper's model, scans, RECIST, survival.

The mechanism, in the order it runs (every step vectorised over patients, lesions and visits):

1. Patients: trial and arm, demographics, enrolment date, baseline scan day, follow-up.
2. Baseline lesions: organs involved (a patient-level extent of disease makes organs co-occur), lesion counts,
   volumes; parameters Kd, F, Kg per lesion from organ- and treatment-specific typical values with
   log/logit-normal lesion and patient variability. RECIST 1.1 picks the targets (measurable, at most two
   per organ and five per patient, organs represented first); every other lesion is non-target.
3. Latent events: each lesion's true times to response and progression (paper definitions); new lesions
   appear per organ as a Poisson process whose rate grows with time; an organ "progresses" at the first of
   its lesions' progressions or new lesions. Death follows a hazard that rises with the organ-weighted regrown
   volume and, steeply, with every further organ whose baseline disease progresses (spread), so what
   progresses, how many organs and how early shape overall survival.
4. Scans every 8 (or 12) weeks until death, the end of scans or the data cut-off. Target diameters come from
   V = 0.2914 L^3 with proportional error; non-target lesions read ABSENT, PRESENT or UNEQUIVOCAL
   PROGRESSION; new lesions are found at the first scan after they appear. The RECIST overall response is
   computed at each scan, and scans stop at the first progression.
5. Two evaluators (independent assessor, the accepted set; investigator, slightly different), NOT DONE
   records, the paper's two exclusion rules, and the analysis tables exactly as the SDTM reader derives them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit, ndtr, ndtri

from lesionmap import tables as contract
from lesionmap.cohort import dynamics, recist
from lesionmap.cohort.spec import CohortSpec, load_spec

DEFAULT_SEED = 20230417

INDEPENDENT = "INDEPENDENT ASSESSOR"
INVESTIGATOR = "INVESTIGATOR"
EVALUATORS = (INDEPENDENT, INVESTIGATOR)

TOO_SMALL = "TOO SMALL TO MEASURE"
#: TUMSTATE results by status code (0 absent, 1 present, 2 unequivocal progression) and their table statuses.
TUMSTATE_RESULTS = ("ABSENT", "PRESENT", "UNEQUIVOCAL PROGRESSION")
TUMSTATE_STATUS = {"ABSENT": "CR", "PRESENT": "non-CR/non-PD", "UNEQUIVOCAL PROGRESSION": "PD"}
ABSENT, PRESENT, UNEQUIVOCAL = range(3)

#: Exclusion rule 1 (paper, Methods): baseline scan more than 12 weeks before the first dose.
EARLY_BASELINE_DAYS = 84

_KIND_CODES = ("target", "non-target", "new")
_TULNKID_PREFIX = np.array(["T", "NT", "NEW"])


@dataclass
class SdtmRecords:
    """The records the SDTM writer writes and the analysis tables are derived from (all screened patients).

    ``subjects``: one row per patient (DM, SUPPDM, ADTTE). ``lesions``: one row per lesion (TU).
    ``assessments``: one row per lesion, visit and evaluator (TR). ``responses``: one row per follow-up
    visit and evaluator (RS). Days are days since the first dose (analysis days).
    """

    subjects: pd.DataFrame
    lesions: pd.DataFrame
    assessments: pd.DataFrame
    responses: pd.DataFrame


@dataclass
class CohortTruth:
    """What the simulation knows and an analysis of the data must estimate.

    ``lesions``: per analysed lesion V0, Kd, F, Kg (NaN for new lesions), nadir day, true days to response
    (NaN when the lesion never shrinks 20%) and progression, and the day a new lesion appeared.
    ``patients``: per screened patient the latent death time (inf: alive at any cut-off), the first organ
    progression, the patient-level effects on logit F and log Kg, and the exclusion.
    ``organ_progression``: per analysed patient and organ, the latent day the organ progresses.
    ``population``: the organ-level and population parameters (typical values per treatment group, variances,
    covariate effects, new-lesion and survival models).
    """

    lesions: pd.DataFrame
    patients: pd.DataFrame
    organ_progression: pd.DataFrame
    population: dict

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write the truth as Parquet tables and a JSON file of population parameters."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name in ("lesions", "patients", "organ_progression"):
            paths[name] = folder / f"{name}.parquet"
            getattr(self, name).to_parquet(paths[name], index=False)
        paths["population"] = folder / "population.json"
        paths["population"].write_text(json.dumps(self.population, indent=2, sort_keys=True))
        return paths


@dataclass
class SimulatedCohort:
    """A simulated cohort: the analysis tables (``lesionmap.tables``), its truth, and its SDTM records."""

    spec_name: str
    seed: int
    patients: pd.DataFrame
    lesions: pd.DataFrame
    measurements: pd.DataFrame
    lesion_status: pd.DataFrame
    exclusions: pd.DataFrame
    truth: CohortTruth
    records: SdtmRecords = field(repr=False)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The five analysis tables by name."""
        return {name: getattr(self, name) for name in ("patients", "lesions", "measurements", "lesion_status",
                                                       "exclusions")}

    def save_truth(self, folder: str | Path) -> dict[str, Path]:
        """Write the truth next to the SDTM files (Parquet + JSON); see ``CohortTruth``."""
        return self.truth.save(folder)


class _Params:
    """Attribute access to one block of spec values (``p.omega_Kd``)."""

    def __init__(self, block: dict):
        self.__dict__.update(block)


def _rank_within(group, *order_keys):
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


def _draw_patients(spec: CohortSpec, n: int, rng: np.random.Generator) -> dict:
    """Trial, arm, demographics, enrolment, baseline scan day and the patient-level random effects."""
    v = spec.values
    trials = v["trials"]
    demo = _Params(v["demographics"])
    arm_words = [w.upper() for w in spec.site_map["arm_map"]["targeted_words"]]

    trial = rng.choice(len(trials), size=n, p=[t["share"] for t in trials])
    n_arms = max(len(t["arms"]) for t in trials)
    cumulative = np.ones((len(trials), n_arms))
    for i, t in enumerate(trials):
        cumulative[i, : len(t["arms"])] = np.cumsum([a["share"] for a in t["arms"]])
    arm_local = np.minimum((rng.random(n)[:, None] >= cumulative[trial]).sum(axis=1),
                           np.array([len(t["arms"]) for t in trials])[trial] - 1)
    arm_table = [(i, a["arm"], a["armcd"]) for i, t in enumerate(trials) for a in t["arms"]]
    arm_offset = np.cumsum([0] + [len(t["arms"]) for t in trials])[:-1]
    arm = arm_offset[trial] + arm_local
    arm_text = np.array([a[1] for a in arm_table], dtype=object)
    arm_code = np.array([a[2] for a in arm_table], dtype=object)
    arm_tar = np.array([any(w in a[1].upper() for w in arm_words) for a in arm_table])

    age = np.clip(np.rint(rng.normal(demo.age_mean, demo.age_sd, n)), demo.age_min, demo.age_max)
    races = np.array(list(demo.race), dtype=object)
    kras_levels = np.array(list(demo.kras), dtype=object)
    bmi = np.round(np.clip(rng.normal(demo.bmi_mean, demo.bmi_sd, n), 15.0, 55.0), 1)
    bmi[rng.random(n) < demo.bmi_missing] = np.nan

    start = np.array([np.datetime64(t["start_date"], "D") for t in trials])
    accrual = np.array([t["accrual_days"] for t in trials])
    enrolment_offset = np.floor(rng.random(n) * (accrual[trial] + 1)).astype(np.int64)
    cutoff = np.array([t["cutoff_days"] for t in trials])

    excl = _Params(v["exclusions"])
    disease = _Params(v["disease"])
    early = rng.random(n) < excl.early_baseline_rate
    lo, hi = excl.early_baseline_days
    baseline_day = np.where(early, -rng.integers(lo, hi + 1, n), -rng.integers(0, disease.baseline_window_days + 1, n))

    return {
        "n": n,
        "trial": trial,
        "study_id": np.array([t["study_id"] for t in trials], dtype=object)[trial],
        "site": rng.integers(1, v["sdtm"]["sites"] + 1, n),
        "arm": arm_text[arm],
        "armcd": arm_code[arm],
        "tar": arm_tar[arm],
        "line": np.array([t["line"] for t in trials], dtype=np.int64)[trial],
        "interval": np.array([7 * t["scan_interval_weeks"] for t in trials], dtype=np.int64)[trial],
        "age": age,
        "sex": np.where(rng.random(n) < demo.male_share, "M", "F").astype(object),
        "race": races[rng.choice(len(races), size=n, p=list(demo.race.values()))],
        "bmi": bmi,
        "kras": kras_levels[rng.choice(len(kras_levels), size=n, p=list(demo.kras.values()))],
        "prior_surgery": rng.random(n) < demo.prior_surgery,
        "rfstdtc": start[trial] + enrolment_offset,
        "admin_day": (cutoff[trial] - enrolment_offset).astype(np.int64),
        "baseline_day": baseline_day.astype(np.int64),
        "spread": rng.standard_normal(n),
        "u_F": rng.standard_normal(n),
        "u_Kg": rng.standard_normal(n),
        "u_new": rng.standard_normal(n),  # correlated with u_Kg in _simulate_screened
        "u_death": rng.standard_normal(n),
    }


def _draw_lesions(spec: CohortSpec, pts: dict, rng: np.random.Generator) -> dict:
    """Baseline lesions (sorted by patient, then organ): organ, volume V0 and growth parameters Kd, F, Kg."""
    v = spec.values
    organs = v["organs"]
    names = spec.organs
    n, n_org = pts["n"], len(names)
    disease = _Params(v["disease"])
    var = _Params(v["variability"])
    tre = _Params(v["treatment_effects"])
    cov = _Params(v["covariate_effects"])

    prevalence = np.array([organs["prevalence"][o] for o in names])
    involved = rng.random((n, n_org)) < expit(logit(prevalence)[None, :] + disease.spread_sd * pts["spread"][:, None])
    nothing = ~involved.any(axis=1)
    fallback = rng.choice(n_org, size=n, p=prevalence / prevalence.sum())
    involved[np.flatnonzero(nothing), fallback[nothing]] = True
    extra = np.array([organs["extra_lesions"][o] for o in names])
    counts = np.where(involved, 1 + rng.poisson(np.broadcast_to(extra, (n, n_org))), 0)

    patient = np.repeat(np.repeat(np.arange(n), n_org), counts.ravel())
    organ = np.repeat(np.tile(np.arange(n_org), n), counts.ravel())
    m = len(patient)

    mu = np.log(np.array([organs["v0_median_mm3"][o] for o in names]))[organ]
    lower = ndtr((np.log(disease.min_volume_mm3) - mu) / disease.v0_log_sd)
    v0 = np.exp(mu + disease.v0_log_sd * ndtri(lower + (1 - lower) * rng.random(m)))

    tar = pts["tar"][patient]
    # Paper, Results: targeted agents delay progression in patients with few metastatic organs only.
    tar_slows = pts["tar"] & (involved.sum(axis=1) <= tre.tar_max_organs)
    line2 = pts["line"][patient] == 2
    slows = np.array([bool(organs["tar_slows_growth"][o]) for o in names])[organ]
    log_kd = (np.log(np.array([organs["Kd"][o] for o in names]))[organ] + tre.tar_log_Kd * tar
              + var.omega_Kd * rng.standard_normal(m))
    logit_f = (logit(np.array([organs["F"][o] for o in names]))[organ] + tre.tar_logit_F * tar
               + cov.line2_logit_F * line2 + cov.nonwhite_logit_F * (pts["race"][patient] != "WHITE")
               + var.patient_sd_F * pts["u_F"][patient] + var.omega_F * rng.standard_normal(m))
    log_kg = (np.log(np.array([organs["Kg"][o] for o in names]))[organ] + tre.tar_log_Kg * (tar_slows[patient] & slows)
              + cov.line2_log_Kg * line2 + cov.surgery_log_Kg * pts["prior_surgery"][patient]
              + var.patient_sd_Kg * pts["u_Kg"][patient] + var.omega_Kg * rng.standard_normal(m))
    return {"m": m, "patient": patient, "organ": organ, "V0": v0, "Kd": np.exp(log_kd), "F": expit(logit_f),
            "Kg": np.exp(log_kg), "involved": involved, "tar_slows": tar_slows}


def _select_targets(spec: CohortSpec, les: dict, baseline_diameter: np.ndarray) -> np.ndarray:
    """RECIST 1.1 target lesions: measurable at baseline, the two largest per organ, five per patient,
    every organ's largest before any organ's second."""
    rules = _Params(spec.values["recist"])
    nodal = np.isin(np.array(spec.organs), spec.site_map["nodal"])[les["organ"]]
    measurable = baseline_diameter >= np.where(nodal, rules.nodal_measurable_mm, rules.measurable_mm)
    group = les["patient"] * len(spec.organs) + les["organ"]
    organ_rank = _rank_within(group, -baseline_diameter, ~measurable)
    candidate = measurable & (organ_rank < rules.max_targets_per_organ)
    patient_rank = _rank_within(les["patient"], -baseline_diameter, organ_rank, ~candidate)
    return candidate & (patient_rank < rules.max_targets)


def _death_times(spec: CohortSpec, pts: dict, les: dict, new_appears: np.ndarray, t_progression: np.ndarray,
                 horizon: int, rng: np.random.Generator) -> np.ndarray:
    """Latent death times (np.inf beyond ``horizon``, the latest data cut-off).

    The death hazard has two disease terms:
    h(t) = base x exp(line, age, frailty) x (1 + R(t) / R_ref)^power x exp(spread_log_hazard x max(S(t) - 1, 0)).

    R(t), the regrown volume, sums over lesions death_weight(organ) x V0 F (e^{Kg t} - 1) (the resistant cells'
    growth) and the volume of every new lesion from the day it appears (growing at its organ's Kg).

    S(t), the spread, counts the organs whose baseline disease is regrowing at t: organ k counts from the first
    progression of any of its baseline lesions (the paper's lesion definition, the latent ``t_progression``).
    New lesions stay in R(t) only (counting them too gave a smaller Hetero/Mono difference: a new lesion ends
    follow-up at once, so it mostly marks Mono-Organ patients). Every progressing organ
    beyond the first multiplies the hazard by e^spread_log_hazard, so disease regrowing in several organs at
    once kills much sooner than the same regrowth confined to one organ (paper, Fig. 4: Hetero-Organ OS median
    385 vs Mono-Organ 653 days). Without this term the volume term alone let one large liver lesion outweigh
    progression spread over several organs, and patients with several progressing organs, who need time alive
    to show them, lived as long as the others. spread_log_hazard 0 (the default) leaves the volume term alone.
    """
    surv = _Params(spec.values["survival"])
    var = _Params(spec.values["variability"])
    organs = spec.values["organs"]
    weight = np.array([organs["death_weight"][o] for o in spec.organs])
    typical_kg = np.array([organs["Kg"][o] for o in spec.organs])
    grid = np.arange(0.0, horizon + surv.grid_days, surv.grid_days)

    # Lesions are sorted by patient and every patient has at least one; weeks in blocks keep memory small.
    first_lesion = np.searchsorted(les["patient"], np.arange(pts["n"]))
    resistant = weight[les["organ"]] * les["V0"] * les["F"]
    burden = np.empty((pts["n"], len(grid)))
    for block in np.array_split(np.arange(len(grid)), max(1, len(grid) // 32)):
        regrown = resistant[:, None] * np.expm1(les["Kg"][:, None] * grid[None, block])
        burden[:, block] = np.add.reduceat(regrown, first_lesion, axis=0)
    new_kg = typical_kg[None, :] * np.exp(var.patient_sd_Kg * pts["u_Kg"])[:, None]
    for k in range(len(spec.organs)):  # one organ at a time keeps memory at patients x grid
        since = grid[None, :] - new_appears[:, k:k + 1]
        grown = surv.new_lesion_volume_mm3 * np.exp(new_kg[:, k:k + 1] * np.maximum(since, 0.0))
        burden += weight[k] * np.where(since >= 0, grown, 0.0)

    scale = surv.base_hazard * np.exp(surv.line2_log_hazard * (pts["line"] == 2)
                                      + surv.age_log_hazard_per_decade * (pts["age"] - 60.0) / 10.0
                                      + surv.frailty_sd * pts["u_death"])
    hazard = scale[:, None] * (1.0 + burden / surv.reference_burden_mm3) ** surv.burden_power
    spread_log_hazard = float(spec.values["survival"].get("spread_log_hazard", 0.0))
    if spread_log_hazard:
        # Organ k's first baseline-lesion progression (np.inf if none); one organ at a time: patients x grid.
        regrowing = np.full((pts["n"], len(spec.organs)), np.inf)
        np.minimum.at(regrowing, (les["patient"], les["organ"]), t_progression)
        spread = np.zeros((pts["n"], len(grid)))
        for k in range(len(spec.organs)):
            spread += grid[None, :] >= regrowing[:, k:k + 1]
        hazard *= np.exp(spread_log_hazard * np.maximum(spread - 1.0, 0.0))
    step = 0.5 * (hazard[:, 1:] + hazard[:, :-1]) * surv.grid_days
    cumulative = np.concatenate([np.zeros((pts["n"], 1)), np.cumsum(step, axis=1)], axis=1)
    draw = rng.exponential(size=pts["n"])
    after = (cumulative < draw[:, None]).sum(axis=1)
    inside = after < len(grid)
    rows = np.flatnonzero(inside)
    k = after[inside]
    fraction = (draw[inside] - cumulative[rows, k - 1]) / (cumulative[rows, k] - cumulative[rows, k - 1])
    death = np.full(pts["n"], np.inf)
    death[rows] = grid[k - 1] + fraction * surv.grid_days
    return death


def _visit_days(pts: dict, window: int, rng: np.random.Generator):
    """Scheduled scan days (patients x visits; column 0 is the baseline scan) within the data cut-off."""
    n_visits = int((pts["admin_day"] // pts["interval"]).max()) + 1
    k = np.arange(1, n_visits + 1)
    days = k[None, :] * pts["interval"][:, None] + rng.integers(-window, window + 1, (pts["n"], n_visits))
    return np.concatenate([pts["baseline_day"][:, None], days], axis=1)


def _observe_targets(spec, les, days, rng):
    """Measured diameters (NaN when too small), vanished and too-small flags, and the RECIST sum value."""
    meas = _Params(spec.values["measurement"])
    rules = _Params(spec.values["recist"])
    true_volume = les["V0"][:, None] * dynamics.volume_ratio(days, les["Kd"][:, None], les["F"][:, None],
                                                             les["Kg"][:, None])
    noise = np.maximum(1.0 + meas.proportional_error * rng.standard_normal(true_volume.shape), 1e-3)
    observed = true_volume * noise
    diameter = np.round((observed / contract.VOLUME_COEFFICIENT) ** (1 / 3), meas.diameter_decimals)
    vanished = true_volume < meas.vanished_mm3
    too_small = ~vanished & (diameter < meas.too_small_mm)
    value = np.where(vanished, 0.0, np.where(too_small, rules.too_small_default_mm, diameter))
    recorded = np.where(vanished, 0.0, np.where(too_small, np.nan, diameter))
    return {"true_volume": true_volume, "observed_volume": observed, "diameter": recorded, "vanished": vanished,
            "too_small": too_small, "sum_value": value}


def _nontarget_status(spec, les, days, observed_volume):
    """ABSENT below a fraction of baseline; UNEQUIVOCAL PROGRESSION at a multiple of the nadir once the lesion is
    also larger than at baseline; else PRESENT."""
    nt = _Params(spec.values["nontarget"])
    t_nadir = dynamics.nadir_time(les["Kd"], les["F"], les["Kg"])[:, None]
    nadir_so_far = dynamics.volume_ratio(np.minimum(np.maximum(days, 0), t_nadir), les["Kd"][:, None],
                                         les["F"][:, None], les["Kg"][:, None])
    ratio = observed_volume / les["V0"][:, None]
    status = np.where(ratio < nt.absent_fraction, ABSENT,
                      np.where((ratio >= nt.progression_factor * nadir_so_far) & (ratio >= nt.progression_over_baseline),
                               UNEQUIVOCAL, PRESENT))
    status[:, 0] = PRESENT
    return status


def _visit_inputs(les_patient, n, is_target, is_nodal, sum_value, not_done, nt_status, is_nontarget,
                  new_visit, nodal_normal_mm):
    """Per patient and visit: the inputs of ``recist.overall_response``."""
    n_cols = sum_value.shape[1]
    tp, ntp = les_patient[is_target], les_patient[is_nontarget]
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


def _responses(inputs, rules, valid):
    codes = recist.overall_response(*inputs, rules=rules)
    return np.where(valid, codes, recist.NE)


def _first_progression(codes, valid):
    """Index of the first follow-up visit with PD (a large sentinel when none)."""
    pd_visit = (codes == recist.PD) & valid
    pd_visit[:, 0] = False
    return np.where(pd_visit.any(axis=1), pd_visit.argmax(axis=1), np.iinfo(np.int64).max)


def _format_diameter(values, decimals):
    return np.char.mod(f"%.{decimals}f", values).astype(object)


def _simulate_screened(spec: CohortSpec, n: int, rng: np.random.Generator) -> dict:
    """Everything about ``n`` screened patients, before exclusions (arrays)."""
    v = spec.values
    rules_spec = _Params(v["recist"])
    meas = _Params(v["measurement"])
    events = _Params(v["lesion_events"])
    newp = _Params(v["new_lesions"])
    tre = _Params(v["treatment_effects"])
    cov = _Params(v["covariate_effects"])
    n_org = len(spec.organs)
    nodal_organ = np.isin(np.array(spec.organs), spec.site_map["nodal"])

    pts = _draw_patients(spec, n, rng)
    les = _draw_lesions(spec, pts, rng)
    days = _visit_days(pts, v["disease"]["visit_window_days"], rng)
    lesion_days = days[les["patient"]]
    obs = _observe_targets(spec, les, lesion_days, rng)
    nodal = nodal_organ[les["organ"]]
    target = _select_targets(spec, les, obs["diameter"][:, 0])
    nontarget = ~target

    # Latent event times.
    t_nadir = dynamics.nadir_time(les["Kd"], les["F"], les["Kg"])
    t_response = dynamics.time_to_response(les["Kd"], les["F"], les["Kg"], drop=events.response_drop)
    t_progression = dynamics.time_to_progression(les["V0"], les["Kd"], les["F"], les["Kg"],
                                                 rise=events.progression_rise, absolute=events.progression_volume_mm3)
    rho = newp.growth_correlation
    u_new = rho * pts["u_Kg"] + np.sqrt(1.0 - rho**2) * pts["u_new"]
    new_rate = np.array([v["organs"]["new_lesion_rate"][o] for o in spec.organs])[None, :] * np.exp(
        tre.tar_log_new_lesion_rate * les["tar_slows"] + cov.line2_log_new_lesion_rate * (pts["line"] == 2)
        + newp.patient_sd * u_new)[:, None]
    new_appears = np.log1p(newp.acceleration * rng.exponential(size=(n, n_org)) / new_rate) / newp.acceleration
    organ_progression = new_appears.copy()
    np.minimum.at(organ_progression, (les["patient"], les["organ"]), t_progression)
    death_time = _death_times(spec, pts, les, new_appears, t_progression, int(pts["admin_day"].max()) + 1, rng)
    death_day = np.floor(np.minimum(death_time, 1e9)).astype(np.int64) + 1  # 1e9: alive at any cut-off
    stop_day = np.floor(rng.exponential(1.0 / v["follow_up"]["scan_stop_rate"], n)).astype(np.int64) + 1

    valid = (days < death_day[:, None]) & (days < stop_day[:, None]) & (days <= pts["admin_day"][:, None])
    valid[:, 0] = True
    last_valid = valid.sum(axis=1) - 1

    # New lesions: found at the first scan on or after the day they appear.
    detect_visit = 1 + (days[:, None, 1:] < new_appears[:, :, None]).sum(axis=2)
    first_new = detect_visit.min(axis=1)

    nt_status = _nontarget_status(spec, les, lesion_days, obs["observed_volume"])
    not_done = rng.random(lesion_days.shape) < meas.not_done_rate
    not_done[:, 0] = False

    rules = recist.RecistRules(rules_spec.pd_increase, rules_spec.pd_absolute_mm, rules_spec.pr_decrease)

    def visit_inputs(sum_value, status, nd):
        return _visit_inputs(les["patient"], n, target, nodal, sum_value, nd, status, nontarget, first_new,
                             rules_spec.nodal_normal_mm)

    codes = _responses(visit_inputs(obs["sum_value"], nt_status, not_done), rules, valid)
    last_visit = np.minimum(_first_progression(codes, valid), last_valid)
    # The last scan of a patient is always complete (so its day is the last day whatever the reader keeps).
    not_done[np.arange(les["m"]), last_visit[les["patient"]]] = False
    codes = _responses(visit_inputs(obs["sum_value"], nt_status, not_done), rules, valid)
    first_pd = _first_progression(codes, valid)
    observed = np.arange(days.shape[1])[None, :] <= last_visit[:, None]

    # The investigator's reading: slightly different diameters and a few absent/present statuses flipped.
    inv_diameter = np.round(obs["diameter"] * np.exp(meas.investigator_log_sd * rng.standard_normal(obs["diameter"].shape)),
                            meas.diameter_decimals)
    inv_too_small = obs["too_small"] | (~obs["vanished"] & (inv_diameter < meas.too_small_mm))
    inv_diameter = np.where(obs["vanished"], 0.0, np.where(inv_too_small, np.nan, inv_diameter))
    inv_sum = np.where(obs["vanished"], 0.0, np.where(inv_too_small, rules_spec.too_small_default_mm, inv_diameter))
    inv_diameter[:, 0] = obs["diameter"][:, 0]
    inv_sum[:, 0] = obs["sum_value"][:, 0]
    inv_too_small[:, 0] = obs["too_small"][:, 0]
    flip = (rng.random(nt_status.shape) < meas.investigator_status_flip) & (nt_status != UNEQUIVOCAL)
    flip[:, 0] = False
    inv_status = np.where(flip, np.where(nt_status == ABSENT, PRESENT, ABSENT), nt_status)
    inv_codes = _responses(visit_inputs(inv_sum, inv_status, not_done), rules, valid)

    return {
        "pts": pts, "les": les, "days": days, "valid": valid, "observed": observed, "last_visit": last_visit,
        "target": target, "nodal": nodal, "obs": obs, "nt_status": nt_status, "not_done": not_done,
        "codes": codes, "first_pd": first_pd, "first_new": first_new, "detect_visit": detect_visit,
        "inv_diameter": inv_diameter, "inv_too_small": inv_too_small, "inv_status": inv_status,
        "inv_codes": inv_codes, "t_nadir": t_nadir, "t_response": t_response, "t_progression": t_progression,
        "new_appears": new_appears, "organ_progression": organ_progression, "death_time": death_time,
        "death_day": death_day, "stop_day": stop_day,
    }


def _exclusion_reasons(world: dict) -> np.ndarray:
    """The paper's two rules, in order: early baseline scan; no longitudinal target measurement."""
    n = world["pts"]["n"]
    les_patient = world["les"]["patient"]
    followed = world["observed"][les_patient] & ~world["not_done"]
    followed[:, 0] = False
    longitudinal = np.bincount(les_patient[world["target"]], weights=followed[world["target"]].any(axis=1),
                               minlength=n) > 0
    early = world["pts"]["baseline_day"] < -EARLY_BASELINE_DAYS
    return np.where(early, contract.EXCLUSION_RULES[0],
                    np.where(longitudinal, "", contract.EXCLUSION_RULES[1])).astype(object)


def _subject_ids(pts: dict, n: int):
    site = np.strings.zfill((100 + pts["site"][:n]).astype(str), 3)
    subject = np.strings.zfill((np.arange(n) + 1).astype(str), 5)
    study = pts["study_id"][:n].astype(str)
    usubjid = np.strings.add(np.strings.add(np.strings.add(np.strings.add(study, "-"), site), "-"), subject)
    return usubjid.astype(object), site.astype(object), subject.astype(object)


def _build_records(spec: CohortSpec, world: dict, n_used: int, reasons: np.ndarray, rng: np.random.Generator):
    """The SDTM-shaped records of the first ``n_used`` screened patients."""
    v = spec.values
    pts, les, days = world["pts"], world["les"], world["days"]
    usubjid, site, subjid = _subject_ids(pts, n_used)

    # Survival.
    last_visit = world["last_visit"][:n_used]
    rows = np.arange(n_used)
    last_day = days[rows, last_visit]
    admin = pts["admin_day"][:n_used]
    death_day = world["death_day"][:n_used]
    os_event = death_day <= admin
    os_days = np.where(os_event, death_day, admin).astype(float)
    first_pd = world["first_pd"][:n_used]
    progressed = first_pd <= last_visit
    stopped_by_death = (death_day < world["stop_day"][:n_used]) & os_event
    pfs_event = progressed | stopped_by_death
    pfs_days = np.where(progressed, days[rows, np.minimum(first_pd, days.shape[1] - 1)],
                        np.where(stopped_by_death, death_day, np.maximum(last_day, 0))).astype(float)

    subjects = pd.DataFrame({
        "usubjid": usubjid, "studyid": pts["study_id"][:n_used], "siteid": site, "subjid": subjid,
        "rfstdtc": pts["rfstdtc"][:n_used], "arm": pts["arm"][:n_used], "armcd": pts["armcd"][:n_used],
        "treatment_group": np.where(pts["tar"][:n_used], contract.TREATMENT_GROUPS[0], contract.TREATMENT_GROUPS[1]),
        "line": pts["line"][:n_used], "age": pts["age"][:n_used], "sex": pts["sex"][:n_used],
        "race": pts["race"][:n_used], "bmi": pts["bmi"][:n_used], "kras": pts["kras"][:n_used],
        "prior_surgery": pts["prior_surgery"][:n_used], "baseline_day": pts["baseline_day"][:n_used],
        "last_day": last_day.astype(np.int64), "os_days": os_days, "os_event": os_event, "pfs_days": pfs_days,
        "pfs_event": pfs_event, "interval_weeks": pts["interval"][:n_used] // 7, "exclusion": reasons[:n_used],
    })

    # Lesions of the used patients: baseline lesions, then new lesions found at a scan.
    keep_lesion = les["patient"] < n_used
    base_patient = les["patient"][keep_lesion]
    base_organ = les["organ"][keep_lesion]
    base_kind = np.where(world["target"][keep_lesion], 0, 1)
    base_size = world["obs"]["diameter"][keep_lesion, 0]

    first_new = world["first_new"][:n_used]
    found = (first_new <= last_visit)[:, None] & (world["detect_visit"][:n_used] == first_new[:, None])
    found_patient, found_organ = np.nonzero(found)
    n_found = 1 + rng.poisson(v["new_lesions"]["extra_mean"], len(found_patient))
    new_patient = np.repeat(found_patient, n_found)
    new_organ = np.repeat(found_organ, n_found)
    new_visit = first_new[new_patient]

    lesion_patient = np.concatenate([base_patient, new_patient])
    lesion_organ = np.concatenate([base_organ, new_organ])
    lesion_kind = np.concatenate([base_kind, np.full(len(new_patient), 2)])
    size_key = np.concatenate([-np.nan_to_num(base_size), np.zeros(len(new_patient))])
    number = _rank_within(lesion_patient * 3 + lesion_kind, size_key, lesion_organ) + 1
    if number.max() >= 100:
        raise ValueError("more than 99 lesions of one kind in a patient: TULNKID numbering has two digits")
    tulnkid = np.strings.add(_TULNKID_PREFIX[lesion_kind], np.strings.zfill(number.astype(str), 2)).astype(object)
    detected_visit = np.concatenate([np.zeros(len(base_patient), dtype=np.int64), new_visit])
    location = _locations(spec, lesion_organ, rng)
    organ_names = np.array(spec.organs, dtype=object)
    lesions = pd.DataFrame({
        "usubjid": usubjid[lesion_patient], "tulnkid": tulnkid, "kind": np.array(_KIND_CODES, dtype=object)[lesion_kind],
        "organ": organ_names[lesion_organ], "location": location,
        "nodal": np.concatenate([world["nodal"][keep_lesion], np.isin(organ_names[new_organ], spec.site_map["nodal"])]),
        "visit": detected_visit, "detected_day": days[lesion_patient, detected_visit].astype(np.int64),
    })

    assessments, responses = _assessment_records(spec, world, n_used, usubjid, tulnkid[: len(base_patient)],
                                                 base_patient, keep_lesion, new_patient, tulnkid[len(base_patient):],
                                                 new_visit)
    truth_lesions = _truth_lesions(world, keep_lesion, usubjid, tulnkid, lesion_patient, lesion_organ,
                                   lesion_kind, organ_names, len(base_patient))
    return SdtmRecords(subjects, lesions, assessments, responses), truth_lesions


def _locations(spec: CohortSpec, organ: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A TULOC term of the site map for each lesion: the organ's first term with the spec's share, else another."""
    share = spec.values["sdtm"]["primary_location_share"]
    terms = [spec.site_map["site_map"][o] for o in spec.organs]
    width = max(len(t) for t in terms)
    table = np.array([t + [t[0]] * (width - len(t)) for t in terms], dtype=object)
    n_terms = np.array([len(t) for t in terms])
    u = rng.random(len(organ))
    other = 1 + np.floor(rng.random(len(organ)) * np.maximum(n_terms[organ] - 1, 1)).astype(np.int64)
    pick = np.where((u < share) | (n_terms[organ] == 1), 0, np.minimum(other, n_terms[organ] - 1))
    return table[organ, pick]


def _assessment_records(spec, world, n_used, usubjid, base_tulnkid, base_patient, keep_lesion, new_patient,
                        new_tulnkid, new_visit):
    """TR rows (both evaluators) and RS rows (both evaluators) of the used patients."""
    meas = _Params(spec.values["measurement"])
    days = world["days"]
    base_index = np.flatnonzero(keep_lesion)
    observed = world["observed"][base_patient]
    lesion_row, visit = np.nonzero(observed)
    lesion = base_index[lesion_row]
    patient = base_patient[lesion_row]
    is_target = world["target"][lesion]
    testcd = np.where(is_target, np.where(world["nodal"][lesion], "LPERP", "LDIAM"), "TUMSTATE").astype(object)
    not_done = world["not_done"][lesion, visit]

    frames = []
    for evaluator, diameter_all, too_small_all, status_all in (
        (INDEPENDENT, world["obs"]["diameter"], world["obs"]["too_small"], world["nt_status"]),
        (INVESTIGATOR, world["inv_diameter"], world["inv_too_small"], world["inv_status"]),
    ):
        diameter = diameter_all[lesion, visit]
        too_small = too_small_all[lesion, visit]
        status = status_all[lesion, visit]
        text = np.where(too_small, TOO_SMALL, _format_diameter(np.nan_to_num(diameter), meas.diameter_decimals))
        text = np.where(diameter == 0, "0", text)
        result = np.where(is_target, text, np.array(TUMSTATE_RESULTS, dtype=object)[status])
        numeric = np.where(is_target & ~too_small, diameter, np.nan)
        result = np.where(not_done, "", result)
        numeric = np.where(not_done, np.nan, numeric)
        frames.append(pd.DataFrame({
            "usubjid": usubjid[patient], "tulnkid": base_tulnkid[lesion_row], "kind": np.where(is_target, "target", "non-target"),
            "evaluator": evaluator, "visit": visit, "day": days[patient, visit].astype(np.int64), "testcd": testcd,
            "result": result.astype(object), "numeric": numeric.astype(float), "not_done": not_done,
        }))
        frames.append(pd.DataFrame({
            "usubjid": usubjid[new_patient], "tulnkid": new_tulnkid, "kind": "new", "evaluator": evaluator,
            "visit": new_visit, "day": days[new_patient, new_visit].astype(np.int64), "testcd": "TUMSTATE",
            "result": TUMSTATE_RESULTS[UNEQUIVOCAL], "numeric": np.nan, "not_done": False,
        }))
    assessments = pd.concat(frames, ignore_index=True)

    followed = world["observed"][:n_used].copy()
    followed[:, 0] = False
    patient, visit = np.nonzero(followed)
    response_frames = [
        pd.DataFrame({"usubjid": usubjid[patient], "evaluator": evaluator, "visit": visit,
                      "day": days[patient, visit].astype(np.int64),
                      "response": np.array(recist.RESPONSES, dtype=object)[codes[patient, visit]]})
        for evaluator, codes in ((INDEPENDENT, world["codes"]), (INVESTIGATOR, world["inv_codes"]))
    ]
    return assessments, pd.concat(response_frames, ignore_index=True)


def _truth_lesions(world, keep_lesion, usubjid, tulnkid, lesion_patient, lesion_organ, lesion_kind, organ_names,
                   n_base):
    les = world["les"]
    n_new = len(lesion_patient) - n_base
    pad = np.full(n_new, np.nan)

    def stack(values):
        return np.concatenate([values[keep_lesion], pad])

    appeared = np.concatenate([np.full(n_base, np.nan),
                               world["new_appears"][lesion_patient[n_base:], lesion_organ[n_base:]]])
    return pd.DataFrame({
        "lesion_id": np.strings.add(np.strings.add(usubjid[lesion_patient].astype(str), "/"), tulnkid.astype(str)).astype(object),
        "patient_id": usubjid[lesion_patient], "kind": np.array(_KIND_CODES, dtype=object)[lesion_kind],
        "organ": organ_names[lesion_organ], "V0": stack(les["V0"]), "Kd": stack(les["Kd"]), "F": stack(les["F"]),
        "Kg": stack(les["Kg"]), "t_nadir": stack(world["t_nadir"]), "t_response": stack(world["t_response"]),
        "t_progression": stack(world["t_progression"]), "appeared_day": appeared,
    })


def _analysis_tables(spec: CohortSpec, records: SdtmRecords) -> dict[str, pd.DataFrame]:
    """The analysis tables exactly as the SDTM reader derives them from the independent assessor's records."""
    loq = spec.values["measurement"]["loq_mm3"]
    subjects = records.subjects
    kept = subjects[subjects["exclusion"] == ""]
    kept_ids = set(kept["usubjid"])

    rs = records.responses
    rs = rs[(rs["evaluator"] == INDEPENDENT) & rs["usubjid"].isin(kept_ids)]
    rank = rs["response"].map({r: i for i, r in enumerate(recist.RESPONSES)})
    best = rank.groupby(rs["usubjid"]).min().map(lambda i: recist.RESPONSES[int(i)])

    patients = pd.DataFrame({
        "patient_id": kept["usubjid"].to_numpy(), "trial": kept["studyid"].to_numpy(), "arm": kept["arm"].to_numpy(),
        "treatment_group": kept["treatment_group"].to_numpy(), "line": kept["line"].astype(np.int64).to_numpy(),
        "age": kept["age"].astype(float).to_numpy(), "sex": kept["sex"].to_numpy(), "race": kept["race"].to_numpy(),
        "bmi": kept["bmi"].astype(float).to_numpy(), "kras": kept["kras"].to_numpy(),
        "prior_surgery": kept["prior_surgery"].astype(bool).to_numpy(),
        "baseline_day": kept["baseline_day"].astype(np.int64).to_numpy(),
        "last_day": kept["last_day"].astype(np.int64).to_numpy(), "os_days": kept["os_days"].astype(float).to_numpy(),
        "os_event": kept["os_event"].astype(bool).to_numpy(), "pfs_days": kept["pfs_days"].astype(float).to_numpy(),
        "pfs_event": kept["pfs_event"].astype(bool).to_numpy(),
    })
    patients["recist_bor"] = patients["patient_id"].map(best).fillna("NE").astype(object)
    patients = patients[list(contract.PATIENT_COLUMNS)].sort_values("patient_id", kind="stable").reset_index(drop=True)

    lesion_rows = records.lesions[records.lesions["usubjid"].isin(kept_ids)]
    lesions = pd.DataFrame({
        "lesion_id": (lesion_rows["usubjid"] + "/" + lesion_rows["tulnkid"]).to_numpy(),
        "patient_id": lesion_rows["usubjid"].to_numpy(), "kind": lesion_rows["kind"].to_numpy(),
        "organ": lesion_rows["organ"].to_numpy(), "location": lesion_rows["location"].to_numpy(),
        "nodal": lesion_rows["nodal"].astype(bool).to_numpy(),
        "detected_day": lesion_rows["detected_day"].astype(np.int64).to_numpy(),
    })
    lesions = lesions[list(contract.LESION_COLUMNS)].sort_values("lesion_id", kind="stable").reset_index(drop=True)

    tr = records.assessments
    tr = tr[(tr["evaluator"] == INDEPENDENT) & ~tr["not_done"] & tr["usubjid"].isin(kept_ids)]
    sizes = tr[tr["testcd"].isin(["LDIAM", "LPERP"])]
    too_small = (sizes["result"] == TOO_SMALL).to_numpy()
    diameter = sizes["numeric"].to_numpy(float)
    volume, blq = contract.measured_volume(diameter, too_small, loq)
    measurements = pd.DataFrame({
        "lesion_id": (sizes["usubjid"] + "/" + sizes["tulnkid"]).to_numpy(), "patient_id": sizes["usubjid"].to_numpy(),
        "day": sizes["day"].astype(np.int64).to_numpy(), "diameter_mm": diameter, "volume_mm3": volume, "blq": blq,
    })
    measurements = measurements.sort_values(["lesion_id", "day"], kind="stable").reset_index(drop=True)

    states = tr[tr["testcd"] == "TUMSTATE"]
    lesion_status = pd.DataFrame({
        "lesion_id": (states["usubjid"] + "/" + states["tulnkid"]).to_numpy(), "patient_id": states["usubjid"].to_numpy(),
        "day": states["day"].astype(np.int64).to_numpy(), "status": states["result"].map(TUMSTATE_STATUS).to_numpy(),
    })
    lesion_status = lesion_status.sort_values(["lesion_id", "day"], kind="stable").reset_index(drop=True)

    excluded = subjects[subjects["exclusion"] != ""]
    exclusions = pd.DataFrame({"patient_id": excluded["usubjid"].to_numpy(), "reason": excluded["exclusion"].to_numpy()})
    exclusions = exclusions.sort_values("patient_id", kind="stable").reset_index(drop=True)
    return {"patients": patients, "lesions": lesions, "measurements": measurements, "lesion_status": lesion_status,
            "exclusions": exclusions}


def _population_truth(spec: CohortSpec, seed: int) -> dict:
    """Organ typical values per treatment group and every population parameter of the mechanism."""
    v = spec.values
    organs = v["organs"]
    tre = v["treatment_effects"]
    per_organ = {}
    for o in spec.organs:
        slows = bool(organs["tar_slows_growth"][o])
        chemo = {"Kd": organs["Kd"][o], "F": organs["F"][o], "Kg": organs["Kg"][o]}
        tar = {
            "Kd": float(organs["Kd"][o] * np.exp(tre["tar_log_Kd"])),
            "F": float(expit(logit(organs["F"][o]) + tre["tar_logit_F"])),
            "Kg": float(organs["Kg"][o] * np.exp(tre["tar_log_Kg"] * slows)),
        }
        per_organ[o] = {
            "typical": {contract.TREATMENT_GROUPS[1]: chemo, contract.TREATMENT_GROUPS[0]: tar},
            **{name: organs[name][o] for name in ("prevalence", "extra_lesions", "v0_median_mm3", "tar_slows_growth",
                                                  "new_lesion_rate", "death_weight")},
        }
    return {
        "cohort": spec.name, "seed": seed, "time_unit": "day", "organs": per_organ,
        "typical_values_note": "Kd, F, Kg typical values for a first-line, white patient without prior surgery; "
                               "the TAR+Chemo Kg applies to patients with at most tar_max_organs involved organs "
                               "(others keep the Chemo alone Kg)",
        **{block: v[block] for block in ("variability", "treatment_effects", "covariate_effects", "new_lesions",
                                         "survival", "nontarget", "measurement", "lesion_events", "disease")},
        "survival_model": "death hazard h(t) = base_hazard x exp(line2_log_hazard [line 2] + age_log_hazard_per_decade "
                          "(age - 60) / 10 + frailty) x (1 + R(t) / reference_burden_mm3)^burden_power, R(t) = sum over "
                          "lesions of death_weight(organ) V0 F (e^{Kg t} - 1) plus death_weight(organ) x the volume of "
                          "each organ's first new lesion (new_lesion_volume_mm3 at appearance, growing at the organ's Kg); "
                          "times exp(spread_log_hazard x max(S(t) - 1, 0)), S(t) = number of organs with a baseline lesion "
                          "past its progression time (t_progression) by day t",
    }


def simulate(spec: CohortSpec | str | Path, n_patients: int | None = None, seed: int = DEFAULT_SEED) -> SimulatedCohort:
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
    while True:
        world = _simulate_screened(spec, n_screen, rng)
        reasons = _exclusion_reasons(world)
        kept_index = np.flatnonzero(reasons == "")
        if len(kept_index) >= n_keep:
            break
        n_screen *= 2
    n_used = int(kept_index[n_keep - 1]) + 1
    records, truth_lesions = _build_records(spec, world, n_used, reasons, rng)
    tables = _analysis_tables(spec, records)

    lesion_ids = set(tables["lesions"]["lesion_id"])
    truth_lesions = truth_lesions[truth_lesions["lesion_id"].isin(lesion_ids)]
    truth_lesions = truth_lesions.sort_values("lesion_id", kind="stable").reset_index(drop=True)
    usubjid = records.subjects["usubjid"].to_numpy()
    truth_patients = pd.DataFrame({
        "patient_id": usubjid, "treatment_group": records.subjects["treatment_group"].to_numpy(),
        "death_time": world["death_time"][:n_used], "first_progression_day": world["organ_progression"][:n_used].min(axis=1),
        "logit_F_effect": spec.values["variability"]["patient_sd_F"] * world["pts"]["u_F"][:n_used],
        "log_Kg_effect": spec.values["variability"]["patient_sd_Kg"] * world["pts"]["u_Kg"][:n_used],
        "exclusion": reasons[:n_used],
    }).sort_values("patient_id", kind="stable").reset_index(drop=True)
    kept = reasons[:n_used] == ""
    n_org = len(spec.organs)
    organ_progression = pd.DataFrame({
        "patient_id": np.repeat(usubjid[kept], n_org),
        "organ": np.tile(np.array(spec.organs, dtype=object), int(kept.sum())),
        "involved_at_baseline": world["les"]["involved"][:n_used][kept].ravel(),
        "progression_day": world["organ_progression"][:n_used][kept].ravel(),
        "new_lesion_day": world["new_appears"][:n_used][kept].ravel(),
    }).sort_values(["patient_id", "organ"], kind="stable").reset_index(drop=True)
    truth = CohortTruth(truth_lesions, truth_patients, organ_progression, _population_truth(spec, seed))
    return SimulatedCohort(spec.name, int(seed), truth=truth, records=records, **tables)
