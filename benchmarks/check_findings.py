"""Check the paper's findings on simulated mCRC cohorts, without building the book.

    .venv/bin/python benchmarks/check_findings.py --seeds 20230417 1 2 [--n-patients 4308] [--model xgboost]

For each seed the pipeline stages run in a temporary build folder (``analysis_data``, ``growth_fit``,
``lesion_events``, ``organ_model``, ``sequence_clustering``, then ``lesionmap.predict`` as Chapter 6 runs it)
and one table prints every check with the paper's value, this seed's value and whether it holds. The
checks are those of issue 10 ("Done when"). The column ``origin`` says whether the spec sets the finding
directly (input) or it arises from the mechanisms (emergent); counts are calibrated (data).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from lesionmap import book, pipeline, predict, sequence
from lesionmap import tables as contract
from lesionmap.cohort import DEFAULT_SEED, load_spec, simulate, write_sdtm
from lesionmap.io import read_sdtm
from lesionmap.ledger.phenotypes import PAPER_PHENOTYPES, phenotype_origin
from lesionmap.stats import mann_whitney
from lesionmap.survival import phenotypes as ph

GROUPS = (sequence.MONO_ORGAN, sequence.HETERO_ORGAN, sequence.LIVER_FIRST, sequence.LUNG_FIRST, sequence.OTHER_FIRST)
PAPER_SIZES = {
    sequence.MONO_ORGAN: 1425,
    sequence.HETERO_ORGAN: 801,
    sequence.LUNG_FIRST: 577,
    sequence.LIVER_FIRST: 1194,
    sequence.OTHER_FIRST: 888,
}
COUNT_TOLERANCE = 0.02
SIZE_TOLERANCE = 0.40


def _row(check, paper, value, holds, origin):
    return {"check": check, "paper": paper, "this seed": value, "holds": "yes" if holds else "NO", "origin": origin}


def timing(n_patients: int, seed: int) -> float:
    """Seconds for simulation + SDTM write (XPT) + read back."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        cohort = simulate(load_spec("mcrc"), n_patients=n_patients or None, seed=seed)
        write_sdtm(cohort, folder, fmt="xpt")
        read_sdtm(folder)
        return time.perf_counter() - started


def data_checks(ctx, data) -> list[dict]:
    published = load_spec("mcrc").values["published"]
    scale = len(data.patients) / 4308
    kinds = data.lesions["kind"].value_counts()
    measured = data.measurements.merge(data.lesions[["lesion_id", "kind"]], on="lesion_id")
    rows = []
    for label, paper, value in (
        ("patients", 4308, len(data.patients)),
        ("target lesions", published["target_lesions"], int(kinds.get("target", 0))),
        ("non-target lesions", published["nontarget_lesions"], int(kinds.get("non-target", 0))),
        ("new lesions", published["new_lesions"], int(kinds.get("new", 0))),
        ("target measurements", published["target_measurements"], int((measured["kind"] == "target").sum())),
    ):
        expected = paper * scale
        rows.append(
            _row(f"{label} within 2%", paper, value, abs(value / expected - 1) <= COUNT_TOLERANCE, "data (calibrated)")
        )
    age = float(data.patients["age"].mean())
    rows.append(
        _row(
            "mean age within 2%",
            published["mean_age"],
            round(age, 1),
            abs(age / published["mean_age"] - 1) <= COUNT_TOLERANCE,
            "input",
        )
    )
    return rows


def phenotype_checks(ctx) -> list[dict]:
    warnings.filterwarnings("ignore", message="no event among the rows", category=RuntimeWarning)
    tables = {e: pipeline.event_table(ctx, e) for e in pipeline.ENDPOINTS}
    models = {e: pipeline.organ_model(ctx, e) for e in pipeline.ENDPOINTS}
    summary = ph.organ_phenotype_summary(models, tables, test_organ=False)
    phenotypes = summary["phenotypes"].set_index("organ")
    spec_organs = load_spec(ctx.cohort).values["organs"]
    rows = []
    for organ, paper in PAPER_PHENOTYPES.items():
        set_by_spec, _ = phenotype_origin(spec_organs, organ, summary["reference"], paper)
        value = phenotypes["phenotype"].get(organ, "absent")
        hrs = (
            f"{value} (HR {phenotypes.loc[organ, 'response_hr']:.2f} / {phenotypes.loc[organ, 'progression_hr']:.2f})"
            if organ in phenotypes.index
            else value
        )
        origin = "input (spec Kd, F, Kg)" if set_by_spec else "emergent"
        rows.append(_row(f"Fig. 3c phenotype of {organ}", paper, hrs, value == paper, origin))
    return rows


def cluster_checks(ctx, data, sequences, clustering, quick: bool = False) -> tuple[list[dict], pd.Series]:
    labels = clustering.labels_
    sizes = labels.value_counts()
    names = [n for n in sizes.index if n != sequence.NO_PROGRESSION]
    rows = [
        _row(
            "five groups, each name once",
            ", ".join(GROUPS),
            ", ".join(sorted(names)),
            sorted(names) == sorted(GROUPS),
            "emergent",
        )
    ]
    for group in GROUPS:
        value = int(sizes.get(group, 0))
        paper = PAPER_SIZES[group] * len(data.patients) / 4308
        rows.append(
            _row(
                f"size of {group} within 40%",
                PAPER_SIZES[group],
                value,
                abs(value / paper - 1) <= SIZE_TOLERANCE,
                "emergent",
            )
        )
    rows.append(
        _row("patients without progression", "not stated", int(sizes.get(sequence.NO_PROGRESSION, 0)), True, "emergent")
    )

    table = data.patients.assign(group=data.patients["patient_id"].map(labels))
    medians = _os_medians(table)
    paper_os = load_spec("mcrc").values["published"]["os_median_days"]
    rows.append(
        _row(
            "OS median Hetero-Organ < Mono-Organ",
            f"{paper_os['Hetero-Organ']} < {paper_os['Mono-Organ']}",
            f"{medians.get('Hetero-Organ', np.nan):.0f} vs {medians.get('Mono-Organ', np.nan):.0f}",
            medians.get("Hetero-Organ", np.inf) < medians.get("Mono-Organ", -np.inf),
            "emergent",
        )
    )
    liver = medians.get("Liver-First", np.inf)
    rows.append(
        _row(
            "OS median Liver-First below Other-First and Lung-First",
            f"{paper_os['Liver-First']} < {paper_os['Other-First']}, {paper_os['Lung-First']}",
            f"{liver:.0f} vs {medians.get('Other-First', np.nan):.0f}, {medians.get('Lung-First', np.nan):.0f}",
            liver < medians.get("Other-First", -np.inf) and liver < medians.get("Lung-First", -np.inf),
            "emergent",
        )
    )

    rule = sequence.rule_partition(sequences)
    rule_medians = _os_medians(data.patients.assign(group=data.patients["patient_id"].map(rule)))
    rule_comparisons = sequence.os_comparisons(pd.Series(rule_medians, dtype=float))
    rows.append(
        _row(
            "the same OS orderings on the paper's groups drawn by rule",
            "Hetero < Mono; Liver-First < Lung-, Other-First",
            "; ".join(
                f"{key}: {c['here'][0]:.0f} vs {c['here'][1]:.0f}" if c["here"] else f"{key}: absent"
                for key, c in rule_comparisons.items()
            ),
            all(c["holds"] for c in rule_comparisons.values()),
            "emergent",
        )
    )

    intervals = sequence.interval_table(sequences, labels)
    firsts = [g for g in (sequence.LIVER_FIRST, sequence.LUNG_FIRST, sequence.OTHER_FIRST) if g in set(labels)]
    gap = intervals[(intervals["interval"] == "2nd-1st") & intervals["group"].isin(firsts)]
    _, pairs = sequence.interval_tests(gap.assign(interval=gap["interval"].astype(str)))
    gap_medians = gap.groupby("group")["days"].median()
    holds = sequence.LIVER_FIRST in gap_medians.index and len(pairs) > 0
    texts = []
    for other in firsts:
        if other == sequence.LIVER_FIRST or not holds:
            continue
        pair = pairs[
            ((pairs["group_a"] == sequence.LIVER_FIRST) & (pairs["group_b"] == other))
            | ((pairs["group_b"] == sequence.LIVER_FIRST) & (pairs["group_a"] == other))
        ]
        p = float(pair["p_adjusted"].iat[0]) if len(pair) else np.nan
        shorter = gap_medians[sequence.LIVER_FIRST] < gap_medians[other]
        holds &= bool(shorter and p < 0.05)
        texts.append(f"vs {other} {gap_medians[other]:.0f} (Dunn p {p:.2g})")
    value = (f"Liver-First {gap_medians.get(sequence.LIVER_FIRST, np.nan):.0f} " + "; ".join(texts)) if texts else "n/a"
    rows.append(_row("gap 1st->2nd progression shortest in Liver-First", "shorter (Fig. 4c)", value, holds, "emergent"))

    if not quick:
        metrics = sequence.evaluate_k(
            clustering.encoded_,
            data.patients,
            k_values=range(1, 15),
            random_state=ctx.seed,
            silhouette_k=(),
            partitions={5: clustering.clusters_.to_numpy()},
        )
        c = metrics.set_index("k")["concordance"]
        best = float(c.max())
        rows.append(
            _row(
                "concordance favours k = 5 (within 1% of best)",
                "k = 5",
                f"C(5) {c.loc[5]:.3f}, best {best:.3f} at k = {int(c.idxmax())}",
                c.loc[5] >= 0.99 * best,
                "emergent",
            )
        )

    grouped = table[table["group"].isin(GROUPS)]
    test = sequence.proportions_by_treatment(grouped)
    rows.append(
        _row(
            "group mix independent of treatment (chi-square p > 0.05)",
            "no difference",
            f"p {test.p:.3g}",
            test.p > 0.05,
            "emergent",
        )
    )
    first = intervals[intervals["interval"] == "1st"].merge(
        data.patients[["patient_id", "treatment_group"]], on="patient_id"
    )
    tar_label, chemo_label = contract.TREATMENT_GROUPS
    tar = first.loc[first["treatment_group"] == tar_label, "days"]
    chemo = first.loc[first["treatment_group"] == chemo_label, "days"]
    result = mann_whitney(tar, chemo, tar_label, chemo_label)
    rows.append(
        _row(
            "TAR slows the first progression (Mann-Whitney p < 0.05)",
            "slower under TAR",
            f"median {tar.median():.0f} vs {chemo.median():.0f} days, p {result.p:.2g}",
            tar.median() > chemo.median() and result.p < 0.05,
            "emergent (TAR lowers Kg: input)",
        )
    )
    return rows, labels


def _os_medians(table: pd.DataFrame) -> dict:
    from lesionmap.stats import km_medians

    medians = km_medians(table[table["group"].isin(GROUPS)], group="group")
    return medians.set_index("group")["median"].astype(float).to_dict()


def prediction_checks(data, labels, seed: int, model: str) -> list[dict]:
    features = predict.baseline_features(data.patients, data.lesions, data.measurements)
    target, _ = predict.progression_labels(labels, False)
    grid = predict.search_grids([model], [0.1], [2, 3], [1.0])
    result = predict.evaluate_models(
        features,
        target,
        models=[model],
        grid=grid,
        outer_folds=5,
        inner_folds=5,
        seed=seed,
        n_jobs=1,
        importance_repeats=1,
    )
    summary = result.summary()["models"][model]
    macro = float(summary["auc_macro"])
    per_class = pd.Series(summary["auc_by_class"], dtype=float)
    ranking_holds, _ = sequence.paper_class_ranking(per_class)
    return [
        _row(f"{model} macro AUC >= 0.85", 0.91, round(macro, 3), macro >= 0.85, "emergent"),
        _row(
            "Mono- and Hetero-Organ groups predicted better than every First group",
            "Mono, Hetero",
            ", ".join(f"{k} {v:.2f}" for k, v in per_class.sort_values(ascending=False).items()),
            bool(ranking_holds),
            "emergent",
        ),
    ]


def check_seed(
    seed: int, n_patients: int, model: str, build_dir: Path | None = None, quick: bool = False
) -> pd.DataFrame:
    """The checks of one seed; with ``build_dir`` the stages are cached there (reused when present); ``quick``
    leaves out the choice of k (14 k-means fits) and the prediction (a nested grid search)."""
    with tempfile.TemporaryDirectory() as scratch:
        refresh = build_dir is None
        folder = Path(scratch) if refresh else build_dir / f"seed-{seed}-n-{n_patients}"
        ctx = book.Context("mcrc", n_patients, seed, folder)
        started = time.perf_counter()
        data = pipeline.analysis_data(ctx, refresh=refresh)
        pipeline.growth_fit(ctx, refresh=refresh)
        pipeline.lesion_events(ctx, refresh=refresh)
        rows = data_checks(ctx, data)
        rows += phenotype_checks(ctx)
        sequences, clustering = pipeline.sequence_clustering(ctx, refresh=refresh)
        cluster_rows, labels = cluster_checks(ctx, data, sequences, clustering, quick)
        rows += cluster_rows
        if not quick:
            rows += prediction_checks(data, labels, seed, model)
        elapsed = time.perf_counter() - started
    seconds = timing(n_patients, seed)
    rows.append(_row("simulation + SDTM write + read (s)", "about 60", round(seconds, 1), seconds <= 75, "performance"))
    rows.append(_row("pipeline stages for this table (s)", "", round(elapsed, 0), True, "performance"))
    return pd.DataFrame(rows).assign(seed=seed)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[DEFAULT_SEED])
    parser.add_argument("--n-patients", type=int, default=0, help="0: the spec's size (4,308)")
    parser.add_argument(
        "--model",
        default="xgboost",
        help="prediction model of lesionmap.predict (the authors' script: xgboost)",
    )
    parser.add_argument(
        "--build-dir",
        type=Path,
        default=None,
        help="keep the stages in this folder and reuse them (default: a fresh temporary folder)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="leave out the choice of k and the prediction (the slowest checks)"
    )
    args = parser.parse_args(argv)
    pd.set_option("display.width", 250, "display.max_colwidth", 90, "display.max_rows", 200)
    tables = []
    for seed in args.seeds:
        table = check_seed(seed, args.n_patients, args.model, args.build_dir, args.quick)
        print(f"\n=== seed {seed}, n_patients {args.n_patients or 4308} ===")
        print(table.drop(columns="seed").to_string(index=False))
        tables.append(table)
    summary = pd.concat({table["seed"].iat[0]: table.set_index("check")["holds"] for table in tables}, axis=1)
    print("\n=== holds, by seed ===")
    print(summary.to_string())


if __name__ == "__main__":
    main()
