"""How fast this machine is right now, to put a build time beside (the README's timings quote it).

A shared virtual machine's speed drifts from minute to minute (by a quarter or more here), so a build time means
little alone. Run this just before ``make book`` (with one BLAS thread, as each chapter's kernel has):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/machine_speed.py

It times 30 symmetric eigendecompositions of a 400 x 400 matrix (BLAS/LAPACK) and a pure-Python loop, and prints
the seconds: 0.38 on a fast minute here, 0.56 on a slow one.
"""

import time

import numpy as np


def machine_seconds() -> float:
    """Seconds for the fixed workload (smaller is faster)."""
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((400, 400))
    started = time.perf_counter()
    for _ in range(30):
        np.linalg.eigvalsh(matrix @ matrix.T)
    sum(i * i for i in range(3_000_000))
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"machine speed: {machine_seconds():.2f} s (the README's timings quote this number)")
