"""Read CDISC SDTM (DM, TU, TR, RS; SUPPDM, ADTTE, SUPPTR, DS, SV optional) into the analysis tables.

The contract is the book page ``book/appendix/sdtm_input.md``; the tables are those of ``lesionmap.tables``.
Every value is checked: bad input raises ``SDTMError`` naming the file, column, rows and rule, and every
record that is not used (another evaluator, NOT DONE, NOT EVALUABLE, a test the analysis does not use, ...)
is counted in the report. The paper's two exclusion rules are applied in order and each excluded patient is
listed once, under the first rule that excludes them. Without ADTTE, OS and PFS are derived from DM's death
dates, RS's first progression and the last date each patient was known alive (``lesionmap.io.survival``).
All work is vectorised with pandas/NumPy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lesionmap import tables as contract
from lesionmap.io.analysis import AnalysisData, ReadReport
from lesionmap.io.errors import SDTMError
from lesionmap.io.files import Domain, find_domain_files, is_domain_folder, read_domain
from lesionmap.io.sitemap import (
    ACCEPTED,
    ALL_EVALUATORS,
    OTHER_ORGAN,
    QUALIFIER_COLUMNS,
    Mapping,
    load_mapping,
    mapping_from_dict,
)
from lesionmap.io.survival import OS_RULE, PFS_RULE, derived_survival, latest_day

#: Columns the reader looks for in each domain (required ones are checked where they are used).
COLUMNS = {
    "dm": ("STUDYID", "USUBJID", "RFSTDTC", "AGE", "SEX", "RACE", "ARM", "DTHDTC", "DTHFL"),
    "suppdm": ("USUBJID", "QNAM", "QVAL"),
    "tu": ("USUBJID", "TULNKID", "TUTESTCD", "TUORRES", "TULOC", "TUEVAL", "TUDY", "TUDTC"),
    "tr": (
        "USUBJID",
        "TRSEQ",
        "TRLNKID",
        "TRGRPID",
        "TRTESTCD",
        "TRORRES",
        "TRSTRESC",
        "TRSTRESN",
        "TRSTAT",
        "TREVAL",
        "TREVALID",
        "TRACPTFL",
        "TRDY",
        "TRDTC",
    ),
    "rs": ("USUBJID", "RSTESTCD", "RSORRES", "RSSTRESC", "RSSTAT", "RSEVAL", "RSEVALID", "RSACPTFL", "RSDY", "RSDTC"),
    "adtte": ("USUBJID", "PARAMCD", "AVAL", "CNSR"),
    "supptr": ("USUBJID", "RDOMAIN", "IDVAR", "IDVARVAL", "QNAM", "QVAL"),
    "ds": ("USUBJID", "DSSTDTC", "DSSTDY"),
    "sv": ("USUBJID", "SVSTDTC", "SVSTDY", "SVENDTC", "SVENDY"),
}
#: DM columns every file must have (STUDYID, DTHDTC and DTHFL may be absent).
DM_REQUIRED = ("USUBJID", "RFSTDTC", "AGE", "SEX", "RACE", "ARM")

#: SUPPTR qualifiers that carry a lesion's location, and the TR/TU variables they may be keyed by.
LOCATION_QUALIFIERS = ("TRLOC", "TULOC")
LOCATION_KEYS = ("TRSEQ", "TRLNKID", "TRGRPID", "TULNKID")
#: What a lesion whose recorded locations disagree gets: the identification record's ('first'), or an error.
LOCATION_CONFLICT_RULES = ("first", "error")
#: The evaluator of a record whose evaluator field is blank (SDTM leaves TREVAL empty for the investigator).
INVESTIGATOR = "INVESTIGATOR"

#: Study days beyond this (about 270 years) are not days of a trial.
MAX_STUDY_DAY = 100_000

#: The paper's first exclusion rule: a baseline scan more than 12 weeks before the first dose.
EARLY_BASELINE_DAYS = 84

NOT_DONE = "NOT DONE"
TOO_SMALL_TEXT = ("TOO SMALL TO MEASURE",)
NOT_EVALUABLE_TEXT = ("NOT EVALUABLE", "NE")
LESION_KIND_TERMS = {"TARGET": "target", "NON-TARGET": "non-target", "NEW": "new"}
#: TUMSTATE results, and lesion statuses written directly.
STATE_TERMS = {
    "ABSENT": "CR",
    "PRESENT": "non-CR/non-PD",
    "UNEQUIVOCAL PROGRESSION": "PD",
    **{status.upper(): status for status in contract.LESION_STATUSES},
}
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


def _parse_dates(domain: Domain, column: str, report: ReadReport | None = None) -> np.ndarray:
    """ISO 8601 dates (a time part is allowed) as datetime64[D]; NaT where blank; unparseable dates fail.

    A partial date with year and month (``2014-01``) is imputed to the first of the month and counted in the
    report; a year alone is too coarse for a study day and fails. Each distinct text is parsed once.
    """
    codes, distinct = pd.factorize(domain.text(column), use_na_sentinel=False)
    distinct = pd.Series(distinct, dtype=object)
    full = distinct.str.match(r"^\d{4}-\d{2}-\d{2}(T.*)?$").to_numpy(dtype=bool)
    partial = distinct.str.fullmatch(r"\d{4}-\d{2}").to_numpy(dtype=bool)
    text = np.where(full, distinct.str.slice(0, 10), np.where(partial, distinct + "-01", ""))
    parsed = pd.to_datetime(pd.Series(text, dtype=object), format="%Y-%m-%d", errors="coerce")
    parsed = parsed.to_numpy().astype("datetime64[D]")
    unparseable = (distinct != "").to_numpy() & np.isnat(parsed)
    domain.check(
        unparseable[codes],
        column,
        "unparseable date: expected an ISO 8601 date YYYY-MM-DD, or YYYY-MM (imputed to the 1st)",
    )
    if report is not None:
        report.note(
            f"partial dates imputed to the first of the month ({domain.name.upper()} {column})", partial[codes].sum()
        )
    return parsed[codes]


def _analysis_days(
    domain: Domain,
    prefix: str,
    dm: Domain,
    starts: pd.Series,
    needed,
    report: ReadReport | None = None,
    day_column: str | None = None,
    date_column: str | None = None,
) -> np.ndarray:
    """Days since the first dose (float, NaN where unknown): from --DY, else from --DTC minus DM.RFSTDTC.

    SDTM study day 1 is day 0 and day -3 stays -3. Records marked ``needed`` must get a day.
    """
    day_column, date_column = day_column or f"{prefix}DY", date_column or f"{prefix}DTC"
    if not domain.has(day_column) and not domain.has(date_column):
        raise SDTMError(
            domain.file,
            day_column,
            None,
            f"missing required column: domain {domain.name.upper()} needs {day_column} or {date_column}",
        )
    study = domain.numbers(day_column, "a study day must be a whole number")
    domain.check(
        ~np.isnan(study)
        & (~np.isfinite(study) | (study != np.round(study)) | (study == 0) | (np.abs(study) > MAX_STUDY_DAY)),
        day_column,
        "a study day must be a whole number other than 0 (SDTM has no day 0)",
        values=study,
    )
    day = np.where(study > 0, study - 1, study)
    from_dates = (np.isnan(day) & (domain.text(date_column) != "").to_numpy()) if domain.has(date_column) else None
    if from_dates is not None and from_dates.any():
        dated = domain.subset(from_dates)
        dates = _parse_dates(dated, date_column, report)
        patients = dated.text("USUBJID")
        start = patients.map(starts).to_numpy().astype("datetime64[D]")
        undated = np.isnat(start)
        if undated.any():
            missing = patients[undated].unique()
            dm.check(
                dm.text("USUBJID").isin(missing).to_numpy(),
                "RFSTDTC",
                f"the first-dose date is missing, but {domain.file} dates this patient's records by "
                f"{date_column} only: study days cannot be computed",
                values=dm.text("USUBJID"),
            )
        difference = dates - start
        day[from_dates] = np.where(np.isnat(difference), np.nan, difference.astype(np.int64))
    domain.check(
        np.asarray(needed, dtype=bool) & np.isnan(day),
        day_column,
        f"the record has neither a study day ({day_column}) nor a date ({date_column})",
        show_values=False,
    )
    return day


def _subjects(dm: Domain, trial: str, report: ReadReport) -> pd.DataFrame:
    """DM checked: one row per USUBJID with trial, arm, age, sex, race and first-dose date.

    ``trial`` names the patients whose STUDYID is blank or absent (the folder's name).
    """
    dm.require(*DM_REQUIRED)
    ids = dm.text("USUBJID")
    dm.check((ids == "").to_numpy(), "USUBJID", "a patient needs a USUBJID", show_values=False)
    _check_unique(dm, ids, "USUBJID", "duplicate USUBJID in DM: each patient must have exactly one record")
    age = dm.numbers("AGE", "AGE must be a number of years")
    dm.check(
        ~np.isnan(age) & ~((age >= 0) & (age < 150)), "AGE", "AGE must be a number of years from 0 to 150", values=age
    )
    sex = dm.upper("SEX")
    dm.check(~sex.isin(SEXES).to_numpy(), "SEX", "SEX must be M, F or U")
    studies = dm.text("STUDYID")
    unnamed = (studies == "").to_numpy()
    report.note(f"patients without a STUDYID (trial named after the folder, {trial})", unnamed.sum())
    return pd.DataFrame(
        {
            "trial": np.where(unnamed, trial, studies.to_numpy(dtype=object)),
            "arm": dm.text("ARM").to_numpy(),
            "age": age,
            "sex": sex.to_numpy(),
            "race": dm.text("RACE").to_numpy(),
            "start": _parse_dates(dm, "RFSTDTC", report),
        },
        index=pd.Index(ids.to_numpy(), name="USUBJID"),
    )


def _qualifiers(supp: Domain | None, subjects: pd.DataFrame, mapping: Mapping, report: ReadReport) -> pd.DataFrame:
    """SUPPDM covariates, one column per mapped qualifier (bmi, kras, line, prior_surgery), by USUBJID.

    Without SUPPDM the frame has no rows: every covariate is then a missing value.
    """
    if supp is None:
        return pd.DataFrame(columns=list(QUALIFIER_COLUMNS))
    supp.require(*COLUMNS["suppdm"])
    ids = _check_patients_known(supp, subjects)
    qnam = supp.upper("QNAM")
    used = qnam.isin(list(mapping.supp_qualifiers)).to_numpy()
    report.aside("SUPPDM qualifiers the map does not use", (~used).sum())
    supp.check(
        used & _key(ids, qnam).duplicated(keep=False).to_numpy(),
        "QNAM",
        "the qualifier is given twice for this patient",
    )
    columns = {}
    for name, column in mapping.supp_qualifiers.items():
        part = supp.subset((qnam == name).to_numpy())
        text = part.text("QVAL")
        upper = text.str.upper()
        if column == "bmi":
            values = part.numbers("QVAL", f"{name} (body-mass index) must be a number")
            part.check(
                ~np.isnan(values) & ~((values > 0) & (values < 1000)),
                "QVAL",
                f"{name} (body-mass index) must be a positive number below 1000",
                values=values,
            )
        elif column == "kras":
            part.check(
                ~upper.isin(list(KRAS_TERMS)).to_numpy(),
                "QVAL",
                f"{name} (KRAS status) must be WILD-TYPE, MUTANT or blank",
            )
            values = upper.map(KRAS_TERMS).to_numpy()
        elif column == "line":
            part.check(~text.isin(["1", "2", ""]).to_numpy(), "QVAL", f"{name} (line of therapy) must be 1 or 2")
            values = pd.array(text.replace("", None).to_numpy(dtype=object), dtype="Int64")
        else:
            part.check(~upper.isin(["Y", "N", ""]).to_numpy(), "QVAL", f"{name} (prior surgery) must be Y or N")
            values = pd.array(upper.map({"Y": True, "N": False, "": None}).to_numpy(dtype=object), dtype="boolean")
        columns[column] = pd.Series(values, index=part.text("USUBJID").to_numpy())
    return pd.DataFrame(columns)


def _evaluator_rows(domain: Domain, prefix: str, mapping: Mapping, report: ReadReport) -> np.ndarray:
    """Which records are the chosen evaluator's (named, ``accepted`` or ``all``), narrowed by evaluator_id.

    A blank evaluator field is the investigator's (SDTM leaves --EVAL empty for the investigator). A domain in
    which no record names an evaluator (or flags an accepted record) is one reader's: it is kept whole, and
    counted in the report.
    """
    mode = mapping.evaluator_mode
    column = {ALL_EVALUATORS: None, ACCEPTED: f"{prefix}ACPTFL"}.get(mode, f"{prefix}EVAL")
    unnamed = column is not None and (not domain.has(column) or bool((domain.text(column) == "").all()))
    if mode == ALL_EVALUATORS or unnamed:
        keep = np.ones(len(domain), dtype=bool)
        wanted = "any evaluator"
        if unnamed and mode != ALL_EVALUATORS:
            report.note(f"{domain.name.upper()} records with no {column} (one reader's records, all kept)", len(domain))
    elif mode == ACCEPTED:
        keep = (domain.upper(column) == "Y").to_numpy()
        wanted = f"accepted records ({column} = 'Y')"
    else:
        evaluators = domain.upper(column).replace("", INVESTIGATOR)
        keep = (evaluators == mapping.evaluator.strip().upper()).to_numpy()
        wanted = f"the evaluator '{mapping.evaluator}'"
    if mapping.evaluator_id:
        column = f"{prefix}EVALID"
        domain.require(column)
        keep &= (domain.upper(column) == mapping.evaluator_id.strip().upper()).to_numpy()
        wanted += f" with {column} '{mapping.evaluator_id}'"
    if len(domain) and not keep.any():
        raise SDTMError(
            domain.file,
            column,
            None,
            f"no record is by {wanted}: choose another evaluator "
            "(the map's 'evaluator', --evaluator, or read_sdtm(evaluator=...))",
            domain.text(column).replace("", INVESTIGATOR).unique() if column else [],
        )
    report.aside(f"{domain.name.upper()} records by other evaluators", (~keep).sum())
    return keep


def _supptr_locations(supptr: Domain | None, tr: Domain, report: ReadReport) -> pd.DataFrame:
    """Lesion locations carried by SUPPTR: one row per (record, lesion) with the lesion key, location and order.

    QNAM TRLOC or TULOC, keyed by IDVAR/IDVARVAL through TRSEQ (one TR record), TRLNKID or TULNKID (the lesion),
    or TRGRPID (every lesion of the group). ``order`` ranks the records of a lesion: lesion-level records first,
    then records of TR records in TR order, so the first is the identification record. ``row`` is the SUPPTR row.
    """
    empty = pd.DataFrame(
        {
            "key": pd.Series(dtype=object),
            "location": pd.Series(dtype=object),
            "order": pd.Series(dtype=float),
            "row": pd.Series(dtype=np.int64),
        }
    )
    if supptr is None:
        return empty
    supptr.require("USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL")
    is_location = supptr.upper("QNAM").isin(list(LOCATION_QUALIFIERS)).to_numpy()
    if supptr.has("RDOMAIN"):
        is_location &= supptr.upper("RDOMAIN").isin(["TR", "TU", ""]).to_numpy()
    report.aside("SUPPTR records of other qualifiers", (~is_location).sum())
    supptr = supptr.subset(is_location)
    if not len(supptr):
        return empty
    idvar = supptr.upper("IDVAR")
    supptr.check(
        ~idvar.isin(list(LOCATION_KEYS)).to_numpy(),
        "IDVAR",
        f"a SUPPTR location must point at a record or lesion by IDVAR {', '.join(LOCATION_KEYS)}",
    )
    ids, value = supptr.text("USUBJID"), supptr.text("IDVARVAL")
    supptr.check(
        (value == "").to_numpy(), "IDVARVAL", "a SUPPTR location needs the IDVARVAL of its record", show_values=False
    )
    tr_ids = tr.text("USUBJID")
    parts = []
    lesion_level = idvar.isin(["TRLNKID", "TULNKID"]).to_numpy()
    parts.append(
        pd.DataFrame(
            {"key": _key(ids, value)[lesion_level].to_numpy(), "order": -1.0, "position": np.flatnonzero(lesion_level)}
        )
    )
    for name in ("TRSEQ", "TRGRPID"):
        chosen = (idvar == name).to_numpy()
        if not chosen.any():
            continue
        tr.require(name)
        if name == "TRSEQ":
            wanted = supptr.subset(chosen).numbers("IDVARVAL", "IDVARVAL must be a TRSEQ number when IDVAR is TRSEQ")
            sequence = tr.numbers("TRSEQ", "TRSEQ must be a number")
            tr.check(
                _key(tr_ids, pd.Series(sequence, index=tr_ids.index).astype(str)).duplicated(keep=False).to_numpy()
                & ~np.isnan(sequence),
                "TRSEQ",
                "TRSEQ is given twice for this patient",
                values=sequence,
            )
            left = pd.DataFrame(
                {"USUBJID": ids[chosen].to_numpy(), "value": wanted, "position": np.flatnonzero(chosen)}
            )
            right = pd.DataFrame({"USUBJID": tr_ids.to_numpy(), "value": sequence})
        else:
            left = pd.DataFrame(
                {
                    "USUBJID": ids[chosen].to_numpy(),
                    "value": value[chosen].to_numpy(),
                    "position": np.flatnonzero(chosen),
                }
            )
            right = pd.DataFrame({"USUBJID": tr_ids.to_numpy(), "value": tr.text("TRGRPID").to_numpy()})
            right = right[right["value"] != ""]
        right = right.assign(link=tr.text("TRLNKID").to_numpy()[right.index], order=right.index.to_numpy(float))
        matched = left.merge(right, on=["USUBJID", "value"], how="left")
        unmatched = np.zeros(len(supptr), dtype=bool)
        unmatched[matched.loc[matched["link"].isna(), "position"].to_numpy()] = True
        supptr.check(unmatched, "IDVARVAL", f"no TR record has this {name} for the patient")
        matched = matched.drop_duplicates(["position", "link"])
        parts.append(
            pd.DataFrame(
                {
                    "key": _key(matched["USUBJID"], matched["link"]).to_numpy(),
                    "order": matched["order"].to_numpy(float),
                    "position": matched["position"].to_numpy(),
                }
            )
        )
    records = pd.concat(parts, ignore_index=True)
    location = supptr.text("QVAL").to_numpy()
    return pd.DataFrame(
        {
            "key": records["key"].to_numpy(),
            "location": location[records["position"].to_numpy()],
            "order": records["order"].to_numpy(float),
            "row": supptr.rows()[records["position"].to_numpy()],
        }
    )


def _resolve_locations(
    tu: Domain,
    keys: pd.Series,
    supptr_records: pd.DataFrame,
    supptr_file: str | None,
    location_conflicts: str,
    report: ReadReport,
) -> pd.Series:
    """Each TU lesion's location: TU.TULOC, else SUPPTR's; where they disagree, the identification record's.

    The identification record is the TU record (TULOC), else the first SUPPTR record of the lesion (lesion-level
    records, then TR order). Lesions whose recorded locations disagree are counted; with ``location_conflicts``
    'error' they raise ``SDTMError``.
    """
    tuloc = tu.text("TULOC")
    candidates = pd.concat(
        [
            pd.DataFrame(
                {
                    "key": keys.to_numpy(),
                    "location": tuloc.to_numpy(),
                    "order": -2.0,
                    "row": np.zeros(len(tu), dtype=np.int64),
                }
            )[(tuloc != "").to_numpy()],
            supptr_records[supptr_records["location"] != ""],
        ],
        ignore_index=True,
    ).sort_values(["key", "order"], kind="stable")
    normalised = candidates["location"].str.strip().str.upper()
    disagreeing = (normalised != normalised.groupby(candidates["key"].to_numpy()).transform("first")).to_numpy()
    conflicting = candidates.loc[disagreeing, "key"].unique()
    in_conflict = candidates["key"].isin(conflicting).to_numpy()
    first = candidates.drop_duplicates("key")
    if location_conflicts == "error" and len(conflicting):
        from_supptr = candidates["row"].to_numpy() > 0
        only_supptr = not (in_conflict & ~from_supptr).any()
        rule = (
            "the lesion has two different locations in SUPPTR"
            if only_supptr
            else "the lesion's SUPPTR location differs from its TULOC in TU"
        )
        rows = np.sort(candidates.loc[in_conflict & from_supptr, "row"].to_numpy())
        values = candidates.loc[in_conflict & from_supptr].sort_values("row")["location"].tolist()
        raise SDTMError(
            supptr_file or tu.file,
            "QVAL",
            rows,
            rule + " (read with location_conflicts='first' to take the identification record's)",
            values,
        )
    report.note(
        "lesions whose recorded locations disagree (the identification record's location kept)", len(conflicting)
    )
    report.aside("location records that disagree with the lesion's identification record (not used)", disagreeing.sum())
    return keys.map(first.set_index("key")["location"]).fillna("")


def _lesions(
    tu: Domain,
    supptr_records: pd.DataFrame,
    supptr_file: str | None,
    evaluator_keys: pd.Series | None,
    subjects: pd.DataFrame,
    dm: Domain,
    mapping: Mapping,
    unknown_location: str,
    location_conflicts: str,
    report: ReadReport,
) -> pd.DataFrame:
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
    tu.check(
        lesion_ids.duplicated(keep=False).to_numpy(),
        "TULNKID",
        "the lesion is identified twice (USUBJID + TULNKID must be unique in TU)",
        values=lesion_ids,
    )
    kind = tu.upper("TUORRES").map(LESION_KIND_TERMS)
    tu.check(kind.isna().to_numpy(), "TUORRES", "unknown lesion kind: TUORRES must be TARGET, NON-TARGET or NEW")

    location = _resolve_locations(tu, _key(ids, links), supptr_records, supptr_file, location_conflicts, report)
    organ = mapping.organs(location).to_numpy()
    blank, unknown = (location == "").to_numpy(), pd.isna(organ)
    if unknown_location == "error":
        tu.check(
            blank,
            "TULOC",
            "the lesion has no location (TULOC in TU, or a TRLOC or TULOC qualifier in SUPPTR)",
            show_values=False,
        )
        values = ", ".join(repr(value) for value in sorted(location[unknown].unique()))
        tu.check(
            unknown,
            "TULOC",
            f"unknown TULOC values (not in the site map): {values}; add them to site_map "
            "in the map file, or read with unknown_location='other'",
            show_values=False,
        )
    report.unknown_locations.update({str(k): int(v) for k, v in location[unknown].value_counts().items()})
    report.aside("lesion locations filed under other (unknown TULOC)", unknown.sum())
    organ = np.where(unknown, OTHER_ORGAN, organ).astype(object)

    day = _analysis_days(tu, "TU", dm, subjects["start"], np.ones(len(tu), dtype=bool), report)
    return pd.DataFrame(
        {
            "lesion_id": lesion_ids.to_numpy(),
            "patient_id": ids.to_numpy(),
            "kind": kind.to_numpy(),
            "organ": organ,
            "location": location.to_numpy(),
            "nodal": mapping.is_nodal(organ),
            "detected_day": day.astype(np.int64),
        }
    )


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


def _assessments(
    tr: Domain,
    lesions: pd.DataFrame,
    dm: Domain,
    starts: pd.Series,
    loq_mm3: float,
    mapping: Mapping,
    report: ReadReport,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """TR (kept evaluator) checked: target measurements, non-target/new lesion statuses, and every record's day.

    The map's ``diameter_tests`` say which TRTESTCD is a longest diameter and which a short axis. Nodal target
    lesions are measured by the short axis (by the longest diameter when they have no short-axis record), other
    target lesions by the longest diameter; the other size test of a lesion, size records of non-target lesions
    and status records of target lesions are counted and set aside.
    """
    tr.require("USUBJID", "TRLNKID", "TRTESTCD", "TRSTRESN")
    if not tr.has("TRSTRESC"):
        tr.require("TRORRES")
    test_kind = mapping.test_kinds(tr.upper("TRTESTCD"))
    lesion_test = test_kind.notna().to_numpy()
    report.aside("TR records of other tests (not a diameter or status test of the map)", (~lesion_test).sum())
    tr, test_kind = tr.subset(lesion_test), test_kind[lesion_test]
    ids = tr.text("USUBJID")
    lesion_ids = _lesion_ids(ids, tr.text("TRLNKID"))
    known = lesions.set_index("lesion_id")
    tr.check(
        ~lesion_ids.isin(known.index).to_numpy(),
        "TRLNKID",
        "a TR record must link to a lesion identified in TU (USUBJID + TRLNKID not found in TU)",
        values=lesion_ids,
    )
    status = tr.upper("TRSTAT")
    tr.check(~status.isin(["", NOT_DONE]).to_numpy(), "TRSTAT", "TRSTAT must be blank or NOT DONE")
    not_done = (status == NOT_DONE).to_numpy()
    report.aside("TR records NOT DONE", not_done.sum())
    day = _analysis_days(tr, "TR", dm, starts, ~not_done, report)
    record_days = pd.DataFrame({"patient_id": ids.to_numpy(), "day": day})

    kind = lesion_ids.map(known["kind"]).to_numpy()
    nodal = lesion_ids.map(known["nodal"]).to_numpy(dtype=bool)
    target = kind == "target"
    is_size = test_kind.isin(["longest", "short_axis"]).to_numpy()
    is_state = (test_kind == "state").to_numpy()
    lperp = (test_kind == "short_axis").to_numpy()
    done = ~not_done
    has_short_axis = pd.Series(done & is_size & lperp).groupby(lesion_ids.to_numpy()).transform("any").to_numpy()
    by_short_axis = nodal & has_short_axis
    report.note(
        "nodal target lesions measured by the longest diameter (no short-axis record)",
        lesion_ids[done & is_size & target & nodal & ~has_short_axis].nunique(),
    )
    report.aside(
        "TR LDIAM records of nodal target lesions (short axis LPERP used)",
        (done & is_size & target & by_short_axis & ~lperp).sum(),
    )
    report.aside(
        "TR LPERP records of non-nodal target lesions (LDIAM used)", (done & is_size & target & ~nodal & lperp).sum()
    )
    report.aside("TR size records of non-target or new lesions", (done & is_size & ~target).sum())
    report.aside("TR TUMSTATE records of target lesions", (done & is_state & target).sum())
    sizes = done & is_size & target & (lperp == by_short_axis)
    states = done & is_state & ~target

    text, text_column = _result_text(tr, "TR")
    raw_text = tr.text("TRSTRESC").where(text_column == "TRSTRESC", tr.text("TRORRES"))
    numeric = tr.numbers("TRSTRESN", "TRSTRESN must be a number (mm)")
    has_number = ~np.isnan(numeric)
    tr.check(
        sizes & has_number & ~(np.isfinite(numeric) & (numeric >= 0)),
        "TRSTRESN",
        "a target-lesion diameter must be a non-negative number",
        values=numeric,
    )
    too_small = sizes & text.isin(TOO_SMALL_TEXT).to_numpy()
    not_evaluable = sizes & ~has_number & text.isin(NOT_EVALUABLE_TEXT).to_numpy()
    missing = sizes & ~has_number & (text == "").to_numpy()
    tr.check(
        missing,
        "TRSTRESN",
        "the result is missing: a record that is not NOT DONE needs a diameter or a text result",
        show_values=False,
    )
    other_text = sizes & ~has_number & ~too_small & ~not_evaluable & ~missing
    looks_numeric = other_text & pd.to_numeric(text.where(other_text, ""), errors="coerce").notna().to_numpy()
    _fail_first_column(tr, looks_numeric, text_column, "a numeric result must also be given in TRSTRESN", raw_text)
    _fail_first_column(
        tr,
        other_text,
        text_column,
        "a target-lesion result must be a number or a known text result "
        f"({', '.join(TOO_SMALL_TEXT + NOT_EVALUABLE_TEXT)})",
        raw_text,
    )
    report.aside("TR target results NOT EVALUABLE", not_evaluable.sum())
    measured = sizes & ~not_evaluable
    _check_one_per_day(
        tr,
        measured,
        lesion_ids,
        day,
        "duplicate measurement: the lesion has two size results on the same day by the chosen evaluator",
    )
    volume, blq = contract.measured_volume(numeric[measured], too_small[measured], loq_mm3)
    measurements = pd.DataFrame(
        {
            "lesion_id": lesion_ids.to_numpy()[measured],
            "patient_id": ids.to_numpy()[measured],
            "day": day[measured].astype(np.int64),
            "diameter_mm": numeric[measured],
            "volume_mm3": volume,
            "blq": blq,
        }
    )

    lesion_status = text.map(STATE_TERMS).to_numpy()
    state_not_evaluable = states & text.isin(NOT_EVALUABLE_TEXT).to_numpy()
    tr.check(
        states & (text == "").to_numpy(),
        "TRORRES",
        "the TUMSTATE result is missing (blank, and TRSTAT is not NOT DONE)",
        show_values=False,
    )
    _fail_first_column(
        tr,
        states & ~state_not_evaluable & pd.isna(lesion_status),
        text_column,
        "unknown TUMSTATE value (expected ABSENT, PRESENT, UNEQUIVOCAL PROGRESSION, NOT EVALUABLE, "
        "or a lesion status CR, PR, SD, NON-CR/NON-PD, PD)",
        raw_text,
    )
    report.aside("TR TUMSTATE results NOT EVALUABLE", state_not_evaluable.sum())
    assessed = states & ~state_not_evaluable
    _check_one_per_day(
        tr,
        assessed,
        lesion_ids,
        day,
        "duplicate TUMSTATE: the lesion has two results on the same day by the chosen evaluator",
    )
    statuses = pd.DataFrame(
        {
            "lesion_id": lesion_ids.to_numpy()[assessed],
            "patient_id": ids.to_numpy()[assessed],
            "day": day[assessed].astype(np.int64),
            "status": lesion_status[assessed],
        }
    )
    return measurements, statuses, record_days


def _check_one_per_day(tr: Domain, rows: np.ndarray, lesion_ids: pd.Series, day: np.ndarray, rule: str) -> None:
    """Fail when a lesion has two kept results of one kind on the same day."""
    duplicated = np.zeros(len(rows), dtype=bool)
    pairs = pd.DataFrame({"lesion": lesion_ids.to_numpy()[rows], "day": day[rows]})
    duplicated[np.flatnonzero(rows)] = pairs.duplicated(keep=False).to_numpy()
    tr.check(duplicated, "TRDY" if tr.has("TRDY") else "TRDTC", rule, values=lesion_ids)


def _responses(rs: Domain, subjects: pd.DataFrame, report: ReadReport) -> pd.DataFrame:
    """The overall RECIST responses used (chosen evaluator, OVRLRESP, not NOT DONE): patient, response, row mask."""
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
    rs.check(
        used & (text == "").to_numpy(),
        "RSSTRESC",
        "the overall response is missing (blank, and RSSTAT is not NOT DONE)",
        show_values=False,
    )
    response = text.map(RESPONSE_TERMS)
    _fail_first_column(
        rs,
        used & response.isna().to_numpy(),
        text_column,
        "an overall response must be CR, PR, SD, PD, NE (or NON-CR/NON-PD)",
        text,
    )
    return pd.DataFrame({"patient_id": ids.to_numpy(), "response": response.to_numpy(dtype=object), "used": used})


def _recist_days(
    rs: Domain, responses: pd.DataFrame, dm: Domain, starts: pd.Series, report: ReadReport
) -> pd.DataFrame:
    """Each patient's first overall CR or PR and first PD after the first dose, by USUBJID
    (``contract.first_recist_days``). The paper dates the events of non-target lesions by them; a CR, PR or PD
    record without a day is an error."""
    used = responses["used"].to_numpy()
    response = responses["response"].to_numpy(dtype=object)
    dated = used & np.isin(response, [*contract.RECIST_RESPONSE_TERMS, contract.RECIST_PROGRESSION_TERM])
    days = _analysis_days(rs, "RS", dm, starts, dated, report)
    return contract.first_recist_days(responses["patient_id"].to_numpy()[dated], days[dated], response[dated])


def _best_responses(responses: pd.DataFrame) -> pd.Series:
    """Best overall RECIST response per patient (CR > PR > SD > PD > NE, no confirmation), by USUBJID."""
    used = responses[responses["used"]]
    rank = used["response"].map({name: i for i, name in enumerate(contract.RECIST_RESPONSES)})
    best = rank.groupby(used["patient_id"].to_numpy()).min()
    return best.map(lambda i: contract.RECIST_RESPONSES[i])


def _survival(adtte: Domain, subjects: pd.DataFrame, report: ReadReport) -> pd.DataFrame:
    """OS and PFS per patient from ADTTE: ``os_days``, ``os_event``, ``pfs_days``, ``pfs_event``, by USUBJID.

    A parameter with no record at all is left out (the reader derives it); NaN where a patient has none.
    """
    adtte.require(*COLUMNS["adtte"])
    ids = _check_patients_known(adtte, subjects)
    parameter = adtte.upper("PARAMCD")
    used = parameter.isin(SURVIVAL_PARAMETERS).to_numpy()
    report.aside("ADTTE records of other parameters (not OS, PFS)", (~used).sum())
    adtte = adtte.subset(used)
    ids, parameter = ids[used], parameter[used]
    adtte.check(
        _key(ids, parameter).duplicated(keep=False).to_numpy(),
        "PARAMCD",
        "the parameter is given twice for this patient",
    )
    value = adtte.numbers("AVAL", "AVAL must be a number of days")
    adtte.check(np.isnan(value), "AVAL", "AVAL (days from the first dose) is missing", show_values=False)
    adtte.check(~np.isfinite(value) | (value < 0), "AVAL", "AVAL must be a non-negative number of days", values=value)
    censored = adtte.numbers("CNSR", "CNSR must be 0 (event) or 1 (censored)")
    adtte.check(~np.isin(censored, [0, 1]), "CNSR", "CNSR must be 0 (event) or 1 (censored)", values=censored)
    columns = {}
    for code in SURVIVAL_PARAMETERS:
        rows = (parameter == code).to_numpy()
        if not rows.any():
            continue
        index = ids[rows].to_numpy()
        columns[f"{code.lower()}_days"] = pd.Series(value[rows], index=index)
        columns[f"{code.lower()}_event"] = pd.Series(censored[rows] == 0, index=index)
    return pd.DataFrame(columns)


def _exclusion_reasons(
    patient_ids: pd.Index, measurements: pd.DataFrame, record_days: pd.DataFrame
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
    per_lesion = pd.DataFrame(
        {
            "lesion_id": measurements["lesion_id"].to_numpy(),
            "at_baseline": measurements["day"].to_numpy() == baseline,
            "later": measurements["day"].to_numpy() > baseline,
        }
    )
    per_lesion = per_lesion.groupby("lesion_id")[["at_baseline", "later"]].any()
    followed = per_lesion.index[per_lesion["at_baseline"] & per_lesion["later"]]
    longitudinal = measurements.loc[measurements["lesion_id"].isin(followed), "patient_id"].unique()
    early = (baseline_scan < -EARLY_BASELINE_DAYS).to_numpy()
    reason = np.where(
        early, contract.EXCLUSION_RULES[0], np.where(patient_ids.isin(longitudinal), "", contract.EXCLUSION_RULES[1])
    )
    return pd.Series(reason, index=patient_ids, dtype=object), first_target


def _required_per_patient(dm: Domain, values: pd.Series, kept: pd.Index, rule: str) -> None:
    """Fail on the DM rows of kept patients for whom ``values`` has nothing."""
    missing = kept[values.reindex(kept).isna().to_numpy()]
    dm.check(dm.text("USUBJID").isin(missing).to_numpy(), "USUBJID", rule)


def _patients(
    kept: pd.Index,
    subjects: pd.DataFrame,
    qualifiers: pd.DataFrame,
    survival: pd.DataFrame,
    best: pd.Series,
    recist_days: pd.DataFrame,
    baseline_day: pd.Series,
    record_days: pd.DataFrame,
    mapping: Mapping,
) -> pd.DataFrame:
    """The ``patients`` table of the kept patients (sorted ids); ``last_day`` is their last TR record's day.

    Covariates without a record are missing values: ``bmi`` NaN, ``kras`` 'unknown', ``line`` and
    ``prior_surgery`` <NA> (nullable Int64 and boolean columns).
    """
    last_day = record_days.dropna().groupby("patient_id")["day"].max()
    demographics = subjects.loc[kept]
    covariate = qualifiers.reindex(index=kept, columns=list(QUALIFIER_COLUMNS))
    outcome = survival.reindex(kept)
    return pd.DataFrame(
        {
            "patient_id": kept.to_numpy(dtype=object),
            "trial": demographics["trial"].to_numpy(),
            "arm": demographics["arm"].to_numpy(),
            "treatment_group": mapping.treatment_groups(demographics["arm"]),
            "line": pd.array(covariate["line"].to_numpy(dtype=object), dtype="Int64"),
            "age": demographics["age"].to_numpy(dtype=float),
            "sex": demographics["sex"].to_numpy(),
            "race": demographics["race"].to_numpy(),
            "bmi": covariate["bmi"].to_numpy(dtype=float),
            "kras": covariate["kras"].fillna("unknown").to_numpy(dtype=object),
            "prior_surgery": pd.array(covariate["prior_surgery"].to_numpy(dtype=object), dtype="boolean"),
            "baseline_day": baseline_day.reindex(kept).to_numpy().astype(np.int64),
            "last_day": last_day.reindex(kept).to_numpy().astype(np.int64),
            "os_days": outcome["os_days"].to_numpy(dtype=float),
            "os_event": outcome["os_event"].to_numpy().astype(bool),
            "pfs_days": outcome["pfs_days"].to_numpy(dtype=float),
            "pfs_event": outcome["pfs_event"].to_numpy().astype(bool),
            "recist_bor": best.reindex(kept).fillna("NE").to_numpy(dtype=object),
            "recist_response_day": recist_days["recist_response_day"].reindex(kept).to_numpy(dtype=float),
            "recist_progression_day": recist_days["recist_progression_day"].reindex(kept).to_numpy(dtype=float),
        }
    )


def _outcomes(
    domains: dict[str, Domain],
    subjects: pd.DataFrame,
    kept: pd.Index,
    responses: pd.DataFrame,
    rs_used: Domain,
    record_days: pd.DataFrame,
    report: ReadReport,
) -> tuple[pd.DataFrame, dict]:
    """OS and PFS of the kept patients: ADTTE's where it has the parameter, else derived from SDTM.

    Returns the survival frame (by USUBJID) and, per endpoint, where it came from and the counts of each rule.
    """
    dm, starts = domains["dm"], subjects["start"]
    survival = _survival(domains["adtte"], subjects, report) if "adtte" in domains else pd.DataFrame()
    adtte_file = domains["adtte"].file if "adtte" in domains else None
    for code in SURVIVAL_PARAMETERS:
        if f"{code.lower()}_days" in survival:
            _required_per_patient(
                dm, survival[f"{code.lower()}_days"], kept, f"the patient has no {code} record in {adtte_file}"
            )
    derivations = {
        code.lower(): {"source": f"ADTTE ({adtte_file})", "rule": f"PARAMCD {code}: AVAL, CNSR"}
        for code in SURVIVAL_PARAMETERS
        if f"{code.lower()}_days" in survival
    }
    if len(derivations) == len(SURVIVAL_PARAMETERS):
        return survival, derivations

    day_sets, present = [record_days], ["TR"]
    for name, prefix, columns in (
        ("tu", "TU", (None, None)),
        ("rs", "RS", (None, None)),
        ("ds", "DS", ("DSSTDY", "DSSTDTC")),
        ("sv", "SV", ("SVSTDY", "SVSTDTC")),
        ("sv", "SV", ("SVENDY", "SVENDTC")),
    ):
        domain = domains.get(name)
        day_column, date_column = columns[0] or f"{prefix}DY", columns[1] or f"{prefix}DTC"
        if domain is None or not (domain.has(day_column) or domain.has(date_column)):
            continue
        _check_patients_known(domain, subjects)
        days = _analysis_days(
            domain, prefix, dm, starts, np.zeros(len(domain), dtype=bool), report, day_column, date_column
        )
        day_sets.append(pd.DataFrame({"patient_id": domain.text("USUBJID").to_numpy(), "day": days}))
        present.append(prefix)
    last_alive = latest_day(pd.concat(day_sets, ignore_index=True), kept)

    death_flag = dm.upper("DTHFL")
    dm.check(~death_flag.isin(["Y", "N", ""]).to_numpy(), "DTHFL", "DTHFL must be Y or blank")
    death_date = (
        _analysis_days(dm, "DTH", dm, starts, np.zeros(len(dm), dtype=bool), report, "DTHDY", "DTHDTC")
        if dm.has("DTHDTC")
        else np.full(len(dm), np.nan)
    )
    died = (death_flag == "Y").to_numpy() | ~np.isnan(death_date)
    by_patient = pd.DataFrame({"died": died, "day": death_date}, index=dm.text("USUBJID").to_numpy()).reindex(kept)

    rs = rs_used
    if not (rs.has("RSDY") or rs.has("RSDTC")):
        raise SDTMError(
            rs.file,
            "RSDY",
            None,
            "missing required column: without ADTTE, PFS is derived from RS, which then needs RSDY or RSDTC",
        )
    used = responses["used"].to_numpy()
    progression = used & (responses["response"] == "PD").to_numpy()
    rs_days = _analysis_days(rs, "RS", dm, starts, progression, report)
    assessed = pd.DataFrame({"patient_id": responses["patient_id"].to_numpy(), "day": rs_days})
    first_progression = assessed[progression].groupby("patient_id")["day"].min()
    last_assessment = latest_day(pd.concat([assessed[used], record_days], ignore_index=True), kept)
    derived, counts = derived_survival(
        kept,
        by_patient["died"].to_numpy(dtype=bool),
        by_patient["day"].to_numpy(dtype=float),
        last_alive,
        first_progression,
        last_assessment,
    )
    rules = {"os": OS_RULE.format(domains=", ".join(dict.fromkeys(present))), "pfs": PFS_RULE}
    for code in SURVIVAL_PARAMETERS:
        name = code.lower()
        if name in derivations:
            continue
        survival = survival.drop(columns=[f"{name}_days", f"{name}_event"], errors="ignore")
        survival = (
            derived[[f"{name}_days", f"{name}_event"]].join(survival, how="left")
            if len(survival.columns)
            else derived[[f"{name}_days", f"{name}_event"]]
        )
        derivations[name] = {
            "source": f"derived from SDTM (no ADTTE {code} records)",
            "rule": rules[name],
            "counts": counts[name],
        }
    return survival, derivations


def sdtm_sources(folder) -> list[Path]:
    """The trial folders to read: a list of folders, one folder of SDTM files, or a folder of trial folders."""
    if isinstance(folder, (list, tuple)):
        if not folder:
            raise SDTMError("(no folder)", None, None, "give at least one folder of SDTM files")
        return [Path(item) for item in folder]
    folder = Path(folder)
    if folder.is_dir() and not is_domain_folder(folder):
        trials = sorted(path for path in folder.iterdir() if path.is_dir() and is_domain_folder(path))
        if trials:
            return trials
    return [folder]


def read_sdtm(
    folder,
    mapping=None,
    evaluator: str | None = None,
    unknown_location: str = "error",
    loq_mm3: float = contract.DEFAULT_LOQ_MM3,
    evaluator_id: str | None = None,
    location_conflicts: str = "first",
) -> AnalysisData:
    """Read the SDTM files in ``folder`` into validated analysis tables with a report of what was set aside.

    ``folder``: one folder of SDTM files, a list of them, or a folder of trial folders (pooled, see
    ``lesionmap.io.pool``). ``mapping``: the site map (a path, a ``Mapping``, a dict, or None for
    ``data/sdtm_map.yaml``). ``evaluator``: a TREVAL/RSEVAL value, 'accepted' (``TRACPTFL = "Y"``) or 'all'; None
    uses the map's. ``evaluator_id`` narrows it to one TREVALID/RSEVALID. ``unknown_location``: 'error' (default)
    raises on a location the map does not know, listing every such value; 'other' files those lesions under
    'other' and counts them. ``location_conflicts``: 'first' (default) takes the identification record's
    location where a lesion's recorded locations disagree, and counts them; 'error' raises. ``loq_mm3``: the
    volume below which a measurement is below the limit of quantification.
    Raises ``SDTMError`` (file, column, rows, rule) on bad input and ``MappingError`` on a bad map.
    """
    if unknown_location not in ("error", OTHER_ORGAN):
        raise ValueError(f"unknown_location must be 'error' or 'other', not {unknown_location!r}")
    if location_conflicts not in LOCATION_CONFLICT_RULES:
        raise ValueError(f"location_conflicts must be 'first' or 'error', not {location_conflicts!r}")
    mapping = _resolve_mapping(mapping).with_evaluator(evaluator, evaluator_id)
    sources = sdtm_sources(folder)
    options = {
        "mapping": mapping,
        "unknown_location": unknown_location,
        "loq_mm3": loq_mm3,
        "location_conflicts": location_conflicts,
    }
    if len(sources) > 1:
        from lesionmap.io.pool import read_pooled

        return read_pooled(sources, read_trial_folder, **options)
    return read_trial_folder(sources[0], **options)


def read_trial_folder(
    folder: Path, mapping: Mapping, unknown_location: str, loq_mm3: float, location_conflicts: str
) -> AnalysisData:
    """Read one trial's SDTM folder (``read_sdtm`` with the options resolved)."""
    paths = find_domain_files(folder)
    domains = {name: read_domain(name, path, COLUMNS[name]) for name, path in paths.items()}
    report = ReadReport()

    dm = domains["dm"]
    subjects = _subjects(dm, Path(folder).name, report)
    qualifiers = _qualifiers(domains.get("suppdm"), subjects, mapping, report)

    tr_all = domains["tr"]
    tr_all.require("USUBJID", "TRLNKID", "TRTESTCD")
    tr = tr_all.subset(_evaluator_rows(tr_all, "TR", mapping, report))
    evaluator_keys = _key(tr.text("USUBJID"), tr.upper("TREVAL")).unique() if tr.has("TREVAL") else None
    supptr = domains.get("supptr")
    supptr_records = _supptr_locations(supptr, tr_all, report)
    lesions = _lesions(
        domains["tu"],
        supptr_records,
        supptr.file if supptr is not None else None,
        evaluator_keys,
        subjects,
        dm,
        mapping,
        unknown_location,
        location_conflicts,
        report,
    )
    measurements, statuses, record_days = _assessments(tr, lesions, dm, subjects["start"], loq_mm3, mapping, report)

    rs = domains["rs"]
    rs_used = rs.subset(_evaluator_rows(rs, "RS", mapping, report))
    responses = _responses(rs_used, subjects, report)
    best = _best_responses(responses)
    recist_days = _recist_days(rs_used, responses, dm, subjects["start"], report)

    reasons, baseline_day = _exclusion_reasons(subjects.index, measurements, record_days)
    kept = subjects.index[reasons.to_numpy() == ""].sort_values()
    survival, derivations = _outcomes(domains, subjects, kept, responses, rs_used, record_days, report)

    patients = _patients(kept, subjects, qualifiers, survival, best, recist_days, baseline_day, record_days, mapping)
    report.note(
        "patients whose first target measurement is after the first dose (kept)", (patients["baseline_day"] > 0).sum()
    )
    missing_covariates = {column: int(patients[column].isna().sum()) for column in ("bmi", "line", "prior_surgery")}
    missing_covariates["kras"] = int((patients["kras"] == "unknown").sum())

    excluded = reasons[reasons != ""].sort_index()
    exclusions = pd.DataFrame(
        {"patient_id": excluded.index.to_numpy(dtype=object), "reason": excluded.to_numpy(dtype=object)}
    )

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
    trial_of = subjects["trial"]
    data.report = report.as_dict(
        folder=str(Path(folder)),
        files={name: path.name for name, path in paths.items()},
        evaluator=mapping.evaluator,
        evaluator_id=mapping.evaluator_id,
        unknown_location=unknown_location,
        location_conflicts=location_conflicts,
        loq_mm3=float(loq_mm3),
        map=mapping.source,
        consort=data.consort(),
        consort_by_trial=data.consort_by_trial(trial_of),
        derivations=derivations,
        missing_covariates=missing_covariates,
    )
    return data.validate()
