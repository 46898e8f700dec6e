"""What the simulation writes: SDTM-shaped records, the analysis tables the SDTM reader derives from them, and
the truth saved beside the SDTM files.

The truth (``CohortTruth.save``, folder ``truth/`` next to the SDTM files) holds:

- ``lesions.parquet``: per analysed lesion: lesion_id, patient_id, kind, organ, V0, Kd, F, Kg (on the
  lesion's own clock; NaN for new lesions), hub_day (the day its clock speeds up after liver progression;
  inf: never), t_nadir, t_response (NaN: never), t_progression (calendar days, hub applied), appeared_day
  (new lesions);
- ``patients.parquet``: per screened patient: patient_id, treatment_group, death_time (inf: alive at any
  cut-off), first_progression_day, liver_progression_day (the hub day), n_organs_baseline,
  logit_F_effect, log_Kg_effect, exclusion;
- ``organ_progression.parquet``: per analysed patient and organ: involved_at_baseline, progression_day (the
  first of its baseline-lesion progressions and its first new lesion; inf: never), baseline_progression_day,
  new_lesion_day;
- ``organ_sequences.parquet``: every analysed patient's complete true organ progression sequence, one row
  per progressing organ before death: patient_id, organ, day, rank (dense: organs on one day share a rank,
  as ``lesionmap.sequence`` ties="shared"), source ("baseline lesion" or "new lesion"), by_cutoff (the day
  is on or before the patient's last day known alive, death or data cut-off, so the data could show it);
- ``population.json``: the organ typical values per treatment group and every population parameter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lesionmap import tables as contract
from lesionmap.cohort import recist
from lesionmap.cohort.followup import UNEQUIVOCAL, rank_within

INDEPENDENT = "INDEPENDENT ASSESSOR"
INVESTIGATOR = "INVESTIGATOR"
EVALUATORS = (INDEPENDENT, INVESTIGATOR)

TOO_SMALL = "TOO SMALL TO MEASURE"
#: TUMSTATE results by status code (0 absent, 1 present, 2 unequivocal progression) and their table statuses.
TUMSTATE_RESULTS = ("ABSENT", "PRESENT", "UNEQUIVOCAL PROGRESSION")
TUMSTATE_STATUS = {"ABSENT": "CR", "PRESENT": "non-CR/non-PD", "UNEQUIVOCAL PROGRESSION": "PD"}

_KIND_CODES = ("target", "non-target", "new")
_TULNKID_PREFIX = np.array(["T", "NT", "NEW"])
TRUTH_TABLES = ("lesions", "patients", "organ_progression", "organ_sequences")


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
    """What the simulation knows and an analysis of the data must estimate (see the module text)."""

    lesions: pd.DataFrame
    patients: pd.DataFrame
    organ_progression: pd.DataFrame
    organ_sequences: pd.DataFrame
    population: dict

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write the truth as Parquet tables and a JSON file of population parameters."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name in TRUTH_TABLES:
            paths[name] = folder / f"{name}.parquet"
            getattr(self, name).to_parquet(paths[name], index=False)
        paths["population"] = folder / "population.json"
        paths["population"].write_text(json.dumps(self.population, indent=2, sort_keys=True, default=str))
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
        return {
            name: getattr(self, name) for name in ("patients", "lesions", "measurements", "lesion_status", "exclusions")
        }

    def save_truth(self, folder: str | Path) -> dict[str, Path]:
        """Write the truth next to the SDTM files (Parquet + JSON); see ``CohortTruth``."""
        return self.truth.save(folder)


def subject_ids(patients, n: int):
    """USUBJID, SITEID and SUBJID of the first ``n`` screened patients."""
    site = np.strings.zfill((100 + patients.site[:n]).astype(str), 3)
    subject = np.strings.zfill((np.arange(n) + 1).astype(str), 5)
    study = patients.study_id[:n].astype(str)
    usubjid = np.strings.add(np.strings.add(np.strings.add(np.strings.add(study, "-"), site), "-"), subject)
    return usubjid.astype(object), site.astype(object), subject.astype(object)


def _format_diameter(values, decimals):
    return np.char.mod(f"%.{decimals}f", values).astype(object)


def _locations(values: dict, site_map: dict, organs: list[str], organ: np.ndarray, rng) -> np.ndarray:
    """A TULOC term of the site map for each lesion: the organ's first term with the spec's share, else another."""
    share = values["sdtm"]["primary_location_share"]
    terms = [site_map["site_map"][o] for o in organs]
    width = max(len(t) for t in terms)
    table = np.array([t + [t[0]] * (width - len(t)) for t in terms], dtype=object)
    n_terms = np.array([len(t) for t in terms])
    u = rng.random(len(organ))
    other = 1 + np.floor(rng.random(len(organ)) * np.maximum(n_terms[organ] - 1, 1)).astype(np.int64)
    pick = np.where((u < share) | (n_terms[organ] == 1), 0, np.minimum(other, n_terms[organ] - 1))
    return table[organ, pick]


def survival_columns(patients, scans, death_day: np.ndarray, n_used: int) -> dict:
    """Last scan day, OS and PFS (days and events) of the first ``n_used`` screened patients."""
    rows = np.arange(n_used)
    last_visit = scans.last_visit[:n_used]
    days = scans.days
    last_day = days[rows, last_visit]
    admin = patients.admin_day[:n_used]
    death = death_day[:n_used]
    os_event = death <= admin
    first_pd = scans.first_pd[:n_used]
    progressed = first_pd <= last_visit
    stopped_by_death = (death < scans.stop_day[:n_used]) & os_event
    return {
        "last_day": last_day.astype(np.int64),
        "os_days": np.where(os_event, death, admin).astype(float),
        "os_event": os_event,
        "pfs_days": np.where(
            progressed,
            days[rows, np.minimum(first_pd, days.shape[1] - 1)],
            np.where(stopped_by_death, death, np.maximum(last_day, 0)),
        ).astype(float),
        "pfs_event": progressed | stopped_by_death,
    }


def build_records(
    values: dict,
    site_map: dict,
    organs: list[str],
    patients,
    lesions,
    scans,
    death_day,
    n_used: int,
    reasons: np.ndarray,
    rng: np.random.Generator,
):
    """The SDTM-shaped records of the first ``n_used`` screened patients, and the lesion index behind them.

    Returns ``(records, index)``; ``index`` maps every record lesion to its simulation arrays (base lesion row
    or new-lesion organ) for the truth tables.
    """
    usubjid, site, subjid = subject_ids(patients, n_used)
    survival = survival_columns(patients, scans, death_day, n_used)
    subjects = pd.DataFrame(
        {
            "usubjid": usubjid,
            "studyid": patients.study_id[:n_used],
            "siteid": site,
            "subjid": subjid,
            "rfstdtc": patients.rfstdtc[:n_used],
            "arm": patients.arm[:n_used],
            "armcd": patients.armcd[:n_used],
            "treatment_group": np.where(
                patients.tar[:n_used], contract.TREATMENT_GROUPS[0], contract.TREATMENT_GROUPS[1]
            ),
            "line": patients.line[:n_used],
            "age": patients.age[:n_used],
            "sex": patients.sex[:n_used],
            "race": patients.race[:n_used],
            "bmi": patients.bmi[:n_used],
            "kras": patients.kras[:n_used],
            "prior_surgery": patients.prior_surgery[:n_used],
            "baseline_day": patients.baseline_day[:n_used],
            **survival,
            "interval_weeks": patients.interval[:n_used] // 7,
            "exclusion": reasons[:n_used],
        }
    )

    keep_lesion = lesions.patient < n_used
    base_patient = lesions.patient[keep_lesion]
    base_kind = np.where(scans.target[keep_lesion], 0, 1)
    base_size = scans.diameter[keep_lesion, 0]

    last_visit = scans.last_visit[:n_used]
    first_new = scans.first_new[:n_used]
    found = (first_new <= last_visit)[:, None] & (scans.detect_visit[:n_used] == first_new[:, None])
    found_patient, found_organ = np.nonzero(found)
    n_found = 1 + rng.poisson(values["new_lesions"]["extra_mean"], len(found_patient))
    new_patient = np.repeat(found_patient, n_found)
    new_organ = np.repeat(found_organ, n_found)
    new_visit = first_new[new_patient]

    lesion_patient = np.concatenate([base_patient, new_patient])
    lesion_organ = np.concatenate([lesions.organ[keep_lesion], new_organ])
    lesion_kind = np.concatenate([base_kind, np.full(len(new_patient), 2)])
    size_key = np.concatenate([-np.nan_to_num(base_size), np.zeros(len(new_patient))])
    number = rank_within(lesion_patient * 3 + lesion_kind, size_key, lesion_organ) + 1
    if number.max() >= 100:
        raise ValueError("more than 99 lesions of one kind in a patient: TULNKID numbering has two digits")
    tulnkid = np.strings.add(_TULNKID_PREFIX[lesion_kind], np.strings.zfill(number.astype(str), 2)).astype(object)
    detected_visit = np.concatenate([np.zeros(len(base_patient), dtype=np.int64), new_visit])
    organ_names = np.array(organs, dtype=object)
    table = pd.DataFrame(
        {
            "usubjid": usubjid[lesion_patient],
            "tulnkid": tulnkid,
            "kind": np.array(_KIND_CODES, dtype=object)[lesion_kind],
            "organ": organ_names[lesion_organ],
            "location": _locations(values, site_map, organs, lesion_organ, rng),
            "nodal": np.concatenate([scans.nodal[keep_lesion], np.isin(organ_names[new_organ], site_map["nodal"])]),
            "visit": detected_visit,
            "detected_day": scans.days[lesion_patient, detected_visit].astype(np.int64),
        }
    )
    assessments, responses = _assessment_records(
        values,
        scans,
        n_used,
        usubjid,
        tulnkid[: len(base_patient)],
        base_patient,
        keep_lesion,
        new_patient,
        tulnkid[len(base_patient) :],
        new_visit,
    )
    index = {
        "keep_lesion": keep_lesion,
        "patient": lesion_patient,
        "organ": lesion_organ,
        "kind": lesion_kind,
        "tulnkid": tulnkid,
        "n_base": len(base_patient),
        "usubjid": usubjid,
    }
    return SdtmRecords(subjects, table, assessments, responses), index


def _assessment_records(
    values, scans, n_used, usubjid, base_tulnkid, base_patient, keep_lesion, new_patient, new_tulnkid, new_visit
):
    """TR rows (both evaluators) and RS rows (both evaluators) of the used patients."""
    decimals = values["measurement"]["diameter_decimals"]
    days = scans.days
    base_index = np.flatnonzero(keep_lesion)
    observed = scans.observed[base_patient]
    lesion_row, visit = np.nonzero(observed)
    lesion = base_index[lesion_row]
    patient = base_patient[lesion_row]
    is_target = scans.target[lesion]
    testcd = np.where(is_target, np.where(scans.nodal[lesion], "LPERP", "LDIAM"), "TUMSTATE").astype(object)
    not_done = scans.not_done[lesion, visit]

    frames = []
    for evaluator, diameter_all, too_small_all, status_all in (
        (INDEPENDENT, scans.diameter, scans.too_small, scans.nt_status),
        (INVESTIGATOR, scans.inv_diameter, scans.inv_too_small, scans.inv_status),
    ):
        diameter = diameter_all[lesion, visit]
        too_small = too_small_all[lesion, visit]
        status = status_all[lesion, visit]
        text = np.where(too_small, TOO_SMALL, _format_diameter(np.nan_to_num(diameter), decimals))
        text = np.where(diameter == 0, "0", text)
        result = np.where(is_target, text, np.array(TUMSTATE_RESULTS, dtype=object)[status])
        numeric = np.where(is_target & ~too_small, diameter, np.nan)
        result = np.where(not_done, "", result)
        numeric = np.where(not_done, np.nan, numeric)
        frames.append(
            pd.DataFrame(
                {
                    "usubjid": usubjid[patient],
                    "tulnkid": base_tulnkid[lesion_row],
                    "kind": np.where(is_target, "target", "non-target"),
                    "evaluator": evaluator,
                    "visit": visit,
                    "day": days[patient, visit].astype(np.int64),
                    "testcd": testcd,
                    "result": result.astype(object),
                    "numeric": numeric.astype(float),
                    "not_done": not_done,
                }
            )
        )
        frames.append(
            pd.DataFrame(
                {
                    "usubjid": usubjid[new_patient],
                    "tulnkid": new_tulnkid,
                    "kind": "new",
                    "evaluator": evaluator,
                    "visit": new_visit,
                    "day": days[new_patient, new_visit].astype(np.int64),
                    "testcd": "TUMSTATE",
                    "result": TUMSTATE_RESULTS[UNEQUIVOCAL],
                    "numeric": np.nan,
                    "not_done": False,
                }
            )
        )
    assessments = pd.concat(frames, ignore_index=True)

    followed = scans.observed[:n_used].copy()
    followed[:, 0] = False
    patient, visit = np.nonzero(followed)
    response_frames = [
        pd.DataFrame(
            {
                "usubjid": usubjid[patient],
                "evaluator": evaluator,
                "visit": visit,
                "day": days[patient, visit].astype(np.int64),
                "response": np.array(recist.RESPONSES, dtype=object)[codes[patient, visit]],
            }
        )
        for evaluator, codes in ((INDEPENDENT, scans.codes), (INVESTIGATOR, scans.inv_codes))
    ]
    return assessments, pd.concat(response_frames, ignore_index=True)


def truth_lesions(
    lesions, event_days: dict, hub_day: np.ndarray, new_appears: np.ndarray, index: dict, organs: list[str]
) -> pd.DataFrame:
    """Per record lesion: true parameters and event days (new lesions: the day they appeared)."""
    keep, n_base = index["keep_lesion"], index["n_base"]
    pad = np.full(len(index["patient"]) - n_base, np.nan)

    def stack(values):
        return np.concatenate([np.asarray(values, float)[keep], pad])

    new_patient, new_organ = index["patient"][n_base:], index["organ"][n_base:]
    usubjid = index["usubjid"]
    return pd.DataFrame(
        {
            "lesion_id": np.strings.add(
                np.strings.add(usubjid[index["patient"]].astype(str), "/"), index["tulnkid"].astype(str)
            ).astype(object),
            "patient_id": usubjid[index["patient"]],
            "kind": np.array(_KIND_CODES, dtype=object)[index["kind"]],
            "organ": np.array(organs, dtype=object)[index["organ"]],
            "V0": stack(lesions.V0),
            "Kd": stack(lesions.Kd),
            "F": stack(lesions.F),
            "Kg": stack(lesions.Kg),
            "hub_day": stack(hub_day),
            "t_nadir": stack(event_days["t_nadir"]),
            "t_response": stack(event_days["t_response"]),
            "t_progression": stack(event_days["t_progression"]),
            "appeared_day": np.concatenate([np.full(n_base, np.nan), new_appears[new_patient, new_organ]]),
        }
    )


def organ_sequences(
    patient_ids: np.ndarray,
    organs: list[str],
    baseline_progression: np.ndarray,
    new_appears: np.ndarray,
    death_time: np.ndarray,
    last_alive: np.ndarray,
) -> pd.DataFrame:
    """Every patient's complete true organ progression sequence (see the module text), ranks dense by day."""
    progression = np.minimum(baseline_progression, new_appears)
    patient, organ = np.nonzero(progression < death_time[:, None])
    day = progression[patient, organ]
    source = np.where(
        baseline_progression[patient, organ] <= new_appears[patient, organ], "baseline lesion", "new lesion"
    )
    table = pd.DataFrame(
        {
            "patient_id": patient_ids[patient],
            "organ": np.array(organs, dtype=object)[organ],
            "day": day,
            "source": source.astype(object),
            "by_cutoff": day <= last_alive[patient],
        }
    )
    table = table.sort_values(["patient_id", "day", "organ"], kind="stable").reset_index(drop=True)
    table["rank"] = table.groupby("patient_id")["day"].rank(method="dense").astype(np.int64)
    return table[["patient_id", "organ", "day", "rank", "source", "by_cutoff"]]


def analysis_tables(values: dict, records: SdtmRecords) -> dict[str, pd.DataFrame]:
    """The analysis tables exactly as the SDTM reader derives them from the independent assessor's records."""
    loq = values["measurement"]["loq_mm3"]
    subjects = records.subjects
    kept = subjects[subjects["exclusion"] == ""]
    kept_ids = set(kept["usubjid"])

    rs = records.responses
    rs = rs[(rs["evaluator"] == INDEPENDENT) & rs["usubjid"].isin(kept_ids)]
    rank = rs["response"].map({r: i for i, r in enumerate(recist.RESPONSES)})
    best = rank.groupby(rs["usubjid"]).min().map(lambda i: recist.RESPONSES[int(i)])

    patients = pd.DataFrame(
        {
            "patient_id": kept["usubjid"].to_numpy(),
            "trial": kept["studyid"].to_numpy(),
            "arm": kept["arm"].to_numpy(),
            "treatment_group": kept["treatment_group"].to_numpy(),
            "line": kept["line"].astype(np.int64).to_numpy(),
            "age": kept["age"].astype(float).to_numpy(),
            "sex": kept["sex"].to_numpy(),
            "race": kept["race"].to_numpy(),
            "bmi": kept["bmi"].astype(float).to_numpy(),
            "kras": kept["kras"].to_numpy(),
            "prior_surgery": kept["prior_surgery"].astype(bool).to_numpy(),
            "baseline_day": kept["baseline_day"].astype(np.int64).to_numpy(),
            "last_day": kept["last_day"].astype(np.int64).to_numpy(),
            "os_days": kept["os_days"].astype(float).to_numpy(),
            "os_event": kept["os_event"].astype(bool).to_numpy(),
            "pfs_days": kept["pfs_days"].astype(float).to_numpy(),
            "pfs_event": kept["pfs_event"].astype(bool).to_numpy(),
        }
    )
    patients["recist_bor"] = patients["patient_id"].map(best).fillna("NE").astype(object)
    first = contract.first_recist_days(rs["usubjid"], rs["day"], rs["response"])
    for column in ("recist_response_day", "recist_progression_day"):
        patients[column] = patients["patient_id"].map(first[column]).astype(float)
    patients = patients[list(contract.PATIENT_COLUMNS)].sort_values("patient_id", kind="stable").reset_index(drop=True)

    lesion_rows = records.lesions[records.lesions["usubjid"].isin(kept_ids)]
    lesions = pd.DataFrame(
        {
            "lesion_id": (lesion_rows["usubjid"] + "/" + lesion_rows["tulnkid"]).to_numpy(),
            "patient_id": lesion_rows["usubjid"].to_numpy(),
            "kind": lesion_rows["kind"].to_numpy(),
            "organ": lesion_rows["organ"].to_numpy(),
            "location": lesion_rows["location"].to_numpy(),
            "nodal": lesion_rows["nodal"].astype(bool).to_numpy(),
            "detected_day": lesion_rows["detected_day"].astype(np.int64).to_numpy(),
        }
    )
    lesions = lesions[list(contract.LESION_COLUMNS)].sort_values("lesion_id", kind="stable").reset_index(drop=True)

    tr = records.assessments
    tr = tr[(tr["evaluator"] == INDEPENDENT) & ~tr["not_done"] & tr["usubjid"].isin(kept_ids)]
    sizes = tr[tr["testcd"].isin(["LDIAM", "LPERP"])]
    too_small = (sizes["result"] == TOO_SMALL).to_numpy()
    diameter = sizes["numeric"].to_numpy(float)
    volume, blq = contract.measured_volume(diameter, too_small, loq)
    measurements = pd.DataFrame(
        {
            "lesion_id": (sizes["usubjid"] + "/" + sizes["tulnkid"]).to_numpy(),
            "patient_id": sizes["usubjid"].to_numpy(),
            "day": sizes["day"].astype(np.int64).to_numpy(),
            "diameter_mm": diameter,
            "volume_mm3": volume,
            "blq": blq,
        }
    )
    measurements = measurements.sort_values(["lesion_id", "day"], kind="stable").reset_index(drop=True)

    states = tr[tr["testcd"] == "TUMSTATE"]
    lesion_status = pd.DataFrame(
        {
            "lesion_id": (states["usubjid"] + "/" + states["tulnkid"]).to_numpy(),
            "patient_id": states["usubjid"].to_numpy(),
            "day": states["day"].astype(np.int64).to_numpy(),
            "status": states["result"].map(TUMSTATE_STATUS).to_numpy(),
        }
    )
    lesion_status = lesion_status.sort_values(["lesion_id", "day"], kind="stable").reset_index(drop=True)

    excluded = subjects[subjects["exclusion"] != ""]
    exclusions = pd.DataFrame(
        {"patient_id": excluded["usubjid"].to_numpy(), "reason": excluded["exclusion"].to_numpy()}
    )
    exclusions = exclusions.sort_values("patient_id", kind="stable").reset_index(drop=True)
    return {
        "patients": patients,
        "lesions": lesions,
        "measurements": measurements,
        "lesion_status": lesion_status,
        "exclusions": exclusions,
    }
