"""Clusters on the observed sequences against clusters on the true ones (a simulated cohort's truth).

The simulation knows every patient's complete organ progression sequence, including the progressions that
follow-up never saw (scans stop, patients die). The truth table has one row per patient and progressing organ:

    patient_id, organ, day[, rank]   (``TRUE_SEQUENCE_COLUMNS``; rows with a non-finite day never progress)

``sequences_from_organ_days`` turns it into ``ProgressionSequences`` under the book's tie rule (a ``rank`` column is
recomputed, never trusted), ``truth_agreement`` clusters those true sequences exactly as the observed ones (same
encoding, k and seed) and compares the two groupings: the adjusted Rand index over every patient and over the
patients who progress in both, the cross-table of groups, and what each observed group truly holds. A user's SDTM
data have no truth: the chapter says so instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from lesionmap.sequence.cluster import SequenceClustering
from lesionmap.sequence.naming import NO_PROGRESSION
from lesionmap.sequence.sequences import (
    DEFAULT_TIES,
    ProgressionSequences,
    first_organ_class,
    progression_sequences,
)

#: The columns of the truth's organ progression table (``rank`` optional).
TRUE_SEQUENCE_COLUMNS = ("patient_id", "organ", "day")


def sequences_from_organ_days(
    organ_days: pd.DataFrame,
    patient_ids,
    ties: str = DEFAULT_TIES,
    source: str = "truth table",
    random_state: int | np.random.Generator | None = 0,
) -> ProgressionSequences:
    """Progression sequences of ``patient_ids`` from one row per patient and progressing organ (module text).

    ``random_state`` orders same-day organs as in ``progression_sequences``. Rows with a non-finite day are organs
    that never progress and are left out; an organ listed twice for a
    patient counts at its earliest day; a patient not in ``patient_ids`` is an error that names it.
    """
    missing = [c for c in TRUE_SEQUENCE_COLUMNS if c not in organ_days.columns]
    if missing:
        raise ValueError(
            f"{source}: missing column(s) {missing}; expected {list(TRUE_SEQUENCE_COLUMNS)} (rank optional)"
        )
    days = pd.to_numeric(organ_days["day"], errors="coerce").to_numpy(float)
    rows = organ_days.loc[np.isfinite(days), ["patient_id", "organ"]].assign(day=days[np.isfinite(days)])
    events = rows.assign(endpoint="progression", event=True)
    patients = pd.DataFrame({"patient_id": pd.Index(patient_ids)})
    unknown = pd.Index(events["patient_id"].unique()).difference(patients["patient_id"])
    if len(unknown):
        raise ValueError(f"{source}: {len(unknown)} patient(s) are not in the cohort (first: {list(unknown[:3])})")
    return progression_sequences(events, patients, ties=ties, random_state=random_state)


def truth_agreement(
    observed: SequenceClustering, observed_sequences: ProgressionSequences, true_sequences: ProgressionSequences
) -> dict:
    """Cluster the true sequences like ``observed`` and compare the groupings.

    Returns ``true_clustering`` (the fit), ``ari_all`` (every patient, "No progression" a label of its own),
    ``ari_progressed`` (patients who progress both in the observed and in the true sequences; NaN when fewer
    than two), ``n_progressed_both``, ``crosstab`` (observed group x true group, patients) and ``profile`` (per
    observed group: patients, mean observed and mean true progressing organs, the share whose true first organ
    class matches the observed one, and the share that truly progresses in one organ only).
    """
    true_fit = SequenceClustering(
        n_clusters=observed.n_clusters,
        encoding=observed.encoding,
        max_rank=observed.max_rank,
        n_init=observed.n_init,
        random_state=observed.random_state,
        majority=observed.majority,
        many_organs=observed.many_organs,
    ).fit(true_sequences)
    seen, true = observed.labels_, true_fit.labels_.reindex(observed.labels_.index).fillna(NO_PROGRESSION)
    both = seen.index[(seen != NO_PROGRESSION) & (true != NO_PROGRESSION)]
    ari_both = adjusted_rand_score(seen[both], true[both]) if len(both) >= 2 else np.nan
    crosstab = pd.crosstab(seen.rename("observed group"), true.rename("true group"))

    seen_info = observed_sequences.patients.set_index("patient_id")[["n_organs", "first_organs"]]
    true_info = true_sequences.patients.set_index("patient_id")[["n_organs", "first_organs"]]
    table = pd.DataFrame(
        {
            "group": seen,
            "observed_organs": seen_info["n_organs"].reindex(seen.index),
            "true_organs": true_info["n_organs"].reindex(seen.index).fillna(0),
            "same_first": _first_class(seen_info["first_organs"].reindex(seen.index))
            == _first_class(true_info["first_organs"].reindex(seen.index)),
        }
    )
    table = table[table["group"] != NO_PROGRESSION]
    grouped = table.groupby("group", sort=False)
    profile = (
        pd.DataFrame(
            {
                "patients": grouped.size(),
                "mean_observed_organs": grouped["observed_organs"].mean(),
                "mean_true_organs": grouped["true_organs"].mean(),
                "share_true_single_organ": grouped["true_organs"].agg(lambda s: float((s == 1).mean())),
                "share_same_first_class": grouped["same_first"].mean(),
            }
        )
        .rename_axis("observed group")
        .reset_index()
    )
    return {
        "true_clustering": true_fit,
        "ari_all": float(adjusted_rand_score(seen, true)),
        "ari_progressed": float(ari_both),
        "n_progressed_both": len(both),
        "crosstab": crosstab,
        "profile": profile,
    }


def _first_class(first_organs: pd.Series) -> pd.Series:
    """'liver', 'lung' or 'other' of a patient's first progressive organs ('liver+bone' counts as liver)."""

    def klass(text: str) -> str:
        classes = {first_organ_class(organ) for organ in text.split("+") if organ}
        return next((c for c in ("liver", "lung", "other") if c in classes), "")

    return first_organs.fillna("").map(klass)
