"""The reader's result: the analysis tables, and a report of every record it set aside and why."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from lesionmap import tables as contract
from lesionmap.io.validation import validate_tables

TABLE_NAMES = ("patients", "lesions", "measurements", "lesion_status", "exclusions")


class ReadReport:
    """Counts kept while reading: records set aside (with the reason), notes, unknown locations."""

    def __init__(self):
        self.set_aside: dict[str, int] = {}
        self.notes: dict[str, int] = {}
        self.unknown_locations: dict[str, int] = {}
        self.excluded_records: dict[str, int] = {}

    def aside(self, reason: str, count) -> None:
        """Count ``count`` records set aside for ``reason`` (zero counts are kept: the table shows every check)."""
        self.set_aside[reason] = self.set_aside.get(reason, 0) + int(count)

    def note(self, what: str, count) -> None:
        self.notes[what] = self.notes.get(what, 0) + int(count)

    def as_dict(self, **context) -> dict:
        """A JSON-ready dict: the reading context (files, evaluator, ...) and every count."""
        return {
            **context,
            "set_aside": dict(self.set_aside),
            "notes": dict(self.notes),
            "unknown_locations": dict(self.unknown_locations),
            "excluded_records": dict(self.excluded_records),
        }


@dataclass
class AnalysisData:
    """The analysis tables read from SDTM (``lesionmap.tables``), with the reader's ``report``.

    ``report`` is a JSON-ready dict: ``files``, ``evaluator``, ``set_aside`` (records not used, by reason),
    ``notes``, ``unknown_locations`` (TULOC values filed under 'other') and ``excluded_records`` (lesions,
    measurements and statuses removed with the excluded patients).
    """

    patients: pd.DataFrame
    lesions: pd.DataFrame
    measurements: pd.DataFrame
    lesion_status: pd.DataFrame
    exclusions: pd.DataFrame
    report: dict = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The five analysis tables by name."""
        return {name: getattr(self, name) for name in TABLE_NAMES}

    def validate(self) -> AnalysisData:
        """Check every table against its pandera schema and the links between tables; returns self."""
        validate_tables(self.tables())
        return self

    def consort(self) -> dict:
        """CONSORT counts: patients screened (in DM), excluded by each rule, analysed; lesions by kind; measurements."""
        reasons = self.exclusions["reason"].value_counts()
        kinds = self.lesions["kind"].value_counts()
        return {
            "screened": len(self.patients) + len(self.exclusions),
            "excluded": {rule: int(reasons.get(rule, 0)) for rule in contract.EXCLUSION_RULES},
            "analysed": len(self.patients),
            "lesions": {kind: int(kinds.get(kind, 0)) for kind in contract.LESION_KINDS},
            "measurements": len(self.measurements),
            "lesion_statuses": len(self.lesion_status),
        }

    def consort_by_trial(self, trial_of: pd.Series) -> list[dict]:
        """CONSORT counts per trial (``trial_of``: every screened patient's trial, by patient id), as records."""
        patient_trial = self.patients.set_index("patient_id")["trial"]
        excluded_trial = self.exclusions["patient_id"].map(trial_of)
        lesion_trial = self.lesions["patient_id"].map(patient_trial)
        measurement_trial = self.measurements["patient_id"].map(patient_trial)
        rows = []
        for trial in sorted(set(patient_trial) | set(excluded_trial.dropna())):
            reasons = self.exclusions.loc[(excluded_trial == trial).to_numpy(), "reason"].value_counts()
            kinds = self.lesions.loc[(lesion_trial == trial).to_numpy(), "kind"].value_counts()
            analysed = int((patient_trial == trial).sum())
            rows.append(
                {
                    "trial": str(trial),
                    "screened": analysed + int(reasons.sum()),
                    **{f"excluded: {rule}": int(reasons.get(rule, 0)) for rule in contract.EXCLUSION_RULES},
                    "analysed": analysed,
                    **{f"{kind} lesions": int(kinds.get(kind, 0)) for kind in contract.LESION_KINDS},
                    "measurements": int((measurement_trial == trial).sum()),
                }
            )
        return rows

    def report_counts(self) -> dict[str, int]:
        """Every count of the report in one flat dict, for a table: records set aside, notes, excluded records."""
        counts = dict(self.report.get("set_aside", {}))
        counts.update(self.report.get("notes", {}))
        excluded = self.report.get("excluded_records", {})
        counts.update({f"{what} of excluded patients": n for what, n in excluded.items()})
        return counts
