"""Numeric encodings of progression sequences for k-means (one row per patient who progressed).

- ``"onehot_softmax"`` (default, the authors' public scripts): one column per (organ, rank), 1 where the organ
  progressed at that rank, then each row passed through a softmax, exp(x) / sum(exp(x)). The softmax keeps the
  pattern but shrinks rows with many progressing organs less than rows with few (a one at weight e against
  zeros at weight 1), so the number of organs also moves a patient;
- ``"onehot"``: the same columns without the softmax;
- ``"rank_weighted"``: one column per organ, 1 / rank where it progressed, 0 where it did not: earlier
  progressions weigh more, and patients sharing an organ at neighbouring ranks stay close;
- ``"onehot_padded"``: the authors' columns plus one ``none@rank`` column per rank, 1 where the patient has no
  progressing organ at that rank, then the same row softmax. In the authors' columns two patients who progress
  in one organ each, liver and bone, share nothing, so no distance says "one organ"; with the ``none``
  columns they share every empty rank, and the number of progressing organs becomes a direction k-means can
  split on (Mono-Organ, Hetero-Organ). The softmax alone cannot do this: with d columns and m ones a row is
  (e - 1) / (m e + d - m) times the one-hot row plus a constant, a scale that varies by about 1.6% per organ
  for d = 100.

Columns are named ``organ@rank`` (one-hot encodings; ``none@rank`` too when padded) or by organ (rank-weighted). Ranks past ``max_rank``
are left out of one-hot encodings (their count is in ``attrs['ranks_left_out']``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lesionmap.sequence.sequences import ProgressionSequences

#: The encodings ``encode_sequences`` knows.
ENCODINGS = ("onehot_softmax", "onehot", "rank_weighted", "onehot_padded")


def softmax_rows(matrix: np.ndarray) -> np.ndarray:
    """Row-wise softmax exp(x) / sum(exp(x)), shifted by the row maximum for numerical safety."""
    shifted = np.exp(matrix - matrix.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def encode_sequences(
    sequences: ProgressionSequences,
    encoding: str = "onehot_softmax",
    max_rank: int | None = None,
    organs: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Encode the sequences of the patients who progressed (index: patient_id, in cohort order).

    ``organs`` fixes the organ columns and their order (to encode new patients like a fitted set; organs not
    listed are an error); by default the progressing organs, alphabetically. ``max_rank`` fixes the number of
    ranks of one-hot encodings; by default the largest rank observed.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}; got {encoding!r}")
    table = sequences.organs
    if not len(table):
        raise ValueError("no patient progressed: there is no sequence to encode")
    organ_names = list(organs) if organs is not None else sorted(pd.unique(table["organ"]), key=str)
    unknown = set(pd.unique(table["organ"])) - set(organ_names)
    if unknown:
        raise ValueError(f"organ(s) {sorted(unknown, key=str)} are not among the encoded organs {organ_names}")
    patients = sequences.progressed_ids
    rows = patients.get_indexer(table["patient_id"])
    organ_index = pd.Index(organ_names).get_indexer(table["organ"])
    ranks = table["rank"].to_numpy(int)

    if encoding == "rank_weighted":
        matrix = np.zeros((len(patients), len(organ_names)))
        matrix[rows, organ_index] = 1.0 / ranks
        return pd.DataFrame(matrix, index=patients, columns=organ_names)

    n_ranks = int(max_rank) if max_rank is not None else max(sequences.max_rank, 1)
    if n_ranks < 1:
        raise ValueError(f"max_rank must be at least 1; got {max_rank}")
    kept = ranks <= n_ranks
    matrix = np.zeros((len(patients), len(organ_names) * n_ranks))
    matrix[rows[kept], organ_index[kept] * n_ranks + ranks[kept] - 1] = 1.0
    columns = [f"{organ}@{rank}" for organ in organ_names for rank in range(1, n_ranks + 1)]
    if encoding == "onehot_padded":
        last_rank = sequences.patients.set_index("patient_id").loc[patients, "n_ranks"].to_numpy(int)
        empty = last_rank[:, None] < np.arange(1, n_ranks + 1)[None, :]
        matrix = np.hstack([matrix, empty.astype(float)])
        columns += [f"none@{rank}" for rank in range(1, n_ranks + 1)]
    if encoding in ("onehot_softmax", "onehot_padded"):
        matrix = softmax_rows(matrix)
    frame = pd.DataFrame(matrix, index=patients, columns=columns)
    frame.attrs["ranks_left_out"] = int((~kept).sum())
    return frame
