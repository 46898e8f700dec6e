"""Read CDISC SDTM (DM, SUPPDM, TU, TR, RS, ADTTE; SUPPTR optional) into the analysis tables.

The contract is the book page ``book/appendix/sdtm_input.md``; the tables are those of ``lesionmap.tables``.
Every value is checked: bad input raises ``SDTMError`` naming the file, column, rows and rule, and every
record that is not used (another evaluator, NOT DONE, NOT EVALUABLE, a test the analysis does not use, ...)
is counted in the report. The paper's two exclusion rules are applied in order and each excluded patient is
listed once, under the first rule that excludes them. All work is vectorised with pandas/NumPy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lesionmap import tables as contract
from lesionmap.io.analysis import AnalysisData, ReadReport
from lesionmap.io.errors import SDTMError
from lesionmap.io.files import Domain, find_domain_files, read_domain
from lesionmap.io.sitemap import (
    ACCEPTED, ALL_EVALUATORS, OTHER_ORGAN, QUALIFIER_COLUMNS, Mapping, load_mapping, mapping_from_dict,
)

#: Columns the reader looks for in each domain (required ones are checked where they are used).
COLUMNS = {
    "dm": ("STUDYID", "USUBJID", "RFSTDTC", "AGE", "SEX", "RACE", "ARM"),
    "suppdm": ("USUBJID", "QNAM", "QVAL"),
    "tu": ("USUBJID", "TULNKID", "TUTESTCD", "TUORRES", "TULOC", "TUEVAL", "TUDY", "TUDTC"),
    "tr": ("USUBJID", "TRSEQ", "TRLNKID", "TRTESTCD", "TRORRES", "TRSTRESC", "TRSTRESN", "TRSTAT", "TREVAL",
           "TREVALID", "TRACPTFL", "TRDY", "TRDTC"),
    "rs": ("USUBJID", "RSTESTCD", "RSORRES", "RSSTRESC", "RSSTAT", "RSEVAL", "RSEVALID", "RSACPTFL"),
    "adtte": ("USUBJID", "PARAMCD", "AVAL", "CNSR"),
    "supptr": ("USUBJID", "RDOMAIN", "IDVAR", "IDVARVAL", "QNAM", "QVAL"),
}

#: The paper's first exclusion rule: a baseline scan more than 12 weeks before the first dose.
EARLY_BASELINE_DAYS = 84

SIZE_TESTS = ("LDIAM", "LPERP")
STATE_TEST = "TUMSTATE"
NOT_DONE = "NOT DONE"
TOO_SMALL_TEXT = ("TOO SMALL TO MEASURE",)
NOT_EVALUABLE_TEXT = ("NOT EVALUABLE", "NE")
LESION_KIND_TERMS = {"TARGET": "target", "NON-TARGET": "non-target", "NEW": "new"}
#: TUMSTATE results, and lesion statuses written directly.
STATE_TERMS = {"ABSENT": "CR", "PRESENT": "non-CR/non-PD", "UNEQUIVOCAL PROGRESSION": "PD",
               **{status.upper(): status for status in contract.LESION_STATUSES}}
#: RS overall responses: RECIST counts NON-CR/NON-PD (non-target disease only) as stable disease.
RESPONSE_TERMS = {**{response: response for response in contract.RECIST_RESPONSES}, "NON-CR/NON-PD": "SD"}
KRAS_TERMS = {"WILD-TYPE": "wild-type", "MUTANT": "mutant", "": "unknown", "UNKNOWN": "unknown"}
SEXES = ("M", "F", "U")
SURVIVAL_PARAMETERS = ("OS", "PFS")


def _resolve_mapping(mapping) -> Mapping:
    if mapping is None:
        return load_mapping()
    if isinstance(mapping, Mapping):
        return mapping
    if isinstance(mapping, dict):
        return mapping_from_dict(mapping, source="mapping")
    return load_mapping(mapping)


def _key(*parts: pd.Series) -> pd.Series:
    """A single text key from several text columns (NUL-separated, so no two keys collide)."""
    key = parts[0]
    for part in parts[1:]:
        key = key + "\x00" + part
    return key


def _lesion_ids(patients: pd.Series, links: pd.Series) -> pd.Series:
    return patients + "/" + links


def _check_patients_known(domain: Domain, subjects: pd.DataFrame) -> pd.Series:
    ids = domain.text("USUBJID")
    domain.check(~ids.isin(subjects.index), "USUBJID", "the patient is not in DM")
    return ids


def _check_unique(domain: Domain, key: pd.Series, column: str, rule: str, values=None) -> None:
    domain.check(key.duplicated(keep=False).to_numpy(), column, rule, values)


def _parse_dates(domain: Domain, column: str) -> np.ndarray:
    """ISO 8601 dates (a time part is allowed) as datetime64[D]; NaT where blank; unparseable dates fail.

    Each distinct text is parsed once (visit dates repeat across a patient's lesions).
    """
    codes, distinct = pd.factorize(domain.text(column), use_na_sentinel=False)
    distinct = pd.Series(distinct, dtype=object)
    shaped = distinct.str.match(r"^\d{4}-\d{2}-\d{2}(T.*)?$")
    parsed = pd.to_datetime(distinct.str.slice(0, 10).where(shaped, ""), format="%Y-%m-%d", errors="coerce")
    parsed = parsed.to_numpy().astype("datetime64[D]")
    unparseable = (distinct != "").to_numpy() & np.isnat(parsed)
    domain.check(unparseable[codes], column,
                 "unparseable date: expected an ISO 8601 date YYYY-MM-DD (partial dates are not enough)")
    return parsed[codes]


def _analysis_days(domain: Domain, prefix: str, dm: Domain, starts: pd.Series, needed) -> np.ndarray:
    """Days since the first dose (float, NaN where unknown): from --DY, else from --DTC minus DM.RFSTDTC.

    SDTM study day 1 is day 0 and day -3 stays -3. Records marked ``needed`` must get a day.
    """
    day_column, date_column = f"{prefix}DY", f"{prefix}DTC"
    if not domain.has(day_column) and not domain.has(date_column):
        raise SDTMError(domain.file, day_column, None,
                        f"missing required column: domain {domain.name.upper()} needs {day_column} or {date_column}")
    study = domain.numbers(day_column, "a study day must be a whole number")
    domain.check(~np.isnan(study) & (~np.isfinite(study) | (study != np.round(study)) | (study == 0)), day_column,
                 "a study day must be a whole number other than 0 (SDTM has no day 0)", values=study)
    day = np.where(study > 0, study - 1, study)
    from_dates = (np.isnan(day) & (domain.text(date_column) != "").to_numpy()) if domain.has(date_column) else None
    if from_dates is not None and from_dates.any():
        dated = domain.subset(from_dates)
        dates = _parse_dates(dated, date_column)
        patients = dated.text("USUBJID")
        start = patients.map(starts).to_numpy().astype("datetime64[D]")
        undated = np.isnat(start)
        if undated.any():
            missing = patients[undated].unique()
            dm.check(dm.text("USUBJID").isin(missing).to_numpy(), "RFSTDTC",
                     f"the first-dose date is missing, but {domain.file} dates this patient's records by "
                     f"{date_column} only: study days cannot be computed", values=dm.text("USUBJID"))
        day[from_dates] = (dates - start).astype(np.int64)
    domain.check(np.asarray(needed, dtype=bool) & np.isnan(day), day_column,
                 f"the record has neither a study day ({day_column}) nor a date ({date_column})", show_values=False)
    return day


def _subjects(dm: Domain) -> pd.DataFrame:
    """DM checked: one row per USUBJID with trial, arm, age, sex, race and first-dose date."""
    dm.require(*COLUMNS["dm"])
    ids = dm.text("USUBJID")
    dm.check((ids == "").to_numpy(), "USUBJID", "a patient needs a USUBJID", show_values=False)
    _check_unique(dm, ids, "USUBJID", "duplicate USUBJID in DM: each patient must have exactly one record")
    age = dm.numbers("AGE", "AGE must be a number of years")
    dm.check(age < 0, "AGE", "AGE must be a non-negative number of years", values=age)
    sex = dm.upper("SEX")
    dm.check(~sex.isin(SEXES).to_numpy(), "SEX", "SEX must be M, F or U")
    return pd.DataFrame({"trial": dm.text("STUDYID").to_numpy(), "arm": dm.text("ARM").to_numpy(), "age": age,
                         "sex": sex.to_numpy(), "race": dm.text("RACE").to_numpy(),
                         "start": _parse_dates(dm, "RFSTDTC")}, index=pd.Index(ids.to_numpy(), name="USUBJID"))


def _qualifiers(supp: Domain, subjects: pd.DataFrame, mapping: Mapping, report: ReadReport) -> pd.DataFrame:
    """SUPPDM covariates, one column per mapped qualifier (bmi, kras, line, prior_surgery), by USUBJID."""
    supp.require(*COLUMNS["suppdm"])
    ids = _check_patients_known(supp, subjects)
    qnam = supp.upper("QNAM")
    used = qnam.isin(list(mapping.supp_qualifiers)).to_numpy()
    report.aside("SUPPDM qualifiers the map does not use", (~used).sum())
    supp.check(used & _key(ids, qnam).duplicated(keep=False).to_numpy(), "QNAM",
               "the qualifier is given twice for this patient")
    columns = {}
    for name, column in mapping.supp_qualifiers.items():
        part = supp.subset((qnam == name).to_numpy())
        text = part.text("QVAL")
        upper = text.str.upper()
        if column == "bmi":
            values = part.numbers("QVAL", f"{name} (body-mass index) must be a number")
            part.check(values <= 0, "QVAL", f"{name} (body-mass index) must be a positive number")
        elif column == "kras":
            part.check(~upper.isin(list(KRAS_TERMS)).to_numpy(), "QVAL",
                       f"{name} (KRAS status) must be WILD-TYPE, MUTANT or blank")
            values = upper.map(KRAS_TERMS).to_numpy()
        elif column == "line":
            part.check(~text.isin(["1", "2"]).to_numpy(), "QVAL", f"{name} (line of therapy) must be 1 or 2")
            values = text.astype(np.int64).to_numpy()
        else:
            part.check(~upper.isin(["Y", "N"]).to_numpy(), "QVAL", f"{name} (prior surgery) must be Y or N")
            values = (upper == "Y").to_numpy()
        columns[column] = pd.Series(values, index=part.text("USUBJID").to_numpy())
    return pd.DataFrame(columns)


def _evaluator_rows(domain: Domain, prefix: str, mapping: Mapping, report: ReadReport) -> np.ndarray:
    """Which records are the chosen evaluator's (named, ``accepted`` or ``all``), narrowed by evaluator_id."""
    mode = mapping.evaluator_mode
    if mode == ALL_EVALUATORS:
        keep = np.ones(len(domain), dtype=bool)
        column, wanted = None, "any evaluator"
    elif mode == ACCEPTED:
        column = f"{prefix}ACPTFL"
        domain.require(column)
        keep = (domain.upper(column) == "Y").to_numpy()
        wanted = f"accepted records ({column} = 'Y')"
    else:
        column = f"{prefix}EVAL"
        domain.require(column)
        keep = (domain.upper(column) == mapping.evaluator.strip().upper()).to_numpy()
        wanted = f"the evaluator '{mapping.evaluator}'"
    if mapping.evaluator_id:
        column = f"{prefix}EVALID"
        domain.require(column)
        keep &= (domain.upper(column) == mapping.evaluator_id.strip().upper()).to_numpy()
        wanted += f" with {column} '{mapping.evaluator_id}'"
    if len(domain) and not keep.any():
        raise SDTMError(domain.file, column, None, f"no record is by {wanted}: choose another evaluator "
                                                   "(the map's 'evaluator', or read_sdtm(evaluator=...))",
                        domain.text(column).unique() if column else [])
    report.aside(f"{domain.name.upper()} records by other evaluators", (~keep).sum())
    return keep


def _supptr_locations(supptr: Domain | None, tr: Domain, report: ReadReport) -> pd.Series:
    """Lesion locations carried by SUPPTR (QNAM = TULOC), by lesion key USUBJID + NUL + TRLNKID."""
    if supptr is None:
        return pd.Series(dtype=object)
    supptr.require("USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL")
    is_location = (supptr.upper("QNAM") == "TULOC").to_numpy()
    if supptr.has("RDOMAIN"):
        is_location &= supptr.upper("RDOMAIN").isin(["TR", ""]).to_numpy()
    report.aside("SUPPTR records of other qualifiers", (~is_location).sum())
    supptr = supptr.subset(is_location)
    idvar = supptr.upper("IDVAR")
    supptr.check(~idvar.isin(["TRLNKID", "TRSEQ"]).to_numpy(), "IDVAR",
                 "a SUPPTR location must point at TR by IDVAR TRLNKID or TRSEQ")
    ids, target = supptr.text("USUBJID"), supptr.text("IDVARVAL")
    link = target.copy()
    by_seq = (idvar == "TRSEQ").to_numpy()
    if by_seq.any():
        tr.require("TRSEQ")
        by_number = supptr.subset(by_seq)
        wanted = by_number.numbers("IDVARVAL", "IDVARVAL must be a TRSEQ number when IDVAR is TRSEQ")
        sequence = tr.numbers("TRSEQ", "TRSEQ must be a number")
        seq_to_link = pd.Series(tr.text("TRLNKID").to_numpy(),
                                index=pd.MultiIndex.from_arrays([tr.text("USUBJID").to_numpy(), sequence]))
        seq_to_link = seq_to_link[~seq_to_link.index.duplicated()]
        found = seq_to_link.reindex(pd.MultiIndex.from_arrays([ids[by_seq].to_numpy(), wanted])).to_numpy()
        unmatched = np.zeros(len(supptr), dtype=bool)
        unmatched[np.flatnonzero(by_seq)] = pd.isna(found)
        supptr.check(unmatched, "IDVARVAL", "no TR record has this TRSEQ for the patient")
        link[by_seq] = found
    records = pd.DataFrame({"key": _key(ids, link).to_numpy(), "location": supptr.text("QVAL").to_numpy()})
    distinct = records.drop_duplicates()
    conflicting = distinct.loc[distinct["key"].duplicated(), "key"]
    supptr.check(records["key"].isin(conflicting).to_numpy(), "QVAL",
                 "the lesion has two different locations in SUPPTR")
    return distinct.set_index("key")["location"]


def _lesions(tu: Domain, locations_from_supptr: pd.Series, evaluator_keys: pd.Series | None, subjects: pd.DataFrame,
             dm: Domain, mapping: Mapping, unknown_location: str, report: ReadReport) -> pd.DataFrame:
    """TU checked: one row per lesion (the ``lesions`` columns) of every patient, in TU order.

    Where a patient's lesions are identified in TU by several evaluators (TUEVAL), the chosen evaluator's
    records are kept (and those with a blank TUEVAL); a patient whose TU records are all by another
    evaluator keeps them (TU often holds one reader's identifications only). With 'accepted',
    ``evaluator_keys`` (USUBJID + NUL + TREVAL of the TR records kept) names each patient's accepted evaluator.
    """
    tu.require("USUBJID", "TULNKID", "TUORRES")
    if tu.has("TUTESTCD"):
        identification = tu.upper("TUTESTCD").isin(["TUMIDENT", ""]).to_numpy()
        report.aside("TU records of other tests (TUTESTCD not TUMIDENT)", (~identification).sum())
        tu = tu.subset(identification)
    if tu.has("TUEVAL") and mapping.evaluator_mode != ALL_EVALUATORS:
        evaluator = tu.upper("TUEVAL")
        if mapping.evaluator_mode == ACCEPTED:
            chosen = _key(tu.text("USUBJID"), evaluator).isin(evaluator_keys if evaluator_keys is not None else [])
        else:
            chosen = evaluator == mapping.evaluator.strip().upper()
        has_chosen = chosen.groupby(tu.text("USUBJID").to_numpy()).transform("any")
        keep = ((evaluator == "") | chosen | ~has_chosen).to_numpy()
        report.aside("TU records by other evaluators", (~keep).sum())
        tu = tu.subset(keep)
    ids = _check_patients_known(tu, subjects)
    links = tu.text("TULNKID")
    tu.check((links == "").to_numpy(), "TULNKID", "a lesion needs a TULNKID", show_values=False)
    lesion_ids = _lesion_ids(ids, links)
    tu.check(lesion_ids.duplicated(keep=False).to_numpy(), "TULNKID",
             "the lesion is identified twice (USUBJID + TULNKID must be unique in TU)", values=lesion_ids)
    kind = tu.upper("TUORRES").map(LESION_KIND_TERMS)
    tu.check(kind.isna().to_numpy(), "TUORRES", "unknown lesion kind: TUORRES must be TARGET, NON-TARGET or NEW")

    location = tu.text("TULOC")
    from_supptr = (location == "").to_numpy() & (len(locations_from_supptr) > 0)
    if from_supptr.any():
        location = location.where(~from_supptr, _key(ids, links).map(locations_from_supptr).fillna(""))
    organ = mapping.organs(location).to_numpy()
    blank, unknown = (location == "").to_numpy(), pd.isna(organ)
    if unknown_location == "error":
        tu.check(blank, "TULOC", "the lesion has no location (TULOC in TU, or a TULOC qualifier in SUPPTR)",
                 show_values=False)
        values = ", ".join(repr(value) for value in sorted(location[unknown].unique()))
        tu.check(unknown, "TULOC", f"unknown TULOC values (not in the site map): {values}; add them to site_map "
                                   "in the map file, or read with unknown_location='other'", show_values=False)
    report.unknown_locations.update({str(k): int(v) for k, v in location[unknown].value_counts().items()})
    report.aside("lesion locations filed under other (unknown TULOC)", unknown.sum())
    organ = np.where(unknown, OTHER_ORGAN, organ).astype(object)

    day = _analysis_days(tu, "TU", dm, subjects["start"], np.ones(len(tu), dtype=bool))
    return pd.DataFrame({
        "lesion_id": lesion_ids.to_numpy(), "patient_id": ids.to_numpy(), "kind": kind.to_numpy(),
        "organ": organ, "location": location.to_numpy(), "nodal": mapping.is_nodal(organ),
        "detected_day": day.astype(np.int64),
    })


def _result_text(tr: Domain, prefix: str) -> tuple[pd.Series, np.ndarray]:
    """The character result (--STRESC, else --ORRES where it is blank) in upper case, and its column per record."""
    standard, original = tr.upper(f"{prefix}STRESC"), tr.upper(f"{prefix}ORRES")
    use_standard = (standard != "").to_numpy()
    text = standard.where(use_standard, original)
    return text, np.where(use_standard, f"{prefix}STRESC", f"{prefix}ORRES")


def _fail_first_column(domain: Domain, bad: np.ndarray, columns: np.ndarray, rule: str, values) -> None:
    """Raise for the bad records, naming the column of the first one (results may come from two columns)."""
    if bad.any():
        column = str(columns[np.flatnonzero(bad)[0]])
        domain.check(bad, column, rule, values)


def _assessments(tr: Domain, lesions: pd.DataFrame, dm: Domain, starts: pd.Series, loq_mm3: float,
                 report: ReadReport) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """TR (kept evaluator) checked: target measurements, non-target/new lesion statuses, and every record's day.

    Nodal target lesions are measured by LPERP (short axis), other target lesions by LDIAM; the other size
    test of a lesion, size records of non-target lesions and TUMSTATE of target lesions are counted and set aside.
    """
    tr.require("USUBJID", "TRLNKID", "TRTESTCD", "TRSTRESN")
    if not tr.has("TRSTRESC"):
        tr.require("TRORRES")
    test = tr.upper("TRTESTCD")
    lesion_test = test.isin([*SIZE_TESTS, STATE_TEST]).to_numpy()
    report.aside("TR records of other tests (not LDIAM, LPERP, TUMSTATE)", (~lesion_test).sum())
    tr, test = tr.subset(lesion_test), test[lesion_test]
    ids = tr.text("USUBJID")
    lesion_ids = _lesion_ids(ids, tr.text("TRLNKID"))
    known = lesions.set_index("lesion_id")
    tr.check(~lesion_ids.isin(known.index).to_numpy(), "TRLNKID",
             "a TR record must link to a lesion identified in TU (USUBJID + TRLNKID not found in TU)",
             values=lesion_ids)
    status = tr.upper("TRSTAT")
    tr.check(~status.isin(["", NOT_DONE]).to_numpy(), "TRSTAT", "TRSTAT must be blank or NOT DONE")
    not_done = (status == NOT_DONE).to_numpy()
    report.aside("TR records NOT DONE", not_done.sum())
    day = _analysis_days(tr, "TR", dm, starts, ~not_done)
    record_days = pd.DataFrame({"patient_id": ids.to_numpy(), "day": day})

    kind = lesion_ids.map(known["kind"]).to_numpy()
    nodal = lesion_ids.map(known["nodal"]).to_numpy(dtype=bool)
    target, is_size, is_state = kind == "target", test.isin(SIZE_TESTS).to_numpy(), (test == STATE_TEST).to_numpy()
    lperp = (test == "LPERP").to_numpy()
    done = ~not_done
    report.aside("TR LDIAM records of nodal target lesions (short axis LPERP used)",
                 (done & is_size & target & nodal & ~lperp).sum())
    report.aside("TR LPERP records of non-nodal target lesions (LDIAM used)",
                 (done & is_size & target & ~nodal & lperp).sum())
    report.aside("TR size records of non-target or new lesions", (done & is_size & ~target).sum())
    report.aside("TR TUMSTATE records of target lesions", (done & is_state & target).sum())
    sizes = done & is_size & target & (lperp == nodal)
    states = done & is_state & ~target

    text, text_column = _result_text(tr, "TR")
    raw_text = tr.text("TRSTRESC").where(text_column == "TRSTRESC", tr.text("TRORRES"))
    numeric = tr.numbers("TRSTRESN", "TRSTRESN must be a number (mm)")
    has_number = ~np.isnan(numeric)
    tr.check(sizes & has_number & ~(np.isfinite(numeric) & (numeric >= 0)), "TRSTRESN",
             "a target-lesion diameter must be a non-negative number", values=numeric)
    too_small = sizes & text.isin(TOO_SMALL_TEXT).to_numpy()
    not_evaluable = sizes & ~has_number & text.isin(NOT_EVALUABLE_TEXT).to_numpy()
    missing = sizes & ~has_number & (text == "").to_numpy()
    tr.check(missing, "TRSTRESN", "the result is missing: a record that is not NOT DONE needs a diameter or a text "
                                  "result", show_values=False)
    other_text = sizes & ~has_number & ~too_small & ~not_evaluable & ~missing
    looks_numeric = other_text & pd.to_numeric(text.where(other_text, ""), errors="coerce").notna().to_numpy()
    _fail_first_column(tr, looks_numeric, text_column,
                       "a numeric result must also be given in TRSTRESN", raw_text)
    _fail_first_column(tr, other_text, text_column, "a target-lesion result must be a number or a known text result "
                       f"({', '.join(TOO_SMALL_TEXT + NOT_EVALUABLE_TEXT)})", raw_text)
    report.aside("TR target results NOT EVALUABLE", not_evaluable.sum())
    measured = sizes & ~not_evaluable
    _check_one_per_day(tr, measured, lesion_ids, day, "duplicate measurement: the lesion has two size results on "
                                                      "the same day by the chosen evaluator")
    volume, blq = contract.measured_volume(numeric[measured], too_small[measured], loq_mm3)
    measurements = pd.DataFrame({
        "lesion_id": lesion_ids.to_numpy()[measured], "patient_id": ids.to_numpy()[measured],
        "day": day[measured].astype(np.int64), "diameter_mm": numeric[measured], "volume_mm3": volume, "blq": blq,
    })

    lesion_status = text.map(STATE_TERMS).to_numpy()
    state_not_evaluable = states & text.isin(NOT_EVALUABLE_TEXT).to_numpy()
    tr.check(states & (text == "").to_numpy(), "TRORRES",
             "the TUMSTATE result is missing (blank, and TRSTAT is not NOT DONE)", show_values=False)
    _fail_first_column(tr, states & ~state_not_evaluable & pd.isna(lesion_status), text_column,
                       "unknown TUMSTATE value (expected ABSENT, PRESENT, UNEQUIVOCAL PROGRESSION, NOT EVALUABLE, "
                       "or a lesion status CR, PR, SD, NON-CR/NON-PD, PD)", raw_text)
    report.aside("TR TUMSTATE results NOT EVALUABLE", state_not_evaluable.sum())
    assessed = states & ~state_not_evaluable
    _check_one_per_day(tr, assessed, lesion_ids, day, "duplicate TUMSTATE: the lesion has two results on the same "
                                                      "day by the chosen evaluator")
    statuses = pd.DataFrame({
        "lesion_id": lesion_ids.to_numpy()[assessed], "patient_id": ids.to_numpy()[assessed],
        "day": day[assessed].astype(np.int64), "status": lesion_status[assessed],
    })
    return measurements, statuses, record_days


def _check_one_per_day(tr: Domain, rows: np.ndarray, lesion_ids: pd.Series, day: np.ndarray, rule: str) -> None:
    """Fail when a lesion has two kept results of one kind on the same day."""
    duplicated = np.zeros(len(rows), dtype=bool)
    pairs = pd.DataFrame({"lesion": lesion_ids.to_numpy()[rows], "day": day[rows]})
    duplicated[np.flatnonzero(rows)] = pairs.duplicated(keep=False).to_numpy()
    tr.check(duplicated, "TRDY" if tr.has("TRDY") else "TRDTC", rule, values=lesion_ids)


def _best_responses(rs: Domain, subjects: pd.DataFrame, report: ReadReport) -> pd.Series:
    """Best overall RECIST response per patient (CR > PR > SD > PD > NE, no confirmation), by USUBJID."""
    rs.require("USUBJID", "RSTESTCD")
    if not rs.has("RSSTRESC"):
        rs.require("RSORRES")
    ids = _check_patients_known(rs, subjects)
    overall = (rs.upper("RSTESTCD") == "OVRLRESP").to_numpy()
    report.aside("RS records of other tests (not OVRLRESP)", (~overall).sum())
    not_done = overall & (rs.upper("RSSTAT") == NOT_DONE).to_numpy()
    report.aside("RS records NOT DONE", not_done.sum())
    used = overall & ~not_done
    text, text_column = _result_text(rs, "RS")
    rs.check(used & (text == "").to_numpy(), "RSSTRESC", "the overall response is missing (blank, and RSSTAT is not "
                                                         "NOT DONE)", show_values=False)
    response = text.map(RESPONSE_TERMS)
    _fail_first_column(rs, used & response.isna().to_numpy(), text_column,
                       "an overall response must be CR, PR, SD, PD, NE (or NON-CR/NON-PD)", text)
    rank = response[used].map({name: i for i, name in enumerate(contract.RECIST_RESPONSES)})
    best = rank.groupby(ids[used].to_numpy()).min()
    return best.map(lambda i: contract.RECIST_RESPONSES[i])


def _survival(adtte: Domain, subjects: pd.DataFrame, report: ReadReport) -> pd.DataFrame:
    """OS and PFS per patient: ``os_days``, ``os_event``, ``pfs_days``, ``pfs_event`` (NaN where absent), by USUBJID."""
    adtte.require(*COLUMNS["adtte"])
    ids = _check_patients_known(adtte, subjects)
    parameter = adtte.upper("PARAMCD")
    used = parameter.isin(SURVIVAL_PARAMETERS).to_numpy()
    report.aside("ADTTE records of other parameters (not OS, PFS)", (~used).sum())
    adtte = adtte.subset(used)
    ids, parameter = ids[used], parameter[used]
    adtte.check(_key(ids, parameter).duplicated(keep=False).to_numpy(), "PARAMCD",
                "the parameter is given twice for this patient")
    value = adtte.numbers("AVAL", "AVAL must be a number of days")
    adtte.check(np.isnan(value), "AVAL", "AVAL (days from the first dose) is missing", show_values=False)
    adtte.check(~np.isfinite(value) | (value < 0), "AVAL", "AVAL must be a non-negative number of days", values=value)
    censored = adtte.numbers("CNSR", "CNSR must be 0 (event) or 1 (censored)")
    adtte.check(~np.isin(censored, [0, 1]), "CNSR", "CNSR must be 0 (event) or 1 (censored)", values=censored)
    columns = {}
    for code in SURVIVAL_PARAMETERS:
        rows = (parameter == code).to_numpy()
        index = ids[rows].to_numpy()
        columns[f"{code.lower()}_days"] = pd.Series(value[rows], index=index)
        columns[f"{code.lower()}_event"] = pd.Series(censored[rows] == 0, index=index)
    return pd.DataFrame(columns)


def _exclusion_reasons(patient_ids: pd.Index, measurements: pd.DataFrame, record_days: pd.DataFrame
                       ) -> tuple[pd.Series, pd.Series]:
    """The paper's exclusion rule of each patient ('' when kept), and each patient's baseline (first target) day.

    Rule 1: the baseline scan (the first target measurement; the first TR record for a patient with no target
    measurement) is more than 12 weeks before the first dose. Rule 2: no target lesion measured at baseline
    and again later.
    """
    first_target = measurements.groupby("patient_id")["day"].min()
    first_record = record_days.dropna().groupby("patient_id")["day"].min()
    baseline_scan = first_target.reindex(patient_ids).fillna(first_record.reindex(patient_ids))
    baseline = measurements["patient_id"].map(first_target).to_numpy()
    per_lesion = pd.DataFrame({"lesion_id": measurements["lesion_id"].to_numpy(),
                               "at_baseline": measurements["day"].to_numpy() == baseline,
                               "later": measurements["day"].to_numpy() > baseline})
    per_lesion = per_lesion.groupby("lesion_id")[["at_baseline", "later"]].any()
    followed = per_lesion.index[per_lesion["at_baseline"] & per_lesion["later"]]
    longitudinal = measurements.loc[measurements["lesion_id"].isin(followed), "patient_id"].unique()
    early = (baseline_scan < -EARLY_BASELINE_DAYS).to_numpy()
    reason = np.where(early, contract.EXCLUSION_RULES[0],
                      np.where(patient_ids.isin(longitudinal), "", contract.EXCLUSION_RULES[1]))
    return pd.Series(reason, index=patient_ids, dtype=object), first_target


def _required_per_patient(dm: Domain, values: pd.Series, kept: pd.Index, rule: str) -> None:
    """Fail on the DM rows of kept patients for whom ``values`` has nothing."""
    missing = kept[values.reindex(kept).isna().to_numpy()]
    dm.check(dm.text("USUBJID").isin(missing).to_numpy(), "USUBJID", rule)


def _patients(kept: pd.Index, subjects: pd.DataFrame, qualifiers: pd.DataFrame, survival: pd.DataFrame,
              best: pd.Series, baseline_day: pd.Series, record_days: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """The ``patients`` table of the kept patients (sorted ids); ``last_day`` is their last TR record's day."""
    last_day = record_days.dropna().groupby("patient_id")["day"].max()
    demographics = subjects.loc[kept]
    covariate = qualifiers.reindex(index=kept, columns=list(QUALIFIER_COLUMNS))
    outcome = survival.reindex(kept)
    return pd.DataFrame({
        "patient_id": kept.to_numpy(dtype=object), "trial": demographics["trial"].to_numpy(),
        "arm": demographics["arm"].to_numpy(), "treatment_group": mapping.treatment_groups(demographics["arm"]),
        "line": covariate["line"].to_numpy().astype(np.int64), "age": demographics["age"].to_numpy(dtype=float),
        "sex": demographics["sex"].to_numpy(), "race": demographics["race"].to_numpy(),
        "bmi": covariate["bmi"].to_numpy(dtype=float),
        "kras": covariate["kras"].fillna("unknown").to_numpy(dtype=object),
        "prior_surgery": covariate["prior_surgery"].to_numpy().astype(bool),
        "baseline_day": baseline_day.reindex(kept).to_numpy().astype(np.int64),
        "last_day": last_day.reindex(kept).to_numpy().astype(np.int64),
        "os_days": outcome["os_days"].to_numpy(dtype=float), "os_event": outcome["os_event"].to_numpy().astype(bool),
        "pfs_days": outcome["pfs_days"].to_numpy(dtype=float),
        "pfs_event": outcome["pfs_event"].to_numpy().astype(bool),
        "recist_bor": best.reindex(kept).fillna("NE").to_numpy(dtype=object),
    })


def read_sdtm(folder: str | Path, mapping=None, evaluator: str | None = None, unknown_location: str = "error",
              loq_mm3: float = contract.DEFAULT_LOQ_MM3, evaluator_id: str | None = None) -> AnalysisData:
    """Read the SDTM files in ``folder`` into validated analysis tables with a report of what was set aside.

    ``mapping``: the site map (a path, a ``Mapping``, a dict, or None for ``data/sdtm_map.yaml``).
    ``evaluator``: a TREVAL/RSEVAL value, 'accepted' (``TRACPTFL = "Y"``) or 'all'; None uses the map's.
    ``evaluator_id`` narrows it to one TREVALID/RSEVALID. ``unknown_location``: 'error' (default) raises on a
    TULOC value the map does not know, listing every such value; 'other' files those lesions under 'other'
    and counts them. ``loq_mm3``: the volume below which a measurement is below the limit of quantification.
    Raises ``SDTMError`` (file, column, rows, rule) on bad input and ``MappingError`` on a bad map.
    """
    if unknown_location not in ("error", OTHER_ORGAN):
        raise ValueError(f"unknown_location must be 'error' or 'other', not {unknown_location!r}")
    mapping = _resolve_mapping(mapping).with_evaluator(evaluator, evaluator_id)
    paths = find_domain_files(folder)
    domains = {name: read_domain(name, path, COLUMNS[name]) for name, path in paths.items()}
    report = ReadReport()

    dm = domains["dm"]
    subjects = _subjects(dm)
    qualifiers = _qualifiers(domains["suppdm"], subjects, mapping, report)

    tr_all = domains["tr"]
    tr_all.require("USUBJID", "TRLNKID", "TRTESTCD")
    tr = tr_all.subset(_evaluator_rows(tr_all, "TR", mapping, report))
    evaluator_keys = _key(tr.text("USUBJID"), tr.upper("TREVAL")).unique() if tr.has("TREVAL") else None
    supptr_locations = _supptr_locations(domains.get("supptr"), tr_all, report)
    lesions = _lesions(domains["tu"], supptr_locations, evaluator_keys, subjects, dm, mapping, unknown_location, report)
    measurements, statuses, record_days = _assessments(tr, lesions, dm, subjects["start"], loq_mm3, report)

    rs = domains["rs"]
    best = _best_responses(rs.subset(_evaluator_rows(rs, "RS", mapping, report)), subjects, report)
    survival = _survival(domains["adtte"], subjects, report)

    reasons, baseline_day = _exclusion_reasons(subjects.index, measurements, record_days)
    kept = subjects.index[reasons.to_numpy() == ""].sort_values()
    for column, what in (("line", "line of therapy"), ("prior_surgery", "prior surgery")):
        qnam = next(name for name, target in mapping.supp_qualifiers.items() if target == column)
        _required_per_patient(dm, qualifiers.reindex(columns=[column])[column], kept,
                              f"the patient has no {qnam} record in {domains['suppdm'].file} ({what} is required)")
    for code in SURVIVAL_PARAMETERS:
        _required_per_patient(dm, survival[f"{code.lower()}_days"], kept,
                              f"the patient has no {code} record in {domains['adtte'].file}")

    patients = _patients(kept, subjects, qualifiers, survival, best, baseline_day, record_days, mapping)
    report.note("patients whose first target measurement is after the first dose (kept)",
                (patients["baseline_day"] > 0).sum())

    excluded = reasons[reasons != ""].sort_index()
    exclusions = pd.DataFrame({"patient_id": excluded.index.to_numpy(dtype=object),
                               "reason": excluded.to_numpy(dtype=object)})

    def analysed(table: pd.DataFrame, name: str, keys: list[str]) -> pd.DataFrame:
        keep = table["patient_id"].isin(kept).to_numpy()
        report.excluded_records[name] = int((~keep).sum())
        return table[keep].sort_values(keys, kind="stable").reset_index(drop=True)

    data = AnalysisData(
        patients=patients,
        lesions=analysed(lesions, "lesions", ["lesion_id"]),
        measurements=analysed(measurements, "target measurements", ["lesion_id", "day"]),
        lesion_status=analysed(statuses, "lesion statuses", ["lesion_id", "day"]),
        exclusions=exclusions,
    )
    data.report = report.as_dict(
        folder=str(Path(folder)), files={name: path.name for name, path in paths.items()},
        evaluator=mapping.evaluator, evaluator_id=mapping.evaluator_id, unknown_location=unknown_location,
        loq_mm3=float(loq_mm3), map=mapping.source, consort=data.consort(),
    )
    return data.validate()
