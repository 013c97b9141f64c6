"""Side-by-side timings of bayesfactor against peer libraries on planted problems, at equal quality.

    python benchmarks/run.py [--quick] [--dtype {float64,float32,both}] [--out PATH]
                             [--only NAME] [--all-threads]

Every problem is generated from a fixed seed and every method runs in this one
process. Each problem runs in float64 (NumPy's default: bf fits float64 data in
float64, the peers get the same array) and in float32 (float32 data; the peers get
float32 and the table says what dtype they computed in). The headline is the time bf
needs to reach the peer's final objective (within REACH_RTOL, both scored by the same
float64 loss of the returned factors), compile and run apart. The results are written
as Markdown tables (see benchmarks/README.md for the columns). Nothing here asserts on
timings.
"""

from __future__ import annotations

import os
import sys

from _machine import cpu_name, pin_threads

SINGLE_THREAD = pin_threads()  # before numpy and jax load their thread pools

import argparse  # noqa: E402
import datetime  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
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

import bayesfactor as bf  # noqa: E402  (turns on JAX's x64 mode unless BAYESFACTOR_X64=0)

warnings.simplefilter("ignore")  # bf.ConvergenceWarning, sklearn/tensorly convergence chatter
tensorly.set_backend("numpy")

#: The dtype of the pass being run (set by main: float64, then float32).
DTYPE = np.float64
LOG_2PI_HALF = 0.5 * np.log(2 * np.pi)
#: bf "reaches" a peer when its float64 loss is <= peer loss + REACH_RTOL * |peer loss|.
REACH_RTOL = 1e-3
ADAM_STEPS, ADAM_LR = 1000, 0.02
#: bf.fit's own defaults: the "default" bf fit of every problem uses them.
_FIT_DEFAULTS = inspect.signature(bf.fit).parameters
DEFAULT_MAX_ITER = _FIT_DEFAULTS["max_iter"].default
DEFAULT_TOL = _FIT_DEFAULTS["tol"].default
#: When bf's default fit ends above a peer's loss, rerun it with tol=0 up to EXTEND * max_iter.
EXTEND = 4
#: ... but never for longer than about this many seconds (at the warm run's pace).
EXTEND_BUDGET_S = 30.0
#: Iterations (tol=0) of the fixed-work fits of the float64 vs float32 cost table.
COST_ITERS = 50

SIZES = {
    #            full                  quick
    "nmf": ((5000, 2000, 20), (500, 200, 10)),
    "klnmf": ((1000, 5000, 10), (200, 500, 5)),
    "pca": ((5000, 2000, 20), (500, 200, 10)),
    "cp": (((200, 300, 50), 15), ((40, 30, 20), 5)),
    "glmpca": ((2000, 500, 10), (200, 100, 5)),
}

#: The models of the problems by name (also built in the memory probe's subprocess).
MODELS = {
    "nmf": lambda r: bf.Model(bf.Gaussian(), r, bf.NonNegative()),
    "klnmf": lambda r: bf.Model(bf.Poisson(link="identity"), r, bf.NonNegative()),
    "pca": lambda r: bf.Model(bf.Gaussian(), r, bf.Flat()),
    "cp": lambda r: bf.Model(bf.Gaussian(), r, bf.Flat()),
    "nncp": lambda r: bf.Model(bf.Gaussian(), r, bf.NonNegative()),
    "logistic": lambda r: bf.Model(bf.Bernoulli(), r, bf.Normal(1.0)),
    "poissonlog": lambda r: bf.Model(bf.Poisson(), r, bf.Normal(1.0)),
}


def dtname(dtype=None):
    return np.dtype(DTYPE if dtype is None else dtype).name


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


def history_offset(res, final_loss):
    """What to subtract from bf's history to get the peer's loss.

    history[-1] - final_loss (the float64 loss of the returned factors): it is the
    data-only constant between the negative log posterior and the peer's loss
    (e.g. |Omega| * 0.5 log 2 pi for Gaussian(scale=1)) plus the rounding error of the
    objective's sum; `const_gap` reports how far it is from the analytic one. The
    history only picks the candidate iteration: the reach is confirmed on the float64
    loss of a rerun's factors (:func:`time_to_target`).
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


def within(loss, target):
    return loss <= target + REACH_RTOL * abs(target)


def gap_pct(loss, target):
    return 100.0 * (loss - target) / abs(target)


def first_hit(history, offset, target):
    """First iteration (1-based) whose history entry minus ``offset`` is within the target."""
    loss = np.asarray(history, np.float64) - offset
    hit = np.nonzero(loss <= target + REACH_RTOL * abs(target))[0]
    return int(hit[0]) + 1 if hit.size else None


def time_to_target(model, X, lossfn, it, target, cap, cache=None, **fit_kwargs):
    """Time bf's run of ``it`` iterations (tol=0) from the default fit's start (key=1).

    The first call (key=0, same settings) compiles; the warm call (key=1) is the run
    time; compile = first - warm (same work). The float64 loss of the warm call's
    factors must be within REACH_RTOL of ``target``; if it is not (the history's
    conversion is off by rounding), ``it`` grows by 25% and the check is repeated
    (at most 4 times, never past ``cap``). Returns a dict or None. ``cache`` (a dict
    by ``it``) keeps the timings, so a second target at the same iteration count is
    not timed against an already compiled program.
    """
    cache = {} if cache is None else cache
    for _ in range(4):
        if it not in cache:
            _, t_first = timed(bf.fit, model, X, key=0, max_iter=it, tol=0.0, **fit_kwargs)
            res, t_run = timed(bf.fit, model, X, key=1, max_iter=it, tol=0.0, **fit_kwargs)
            cache[it] = {"run": t_run, "compile": max(t_first - t_run, 0.0)}
            cache[it]["loss"] = lossfn(res.factors)
        got = cache[it]
        if within(got["loss"], target):
            return {"it": it, **got}
        if it >= cap:
            break
        it = min(cap, math.ceil(it * 1.25) + 1)
    return None


class BfDefault:
    """bf's fit with its default settings (``tol``, ``max_iter``), warm, and its reaches."""

    def __init__(self, model, X, lossfn, **fit_kwargs):
        self.model, self.X, self.lossfn, self.fit_kwargs = model, X, lossfn, fit_kwargs
        self.res, self.t_warm, self.t_compile = bf_timed(model, X, **fit_kwargs)
        self.loss = lossfn(self.res.factors)
        self.offset = history_offset(self.res, self.loss)
        self._ext = None  # the tol=0 continuation, run at most once
        self._runs = {}  # time_to_target's timings by iteration count

    @property
    def update(self):
        upd = bf.solvers.describe_update(self.model, len(self.res.factors))
        return " / ".join(sorted(set(upd)))

    def extended(self):
        """The same start (key=1) rerun with tol=0 up to EXTEND * max_iter (time-capped)."""
        if self._ext is None:
            per_iter = self.t_warm / max(self.res.n_iter, 1)
            n = min(EXTEND * DEFAULT_MAX_ITER, max(int(EXTEND_BUDGET_S / per_iter), 1))
            if n <= self.res.n_iter:
                self._ext = (self.res, self.loss)
            else:
                ext = bf.fit(self.model, self.X, key=1, max_iter=n, tol=0.0, **self.fit_kwargs)
                self._ext = (ext, self.lossfn(ext.factors))
        return self._ext

    def reach(self, target):
        """dict: it, run, compile, loss (reached) or best, best_it (not reached)."""
        it = first_hit(self.res.history, self.offset, target)
        cap = self.res.n_iter
        if it is None:
            ext, ext_loss = self.extended()
            cap = ext.n_iter
            it = first_hit(ext.history, float(ext.history[-1]) - ext_loss, target)
            if it is None:
                return {"best": ext_loss, "best_it": ext.n_iter}
        got = time_to_target(
            self.model, self.X, self.lossfn, it, target, cap, self._runs, **self.fit_kwargs
        )
        if got is None:
            ext, ext_loss = self.extended()
            return {"best": min(ext_loss, self.loss), "best_it": ext.n_iter, "unconfirmed": it}
        return got


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


def objective64(model, X):
    """``factors -> model.objective`` of ``X`` in float64 (x64 is on)."""
    x = jnp.asarray(np.asarray(X, np.float64))
    mask = jnp.ones(x.shape, bool)
    f = jax.jit(lambda fs: model.objective(x, mask, fs))
    return lambda factors: float(f(tuple(jnp.asarray(np.asarray(a, np.float64)) for a in factors)))


#: float64 peer losses by (problem, peer), filled by the float64 pass, for the float32 gaps.
PEER64 = {}


def row(
    problem, loss_name, ours, peer, peer_settings, peer_s, peer_n, peer_loss, peer_dtype, note=""
):
    """One table row: bf's default fit (`ours`, a BfDefault) vs one peer, at equal quality."""
    key = (problem, peer)
    if DTYPE == np.float64:
        PEER64[key] = peer_loss
    at_peer = within(ours.loss, peer_loss)
    gap = gap_pct(ours.loss, peer_loss)
    reach = ours.reach(peer_loss)
    r = {
        "problem": problem,
        "dtype": dtname(),
        "loss": loss_name,
        "peer": peer,
        "peer settings": peer_settings,
        "peer dtype": peer_dtype,
        "peer s": f"{peer_s:.3g}",
        "peer n_iter": str(peer_n),
        "peer loss": f"{peer_loss:.7g}",
        "bf update": ours.update,
        "bf default: n_iter, warm s": f"{ours.res.n_iter}, {ours.t_warm:.3g} s",
        "bf default loss": f"{ours.loss:.7g}",
        "default ends at peer": f"{'yes' if at_peer else 'no'} ({gap:+.3f} %)",
        "note": note,
    }
    if "it" in reach:
        r["bf to peer: it"] = str(reach["it"])
        r["bf compile s"] = f"{reach['compile']:.2f}"
        r["bf run s to peer"] = f"{reach['run']:.3g}"
        r["run to peer / peer s"] = f"{reach['run'] / peer_s:.2f}"
        r["(compile + run) / peer s"] = f"{(reach['run'] + reach['compile']) / peer_s:.2f}"
    else:
        best = f"best {gap_pct(reach['best'], peer_loss):+.3f} % in {reach['best_it']} its"
        r["bf to peer: it"] = "not reached"
        r["bf compile s"] = f"{ours.t_compile:.2f}"
        r["bf run s to peer"] = f"– ({best})"
        r["run to peer / peer s"] = "–"
        r["(compile + run) / peer s"] = "–"
        if "unconfirmed" in reach:
            r["note"] = (note + "; " if note else "") + (
                f"history said it {reach['unconfirmed']}, float64 loss of rerun did not confirm"
            )
    if DTYPE != np.float64 and key in PEER64:
        best = reach.get("loss", reach.get("best"))
        best = min(best, ours.loss)
        r["best bf vs f64 peer"] = f"{gap_pct(best, PEER64[key]):+.3f} %"
    return r


#: Rows of the restarts table, filled by the problems that call :func:`restart_row`.
RESTARTS = []
RESTART_COLUMNS = [
    "problem",
    "restarts=1",
    "restarts=10",
    "restarts=1, compress=True",
    "restarts=10, compress=True",
]


def restart_row(name, model, X, ours, **kwargs):
    """10 restarts against one (``ours``: the problem's default warm fit), plain and
    compressed (``fit(..., compress=True)``): warm time, its ratio to one plain restart,
    iterations (of the finish on X when compressed) and the kept restart's loss.
    Only in the first dtype pass (float64 unless --dtype float32)."""
    if RESTARTS_DTYPE != DTYPE:
        return

    def cell(result, t, compile_s=None):
        compiled = (
            ""
            if compile_s is None
            else f", compile {compile_s:.2f} s"
            if compile_s >= 0
            else f", compile < 0 (noise: {compile_s:.2f} s)"
        )
        loss = half_sq_loss(X, result.factors)
        return (
            f"{t:.3g} s = {t / ours.t_warm:.2f}× ({result.n_iter} its{compiled}), loss {loss:.7g}"
        )

    cells = {"problem": f"{name} ({dtname()})", "restarts=1": cell(ours.res, ours.t_warm)}
    for restarts, compress in ((10, None), (1, True), (10, True)):
        label = f"restarts={restarts}" + (", compress=True" if compress else "")
        cells[label] = cell(*bf_timed(model, X, restarts=restarts, compress=compress, **kwargs))
    RESTARTS.append(cells)


RESTARTS_DTYPE = np.float64


#: Rows of the float64 vs float32 cost table: {(problem, dtype): probe result}.
COST = {}


def cost_probe(name, spec, X, r):
    """Fixed work (COST_ITERS iterations, tol=0) of model ``spec`` on X in a fresh
    subprocess: first call, warm time per iteration, peak RSS increases."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, X)
        COST[(name, dtname())] = _rss_probe(f"bf:{spec}", path, r)


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
    max_iter, tol = 200, 1e-4  # scikit-learn's defaults
    name = f"1. Gaussian NMF {n}x{m} r={r}"

    model = MODELS["nmf"](r)
    ours = BfDefault(model, X, lambda f: half_sq_loss(X, f))

    sk = NMF(r, solver="cd", init="random", max_iter=max_iter, tol=tol, random_state=0)
    warm_up(NMF(r, solver="cd", init="random", max_iter=5).fit, X[:50, :50])
    W, t_sk = timed(sk.fit_transform, X)
    sk_loss = half_sq_loss(X, (W, sk.components_.T))
    rows = [
        row(
            name,
            "0.5‖X−WHᵀ‖²",
            ours,
            'NMF(solver="cd", init="random")',
            f"max_iter={max_iter}, tol={tol:g} (defaults)",
            t_sk,
            sk.n_iter_,
            sk_loss,
            W.dtype.name,
            const_gap(ours.res, ours.loss, X.size * LOG_2PI_HALF),
        )
    ]
    diag = nmf_diagnostics(quick, X, model, ours, t_sk, sk.n_iter_)
    cost_probe(name, "nmf", X, r)
    restart_row(name, model, X, ours)
    return rows, diag


def nmf_diagnostics(quick, X, model, ours, t_sk, sk_iter):
    """Per-iteration time vs GEMMs and the objective; sklearn memory; restarts=10 vs 1."""
    r = SIZES["nmf"][quick][2]
    dt = dtname()
    out = []
    xj = jnp.asarray(X)
    W = jnp.asarray(ours.res.factors[0])
    H = jnp.asarray(ours.res.factors[1])  # (m, r): bf stores H transposed
    gemm1 = median_time(jax.jit(lambda x, h: x @ h), xj, H)
    gemm2 = median_time(jax.jit(lambda x, w: x.T @ w), xj, W)
    mask = jnp.ones(X.shape, bool)
    obj = median_time(jax.jit(lambda x, k, f: model.objective(x, k, f)), xj, mask, (W, H))
    # Fixed work: COST_ITERS iterations at tol=0 (no early stop), warm, median of 3
    # (each call alternated with the GEMMs again, so both see the same machine load).
    bf_timed(model, X, max_iter=COST_ITERS, tol=0.0)  # compiles
    t_fixed, g1, g2 = [], [gemm1], [gemm2]
    for k in range(3):
        t_fixed.append(timed(bf.fit, model, X, key=2 + k, max_iter=COST_ITERS, tol=0.0)[1])
        g1.append(median_time(jax.jit(lambda x, h: x @ h), xj, H, reps=3))
        g2.append(median_time(jax.jit(lambda x, w: x.T @ w), xj, W, reps=3))
    gemm1, gemm2 = float(np.median(g1)), float(np.median(g2))
    per_iter = float(np.median(t_fixed)) / COST_ITERS
    out.append(
        (
            f"bf time per iteration ({COST_ITERS} its, tol=0, warm, median of 3)",
            f"{per_iter * 1e3:.2f} ms",
        )
    )
    out.append(
        (
            "bf time per iteration of the default fit (warm / n_iter)",
            f"{ours.t_warm / ours.res.n_iter * 1e3:.2f} ms",
        )
    )
    out.append(("GEMM X @ H (jit, median of 4 medians)", f"{gemm1 * 1e3:.2f} ms"))
    out.append(("GEMM Xᵀ @ W (jit, median of 4 medians)", f"{gemm2 * 1e3:.2f} ms"))
    out.append(
        ("per iteration / (both GEMMs) (the GEMM floor)", f"{per_iter / (gemm1 + gemm2):.2f}")
    )
    out.append(("model.objective once (jit, median of 5; forms W Hᵀ)", f"{obj * 1e3:.2f} ms"))
    out.append(("per iteration / objective", f"{per_iter / obj:.2f}"))
    out.append(("sklearn time per iteration (fit / n_iter_)", f"{t_sk / sk_iter * 1e3:.2f} ms"))
    out.append(("per iteration, bf / sklearn", f"{per_iter / (t_sk / sk_iter):.2f}"))

    # sklearn's memory and first fit: one fit in a fresh subprocess that only loads X
    # (bf's are in the float64 vs float32 cost table).
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, X)
        d = _rss_probe("sklearn", path, r)
        out.append(("peak RSS increase, sklearn fit (fresh subprocess)", d.get("peak_first", "?")))
        out.append(("sklearn fit, fresh subprocess", d.get("first", "?")))
    tracemalloc.start()
    NMF(r, solver="cd", init="random", max_iter=200, tol=1e-4, random_state=0).fit_transform(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out.append(("peak traced allocation, sklearn fit (tracemalloc)", f"{peak / 2**20:.1f} MiB"))
    out.append((f"size of X ({dt})", f"{X.nbytes / 2**20:.1f} MiB"))

    # Restarts: fixed work (max_iter=50, tol=0) so the ratio is the vmapped overhead.
    if RESTARTS_DTYPE == DTYPE:
        times = {}
        for restarts in (1, 10):
            _, t, c = bf_timed(model, X, max_iter=50, tol=0.0, restarts=restarts)
            times[restarts] = t
            out.append(
                (
                    f"bf restarts={restarts}, 50 iterations (tol=0): warm / compile",
                    f"{t:.3g} s / {c:.2f} s",
                )
            )
        out.append(("restarts=10 / restarts=1 (warm)", f"{times[10] / times[1]:.2f}"))
    return [(f"[{dt}] {k}", v) for k, v in out]


def _rss_probe(who, path, r):
    cmd = [sys.executable, os.path.abspath(__file__), "--_rss", who, path, str(r)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")  # see _reset_hwm
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True, env=env)
        d = json.loads(p.stdout.strip().splitlines()[-1])
        out = {"method": d["method"], "first": f"{d['first_s']:.2f} s"}
        out["peak_first"] = f"{(d['peak_first'] - d['before']) / 1024:.1f} MiB ({d['method']})"
        if "warm_s" in d:
            out["per_iter_ms"] = 1e3 * d["warm_s"] / d["n_iter"]
            out["first_s"], out["warm_s"] = d["first_s"], d["warm_s"]
            out["peak_warm_mib"] = (d["peak_warm"] - d["before_warm"]) / 1024
            out["peak_first_mib"] = (d["peak_first"] - d["before"]) / 1024
        return out
    except Exception as e:  # noqa: BLE001 - report, never fail the benchmark
        return {"error": f"failed ({type(e).__name__})"}


def _proc_status_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(field)


def _reset_hwm():
    """Reset the resident high-water mark; return (RSS now, method).

    Freed heap memory is first handed back to the OS (``malloc_trim``; the probe runs
    with a fixed ``MALLOC_MMAP_THRESHOLD_`` so large buffers are unmapped when freed),
    so that a second fit's peak is its own allocations, not pages kept from the first.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _proc_status_kib("VmRSS"), "VmHWM - VmRSS, HWM reset"
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss delta"


def _peak(method):
    if method.startswith("VmHWM"):
        return _proc_status_kib("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_probe_main(who, path, r):
    """Subprocess body: resident set before one fit and its peak during the fit (KiB).

    ``who``: "sklearn" (its NMF, defaults) or "bf:<MODELS key>" (COST_ITERS iterations,
    tol=0, key=0: the first call of the process, compilation included; then again with
    key=1: the warm call, whose peak is measured anew). Also the wall times.

    Linux: VmRSS before, VmHWM after, with the high-water mark reset to the current
    RSS first (write "5" to /proc/self/clear_refs). Not ru_maxrss: a subprocess
    inherits its parent's RSS at fork as its starting ru_maxrss, which hides the fit.
    """
    X = np.load(path)
    jax.block_until_ready(jnp.zeros(1))  # start the JAX runtime before the baseline
    out = {}
    if who == "sklearn":
        before, method = _reset_hwm()
        t0 = time.perf_counter()
        NMF(r, solver="cd", init="random", max_iter=200, tol=1e-4, random_state=0).fit_transform(X)
        out["first_s"] = time.perf_counter() - t0
        out["peak_first"] = _peak(method)
    else:
        model = MODELS[who.split(":", 1)[1]](r)
        before, method = _reset_hwm()
        t0 = time.perf_counter()
        bf.fit(model, X, key=0, max_iter=COST_ITERS, tol=0.0)
        out["first_s"] = time.perf_counter() - t0
        out["peak_first"] = _peak(method)
        out["before_warm"], _ = _reset_hwm()
        t0 = time.perf_counter()
        res = bf.fit(model, X, key=1, max_iter=COST_ITERS, tol=0.0)
        out["warm_s"] = time.perf_counter() - t0
        out["peak_warm"] = _peak(method)
        out["n_iter"] = res.n_iter
    out.update(before=before, method=method)
    print(json.dumps(out))


def problem_klnmf(quick):
    """2. KL-NMF on Poisson spike counts vs sklearn NMF (multiplicative updates)."""
    n, m, r = SIZES["klnmf"][quick]
    X = planted_spikes(n, m, r)
    max_iter, tol = 200, 1e-4  # scikit-learn's defaults
    name = (
        f"2. KL-NMF spikes {n}x{m} r={r} (mean {X.mean():.2f}, {100 * (X == 0).mean():.0f}% zeros)"
    )

    model = MODELS["klnmf"](r)
    warm_up(
        NMF(r, solver="mu", beta_loss="kullback-leibler", init="random", max_iter=5).fit,
        X[:50, :50] + 1,
    )
    x64 = X.astype(np.float64)
    const = float(np.sum(gammaln(x64 + 1) - xlogy(x64, x64) + x64))  # -log p - KL
    settings = f"max_iter={max_iter}, tol={tol:g}"
    mu = dict(solver="mu", beta_loss="kullback-leibler", max_iter=max_iter, tol=tol)
    lossfn = lambda f: kl_loss(X, f[0], f[1].T)

    def side_by_side(problem, start, sk_init, sk_start, note):
        """One row: bf from ``start`` (None: random) vs scikit-learn from ``sk_start``."""
        fit_kwargs = {} if start is None else {"init": start}
        ours = BfDefault(model, X, lossfn, **fit_kwargs)
        sk = NMF(r, init=sk_init, **mu, **({"random_state": 0} if sk_start is None else {}))
        W, t_sk = timed(sk.fit_transform, X, **(sk_start or {}))
        sk_loss = kl_loss(X, W, sk.components_)
        return ours, row(
            problem,
            "KL(X‖WHᵀ)",
            ours,
            f'NMF(solver="mu", beta_loss="kullback-leibler", init="{sk_init}")',
            settings + ("" if sk_start is None else ", W=W0, H=H0"),
            t_sk,
            sk.n_iter_,
            sk_loss,
            W.dtype.name,
            const_gap(ours.res, ours.loss, const) if note is None else note,
        )

    # The same start for both (scikit-learn's init="random" draw, random_state=0): the
    # random starts differ, and the iterations MU needs to reach a given loss vary
    # ~1.5x with the start, so the second row isolates speed.
    rng = np.random.RandomState(0)
    avg = np.sqrt(X.mean() / r)
    H0 = np.abs(avg * rng.standard_normal((r, X.shape[1]))).astype(DTYPE)
    W0 = np.abs(avg * rng.standard_normal((X.shape[0], r))).astype(DTYPE)
    same = "both from scikit-learn's random start (random_state=0); bf init=(W0, H0ᵀ)"
    rows = [side_by_side(name, None, "random", None, None)[1]]
    rows.append(
        side_by_side(
            name + ", same start", (W0, H0.T), "custom", {"W": W0.copy(), "H": H0.copy()}, same
        )[1]
    )
    # Each library's SVD start (scikit-learn's default init for this rank).
    rows.append(
        side_by_side(name + ", SVD starts", "svd", "nndsvda", None, 'NNDSVDa both (bf init="svd")')[
            1
        ]
    )
    cost_probe(name, "klnmf", X, r)
    return rows, []


def problem_pca(quick):
    """3. PCA (Gaussian + Flat) on centred data vs randomized PCA and a full SVD."""
    n, m, r = SIZES["pca"][quick]
    X = planted_lowrank_centered(n, m, r)
    name = f"3. PCA {n}x{m} r={r} (centred)"

    model = MODELS["pca"](r)
    ours = BfDefault(model, X, lambda f: half_sq_loss(X, f))
    restart_row(name, model, X, ours)
    gap = const_gap(ours.res, ours.loss, X.size * LOG_2PI_HALF)
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
            'PCA(svd_solver="randomized")',
            "defaults (n_oversamples=10, n_iter=auto)",
            t_pca,
            "-",
            pca_loss,
            Z.dtype.name,
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
            "numpy.linalg.svd (optimum)",
            "full_matrices=False",
            t_svd,
            "-",
            svd_loss,
            U.dtype.name,
            gap,
        )
    )
    cost_probe(name, "pca", X, r)
    return rows, []


def problem_cp(quick):
    """4. CP: Gaussian+Flat vs parafac; Gaussian+NonNegative vs the non-negative parafacs."""
    shape, r = SIZES["cp"][quick]
    max_iter, tol = 200, 1e-6
    dims = "x".join(map(str, shape))
    rows = []
    for nonneg in (False, True):
        T = planted_cp(shape, r, nonneg)
        name = f"4. CP {dims} r={r} " + ("non-negative" if nonneg else "unconstrained")
        model = MODELS["nncp" if nonneg else "cp"](r)
        ours = BfDefault(model, T, lambda f, T=T: half_sq_loss(T, f))
        restart_row(name, model, T, ours)
        gap = const_gap(ours.res, ours.loss, T.size * LOG_2PI_HALF)
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
                    f'tensorly {peer_name}(init="random")',
                    f"n_iter_max={max_iter}, tol={tol:g} (abs. change of rel. error)",
                    t_tl,
                    len(errors),
                    tl_loss,
                    np.asarray(factors[0]).dtype.name,
                    gap,
                )
            )
        cost_probe(name, "nncp" if nonneg else "cp", T, r)
    return rows, []


def adam_init(model, X, r, seed):
    """Random start drawn like bf's own init: each factor ~ N(0, s^2), s^2 = scale/sqrt(r)."""
    s = (model.likelihood.init_scale(X) / np.sqrt(r)) ** 0.5
    keys = jax.random.split(jax.random.key(seed), X.ndim)
    return tuple(
        (s * jax.random.normal(k, (n, r), DTYPE)).astype(DTYPE)
        for k, n in zip(keys, X.shape, strict=True)
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
    rows = []
    cases = [
        ("logistic PCA", "logistic", planted_binary(n, m, r)),
        ("Poisson-log GLM-PCA", "poissonlog", planted_counts_log(n, m, r)),
    ]
    for label, spec, X in cases:
        name = f"5. {label} {n}x{m} r={r}"
        model = MODELS[spec](r)
        lossfn = objective64(model, X)
        ours = BfDefault(model, X, lossfn)

        run, x = adam_solver(model, ADAM_STEPS, ADAM_LR), jnp.asarray(X)
        _, t_first = timed(run, x, adam_init(model, X, r, seed=0))  # compiles
        (f_adam, _), t_adam = timed(run, x, adam_init(model, X, r, seed=1))
        rows.append(
            row(
                name,
                "−log posterior",
                ours,
                "optax.adam on model.objective (jit, lax.scan)",
                f"{ADAM_STEPS} steps, lr={ADAM_LR}",
                t_adam,
                ADAM_STEPS,
                lossfn(f_adam),
                f_adam[0].dtype.name,
                f"Adam compile {t_first - t_adam:.2f} s",
            )
        )
        cost_probe(name, spec, X, r)
    return rows, []


def cost_only(quick, names):
    """Only the float64 vs float32 cost table's probes, for the problems ``names``."""
    if "nmf" in names:
        n, m, r = SIZES["nmf"][quick]
        cost_probe(f"1. Gaussian NMF {n}x{m} r={r}", "nmf", planted_nmf(n, m, r), r)
    if "klnmf" in names:
        n, m, r = SIZES["klnmf"][quick]
        X = planted_spikes(n, m, r)
        zeros = 100 * (X == 0).mean()
        name = f"2. KL-NMF spikes {n}x{m} r={r} (mean {X.mean():.2f}, {zeros:.0f}% zeros)"
        cost_probe(name, "klnmf", X, r)
    if "pca" in names:
        n, m, r = SIZES["pca"][quick]
        cost_probe(f"3. PCA {n}x{m} r={r} (centred)", "pca", planted_lowrank_centered(n, m, r), r)
    if "cp" in names:
        shape, r = SIZES["cp"][quick]
        dims = "x".join(map(str, shape))
        for nonneg, label, spec in ((False, "unconstrained", "cp"), (True, "non-negative", "nncp")):
            cost_probe(f"4. CP {dims} r={r} {label}", spec, planted_cp(shape, r, nonneg), r)
    if "glmpca" in names:
        n, m, r = SIZES["glmpca"][quick]
        cost_probe(f"5. logistic PCA {n}x{m} r={r}", "logistic", planted_binary(n, m, r), r)
        X = planted_counts_log(n, m, r)
        cost_probe(f"5. Poisson-log GLM-PCA {n}x{m} r={r}", "poissonlog", X, r)
    return [], []


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


def git_commit():
    here = os.path.dirname(os.path.abspath(__file__))

    def git(*args):
        out = subprocess.run(["git", "-C", here, *args], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    try:
        rev = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return rev + (" (with uncommitted changes)" if dirty else "")
    except Exception:  # noqa: BLE001
        return "?"


def machine_info(quick, dtypes):
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
        ("commit", git_commit()),
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
            f"passes: {', '.join(dtypes)} (the data's dtype; jax_enable_x64="
            f"{jax.config.jax_enable_x64}); bf fits in the data's dtype, peers get the same "
            "array (the 'peer dtype' column says what they returned). Losses recomputed in "
            "float64 from the returned factors.",
        ),
        (
            "equal quality",
            f"reached = float64 loss <= peer loss · (1 + {REACH_RTOL:g}); bf defaults "
            f"max_iter={DEFAULT_MAX_ITER}, tol={DEFAULT_TOL:g}",
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
    "dtype",
    "peer",
    "peer dtype",
    "peer settings",
    "peer s",
    "peer n_iter",
    "peer loss",
    "bf to peer: it",
    "bf compile s",
    "bf run s to peer",
    "run to peer / peer s",
    "(compile + run) / peer s",
    "bf default: n_iter, warm s",
    "bf default loss",
    "default ends at peer",
    "best bf vs f64 peer",
    "bf update",
    "loss",
    "note",
]

SUMMARY_COLUMNS = (
    ["problem", "peer"]
    + [
        f"{dt}: {c}"
        for dt in ("float64", "float32")
        for c in ("run to peer / peer s", "bf compile s", "default ends at peer")
    ]
    + ["float32: best bf vs f64 peer"]
)

COST_COLUMNS = [
    "problem",
    "per iteration f64",
    "per iteration f32",
    "f64/f32",
    "peak RSS warm f64",
    "peak RSS warm f32",
    "f64/f32 (RSS)",
    "first call f64",
    "first call f32",
]


def problem_order(r):
    return (r["problem"].split(" ")[0], r["problem"])


def summary_rows(rows):
    out = {}
    for r in rows:
        if "peer" not in r:
            continue
        s = out.setdefault((r["problem"], r["peer"]), {"problem": r["problem"], "peer": r["peer"]})
        for c in ("run to peer / peer s", "bf compile s", "default ends at peer"):
            s[f"{r['dtype']}: {c}"] = r.get(c, "")
        if r["dtype"] == "float32":
            s["float32: best bf vs f64 peer"] = r.get("best bf vs f64 peer", "")
    return sorted(out.values(), key=problem_order)


def cost_rows():
    out = []
    for name in sorted({k[0] for k in COST}, key=lambda s: (s.split(" ")[0], s)):
        a, b = COST.get((name, "float64"), {}), COST.get((name, "float32"), {})
        c = {"problem": name}
        for d, tag in ((a, "f64"), (b, "f32")):
            if "per_iter_ms" in d:
                c[f"per iteration {tag}"] = f"{d['per_iter_ms']:.3g} ms"
                c[f"peak RSS warm {tag}"] = f"{d['peak_warm_mib']:.1f} MiB"
                c[f"first call {tag}"] = (
                    f"{d['first_s']:.2f} s (compile ≈ {d['first_s'] - d['warm_s']:.2f} s)"
                )
            elif d:
                c[f"per iteration {tag}"] = d.get("error", "?")
        if "per_iter_ms" in a and "per_iter_ms" in b:
            c["f64/f32"] = f"{a['per_iter_ms'] / b['per_iter_ms']:.2f}"
            if b["peak_warm_mib"] > 0.5:
                c["f64/f32 (RSS)"] = f"{a['peak_warm_mib'] / b['peak_warm_mib']:.2f}"
        out.append(c)
    return out


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
        "## Summary: time to the peer's final objective",
        "",
        f"Run to peer / peer s: bf's warm run time to within {100 * REACH_RTOL:g} % of the "
        "peer's final loss over the peer's total time (below 1: bf faster); compile is "
        "apart (the first call's extra time). Default ends at peer: whether "
        f"`bf.fit` with its defaults (tol={DEFAULT_TOL:g}, max_iter={DEFAULT_MAX_ITER}) ends "
        f"within {100 * REACH_RTOL:g} % of the peer's loss, and its gap (negative: below "
        "the peer's loss).",
        "",
        markdown_table(summary_rows(rows), SUMMARY_COLUMNS),
        "",
        "## Results",
        "",
        markdown_table(
            sorted(rows, key=lambda r: (*problem_order(r), r.get("dtype", ""))), COLUMNS
        ),
    ]
    if COST:
        parts += [
            "",
            "## float64 vs float32 cost",
            "",
            f"Fixed work in a fresh subprocess per problem and dtype: `bf.fit(..., "
            f"max_iter={COST_ITERS}, tol=0)`, key=0 (the first call of the process, "
            "compilation included) then key=1 (warm). Per iteration = warm / "
            f"{COST_ITERS}; peak RSS warm = the warm call's resident high-water mark over "
            "its resident set before (after the first call, so data and programs already "
            "resident; the freed heap trimmed first).",
            "",
            markdown_table(cost_rows(), COST_COLUMNS),
        ]
    if RESTARTS:
        parts += [
            "",
            "## Restarts: 10 against one (warm; ratios to one plain restart)",
            "",
            "bf's default settings. `compress=True` fits the restarts on a randomized "
            "Tucker compression of the data and finishes the best one on the data (its "
            "iterations are the finish's).",
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
    global DTYPE, RESTARTS_DTYPE
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (~2-3 min in total)")
    p.add_argument(
        "--dtype",
        choices=("float64", "float32", "both"),
        default="both",
        help="the data's dtype (default both: float64, then float32)",
    )
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
    p.add_argument(
        "--cost-only",
        action="store_true",
        help="only the float64 vs float32 cost table (fresh-subprocess probes)",
    )
    p.add_argument("--_rss", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._rss:
        who, path, r = args._rss
        return rss_probe_main(who, path, int(r))

    if args.dtype != "float32" and not jax.config.jax_enable_x64:
        p.error("float64 needs JAX's x64 mode (unset BAYESFACTOR_X64=0 / JAX_ENABLE_X64)")
    here = os.path.dirname(os.path.abspath(__file__))
    out = args.out or os.path.join(here, "RESULTS_quick.md" if args.quick else "RESULTS.md")
    quick = 1 if args.quick else 0
    names = args.only or list(PROBLEMS)
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    RESTARTS_DTYPE = np.dtype(dtypes[0]).type
    info = machine_info(args.quick, dtypes)
    rows, diag = [], []
    t0 = time.perf_counter()
    todo = [(dt, name) for dt in dtypes for name in names]
    for i, (dt, name) in enumerate(todo):
        DTYPE = np.dtype(dt).type
        t = time.perf_counter()
        print(f"[{time.perf_counter() - t0:6.1f} s] {name} ({dt}) ...", flush=True)
        try:
            if args.cost_only:
                new_rows, new_diag = cost_only(quick, [name])
            else:
                new_rows, new_diag = PROBLEMS[name](quick)
        except Exception as e:  # noqa: BLE001 - keep the other problems' results
            import traceback

            traceback.print_exc()
            new_rows = [{"problem": name, "dtype": dt, "note": f"FAILED: {type(e).__name__}: {e}"}]
            new_diag = []
        rows += new_rows
        diag += new_diag
        print(
            f"[{time.perf_counter() - t0:6.1f} s] {name} ({dt}) done in "
            f"{time.perf_counter() - t:.1f} s",
            flush=True,
        )
        left = [f"{n} ({d})" for d, n in todo[i + 1 :]]
        status = "complete" if not left else f"partial: still running {', '.join(left)}"
        # Rewritten after every problem so an interrupted run leaves what it finished.
        text = report(info, rows, diag, status, time.perf_counter() - t0)
        with open(out, "w") as fh:
            fh.write(text)
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    sys.exit(main())
