"""One accelerator against its host's CPU cores: time per iteration, overhead, memory.

    python benchmarks/gpu.py [--quick] [--out PATH] [--cpu-iters N]

Runs every problem twice in this one process, first on ``jax.devices()[0]`` (the
GPU where there is one) and then on ``jax.devices("cpu")[0]`` with XLA's default
threading (all host cores), through the public ``bf.fit`` in float32 (JAX's
default). Without an accelerator both rows are the CPU (a dry run of the script).

Per problem and backend, four warm-up-separated calls:

- ``max_iter=1`` twice (key 0 compiles, key 1 is warm) and ``max_iter=N`` twice;
- per iteration = (warm N - warm 1) / (N - 1): the loop alone;
- overhead = warm 1 - per iteration: the host side of one call (input checks,
  the host->device copy of X, init, the result's copy back); where the N - 1
  iterations take less than the overhead's noise, per iteration is left blank;
- compile = first N - warm N.

GPU memory is the device's ``peak_bytes_in_use`` (cumulative over the process:
problems run in increasing size within a family, so a family's largest row holds
its own peak). Sparse rows also try several non-zero block sizes. Results go to
a Markdown table written after every row. Nothing asserts on timings.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bayesfactor as bf  # noqa: E402
import bayesfactor._sparse as bf_sparse  # noqa: E402

warnings.simplefilter("ignore")  # ConvergenceWarning: fixed iteration counts (tol=0)


def planted(kind: str, shape: tuple[int, ...], rank: int, seed: int = 0):
    """Float32 data of ``kind`` with a planted rank-``rank`` structure."""
    rng = np.random.default_rng(seed)
    factors = [rng.gamma(1.0, size=(n, rank)).astype(np.float32) for n in shape]
    letters = "abcdefg"[: len(shape)]
    eta = np.einsum(",".join(f"{c}r" for c in letters) + "->" + letters, *factors)
    if kind == "nmf":
        return (eta + rng.normal(0, 1, eta.shape)).astype(np.float32)
    if kind == "kl":
        return rng.poisson(0.1 * eta / rank).astype(np.float32)
    if kind == "pca":
        return (eta - eta.mean(0) + rng.normal(0, 1, eta.shape)).astype(np.float32)
    if kind == "logistic":
        return (rng.random(eta.shape) < 1 / (1 + np.exp(-(eta - eta.mean())))).astype(np.float32)
    raise ValueError(kind)


def random_sparse(m: int, n: int, density: float, seed: int = 0) -> sp.csr_matrix:
    """A CSR count matrix with ``density * m * n`` random non-zeros (timing only)."""
    rng = np.random.default_rng(seed)
    nnz = int(density * m * n)
    flat = np.unique(rng.integers(0, m * n, size=nnz, dtype=np.int64))
    vals = (1 + rng.poisson(0.5, size=flat.size)).astype(np.float32)
    return sp.csr_matrix((vals, (flat // n, flat % n)), shape=(m, n))


MODELS = {
    "nmf": lambda r: bf.Model(bf.Gaussian(), r, bf.NonNegative()),
    "kl": lambda r: bf.Model(bf.Poisson(link="identity"), r, bf.NonNegative()),
    "pca": lambda r: bf.Model(bf.Gaussian(), r, bf.Flat()),
    "logistic": lambda r: bf.Model(bf.Bernoulli(), r, bf.Normal(1.0)),
    "sparse": lambda r: bf.Model(bf.Poisson(link="identity"), r, bf.NonNegative()),
}


def problems(quick: bool):
    """(family, shape, rank, extra) in increasing size within each family."""
    if quick:
        return [
            ("nmf", (500, 200), 10, {}),
            ("nmf", (2000, 500), 10, {"restarts": 10}),
            ("kl", (200, 500), 5, {}),
            ("pca", (500, 200), 10, {}),
            ("nmf", (40, 30, 20), 5, {}),
            ("logistic", (200, 100), 5, {}),
            ("sparse", (20000, 500), 10, {"density": 0.01, "block": 1 << 15}),
            ("sparse", (20000, 500), 10, {"density": 0.01, "block": 1 << 18}),
        ]
    return [
        ("nmf", (5000, 2000), 20, {}),
        ("nmf", (5000, 2000), 20, {"restarts": 10}),
        ("nmf", (200000, 2000), 20, {}),
        ("kl", (1000, 5000), 10, {}),
        ("kl", (100000, 5000), 10, {}),
        ("pca", (5000, 2000), 20, {}),
        ("pca", (100000, 2000), 20, {}),
        ("nmf", (200, 300, 50), 15, {}),
        ("nmf", (400, 600, 200), 15, {}),
        ("logistic", (2000, 500), 10, {}),
        ("logistic", (50000, 2000), 10, {}),
        ("sparse", (100000, 2000), 10, {"density": 0.01, "block": 1 << 15}),
        ("sparse", (1000000, 2000), 10, {"density": 0.01, "block": 1 << 15}),
        ("sparse", (1000000, 2000), 10, {"density": 0.01, "block": 1 << 21}),
    ]


def time_fit(model, X, iters: int, restarts: int) -> dict:
    """Compile, per-iteration and per-call overhead of ``bf.fit`` on the default device."""

    def call(key, n):
        t0 = time.perf_counter()
        res = bf.fit(model, X, key=key, max_iter=n, tol=0.0, restarts=restarts)
        return time.perf_counter() - t0, res

    call(0, 1)
    one, _ = call(1, 1)
    first, _ = call(0, iters)
    warm, res = call(1, iters)
    per_iter = (warm - one) / (iters - 1)
    resolved = per_iter > 0  # else the iterations drowned in the call's overhead noise
    return {
        "compile_s": first - warm,
        "per_iter_ms": 1e3 * per_iter if resolved else None,
        "overhead_ms": 1e3 * (one - per_iter) if resolved else 1e3 * one,
        "history": np.asarray(res.history),
    }


def peak_gb(device) -> float | None:
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    return None if not stats else stats.get("peak_bytes_in_use", 0) / 2**30


def run_problem(family, shape, rank, extra, iters, cpu_iters, cpu) -> dict:
    restarts = extra.get("restarts", 1)
    if family == "sparse":
        bf_sparse.BLOCK = extra["block"]
        X = random_sparse(*shape, extra["density"])
        size = f"nnz {X.nnz:,}"
        x_gb = (X.data.nbytes + 2 * 4 * X.nnz) / 2**30
    else:
        X = planted(family, shape, rank)
        size = "×".join(map(str, shape))
        x_gb = X.nbytes / 2**30
    model = MODELS[family](rank)
    label = family + (f" restarts={restarts}" if restarts > 1 else "")
    label += f" block={extra['block']}" if "block" in extra else ""
    row = {"problem": label, "size": size, "rank": rank, "X GB": f"{x_gb:.3g}"}
    accel = jax.devices()[0]
    with jax.default_device(accel):
        acc = time_fit(model, X, iters, restarts)
    row.update({f"acc {k}": v for k, v in acc.items() if k != "history"})
    row["acc peak GB"] = peak_gb(accel)
    if cpu_iters and (cpu or accel.platform == "cpu"):
        with jax.default_device(jax.devices("cpu")[0]):
            host = time_fit(model, X, cpu_iters, restarts)
        row.update({f"cpu {k}": v for k, v in host.items() if k != "history"})
        if host["per_iter_ms"] and acc["per_iter_ms"]:
            row["cpu/acc per iteration"] = host["per_iter_ms"] / acc["per_iter_ms"]
        # the same start (key 1) after the same number of iterations on both backends
        a, c = acc["history"][cpu_iters - 1], host["history"][-1]
        row["objective rel. diff"] = abs(c - a) / abs(a)
    return row


COLUMNS = [
    ("problem", "problem", "s"),
    ("size", "size", "s"),
    ("rank", "rank", "d"),
    ("X GB", "X (GB)", "s"),
    ("acc compile_s", "accel compile (s)", ".2f"),
    ("acc per_iter_ms", "accel per iteration (ms)", ".3g"),
    ("acc overhead_ms", "accel call overhead (ms)", ".3g"),
    ("acc peak GB", "accel peak (GB)", ".3g"),
    ("cpu compile_s", "CPU compile (s)", ".2f"),
    ("cpu per_iter_ms", "CPU per iteration (ms)", ".3g"),
    ("cpu overhead_ms", "CPU call overhead (ms)", ".3g"),
    ("cpu/acc per iteration", "CPU / accel per iteration", ".3g"),
    ("objective rel. diff", "objective CPU vs accel (rel.)", ".1e"),
]


def table(rows: list[dict]) -> str:
    def cell(r, key, fmt):
        v = r.get(key)
        return "" if v is None else format(v, fmt)

    head = "| " + " | ".join(c[1] for c in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(cell(r, k, f) for k, _, f in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def machine() -> str:
    accel = jax.devices()[0]
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        smi = ""
    return (
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}, jax {jax.__version__}; accelerator: "
        f"{accel.platform} {getattr(accel, 'device_kind', '')} {smi}".strip()
    )


def main() -> None:  # noqa: D103
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=str(Path(__file__).with_name("GPU.md")))
    p.add_argument("--iters", type=int, default=50, help="iterations timed on the accelerator")
    p.add_argument("--cpu-iters", type=int, default=4, help="on the CPU (0: skip the CPU)")
    p.add_argument("--cpu-max-gb", type=float, default=0.8, help="skip the CPU above this X size")
    args = p.parse_args()
    head = [
        "# One accelerator vs its host CPU",
        "",
        f"`python benchmarks/gpu.py{' --quick' if args.quick else ''}`: {machine()}.",
        "",
        (__doc__ or "").split("\n\n", 2)[2].strip(),
        "",
    ]
    rows, t0 = [], time.perf_counter()
    for family, shape, rank, extra in problems(args.quick):
        gb = np.prod(shape) * 4 / 2**30  # dense size (sparse: of its dense equivalent)
        try:
            row = run_problem(
                family, shape, rank, extra, args.iters, args.cpu_iters, gb <= args.cpu_max_gb
            )
        except Exception as e:  # noqa: BLE001 - keep the other rows
            row = {"problem": f"{family} FAILED: {type(e).__name__}: {str(e)[:200]}"}
        rows.append(row)
        print(f"[{time.perf_counter() - t0:6.1f} s] {row}", flush=True)
        Path(args.out).write_text("\n".join([*head, table(rows), ""]))
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
