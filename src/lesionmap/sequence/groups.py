"""What Chapter 4 reports about the progression groups: their names checked, their sizes and survival beside the
paper's, the progression intervals compared across groups, and the groups each encoding gives.

- ``naming_check``: one row per k-means cluster with its name, the paper group it claims (``base_name``) and
  whether another cluster claims the same group (a duplicate is never silent: it is a column, and
  ``duplicated_names`` lists them);
- ``size_comparison``: our group sizes beside the paper's (whose five sizes sum to 4,885, more than its 4,308
  patients: shares are given of both);
- ``os_by_group``: Kaplan-Meier medians per group beside the paper's, and the log-rank test;
- ``interval_tests``: Kruskal-Wallis across groups for each progression interval, and Dunn's pairs;
- ``encoding_comparison``: the groups that each encoding gives at one k (how the chapter asks "why these groups");
- ``naming_sensitivity``: the names the rule gives the same clusters when the many-organ threshold moves
  (3 against 4 organs);
- ``paper_class_ranking``: whether a per-group score (Chapter 6's one-vs-rest AUC) ranks the Mono- and
  Hetero-Organ groups above the First groups, as the paper found (Supplementary Fig. 11).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from lesionmap.sequence.naming import (
    GROUP_ORDER,
    HETERO_ORGAN,
    LIVER_FIRST,
    LUNG_FIRST,
    MANY_ORGANS,
    MONO_ORGAN,
    NO_PROGRESSION,
    OTHER_FIRST,
    cluster_composition,
    group_list,
    name_clusters,
)
from lesionmap.stats import dunn, km_medians, kruskal, logrank

#: The paper's group sizes (Results, "Progression sequence across organs predicts patient survival").
PAPER_GROUP_SIZES = {MONO_ORGAN: 1425, HETERO_ORGAN: 801, LUNG_FIRST: 577, LIVER_FIRST: 1194, OTHER_FIRST: 888}

#: The paper's cohort: its group sizes above sum to more than this (an inconsistency of the article).
PAPER_COHORT = 4308

#: The paper's median overall survival by group, days (Results and Fig. 4b).
PAPER_OS_MEDIANS = {HETERO_ORGAN: 385, MONO_ORGAN: 653, LIVER_FIRST: 450, LUNG_FIRST: 679, OTHER_FIRST: 581}

#: The First groups' sizes in Fig. 4c (legend), which differ from the Results' sizes for Other- and Liver-First.
PAPER_FIG4C_SIZES = {LUNG_FIRST: 577, OTHER_FIRST: 639, LIVER_FIRST: 930}

_NUMBERED = re.compile(r"^(?P<base>.*?) (?P<number>\d+)$")


def base_name(name: str) -> str:
    """The paper group a cluster name claims: 'Other-First 2' -> 'Other-First' (other names unchanged)."""
    match = _NUMBERED.match(str(name))
    return match.group("base") if match and match.group("base") in GROUP_ORDER else str(name)


def paper_class_ranking(scores: pd.Series) -> tuple[bool | None, str]:
    """The paper's ranking of the groups by a score (higher is better): "Mono- and Hetero-Organ are predicted
    better than the First groups". Holds when every group claiming Mono-Organ or Hetero-Organ (numbered
    duplicates included, by ``base_name``) scores above every First group. Returns (holds, a sentence);
    holds is None when a Mono-Organ, a Hetero-Organ or any First group is missing.
    """
    claims = scores.index.map(base_name)
    firsts = claims.isin([LIVER_FIRST, LUNG_FIRST, OTHER_FIRST])
    missing = sorted({MONO_ORGAN, HETERO_ORGAN} - set(claims))
    if missing or not firsts.any():
        absent = " and no ".join(missing) if missing else "First"
        return None, f"this clustering has no {absent} group, so the paper's ranking cannot be checked"
    weakest = scores[claims.isin([MONO_ORGAN, HETERO_ORGAN])].astype(float).idxmin()
    strongest_first = scores[firsts].astype(float).idxmax()
    if scores[weakest] > scores[strongest_first]:
        return True, (
            "every Mono-Organ and Hetero-Organ group is told apart better than every First group "
            f"(the weakest, {weakest}, {scores[weakest]:.2f}; the best First group, {strongest_first}, "
            f"{scores[strongest_first]:.2f}), as the paper found"
        )
    return False, (
        f"the best First group, {strongest_first} ({scores[strongest_first]:.2f}), is told apart at least as well "
        f"as {weakest} ({scores[weakest]:.2f}), so the paper's ranking does not hold here"
    )


def duplicated_names(names: Iterable[str]) -> dict[str, list[str]]:
    """Paper groups claimed by more than one cluster: {group: [its cluster names, sorted]}."""
    claimed: dict[str, list[str]] = {}
    for name in pd.unique(pd.Series(list(names), dtype=object)):
        claimed.setdefault(base_name(name), []).append(str(name))
    return {base: sorted(found) for base, found in claimed.items() if len(found) > 1}


def naming_check(composition: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """One row per cluster: name, group (the paper group claimed), duplicate (another cluster claims it),
    basis (the rule that fired), n, mean_organs, share_mono, share_many, first_liver, first_lung, first_other."""
    table = names[["name"]].join(
        composition[["n", "mean_organs", "share_mono", "share_many", "first_liver", "first_lung", "first_other"]]
    )
    table.insert(1, "group", table["name"].map(base_name))
    table.insert(2, "duplicate", table["group"].duplicated(keep=False))
    table.insert(3, "basis", names["basis"])
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    table = table.assign(_order=table["group"].map(order).fillna(len(order)))
    return table.sort_values(["_order", "name"]).drop(columns="_order").reset_index(names=["cluster"])


def size_comparison(counts: pd.Series) -> pd.DataFrame:
    """Our group sizes beside the paper's: group, n, share (of our cohort), paper_n, paper_share_of_cohort
    (of 4,308) and paper_share_of_sum (of the 4,885 its sizes add up to). Numbered clusters keep their own row."""
    ours = counts.rename("n")
    names = [g for g in GROUP_ORDER if g in ours.index or g in PAPER_GROUP_SIZES]
    names += sorted((g for g in ours.index if g not in names), key=str)
    paper_total = sum(PAPER_GROUP_SIZES.values())
    table = pd.DataFrame({"group": names})
    table["n"] = table["group"].map(ours).fillna(0).astype(int)
    table["share"] = table["n"] / ours.sum()
    table["paper_n"] = table["group"].map(PAPER_GROUP_SIZES).astype("Int64")
    table["paper_share_of_cohort"] = table["paper_n"].astype(float) / PAPER_COHORT
    table["paper_share_of_sum"] = table["paper_n"].astype(float) / paper_total
    return table


def os_by_group(
    table: pd.DataFrame,
    group: str = "group",
    duration: str = "os_days",
    event: str = "os_event",
    include_no_progression: bool = False,
) -> tuple[pd.DataFrame, object]:
    """Kaplan-Meier medians per group with the paper's beside them, and the log-rank test across the groups.

    Patients with no progression are left out unless ``include_no_progression`` (the paper's groups are
    progression groups)."""
    data = table if include_no_progression else table[table[group].astype(str) != NO_PROGRESSION]
    data = data.assign(**{group: data[group].astype(str)})
    medians = km_medians(data, duration, event, group)
    medians["paper_median"] = medians["group"].map(PAPER_OS_MEDIANS).astype(float)
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    medians = medians.sort_values("group", key=lambda s: s.map(base_name).map(order).fillna(99) + s.str.len() / 1e3)
    return medians.reset_index(drop=True), logrank(data, duration, event, group)


def interval_tests(
    intervals: pd.DataFrame, group: str = "group", value: str = "days", p_adjust: str | None = "bonferroni"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per progression interval, Kruskal-Wallis across ``group`` (interval, statistic, df, n, p) and Dunn's
    pairs (interval, group_a, group_b, z, p, p_adjusted); intervals with fewer than two groups are skipped."""
    tests, pairs = [], []
    for interval, part in intervals.groupby("interval", observed=True, sort=True):
        part = part.assign(**{group: part[group].astype(str)})
        if part[group].nunique() < 2:
            continue
        result = kruskal(part, value, group)
        tests.append(
            {"interval": str(interval), "statistic": result.statistic, "df": result.df, "n": result.n, "p": result.p}
        )
        pairs.append(dunn(part, value, group, p_adjust=p_adjust).assign(interval=str(interval)))
    pair_table = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame()
    if len(pair_table):
        pair_table = pair_table[["interval", "group_a", "group_b", "n_a", "n_b", "z", "p", "p_adjusted"]]
    return pd.DataFrame(tests), pair_table


def encoding_comparison(
    sequences, encodings: Iterable[str], n_clusters: int = 5, random_state=0, max_rank: int | None = None
) -> pd.DataFrame:
    """The clusters each encoding gives: encoding, groups (names with sizes), paper_groups_found (of the five),
    duplicates (clusters claiming a group another cluster claims), mono_cluster_share (largest share of
    single-organ patients in one cluster) and many_cluster_share (the same for 4 or more organs)."""
    from lesionmap.sequence.cluster import SequenceClustering

    rows = []
    for encoding in encodings:
        fit = SequenceClustering(
            n_clusters=n_clusters, encoding=encoding, random_state=random_state, max_rank=max_rank
        ).fit(sequences)
        names = fit.names_.join(fit.composition_[["n", "share_mono", "share_many"]])
        found = {base_name(n) for n in names["name"]} & set(PAPER_GROUP_SIZES)
        rows.append(
            {
                "encoding": encoding,
                "groups": group_list(names),
                "paper_groups_found": len(found),
                "duplicates": int(sum(len(v) - 1 for v in duplicated_names(names["name"]).values())),
                "mono_cluster_share": float(names["share_mono"].max()),
                "many_cluster_share": float(names["share_many"].max()),
            }
        )
    return pd.DataFrame(rows)


def naming_sensitivity(
    sequences, clusters: pd.Series, thresholds: Iterable[int] = (3, MANY_ORGANS), majority: float = 0.5
) -> pd.DataFrame:
    """The names of the same k-means clusters under each many-organ threshold of the naming rule.

    ``clusters`` maps patient_id to a k-means label (``SequenceClustering.clusters_``). One row per cluster: cluster,
    n, and per threshold t: ``share_many_t`` (patients progressing in t or more organs) and ``name_t``; ``changed``
    is True when the names differ between thresholds. Clusters are ordered as ``naming_check`` orders them at the
    last threshold.
    """
    thresholds = list(thresholds)
    if not thresholds:
        raise ValueError("thresholds is empty")
    table = None
    for threshold in thresholds:
        composition = cluster_composition(sequences, clusters, many_organs=threshold)
        names = name_clusters(composition, majority=majority)
        part = pd.DataFrame({f"share_many_{threshold}": composition["share_many"], f"name_{threshold}": names["name"]})
        table = composition[["n"]].join(part) if table is None else table.join(part)
    name_columns = [f"name_{t}" for t in thresholds]
    table["changed"] = table[name_columns].nunique(axis=1) > 1
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    last = table[name_columns[-1]]
    table = table.assign(_order=last.map(base_name).map(order).fillna(len(order)), _name=last)
    return table.sort_values(["_order", "_name"]).drop(columns=["_order", "_name"]).reset_index()


def baseline_metastases(lesions: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Supplementary Fig. 8: each patient's baseline metastases (target and non-target lesions, new lesions left
    out): patient_id, group, lesions, organs (involved organs); patients with none count 0."""
    missing = [c for c in ("patient_id", "organ", "kind") if c not in lesions.columns]
    if missing:
        raise ValueError(f"lesions lacks column(s) {missing}")
    baseline = lesions[lesions["kind"].isin(["target", "non-target"])]
    per_patient = baseline.groupby("patient_id").agg(lesions=("organ", "size"), organs=("organ", "nunique"))
    table = per_patient.reindex(labels.index, fill_value=0).rename_axis("patient_id").reset_index()
    table.insert(1, "group", labels.to_numpy())
    return table
