"""Benchmark: reading the simulated mCRC SDTM (XPT, the paper's 4,308 patients) with the book's reader.

The reader checks every value and builds the analysis tables; a plain ``pyreadstat.read_xport`` of the same
files (every column, no checks) is measured in the same run as the floor it is compared with. Printed and
written to ``_build/bench/reader.json``: the reader's wall time (median of ``--repeats``), the plain load's,
their ratio, and the size of the input.

    .venv/bin/python benchmarks/bench_reader.py [--n-patients 4308] [--repeats 3] [--out _build/bench/reader.json]
    .venv/bin/python benchmarks/bench_reader.py --folder /tmp/mcrc-sdtm   # XPT files written before
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pyreadstat

from lesionmap.cohort import load_spec, simulate, write_sdtm
from lesionmap.config import DEFAULT_SEED
from lesionmap.io import read_sdtm


def timed(function, repeats: int) -> tuple[float, float, object]:
    """Median wall time and median CPU time of ``repeats`` calls, and the last call's result.

    CPU time is reported beside wall time because a shared machine's wall time varies with its load.
    """
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def plain_load(folder: Path) -> int:
    """Every XPT file of ``folder`` read whole by pyreadstat (no checks); returns the records read."""
    return sum(len(pyreadstat.read_xport(str(path))[0]) for path in sorted(folder.glob("*.xpt")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=0, help="0 = the spec's size (4,308)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("_build/bench/reader.json"))
    parser.add_argument("--folder", type=Path, help="read these XPT files instead of simulating the cohort")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-reader-") as tmp:
        folder = args.folder or Path(tmp) / "sdtm"
        if args.folder is None:
            cohort = simulate(load_spec("mcrc"), n_patients=args.n_patients or None, seed=args.seed)
            write_sdtm(cohort, folder, fmt="xpt")
        megabytes = sum(path.stat().st_size for path in folder.glob("*.xpt")) / 2**20
        plain_seconds, plain_cpu, records = timed(lambda: plain_load(folder), args.repeats)
        reader_seconds, reader_cpu, data = timed(lambda: read_sdtm(folder), args.repeats)
    result = {
        "patients_in_dm": data.report["consort"]["screened"],
        "records": records,
        "megabytes": round(megabytes, 1),
        "reader_seconds": round(reader_seconds, 2),
        "plain_pyreadstat_seconds": round(plain_seconds, 2),
        "ratio_reader_to_plain": round(reader_seconds / plain_seconds, 2),
        "reader_cpu_seconds": round(reader_cpu, 2),
        "plain_pyreadstat_cpu_seconds": round(plain_cpu, 2),
        "repeats": args.repeats,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"SDTM reader: {result['patients_in_dm']:,} patients, {records:,} records ({megabytes:.1f} MB of XPT)")
    print(f"  read_sdtm (checked analysis tables)  {reader_seconds:6.2f} s wall, {reader_cpu:6.2f} s CPU")
    print(f"  pyreadstat.read_xport (plain load)   {plain_seconds:6.2f} s wall, {plain_cpu:6.2f} s CPU")
    print(f"  ratio reader / plain load            {reader_seconds / plain_seconds:6.2f}")
    print(f"  written to {args.out}")


if __name__ == "__main__":
    main()
