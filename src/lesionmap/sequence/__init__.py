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

from lesionmap.sequence.characteristics import group_characteristics
from lesionmap.sequence.cluster import (
    DEFAULT_N_INIT,
    DEFAULT_SILHOUETTE_SAMPLE,
    SCREEN_N_INIT,
    SequenceClustering,
    Subclusters,
    clustering_stability,
    evaluate_k,
    fit_kmeans,
    hetero_members,
    hetero_subclusters,
    information_criteria,
    restart_sensitivity,
)
from lesionmap.sequence.encode import ENCODINGS, encode_sequences, softmax_rows
from lesionmap.sequence.groups import (
    PAPER_COHORT,
    PAPER_FIG4C_SIZES,
    PAPER_GROUP_SIZES,
    PAPER_OS_MEDIANS,
    base_name,
    baseline_metastases,
    duplicated_names,
    encoding_comparison,
    interval_tests,
    naming_check,
    naming_sensitivity,
    os_by_group,
    size_comparison,
)
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
    gaps_by_first_organ,
    group_sizes,
    interval_quantiles,
    interval_table,
    sequence_counts,
    with_groups,
)
from lesionmap.sequence.treatment import (
    PAPER_SPARED_ORGANS,
    chartable_hazard_ratios,
    first_organ_by_treatment,
    intervals_by_treatment,
    organ_hazard_ratios,
    organ_hr_differences,
    organ_lrt,
    os_by_treatment,
    proportions_by_treatment,
    simulated_treatment_effects,
)
from lesionmap.sequence.truth import TRUE_SEQUENCE_COLUMNS, sequences_from_organ_days, truth_agreement
from lesionmap.sequence.verdicts import gap_comparison, median_comparison

__all__ = [
    "PAPER_SPARED_ORGANS",
    "BOX_PERCENTILES",
    "DEFAULT_N_INIT",
    "DEFAULT_SILHOUETTE_SAMPLE",
    "SCREEN_N_INIT",
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
    "PAPER_COHORT",
    "PAPER_FIG4C_SIZES",
    "PAPER_GROUP_SIZES",
    "PAPER_OS_MEDIANS",
    "ProgressionSequences",
    "SequenceClustering",
    "Subclusters",
    "TIE_RULES",
    "TRUE_SEQUENCE_COLUMNS",
    "base_name",
    "baseline_metastases",
    "chartable_hazard_ratios",
    "cluster_composition",
    "clustering_stability",
    "duplicated_names",
    "encode_sequences",
    "encoding_comparison",
    "evaluate_k",
    "fit_kmeans",
    "first_organ_by_treatment",
    "first_organ_class",
    "gap_comparison",
    "group_characteristics",
    "gaps_by_first_organ",
    "group_sizes",
    "hetero_members",
    "hetero_subclusters",
    "information_criteria",
    "restart_sensitivity",
    "interval_quantiles",
    "interval_table",
    "interval_tests",
    "intervals_by_treatment",
    "median_comparison",
    "name_clusters",
    "naming_check",
    "naming_sensitivity",
    "organ_hazard_ratios",
    "organ_hr_differences",
    "organ_lrt",
    "os_by_group",
    "os_by_treatment",
    "progression_intervals",
    "progression_sequences",
    "proportions_by_treatment",
    "sequence_counts",
    "sequences_from_organ_days",
    "simulated_treatment_effects",
    "size_comparison",
    "softmax_rows",
    "truth_agreement",
    "with_groups",
]
