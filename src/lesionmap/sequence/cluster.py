"""k-means clustering of progression sequences, the choice of k, its stability, and Hetero-Organ sub-clusters.

``evaluate_k`` computes, for k = 1..14, what the paper used to choose k (Supplementary Fig. 7): the elbow
(inertia), the silhouette (k = 2..10), AIC and BIC, and the survival concordance of the clusters.
AIC and BIC use the likelihood of X-means (Pelleg & Moore 2000): k-means as a mixture of spherical Gaussians
with one shared variance and hard assignments. With n patients, d encoded columns, cluster sizes n_j and the
inertia W (within-cluster sum of squares),

    sigma^2 = W / (d (n - k)),
    log L = sum_j n_j log(n_j / n) - (n d / 2) log(2 pi sigma^2) - d (n - k) / 2,
    p = (k - 1) + k d + 1 (mixing proportions, centres, the variance),
    AIC = -2 log L + 2 p,   BIC = -2 log L + p log n.

The first term (the likelihood of the assignments) matters: without it, splitting a true cluster in two always
pays more than its penalty, and BIC keeps growing k even on perfectly spherical clusters.

``clustering_stability`` measures what the paper did not: whether the clusters come back (adjusted Rand index)
with other k-means seeds and on bootstrap resamples of the patients.

Restarts. Encoded sequences have several partitions of nearly equal inertia, and which one k-means++ reaches
depends on its start. On the default simulated cohort (the book's events), with 10 restarts (scikit-learn's
classic value, and the authors'), 8 k-means seeds gave 5 different sets of cluster names; with 50 or more
restarts all 8 gave one set. The cohorts of seeds 1 and 2 (events from the true target-lesion parameters) gave
3 and 4 sets with 10 restarts, one with 50 or more. So a reported partition takes ``DEFAULT_N_INIT`` = 300
restarts, and ``fit_kmeans`` fits the distinct encoded rows weighted by their counts (the same objective, a
third of the cost). The criteria and resampling fits, dozens of them, take ``SCREEN_N_INIT``; at the k a chapter
uses, ``evaluate_k`` takes the reported partition (``partitions``), so the criteria there describe the clusters
reported, not a cheaper fit that may be another partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from lesionmap.sequence.encode import ENCODINGS, encode_sequences
from lesionmap.sequence.naming import (
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
from lesionmap.sequence.sequences import FIRST_ORGAN_CLASSES, ProgressionSequences, first_organ_class
from lesionmap.stats import group_concordance

#: k-means restarts of a reported partition (the clusters, the Hetero-Organ sub-clusters), module text.
DEFAULT_N_INIT = 300

#: k-means restarts of each of the many fits that screen k and resample patients (``evaluate_k``,
#: ``clustering_stability``): a cheaper search, so their k = 5 fit may be a near-optimum the reported one is not
#: (``evaluate_k`` takes the reported partition at its k instead).
SCREEN_N_INIT = 50

#: Patients drawn (with the seed) to compute silhouettes; the exact score costs O(n^2) distances per k.
DEFAULT_SILHOUETTE_SAMPLE = 5000


def _kmeans(n_clusters: int, random_state, n_init: int) -> KMeans:
    return KMeans(n_clusters=n_clusters, n_init=n_init, random_state=random_state)


def fit_kmeans(
    X: np.ndarray, n_clusters: int, random_state=0, n_init: int = DEFAULT_N_INIT
) -> tuple[KMeans, np.ndarray]:
    """k-means on the distinct rows of ``X``, each weighted by how often it occurs; returns the fit and the label
    of every row of ``X``.

    Encoded sequences repeat (a few hundred "liver only" patients share one row), and k-means with a row weighted
    by its count has exactly the objective, centres and inertia of k-means on all rows, at a third of the cost
    per restart here, so the same time buys three times the restarts (module text: why restarts matter).
    """
    X = np.asarray(X, dtype=float)
    distinct, inverse, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    if len(distinct) < n_clusters:
        fit = _kmeans(n_clusters, random_state, n_init).fit(X)
        return fit, fit.labels_
    fit = _kmeans(n_clusters, random_state, n_init).fit(distinct, sample_weight=counts)
    return fit, fit.labels_[inverse.reshape(-1)]


def information_criteria(inertia: float, cluster_sizes, d: int) -> tuple[float, float]:
    """AIC and BIC of a k-means fit from its inertia, its cluster sizes and the dimension (module text)."""
    sizes = np.asarray(cluster_sizes, dtype=float)
    sizes = sizes[sizes > 0]
    n, k = sizes.sum(), len(sizes)
    if n <= k:
        return np.nan, np.nan
    with np.errstate(divide="ignore"):
        variance = inertia / (d * (n - k))
        loglik = np.sum(sizes * np.log(sizes / n)) - n * d / 2.0 * np.log(2.0 * np.pi * variance) - d * (n - k) / 2.0
    parameters = (k - 1) + k * d + 1
    return float(-2.0 * loglik + 2.0 * parameters), float(-2.0 * loglik + parameters * np.log(n))


def _survival_for(encoded: pd.DataFrame, survival: pd.DataFrame, duration: str, event: str) -> pd.DataFrame:
    missing = [c for c in (duration, event) if c not in survival.columns]
    if missing:
        raise ValueError(f"survival lacks column(s) {missing}")
    table = survival.set_index("patient_id") if "patient_id" in survival.columns else survival
    absent = encoded.index.difference(table.index)
    if len(absent):
        raise ValueError(f"{len(absent)} encoded patient(s) have no survival row (first: {list(absent[:3])})")
    return table.loc[encoded.index, [duration, event]]


def evaluate_k(
    encoded: pd.DataFrame,
    survival: pd.DataFrame | None = None,
    k_values: Iterable[int] = range(1, 15),
    silhouette_k: Iterable[int] = range(2, 11),
    random_state=0,
    n_init: int = SCREEN_N_INIT,
    silhouette_sample: int | None = DEFAULT_SILHOUETTE_SAMPLE,
    duration: str = "os_days",
    event: str = "os_event",
    partitions: Mapping[int, Iterable[int]] | None = None,
) -> pd.DataFrame:
    """The criteria for choosing k, one row per k: k, inertia, silhouette, aic, bic, concordance, fit.

    ``survival`` (patient_id or index, ``duration``, ``event``) adds Harrell's C of the clusters for overall
    survival (``lesionmap.stats.group_concordance``; in-sample, so it tends to grow with k). Silhouettes are
    computed for k in ``silhouette_k`` on ``silhouette_sample`` patients drawn with ``random_state`` (all when
    None or when fewer); NaN elsewhere. ``partitions`` maps a k to cluster labels (one per encoded row) to use
    there instead of a screening fit of ``n_init`` restarts: the reported clusters, so that the row of the k a
    chapter uses describes the clusters it reports. ``fit`` says which ("given" or "screen").
    """
    X = encoded.to_numpy(float)
    n, d = X.shape
    silhouette_k = set(silhouette_k)
    partitions = {int(k): np.asarray(labels) for k, labels in (partitions or {}).items()}
    for k, labels in partitions.items():
        if len(labels) != n:
            raise ValueError(f"partitions[{k}] has {len(labels)} labels for {n} encoded rows")
        if len(pd.unique(labels)) > k:
            raise ValueError(f"partitions[{k}] has {len(pd.unique(labels))} clusters, more than k = {k}")
    outcome = _survival_for(encoded, survival, duration, event) if survival is not None else None
    sample = None if silhouette_sample is None or silhouette_sample >= n else int(silhouette_sample)
    rows = []
    for k in k_values:
        if k in partitions:
            labels = pd.Index(pd.unique(partitions[k])).get_indexer(partitions[k])
            inertia, fit_kind = _inertia(X, labels), "given"
        else:
            fit, labels = fit_kmeans(X, k, random_state, n_init)
            inertia, fit_kind = float(fit.inertia_), "screen"
        aic, bic = information_criteria(inertia, np.bincount(labels, minlength=k), d)
        row = {
            "k": k,
            "inertia": inertia,
            "silhouette": np.nan,
            "aic": aic,
            "bic": bic,
            "concordance": np.nan,
            "fit": fit_kind,
        }
        if k in silhouette_k and 1 < len(np.unique(labels)) < n:
            row["silhouette"] = float(silhouette_score(X, labels, sample_size=sample, random_state=random_state))
        if outcome is not None:
            row["concordance"] = group_concordance(outcome.assign(group=labels), duration, event, "group")
        rows.append(row)
    return pd.DataFrame(rows)


def clustering_stability(
    encoded: pd.DataFrame,
    k_values: Iterable[int] = (4, 5, 6),
    n_seeds: int = 5,
    n_bootstrap: int = 10,
    random_state=0,
    n_init: int = SCREEN_N_INIT,
) -> pd.DataFrame:
    """Agreement of the k-means clusters with themselves, one row per k (adjusted Rand index, 1 = identical).

    - seed_ari_mean, seed_ari_min: over all pairs of ``n_seeds`` fits that differ only in their seed;
    - bootstrap_ari_mean, bootstrap_ari_p05: k-means refitted on ``n_bootstrap`` resamples of the patients
      (drawn with replacement), every patient then assigned to its nearest centre and compared with the fit on
      all patients (the reference fit uses ``random_state``).
    """
    X = encoded.to_numpy(float)
    rng = np.random.default_rng(random_state)
    rows = []
    for k in k_values:
        seeds = rng.integers(0, 2**31 - 1, size=max(n_seeds, 2))
        labels = [fit_kmeans(X, k, int(s), n_init)[1] for s in seeds]
        first, second = np.triu_indices(len(labels), 1)
        seed_ari = np.array([adjusted_rand_score(labels[i], labels[j]) for i, j in zip(first, second, strict=True)])
        reference = fit_kmeans(X, k, random_state, n_init)[1]
        boot_ari = np.empty(n_bootstrap)
        for b in range(n_bootstrap):
            rows_drawn = rng.integers(0, len(X), size=len(X))
            fit, _ = fit_kmeans(X[rows_drawn], k, int(rng.integers(0, 2**31 - 1)), n_init)
            boot_ari[b] = adjusted_rand_score(reference, fit.predict(X))
        rows.append(
            {
                "k": k,
                "seed_ari_mean": float(seed_ari.mean()),
                "seed_ari_min": float(seed_ari.min()),
                "bootstrap_ari_mean": float(boot_ari.mean()) if n_bootstrap else np.nan,
                "bootstrap_ari_p05": float(np.quantile(boot_ari, 0.05)) if n_bootstrap else np.nan,
            }
        )
    return pd.DataFrame(rows)


class SequenceClustering:
    """k-means on encoded progression sequences, with clusters named by their content (Fig. 4a).

    Parameters (stored as given, scikit-learn style): n_clusters (5, as the paper), encoding (one of
    ``ENCODINGS``; the authors' ``"onehot_softmax"`` by default), max_rank (one-hot ranks kept; all by default),
    n_init, random_state (the authors used 0), majority and many_organs (the naming rule, see
    ``lesionmap.sequence.naming``).

    After ``fit(sequences)``: ``encoded_`` (patients who progressed x columns), ``organs_`` and ``max_rank_``
    (the encoding's columns), ``kmeans_``, ``clusters_``
    (patient_id -> k-means label), ``composition_`` and ``names_`` (per k-means label), ``labels_`` (every
    patient of the cohort -> group name, "No progression" for those who never progressed) and ``counts_``
    (patients per group, the no-progression group included).
    """

    def __init__(
        self,
        n_clusters: int = 5,
        encoding: str = "onehot_softmax",
        max_rank: int | None = None,
        n_init: int = DEFAULT_N_INIT,
        random_state=0,
        majority: float = 0.5,
        many_organs: int = MANY_ORGANS,
    ):
        self.n_clusters = n_clusters
        self.encoding = encoding
        self.max_rank = max_rank
        self.n_init = n_init
        self.random_state = random_state
        self.majority = majority
        self.many_organs = many_organs

    def fit(self, sequences: ProgressionSequences) -> SequenceClustering:
        """Encode, cluster and name; patients with no progression go to "No progression" untouched."""
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}; got {self.encoding!r}")
        self.encoded_ = encode_sequences(sequences, self.encoding, max_rank=self.max_rank)
        if len(self.encoded_) < self.n_clusters:
            raise ValueError(f"{len(self.encoded_)} patients progressed: too few for {self.n_clusters} clusters")
        self.organs_ = sorted(pd.unique(sequences.organs["organ"]), key=str)
        self.max_rank_ = self.max_rank if self.max_rank is not None else max(sequences.max_rank, 1)
        self.kmeans_, labels = fit_kmeans(
            self.encoded_.to_numpy(float), self.n_clusters, self.random_state, self.n_init
        )
        self.clusters_ = pd.Series(labels, index=self.encoded_.index, name="cluster")
        self.composition_ = cluster_composition(sequences, self.clusters_, many_organs=self.many_organs)
        self.names_ = name_clusters(self.composition_, majority=self.majority)
        self.labels_ = self._label(sequences, self.clusters_)
        self.counts_ = self.labels_.value_counts().rename("n")
        return self

    def _label(self, sequences: ProgressionSequences, clusters: pd.Series) -> pd.Series:
        names = clusters.map(self.names_["name"])
        everyone = pd.Index(sequences.patients["patient_id"], name="patient_id")
        return names.reindex(everyone).fillna(NO_PROGRESSION).rename("group")

    def predict(self, sequences: ProgressionSequences) -> pd.Series:
        """Group of every patient of ``sequences`` by the nearest fitted centre (names as fitted)."""
        encoded = encode_sequences(sequences, self.encoding, max_rank=self.max_rank_, organs=self.organs_)
        clusters = pd.Series(self.kmeans_.predict(encoded.to_numpy(float)), index=encoded.index, name="cluster")
        return self._label(sequences, clusters)


@dataclass
class Subclusters:
    """Sub-clusters of the Hetero-Organ group (Supplementary Fig. 9).

    ``labels``: patient_id -> 'H1'..'Hk', numbered by when the liver progresses (earliest median liver rank
    first; patients whose liver never progresses count as rank infinity); ``description``: one row per
    sub-cluster with n, mean_organs, liver_progressed (share), liver_rank_median, liver_rank_1, liver_rank_2,
    liver_rank_3plus, liver_never (shares), top_first_organs, top_sequence, and a short text ``liver`` naming
    the modal liver rank; ``kmeans``: the fit.
    """

    labels: pd.Series
    description: pd.DataFrame
    kmeans: KMeans


def hetero_members(labels: pd.Series, group: str = HETERO_ORGAN) -> pd.Index:
    """Patients of ``group``, clusters that share its name under a number ("Hetero-Organ 2") included."""
    names = labels.astype(str)
    return labels.index[(names == group) | names.str.startswith(f"{group} ")]


def hetero_subclusters(
    clustering: SequenceClustering,
    sequences: ProgressionSequences,
    n_clusters: int = 4,
    random_state=0,
    n_init: int = DEFAULT_N_INIT,
    group: str = HETERO_ORGAN,
) -> Subclusters:
    """Re-cluster the patients of ``group`` (on the encoding of the main fit) and describe each sub-cluster
    by the rank at which the liver progresses, the feature the paper says separates them.

    Clusters that share the group's name under a number ("Hetero-Organ 2") are part of the group.
    """
    members = hetero_members(clustering.labels_, group)
    if len(members) < n_clusters:
        raise ValueError(f"{len(members)} patients in {group!r}: too few for {n_clusters} sub-clusters")
    encoded = clustering.encoded_.loc[members]
    fit, labels = fit_kmeans(encoded.to_numpy(float), n_clusters, random_state, n_init)
    raw = pd.Series(labels, index=members)

    liver = sequences.organs[
        (sequences.organs["organ"].map(str).str.lower() == "liver") & sequences.organs["patient_id"].isin(members)
    ]
    liver_rank = liver.set_index("patient_id")["rank"].reindex(members).to_numpy(float)
    info = sequences.patients.set_index("patient_id").loc[members, ["n_organs", "first_organs", "sequence"]]
    info = info.assign(cluster=raw.to_numpy(), liver_rank=liver_rank)
    grouped = info.groupby("cluster")
    rank_filled = info["liver_rank"].fillna(np.inf)
    description = pd.DataFrame(
        {
            "n": grouped.size(),
            "mean_organs": grouped["n_organs"].mean(),
            "liver_progressed": grouped["liver_rank"].agg(lambda s: float(s.notna().mean())),
            "liver_rank_median": rank_filled.groupby(info["cluster"]).median(),
            "liver_rank_1": grouped["liver_rank"].agg(lambda s: float((s == 1).mean())),
            "liver_rank_2": grouped["liver_rank"].agg(lambda s: float((s == 2).mean())),
            "liver_rank_3plus": grouped["liver_rank"].agg(lambda s: float((s >= 3).mean())),
            "liver_never": grouped["liver_rank"].agg(lambda s: float(s.isna().mean())),
            "top_first_organs": grouped["first_organs"].agg(lambda s: s.value_counts().sort_index().idxmax()),
            "top_sequence": grouped["sequence"].agg(lambda s: s.value_counts().sort_index().idxmax()),
        }
    )
    shares = description[["liver_rank_1", "liver_rank_2", "liver_rank_3plus", "liver_never"]]
    texts = np.array(["liver 1st", "liver 2nd", "liver 3rd or later", "liver never"])
    description["liver"] = texts[np.argmax(shares.to_numpy(), axis=1)]
    order = description.sort_values(["liver_rank_median", "liver_rank_1", "n"], ascending=[True, False, False])
    new_names = {cluster: f"H{i}" for i, cluster in enumerate(order.index, start=1)}
    description = order.rename(index=new_names)
    description.index.name = "subcluster"
    labels = raw.map(new_names).rename("subcluster")
    return Subclusters(labels=labels, description=description.reset_index(), kmeans=fit)


def restart_sensitivity(
    sequences: ProgressionSequences,
    clustering: SequenceClustering,
    restarts: Iterable[int] = (10, DEFAULT_N_INIT),
    n_seeds: int = 5,
    random_state=0,
) -> pd.DataFrame:
    """How the named groups depend on the k-means seed at each number of restarts, one row per restarts value.

    Refits ``clustering``'s k-means (its encoded rows, k and naming rule) with ``n_seeds`` seeds drawn from
    ``random_state``. Columns: restarts, seeds, name_sets (distinct sets of group names among the fits),
    modal_names (the commonest set), modal_share (its share of the fits), inertia_min, inertia_max.
    """
    X = clustering.encoded_.to_numpy(float)
    seeds = np.random.default_rng(random_state).integers(0, 2**31 - 1, size=n_seeds)
    rows = []
    for n_init in restarts:
        name_sets, inertias = [], []
        for seed in seeds:
            fit, labels = fit_kmeans(X, clustering.n_clusters, int(seed), int(n_init))
            composition = cluster_composition(
                sequences, pd.Series(labels, index=clustering.encoded_.index), many_organs=clustering.many_organs
            )
            names = name_clusters(composition, majority=clustering.majority)["name"]
            name_sets.append(", ".join(sorted(names, key=str)))
            inertias.append(fit.inertia_)
        counts = pd.Series(name_sets).value_counts()
        rows.append(
            {
                "restarts": int(n_init),
                "seeds": int(n_seeds),
                "name_sets": int(len(counts)),
                "modal_names": counts.index[0],
                "modal_share": float(counts.iloc[0] / n_seeds),
                "inertia_min": float(min(inertias)),
                "inertia_max": float(max(inertias)),
            }
        )
    return pd.DataFrame(rows)


def rule_partition(sequences: ProgressionSequences, many_organs: int = MANY_ORGANS) -> pd.Series:
    """The paper's five groups drawn by rule instead of by k-means (patient_id -> group, patients who progressed).

    The paper reads its clusters as "stratified by progressive organ number and first-progressive organ"; this is
    that reading as a rule: Mono-Organ (one progressive organ), Hetero-Organ (``many_organs`` or more), else
    Liver-, Lung- or Other-First by the class of the first progressive organ; a first rank shared by organs of
    several classes goes to the liver, then the lung (the order ``name_clusters`` breaks equal shares in).
    """
    table = sequences.patients.set_index("patient_id")
    table = table[table["n_organs"] > 0]
    first = sequences.organs[sequences.organs["rank"] == 1]
    classes = first.assign(first=first["organ"].map(first_organ_class)).groupby("patient_id")["first"].agg(set)
    order = {"liver": LIVER_FIRST, "lung": LUNG_FIRST, "other": OTHER_FIRST}
    first_group = classes.map(lambda found: next(order[c] for c in FIRST_ORGAN_CLASSES if c in found))
    groups = first_group.reindex(table.index)
    groups[table["n_organs"] >= many_organs] = HETERO_ORGAN
    groups[table["n_organs"] == 1] = MONO_ORGAN
    return groups.rename("group")


def _inertia(X: np.ndarray, labels: np.ndarray) -> float:
    """Within-group sum of squared distances to the group means (the k-means objective of any partition)."""
    frame = pd.DataFrame(X)
    centred = frame - frame.groupby(labels).transform("mean")
    return float((centred.to_numpy() ** 2).sum())


def partition_optimality(clustering: SequenceClustering, sequences: ProgressionSequences) -> pd.DataFrame:
    """Is the paper's partition (``rule_partition``) a k-means solution of these sequences, and how far from the best?

    Three partitions of ``clustering``'s encoded rows: the fitted clusters (the best of its restarts), the rule's
    groups, and k-means started once from the rule groups' centres (where k-means goes from the paper's
    groups). Columns: partition, groups (names with sizes, clusters named by ``clustering``'s rule), inertia,
    above_best (inertia relative to the fitted clusters' minus 1) and ari_rule (adjusted Rand index with the
    rule's groups). A rule partition that k-means leaves barely changed (ARI near 1) is a local optimum; its
    ``above_best`` says how much worse than the best partition it is.
    """
    X = clustering.encoded_.to_numpy(float)
    rule = rule_partition(sequences, many_organs=clustering.many_organs).reindex(clustering.encoded_.index)
    rule_groups = sorted(pd.unique(rule), key=str)
    centres = np.vstack([X[(rule == group).to_numpy()].mean(axis=0) for group in rule_groups])
    started = KMeans(n_clusters=len(rule_groups), init=centres, n_init=1).fit(X)

    def named(labels: np.ndarray) -> str:
        clusters = pd.Series(labels, index=clustering.encoded_.index)
        composition = cluster_composition(sequences, clusters, many_organs=clustering.many_organs)
        return group_list(name_clusters(composition, majority=clustering.majority).join(composition["n"]))

    rule_codes = pd.Index(rule_groups).get_indexer(rule)
    sizes = rule.value_counts().rename_axis("name").reset_index(name="n")
    candidates = [
        ("k-means, best of restarts", clustering.clusters_.to_numpy(), named(clustering.clusters_.to_numpy())),
        ("the paper's groups, by rule", rule_codes, group_list(sizes)),
        ("k-means started from the rule groups", started.labels_, named(started.labels_)),
    ]
    best = _inertia(X, clustering.clusters_.to_numpy())
    rows = []
    for partition, labels, groups in candidates:
        inertia = _inertia(X, labels)
        rows.append(
            {
                "partition": partition,
                "groups": groups,
                "inertia": inertia,
                "above_best": inertia / best - 1.0 if best > 0 else (0.0 if inertia == 0 else np.inf),
                "ari_rule": float(adjusted_rand_score(rule_codes, labels)),
            }
        )
    return pd.DataFrame(rows)
