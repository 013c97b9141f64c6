"""Scaling benchmarks: sharded fits over (forced CPU) devices; sparse count input.

    python benchmarks/scaling.py [--quick] [--out PATH]
        [--only shard|size|sparse|compare|sparse_glm]

Each measurement runs in its own subprocess: the number of JAX devices is fixed by
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before jax is imported, and
peak memory (``ru_maxrss``) belongs to that one fit. Problems come from fixed seeds,
XLA runs single-threaded per device (as in ``run.py``), numbers are JAX's default
float32, and the results are written as a Markdown table. Nothing asserts on timings.

Timing: every fit runs ``max_iter`` iterations (``tol=0``). The first call (key=0)
compiles and runs; the second (key=1) only runs: compile = first - second,
per iteration = second / max_iter.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREADS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


# --------------------------------------------------------------------------- workers
# (run in a subprocess: jax is imported only there, after XLA_FLAGS is set)


def _worker(spec: dict) -> dict:
    import resource
    import time
    import warnings

    import jax
    import numpy as np

    import bayesfactor as bf

    warnings.simplefilter("ignore")  # ConvergenceWarning: fixed iteration counts
    m, n, rank, iters = spec["m"], spec["n"], spec["rank"], spec["iters"]
    if spec["kind"] == "sparse_glm":
        return sparse_glm(spec)
    if spec["kind"] in ("sparse", "compare"):
        X, V = planted_sparse(m, n, rank, spec["density"])
    else:
        rng = np.random.default_rng(0)
        U = rng.gamma(1.0, size=(m, rank)).astype(np.float32)
        V = rng.gamma(1.0, size=(n, rank)).astype(np.float32)
        X = rng.poisson(U @ V.T).astype(np.float32)
    lik = bf.Gaussian() if spec["kind"] == "nmf" else bf.Poisson(link="identity")
    model = bf.Model(lik, rank, bf.NonNegative())
    if spec["kind"] == "compare":
        return compare_sparse_dense(model, X, V, spec)
    kw = {"max_iter": iters, "tol": 0.0, "devices": spec.get("devices")}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for key in (0, 1):
        t0 = time.perf_counter()
        res = bf.fit(model, X, key=key, **kw)
        times.append(time.perf_counter() - t0)
    out = {
        **spec,
        "compile_s": times[0] - times[1],
        "per_iter_ms": 1e3 * times[1] / iters,
        "objective": res.objective,
        "rss_before_fit_mb": before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "jax_devices": len(jax.devices()),
    }
    if spec["kind"] == "sparse":
        out["nnz"] = int(X.nnz)
    return out


def planted_sparse(m: int, n: int, rank: int, density: float, chunk: int = 2500):
    """Poisson counts ``X ~ Poisson(U V^T)`` as CSR, mean rate ``density``; and ``V``.

    Gamma(0.3) factors (sparse-ish, identifiable); drawn in blocks of rows so that
    the dense rate matrix never exists. The rows are the same for every ``m``.
    """
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    U = rng.gamma(0.3, size=(100_000, rank))[:m]
    V = rng.gamma(0.3, size=(n, rank))
    c = np.sqrt(density / (rank * 0.3 * 0.3))  # E[(U V^T)_ij] = density
    U, V = (c * U).astype(np.float32), (c * V).astype(np.float32)
    blocks = []
    for start in range(0, m, chunk):
        counts = np.random.default_rng(start).poisson(U[start : start + chunk] @ V.T)
        blocks.append(sp.csr_matrix(counts.astype(np.float32)))
    return sp.vstack(blocks, format="csr"), V


def planted_glm(m: int, n: int, rank: int, density: float, chunk: int = 2500):
    """Counts ``X ~ Poisson(exp(U V^T + b))`` as CSR with mean ``density`` (GLM-PCA data).

    ``U, V ~ N(0, 1/rank)``, column baselines ``b`` around ``log(density)``; drawn in
    blocks of rows, so the dense matrix never exists.
    """
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    U = rng.normal(size=(m, rank)) / np.sqrt(rank)
    V = rng.normal(size=(n, rank)) / np.sqrt(rank)
    b = np.log(density) - 0.1 + rng.normal(scale=0.3, size=n)  # E exp(U V^T + b) ~ density
    blocks = []
    for start in range(0, m, chunk):
        rate = np.exp(U[start : start + chunk] @ V.T + b)
        counts = np.random.default_rng(start).poisson(rate)
        blocks.append(sp.csr_matrix(counts.astype(np.float32)))
    return sp.vstack(blocks, format="csr")


def sparse_glm(spec: dict) -> dict:
    """Poisson-log GLM-PCA (rank, Normal(1) priors, column intercept): sparse or dense X."""
    import resource
    import time
    import warnings

    import jax

    import bayesfactor as bf

    warnings.simplefilter("ignore")  # ConvergenceWarning: fixed iteration counts
    X = planted_glm(spec["m"], spec["n"], spec["rank"], spec["density"])
    nnz = int(X.nnz)
    if spec["input"] == "dense":
        X = X.toarray()
    model = bf.Model(bf.Poisson(), spec["rank"], bf.Normal(1.0), intercepts=("columns",))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for key in (0, 1):
        t0 = time.perf_counter()
        res = bf.fit(model, X, key=key, max_iter=spec["iters"], tol=0.0)
        times.append(time.perf_counter() - t0)
    stats = jax.devices()[0].memory_stats() or {}
    return {
        **spec,
        "nnz": nnz,
        "dense_mb": spec["m"] * spec["n"] * 4 / 2**20,  # float32
        "compile_s": times[0] - times[1],
        "per_iter_ms": 1e3 * times[1] / spec["iters"],
        "objective": res.objective,
        "rss_before_fit_mb": before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_device_mb": stats.get("peak_bytes_in_use", float("nan")) / 2**20,
        "platform": jax.devices()[0].platform,
    }


def compare_sparse_dense(model, X, V, spec) -> dict:
    """Sparse fit of all rows vs dense fit of the first rows: column factors' similarity."""
    import numpy as np

    import bayesfactor as bf

    rows = spec["compare_rows"]
    kw = {"key": 0, "max_iter": 200, "tol": 1e-6}
    full = bf.fit(model, X, **kw)
    dense_sub = bf.fit(model, X[:rows].toarray(), **kw)
    sparse_sub = bf.fit(model, X[:rows], **kw)
    v_full, v_sub = (full.factors[1],), (dense_sub.factors[1],)
    rel = abs(sparse_sub.objective - dense_sub.objective) / abs(dense_sub.objective)
    return {
        **spec,
        "nnz": int(X.nnz),
        "sim_full_vs_dense_sub": bf.similarity(v_full, v_sub),
        "sim_full_vs_planted": bf.similarity(v_full, (V,)),
        "sim_dense_sub_vs_planted": bf.similarity(v_sub, (V,)),
        "sub_sparse_vs_dense_rel": rel,
        "sub_factor_sim": bf.similarity(sparse_sub, dense_sub),
        "iters": f"{full.n_iter} / {dense_sub.n_iter}",
        "dtype": str(np.asarray(full.factors[0]).dtype),
    }


def run_worker(spec: dict) -> dict:
    """``_worker(spec)`` in a fresh interpreter with ``spec['xla_devices']`` CPU devices."""
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={spec['xla_devices']} {THREADS}",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
        "JAX_PLATFORMS": os.environ.get("SCALING_PLATFORM", "cpu"),
    }
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"worker {spec} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- suites


def shard_suite(quick: bool) -> list[dict]:
    """Per-iteration time vs number of devices, for NMF and KL-NMF."""
    m, n = (2000, 200) if quick else (8000, 500)
    rows = []
    for kind in ("nmf", "kl_nmf"):
        for d in (1, 2, 4):
            spec = dict(kind=kind, m=m, n=n, rank=10, iters=50, xla_devices=d)
            spec["devices"] = None if d == 1 else d
            rows.append(run_worker(spec))
    return rows


def size_suite(quick: bool) -> list[dict]:
    """Per-iteration time vs matrix size, on 1 and 4 devices."""
    sizes = [(1000, 200), (4000, 200)] if quick else [(2000, 500), (8000, 500), (32000, 500)]
    rows = []
    for m, n in sizes:
        for d in (1, 4):
            spec = dict(kind="kl_nmf", m=m, n=n, rank=10, iters=30, xla_devices=d)
            spec["devices"] = None if d == 1 else d
            rows.append(run_worker(spec))
    return rows


def sparse_suite(quick: bool) -> list[dict]:
    """KL-NMF of sparse counts: time per iteration and memory vs nnz (1 device)."""
    ms = [5000, 20000] if quick else [12500, 25000, 50000, 100000]
    spec = dict(kind="sparse", n=2000, rank=10, iters=20, density=0.01, xla_devices=1)
    return [run_worker({**spec, "m": m}) for m in ms]


def compare_suite(quick: bool) -> list[dict]:
    """Sparse fit of every row vs a dense fit of a row subsample (column factors)."""
    m = 20000 if quick else 100000
    spec = dict(kind="compare", m=m, n=2000, rank=10, iters=0, density=0.01, xla_devices=1)
    return [run_worker({**spec, "compare_rows": 5000})]


def sparse_glm_suite(quick: bool) -> list[dict]:
    """Poisson-log GLM-PCA (rank 10, 1% density): sparse X (blocked dense pass) vs dense X.

    ``SCALING_PLATFORM=cuda`` runs the workers on the GPU (and the dense fits at every size).
    """
    ms = [12500, 25000] if quick else [25000, 100000]
    # On the CPU the dense 100,000 x 2,000 fit takes ~10 GB and minutes: compare its size.
    gpu = os.environ.get("SCALING_PLATFORM", "cpu") != "cpu"
    dense = ms if gpu else ms[:1]
    spec = dict(
        kind="sparse_glm", n=2000, rank=10, iters=20 if gpu else 3, density=0.01, xla_devices=1
    )
    runs = [{**spec, "m": m, "input": "sparse"} for m in ms]
    runs += [{**spec, "m": m, "input": "dense"} for m in dense]
    return [run_worker(r) for r in runs]


# --------------------------------------------------------------------------- report

NOTES = """\
Columns: compile = first call - second call; per iteration = second call / max_iter \
(tol=0); RSS before fit = peak resident memory after importing JAX and building the \
data, peak RSS = after both fits (the whole process). A sparse iteration updates both \
factors and evaluates the objective, each a pass over the non-zeros in blocks of \
32,768 (gather the factor rows at the coordinates, scatter-add). The "compare" rows \
fit every row with sparse input and the first 5,000 rows both densely and sparsely \
(same key): the latter pair must agree to float32 rounding; the similarities of the \
column factors V (bf.similarity) against each other and against the planted V show \
what the extra rows add (fits stop at max_iter=200).
"""


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    head = "| " + " | ".join(c[1] for c in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = [
        "| " + " | ".join(format(r[c[0]], c[2]) if c[0] in r else "" for c in columns) + " |"
        for r in rows
    ]
    return "\n".join([head, rule, *body])


def main() -> None:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).with_name("SCALING.md")))
    parser.add_argument("--only", choices=["shard", "size", "sparse", "compare", "sparse_glm"])
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return
    common = [("kind", "model", "s"), ("m", "rows", "d"), ("n", "cols", "d")]
    timing = [
        ("compile_s", "compile (s)", ".2f"),
        ("per_iter_ms", "per iteration (ms)", ".2f"),
        ("rss_before_fit_mb", "RSS before fit (MB)", ".0f"),
        ("peak_rss_mb", "peak RSS (MB)", ".0f"),
    ]
    sections = {
        "shard": (
            "Time per iteration vs number of devices",
            [*common, ("xla_devices", "devices", "d"), *timing],
        ),
        "size": (
            "Time per iteration vs matrix size (KL-NMF, rank 10)",
            [*common, ("xla_devices", "devices", "d"), *timing],
        ),
        "sparse": (
            "Sparse counts (scipy CSR, 1% non-zeros, KL-NMF rank 10, 1 device)",
            [*common, ("nnz", "nnz", ",d"), *timing],
        ),
        "sparse_glm": (
            "Sparse vs dense X for Poisson-log GLM-PCA (rank 10, column intercept, 1% density)",
            [
                *common,
                ("input", "X", "s"),
                ("nnz", "nnz", ",d"),
                ("dense_mb", "dense X (MB)", ".0f"),
                *timing,
                ("peak_device_mb", "peak device (MB)", ".0f"),
            ],
        ),
        "compare": (
            "Sparse vs dense fits (KL-NMF rank 10; subsample: the first 5,000 rows)",
            [
                *common,
                ("nnz", "nnz", ",d"),
                ("iters", "iterations (all / sub)", "s"),
                ("sim_full_vs_dense_sub", "similarity of V: all rows vs subsample", ".3f"),
                ("sim_full_vs_planted", "V all rows vs planted", ".3f"),
                ("sim_dense_sub_vs_planted", "V subsample vs planted", ".3f"),
                ("sub_sparse_vs_dense_rel", "subsample: sparse vs dense objective", ".1e"),
                ("sub_factor_sim", "subsample: sparse vs dense similarity", ".6f"),
            ],
        ),
    }
    suites = {
        "shard": shard_suite,
        "size": size_suite,
        "sparse": sparse_suite,
        "compare": compare_suite,
        "sparse_glm": sparse_glm_suite,
    }
    lines = [
        "# Scaling benchmarks",
        "",
        f"`python benchmarks/scaling.py{' --quick' if args.quick else ''}`, "
        f"{datetime.date.today()}, {platform.machine()} with {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        "",
        'The CPU "devices" are forced host devices '
        "(`--xla_force_host_platform_device_count`), one XLA thread each, all sharing "
        f"this machine's {os.cpu_count()} cores: the device tables show the overhead of "
        "sharding (collectives, padding, partitioned compilation), not a speedup. GPU "
        "numbers are pending a machine with several GPUs.",
        "",
        NOTES,
    ]
    for name, suite in suites.items():
        if args.only and name != args.only:
            continue
        title, columns = sections[name]
        rows = suite(args.quick)
        lines += [f"## {title}", "", table(rows, columns), ""]
        print("\n".join(lines[-4:]), flush=True)
    Path(args.out).write_text("\n".join(lines))


if __name__ == "__main__":
    main()
