"""The replicate study on a real Dask cluster: a scheduler and two workers started as processes on 127.0.0.1.

Tiny replicates (120 patients, data and a short SAEM) keep the module near a minute. The tests kill a worker
during a study, rerun a finished study, and compare the numbers of one and two workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from lesionmap.study import StudyDesign, run_study  # noqa: E402

DASK = str(Path(sys.executable).with_name("dask"))
TINY = {"saem_iterations": (40, 10)}
STAGES = ("data", "growth")


def _start(command: list[str], log: Path) -> subprocess.Popen:
    """A process in its own session (so that killing it kills its nanny's children too)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (free ports); torn down after."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    scheduler = _start(
        [
            DASK,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        ],
        folder / "scheduler.log",
    )
    processes = {"scheduler": scheduler}
    try:
        address = _wait_for(
            lambda: scheduler_file.exists() and json.loads(scheduler_file.read_text()).get("address"),
            60,
            "the scheduler file",
        )
        for name in ("worker-a", "worker-b"):
            processes[name] = _start(
                [
                    DASK,
                    "worker",
                    address,
                    "--name",
                    name,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--memory-limit",
                    "0",
                    "--local-directory",
                    str(folder / name),
                ],
                folder / f"{name}.log",
            )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield {"address": address, "processes": processes, "folder": folder}
    finally:
        for process in processes.values():
            _stop(process)


def _numbers(rows: pd.DataFrame) -> pd.DataFrame:
    """The estimates of a study, without the timing rows (wall time and memory differ between runs)."""
    return rows[rows["stage"] != "timing"].sort_values(["seed", "stage", "quantity"]).reset_index(drop=True)


def test_rerun_of_a_finished_study_recomputes_nothing(cluster, tmp_path):
    design = StudyDesign(cohort="mcrc", n_patients=120, replicates=2, stages=STAGES, options=TINY)
    first = run_study(design, tmp_path, scheduler=cluster["address"], progress=False, log=lambda *_: None)
    assert first.computed == 2 and first.skipped == 0
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "replicates").glob("*.parquet")}
    messages = []
    again = run_study(design, tmp_path, scheduler=cluster["address"], progress=False, log=messages.append)
    assert again.computed == 0 and again.skipped == 2
    assert any("2 of 2 replicates already" in m for m in messages)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    pd.testing.assert_frame_equal(_numbers(first.rows), _numbers(again.rows))


def test_one_and_two_workers_give_identical_numbers(cluster, tmp_path):
    design = StudyDesign(cohort="mcrc", n_patients=120, replicates=3, base_seed=11, stages=STAGES, options=TINY)
    two = run_study(design, tmp_path / "two", scheduler=cluster["address"], progress=False, log=lambda *_: None)
    one = run_study(design, tmp_path / "one", workers=1, progress=False, log=lambda *_: None)
    assert two.computed == one.computed == 3
    pd.testing.assert_frame_equal(_numbers(one.rows), _numbers(two.rows), check_exact=True)


def test_cox_and_prediction_folds_are_tasks_of_their_own_and_match_one_process(cluster, tmp_path):
    """Each endpoint of the Cox stage and each (model, outer fold) of a replicate's prediction stage are tasks
    any worker may run; the rows equal those of ``run_replicate`` in this process."""
    from distributed import Client, get_task_stream

    from lesionmap.study import run_replicate

    stages = ("data", "growth", "cox", "sequences", "prediction")
    options = {**TINY, "prediction_models": ("logistic", "majority"), "outer_folds": 2, "inner_folds": 2}
    design = StudyDesign(cohort="mcrc", n_patients=300, replicates=1, base_seed=5, stages=stages, options=options)
    with Client(cluster["address"], timeout=60) as client, get_task_stream(client) as stream:
        result = run_study(design, tmp_path, client=client, progress=False, log=lambda *_: None)
    assert result.computed == 1
    keys = {str(task["key"]) for task in stream.data}
    assert len({key for key in keys if key.startswith("lesionmap-piece-5-")}) == 4
    assert len({key for key in keys if key.startswith("lesionmap-cox-5-")}) == 2  # one per endpoint
    local = run_replicate(0, 5, "mcrc", 300, stages=stages, options=options)
    pd.testing.assert_frame_equal(_numbers(local), _numbers(result.rows), check_exact=True)
    assert (result.rows["stage"] == "prediction").sum() == 2
    assert result.rows["quantity"].str.startswith("log HR progression").any()


# Last: it kills one of the module's two workers.
def test_study_by_scheduler_survives_a_killed_worker(cluster, tmp_path):
    """A worker killed during the study loses no finished replicate, and the study completes every replicate."""
    out = tmp_path / "study"
    command = [
        sys.executable,
        "-m",
        "lesionmap",
        "study",
        "--scheduler",
        cluster["address"],
        "--replicates",
        "6",
        "--n-patients",
        "120",
        "--stages",
        *STAGES,
        "--saem-iterations",
        "40",
        "10",
        "--out",
        str(out),
        "--no-progress",
    ]
    study = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: len(list((out / "replicates").glob("seed-*.parquet"))) >= 1, 180, "the first replicate")
        before_kill = {p.name: p.stat().st_mtime_ns for p in (out / "replicates").glob("seed-*.parquet")}
        victim = cluster["processes"].pop("worker-a")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=20)
        output, _ = study.communicate(timeout=300)
    finally:
        if study.poll() is None:
            study.kill()
    assert study.returncode == 0, output
    files = sorted(p.name for p in (out / "replicates").glob("seed-*.parquet"))
    assert files == sorted(f"seed-{20230417 + i}.parquet" for i in range(6)), output
    assert not (out / "failures.parquet").exists(), output
    for name, mtime in before_kill.items():  # finished before the kill: kept as written
        assert (out / "replicates" / name).stat().st_mtime_ns == mtime
    summary = pd.read_csv(out / "summary.csv")
    typical = summary[summary["quantity"] == "typical Kd"].iloc[0]
    assert typical["replicates"] == 6
    assert 0.5 < typical["mean_estimate"] / typical["mean_truth"] < 2.0
