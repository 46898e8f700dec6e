"""Benchmark: the replicate study (``lesionmap.study``) on Dask.

Printed and written to ``_build/bench/study.json``:

- the time of each stage of one replicate at the paper's scale (4,308 patients), run on a one-worker
  embedded cluster, with and without the prediction stage (wall and CPU seconds: on a shared machine the
  CPU time is what a stage costs on an idle core), and that worker's peak memory;
- the wall time of that replicate, with and without prediction, on a two-worker embedded cluster (this
  machine's cores): the Cox stage's two endpoints and the prediction stage's (model, outer fold) pieces are
  tasks of their own and run on both workers, while the stages before them run in order on one;
- replicates per minute with one and with two workers on the same replicates (teaching-size cohorts, the
  stages without prediction), their ratio, and each worker's peak memory. Each cluster is started before the
  clock starts, so the rate measures the study, not the start of the processes;
- the machine's load average before and after, since another job on a shared machine slows the workers.

    .venv/bin/python benchmarks/bench_study.py [--paper-patients 4308] [--replicates 4] [--n-patients 300]
                                               [--skip-paper] [--skip-throughput]
                                               [--out _build/bench/study.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from lesionmap.study import StudyDesign, embedded_client, run_study

ROOT = Path(__file__).resolve().parents[1]
NO_PREDICTION = ("data", "growth", "cox", "sequences")


def timed_study(design: StudyDesign, workers: int) -> dict:
    """Run ``design`` on a fresh embedded cluster of ``workers`` processes; seconds from submission to the end."""
    client = embedded_client(workers)
    try:
        with tempfile.TemporaryDirectory(prefix="lesionmap-bench-study-") as out:
            started = time.perf_counter()
            result = run_study(design, out, client=client, progress=False, log=lambda *_: None)
            seconds = time.perf_counter() - started
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    if len(result.failures):
        raise RuntimeError(f"{len(result.failures)} replicate(s) failed: {result.failures['error'].tolist()}")
    timing = result.rows[result.rows["stage"] == "timing"]
    wall = timing[timing["quantity"].str.endswith(" seconds") & ~timing["quantity"].str.endswith(" cpu seconds")]
    cpu = timing[timing["quantity"].str.endswith(" cpu seconds")]
    stage_seconds = wall.groupby("quantity")["estimate"].mean().rename(lambda q: q.removesuffix(" seconds"))
    stage_cpu = cpu.groupby("quantity")["estimate"].mean().rename(lambda q: q.removesuffix(" cpu seconds"))
    memory = timing[timing["quantity"] == "peak memory MB"]["estimate"]
    return {
        "workers": workers,
        "replicates": design.replicates,
        "seconds": seconds,
        "replicates_per_minute": 60.0 * design.replicates / seconds,
        "mean_stage_seconds": {k: float(v) for k, v in stage_seconds.items()},
        "mean_stage_cpu_seconds": {k: float(v) for k, v in stage_cpu.items()},
        "peak_memory_mb_max": float(memory.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper-patients", type=int, default=4308)
    parser.add_argument("--replicates", type=int, default=4, help="replicates of the 1- and 2-worker runs")
    parser.add_argument("--n-patients", type=int, default=300, help="patients per replicate of those runs")
    parser.add_argument("--skip-paper", action="store_true", help="skip the paper-scale replicate")
    parser.add_argument("--skip-throughput", action="store_true", help="skip the 1- and 2-worker throughput runs")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "bench" / "study.json")
    args = parser.parse_args()

    report = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()}
    if not args.skip_paper:
        paper = timed_study(StudyDesign(n_patients=args.paper_patients, replicates=1), workers=1)
        stages = paper["mean_stage_seconds"]
        cpu = paper["mean_stage_cpu_seconds"]
        report["paper_replicate"] = {
            "patients": args.paper_patients,
            "stage_seconds": stages,
            "stage_cpu_seconds": cpu,
            "without_prediction_cpu_seconds": sum(v for k, v in cpu.items() if k != "prediction"),
            "with_prediction_cpu_seconds": sum(cpu.values()),
            "without_prediction_seconds": sum(v for k, v in stages.items() if k != "prediction"),
            "with_prediction_seconds": sum(stages.values()),
            "wall_seconds": paper["seconds"],
            "peak_memory_mb": paper["peak_memory_mb_max"],
        }
        both = timed_study(StudyDesign(n_patients=args.paper_patients, replicates=1), workers=2)
        report["paper_replicate"]["two_workers_wall_seconds"] = both["seconds"]
        report["paper_replicate"]["two_workers_peak_memory_mb"] = both["peak_memory_mb_max"]
        both = timed_study(StudyDesign(n_patients=args.paper_patients, replicates=1, stages=NO_PREDICTION), workers=2)
        report["paper_replicate"]["two_workers_without_prediction_wall_seconds"] = both["seconds"]
    if not args.skip_throughput:
        design = StudyDesign(
            n_patients=args.n_patients, replicates=args.replicates, base_seed=1000, stages=NO_PREDICTION
        )
        one, two = timed_study(design, workers=1), timed_study(design, workers=2)
        report["throughput"] = {
            "one_worker": one,
            "two_workers": two,
            "speed_up": two["replicates_per_minute"] / one["replicates_per_minute"],
        }
    report["load_average_after"] = os.getloadavg()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(
        f"replicate study benchmark ({report['cpus']} CPUs; load average before "
        f"{report['load_average_before'][0]:.1f}, after {report['load_average_after'][0]:.1f})"
    )
    if "paper_replicate" in report:
        paper = report["paper_replicate"]
        print(
            f"  one replicate of {paper['patients']:,} patients: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in paper["stage_seconds"].items())
        )
        print(
            f"    without prediction {paper['without_prediction_seconds']:.1f} s, with prediction "
            f"{paper['with_prediction_seconds']:.1f} s (CPU {paper['without_prediction_cpu_seconds']:.1f} s and "
            f"{paper['with_prediction_cpu_seconds']:.1f} s); worker peak memory {paper['peak_memory_mb']:.0f} MB"
        )
        print(
            f"    on 1 worker the replicate took {paper['wall_seconds']:.1f} s from submission to its rows; on 2 "
            f"workers {paper['two_workers_wall_seconds']:.1f} s, and "
            f"{paper['two_workers_without_prediction_wall_seconds']:.1f} s without prediction (the Cox endpoints and "
            "the prediction folds on both)"
        )
    if "throughput" in report:
        for label, run in (
            ("1 worker ", report["throughput"]["one_worker"]),
            ("2 workers", report["throughput"]["two_workers"]),
        ):
            print(
                f"  {label}: {run['replicates']} replicates of {args.n_patients} patients in {run['seconds']:.1f} s = "
                f"{run['replicates_per_minute']:.2f} replicates/min; worker peak memory "
                f"{run['peak_memory_mb_max']:.0f} MB"
            )
        print(f"  speed-up of 2 workers over 1: {report['throughput']['speed_up']:.2f}x")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
