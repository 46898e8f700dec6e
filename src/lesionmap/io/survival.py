"""OS and PFS derived from SDTM alone, for trial packages without the ADaM dataset ADTTE.

OS: days from the first dose to death (DM ``DTHDTC``; a death flagged by ``DTHFL = "Y"`` without a date ends at the
last day known alive), else censored at the last day the patient was known alive: the latest dated record in any
domain present (TR, RS, TU, DS, SV). PFS: days to the first overall response of progressive disease (RS) or death,
whichever comes first, else censored at the last tumour assessment. Every rule that fills a gap is counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The rules, as the reader's report and Chapter 1 state them.
OS_RULE = (
    "death date (DM DTHDTC, or DTHFL = Y) minus the first dose; otherwise censored at the last date known "
    "alive (the latest dated record in {domains})"
)
PFS_RULE = (
    "first RS overall response PD, or death, whichever is first; otherwise censored at the last tumour "
    "assessment (RS or TR)"
)


def latest_day(days: pd.DataFrame, patient_ids: pd.Index) -> pd.Series:
    """The latest ``day`` of each patient in a (patient_id, day) frame, NaN for a patient without a dated record."""
    dated = days.dropna(subset=["day"])
    return dated.groupby("patient_id")["day"].max().reindex(patient_ids)


def derived_survival(
    patient_ids: pd.Index,
    died: np.ndarray,
    death_day: np.ndarray,
    last_alive: pd.Series,
    progression_day: pd.Series,
    last_assessment: pd.Series,
) -> tuple[pd.DataFrame, dict]:
    """OS and PFS of ``patient_ids`` (by position of ``died`` and ``death_day``) and, per endpoint, each rule's count.

    ``last_alive``, ``progression_day`` (first PD) and ``last_assessment`` are Series by patient (NaN: none).
    Times are floored at day 0 (a patient known alive only before the first dose is censored at 0).
    """
    last_alive = last_alive.reindex(patient_ids).to_numpy(dtype=float)
    progression = progression_day.reindex(patient_ids).to_numpy(dtype=float)
    assessment = last_assessment.reindex(patient_ids).to_numpy(dtype=float)
    dated_death = died & ~np.isnan(death_day)
    undated_death = died & np.isnan(death_day)
    os_days = np.where(dated_death, death_day, last_alive)
    no_record = np.isnan(os_days)
    os_days = np.where(no_record, 0.0, os_days)
    death_or_last = np.where(died, os_days, np.inf)
    progressed = ~np.isnan(progression)
    pfs_event = progressed | died
    pfs_days = np.where(
        pfs_event,
        np.fmin(np.where(progressed, progression, np.inf), death_or_last),
        np.where(np.isnan(assessment), 0.0, assessment),
    )

    frame = pd.DataFrame(
        {
            "os_days": np.maximum(os_days, 0.0),
            "os_event": died,
            "pfs_days": np.maximum(pfs_days, 0.0),
            "pfs_event": pfs_event,
        },
        index=patient_ids,
    )
    counts = {
        "os": {
            "events: deaths with a date": int(dated_death.sum()),
            "events: deaths without a date (time: the last day known alive)": int(undated_death.sum()),
            "censored at the last day known alive": int((~died & ~no_record).sum()),
            "censored at day 0 (no dated record)": int((no_record & ~died).sum()),
            "times before the first dose floored at day 0": int((os_days < 0).sum()),
        },
        "pfs": {
            "events: progression": int((progressed & (progression <= death_or_last)).sum()),
            "events: death before any progression": int((died & ~(progressed & (progression <= death_or_last))).sum()),
            "censored at the last tumour assessment": int((~pfs_event & ~np.isnan(assessment)).sum()),
            "censored at day 0 (no tumour assessment)": int((~pfs_event & np.isnan(assessment)).sum()),
            "times before the first dose floored at day 0": int((pfs_days < 0).sum()),
        },
    }
    return frame, counts
