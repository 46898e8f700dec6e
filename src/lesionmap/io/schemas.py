"""Pandera schemas of the analysis tables (``lesionmap.tables``), and the links between the tables.

Every table the reader returns passes these checks: exact columns in the contract's order, dtypes (``str``
ids, ``int64`` days, ``float64`` sizes, ``bool`` flags; the covariates ``line`` and ``prior_surgery`` are nullable
``Int64`` and ``boolean``, missing where a trial did not record them), allowed values, unique keys and sorted rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from lesionmap import tables as contract

SEXES = ("M", "F", "U")
KRAS_VALUES = ("wild-type", "mutant", "unknown")


def _sorted_by(*keys: str) -> pa.Check:
    """Rows sorted by ``keys`` (lexicographic, as the reader writes them)."""

    def check(frame: pd.DataFrame) -> bool:
        before = np.zeros(max(len(frame) - 1, 0), dtype=bool)
        tied = np.ones_like(before)
        for key in keys:
            values = frame[key].to_numpy()
            before |= tied & (values[:-1] < values[1:])
            tied &= values[:-1] == values[1:]
        return bool((before | tied).all())

    return pa.Check(check, name=f"sorted by {', '.join(keys)}")


def _text(*checks, nullable=False, unique=False) -> pa.Column:
    return pa.Column(str, list(checks), nullable=nullable, unique=unique)


def _schema(columns: dict, contract_columns: dict, keys: list[str], name: str) -> pa.DataFrameSchema:
    if list(columns) != list(contract_columns):
        raise RuntimeError(f"the {name} schema does not list the contract's columns in order")
    return pa.DataFrameSchema(
        columns,
        strict=True,
        ordered=True,
        unique=keys,
        checks=[_sorted_by(*keys)],
        name=name,
        report_duplicates="exclude_first",
    )


_non_negative = pa.Check.ge(0)

PATIENTS = _schema(
    {
        "patient_id": _text(unique=True),
        "trial": _text(),
        "arm": _text(),
        "treatment_group": _text(pa.Check.isin(contract.TREATMENT_GROUPS)),
        "line": pa.Column("Int64", pa.Check.isin([1, 2]), nullable=True),
        "age": pa.Column(np.float64, _non_negative, nullable=True),
        "sex": _text(pa.Check.isin(SEXES)),
        "race": _text(),
        "bmi": pa.Column(np.float64, pa.Check.gt(0), nullable=True),
        "kras": _text(pa.Check.isin(KRAS_VALUES)),
        "prior_surgery": pa.Column("boolean", nullable=True),
        "baseline_day": pa.Column(np.int64),
        "last_day": pa.Column(np.int64),
        "os_days": pa.Column(np.float64, _non_negative),
        "os_event": pa.Column(bool),
        "pfs_days": pa.Column(np.float64, _non_negative),
        "pfs_event": pa.Column(bool),
        "recist_bor": _text(pa.Check.isin(contract.RECIST_RESPONSES)),
        "recist_response_day": pa.Column(np.float64, pa.Check.gt(0), nullable=True),
        "recist_progression_day": pa.Column(np.float64, pa.Check.gt(0), nullable=True),
    },
    contract.PATIENT_COLUMNS,
    ["patient_id"],
    "patients",
)

LESIONS = _schema(
    {
        "lesion_id": _text(unique=True),
        "patient_id": _text(),
        "kind": _text(pa.Check.isin(contract.LESION_KINDS)),
        "organ": _text(),
        "location": _text(),
        "nodal": pa.Column(bool),
        "detected_day": pa.Column(np.int64),
    },
    contract.LESION_COLUMNS,
    ["lesion_id"],
    "lesions",
)

MEASUREMENTS = _schema(
    {
        "lesion_id": _text(),
        "patient_id": _text(),
        "day": pa.Column(np.int64),
        "diameter_mm": pa.Column(np.float64, _non_negative, nullable=True),
        "volume_mm3": pa.Column(np.float64, _non_negative),
        "blq": pa.Column(bool),
    },
    contract.MEASUREMENT_COLUMNS,
    ["lesion_id", "day"],
    "measurements",
)

LESION_STATUS = _schema(
    {
        "lesion_id": _text(),
        "patient_id": _text(),
        "day": pa.Column(np.int64),
        "status": _text(pa.Check.isin(contract.LESION_STATUSES)),
    },
    contract.LESION_STATUS_COLUMNS,
    ["lesion_id", "day"],
    "lesion_status",
)

EXCLUSIONS = _schema(
    {
        "patient_id": _text(unique=True),
        "reason": _text(pa.Check.isin(contract.EXCLUSION_RULES)),
    },
    contract.EXCLUSION_COLUMNS,
    ["patient_id"],
    "exclusions",
)

SCHEMAS = {
    "patients": PATIENTS,
    "lesions": LESIONS,
    "measurements": MEASUREMENTS,
    "lesion_status": LESION_STATUS,
    "exclusions": EXCLUSIONS,
}


class TableLinkError(ValueError):
    """The analysis tables disagree with each other (a row pointing at a lesion or patient that is not there)."""


def _check_link(child: pd.DataFrame, child_name: str, key: str, parent_values, parent_name: str) -> None:
    orphans = ~child[key].isin(parent_values)
    if orphans.any():
        listed = ", ".join(map(str, child.loc[orphans, key].unique()[:5]))
        raise TableLinkError(f"{child_name}: {int(orphans.sum())} rows whose {key} is not in {parent_name} ({listed})")


def validate_tables(tables: dict[str, pd.DataFrame]) -> None:
    """Validate each table against its schema, then the links between tables.

    Raises ``pandera.errors.SchemaErrors`` (listing every failure of the table) for a table that breaks its
    schema, and ``TableLinkError`` for broken links: lesions of unknown patients, measurements of lesions
    that are not target lesions, statuses of lesions that are not non-target or new lesions, a row whose
    patient is not its lesion's patient, patients both analysed and excluded, last days before baseline days.
    """
    for name, schema in SCHEMAS.items():
        schema.validate(tables[name], lazy=True)
    patients, lesions = tables["patients"], tables["lesions"]
    _check_link(lesions, "lesions", "patient_id", patients["patient_id"], "patients")
    targets = lesions[lesions["kind"] == "target"]
    _check_link(tables["measurements"], "measurements", "lesion_id", targets["lesion_id"], "the target lesions")
    others = lesions[lesions["kind"] != "target"]
    _check_link(
        tables["lesion_status"], "lesion_status", "lesion_id", others["lesion_id"], "the non-target and new lesions"
    )
    for name in ("measurements", "lesion_status"):
        owner = tables[name]["lesion_id"].map(lesions.set_index("lesion_id")["patient_id"])
        if (owner != tables[name]["patient_id"]).any():
            raise TableLinkError(f"{name}: patient_id disagrees with the lesion's patient in lesions")
    both = tables["exclusions"]["patient_id"].isin(patients["patient_id"])
    if both.any():
        raise TableLinkError(f"exclusions: {int(both.sum())} patients are also in patients")
    early = patients["last_day"] < patients["baseline_day"]
    if early.any():
        raise TableLinkError(f"patients: {int(early.sum())} patients have last_day before baseline_day")
