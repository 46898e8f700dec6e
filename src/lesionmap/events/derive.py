"""Derive the ``lesion_events`` table (see ``lesionmap.tables.LESION_EVENT_COLUMNS``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lesionmap.tables import DEFAULT_LOQ_MM3, LESION_EVENT_COLUMNS

RESPONSE_STATUSES = ("CR", "PR")
PROGRESSION_STATUS = "PD"

#: How far target-lesion events are derived from the fitted growth model (``target_events(horizon=...)``):
#: "last_alive" up to the patient's last day known alive (death or data cut-off, ``os_days``), the default,
#: closest to the paper, which derives target-lesion progression from model predictions while the trials'
#: scans stop at the first RECIST progression (so later progressions exist only as predictions);
#: "last_scan" up to the patient's last scan (``last_day``), no prediction past the data.
HORIZONS = {"last_alive": "os_days", "last_scan": "last_day"}
DEFAULT_HORIZON = "last_alive"


#: How non-target lesions get their events (``nontarget_events(rule=...)``): "overall", the default, the paper's
#: Methods ("Non-target lesions responded when partial response or complete response was firstly observed
#: during the treatment and progressed when progressive disease appeared in tumor evaluation"): every
#: non-target lesion of a patient responds at the patient's first overall RECIST CR or PR and progresses at the
#: first overall PD (RS; ``recist_response_day``, ``recist_progression_day``); "lesion": each lesion's own
#: status (TR TUMSTATE), response at its first CR/PR, progression at its first unequivocal progression.
NONTARGET_RULES = ("overall", "lesion")
DEFAULT_NONTARGET_RULE = "overall"


def horizon_days(patients: pd.DataFrame, horizon: str = DEFAULT_HORIZON) -> pd.Series:
    """Each patient's horizon day (index patient_id) for derived target-lesion events; never before the last scan."""
    if horizon not in HORIZONS:
        raise ValueError(f"horizon must be one of {sorted(HORIZONS)}, got {horizon!r}")
    days = patients[HORIZONS[horizon]].astype(float).fillna(patients["last_day"].astype(float))
    return pd.Series(
        np.maximum(days.to_numpy(float), patients["last_day"].to_numpy(float)),
        index=patients["patient_id"].to_numpy(),
        name="horizon_day",
    )


def _censor(
    times: np.ndarray, last_day: np.ndarray, start_day: np.ndarray | float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Events at or before the last day stay events; the rest are censored at the last day."""
    event = np.isfinite(times) & (times <= last_day)
    day = np.where(event, np.maximum(times, start_day), last_day)
    return day, event


def _check_target_parameters(individual: pd.DataFrame, lesions: pd.DataFrame) -> None:
    """Parameters must belong to known target lesions: a non-target or new lesion given parameters would get a
    second, model-derived series of events beside the ones its scans record."""
    kinds = lesions.set_index("lesion_id")["kind"].reindex(individual.index)
    unknown = kinds.index[kinds.isna()]
    if len(unknown):
        raise ValueError(
            f"individual parameters: {len(unknown)} lesion(s) are not in the lesions table "
            f"(first: {list(unknown[:3])}); pass the lesions the parameters were fitted on"
        )
    other = kinds[kinds != "target"]
    if len(other):
        raise ValueError(
            f"individual parameters: {len(other)} lesion(s) are not target lesions (first: {other.index[0]!r}, "
            f"kind {other.iat[0]!r}); model-derived events apply to target lesions only, keep their rows"
        )


def target_events(
    individual: pd.DataFrame,
    lesions: pd.DataFrame,
    patients: pd.DataFrame,
    response_drop: float = 0.2,
    progression_rise: float = 0.3,
    progression_volume: float = DEFAULT_LOQ_MM3,
    horizon: str = DEFAULT_HORIZON,
) -> pd.DataFrame:
    """Response and progression days of target lesions from their individual growth parameters.

    ``individual`` is indexed by lesion_id with columns V0, Kd, F, Kg (time unit: days since the first dose).
    Times come from ``lesionmap.growth`` (closed form or vectorised root finding), derived up to the
    patient's ``horizon`` day (``HORIZONS``: last day known alive by default, or the last scan) and censored
    there.
    """
    from lesionmap.growth.model import time_to_progression, time_to_response

    _check_target_parameters(individual, lesions)
    frame = (
        individual[["V0", "Kd", "F", "Kg"]]
        .join(lesions.set_index("lesion_id")[["patient_id", "organ"]])
        .join(horizon_days(patients, horizon), on="patient_id")
    )
    last_day = frame["horizon_day"].to_numpy(float)
    kd, f, kg, v0 = (frame[c].to_numpy(float) for c in ("Kd", "F", "Kg", "V0"))
    t_response = time_to_response(kd, f, kg, drop=response_drop, horizon=last_day)
    t_progression = time_to_progression(
        v0, kd, f, kg, rise=progression_rise, absolute=progression_volume, horizon=last_day
    )
    rows = []
    for endpoint, times in (("response", t_response), ("progression", t_progression)):
        day, event = _censor(np.asarray(times, float), last_day)
        rows.append(
            pd.DataFrame(
                {
                    "lesion_id": frame.index,
                    "patient_id": frame["patient_id"].to_numpy(),
                    "organ": frame["organ"].to_numpy(),
                    "kind": "target",
                    "endpoint": endpoint,
                    "day": day,
                    "event": event,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def nontarget_events(
    lesion_status: pd.DataFrame,
    lesions: pd.DataFrame,
    patients: pd.DataFrame,
    rule: str = DEFAULT_NONTARGET_RULE,
) -> pd.DataFrame:
    """Non-target lesions' response and progression by ``rule`` (``NONTARGET_RULES``), censored at the last scan."""
    if rule not in NONTARGET_RULES:
        raise ValueError(f"rule must be one of {NONTARGET_RULES}, got {rule!r}")
    nontarget = lesions[lesions["kind"] == "non-target"][["lesion_id", "patient_id", "organ", "kind"]]
    if rule == "overall":
        missing = [c for c in ("recist_response_day", "recist_progression_day") if c not in patients.columns]
        if missing:
            raise ValueError(
                f"patients lacks {', '.join(missing)}: the 'overall' rule dates non-target events by the overall "
                "RECIST responses (RS); use rule='lesion' for the lesions' own statuses"
            )
        by_patient = patients.set_index("patient_id")
        owner = nontarget.set_index("lesion_id")["patient_id"]
        first_response = owner.map(by_patient["recist_response_day"]).dropna()
        first_progression = owner.map(by_patient["recist_progression_day"]).dropna()
    else:
        status = lesion_status[lesion_status["lesion_id"].isin(nontarget["lesion_id"]) & (lesion_status["day"] > 0)]
        first_response = status[status["status"].isin(RESPONSE_STATUSES)].groupby("lesion_id")["day"].min()
        first_progression = status[status["status"] == PROGRESSION_STATUS].groupby("lesion_id")["day"].min()
    base = nontarget.merge(patients[["patient_id", "last_day"]], on="patient_id", how="left")
    rows = []
    for endpoint, first in (("response", first_response), ("progression", first_progression)):
        times = base["lesion_id"].map(first).to_numpy(float)
        day, event = _censor(times, base["last_day"].to_numpy(float))
        rows.append(base[["lesion_id", "patient_id", "organ", "kind"]].assign(endpoint=endpoint, day=day, event=event))
    return pd.concat(rows, ignore_index=True)


def new_lesion_events(lesions: pd.DataFrame) -> pd.DataFrame:
    """New lesions: a progression event on the day they are detected (progression endpoint only)."""
    new = lesions[lesions["kind"] == "new"]
    return pd.DataFrame(
        {
            "lesion_id": new["lesion_id"].to_numpy(),
            "patient_id": new["patient_id"].to_numpy(),
            "organ": new["organ"].to_numpy(),
            "kind": "new",
            "endpoint": "progression",
            "day": new["detected_day"].to_numpy(float),
            "event": True,
        }
    )


def lesion_events(
    individual: pd.DataFrame,
    lesions: pd.DataFrame,
    lesion_status: pd.DataFrame,
    patients: pd.DataFrame,
    horizon: str = DEFAULT_HORIZON,
    nontarget_rule: str = DEFAULT_NONTARGET_RULE,
    **thresholds,
) -> pd.DataFrame:
    """All lesions' events for both endpoints, in the column order of the table contract.

    ``horizon`` applies to target lesions (derived from the model); ``nontarget_rule`` says how non-target
    lesions are dated (``NONTARGET_RULES``); non-target and new lesions are read from the scans and censored at
    the last scan.
    """
    table = pd.concat(
        [
            target_events(individual, lesions, patients, horizon=horizon, **thresholds),
            nontarget_events(lesion_status, lesions, patients, rule=nontarget_rule),
            new_lesion_events(lesions),
        ],
        ignore_index=True,
    )
    table["event"] = table["event"].astype(bool)
    return (
        table[list(LESION_EVENT_COLUMNS)].sort_values(["endpoint", "lesion_id"], kind="stable").reset_index(drop=True)
    )
