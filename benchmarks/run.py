"""Side-by-side timings of bayesfactor against peer libraries on planted problems.

    python benchmarks/run.py [--quick] [--out PATH] [--only NAME] [--all-threads]

Every problem is generated from a fixed seed, every method runs in this one
process, in JAX's default float32 (peers get float32 input too), and the
results are written as a Markdown table (see benchmarks/README.md for the
columns). Nothing here asserts on timings.
"""

from __future__ import annotations

import os
import sys

from _machine import cpu_name, pin_threads

SINGLE_THREAD = pin_threads()  # before numpy and jax load their thread pools

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import tensorly  # noqa: E402
import tensorly.decomposition as tld  # noqa: E402
from jax import lax  # noqa: E402
from scipy.special import gammaln, xlogy  # noqa: E402
from sklearn.decomposition import NMF, PCA  # noqa: E402
from sklearn.decomposition._nmf import _beta_divergence  # noqa: E402

import bayesfactor as bf  # noqa: E402

warnings.simplefilter("ignore")  # bf.ConvergenceWarning, sklearn/tensorly convergence chatter
tensorly.set_backend("numpy")

DTYPE = np.float32
LOG_2PI_HALF = 0.5 * np.log(2 * np.pi)
#: A bf history entry "reaches" a peer loss when it is <= loss + REACH_RTOL * |loss|
#: (float32 resolution of the objective is ~1e-7 relative).
REACH_RTOL = 1e-6
ADAM_STEPS, ADAM_LR = 1000, 0.02
#: When bf stops (tol) above a peer's loss, rerun it with tol=0 up to EXTEND * max_iter.
EXTEND = 4
#: ... but never for longer than about this many seconds (at the warm run's pace).
EXTEND_BUDGET_S = 120.0

SIZES = {
    #            full                  quick
    "nmf": ((5000, 2000, 20), (500, 200, 10)),
    "klnmf": ((1000, 5000, 10), (200, 500, 5)),
    "pca": ((5000, 2000, 20), (500, 200, 10)),
    "cp": (((200, 300, 50), 15), ((40, 30, 20), 5)),
    "glmpca": ((2000, 500, 10), (200, 100, 5)),
}


# --------------------------------------------------------------------------- timing helpers


def timed(fn, *args, **kwargs):
    """``(result, seconds)`` of one call; JAX outputs are waited for."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args, **kwargs))
    return out, time.perf_counter() - t0


def median_time(fn, *args, reps=5):
    """Median seconds of ``reps`` calls after one warm-up call."""
    timed(fn, *args)
    return float(np.median([timed(fn, *args)[1] for _ in range(reps)]))


def bf_timed(model, X, **kwargs):
    """Fit twice (key=0 compiles, key=1 is warm); return the warm result and timings.

    compile_s = first - warm * n_iter_first / n_iter_warm (the warm time rescaled to
    the first call's iteration count; equal to first - warm when the counts match).
    """
    first, t_first = timed(bf.fit, model, X, key=0, **kwargs)
    warm, t_warm = timed(bf.fit, model, X, key=1, **kwargs)
    compile_s = t_first - t_warm * first.n_iter / max(warm.n_iter, 1)
    return warm, t_warm, compile_s


def reach(model, X, res, t_warm, target, offset=0.0, extend_to=None, **fit_kwargs):
    """Estimated seconds (and iteration) at which bf first reached the peer's ``target``.

    The warm run's history (objective per iteration) minus ``offset`` is in the
    peer's units; the time is t_warm * it / n_iter. If the warm run stopped (tol)
    before reaching the target, the same start (key=1) is rerun with tol=0 up
    to ``extend_to`` iterations (fewer if that would take over EXTEND_BUDGET_S at
    the warm run's pace) and the time extrapolated the same way. ``fit_kwargs`` (e.g.
    ``init``) go to that rerun.
    """

    def first_hit(history):
        loss = np.asarray(history, np.float64) - offset
        hit = np.nonzero(loss <= target + REACH_RTOL * abs(target))[0]
        return int(hit[0]) + 1 if hit.size else None

    per_iter = t_warm / max(res.n_iter, 1)
    it = first_hit(res.history)
    if it is not None:
        return f"{per_iter * it:.3g} s (it {it})"
    if extend_to is None:
        return "not reached"
    if res.converged:  # stopped by tol (not max_iter): continue the same run with tol=0
        extend_to = min(extend_to, int(EXTEND_BUDGET_S / per_iter))
        if extend_to > res.n_iter:
            ext = bf.fit(model, X, key=1, max_iter=extend_to, tol=0.0, **fit_kwargs)
            it = first_hit(ext.history)
            if it is not None:
                return f"≈{per_iter * it:.3g} s (it {it}, tol=0 rerun)"
            return f"not reached in {ext.n_iter} its (tol=0 rerun)"
    return f"not reached in {res.n_iter} its"


def history_offset(res, final_loss):
    """What to subtract from bf's history to get the peer's loss.

    history[-1] - final_loss (the float64 loss of the returned factors): it is the
    data-only constant between the negative log posterior and the peer's loss
    (e.g. |Omega| * 0.5 log 2 pi for Gaussian(scale=1)) plus the float32 summation
    error of the objective; `const_gap` reports how far it is from the analytic one.
    """
    return float(res.history[-1]) - final_loss


def const_gap(res, final_loss, const):
    """Note: the analytic constant vs the offset actually used."""
    g = history_offset(res, final_loss) - const
    return f"offset − analytic constant = {g:+.3g} ({g / final_loss:+.1e} of loss)"


def warm_up(fn, *args, **kwargs):
    """One call on a small problem so one-time library set-up is not timed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(*args, **kwargs)


# --------------------------------------------------------------------------- losses (float64)


def half_sq_loss(X, factors):
    """0.5 * ||X - [[F_1, ..., F_N]]||^2 in float64."""
    r = np.asarray(X, np.float64) - cp_numpy(factors)
    return 0.5 * float(np.vdot(r, r))


def cp_numpy(factors):
    """The CP product of ``factors`` (each (n_k, rank)) on the host, in float64."""
    letters = "abcdefg"[: len(factors)]
    spec = ",".join(f"{m}z" for m in letters) + "->" + letters
    return np.einsum(spec, *[np.asarray(f, np.float64) for f in factors], optimize=True)


def kl_loss(X, W, H):
    """Generalized KL divergence D(X || W H) in float64 (sklearn's beta=1)."""
    return float(
        _beta_divergence(
            np.asarray(X, np.float64), np.asarray(W, np.float64), np.asarray(H, np.float64), 1
        )
    )


def row(
    problem,
    loss_name,
    ours,
    settings,
    peer,
    peer_settings,
    peer_s,
    peer_n,
    peer_loss,
    reach_str,
    note="",
):
    """One table row: bf (`ours` dict) vs one peer."""
    return {
        "problem": problem,
        "loss": loss_name,
        "bf update": ours["update"],
        "bf settings": settings,
        "bf compile s": f"{ours['compile']:.2f}",
        "bf warm s": f"{ours['time']:.3g}",
        "bf n_iter": str(ours["n_iter"]),
        "bf loss": f"{ours['loss']:.7g}",
        "peer": peer,
        "peer settings": peer_settings,
        "peer s": f"{peer_s:.3g}",
        "peer n_iter": str(peer_n),
        "peer loss": f"{peer_loss:.7g}",
        "time bf/peer": f"{ours['time'] / peer_s:.2f}",
        "bf time to peer loss": reach_str,
        "note": note,
    }


def bf_summary(model, result, t_warm, compile_s, loss):
    upd = bf.solvers.describe_update(model, len(result.factors))
    return {
        "update": " / ".join(sorted(set(upd))),
        "compile": compile_s,
        "time": t_warm,
        "n_iter": result.n_iter,
        "loss": loss,
    }


#: Rows of the restarts table, filled by the problems that call :func:`restart_row`.
RESTARTS = []
RESTART_COLUMNS = [
    "problem",
    "restarts=1",
    "restarts=10",
    "restarts=1, compress=True",
    "restarts=10, compress=True",
]


def restart_row(name, model, X, res, t_warm, **kwargs):
    """10 restarts against one (``res``, ``t_warm``: the problem's warm fit), plain and
    compressed (``fit(..., compress=True)``): warm time, its ratio to one plain restart,
    iterations (of the finish on X when compressed) and the kept restart's loss."""

    def cell(result, t, compile_s=None):
        compiled = "" if compile_s is None else f", compile {compile_s:.2f} s"
        loss = half_sq_loss(X, result.factors)
        return f"{t:.3g} s = {t / t_warm:.2f}× ({result.n_iter} its{compiled}), loss {loss:.7g}"

    cells = {"problem": name, "restarts=1": cell(res, t_warm)}
    for restarts, compress in ((10, None), (1, True), (10, True)):
        label = f"restarts={restarts}" + (", compress=True" if compress else "")
        cells[label] = cell(*bf_timed(model, X, restarts=restarts, compress=compress, **kwargs))
    RESTARTS.append(cells)


# --------------------------------------------------------------------------- planted data


def planted_nmf(n, m, r, seed=0):
    """X = max(W H + N(0, 1), 0), W, H ~ Exp(1): entries ~ r +- sqrt(3 r)."""
    rng = np.random.default_rng(seed)
    W = rng.exponential(1.0, (n, r))
    H = rng.exponential(1.0, (r, m))
    return np.maximum(W @ H + rng.normal(0.0, 1.0, (n, m)), 0.0).astype(DTYPE)


def planted_spikes(n_neurons, n_bins, r, seed=1):
    """Poisson spike counts: sparse neuron loadings times bursty temporal factors."""
    rng = np.random.default_rng(seed)
    W = rng.gamma(1.0, 1.0, (n_neurons, r)) * (rng.random((n_neurons, r)) < 0.3)
    H = rng.gamma(0.2, 1.0, (r, n_bins))  # mostly near 0, occasional bursts
    rate = 0.02 + 1.5 * (W @ H) / r  # ~0.1 spikes per bin on average, ~90% empty bins
    return rng.poisson(rate).astype(DTYPE)


def planted_lowrank_centered(n, m, r, seed=2):
    """Column-centred U V^T + N(0, 1), U, V ~ N(0, 1) with decaying column scales."""
    rng = np.random.default_rng(seed)
    scales = np.linspace(3.0, 1.0, r)
    X = (rng.normal(size=(n, r)) * scales) @ rng.normal(size=(r, m)) + rng.normal(size=(n, m))
    return (X - X.mean(axis=0)).astype(DTYPE)


def planted_cp(shape, r, nonneg, seed=3):
    """CP tensor plus noise at 10% of the signal's standard deviation (clipped if nonneg)."""
    rng = np.random.default_rng(seed)
    draw = (lambda s: rng.random(s)) if nonneg else (lambda s: rng.normal(size=s))
    T = cp_numpy([draw((n, r)) for n in shape])
    T = T + 0.1 * T.std() * rng.normal(size=shape)
    return (np.maximum(T, 0.0) if nonneg else T).astype(DTYPE)


def planted_binary(n, m, r, seed=4):
    rng = np.random.default_rng(seed)
    eta = (0.7 * rng.normal(size=(n, r))) @ (0.7 * rng.normal(size=(r, m)))
    return (rng.random((n, m)) < 1.0 / (1.0 + np.exp(-eta))).astype(DTYPE)


def planted_counts_log(n, m, r, seed=5):
    rng = np.random.default_rng(seed)
    eta = (0.5 * rng.normal(size=(n, r))) @ (0.5 * rng.normal(size=(r, m)))
    return rng.poisson(np.exp(eta)).astype(DTYPE)


# --------------------------------------------------------------------------- problems


def problem_nmf(quick):
    """1. Gaussian NMF vs sklearn NMF (coordinate descent); plus diagnostics."""
    n, m, r = SIZES["nmf"][quick]
    X = planted_nmf(n, m, r)
    max_iter, tol = 200, 1e-4
    name = f"1. Gaussian NMF {n}x{m} r={r}"

    model = bf.Model(bf.Gaussian(), r, bf.NonNegative())
    res, t_warm, t_comp = bf_timed(model, X, max_iter=max_iter, tol=tol)
    loss = half_sq_loss(X, res.factors)
    ours = bf_summary(model, res, t_warm, t_comp, loss)

    sk = NMF(r, solver="cd", init="random", max_iter=max_iter, tol=tol, random_state=0)
    warm_up(NMF(r, solver="cd", init="random", max_iter=5).fit, X[:50, :50])
    W, t_sk = timed(sk.fit_transform, X)
    assert W.dtype == DTYPE  # sklearn keeps float32
    sk_loss = half_sq_loss(X, (W, sk.components_.T))
    when = reach(model, X, res, t_warm, sk_loss, history_offset(res, loss), EXTEND * max_iter)
    rows = [
        row(
            name,
            "0.5‖X−WHᵀ‖²",
            ours,
            f"max_iter={max_iter}, tol={tol:g}",
            'NMF(solver="cd", init="random")',
            f"max_iter={max_iter}, tol={tol:g}",
            t_sk,
            sk.n_iter_,
            sk_loss,
            when,
            const_gap(res, loss, X.size * LOG_2PI_HALF),
        )
    ]
    diag = nmf_diagnostics(quick, X, model, res, t_warm, t_sk, sk.n_iter_)
    restart_row(name, model, X, res, t_warm, max_iter=max_iter, tol=tol)
    return rows, diag


def nmf_diagnostics(quick, X, model, res, t_warm, t_sk, sk_iter):
    """Per-iteration time vs GEMMs and the objective; memory, first call; restarts=10 vs 1."""
    r = SIZES["nmf"][quick][2]
    out = []
    xj = jnp.asarray(X)
    W = jnp.asarray(res.factors[0])
    H = jnp.asarray(res.factors[1])  # (m, r): bf stores H transposed
    gemm1 = median_time(jax.jit(lambda x, h: x @ h), xj, H)
    gemm2 = median_time(jax.jit(lambda x, w: x.T @ w), xj, W)
    mask = jnp.ones(X.shape, bool)
    obj = median_time(jax.jit(lambda x, k, f: model.objective(x, k, f)), xj, mask, (W, H))
    per_iter = t_warm / res.n_iter
    out.append(("bf time per iteration (warm / n_iter)", f"{per_iter * 1e3:.2f} ms"))
    out.append(("GEMM X @ H (jit, median of 5)", f"{gemm1 * 1e3:.2f} ms"))
    out.append(("GEMM Xᵀ @ W (jit, median of 5)", f"{gemm2 * 1e3:.2f} ms"))
    out.append(("per iteration / (both GEMMs)", f"{per_iter / (gemm1 + gemm2):.2f}"))
    out.append(("model.objective once (jit, median of 5; forms W Hᵀ)", f"{obj * 1e3:.2f} ms"))
    out.append(("per iteration / objective", f"{per_iter / obj:.2f}"))
    out.append(("sklearn time per iteration (fit / n_iter_)", f"{t_sk / sk_iter * 1e3:.2f} ms"))

    # Memory and the first call: one fit in a fresh subprocess that only loads X.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, X)
        for who in ("bf", "sklearn"):
            mb, seconds = _rss_probe(who, path, r)
            out.append((f"peak RSS increase, {who} fit (fresh subprocess)", mb))
            what = "bf first call (compile included)" if who == "bf" else "sklearn fit"
            out.append((f"{what}, fresh subprocess", seconds))
    tracemalloc.start()
    NMF(r, solver="cd", init="random", max_iter=200, tol=1e-4, random_state=0).fit_transform(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out.append(("peak traced allocation, sklearn fit (tracemalloc)", f"{peak / 2**20:.1f} MiB"))
    out.append(("size of X (float32)", f"{X.nbytes / 2**20:.1f} MiB"))

    # Restarts: fixed work (max_iter=50, tol=0) so the ratio is the vmapped overhead.
    times = {}
    for restarts in (1, 10):
        res_r, t, c = bf_timed(model, X, max_iter=50, tol=0.0, restarts=restarts)
        times[restarts] = t
        out.append(
            (
                f"bf restarts={restarts}, 50 iterations (tol=0): warm / compile",
                f"{t:.3g} s / {c:.2f} s",
            )
        )
    out.append(("restarts=10 / restarts=1 (warm)", f"{times[10] / times[1]:.2f}"))
    return out


def _rss_probe(who, path, r):
    cmd = [sys.executable, os.path.abspath(__file__), "--_rss", who, path, str(r)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True)
        d = json.loads(p.stdout.strip().splitlines()[-1])
        mib = (d["peak"] - d["before"]) / 1024
        return f"{mib:.1f} MiB ({d['method']})", f"{d['seconds']:.2f} s"
    except Exception as e:  # noqa: BLE001 - report, never fail the benchmark
        return (f"failed ({type(e).__name__})",) * 2


def _proc_status_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(field)


def rss_probe_main(who, path, r):
    """Subprocess body: resident set before one fit and its peak during the fit (KiB).

    Also the fit's wall time: for bf the first call of a process, compilation included
    (the JAX runtime already started, as for any user who made an array first).

    Linux: VmRSS before, VmHWM after, with the high-water mark reset to the current
    RSS first (write "5" to /proc/self/clear_refs). Not ru_maxrss: a subprocess
    inherits its parent's RSS at fork as its starting ru_maxrss, which hides the fit.
    """
    X = np.load(path)
    jax.block_until_ready(jnp.zeros(1))  # start the JAX runtime before the baseline
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        before, method = _proc_status_kib("VmRSS"), "VmHWM - VmRSS, HWM reset"
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        method = "ru_maxrss delta"
    t0 = time.perf_counter()
    if who == "bf":
        bf.fit(bf.Model(bf.Gaussian(), r, bf.NonNegative()), X, key=0, max_iter=200, tol=1e-4)
    else:
        NMF(r, solver="cd", init="random", max_iter=200, tol=1e-4, random_state=0).fit_transform(X)
    seconds = time.perf_counter() - t0
    if method.startswith("VmHWM"):
        peak = _proc_status_kib("VmHWM")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before": before, "peak": peak, "method": method, "seconds": seconds}))


def problem_klnmf(quick):
    """2. KL-NMF on Poisson spike counts vs sklearn NMF (multiplicative updates)."""
    n, m, r = SIZES["klnmf"][quick]
    X = planted_spikes(n, m, r)
    max_iter, tol = 200, 1e-4
    name = (
        f"2. KL-NMF spikes {n}x{m} r={r} (mean {X.mean():.2f}, {100 * (X == 0).mean():.0f}% zeros)"
    )

    model = bf.Model(bf.Poisson(link="identity"), r, bf.NonNegative())
    warm_up(
        NMF(r, solver="mu", beta_loss="kullback-leibler", init="random", max_iter=5).fit,
        X[:50, :50] + 1,
    )
    x64 = X.astype(np.float64)
    const = float(np.sum(gammaln(x64 + 1) - xlogy(x64, x64) + x64))  # -log p - KL
    settings = f"max_iter={max_iter}, tol={tol:g}"
    mu = dict(solver="mu", beta_loss="kullback-leibler", max_iter=max_iter, tol=tol)

    def side_by_side(problem, start, sk_init, sk_start, note, label=", init=(W0, H0ᵀ)"):
        """One row: bf from ``start`` (None: random) vs scikit-learn from ``sk_start``."""
        fit_kwargs = {} if start is None else {"init": start}
        res, t_warm, t_comp = bf_timed(model, X, max_iter=max_iter, tol=tol, **fit_kwargs)
        loss = kl_loss(X, res.factors[0], res.factors[1].T)
        sk = NMF(r, init=sk_init, **mu, **({"random_state": 0} if sk_start is None else {}))
        W, t_sk = timed(sk.fit_transform, X, **(sk_start or {}))
        sk_loss = kl_loss(X, W, sk.components_)
        offset = history_offset(res, loss)
        when = reach(model, X, res, t_warm, sk_loss, offset, EXTEND * max_iter, **fit_kwargs)
        return row(
            problem,
            "KL(X‖WHᵀ)",
            bf_summary(model, res, t_warm, t_comp, loss),
            settings + ("" if start is None else label),
            f'NMF(solver="mu", beta_loss="kullback-leibler", init="{sk_init}")',
            settings + ("" if sk_start is None else ", W=W0, H=H0"),
            t_sk,
            sk.n_iter_,
            sk_loss,
            when,
            const_gap(res, loss, const) if note is None else note,
        )

    # The same start for both (scikit-learn's init="random" draw, random_state=0): the
    # random starts differ, and the iterations MU needs to reach a given loss vary
    # ~1.5x with the start (bf keys 0-2: 84-129), so the second row isolates speed.
    rng = np.random.RandomState(0)
    avg = np.sqrt(X.mean() / r)
    H0 = np.abs(avg * rng.standard_normal((r, X.shape[1]))).astype(DTYPE)
    W0 = np.abs(avg * rng.standard_normal((X.shape[0], r))).astype(DTYPE)
    same = "both from scikit-learn's random start (random_state=0)"
    return [
        side_by_side(name, None, "random", None, None),
        side_by_side(
            name + ", same start", (W0, H0.T), "custom", {"W": W0.copy(), "H": H0.copy()}, same
        ),
        # Each library's SVD start (scikit-learn's default init for this rank).
        side_by_side(name + ", SVD starts", "svd", "nndsvda", None, "NNDSVDa both", ', init="svd"'),
    ], []


def problem_pca(quick):
    """3. PCA (Gaussian + Flat) on centred data vs randomized PCA and a full SVD."""
    n, m, r = SIZES["pca"][quick]
    X = planted_lowrank_centered(n, m, r)
    max_iter, tol = 200, 1e-6
    name = f"3. PCA {n}x{m} r={r} (centred)"

    model = bf.Model(bf.Gaussian(), r, bf.Flat())
    res, t_warm, t_comp = bf_timed(model, X, max_iter=max_iter, tol=tol)
    restart_row(name, model, X, res, t_warm, max_iter=max_iter, tol=tol)
    loss = half_sq_loss(X, res.factors)
    ours = bf_summary(model, res, t_warm, t_comp, loss)
    offset = history_offset(res, loss)
    gap = const_gap(res, loss, X.size * LOG_2PI_HALF)
    settings = f"max_iter={max_iter}, tol={tol:g}"
    rows = []

    pca = PCA(r, svd_solver="randomized", random_state=0)
    warm_up(PCA(2, svd_solver="randomized").fit, X[:50, :50])
    Z, t_pca = timed(pca.fit_transform, X)
    pca_loss = half_sq_loss(X, (Z, pca.components_.T))  # X is centred: mean_ ~ 0
    rows.append(
        row(
            name,
            "0.5‖X−UVᵀ‖²",
            ours,
            settings,
            'PCA(svd_solver="randomized")',
            "defaults (n_oversamples=10, n_iter=auto)",
            t_pca,
            "-",
            pca_loss,
            reach(model, X, res, t_warm, pca_loss, offset, EXTEND * max_iter),
            gap,
        )
    )

    warm_up(np.linalg.svd, X[:50, :50], full_matrices=False)
    (U, s, Vt), t_svd = timed(np.linalg.svd, X, full_matrices=False)
    svd_loss = half_sq_loss(X, (U[:, :r] * s[:r], Vt[:r].T))
    rows.append(
        row(
            name,
            "0.5‖X−UVᵀ‖²",
            ours,
            settings,
            "numpy.linalg.svd (optimum)",
            "full_matrices=False",
            t_svd,
            "-",
            svd_loss,
            reach(model, X, res, t_warm, svd_loss, offset, EXTEND * max_iter),
            gap,
        )
    )
    return rows, []


def problem_cp(quick):
    """4. CP: Gaussian+Flat vs parafac; Gaussian+NonNegative vs the non-negative parafacs."""
    shape, r = SIZES["cp"][quick]
    max_iter, tol = 200, 1e-6
    settings = f"max_iter={max_iter}, tol={tol:g}"
    dims = "x".join(map(str, shape))
    rows = []
    for nonneg in (False, True):
        T = planted_cp(shape, r, nonneg)
        prior = bf.NonNegative() if nonneg else bf.Flat()
        name = f"4. CP {dims} r={r} " + ("non-negative" if nonneg else "unconstrained")
        model = bf.Model(bf.Gaussian(), r, prior)
        res, t_warm, t_comp = bf_timed(model, T, max_iter=max_iter, tol=tol)
        restart_row(name, model, T, res, t_warm, max_iter=max_iter, tol=tol)
        loss = half_sq_loss(T, res.factors)
        ours = bf_summary(model, res, t_warm, t_comp, loss)
        offset = history_offset(res, loss)
        gap = const_gap(res, loss, T.size * LOG_2PI_HALF)
        peers = (
            [("parafac", tld.parafac)]
            if not nonneg
            else [("non_negative_parafac", tld.non_negative_parafac)]
            + (
                [("non_negative_parafac_hals", tld.non_negative_parafac_hals)]
                if hasattr(tld, "non_negative_parafac_hals")
                else []
            )
        )
        for peer_name, fn in peers:
            warm_up(fn, T[:10, :10, :10], 2, n_iter_max=3, init="random", random_state=0)
            (cp, errors), t_tl = timed(
                fn,
                T,
                r,
                n_iter_max=max_iter,
                init="random",
                tol=tol,
                random_state=0,
                return_errors=True,
            )
            weights, factors = cp
            factors = [f * weights if k == 0 else f for k, f in enumerate(factors)]
            tl_loss = half_sq_loss(T, factors)
            rows.append(
                row(
                    name,
                    "0.5‖T−[[A,B,C]]‖²",
                    ours,
                    settings,
                    f'tensorly {peer_name}(init="random")',
                    f"n_iter_max={max_iter}, tol={tol:g} (abs. change of rel. error)",
                    t_tl,
                    len(errors),
                    tl_loss,
                    reach(model, T, res, t_warm, tl_loss, offset, EXTEND * max_iter),
                    f"{gap}; tensorly dtype {factors[0].dtype}",
                )
            )
    return rows, []


def adam_init(model, X, r, seed):
    """Random start drawn like bf's own init: each factor ~ N(0, s^2), s^2 = scale/sqrt(r)."""
    s = (model.likelihood.init_scale(X) / np.sqrt(r)) ** 0.5
    keys = jax.random.split(jax.random.key(seed), X.ndim)
    return tuple(
        s * jax.random.normal(k, (n, r), DTYPE) for k, n in zip(keys, X.shape, strict=True)
    )


def adam_solver(model, steps, lr):
    """Plain Adam on ``model.objective``: ``steps`` steps in one jitted ``lax.scan``."""
    import optax  # pip install optax

    opt = optax.adam(lr)

    @jax.jit
    def run(x, f0):
        mask = jnp.ones(x.shape, bool)
        objective = lambda f: model.objective(x, mask, f)

        def step(carry, _):
            f, state = carry
            g = jax.grad(objective)(f)
            upd, state = opt.update(g, state, f)
            return (optax.apply_updates(f, upd), state), None

        (f, _), _ = lax.scan(step, (f0, opt.init(f0)), None, length=steps)
        return f, objective(f)

    return run


def problem_glmpca(quick):
    """5. Logistic PCA and Poisson-log GLM-PCA vs plain Adam on the same objective."""
    n, m, r = SIZES["glmpca"][quick]
    max_iter, tol = 200, 1e-6
    rows = []
    cases = [
        ("logistic PCA", bf.Bernoulli(), planted_binary(n, m, r)),
        ("Poisson-log GLM-PCA", bf.Poisson(), planted_counts_log(n, m, r)),
    ]
    for label, lik, X in cases:
        name = f"5. {label} {n}x{m} r={r}"
        model = bf.Model(lik, r, bf.Normal(1.0))
        res, t_warm, t_comp = bf_timed(model, X, max_iter=max_iter, tol=tol)
        ours = bf_summary(model, res, t_warm, t_comp, res.objective)

        run, x = adam_solver(model, ADAM_STEPS, ADAM_LR), jnp.asarray(X)
        _, t_first = timed(run, x, adam_init(model, X, r, seed=0))  # compiles
        (_, adam_obj), t_adam = timed(run, x, adam_init(model, X, r, seed=1))
        adam_obj = float(adam_obj)
        rows.append(
            row(
                name,
                "−log posterior",
                ours,
                f"max_iter={max_iter}, tol={tol:g}",
                "optax.adam on model.objective (jit, lax.scan)",
                f"{ADAM_STEPS} steps, lr={ADAM_LR}",
                t_adam,
                ADAM_STEPS,
                adam_obj,
                reach(model, X, res, t_warm, adam_obj, 0.0, EXTEND * max_iter),
                f"Adam compile {t_first - t_adam:.2f} s",
            )
        )
    return rows, []


#: Run order (the slowest per iteration last, so an interrupted run keeps the rest);
#: the table is sorted by problem number.
PROBLEMS = {
    "nmf": problem_nmf,
    "pca": problem_pca,
    "cp": problem_cp,
    "glmpca": problem_glmpca,
    "klnmf": problem_klnmf,
}


# --------------------------------------------------------------------------- report


def load_average():
    try:
        one, five, fifteen = os.getloadavg()
        return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"
    except OSError:
        return "?"


def machine_info(quick):
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} ({i['num_threads']} threads)"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        )
    except Exception:  # noqa: BLE001
        blas = "?"
    return [
        ("date", datetime.datetime.now().isoformat(timespec="seconds")),
        ("platform", platform.platform()),
        ("cpu", cpu_name()),
        ("python", platform.python_version()),
        (
            "versions",
            f"bayesfactor {bf.__version__}, jax {jax.__version__} "
            f"({jax.default_backend()}), numpy {np.__version__}, "
            f"scikit-learn {sklearn.__version__}, tensorly {tensorly.__version__}",
        ),
        ("BLAS (numpy/scipy)", blas),
        (
            "threads",
            "single-threaded (OMP/OPENBLAS/MKL_NUM_THREADS=1, XLA_FLAGS="
            f"{os.environ.get('XLA_FLAGS', '')!r})"
            if SINGLE_THREAD
            else "library defaults (--all-threads)",
        ),
        (
            "dtype",
            f"float32 everywhere: jax_enable_x64={jax.config.jax_enable_x64}, bf factors "
            f"{jnp.zeros(1).dtype}; peers get float32 input. Losses recomputed in float64.",
        ),
        ("size", "quick (--quick)" if quick else "full"),
        ("load at start", load_average()),
    ]


def markdown_table(rows, columns):
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(esc(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


COLUMNS = [
    "problem",
    "loss",
    "bf update",
    "bf settings",
    "bf compile s",
    "bf warm s",
    "bf n_iter",
    "bf loss",
    "peer",
    "peer settings",
    "peer s",
    "peer n_iter",
    "peer loss",
    "time bf/peer",
    "bf time to peer loss",
    "note",
]


def report(info, rows, diag, status, elapsed):
    parts = [
        "# bayesfactor benchmarks",
        "",
        f"**Status:** {status} (wall time {elapsed:.0f} s)",
        "",
    ]
    parts += [f"- **{k}:** {v}" for k, v in info]
    parts += [f"- **load at last write:** {load_average()}"]
    parts += [
        "",
        "Timings are single runs on a shared machine: treat ratios within ~1.5x as "
        "noise. See benchmarks/README.md for the columns.",
        "",
        "## Results",
        "",
        markdown_table(sorted(rows, key=lambda r: r["problem"].split(" ")[0]), COLUMNS),
    ]
    if RESTARTS:
        parts += [
            "",
            "## Restarts: 10 against one (warm; ratios to one plain restart)",
            "",
            "`compress=True` fits the restarts on a randomized Tucker compression of the "
            "data and finishes the best one on the data (its iterations are the finish's).",
            "",
            markdown_table(RESTARTS, RESTART_COLUMNS),
        ]
    if diag:
        parts += [
            "",
            "## Gaussian NMF diagnostics (problem 1)",
            "",
            markdown_table([{"quantity": k, "value": v} for k, v in diag], ["quantity", "value"]),
        ]
    return "\n".join(parts) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (~1-2 min in total)")
    p.add_argument(
        "--out",
        default=None,
        help="Markdown output (default benchmarks/RESULTS.md, "
        "or benchmarks/RESULTS_quick.md with --quick)",
    )
    p.add_argument(
        "--only",
        choices=sorted(PROBLEMS),
        action="append",
        help="run only this problem (repeatable)",
    )
    p.add_argument(
        "--all-threads",
        action="store_true",
        help="keep the libraries' default threading (default: everything single-threaded)",
    )
    p.add_argument("--_rss", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._rss:
        who, path, r = args._rss
        return rss_probe_main(who, path, int(r))

    here = os.path.dirname(os.path.abspath(__file__))
    out = args.out or os.path.join(here, "RESULTS_quick.md" if args.quick else "RESULTS.md")
    quick = 1 if args.quick else 0
    names = args.only or list(PROBLEMS)
    info = machine_info(args.quick)
    rows, diag = [], []
    t0 = time.perf_counter()
    for i, name in enumerate(names):
        t = time.perf_counter()
        print(f"[{time.perf_counter() - t0:6.1f} s] {name} ...", flush=True)
        try:
            new_rows, new_diag = PROBLEMS[name](quick)
        except Exception as e:  # noqa: BLE001 - keep the other problems' results
            new_rows, new_diag = [{"problem": name, "note": f"FAILED: {type(e).__name__}: {e}"}], []
        rows += new_rows
        diag += new_diag
        print(
            f"[{time.perf_counter() - t0:6.1f} s] {name} done in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        left = names[i + 1 :]
        status = "complete" if not left else f"partial: still running {', '.join(left)}"
        # Rewritten after every problem so an interrupted run leaves what it finished.
        text = report(info, rows, diag, status, time.perf_counter() - t0)
        with open(out, "w") as fh:
            fh.write(text)
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    sys.exit(main())
