"""Malformed SDTM: each input gets an SDTMError naming the file, column, rows and rule, with the exact message.

Every case edits the hand-made cohort of tests/sdtm_factory.py (rows are numbered from 1, as in the file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

import sdtm_factory as factory
from lesionmap.io import SDTMError, read_sdtm


def edit(domain: str, rows, columns, values):
    """A change that sets ``domain.loc[rows, columns] = values``."""

    def change(domains):
        frame = domains[domain]
        if isinstance(values, str) and frame[columns if isinstance(columns, str) else columns[0]].dtype != object:
            frame[columns] = frame[columns].astype(object)
        frame.loc[rows, columns] = values
        return domains

    return change


def append_copy(domain: str, row: int, **changes):
    """A change that appends a copy of ``row`` (with ``changes``) at the end of the domain."""

    def change(domains):
        copy = domains[domain].iloc[[row]].assign(**changes)
        domains[domain] = pd.concat([domains[domain], copy], ignore_index=True)
        return domains

    return change


def drop(domain: str, rows=None, columns=None):
    def change(domains):
        domains[domain] = domains[domain].drop(index=rows, columns=columns).reset_index(drop=True)
        return domains

    return change


def then(*changes):
    def change(domains):
        for step in changes:
            domains = step(domains)
        return domains

    return change


@dataclass
class Case:
    change: Callable = lambda domains: domains
    message: str = ""
    fmt: str = "csv"
    options: dict = field(default_factory=dict)
    after_write: Callable | None = None


def without_tr(domains):
    del domains["tr"]
    return domains


def rename_dm_to_json(folder):
    (folder / "dm.csv").rename(folder / "dm.json")


def add_dm_parquet(folder):
    factory.build_domains()["dm"].to_parquet(folder / "dm.parquet", index=False)


def corrupt_tr(folder):
    (folder / "tr.xpt").write_bytes(b"this is not a SAS transport file\n" * 20)


def garbage_sas_dataset(folder):
    (folder / "tr.csv").unlink()
    (folder / "tr.sas7bdat").write_bytes(b"\x00not a SAS dataset" * 50)


def conflicting_supptr(domains):
    domains = factory.locations_in_supptr(domains)
    row = domains["supptr"].iloc[[0]].assign(QVAL="LUNG")
    domains["supptr"] = pd.concat([domains["supptr"], row], ignore_index=True)
    return domains


UNKNOWN_TUMSTATE = (
    "unknown TUMSTATE value (expected ABSENT, PRESENT, UNEQUIVOCAL PROGRESSION, NOT EVALUABLE, or a "
    "lesion status CR, PR, SD, NON-CR/NON-PD, PD)"
)

CASES = {
    "missing domain file": Case(
        without_tr, "tr: missing domain file: expected tr.xpt, tr.sas7bdat, tr.csv or tr.parquet in {folder}"
    ),
    "unknown file format": Case(
        message="dm.json: unknown file format '.json' (the reader reads .xpt, .sas7bdat, .csv, .parquet)",
        after_write=rename_dm_to_json,
    ),
    "two files for one domain": Case(
        message="dm.csv: domain DM is given twice (dm.csv, dm.parquet): keep one file", after_write=add_dm_parquet
    ),
    "missing required column": Case(
        drop("tr", columns=["TRTESTCD"]), "tr.csv, column TRTESTCD: missing required column TRTESTCD in domain TR"
    ),
    "no study day or date column": Case(
        drop("tu", columns=["TUDY", "TUDTC"]),
        "tu.csv, column TUDY: missing required column: domain TU needs TUDY or TUDTC",
    ),
    "duplicate USUBJID in DM": Case(
        append_copy("dm", 1),
        "dm.csv, column USUBJID, rows 2, 6: duplicate USUBJID in DM: each patient must have "
        "exactly one record (got 'S1-001')",
    ),
    "unknown SEX": Case(edit("dm", 2, "SEX", "X"), "dm.csv, column SEX, row 3: SEX must be M, F or U (got 'X')"),
    "unknown TULOC": Case(
        then(edit("tu", 1, "TULOC", "LYMPH NODE, LEFT"), edit("tu", 5, "TULOC", "Mars")),
        "tu.csv, column TULOC, rows 2, 6: unknown TULOC values (not in the site map): 'LYMPH NODE, LEFT', 'Mars'; "
        "add them to site_map in the map file, or read with unknown_location='other'",
    ),
    "unknown TUORRES lesion kind": Case(
        edit("tu", 2, "TUORRES", "MAYBE"),
        "tu.csv, column TUORRES, row 3: unknown lesion kind: TUORRES must be TARGET, NON-TARGET or NEW (got 'MAYBE')",
    ),
    "lesion identified twice in TU": Case(
        append_copy("tu", 0),
        "tu.csv, column TULNKID, rows 1, 9: the lesion is identified twice (USUBJID + TULNKID "
        "must be unique in TU) (got 'S1-001/T01')",
    ),
    "TU patient not in DM": Case(
        edit("tu", 7, "USUBJID", "S9-999"), "tu.csv, column USUBJID, row 8: the patient is not in DM (got 'S9-999')"
    ),
    "TR record for a lesion not in TU": Case(
        edit("tr", 0, "TRLNKID", "T99"),
        "tr.csv, column TRLNKID, row 1: a TR record must link to a lesion identified "
        "in TU (USUBJID + TRLNKID not found in TU) (got 'S1-001/T99')",
    ),
    "negative diameter": Case(
        edit("tr", [5, 12], "TRSTRESN", -3.0),
        "tr.csv, column TRSTRESN, rows 6, 13: a target-lesion diameter must be a non-negative number (got -3.0)",
        fmt="xpt",
    ),
    "diameter that is not a number": Case(
        edit("tr", 5, "TRSTRESN", "twenty"),
        "tr.csv, column TRSTRESN, row 6: TRSTRESN must be a number (mm) (got 'twenty')",
    ),
    "text result that is not a known text result": Case(
        edit("tr", 5, ["TRORRES", "TRSTRESC", "TRSTRESN"], ["BIG", "BIG", np.nan]),
        "tr.csv, column TRSTRESC, row 6: a target-lesion result must be a number or a known text result "
        "(TOO SMALL TO MEASURE, NOT EVALUABLE, NE) (got 'BIG')",
    ),
    "numeric text without TRSTRESN": Case(
        edit("tr", 5, "TRSTRESN", np.nan),
        "tr.csv, column TRSTRESC, row 6: a numeric result must also be given in TRSTRESN (got '20')",
    ),
    "missing result that is not NOT DONE": Case(
        edit("tr", 5, ["TRORRES", "TRSTRESC", "TRSTRESN"], ["", "", np.nan]),
        "tr.csv, column TRSTRESN, row 6: the result is missing: a record that is not NOT DONE needs a diameter or a "
        "text result",
    ),
    "unknown TUMSTATE value": Case(
        edit("tr", 3, ["TRORRES", "TRSTRESC"], "GONE"),
        f"tr.csv, column TRSTRESC, row 4: {UNKNOWN_TUMSTATE} (got 'GONE')",
    ),
    "unknown TRSTAT": Case(
        edit("tr", 19, "TRSTAT", "SKIPPED"),
        "tr.csv, column TRSTAT, row 20: TRSTAT must be blank or NOT DONE (got 'SKIPPED')",
    ),
    "duplicate measurement for a lesion, day and evaluator": Case(
        append_copy("tr", 0, TRSTRESN=29.0, TRORRES="29", TRSTRESC="29"),
        "tr.csv, column TRDY, rows 1, 26: duplicate measurement: the lesion has two size results on the same day by "
        "the chosen evaluator (got 'S1-001/T01')",
    ),
    "study day 0": Case(
        edit("tr", 0, "TRDY", 0.0),
        "tr.csv, column TRDY, row 1: a study day must be a whole number other than 0 (SDTM has no day 0) (got 0.0)",
        fmt="parquet",
    ),
    "no study day and no date": Case(
        edit("tr", 0, ["TRDY", "TRDTC"], [np.nan, ""]),
        "tr.csv, column TRDY, row 1: the record has neither a study day (TRDY) nor a date (TRDTC)",
    ),
    "unparseable date": Case(
        then(factory.dates_only, edit("tr", 0, "TRDTC", "2020-13-45")),
        "tr.csv, column TRDTC, row 1: unparseable date: expected an ISO 8601 date YYYY-MM-DD, or YYYY-MM (imputed to "
        "the 1st) (got '2020-13-45')",
    ),
    "a year alone for a date": Case(
        then(factory.dates_only, edit("tr", 0, "TRDTC", "2020")),
        "tr.csv, column TRDTC, row 1: unparseable date: expected an ISO 8601 date YYYY-MM-DD, or YYYY-MM (imputed to "
        "the 1st) (got '2020')",
    ),
    "missing RFSTDTC with dates only": Case(
        then(factory.dates_only, edit("dm", 1, "RFSTDTC", "")),
        "dm.csv, column RFSTDTC, row 2: the first-dose date is missing, but tu.csv dates this patient's records by "
        "TUDTC only: study days cannot be computed (got 'S1-001')",
    ),
    "SUPPDM LINE not 1 or 2": Case(
        edit("suppdm", 2, "QVAL", "3"),
        "suppdm.csv, column QVAL, row 3: LINE (line of therapy) must be 1 or 2 (got '3')",
    ),
    "SUPPDM PRSURG not Y or N": Case(
        edit("suppdm", 3, "QVAL", "MAYBE"),
        "suppdm.csv, column QVAL, row 4: PRSURG (prior surgery) must be Y or N (got 'MAYBE')",
    ),
    "SUPPDM BMI out of range": Case(
        edit("suppdm", 0, "QVAL", "2450"),
        "suppdm.csv, column QVAL, row 1: BMI (body-mass index) must be a positive number below 1000 (got 2450.0)",
    ),
    "ADTTE CNSR not 0 or 1": Case(
        edit("adtte", 1, "CNSR", 2.0), "adtte.csv, column CNSR, row 2: CNSR must be 0 (event) or 1 (censored) (got 2.0)"
    ),
    "no OS for an analysed patient": Case(
        drop("adtte", rows=[3]),
        "dm.csv, column USUBJID, row 1: the patient has no OS record in adtte.csv (got 'S1-002')",
    ),
    "unknown overall response": Case(
        edit("rs", 0, ["RSORRES", "RSSTRESC"], "GOOD"),
        "rs.csv, column RSSTRESC, row 1: an overall response must be CR, PR, SD, PD, NE (or NON-CR/NON-PD) "
        "(got 'GOOD')",
    ),
    "no record by the chosen evaluator": Case(
        message="tr.csv, column TREVAL: no record is by the evaluator 'CENTRAL READER': choose another evaluator "
        "(the map's 'evaluator', --evaluator, or read_sdtm(evaluator=...)) (got 'INDEPENDENT ASSESSOR', "
        "'INVESTIGATOR')",
        options={"evaluator": "CENTRAL READER"},
    ),
    "two locations for a lesion in SUPPTR": Case(
        conflicting_supptr,
        "supptr.csv, column QVAL, rows 1, 10: the lesion has two different locations in SUPPTR "
        "(read with location_conflicts='first' to take the identification record's) "
        "(got 'Liver', 'LUNG')",
        options={"location_conflicts": "error"},
    ),
    "unreadable XPT file": Case(
        message="tr.xpt: cannot be read as SAS transport (XPT): ", fmt="xpt", after_write=corrupt_tr
    ),
    "unreadable SAS dataset": Case(
        message="tr.sas7bdat: cannot be read as SAS dataset: ", after_write=garbage_sas_dataset
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_malformed_input_gets_a_precise_error(tmp_path, name):
    case = CASES[name]
    folder = factory.write_domains(case.change(factory.build_domains()), tmp_path / "sdtm", case.fmt)
    if case.after_write:
        case.after_write(folder)
    with pytest.raises(SDTMError) as raised:
        read_sdtm(folder, **case.options)
    expected = case.message.format(folder=folder).replace("tr.csv", f"tr.{case.fmt}")
    if name.startswith("unreadable"):
        assert str(raised.value).startswith(expected)
    else:
        assert str(raised.value) == expected


def test_the_error_carries_its_parts(tmp_path):
    folder = factory.write_domains(edit("tr", [5, 12], "TRSTRESN", -3.0)(factory.build_domains()), tmp_path, "csv")
    with pytest.raises(SDTMError) as raised:
        read_sdtm(folder)
    error = raised.value
    assert (error.file, error.column, error.rows, error.got) == ("tr.csv", "TRSTRESN", [6, 13], [-3.0])
    assert isinstance(error, ValueError)


def test_long_row_lists_are_summarised():
    error = SDTMError("tr.xpt", "TRSTRESN", range(1, 31), "a rule", got=[-1.0] * 30)
    assert str(error) == (
        "tr.xpt, column TRSTRESN, rows 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ... (30 in all): a rule (got -1.0)"
    )


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(SDTMError, match="no such folder of SDTM files"):
        read_sdtm(tmp_path / "nowhere")
