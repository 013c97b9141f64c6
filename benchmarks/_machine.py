"""Shared by the benchmark scripts: thread pinning (before numpy/jax load) and the CPU name."""

from __future__ import annotations

import os
import platform
import sys


def pin_threads() -> bool:
    """Single-threaded BLAS and XLA unless ``--all-threads`` is on the command line.

    On a small shared machine multi-threaded BLAS and XLA thread pools make timings
    swing by 10x or more (OpenBLAS with 2 threads on 2 busy cores ran sklearn's NMF 30x
    slower than with 1). Call before numpy, scipy and jax load their thread pools.
    Returns whether the run is single-threaded.
    """
    single = "--all-threads" not in sys.argv[1:]
    if single:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        ).strip()
    return single


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, with the core counts."""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "?"
    return f"{cpu}; os.cpu_count()={os.cpu_count()}, usable={len(os.sched_getaffinity(0))}"
