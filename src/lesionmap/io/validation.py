"""Validation of the analysis tables: each against its pandera schema (``lesionmap.io.schemas``, imported on first
use), then the links between the tables."""

from __future__ import annotations

import pandas as pd


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
    from lesionmap.io.schemas import SCHEMAS

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
