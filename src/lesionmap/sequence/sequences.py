"""Each patient's organ progression sequence, from the ``lesion_events`` table (paper: Fig. 4, Fig. 5).

An organ progresses on the earliest progression event of any of its lesions (target, non-target or new).
Organs are then ranked within the patient by that day. Two tie rules:

- ``ties="ordered"`` (default, ``DEFAULT_TIES``): every organ gets its own rank. Same-day organs are ordered by
  ``tie_order`` (a list of organ names, earlier first) and, among organs not in it, at random: each patient's
  tied organs in an order drawn from ``random_state`` (the run's seed in the book), the same for any order of the
  input rows. A random order is the only one that favours no organ: alphabetical order, used before, put
  "GI tract" and "GR" (capitals sort first), abdomen, bone and distal LN ahead of the liver, and the liver ahead
  of the lung on every tied scan, so a patient whose liver and lung progressed on one scan was always
  Liver-First. The authors' columns are "organ at progression rank r", one rank per progressive organ; and
  since the paper dates every non-target lesion by the patient's overall RECIST progression
  (``lesionmap.events``), a patient whose non-target organs progress together on that scan has as many ranks as
  progressive organs, so the number of progressive organs shows in the encoding;
- ``ties="shared"``: organs progressing on the same day share a rank, and the next day gets the next rank
  (dense ranking: liver and lung on day 56, bone on day 112 give liver 1, lung 1, bone 2): no order the scans
  cannot see, at the price of hiding how many organs progressed on one scan.

``counts["tied"]`` counts the patients with two or more organs progressing on one day, whatever the rule.

Patients with no progression event are kept: they have no sequence, are counted (``counts``), and the clustering
puts them in a separate "No progression" group that k-means never sees. The paper does not say what it did with
them; its five groups sum to more than its cohort, so its text cannot tell either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Tie rules of ``progression_sequences``, and the default (module text).
TIE_RULES = ("ordered", "shared")
DEFAULT_TIES = "ordered"

#: The first-organ classes of the paper's groups: liver, lung, and every other organ pooled.
FIRST_ORGAN_CLASSES = ("liver", "lung", "other")

#: Labels of the progression intervals (Fig. 4c, Fig. 5f-h), in chart order.
INTERVAL_LABELS = ("1st", "2nd-1st", "3rd-2nd", "4th-3rd", "average")

_REQUIRED = ("patient_id", "organ", "endpoint", "day", "event")


def first_organ_class(organ) -> str:
    """'liver', 'lung' or 'other' for an organ category (case and surrounding spaces ignored)."""
    name = str(organ).strip().lower()
    return name if name in ("liver", "lung") else "other"


@dataclass
class ProgressionSequences:
    """Organ progression sequences of a cohort.

    - ``organs``: one row per patient and progressing organ: patient_id, organ, day (the organ's first
      progression), rank (1 = first), lesions (the organ's lesions with a progression event), sorted by
      patient, rank, organ;
    - ``patients``: one row per patient of the cohort: patient_id, progressed, n_organs, n_ranks, first_day,
      first_organs (rank-1 organs joined by '+'), sequence (ranks joined by ' > ', e.g. 'liver+lung > bone';
      empty without progression);
    - ``ties``: the tie rule used; ``counts``: patients, progressed, no_progression, tied (patients with two or
      more organs on one rank), single_organ, events_used (progression events read).
    """

    organs: pd.DataFrame
    patients: pd.DataFrame
    ties: str
    counts: dict = field(default_factory=dict)

    @property
    def progressed_ids(self) -> pd.Index:
        """Patients with at least one progressing organ, in cohort order."""
        return pd.Index(self.patients.loc[self.patients["progressed"], "patient_id"], name="patient_id")

    @property
    def max_rank(self) -> int:
        """The largest rank any patient reaches (0 when nobody progressed)."""
        return int(self.organs["rank"].max()) if len(self.organs) else 0

    def subset(self, patient_ids) -> ProgressionSequences:
        """The sequences of some patients (ranks unchanged)."""
        keep = pd.Index(patient_ids)
        patients = self.patients[self.patients["patient_id"].isin(keep)].reset_index(drop=True)
        organs = self.organs[self.organs["patient_id"].isin(keep)].reset_index(drop=True)
        return ProgressionSequences(organs=organs, patients=patients, ties=self.ties, counts=_counts(patients, organs))


def _check_events(lesion_events: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in lesion_events.columns]
    if missing:
        raise ValueError(f"lesion_events lacks column(s) {missing} (see lesionmap.tables.LESION_EVENT_COLUMNS)")
    endpoints = set(pd.unique(lesion_events["endpoint"])) - {"response", "progression"}
    if endpoints:
        raise ValueError(
            f"lesion_events column 'endpoint' has unknown value(s) {sorted(endpoints, key=str)}; "
            "allowed: 'response', 'progression'"
        )
    days = pd.to_numeric(lesion_events["day"], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(lesion_events["event"].astype(bool).to_numpy() & ~np.isfinite(days))
    if len(bad):
        row = lesion_events.iloc[bad[0]]
        raise ValueError(
            f"lesion_events has {len(bad)} event row(s) without a finite 'day' "
            f"(first: row {bad[0]}, lesion {row.get('lesion_id', '?')})"
        )


def _cohort_ids(lesion_events: pd.DataFrame, patients: pd.DataFrame | None) -> pd.Index:
    event_ids = pd.Index(pd.unique(lesion_events["patient_id"]))
    if patients is None:
        return event_ids
    if "patient_id" not in patients.columns:
        raise ValueError("patients lacks column 'patient_id'")
    cohort = pd.Index(pd.unique(patients["patient_id"]))
    unknown = event_ids.difference(cohort)
    if len(unknown):
        raise ValueError(
            f"{len(unknown)} patient(s) of lesion_events are not in patients "
            f"(first: {list(unknown[:3])}); pass the patients table the events were derived from"
        )
    return cohort


def _rank(organs: pd.DataFrame, ties: str, tie_order: Sequence[str] | None, random_state) -> np.ndarray:
    if ties == "shared":
        return organs.groupby("patient_id", sort=False)["day"].rank(method="dense").to_numpy(int)
    preferred = {organ: i for i, organ in enumerate(tie_order or [])}
    listed = organs["organ"].map(preferred).fillna(len(preferred)).to_numpy(float)
    canonical = np.lexsort((organs["organ"].astype(str).to_numpy(), organs["patient_id"].astype(str).to_numpy()))
    draw = np.empty(len(organs))
    draw[canonical] = np.random.default_rng(random_state).random(len(organs))
    order = organs.assign(_listed=listed, _draw=draw).sort_values(
        ["patient_id", "day", "_listed", "_draw"], kind="stable"
    )
    ranks = order.groupby("patient_id", sort=False).cumcount().to_numpy() + 1
    return pd.Series(ranks, index=order.index).reindex(organs.index).to_numpy(int)


def _counts(patients: pd.DataFrame, organs: pd.DataFrame) -> dict:
    per_day = organs.groupby(["patient_id", "day"], sort=False).size()
    tied = per_day[per_day > 1].index.get_level_values("patient_id").nunique()
    progressed = int(patients["progressed"].sum())
    return {
        "patients": len(patients),
        "progressed": progressed,
        "no_progression": len(patients) - progressed,
        "tied": int(tied),
        "single_organ": int((patients["n_organs"] == 1).sum()),
        "events_used": int(organs["lesions"].sum()),
    }


def progression_sequences(
    lesion_events: pd.DataFrame,
    patients: pd.DataFrame | None = None,
    ties: str = DEFAULT_TIES,
    tie_order: Sequence[str] | None = None,
    random_state: int | np.random.Generator | None = 0,
) -> ProgressionSequences:
    """Organ progression sequences of every patient (see the module text for the tie rules).

    ``random_state`` orders the same-day organs that ``tie_order`` does not list (``ties="ordered"``); the
    default 0 keeps calls reproducible, and the book passes the run's seed.

    The cohort is ``patients`` when given (patients with no event rows are non-progressors; event rows of a
    patient not in ``patients`` are an error), else every patient of ``lesion_events``. Only rows with
    endpoint 'progression' and event True count; censored rows and response rows make no progression.
    """
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}; got {ties!r}")
    _check_events(lesion_events)
    cohort = _cohort_ids(lesion_events, patients)
    progression = lesion_events[(lesion_events["endpoint"] == "progression") & lesion_events["event"].astype(bool)]
    progression = progression.assign(
        day=pd.to_numeric(progression["day"]),
        organ=progression["organ"].astype(str),
        patient_id=progression["patient_id"].astype(object),
    )
    organs = (
        progression.groupby(["patient_id", "organ"], sort=False)["day"].agg(day="min", lesions="size").reset_index()
    )
    organs["rank"] = _rank(organs, ties, tie_order, random_state) if len(organs) else np.zeros(0, int)
    organs = organs.sort_values(["patient_id", "rank", "organ"], kind="stable").reset_index(drop=True)
    organs = organs[["patient_id", "organ", "day", "rank", "lesions"]]

    per_rank = organs.groupby(["patient_id", "rank"], sort=False)["organ"].agg("+".join)
    sequence = per_rank.groupby(level="patient_id", sort=False).agg(" > ".join)
    grouped = organs.groupby("patient_id", sort=False)
    summary = pd.DataFrame(
        {
            "n_organs": grouped.size(),
            "n_ranks": grouped["rank"].max(),
            "first_day": grouped["day"].min(),
            "first_organs": per_rank.xs(1, level="rank") if len(organs) else pd.Series(dtype=object),
            "sequence": sequence,
        }
    )
    table = pd.DataFrame({"patient_id": cohort}).join(summary, on="patient_id")
    table.insert(1, "progressed", table["n_organs"].notna())
    table["n_organs"] = table["n_organs"].fillna(0).astype(int)
    table["n_ranks"] = table["n_ranks"].fillna(0).astype(int)
    table["first_organs"] = table["first_organs"].fillna("")
    table["sequence"] = table["sequence"].fillna("")
    return ProgressionSequences(organs=organs, patients=table, ties=ties, counts=_counts(table, organs))


def progression_intervals(sequences: ProgressionSequences, orders: int = 4) -> pd.DataFrame:
    """Times to the 1st..``orders``-th organ progression and the gaps between them, one row per progressor.

    The r-th organ progression is the r-th smallest organ day (whatever the tie rule): two organs on one day
    give a gap of 0. Columns: day_1..day_<orders> (NaN past the patient's last organ), '1st' (= day_1),
    '2nd-1st', '3rd-2nd', '4th-3rd' (for orders = 4), and 'average': the mean of the intervals the patient has
    among those, i.e. day_m / m with m = min(n_organs, orders). Censoring is ignored, as in the paper's box plots.
    """
    if orders < 1:
        raise ValueError(f"orders must be at least 1; got {orders}")
    organs = sequences.organs.sort_values(["patient_id", "day"], kind="stable")
    position = organs.groupby("patient_id", sort=False).cumcount().to_numpy() + 1
    kept = organs[position <= orders].assign(position=position[position <= orders])
    days = kept.pivot(index="patient_id", columns="position", values="day").reindex(
        index=sequences.progressed_ids, columns=range(1, orders + 1)
    )
    values = days.to_numpy(float)
    table = pd.DataFrame(values, index=days.index, columns=[f"day_{r}" for r in range(1, orders + 1)])
    names = [_ordinal(1)] + [f"{_ordinal(r)}-{_ordinal(r - 1)}" for r in range(2, orders + 1)]
    intervals = np.column_stack([values[:, 0], np.diff(values, axis=1)]) if orders > 1 else values[:, :1]
    for name, column in zip(names, intervals.T, strict=True):
        table[name] = column
    count = np.isfinite(values).sum(axis=1)
    last = values[np.arange(len(values)), np.maximum(count, 1) - 1]
    table["average"] = np.where(count > 0, last / np.maximum(count, 1), np.nan)
    return table


def _ordinal(r: int) -> str:
    suffix = "th" if 10 <= r % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(r % 10, "th")
    return f"{r}{suffix}"
