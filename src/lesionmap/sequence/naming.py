"""Names of progression clusters, read from what the clusters contain, never from their k-means position.

``cluster_composition`` summarises each cluster (how many organs its patients progress in, which organ class
progresses first); ``name_clusters`` applies the rule, in this order, with ``majority`` = 1/2 by default:

1. Mono-Organ: at least a majority of its patients progress in exactly one organ;
2. Liver-First / Lung-First: when at least a majority share the liver (or the lung) as first progressive organ
   and that share is at least the share progressing in ``many_organs`` (4) or more organs (a patient whose first
   rank holds m organs counts 1/m for each). The paper names its groups by "progressive organ number and
   first-progressive organ", and its First groups hold patients progressing in 2, 3 and more organs (its Fig. 4c
   shows 2nd, 3rd and 4th progressions), so a cluster whose patients nearly all progress first in the liver is
   Liver-First even when many of them progress widely;
3. Hetero-Organ: at least a majority progress in ``many_organs`` or more organs. The paper's Discussion places
   the Hetero-Organ patients at "> 4 progressive organs" and the others at "few (< 4)"; a threshold of 2 or 3
   would name First groups Hetero (``naming_sensitivity`` in ``lesionmap.sequence.groups`` shows 3 against 4).
   "Other" pools every organ but liver and lung, so sharing it is no signature that outweighs many organs;
4. Liver-First / Lung-First / Other-First: the first-organ class that at least a majority share;
5. Hetero-Organ otherwise: several organs with a mixed first organ.

Duplicates: when several clusters earn one name, the one with the strongest claim (the share that earned it;
for rule 4 one minus the largest first-organ share) keeps it and the others are numbered by decreasing claim
("Liver-First 2"); equal claims go to the larger cluster, then to the smaller cluster id.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lesionmap.sequence.sequences import FIRST_ORGAN_CLASSES, ProgressionSequences, first_organ_class

MONO_ORGAN = "Mono-Organ"
HETERO_ORGAN = "Hetero-Organ"
LIVER_FIRST = "Liver-First"
LUNG_FIRST = "Lung-First"
OTHER_FIRST = "Other-First"
NO_PROGRESSION = "No progression"

#: The paper's groups in the order of its tables and charts, then the patients who never progressed.
GROUP_ORDER = (MONO_ORGAN, HETERO_ORGAN, LIVER_FIRST, LUNG_FIRST, OTHER_FIRST, NO_PROGRESSION)

_FIRST_NAMES = {"liver": LIVER_FIRST, "lung": LUNG_FIRST, "other": OTHER_FIRST}

#: Organ count from which a patient counts as progressing in many organs (rule 2).
MANY_ORGANS = 4


def cluster_composition(
    sequences: ProgressionSequences, clusters: pd.Series, many_organs: int = MANY_ORGANS
) -> pd.DataFrame:
    """What each cluster holds, one row per cluster (index: cluster).

    ``clusters`` maps patient_id to a cluster label (patients who progressed). Columns: n, mean_organs,
    share_mono (exactly one organ), share_many (``many_organs`` or more), first_liver, first_lung, first_other
    (first-organ class shares, summing to 1), top_sequence (the most frequent sequence) and its share.
    """
    clusters = clusters.rename("cluster")
    table = sequences.patients.set_index("patient_id").loc[clusters.index, ["n_organs", "sequence"]]
    if (table["n_organs"] == 0).any():
        raise ValueError("clusters include patients with no progression; they have no composition")
    table = table.assign(cluster=clusters.to_numpy())
    grouped = table.groupby("cluster", sort=True)
    composition = pd.DataFrame(
        {
            "n": grouped.size(),
            "mean_organs": grouped["n_organs"].mean(),
            "share_mono": grouped["n_organs"].agg(lambda s: float(np.mean(s == 1))),
            "share_many": grouped["n_organs"].agg(lambda s: float(np.mean(s >= many_organs))),
        }
    )
    first = sequences.organs[(sequences.organs["rank"] == 1) & sequences.organs["patient_id"].isin(clusters.index)]
    weight = 1.0 / first.groupby("patient_id")["organ"].transform("size").to_numpy(float)
    shares = (
        pd.DataFrame(
            {
                "cluster": first["patient_id"].map(clusters).to_numpy(),
                "class": first["organ"].map(first_organ_class).to_numpy(),
                "weight": weight,
            }
        )
        .pivot_table(index="cluster", columns="class", values="weight", aggfunc="sum", fill_value=0.0)
        .reindex(index=composition.index, columns=list(FIRST_ORGAN_CLASSES), fill_value=0.0)
    )
    for name in FIRST_ORGAN_CLASSES:
        composition[f"first_{name}"] = shares[name].to_numpy() / composition["n"].to_numpy()
    top = table.groupby(["cluster", "sequence"]).size().rename("count").reset_index()
    top = top.sort_values(["cluster", "count", "sequence"], ascending=[True, False, True]).drop_duplicates("cluster")
    top = top.set_index("cluster")
    composition["top_sequence"] = top["sequence"]
    composition["top_sequence_share"] = top["count"] / composition["n"]
    composition.index.name = "cluster"
    return composition


def name_clusters(composition: pd.DataFrame, majority: float = 0.5) -> pd.DataFrame:
    """Name each cluster by the rule of the module text: columns name, basis (the rule that fired), claim."""
    first = composition[[f"first_{c}" for c in FIRST_ORGAN_CLASSES]].to_numpy(float)
    dominant = np.argmax(first, axis=1)  # equal shares go to liver, then lung, then other
    dominant_share = first[np.arange(len(first)), dominant]
    names, bases, claims = [], [], []
    for mono, many, klass, share in zip(
        composition["share_mono"], composition["share_many"], dominant, dominant_share, strict=True
    ):
        if mono >= majority:
            names.append(MONO_ORGAN), bases.append(f"share_mono {mono:.2f}"), claims.append(mono)
        elif FIRST_ORGAN_CLASSES[klass] != "other" and share >= majority and share >= many:
            name = FIRST_ORGAN_CLASSES[klass]
            names.append(_FIRST_NAMES[name]), bases.append(f"first_{name} {share:.2f}"), claims.append(share)
        elif many >= majority:
            names.append(HETERO_ORGAN), bases.append(f"share_many {many:.2f}"), claims.append(many)
        elif share >= majority:
            name = FIRST_ORGAN_CLASSES[klass]
            names.append(_FIRST_NAMES[name]), bases.append(f"first_{name} {share:.2f}"), claims.append(share)
        else:
            names.append(HETERO_ORGAN), bases.append(f"mixed first organ (max share {share:.2f})")
            claims.append(1.0 - share)
    named = pd.DataFrame(
        {
            "name": names,
            "basis": bases,
            "claim": claims,
            "n": composition["n"].to_numpy(),
            "label": composition.index.to_numpy(),
        },
        index=composition.index,
    )
    order = named.sort_values(["name", "claim", "n", "label"], ascending=[True, False, False, True])
    number = order.groupby("name", sort=False).cumcount().to_numpy() + 1
    order["name"] = [name if k == 1 else f"{name} {k}" for name, k in zip(order["name"], number, strict=True)]
    return order.loc[composition.index, ["name", "basis", "claim"]]


def group_list(names: pd.DataFrame) -> str:
    """ "Name (n), ..." of named clusters (columns ``name`` and ``n``), largest first."""
    names = names.sort_values("n", ascending=False)
    return ", ".join(f"{name} ({n:,})" for name, n in zip(names["name"], names["n"], strict=True))
