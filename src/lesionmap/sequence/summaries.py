"""Aggregates of progression sequences for the charts (Altair inlines its data, so aggregate here first).

- ``sequence_counts``: per group, rank and organ, the number of patients (Fig. 4a, Fig. 5c-e heatmaps, shown as
  log10(n + 1));
- ``interval_table``: the progression intervals of every patient in long form, with the group (Fig. 4c, 5f-h);
- ``interval_quantiles``: the 10th, 25th, 50th, 75th and 90th percentiles of those intervals (the paper's boxes
  run from the 25th to the 75th percentile, whiskers from the 10th to the 90th);
- ``group_sizes``: patients per group, optionally per treatment, with shares (Fig. 5b);
- ``with_groups``: the patients table with a group column, for survival statistics and charts;
- ``gaps_by_first_organ``: the gap from the 1st to the 2nd progressing organ by first-organ class, without any
  clustering (whether liver-first disease progresses faster after its first progression, in any sequences:
  observed or a simulation's true ones);
- ``gaps_by_first_and_second_organ``: the same gap by the classes of the first and the second organ (which
  organ follows, and how soon).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lesionmap.sequence.naming import GROUP_ORDER
from lesionmap.sequence.sequences import (
    FIRST_ORGAN_CLASSES,
    INTERVAL_LABELS,
    ProgressionSequences,
    first_organ_class,
    progression_intervals,
)

#: Percentiles of ``interval_quantiles`` (box: 25-75, whiskers: 10-90, as the paper's figures).
BOX_PERCENTILES = (10, 25, 50, 75, 90)


def _group_categories(labels: pd.Series) -> list[str]:
    present = pd.unique(labels.dropna())
    known = [g for g in GROUP_ORDER if g in present]
    return known + sorted((g for g in present if g not in known), key=str)


def sequence_counts(
    sequences: ProgressionSequences, labels: pd.Series, max_rank: int | None = None, organs=None
) -> pd.DataFrame:
    """Patients with organ o progressing at rank r, per group: group, rank, organ, n, log10_n_plus_1.

    The grid is complete (every group x rank x organ, zeros included) so a heatmap shows empty cells.
    ``labels`` maps patient_id to a group (``SequenceClustering.labels_``); groups without progression have no
    rows. ``max_rank`` limits the ranks shown (the largest observed by default); ``organs`` fixes their order.
    """
    table = sequences.organs.assign(group=sequences.organs["patient_id"].map(labels))
    if table["group"].isna().any():
        raise ValueError(f"{table.loc[table['group'].isna(), 'patient_id'].nunique()} patient(s) have no group label")
    n_ranks = int(max_rank) if max_rank is not None else sequences.max_rank
    organ_names = list(organs) if organs is not None else sorted(pd.unique(table["organ"]), key=str)
    groups = _group_categories(table["group"])
    counts = table[table["rank"] <= n_ranks].groupby(["group", "rank", "organ"]).size()
    grid = pd.MultiIndex.from_product([groups, range(1, n_ranks + 1), organ_names], names=["group", "rank", "organ"])
    out = counts.reindex(grid, fill_value=0).rename("n").reset_index()
    out["log10_n_plus_1"] = np.log10(out["n"] + 1.0)
    return out


def interval_table(sequences: ProgressionSequences, labels: pd.Series | None = None, orders: int = 4) -> pd.DataFrame:
    """Progression intervals in long form: patient_id, group (when ``labels`` is given), interval, days.

    Intervals are those of ``progression_intervals`` ('1st', '2nd-1st', ..., 'average'); a patient contributes
    only the intervals it has (no row for a 4th-3rd gap of a patient with two progressing organs).
    """
    wide = progression_intervals(sequences, orders=orders)
    names = [c for c in wide.columns if not c.startswith("day_")]
    long = (
        wide[names]
        .rename_axis("patient_id")
        .reset_index()
        .melt(id_vars="patient_id", var_name="interval", value_name="days")
        .dropna(subset=["days"])
    )
    order = [label for label in INTERVAL_LABELS if label in names] + [n for n in names if n not in INTERVAL_LABELS]
    long["interval"] = pd.Categorical(long["interval"], categories=order, ordered=True)
    if labels is not None:
        long.insert(1, "group", long["patient_id"].map(labels).to_numpy())
    sort = ["group", "interval", "patient_id"] if labels is not None else ["interval", "patient_id"]
    return long.sort_values(sort, kind="stable").reset_index(drop=True)


def interval_quantiles(intervals: pd.DataFrame, by=("group", "interval"), value: str = "days") -> pd.DataFrame:
    """Box-plot statistics per stratum: n, p10, p25, median, p75, p90 (linear interpolation)."""
    keys = list(by)
    grouped = intervals.groupby(keys, observed=True, sort=True)[value]
    quantiles = grouped.quantile([p / 100 for p in BOX_PERCENTILES]).unstack()
    quantiles.columns = ["p10", "p25", "median", "p75", "p90"]
    quantiles.insert(0, "n", grouped.size())
    return quantiles.reset_index()


def group_sizes(labels: pd.Series, patients: pd.DataFrame | None = None, by: str | None = None) -> pd.DataFrame:
    """Patients per group (and per ``by`` column of ``patients``, e.g. treatment_group) with shares.

    Columns: [by], group, n, share (of the patients in that ``by`` level, no-progression group included).
    """
    frame = labels.rename("group").rename_axis("patient_id").reset_index()
    if by is not None:
        if patients is None or by not in patients.columns:
            raise ValueError(f"group_sizes by {by!r} needs a patients table with that column")
        frame = frame.merge(patients[["patient_id", by]], on="patient_id", how="left", validate="one_to_one")
    keys = ([by] if by is not None else []) + ["group"]
    counts = frame.groupby(keys, dropna=False).size().rename("n").reset_index()
    totals = counts.groupby(by, dropna=False)["n"].transform("sum") if by is not None else counts["n"].sum()
    counts["share"] = counts["n"] / totals
    counts["group"] = pd.Categorical(counts["group"], categories=_group_categories(counts["group"]), ordered=True)
    return counts.sort_values(keys, kind="stable").reset_index(drop=True)


def with_groups(patients: pd.DataFrame, labels: pd.Series, name: str = "group") -> pd.DataFrame:
    """The patients table with a categorical ``name`` column holding each patient's group (GROUP_ORDER first)."""
    table = patients.copy()
    values = table["patient_id"].map(labels)
    if values.isna().any():
        raise ValueError(f"{int(values.isna().sum())} patient(s) have no group label")
    table[name] = pd.Categorical(values, categories=_group_categories(values), ordered=True)
    return table


def gaps_by_first_organ(sequences: ProgressionSequences, n_organs=(2, 3)) -> pd.DataFrame:
    """Median gap (days) from the 1st to the 2nd progressing organ by the class of the first organ.

    Patients progressing in ``n_organs`` organs (the First groups' range by default) whose first rank holds one
    organ, or organs of one class, count under that class (liver, lung, other); a first rank across classes is
    left out. Columns: first_organ, patients, median_gap, p25, p75 (one row per class, classes without patients
    included with NaN).
    """
    table = sequences.patients.set_index("patient_id")
    chosen = table.index[table["n_organs"].isin(list(n_organs))]
    first = sequences.organs[(sequences.organs["rank"] == 1) & sequences.organs["patient_id"].isin(chosen)]
    classes = (
        first.assign(klass=first["organ"].map(first_organ_class))
        .groupby("patient_id")["klass"]
        .agg(lambda s: s.iat[0] if s.nunique() == 1 else "")
    )
    gaps = progression_intervals(sequences.subset(chosen), orders=2)["2nd-1st"]
    frame = pd.DataFrame({"klass": classes, "gap": gaps.reindex(classes.index)})
    rows = []
    for klass in FIRST_ORGAN_CLASSES:
        values = frame.loc[frame["klass"] == klass, "gap"].dropna().to_numpy(float)
        quartiles = np.percentile(values, [25, 50, 75]) if len(values) else [np.nan] * 3
        rows.append(
            {
                "first_organ": klass,
                "patients": len(values),
                "median_gap": quartiles[1],
                "p25": quartiles[0],
                "p75": quartiles[2],
            }
        )
    return pd.DataFrame(rows)


def gaps_by_first_and_second_organ(sequences: ProgressionSequences, n_organs=(2, 3)) -> pd.DataFrame:
    """The gap from the 1st to the 2nd progressing organ by the classes of both organs: what follows a first
    progression, and how soon.

    Patients as ``gaps_by_first_organ`` (``n_organs`` organs, each of their first two ranks within one class).
    Columns: first_organ, second_organ, patients, share (of the first class's patients), median_gap, p25, p75;
    one row per pair of classes that has patients.
    """
    table = sequences.patients.set_index("patient_id")
    chosen = table.index[table["n_organs"].isin(list(n_organs))]
    early = sequences.organs[(sequences.organs["rank"] <= 2) & sequences.organs["patient_id"].isin(chosen)]
    classes = (
        early.assign(klass=early["organ"].map(first_organ_class))
        .groupby(["patient_id", "rank"])["klass"]
        .agg(lambda s: s.iat[0] if s.nunique() == 1 else "")
        .unstack("rank")
        .reindex(columns=[1, 2])
    )
    gaps = progression_intervals(sequences.subset(chosen), orders=2)["2nd-1st"]
    frame = pd.DataFrame(
        {"first_organ": classes[1], "second_organ": classes[2], "gap": gaps.reindex(classes.index)}
    ).dropna()
    frame = frame[(frame["first_organ"] != "") & (frame["second_organ"] != "")]
    rows = []
    for first in FIRST_ORGAN_CLASSES:
        part = frame[frame["first_organ"] == first]
        for second in FIRST_ORGAN_CLASSES:
            values = part.loc[part["second_organ"] == second, "gap"].to_numpy(float)
            if not len(values):
                continue
            p25, median, p75 = np.percentile(values, [25, 50, 75])
            rows.append(
                {
                    "first_organ": first,
                    "second_organ": second,
                    "patients": len(values),
                    "share": len(values) / len(part),
                    "median_gap": median,
                    "p25": p25,
                    "p75": p75,
                }
            )
    columns = ["first_organ", "second_organ", "patients", "share", "median_gap", "p25", "p75"]
    return pd.DataFrame(rows, columns=columns)
