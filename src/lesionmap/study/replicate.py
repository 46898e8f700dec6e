"""One replicate of the study: one seed, the book's own pipeline stages in a private folder, tidy rows out.

``run_replicate`` is what a Dask worker runs. It builds a ``lesionmap.book.Context`` on a temporary folder
of the worker, calls the ``lesionmap.pipeline`` stages the chapters call (simulate, write SDTM, read it
back, SAEM, events, organ Cox models, sequences and clusters, prediction), turns each stage's output into
rows of ``ROW_COLUMNS`` (estimate, its SE or 95% interval, and the truth of the simulation) and deletes the
folder. Only these rows leave the worker: no table of the replicate's data goes through the scheduler.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lesionmap.sequence.sequences import DEFAULT_TIES

#: The stages a study can run, in the order of the pipeline; each needs the ones before it (except that
#: ``prediction`` needs ``sequences`` but not ``cox``).
STAGES = ("data", "growth", "cox", "sequences", "prediction")
PREREQUISITES = {
    "data": (),
    "growth": ("data",),
    "cox": ("data", "growth"),
    "sequences": ("data", "growth"),
    "prediction": ("data", "growth", "sequences"),
}

#: The columns of every row a replicate returns.
ROW_COLUMNS = ("replicate", "seed", "stage", "quantity", "estimate", "se", "lower", "upper", "truth")

#: Environment variables that cap the BLAS/OpenMP threads of a worker process at one.
SINGLE_THREAD_ENV = {
    name: "1"
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    )
}

_GROWTH = ("Kd", "F", "Kg")
_CORRELATION_PAIRS = (("F", "Kg"), ("F", "Kd"), ("Kg", "Kd"))


def stages_to_run(selected) -> tuple[str, ...]:
    """The selected stages with the stages they need, in pipeline order (an unknown name is an error)."""
    selected = tuple(selected)
    unknown = sorted(set(selected) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; the stages are {', '.join(STAGES)}")
    needed = set(selected)
    for stage in selected:
        needed.update(PREREQUISITES[stage])
    return tuple(stage for stage in STAGES if stage in needed)


def _row(stage, quantity, estimate, se=np.nan, lower=np.nan, upper=np.nan, truth=np.nan) -> dict:
    return {
        "stage": stage,
        "quantity": quantity,
        "estimate": float(estimate),
        "se": float(se),
        "lower": float(lower),
        "upper": float(upper),
        "truth": float(truth),
    }


def data_rows(data) -> list[dict]:
    """Counts of the cohort read back from SDTM (no truth: they describe the replicate)."""
    return [
        _row("data", "patients", len(data.patients)),
        _row("data", "target lesions", int((data.lesions["kind"] == "target").sum())),
        _row("data", "measurements", len(data.measurements)),
    ]


def growth_rows(fit, estimates: pd.DataFrame, truth: pd.DataFrame | None) -> list[dict]:
    """Typical values and omegas of SAEM against the truth of the fitted lesions, and the organ-level
    correlations of the parameters on the estimates against the same correlations on the true values.

    Truth, as in Chapter 2: a typical value's truth is the median of the fitted lesions' true values, an
    omega's the SD of their true values on the model (log or logit) scale.
    """
    from lesionmap import organs

    true_targets = None
    if truth is not None:
        true_targets = truth[truth["lesion_id"].isin(estimates["lesion_id"])].dropna(subset=list(_GROWTH))
    rows = []
    for name in _GROWTH:
        if name not in fit.population:
            continue
        lower, upper = fit.population_ci[name]
        true_typical = true_targets[name].median() if true_targets is not None else np.nan
        true_omega = float(np.std(organs.model_scale(name, true_targets[name]))) if true_targets is not None else np.nan
        rows.append(
            _row("growth", f"typical {name}", fit.population[name], fit.population_se[name], lower, upper, true_typical)
        )
        omega, omega_se = fit.omega[name], fit.omega_se[name]
        rows.append(
            _row(
                "growth",
                f"omega {name}",
                omega,
                omega_se,
                omega - 1.959964 * omega_se,
                omega + 1.959964 * omega_se,
                true_omega,
            )
        )
    estimated = organs.pearson_table(organs.organ_medians(estimates), _CORRELATION_PAIRS).set_index(["x", "y"])["r"]
    true_r = pd.Series(np.nan, index=estimated.index)
    if true_targets is not None:
        true_with_organ = true_targets.drop(columns=["organ"], errors="ignore").merge(
            estimates[["lesion_id", "organ"]], on="lesion_id"
        )
        true_r = organs.pearson_table(organs.organ_medians(true_with_organ), _CORRELATION_PAIRS).set_index(["x", "y"])[
            "r"
        ]
    for x, y in _CORRELATION_PAIRS:
        rows.append(_row("growth", f"organ r({x},{y})", estimated[(x, y)], truth=true_r.get((x, y), np.nan)))
    return rows


def cox_rows(models: dict, tables: dict, oracle: dict) -> tuple[list[dict], dict]:
    """Organ log hazard ratios and the frailty variance of each endpoint against the oracle fit.

    The oracle is the same model (same covariates, same references) fitted with the target lesions' true
    event times (``oracle`` maps endpoint -> (oracle event table, its fit), from ``cox_endpoint``; None for a
    user's data): the value the Cox stage would estimate if the growth model recovered every event time. Organs
    not estimable in either fit are left out. Returns the rows and the phenotype summary (for the findings).
    """
    from lesionmap import pipeline
    from lesionmap.survival import phenotypes as ph

    summary = ph.organ_phenotype_summary(models, tables, test_organ=False)
    rows = []
    for endpoint in pipeline.ENDPOINTS:
        fit = models[endpoint]["fit"]
        oracle_table, oracle_fit = oracle.get(endpoint) or (None, None)
        oracle_hr = ph.organ_hazard_ratios(oracle_fit, oracle_table).set_index("organ") if oracle_fit else None
        hazard = summary["hazard_ratios"][endpoint].set_index("organ")
        se = fit.summary.query("term == 'organ'").set_index("level")["se(coef)"]
        for organ, row in hazard.iterrows():
            if row["reference"] or not row["estimable"]:
                continue
            truth = np.nan
            if oracle_hr is not None:
                if organ not in oracle_hr.index or not oracle_hr.loc[organ, "estimable"]:
                    continue
                truth = np.log(oracle_hr.loc[organ, "hr"])
            rows.append(
                _row(
                    "cox",
                    f"log HR {endpoint}: {organ}",
                    np.log(row["hr"]),
                    se.get(organ, np.nan),
                    np.log(row["lower"]),
                    np.log(row["upper"]),
                    truth,
                )
            )
        rows.append(
            _row(
                "cox",
                f"frailty variance {endpoint}",
                fit.frailty_variance_,
                truth=oracle_fit.frailty_variance_ if oracle_fit is not None else np.nan,
            )
        )
    return rows, summary


def true_progression_events(ctx) -> pd.DataFrame | None:
    """Progression events on the simulation's true times: a sequence table of the truth folder when the
    simulator writes one (``*sequence*.parquet`` with patient_id, organ, day), else the progression event
    table with the target lesions' derived times replaced by their true times (``pipeline.oracle_events``).
    None for a user's data."""
    from lesionmap import pipeline

    folder = pipeline.truth_folder(ctx)
    if folder is None:
        return None
    for path in sorted(folder.glob("*sequence*.parquet")):
        table = pd.read_parquet(path)
        if {"patient_id", "organ", "day"} <= set(table.columns):
            return table.assign(
                endpoint="progression", event=True, lesion_id=table.get("lesion_id", table["organ"]), source="simulator"
            )
    return pipeline.oracle_events(ctx, "progression").assign(source="oracle")


def sequence_rows(
    ctx, sequences, clustering, patients: pd.DataFrame, n_clusters: int, encoding: str, ties: str
) -> list[dict]:
    """Agreement (adjusted Rand index) of the clusters with the clusters on the true progression sequences,
    over every patient (the patients who never progress form a group of their own in both)."""
    from sklearn.metrics import adjusted_rand_score

    from lesionmap.sequence import SequenceClustering, progression_sequences

    true_events = true_progression_events(ctx)
    if true_events is None:
        return []
    true_sequences = progression_sequences(true_events, patients, ties=ties, random_state=ctx.seed)
    true_clustering = SequenceClustering(n_clusters=n_clusters, encoding=encoding, random_state=ctx.seed).fit(
        true_sequences
    )
    common = clustering.labels_.index.intersection(true_clustering.labels_.index)
    ari = adjusted_rand_score(
        clustering.labels_.loc[common].astype(str), true_clustering.labels_.loc[common].astype(str)
    )
    progressed_estimated = sequences.patients.set_index("patient_id")["progressed"]
    progressed_true = true_sequences.patients.set_index("patient_id")["progressed"]
    agreement = float((progressed_estimated.loc[common] == progressed_true.loc[common]).mean())
    from_simulator = float(true_events["source"].eq("simulator").all())
    return [
        _row("sequences", "ARI with clusters on true sequences", ari),
        _row("sequences", "share progressing as in truth", agreement),
        _row("sequences", "true sequences from the simulator's table", from_simulator),
    ]


def prediction_rows(result) -> list[dict]:
    """Each model's mean held-out macro AUC over the outer folds (SE: fold SD over the root of the folds)."""
    summary = result.summary()
    folds = summary.get("outer_folds", 5)
    rows = []
    for model, numbers in summary["models"].items():
        se = numbers["sd"]["auc_macro"] / np.sqrt(folds)
        rows.append(_row("prediction", f"macro AUC {model}", numbers["auc_macro"], se))
    return rows


def _peak_memory_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class ReplicateHead:
    """What a replicate's first task hands on: its rows so far, the seconds of each stage, the Cox stage's
    inputs ({endpoint: (event table, oracle event table or None)}), the nested cross-validation plan of the
    prediction stage (each None when the stage is not run) and the task's peak memory."""

    replicate: int
    seed: int
    rows: list[dict]
    seconds: dict[str, float]
    cpu_seconds: dict[str, float]
    cox_inputs: dict | None
    plan: object | None
    peak_memory_mb: float


@dataclass
class Piece:
    """A task's share of a stage: its rows or tables (``output``), its seconds and its peak memory."""

    output: object
    seconds: float
    cpu_seconds: float
    peak_memory_mb: float


def _quiet_empty_organs() -> None:
    """Silence the warning of an organ without events (as Chapter 3 does): small cohorts have such organs."""
    import warnings

    warnings.filterwarnings("ignore", message="no event among the rows", category=RuntimeWarning)


def _piece(compute) -> Piece:
    """Run ``compute`` on one thread and time it."""
    from threadpoolctl import threadpool_limits

    os.environ.update(SINGLE_THREAD_ENV)
    started, cpu_started = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1):
        output = compute()
    return Piece(output, time.perf_counter() - started, time.process_time() - cpu_started, _peak_memory_mb())


def cox_steps(stages) -> list[str]:
    """The endpoints of a replicate's Cox stage, one piece each, in the order they are combined; none when the
    stages leave the Cox stage out."""
    from lesionmap.pipeline import ENDPOINTS

    return list(ENDPOINTS) if "cox" in stages_to_run(stages) else []


def prediction_steps(stages, options: dict | None = None) -> list[tuple[str, int]]:
    """The (model, outer fold) pieces of a replicate's prediction stage, in the order they are combined;
    none when the stages leave prediction out."""
    if "prediction" not in stages_to_run(stages):
        return []
    options = {**DEFAULT_OPTIONS, **(options or {})}
    return [(model, fold) for model in options["prediction_models"] for fold in range(options["outer_folds"])]


def replicate_head(
    replicate: int,
    seed: int,
    cohort: str = "mcrc",
    n_patients: int = 300,
    stages=STAGES,
    options: dict | None = None,
    workdir: str | None = None,
) -> ReplicateHead:
    """Every stage of the replicate in a private folder removed whatever happens, except the Cox models and the
    prediction folds: the head hands on the Cox stage's event tables and the prediction stage's plan (features,
    labels, folds), which ``cox_piece`` and ``prediction_piece`` tasks run anywhere."""
    from threadpoolctl import threadpool_limits

    os.environ.update(SINGLE_THREAD_ENV)
    options = {**DEFAULT_OPTIONS, **(options or {})}
    run = stages_to_run(stages)
    folder = Path(tempfile.mkdtemp(prefix=f"lesionmap-study-{seed}-", dir=workdir))
    try:
        with threadpool_limits(limits=1):
            rows, seconds, cpu_seconds, cox_inputs, plan = _run_stages(run, cohort, n_patients, seed, folder, options)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ReplicateHead(int(replicate), int(seed), rows, seconds, cpu_seconds, cox_inputs, plan, _peak_memory_mb())


def cox_endpoint(table: pd.DataFrame, oracle_table: pd.DataFrame | None, endpoint: str) -> tuple[dict, object]:
    """One endpoint's organ Cox model (covariate selection, final fit) and its oracle fit (None without truth)."""
    from lesionmap import pipeline
    from lesionmap.survival import phenotypes as ph

    _quiet_empty_organs()
    model = pipeline.organ_model_of(table, endpoint)
    oracle_fit = None
    if oracle_table is not None:
        oracle_fit = ph.fit_organ_model(oracle_table, model["covariates"], model["references"])
    return model, oracle_fit


def cox_piece(head: ReplicateHead, endpoint: str) -> Piece:
    """One endpoint of the Cox stage on the head's event tables: ``cox_endpoint``. Needs no folder, so any
    worker can run it."""
    table, oracle_table = head.cox_inputs[endpoint]
    return _piece(lambda: cox_endpoint(table, oracle_table, endpoint))


def prediction_piece(head: ReplicateHead, model: str, fold: int) -> Piece:
    """One (model, outer fold) of the head's prediction plan, on one thread."""
    from lesionmap import predict

    return _piece(lambda: predict.evaluate_fold(head.plan, model, fold, n_jobs=1))


def finish_replicate(head: ReplicateHead, cox: list[Piece], pieces: list[Piece]) -> pd.DataFrame:
    """The replicate's rows (``ROW_COLUMNS``): the head's, the Cox stage's from its endpoint pieces (given in
    ``pipeline.ENDPOINTS`` order), the prediction stage's from its pieces (given in ``prediction_steps`` order),
    the seconds of every stage (a stage's seconds add up over its tasks, wherever they ran) and the peak memory
    of the largest task."""
    from lesionmap import pipeline, predict
    from lesionmap.study import findings

    if bool(cox) != (head.cox_inputs is not None):
        raise ValueError("the Cox stage's pieces and the head's Cox inputs must come together")
    if (head.plan is None) and pieces:
        raise ValueError(f"{len(pieces)} prediction piece(s) for a replicate without a prediction stage")
    rows = list(head.rows)
    seconds, cpu_seconds = dict(head.seconds), dict(head.cpu_seconds)

    def add(stage, done):
        seconds[stage] = seconds.get(stage, 0.0) + sum(piece.seconds for piece in done)
        cpu_seconds[stage] = cpu_seconds.get(stage, 0.0) + sum(piece.cpu_seconds for piece in done)

    if cox:
        fitted = dict(zip(pipeline.ENDPOINTS, (piece.output for piece in cox), strict=True))
        tables = {e: head.cox_inputs[e][0] for e in pipeline.ENDPOINTS}
        oracle = {e: (head.cox_inputs[e][1], fitted[e][1]) for e in pipeline.ENDPOINTS if fitted[e][1] is not None}
        cox_stage_rows, summary = cox_rows({e: fitted[e][0] for e in pipeline.ENDPOINTS}, tables, oracle)
        rows += cox_stage_rows + findings.phenotype_findings(summary["phenotypes"])
        add("cox", cox)
    if head.plan is not None:
        rows += prediction_rows(predict.combine_folds(head.plan, [piece.output for piece in pieces]))
        add("prediction", pieces)
    rows += [_row("timing", f"{stage} seconds", value) for stage, value in seconds.items()]
    rows += [_row("timing", f"{stage} cpu seconds", value) for stage, value in cpu_seconds.items()]
    memory = max([head.peak_memory_mb] + [piece.peak_memory_mb for piece in [*cox, *pieces]])
    rows.append(_row("timing", "peak memory MB", memory))
    frame = pd.DataFrame(rows)
    frame.insert(0, "seed", head.seed)
    frame.insert(0, "replicate", head.replicate)
    return frame[list(ROW_COLUMNS)]


def run_replicate(
    replicate: int,
    seed: int,
    cohort: str = "mcrc",
    n_patients: int = 300,
    stages=STAGES,
    options: dict | None = None,
    workdir: str | None = None,
) -> pd.DataFrame:
    """Run the pipeline on one simulated cohort (seed ``seed``) in this process and return its tidy rows
    (``ROW_COLUMNS``): ``replicate_head``, a ``cox_piece`` per endpoint, each ``prediction_piece``, then ``finish_replicate``,
    the tasks a study runs on Dask (so the numbers are the same either way).

    ``options``: ``saem_iterations`` (K1, K2), ``n_clusters``, ``encoding``, ``ties``, ``prediction_models``,
    ``outer_folds``, ``inner_folds`` (the chapters' defaults otherwise). Rows of stage ``timing`` give each
    stage's wall and CPU seconds (on a busy machine the CPU time is what the stage costs) and the worker's peak
    memory. The private folder is removed, whatever happens.
    """
    head = replicate_head(replicate, seed, cohort, n_patients, stages, options, workdir)
    cox = [cox_piece(head, endpoint) for endpoint in cox_steps(stages)]
    pieces = [prediction_piece(head, model, fold) for model, fold in prediction_steps(stages, options)]
    return finish_replicate(head, cox, pieces)


#: The chapters' defaults for the options of a replicate.
DEFAULT_OPTIONS = {
    "saem_iterations": (300, 100),
    "n_clusters": 5,
    "encoding": "onehot_padded",
    "ties": DEFAULT_TIES,
    "prediction_models": ("xgboost", "logistic", "majority"),
    "outer_folds": 5,
    "inner_folds": 5,
    "importance_repeats": 1,
}


def _run_stages(run, cohort, n_patients, seed, folder, options):
    """The stages in ``run`` on a Context in ``folder``: rows of each and the findings, the seconds and CPU
    seconds of each stage, the Cox stage's event tables and the prediction stage's plan (None without them)."""
    from lesionmap import book, pipeline
    from lesionmap.study import findings

    _quiet_empty_organs()
    ctx = book.Context.from_parameters(cohort, n_patients, seed, folder)
    rows, seconds, cpu_seconds = [], {}, {}

    def timed(stage, compute):
        started, cpu_started = time.perf_counter(), time.process_time()
        value = compute()
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started
        cpu_seconds[stage] = cpu_seconds.get(stage, 0.0) + time.process_time() - cpu_started
        return value

    data = timed("data", lambda: pipeline.analysis_data(ctx, refresh=True))
    rows += data_rows(data)
    if "growth" in run:
        k1, k2 = options["saem_iterations"]
        fit = timed("growth", lambda: pipeline.growth_fit(ctx, refresh=True, n_iter=(k1, k2)))
        estimates = pipeline.lesion_parameters(ctx, fit)
        rows += timed("growth", lambda: growth_rows(fit, estimates, pipeline.true_lesion_parameters(ctx)))
        rows += findings.growth_findings(estimates)
        timed("events", lambda: pipeline.lesion_events(ctx, refresh=True))
    cox_inputs = None
    if "cox" in run:
        cox_inputs = timed(
            "cox",
            lambda: {e: (pipeline.event_table(ctx, e), pipeline.oracle_events(ctx, e)) for e in pipeline.ENDPOINTS},
        )
    clustering = None
    if "sequences" in run:

        def sequences_stage():
            sequences, clustering = pipeline.sequence_clustering(
                ctx, refresh=True, n_clusters=options["n_clusters"], encoding=options["encoding"], ties=options["ties"]
            )
            stage_rows = sequence_rows(
                ctx, sequences, clustering, data.patients, options["n_clusters"], options["encoding"], options["ties"]
            )
            return clustering, stage_rows + findings.sequence_findings(clustering, data.patients)

        clustering, stage_rows = timed("sequences", sequences_stage)
        rows += stage_rows
    plan = None
    if "prediction" in run:
        plan = timed("prediction", lambda: _plan_prediction(ctx, data, clustering, options))
    return rows, seconds, cpu_seconds, cox_inputs, plan


def _plan_prediction(ctx, data, clustering, options):
    """Chapter 6's nested cross-validation on the replicate's baseline features and progression groups,
    planned: its folds run as ``prediction_piece``s."""
    from lesionmap import predict

    features = predict.baseline_features(data.patients, data.lesions, data.measurements)
    labels, _ = predict.progression_labels(clustering.labels_, False)
    models = list(options["prediction_models"])
    grids = predict.search_grids(models, [0.1], [2, 3], [0.1, 10.0, 1000.0])
    return predict.plan_nested_cv(
        features,
        labels,
        models=models,
        grid=grids,
        outer_folds=options["outer_folds"],
        inner_folds=options["inner_folds"],
        seed=ctx.seed,
        importance_repeats=options["importance_repeats"],
    )
