"""Organ progression sequences, their k-means clusters and the choice of k (paper: Fig. 4, Fig. 5,
Supplementary Figs. 7-10).

    sequences = progression_sequences(lesion_events, patients)          # ties="shared" by default
    clustering = SequenceClustering(n_clusters=5, random_state=0).fit(sequences)
    clustering.labels_                                                  # patient -> group name
    evaluate_k(clustering.encoded_, patients)                           # elbow, silhouette, AIC, BIC, C-index
    clustering_stability(clustering.encoded_)                           # adjusted Rand index across seeds, resamples
    hetero_subclusters(clustering, sequences)                           # Supplementary Fig. 9
    sequence_counts(sequences, clustering.labels_)                      # heatmap of Fig. 4a
    interval_table(sequences, clustering.labels_)                       # box plots of Fig. 4c
"""

from lesionmap.sequence.cluster import (
    DEFAULT_N_INIT,
    DEFAULT_SILHOUETTE_SAMPLE,
    SequenceClustering,
    Subclusters,
    clustering_stability,
    evaluate_k,
    hetero_subclusters,
    information_criteria,
)
from lesionmap.sequence.encode import ENCODINGS, encode_sequences, softmax_rows
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
    name_clusters,
)
from lesionmap.sequence.sequences import (
    FIRST_ORGAN_CLASSES,
    INTERVAL_LABELS,
    TIE_RULES,
    ProgressionSequences,
    first_organ_class,
    progression_intervals,
    progression_sequences,
)
from lesionmap.sequence.summaries import (
    BOX_PERCENTILES,
    group_sizes,
    interval_quantiles,
    interval_table,
    sequence_counts,
    with_groups,
)

__all__ = [
    "BOX_PERCENTILES",
    "DEFAULT_N_INIT",
    "DEFAULT_SILHOUETTE_SAMPLE",
    "ENCODINGS",
    "FIRST_ORGAN_CLASSES",
    "GROUP_ORDER",
    "HETERO_ORGAN",
    "INTERVAL_LABELS",
    "LIVER_FIRST",
    "LUNG_FIRST",
    "MANY_ORGANS",
    "MONO_ORGAN",
    "NO_PROGRESSION",
    "OTHER_FIRST",
    "ProgressionSequences",
    "SequenceClustering",
    "Subclusters",
    "TIE_RULES",
    "cluster_composition",
    "clustering_stability",
    "encode_sequences",
    "evaluate_k",
    "first_organ_class",
    "group_sizes",
    "hetero_subclusters",
    "information_criteria",
    "interval_quantiles",
    "interval_table",
    "name_clusters",
    "progression_intervals",
    "progression_sequences",
    "sequence_counts",
    "softmax_rows",
    "with_groups",
]
