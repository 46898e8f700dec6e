"""A tiny hand-made SDTM cohort (five patients) and the analysis tables it must give, worked out by hand.

Patients (days are days since the first dose; SDTM study day = day + 1 from day 0 on):
- S1-001: TAR+Chemo; liver target T01 (30, 20 mm, then TOO SMALL TO MEASURE), nodal target T02 (short axis
  15, 12, 8 mm; an LDIAM record that must be set aside), a lung non-target lesion, a new bone lesion at day 84;
  a SUMDIAM record; best response PR. Analysed.
- S1-002: Chemo alone; lung target T01 (10 mm, then 0), a peritoneal non-target lesion read NOT EVALUABLE at
  day 53; best response CR; no BMI; an unused SUPPDM qualifier (ECOG). Analysed.
- S1-003: baseline scan at day -100 (> 12 weeks before treatment): excluded by rule 1.
- S2-004: baseline only (the later scan is NOT DONE): excluded by rule 2.
- S2-005: screen failure, no first-dose date and no tumour records: excluded by rule 2.
Every patient also has INVESTIGATOR readings of some lesions, which the default evaluator sets aside.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

IA, INV = "INDEPENDENT ASSESSOR", "INVESTIGATOR"
START = {"S1-001": "2020-01-10", "S1-002": "2020-02-01", "S1-003": "2020-03-01", "S2-004": "2021-05-05", "S2-005": ""}


def study_day(day: int) -> int:
    """SDTM study day of a day since the first dose (no day 0)."""
    return day + 1 if day >= 0 else day


def iso_date(patient: str, day: int) -> str:
    return str(np.datetime64(START[patient]) + np.timedelta64(day, "D"))


def _dm() -> pd.DataFrame:
    rows = [
        ("S1", "S1-002", 55, "F", "ASIAN", "FOLFOX"),
        ("S1", "S1-001", 61, "M", "WHITE", "FOLFOX + Panitumumab"),
        ("S1", "S1-003", 70, "F", "WHITE", "FOLFOX"),
        ("S2", "S2-004", 48, "M", "BLACK OR AFRICAN AMERICAN", "FOLFIRI + BEVACIZUMAB"),
        ("S2", "S2-005", 66, "M", "WHITE", "SCREEN FAILURE"),
    ]
    frame = pd.DataFrame(rows, columns=["STUDYID", "USUBJID", "AGE", "SEX", "RACE", "ARM"])
    frame.insert(2, "RFSTDTC", frame["USUBJID"].map(START))
    frame["AGE"] = frame["AGE"].astype(float)
    return frame


def _suppdm() -> pd.DataFrame:
    rows = [
        ("S1-001", "BMI", "24.5"),
        ("S1-001", "KRAS", "WILD-TYPE"),
        ("S1-001", "LINE", "1"),
        ("S1-001", "PRSURG", "Y"),
        ("S1-002", "KRAS", "MUTANT"),
        ("S1-002", "LINE", "2"),
        ("S1-002", "PRSURG", "N"),
        ("S1-002", "ECOG", "1"),
        ("S1-003", "LINE", "1"),
        ("S1-003", "PRSURG", "N"),
        ("S2-004", "BMI", "30.1"),
        ("S2-004", "LINE", "1"),
        ("S2-004", "PRSURG", "Y"),
    ]
    frame = pd.DataFrame(rows, columns=["USUBJID", "QNAM", "QVAL"])
    frame.insert(0, "RDOMAIN", "DM")
    return frame


#: TU: patient, link id, kind, location, day identified.
LESIONS = [
    ("S1-001", "T01", "TARGET", "Liver", -7),
    ("S1-001", "T02", "TARGET", "LYMPH NODE, ILIAC", -7),
    ("S1-001", "NT01", "NON-TARGET", "LUNG, LEFT", -7),
    ("S1-001", "NEW01", "NEW", "BONE", 84),
    ("S1-002", "T01", "TARGET", "PULMONARY", -3),
    ("S1-002", "NT01", "NON-TARGET", "PERITONEUM", -3),
    ("S1-003", "T01", "TARGET", "LIVER", -100),
    ("S2-004", "T01", "TARGET", "ADRENAL GLAND", -10),
]

#: TR: patient, link id, test, result text, numeric result, NOT DONE, evaluator, day.
ASSESSMENTS = [
    ("S1-001", "T01", "LDIAM", "30", 30.0, False, IA, -7),
    ("S1-001", "T02", "LPERP", "15", 15.0, False, IA, -7),
    ("S1-001", "T02", "LDIAM", "22", 22.0, False, IA, -7),
    ("S1-001", "NT01", "TUMSTATE", "PRESENT", np.nan, False, IA, -7),
    ("S1-001", "", "SUMDIAM", "45", 45.0, False, IA, -7),
    ("S1-001", "T01", "LDIAM", "20", 20.0, False, IA, 42),
    ("S1-001", "T02", "LPERP", "12", 12.0, False, IA, 42),
    ("S1-001", "NT01", "TUMSTATE", "PRESENT", np.nan, False, IA, 42),
    ("S1-001", "T01", "LDIAM", "TOO SMALL TO MEASURE", np.nan, False, IA, 84),
    ("S1-001", "T02", "LPERP", "8", 8.0, False, IA, 84),
    ("S1-001", "NT01", "TUMSTATE", "ABSENT", np.nan, False, IA, 84),
    ("S1-001", "NEW01", "TUMSTATE", "UNEQUIVOCAL PROGRESSION", np.nan, False, IA, 84),
    ("S1-002", "T01", "LDIAM", "10", 10.0, False, IA, -3),
    ("S1-002", "NT01", "TUMSTATE", "PRESENT", np.nan, False, IA, -3),
    ("S1-002", "T01", "LDIAM", "0", 0.0, False, IA, 53),
    ("S1-002", "NT01", "TUMSTATE", "NOT EVALUABLE", np.nan, False, IA, 53),
    ("S1-003", "T01", "LDIAM", "25", 25.0, False, IA, -100),
    ("S1-003", "T01", "LDIAM", "26", 26.0, False, IA, 10),
    ("S2-004", "T01", "LDIAM", "40", 40.0, False, IA, -10),
    ("S2-004", "T01", "LDIAM", "", np.nan, True, IA, 50),
    ("S1-001", "T01", "LDIAM", "31", 31.0, False, INV, -7),
    ("S1-001", "T01", "LDIAM", "21", 21.0, False, INV, 42),
    ("S1-001", "T01", "LDIAM", "5", 5.0, False, INV, 84),
    ("S1-002", "T01", "LDIAM", "10.5", 10.5, False, INV, -3),
    ("S1-002", "T01", "LDIAM", "1", 1.0, False, INV, 53),
]

#: RS: patient, test, response, evaluator, day.
RESPONSES = [
    ("S1-001", "OVRLRESP", "PR", IA, 42),
    ("S1-001", "OVRLRESP", "PD", IA, 84),
    ("S1-001", "TRGRESP", "PR", IA, 42),
    ("S1-001", "OVRLRESP", "CR", INV, 42),
    ("S1-002", "OVRLRESP", "CR", IA, 53),
    ("S1-003", "OVRLRESP", "SD", IA, 10),
    ("S2-004", "OVRLRESP", "NE", IA, 50),
]

#: ADTTE: patient, parameter, days, censored.
SURVIVAL = [
    ("S1-001", "OS", 400, 0),
    ("S1-001", "PFS", 84, 0),
    ("S1-001", "TTR", 42, 0),
    ("S1-002", "OS", 500, 1),
    ("S1-002", "PFS", 300, 1),
    ("S1-003", "OS", 200, 0),
    ("S1-003", "PFS", 100, 0),
    ("S2-004", "OS", 90, 0),
    ("S2-004", "PFS", 50, 0),
]


def _visit_numbers(frame: pd.DataFrame, day_column: str) -> np.ndarray:
    return frame.groupby("USUBJID")[day_column].rank(method="dense").to_numpy(dtype=float)


def build_domains() -> dict[str, pd.DataFrame]:
    """The SDTM domains of the hand-made cohort (fresh copies; tests may edit them)."""
    tu = pd.DataFrame(LESIONS, columns=["USUBJID", "TULNKID", "TUORRES", "TULOC", "day"])
    tu = tu.assign(
        TUTESTCD="TUMIDENT",
        TUEVAL=IA,
        TUDY=[float(study_day(d)) for d in tu["day"]],
        TUDTC=[iso_date(p, d) for p, d in zip(tu["USUBJID"], tu["day"])],
    )
    tu = tu[["USUBJID", "TULNKID", "TUTESTCD", "TUORRES", "TULOC", "TUEVAL", "TUDY", "TUDTC"]]

    tr = pd.DataFrame(
        ASSESSMENTS, columns=["USUBJID", "TRLNKID", "TRTESTCD", "TRORRES", "TRSTRESN", "not_done", "TREVAL", "day"]
    )
    independent = tr["TREVAL"] == IA
    tr = tr.assign(
        TRSEQ=tr.groupby("USUBJID").cumcount().to_numpy(dtype=float) + 1,
        TRSTRESC=tr["TRORRES"],
        TRSTAT=np.where(tr["not_done"], "NOT DONE", ""),
        TREVALID=np.where(independent, "RADIOLOGIST 1", ""),
        TRACPTFL=np.where(independent, "Y", ""),
        TRDY=[float(study_day(d)) for d in tr["day"]],
        TRDTC=[iso_date(p, d) for p, d in zip(tr["USUBJID"], tr["day"])],
    )
    tr["VISITNUM"] = _visit_numbers(tr, "day")
    tr = tr[
        [
            "USUBJID",
            "TRSEQ",
            "TRLNKID",
            "TRTESTCD",
            "TRORRES",
            "TRSTRESC",
            "TRSTRESN",
            "TRSTAT",
            "TREVAL",
            "TREVALID",
            "TRACPTFL",
            "VISITNUM",
            "TRDY",
            "TRDTC",
        ]
    ]

    rs = pd.DataFrame(RESPONSES, columns=["USUBJID", "RSTESTCD", "RSORRES", "RSEVAL", "day"])
    independent = rs["RSEVAL"] == IA
    rs = rs.assign(
        RSSTRESC=rs["RSORRES"],
        RSACPTFL=np.where(independent, "Y", ""),
        RSEVALID=np.where(independent, "RADIOLOGIST 1", ""),
        RSDY=[float(study_day(d)) for d in rs["day"]],
        RSDTC=[iso_date(p, d) for p, d in zip(rs["USUBJID"], rs["day"])],
    )
    rs = rs[["USUBJID", "RSTESTCD", "RSORRES", "RSSTRESC", "RSEVAL", "RSEVALID", "RSACPTFL", "RSDY", "RSDTC"]]

    adtte = pd.DataFrame(SURVIVAL, columns=["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    adtte = adtte.astype({"AVAL": float, "CNSR": float})
    return {"dm": _dm(), "suppdm": _suppdm(), "tu": tu, "tr": tr, "rs": rs, "adtte": adtte}


def dates_only(domains: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The same cohort with dates (--DTC) and no study days (--DY)."""
    return {name: frame.drop(columns=[c for c in frame.columns if c.endswith("DY")]) for name, frame in domains.items()}


def locations_in_supptr(domains: dict[str, pd.DataFrame], idvar: str = "TRLNKID") -> dict[str, pd.DataFrame]:
    """The same cohort with lesion locations in SUPPTR (QNAM TULOC) instead of TU.TULOC.

    ``idvar`` TRLNKID points at the lesion directly; TRSEQ points at one of its TR records.
    """
    tu, tr = domains["tu"], domains["tr"]
    first_record = tr[tr["TRLNKID"] != ""].drop_duplicates(["USUBJID", "TRLNKID"]).set_index(["USUBJID", "TRLNKID"])
    keys = list(zip(tu["USUBJID"], tu["TULNKID"]))
    value = (
        tu["TULNKID"]
        if idvar == "TRLNKID"
        else pd.Series([f"{first_record.loc[key, 'TRSEQ']:.0f}" for key in keys], index=tu.index)
    )
    supptr = pd.DataFrame(
        {
            "RDOMAIN": "TR",
            "USUBJID": tu["USUBJID"],
            "IDVAR": idvar,
            "IDVARVAL": value,
            "QNAM": "TULOC",
            "QVAL": tu["TULOC"],
        }
    )
    supptr = pd.concat(
        [
            supptr,
            pd.DataFrame(
                [
                    {
                        "RDOMAIN": "TR",
                        "USUBJID": "S1-001",
                        "IDVAR": "TRLNKID",
                        "IDVARVAL": "T01",
                        "QNAM": "TULAT",
                        "QVAL": "LEFT",
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    return {**domains, "tu": tu.drop(columns=["TULOC"]), "supptr": supptr}


def write_domains(domains: dict[str, pd.DataFrame], folder: str | Path, fmt: str) -> Path:
    """Write each domain as ``<name>.<fmt>`` (xpt via pyreadstat.write_xport, csv, parquet); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in domains.items():
        path = folder / f"{name}.{fmt}"
        if fmt == "xpt":
            pyreadstat.write_xport(frame, str(path), table_name=name.upper(), file_format_version=5)
        elif fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            raise ValueError(f"the factory writes xpt, csv or parquet, not {fmt}")
    return folder


def expected_tables() -> dict[str, pd.DataFrame]:
    """The analysis tables of the hand-made cohort, written out by hand (default evaluator, LOQ 200 mm^3)."""
    patients = pd.DataFrame(
        {
            "patient_id": ["S1-001", "S1-002"],
            "trial": ["S1", "S1"],
            "arm": ["FOLFOX + Panitumumab", "FOLFOX"],
            "treatment_group": ["TAR+Chemo", "Chemo alone"],
            "line": pd.array([1, 2], dtype="Int64"),
            "age": [61.0, 55.0],
            "sex": ["M", "F"],
            "race": ["WHITE", "ASIAN"],
            "bmi": [24.5, np.nan],
            "kras": ["wild-type", "mutant"],
            "prior_surgery": pd.array([True, False], dtype="boolean"),
            "baseline_day": np.array([-7, -3], dtype=np.int64),
            "last_day": np.array([84, 53], dtype=np.int64),
            "os_days": [400.0, 500.0],
            "os_event": [True, False],
            "pfs_days": [84.0, 300.0],
            "pfs_event": [True, False],
            "recist_bor": ["PR", "CR"],
            "recist_response_day": [42.0, 53.0],
            "recist_progression_day": [84.0, np.nan],
        }
    )
    lesions = pd.DataFrame(
        {
            "lesion_id": ["S1-001/NEW01", "S1-001/NT01", "S1-001/T01", "S1-001/T02", "S1-002/NT01", "S1-002/T01"],
            "patient_id": ["S1-001"] * 4 + ["S1-002"] * 2,
            "kind": ["new", "non-target", "target", "target", "non-target", "target"],
            "organ": ["bone", "lung", "liver", "regional LN", "peritoneum", "lung"],
            "location": ["BONE", "LUNG, LEFT", "Liver", "LYMPH NODE, ILIAC", "PERITONEUM", "PULMONARY"],
            "nodal": [False, False, False, True, False, False],
            "detected_day": np.array([84, -7, -7, -7, -3, -3], dtype=np.int64),
        }
    )
    # Volumes: 0.2914 * diameter^3 (30 mm -> 7867.8 mm^3); TOO SMALL TO MEASURE carries the LOQ, 200 mm^3.
    measurements = pd.DataFrame(
        {
            "lesion_id": ["S1-001/T01"] * 3 + ["S1-001/T02"] * 3 + ["S1-002/T01"] * 2,
            "patient_id": ["S1-001"] * 6 + ["S1-002"] * 2,
            "day": np.array([-7, 42, 84, -7, 42, 84, -3, 53], dtype=np.int64),
            "diameter_mm": [30.0, 20.0, np.nan, 15.0, 12.0, 8.0, 10.0, 0.0],
            "volume_mm3": [7867.8, 2331.2, 200.0, 983.475, 503.5392, 149.1968, 291.4, 0.0],
            "blq": [False, False, True, False, False, True, False, True],
        }
    )
    lesion_status = pd.DataFrame(
        {
            "lesion_id": ["S1-001/NEW01", "S1-001/NT01", "S1-001/NT01", "S1-001/NT01", "S1-002/NT01"],
            "patient_id": ["S1-001"] * 4 + ["S1-002"],
            "day": np.array([84, -7, 42, 84, -3], dtype=np.int64),
            "status": ["PD", "non-CR/non-PD", "non-CR/non-PD", "CR", "non-CR/non-PD"],
        }
    )
    exclusions = pd.DataFrame(
        {
            "patient_id": ["S1-003", "S2-004", "S2-005"],
            "reason": [
                "baseline scan > 12 weeks before treatment",
                "no longitudinal target measurement",
                "no longitudinal target measurement",
            ],
        }
    )
    return {
        "patients": patients,
        "lesions": lesions,
        "measurements": measurements,
        "lesion_status": lesion_status,
        "exclusions": exclusions,
    }


#: What the reader must report setting aside for the hand-made cohort (default evaluator).
EXPECTED_SET_ASIDE = {
    "TR records by other evaluators": 5,
    "TR records of other tests (not a diameter or status test of the map)": 1,
    "TR records NOT DONE": 1,
    "TR LDIAM records of nodal target lesions (short axis LPERP used)": 1,
    "TR TUMSTATE results NOT EVALUABLE": 1,
    "SUPPDM qualifiers the map does not use": 1,
    "RS records by other evaluators": 1,
    "RS records of other tests (not OVRLRESP)": 1,
    "ADTTE records of other parameters (not OS, PFS)": 1,
}
EXPECTED_EXCLUDED_RECORDS = {"lesions": 2, "target measurements": 3, "lesion statuses": 0}
