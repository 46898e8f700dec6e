"""Pandera schemas of the analysis tables (``lesionmap.tables``); ``lesionmap.io.validation`` applies them.

Every table the reader returns passes these checks: exact columns in the contract's order, dtypes (``str``
ids, ``int64`` days, ``float64`` sizes, ``bool`` flags; the covariates ``line`` and ``prior_surgery`` are nullable
``Int64`` and ``boolean``, missing where a trial did not record them), allowed values, unique keys and sorted rows. Importing pandera takes a third of a second, so this module is
imported only when tables are validated (``lesionmap.io.validation``), not by every chapter that reads cached ones.
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
