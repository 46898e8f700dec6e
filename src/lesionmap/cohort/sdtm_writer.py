"""Write a simulated cohort as CDISC SDTM: DM, SUPPDM, TU, TR, RS and ADTTE (OS, PFS).

The variables are those of the contract page (``book/appendix/sdtm_input.md``) plus the usual identifiers,
labels and units. Study days follow SDTM (day 1 is the first dose, no day 0); dates (``--DTC``) are computed
from ``DM.RFSTDTC``. TR and RS hold two evaluators: the INDEPENDENT ASSESSOR (accepted, ``TRACPTFL = "Y"``)
and the INVESTIGATOR, whose readings differ slightly. Formats: SAS transport v5 (``xpt``), CSV, Parquet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from lesionmap.cohort.records import INDEPENDENT, SimulatedCohort

FORMATS = ("xpt", "csv", "parquet")
DOMAINS = ("dm", "suppdm", "tu", "tr", "rs", "adtte")

#: XPT v5 limits: 8-character names, 40-character labels, 200-character text values.
XPT_NAME_LIMIT, XPT_LABEL_LIMIT, XPT_TEXT_LIMIT = 8, 40, 200

LABELS = {
    "STUDYID": "Study Identifier",
    "DOMAIN": "Domain Abbreviation",
    "USUBJID": "Unique Subject Identifier",
    "SUBJID": "Subject Identifier for the Study",
    "RFSTDTC": "Subject Reference Start Date/Time",
    "DTHDTC": "Date/Time of Death",
    "DTHFL": "Subject Death Flag",
    "SITEID": "Study Site Identifier",
    "AGE": "Age",
    "AGEU": "Age Units",
    "SEX": "Sex",
    "RACE": "Race",
    "ARMCD": "Planned Arm Code",
    "ARM": "Description of Planned Arm",
    "ACTARMCD": "Actual Arm Code",
    "ACTARM": "Description of Actual Arm",
    "RDOMAIN": "Related Domain Abbreviation",
    "IDVAR": "Identifying Variable",
    "IDVARVAL": "Identifying Variable Value",
    "QNAM": "Qualifier Variable Name",
    "QLABEL": "Qualifier Variable Label",
    "QVAL": "Data Value",
    "QORIG": "Origin",
    "TUSEQ": "Sequence Number",
    "TULNKID": "Link ID",
    "TUTESTCD": "Tumor Identification Short Name",
    "TUTEST": "Tumor Identification Test Name",
    "TUORRES": "Tumor Identification Result",
    "TUSTRESC": "Tumor Identification Result Std. Format",
    "TULOC": "Location of the Tumor",
    "TUMETHOD": "Method of Identification",
    "TUEVAL": "Evaluator",
    "TUEVALID": "Evaluator Identifier",
    "VISITNUM": "Visit Number",
    "VISIT": "Visit Name",
    "TUDTC": "Date/Time of Tumor Identification",
    "TUDY": "Study Day of Tumor Identification",
    "TRSEQ": "Sequence Number",
    "TRLNKID": "Link ID",
    "TRTESTCD": "Tumor Assessment Short Name",
    "TRTEST": "Tumor Assessment Test Name",
    "TRORRES": "Result or Finding in Original Units",
    "TRORRESU": "Original Units",
    "TRSTRESC": "Character Result/Finding in Std Format",
    "TRSTRESN": "Numeric Result/Finding in Std Units",
    "TRSTRESU": "Standard Units",
    "TRSTAT": "Completion Status",
    "TRREASND": "Reason Not Done",
    "TRMETHOD": "Method Used to Identify the Tumor",
    "TREVAL": "Evaluator",
    "TREVALID": "Evaluator Identifier",
    "TRACPTFL": "Accepted Record Flag",
    "TRDTC": "Date/Time of Tumor Measurement",
    "TRDY": "Study Day of Tumor Measurement",
    "RSSEQ": "Sequence Number",
    "RSTESTCD": "Response Assessment Short Name",
    "RSTEST": "Response Assessment Name",
    "RSCAT": "Category for Response Assessment",
    "RSORRES": "Response Assessment Original Result",
    "RSSTRESC": "Response Assessment Result in Std Format",
    "RSEVAL": "Evaluator",
    "RSEVALID": "Evaluator Identifier",
    "RSACPTFL": "Accepted Record Flag",
    "RSDTC": "Date/Time of Response Assessment",
    "RSDY": "Study Day of Response Assessment",
    "PARAMCD": "Parameter Code",
    "PARAM": "Parameter",
    "AVAL": "Analysis Value",
    "CNSR": "Censor",
    "EVNTDESC": "Event or Censoring Description",
}

_TEST_NAMES = {"LDIAM": "Longest Diameter", "LPERP": "Longest Perpendicular", "TUMSTATE": "Tumor State"}
_TU_RESULTS = {"target": "TARGET", "non-target": "NON-TARGET", "new": "NEW"}
_EVALUATOR_IDS = {INDEPENDENT: "RADIOLOGIST 1"}


def study_day(day):
    """SDTM study day from days since the first dose: day 0 is study day 1, days before keep their sign."""
    day = np.asarray(day, dtype=np.int64)
    return np.where(day >= 0, day + 1, day)


def _dates(start: pd.Series, day) -> np.ndarray:
    """ISO 8601 dates ``start + day`` (``start`` is the patient's first dose date)."""
    stamps = start.to_numpy().astype("datetime64[D]") + np.asarray(day, dtype=np.int64)
    return np.datetime_as_string(stamps, unit="D").astype(object)


def _sequence(frame: pd.DataFrame) -> np.ndarray:
    """--SEQ: 1, 2, ... within each subject, in the frame's order."""
    return frame.groupby("USUBJID", sort=False).cumcount().to_numpy() + 1


def _visit_names(visit: np.ndarray, interval_weeks: np.ndarray) -> np.ndarray:
    weeks = (np.asarray(visit) * np.asarray(interval_weeks)).astype(str)
    return np.where(np.asarray(visit) == 0, "BASELINE", np.strings.add("WEEK ", weeks)).astype(object)


def sdtm_domains(cohort: SimulatedCohort) -> dict[str, pd.DataFrame]:
    """The SDTM domains of a simulated cohort as DataFrames, by lower-case domain name."""
    subjects = cohort.records.subjects
    start = subjects.set_index("usubjid")["rfstdtc"]
    studyid = subjects.set_index("usubjid")["studyid"]
    interval_weeks = subjects.set_index("usubjid")["interval_weeks"]

    death = subjects["os_event"].to_numpy()
    death_day = subjects["os_days"].to_numpy().astype(np.int64)
    dm = pd.DataFrame(
        {
            "STUDYID": subjects["studyid"],
            "DOMAIN": "DM",
            "USUBJID": subjects["usubjid"],
            "SUBJID": subjects["subjid"],
            "RFSTDTC": np.datetime_as_string(subjects["rfstdtc"].to_numpy().astype("datetime64[D]"), unit="D"),
            "DTHDTC": np.where(death, _dates(subjects["rfstdtc"], death_day), ""),
            "DTHFL": np.where(death, "Y", ""),
            "SITEID": subjects["siteid"],
            "AGE": subjects["age"].astype(np.int64),
            "AGEU": "YEARS",
            "SEX": subjects["sex"],
            "RACE": subjects["race"],
            "ARMCD": subjects["armcd"],
            "ARM": subjects["arm"],
            "ACTARMCD": subjects["armcd"],
            "ACTARM": subjects["arm"],
        }
    )

    supp = [
        ("BMI", "Body Mass Index", subjects["bmi"].map(lambda x: f"{x:.1f}"), subjects["bmi"].notna()),
        ("KRAS", "KRAS Mutation Status", subjects["kras"].str.upper(), subjects["kras"] != "unknown"),
        ("LINE", "Line of Therapy", subjects["line"].astype(str), pd.Series(True, index=subjects.index)),
        (
            "PRSURG",
            "Prior Surgery",
            np.where(subjects["prior_surgery"], "Y", "N"),
            pd.Series(True, index=subjects.index),
        ),
    ]
    suppdm = (
        pd.concat(
            [
                pd.DataFrame(
                    {
                        "STUDYID": subjects["studyid"],
                        "RDOMAIN": "DM",
                        "USUBJID": subjects["usubjid"],
                        "IDVAR": "",
                        "IDVARVAL": "",
                        "QNAM": qnam,
                        "QLABEL": qlabel,
                        "QVAL": np.asarray(values, dtype=object),
                        "QORIG": "CRF",
                    }
                )[np.asarray(present)]
                for qnam, qlabel, values, present in supp
            ]
        )
        .sort_values(["USUBJID", "QNAM"], kind="stable")
        .reset_index(drop=True)
    )

    lesions = cohort.records.lesions.sort_values(["usubjid", "visit", "tulnkid"], kind="stable")
    tu = pd.DataFrame(
        {
            "STUDYID": lesions["usubjid"].map(studyid).to_numpy(),
            "DOMAIN": "TU",
            "USUBJID": lesions["usubjid"].to_numpy(),
            "TULNKID": lesions["tulnkid"].to_numpy(),
            "TUTESTCD": "TUMIDENT",
            "TUTEST": "Tumor Identification",
            "TUORRES": lesions["kind"].map(_TU_RESULTS).to_numpy(),
            "TUSTRESC": lesions["kind"].map(_TU_RESULTS).to_numpy(),
            "TULOC": lesions["location"].to_numpy(),
            "TUMETHOD": "CT SCAN",
            "TUEVAL": INDEPENDENT,
            "TUEVALID": _EVALUATOR_IDS[INDEPENDENT],
            "VISITNUM": (lesions["visit"].to_numpy() + 1).astype(np.int64),
            "VISIT": _visit_names(lesions["visit"].to_numpy(), lesions["usubjid"].map(interval_weeks).to_numpy()),
            "TUDTC": _dates(lesions["usubjid"].map(start), lesions["detected_day"]),
            "TUDY": study_day(lesions["detected_day"]),
        }
    )
    tu.insert(3, "TUSEQ", _sequence(tu))

    rec = cohort.records.assessments.sort_values(["usubjid", "evaluator", "visit", "tulnkid"], kind="stable")
    is_size = rec["testcd"].isin(["LDIAM", "LPERP"]).to_numpy()
    not_done = rec["not_done"].to_numpy()
    independent = (rec["evaluator"] == INDEPENDENT).to_numpy()
    tr = pd.DataFrame(
        {
            "STUDYID": rec["usubjid"].map(studyid).to_numpy(),
            "DOMAIN": "TR",
            "USUBJID": rec["usubjid"].to_numpy(),
            "TRLNKID": rec["tulnkid"].to_numpy(),
            "TRTESTCD": rec["testcd"].to_numpy(),
            "TRTEST": rec["testcd"].map(_TEST_NAMES).to_numpy(),
            "TRORRES": rec["result"].to_numpy(),
            "TRORRESU": np.where(is_size & ~not_done, "mm", ""),
            "TRSTRESC": rec["result"].to_numpy(),
            "TRSTRESN": rec["numeric"].to_numpy(float),
            "TRSTRESU": np.where(is_size & ~not_done, "mm", ""),
            "TRSTAT": np.where(not_done, "NOT DONE", ""),
            "TRREASND": np.where(not_done, "SCAN NOT AVAILABLE", ""),
            "TRMETHOD": "CT SCAN",
            "TREVAL": rec["evaluator"].to_numpy(),
            "TREVALID": np.where(independent, _EVALUATOR_IDS[INDEPENDENT], ""),
            "TRACPTFL": np.where(independent, "Y", ""),
            "VISITNUM": (rec["visit"].to_numpy() + 1).astype(np.int64),
            "VISIT": _visit_names(rec["visit"].to_numpy(), rec["usubjid"].map(interval_weeks).to_numpy()),
            "TRDTC": _dates(rec["usubjid"].map(start), rec["day"]),
            "TRDY": study_day(rec["day"]),
        }
    )
    tr.insert(3, "TRSEQ", _sequence(tr))

    resp = cohort.records.responses.sort_values(["usubjid", "evaluator", "visit"], kind="stable")
    independent = (resp["evaluator"] == INDEPENDENT).to_numpy()
    rs = pd.DataFrame(
        {
            "STUDYID": resp["usubjid"].map(studyid).to_numpy(),
            "DOMAIN": "RS",
            "USUBJID": resp["usubjid"].to_numpy(),
            "RSTESTCD": "OVRLRESP",
            "RSTEST": "Overall Response",
            "RSCAT": "RECIST 1.1",
            "RSORRES": resp["response"].to_numpy(),
            "RSSTRESC": resp["response"].to_numpy(),
            "RSEVAL": resp["evaluator"].to_numpy(),
            "RSEVALID": np.where(independent, _EVALUATOR_IDS[INDEPENDENT], ""),
            "RSACPTFL": np.where(independent, "Y", ""),
            "VISITNUM": (resp["visit"].to_numpy() + 1).astype(np.int64),
            "VISIT": _visit_names(resp["visit"].to_numpy(), resp["usubjid"].map(interval_weeks).to_numpy()),
            "RSDTC": _dates(resp["usubjid"].map(start), resp["day"]),
            "RSDY": study_day(resp["day"]),
        }
    )
    rs.insert(3, "RSSEQ", _sequence(rs))

    adtte = (
        pd.concat(
            [
                pd.DataFrame(
                    {
                        "STUDYID": subjects["studyid"],
                        "USUBJID": subjects["usubjid"],
                        "PARAMCD": code,
                        "PARAM": label,
                        "AVAL": subjects[f"{column}_days"].astype(np.int64),
                        "CNSR": (~subjects[f"{column}_event"].astype(bool)).astype(np.int64),
                        "EVNTDESC": np.where(subjects[f"{column}_event"], event, censor),
                    }
                )
                for code, label, column, event, censor in (
                    ("OS", "Overall Survival (days)", "os", "DEATH", "ALIVE AT DATA CUT-OFF"),
                    ("PFS", "Progression-Free Survival (days)", "pfs", "PROGRESSION OR DEATH", "LAST TUMOR ASSESSMENT"),
                )
            ]
        )
        .sort_values(["USUBJID", "PARAMCD"], kind="stable")
        .reset_index(drop=True)
    )

    domains = {"dm": dm, "suppdm": suppdm, "tu": tu, "tr": tr, "rs": rs, "adtte": adtte}
    return {name: frame.reset_index(drop=True) for name, frame in domains.items()}


def check_xpt_limits(name: str, frame: pd.DataFrame) -> None:
    """Raise ValueError when a domain breaks the XPT v5 limits (names, labels, text length)."""
    long_names = [c for c in frame.columns if len(c) > XPT_NAME_LIMIT]
    if long_names or len(name) > XPT_NAME_LIMIT:
        raise ValueError(f"{name}: names longer than {XPT_NAME_LIMIT} characters: {long_names or name}")
    long_labels = [c for c in frame.columns if len(LABELS.get(c, c)) > XPT_LABEL_LIMIT]
    if long_labels:
        raise ValueError(f"{name}: labels longer than {XPT_LABEL_LIMIT} characters for {long_labels}")
    for column in frame.columns[frame.dtypes == object]:
        # Each distinct text once: SDTM columns repeat a few values over many rows.
        longest = max((len(v) for v in pd.unique(frame[column].dropna()) if isinstance(v, str)), default=0)
        if longest > XPT_TEXT_LIMIT:
            raise ValueError(f"{name}.{column}: a value is {longest} characters long (XPT limit {XPT_TEXT_LIMIT})")


def write_sdtm(cohort: SimulatedCohort, folder: str | Path, fmt: str = "xpt") -> dict[str, Path]:
    """Write DM, SUPPDM, TU, TR, RS and ADTTE into ``folder`` as ``dm.xpt`` ... (or .csv, .parquet).

    Returns the written paths by domain. XPT files are SAS transport version 5 (the FDA's format).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown SDTM format '{fmt}' (choose one of {', '.join(FORMATS)})")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in sdtm_domains(cohort).items():
        path = folder / f"{name}.{fmt}"
        if fmt == "xpt":
            check_xpt_limits(name.upper(), frame)
            pyreadstat.write_xport(
                frame,
                str(path),
                table_name=name.upper(),
                file_format_version=5,
                column_labels=[LABELS.get(c, c) for c in frame.columns],
            )
        elif fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        paths[name] = path
    return paths
