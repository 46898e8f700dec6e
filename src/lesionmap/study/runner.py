"""Run the replicates of a study on Dask: an embedded ``LocalCluster`` or any cluster by address.

Each replicate is one seed and a small graph of tasks: ``replicate_head`` runs the pipeline's stages in order
in a private folder of one worker (simulate, SDTM, SAEM, events, sequences) and hands on the Cox stage's event
tables and the prediction stage's plan; a ``cox_piece`` per endpoint (its organ Cox model) and one ``prediction_piece`` per
(model, outer fold) of Chapter 6's nested cross-validation are tasks that any worker can run side by side;
``finish_replicate`` combines them into the replicate's tidy rows. The replicate's data (SDTM, measurements,
fits) never leave the head's worker: the pieces receive only lesion event tables, baseline features and
cluster labels, from worker to worker. The pieces let one replicate use every worker, and they run the same
code as ``run_replicate`` in one process, so the numbers are the same. The client writes each
finished replicate at once as ``<out>/replicates/seed-<seed>.parquet``: a rerun skips the seeds already
there, and a worker that dies takes no finished replicate with it (the scheduler reruns the task that was on
it, and what it held is recomputed). A task that raises is retried (``retries``); a replicate that fails every attempt is recorded in
``<out>/failures.parquet`` with its error, and the study finishes without it and says so. Same seeds, same
numbers: a replicate depends on its seed only, never on the worker or the number of workers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from concurrent.futures import CancelledError
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from lesionmap.config import DEFAULT_SEED
from lesionmap.study.replicate import (
    DEFAULT_OPTIONS,
    SINGLE_THREAD_ENV,
    STAGES,
    cox_piece,
    cox_steps,
    finish_replicate,
    prediction_piece,
    prediction_steps,
    replicate_head,
    stages_to_run,
)
from lesionmap.study.summary import finding_shares, format_summary, summarise

DEFAULT_BASE_SEED = DEFAULT_SEED


class StudyError(ValueError):
    """A study that cannot start as asked (e.g. an output folder that holds a study of another design)."""


@dataclass(frozen=True)
class StudyDesign:
    """What a study runs: the cohort, its size, the stages and their options, and the seeds of its replicates
    (replicate ``i`` has seed ``base_seed + i``)."""

    cohort: str = "mcrc"
    n_patients: int = 300
    replicates: int = 4
    base_seed: int = DEFAULT_BASE_SEED
    stages: tuple[str, ...] = STAGES
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "stages", stages_to_run(self.stages))
        if self.replicates < 1:
            raise StudyError(f"a study needs at least one replicate, not {self.replicates}")
        if self.n_patients < 1:
            raise StudyError(f"n_patients must be 1 or more, not {self.n_patients}")
        unknown = sorted(set(self.options) - set(DEFAULT_OPTIONS))
        if unknown:
            raise StudyError(f"unknown study option(s) {unknown}; the options are {sorted(DEFAULT_OPTIONS)}")

    @property
    def seeds(self) -> list[int]:
        return [self.base_seed + i for i in range(self.replicates)]

    def identity(self) -> dict:
        """What must match for two runs to share an output folder (everything but the number of replicates)."""
        design = asdict(self)
        design.pop("replicates")
        design["stages"] = list(self.stages)
        design["options"] = json.loads(json.dumps({**DEFAULT_OPTIONS, **self.options}))
        return design


@dataclass
class StudyResult:
    """A finished study: every replicate's rows (this run's and earlier runs'), the summary and the failures."""

    rows: pd.DataFrame
    summary: pd.DataFrame
    findings: pd.DataFrame
    failures: pd.DataFrame
    computed: int
    skipped: int
    out: Path


class StudyStore:
    """The output folder of a study: its design, one Parquet file per finished replicate, the failures."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.replicates_dir = self.out / "replicates"

    def open(self, design: StudyDesign) -> None:
        """Create the folder, or check that the study already in it has the same design."""
        self.replicates_dir.mkdir(parents=True, exist_ok=True)
        path = self.out / "design.json"
        identity = design.identity()
        if path.exists():
            stored = json.loads(path.read_text())
            if stored != identity:
                changed = sorted(k for k in identity if stored.get(k) != identity[k])
                raise StudyError(
                    f"{self.out} holds a study of another design (differs in {', '.join(changed)}): "
                    "choose another --out, or the same settings to resume it"
                )
        else:
            path.write_text(json.dumps(identity, indent=2))

    def path(self, seed: int) -> Path:
        return self.replicates_dir / f"seed-{seed}.parquet"

    def finished_seeds(self) -> set[int]:
        return {int(p.stem.removeprefix("seed-")) for p in self.replicates_dir.glob("seed-*.parquet")}

    def write(self, seed: int, rows: pd.DataFrame) -> None:
        """Write one replicate's rows atomically (a partial file is never taken for a finished replicate)."""
        partial = self.replicates_dir / f".seed-{seed}.parquet.partial"
        rows.to_parquet(partial, index=False)
        os.replace(partial, self.path(seed))

    def rows(self, seeds=None) -> pd.DataFrame:
        """The rows of the finished replicates (of ``seeds`` only, when given), in seed order."""
        wanted = self.finished_seeds() if seeds is None else self.finished_seeds() & set(seeds)
        frames = [pd.read_parquet(self.path(seed)) for seed in sorted(wanted)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def failures_path(self) -> Path:
        return self.out / "failures.parquet"

    def failures(self) -> pd.DataFrame:
        if self.failures_path.exists():
            return pd.read_parquet(self.failures_path)
        return pd.DataFrame(columns=["replicate", "seed", "attempts", "error", "traceback"])

    def write_failures(self, failures: pd.DataFrame) -> None:
        if failures.empty:
            self.failures_path.unlink(missing_ok=True)
        else:
            failures.to_parquet(self.failures_path, index=False)


#: Dask settings of the embedded cluster's workers (see ``embedded_client``).
WORKER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
}

#: What the scheduler should expect a study task to take before it has timed one (its default is 0.5 s). A
#: piece's inputs lie on its head's worker, and the scheduler moves a task to an idle worker only when the task
#: is long beside the transfer of its inputs: with the default it would keep a replicate's Cox and prediction
#: pieces on the head's worker while the others idle. The figures are paper-scale orders of magnitude.
SCHEDULER_CONFIG = {
    "distributed.scheduler.default-task-durations": {
        "lesionmap-head": "30s",
        "lesionmap-cox": "10s",
        "lesionmap-piece": "5s",
        "lesionmap-replicate": "100ms",
    }
}


def embedded_client(workers: int, processes: bool | None = None):
    """A ``LocalCluster`` of ``workers`` workers with one thread each and BLAS threads pinned to one.

    ``processes`` (default: when ``workers`` is more than one) gives each worker a process of its own. A single
    worker runs as a thread of this process: a process of its own would run nothing in parallel and only add its
    start and its imports (about 4 s here, a fifth of the teaching build's study).

    Two of Dask's defaults are turned off for these workers (``WORKER_CONFIG``), both measured on a
    paper-scale replicate: the nanny's ``MALLOC_TRIM_THRESHOLD_`` (it fixes glibc's mmap threshold, so every
    array over 128 KiB is mapped and page-faulted afresh: the SAEM ran 2.6 times slower) and the statistical
    profiler (it samples the running task every 10 ms: a fifth of the SAEM's time). The scheduler runs in this
    process and is given the study's task durations (``SCHEDULER_CONFIG``, set in this process's Dask config).
    """
    import dask
    from dask.distributed import Client, LocalCluster

    separate = workers > 1 if processes is None else bool(processes)
    dask.config.set(SCHEDULER_CONFIG)
    os.environ.update(SINGLE_THREAD_ENV)  # inherited by the worker processes it spawns
    with dask.config.set(WORKER_CONFIG):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=separate,
            dashboard_address=":0",
            memory_limit=0,
            silence_logs=logging.ERROR,
        )
    return Client(cluster)


def _progress_bar(total: int, progress: bool | None):
    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, unit="replicate", desc="study", disable=not show, file=sys.stderr)


def run_study(
    design: StudyDesign,
    out: str | Path,
    workers: int = 2,
    scheduler: str | None = None,
    retries: int = 1,
    progress: bool | None = None,
    client=None,
    log=print,
) -> StudyResult:
    """Run the replicates of ``design`` not yet in ``out`` and summarise every replicate there.

    ``scheduler``: the address of a running Dask scheduler (``tcp://host:port``); without it (and without a
    ``client``) an embedded cluster of ``workers`` workers runs the study (``embedded_client``: processes, or
    one worker in this process). ``retries``: further attempts of
    a replicate that raises. ``progress``: a progress bar (default: when stderr is a terminal).
    """
    from dask.distributed import as_completed

    store = StudyStore(out)
    store.open(design)
    finished = store.finished_seeds()
    todo = [(i, seed) for i, seed in enumerate(design.seeds) if seed not in finished]
    skipped = len(design.seeds) - len(todo)
    if skipped:
        log(f"{skipped} of {design.replicates} replicates already in {store.out}: skipped")
    failures = store.failures()
    failures = failures[~failures["seed"].isin([seed for _, seed in todo])]
    new_failures = []
    if todo:
        own_client = client is None
        if own_client:
            from dask.distributed import Client

            client = Client(scheduler) if scheduler else embedded_client(workers)
        try:
            token = uuid.uuid4().hex[:8]
            futures, parts = {}, {}
            for i, seed in todo:
                future, replicate_parts = _submit_replicate(client, design, i, seed, token, retries)
                futures[future] = (i, seed)
                parts[future] = replicate_parts
            bar = _progress_bar(len(todo), progress)
            done = failed = 0
            for future in as_completed(futures):
                i, seed = futures[future]
                try:
                    rows = future.result()
                except (Exception, CancelledError) as error:  # the replicate's own error, after its retries
                    new_failures.append(
                        {
                            "replicate": i,
                            "seed": seed,
                            "attempts": retries + 1,
                            "error": f"{type(error).__name__}: {error}",
                            "traceback": _traceback_text(future),
                        }
                    )
                    failed += 1
                else:
                    store.write(seed, rows)
                    done += 1
                future.release()
                for part in parts.pop(future):
                    part.release()
                bar.set_postfix(done=done, failed=failed)
                bar.update(1)
            bar.close()
        finally:
            if own_client:
                cluster = getattr(client, "cluster", None)
                client.close()
                if cluster is not None:
                    cluster.close()
    failures = pd.concat([failures, pd.DataFrame(new_failures)], ignore_index=True) if new_failures else failures
    store.write_failures(failures)
    rows = store.rows(design.seeds)
    summary = summarise(rows) if not rows.empty else summarise(pd.DataFrame(columns=["stage"]))
    findings = finding_shares(rows) if not rows.empty else pd.DataFrame()
    if not summary.empty:
        summary.to_csv(store.out / "summary.csv", index=False)
        findings.to_csv(store.out / "findings.csv", index=False)
    if len(failures):
        log(
            f"{len(failures)} replicate(s) failed {retries + 1} times and are left out of the summary "
            f"(seeds {', '.join(map(str, failures['seed']))}; errors in {store.failures_path})"
        )
    return StudyResult(
        rows=rows,
        summary=summary,
        findings=findings,
        failures=failures,
        computed=len(todo) - len(new_failures),
        skipped=skipped,
        out=store.out,
    )


#: Dask priorities (higher first): a replicate's finishing task, then its pieces, longest first (Cox, boosting
#: folds, the other folds), then new heads, so that started replicates finish, and are written, before new
#: ones start.
_PRIORITY = {"finish": 4, "cox": 3, "boosting piece": 2, "piece": 1, "head": 0}


def _submit_replicate(client, design: StudyDesign, i: int, seed: int, token: str, retries: int):
    """Submit one replicate's tasks (head, Cox and prediction pieces, finish); its finishing future and the
    others."""
    from lesionmap.predict.models import BOOSTING

    def submit(function, *args, name: str, priority: str):
        return client.submit(
            function,
            *args,
            key=f"lesionmap-{name}-{token}",
            retries=retries,
            pure=False,
            priority=_PRIORITY[priority],
        )

    head = submit(
        replicate_head,
        i,
        seed,
        design.cohort,
        design.n_patients,
        design.stages,
        design.options,
        name=f"head-{seed}",
        priority="head",
    )
    pieces = [
        submit(
            prediction_piece,
            head,
            model,
            fold,
            name=f"piece-{seed}-{model}-{fold}",
            priority="boosting piece" if model in BOOSTING else "piece",
        )
        for model, fold in prediction_steps(design.stages, design.options)
    ]
    cox = [submit(cox_piece, head, e, name=f"cox-{seed}-{e}", priority="cox") for e in cox_steps(design.stages)]
    finish = submit(finish_replicate, head, cox, pieces, name=f"replicate-{seed}", priority="finish")
    return finish, [head, *cox, *pieces]


def _traceback_text(future) -> str:
    import traceback

    try:
        return "".join(traceback.format_tb(future.traceback()))
    except Exception as error:  # the traceback of a lost worker may not be retrievable
        return f"(no traceback: {type(error).__name__})"


def print_summary(result: StudyResult, log=print) -> None:
    """The final summary table and where the files are."""
    replicates = result.rows["seed"].nunique() if not result.rows.empty else 0
    log(
        f"\n{replicates} replicate(s) summarised ({result.computed} computed now, {result.skipped} from "
        f"earlier runs); files in {result.out}"
    )
    if not result.summary.empty:
        log(format_summary(result.summary))
