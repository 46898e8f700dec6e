"""Pooling several trials' SDTM folders into one set of analysis tables (the paper pooled eight trials).

Each folder is read on its own with the same options, then the tables are stacked. Patient and lesion ids stay
unique: when a USUBJID occurs in two folders, every patient id is prefixed with its folder's label
(``trial-a:001``); when a STUDYID occurs in two folders, every trial is named ``label:STUDYID`` (two simulated
cohorts share their study ids). The trial column is then a covariate the chapters can use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from lesionmap.io.analysis import TABLE_NAMES, AnalysisData
from lesionmap.io.errors import SDTMError

#: Separator between a folder's label and a patient id or study id it prefixes.
PREFIX_SEPARATOR = ":"


def source_labels(folders: list[Path]) -> list[str]:
    """A short unique label per folder: its name, with its parent's name where two folders share a name."""
    resolved = [Path(folder).resolve() for folder in folders]
    if len(set(resolved)) < len(resolved):
        twice = next(str(folder) for folder in resolved if resolved.count(folder) > 1)
        raise SDTMError(twice, None, None, "the folder is given twice: pool each trial once")
    names = [folder.name for folder in resolved]
    labels = [
        f"{folder.parent.name}/{folder.name}" if names.count(folder.name) > 1 else folder.name for folder in resolved
    ]
    return labels if len(set(labels)) == len(labels) else [str(folder) for folder in resolved]


def _shared(values_per_source: list[pd.Series]) -> bool:
    """Whether any value occurs in more than one source."""
    seen: set = set()
    for values in values_per_source:
        distinct = set(values)
        if seen & distinct:
            return True
        seen |= distinct
    return False


def _renamed(frame: pd.DataFrame, label: str, prefix_ids: bool, prefix_trials: bool) -> pd.DataFrame:
    frame = frame.copy()
    if prefix_ids:
        for column in ("patient_id", "lesion_id"):
            if column in frame:
                frame[column] = label + PREFIX_SEPARATOR + frame[column].astype(str)
    if prefix_trials and "trial" in frame:
        frame["trial"] = label + PREFIX_SEPARATOR + frame["trial"].astype(str)
    return frame


def _summed(reports: list[dict], key: str) -> dict:
    total: dict = {}
    for report in reports:
        for name, count in report.get(key, {}).items():
            total[name] = total.get(name, 0) + int(count)
    return total


def read_pooled(folders: list[Path], read_folder: Callable[..., AnalysisData], **options) -> AnalysisData:
    """Read each folder with ``read_folder(folder, **options)`` and pool the tables (ids unique per study)."""
    labels = source_labels(folders)
    parts = [read_folder(Path(folder), **options) for folder in folders]
    screened = [pd.concat([part.patients["patient_id"], part.exclusions["patient_id"]]) for part in parts]
    prefix_ids = _shared(screened)
    trials = [pd.Series([row["trial"] for row in part.report["consort_by_trial"]], dtype=object) for part in parts]
    prefix_trials = _shared(trials)
    tables = {}
    for name in TABLE_NAMES:
        stacked = pd.concat(
            [_renamed(getattr(part, name), label, prefix_ids, prefix_trials) for part, label in zip(parts, labels)],
            ignore_index=True,
        )
        keys = {
            "patients": ["patient_id"],
            "lesions": ["lesion_id"],
            "measurements": ["lesion_id", "day"],
            "lesion_status": ["lesion_id", "day"],
            "exclusions": ["patient_id"],
        }[name]
        tables[name] = stacked.sort_values(keys, kind="stable").reset_index(drop=True)
    for name in ("line", "prior_surgery"):
        tables["patients"][name] = tables["patients"][name].astype({"line": "Int64", "prior_surgery": "boolean"}[name])
    data = AnalysisData(**tables)
    consort_by_trial = [
        {**row, "trial": (label + PREFIX_SEPARATOR + row["trial"]) if prefix_trials else row["trial"]}
        for part, label in zip(parts, labels)
        for row in part.report["consort_by_trial"]
    ]
    reports = [part.report for part in parts]
    data.report = {
        "folder": [str(Path(folder)) for folder in folders],
        "pooled": True,
        "sources": [{"label": label, **report} for label, report in zip(labels, reports)],
        "ids_prefixed": bool(prefix_ids),
        "trials_prefixed": bool(prefix_trials),
        "files": {label: report["files"] for label, report in zip(labels, reports)},
        **{
            key: reports[0][key]
            for key in ("evaluator", "evaluator_id", "unknown_location", "location_conflicts", "loq_mm3", "map")
        },
        "set_aside": _summed(reports, "set_aside"),
        "notes": _summed(reports, "notes"),
        "unknown_locations": _summed(reports, "unknown_locations"),
        "excluded_records": _summed(reports, "excluded_records"),
        "consort": data.consort(),
        "consort_by_trial": consort_by_trial,
        "derivations": {label: report["derivations"] for label, report in zip(labels, reports)},
        "missing_covariates": _summed(reports, "missing_covariates"),
    }
    data.report["notes"]["patient ids prefixed with their folder (a USUBJID occurs in two folders)"] = (
        int(len(tables["patients"]) + len(tables["exclusions"])) if prefix_ids else 0
    )
    return data.validate()
