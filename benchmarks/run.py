"""Side-by-side timings of bayesfactor against peer libraries on planted problems.

    python benchmarks/run.py [--quick] [--out PATH] [--only NAME]

Every problem is generated from a fixed seed, every method runs in this one
process, in JAX's default float32 (peers get float32 input too), and the
results are written as a Markdown table (see benchmarks/README.md for the
columns). Nothing here asserts on timings.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import sklearn
import tensorly
import tensorly.decomposition as tld
from jax import lax
from scipy.special import gammaln, xlogy
from sklearn.decomposition import NMF, PCA
from sklearn.decomposition._nmf import _beta_divergence

import bayesfactor as bf

warnings.simplefilter("ignore")  # bf.ConvergenceWarning, sklearn/tensorly convergence chatter
tensorly.set_backend("numpy")

DTYPE = np.float32
LOG_2PI_HALF = 0.5 * np.log(2 * np.pi)
#: A bf history entry "reaches" a peer loss when it is <= loss + REACH_RTOL * |loss|
#: (float32 resolution of the objective is ~1e-7 relative).
REACH_RTOL = 1e-6
ADAM_STEPS, ADAM_LR = 1000, 0.02

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


def reach(history_loss, target, t_warm, n_iter):
    """Estimated seconds (and iteration) at which bf first reached ``target``."""
    hit = np.nonzero(history_loss <= target + REACH_RTOL * abs(target))[0]
    if hit.size == 0:
        return "not reached"
    it = int(hit[0]) + 1
    return f"{t_warm * it / n_iter:.3g} s (it {it})"


def shifted_history(result, final_loss):
    """bf history in the peer's units: shifted so its last entry is ``final_loss``.

    history - history[-1] + final_loss removes the data-only constant that
    separates the negative log posterior from the peer's loss (e.g.
    |Omega| * 0.5 log 2 pi for Gaussian(scale=1)) and the float32 summation bias
    of the objective at once; the analytic constant is checked in `const_gap`.
    """
    h = np.asarray(result.history, np.float64)
    return h - h[-1] + final_loss


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
    return float(_beta_divergence(np.asarray(X, np.float64), np.asarray(W, np.float64),
                                  np.asarray(H, np.float64), 1))


def row(problem, loss_name, ours, settings, peer, peer_settings, peer_s, peer_n, peer_loss,
        reach_str, note=""):
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
    rate = 0.02 + 1.5 * (W @ H) / r  # mean ~0.05 + baseline
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
    W, t_sk = timed(sk.fit_transform, X)
    assert W.dtype == DTYPE  # sklearn keeps float32
    sk_loss = half_sq_loss(X, (W, sk.components_.T))
    hist = shifted_history(res, loss)
    gap = _const_gap(res, loss, X.size * LOG_2PI_HALF)
    rows = [row(name, "0.5‖X−WHᵀ‖²", ours, f"max_iter={max_iter}, tol={tol:g}",
                'NMF(solver="cd", init="random")', f"max_iter={max_iter}, tol={tol:g}",
                t_sk, sk.n_iter_, sk_loss, reach(hist, sk_loss, t_warm, res.n_iter), gap)]
    diag = nmf_diagnostics(quick, X, model, res, t_warm, t_sk)
    return rows, diag


def _const_gap(result, final_loss, const):
    """Note: how far the analytic constant is from (last objective - float64 loss)."""
    g = float(result.history[-1]) - const - final_loss
    return f"analytic-constant gap {g:+.3g} ({g / final_loss:+.1e} rel)"


def nmf_diagnostics(quick, X, model, res, t_warm, t_sk):
    """Per-iteration time vs GEMMs and the objective; memory; restarts=10 vs 1."""
    n, m, r = SIZES["nmf"][quick]
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

    # Memory: peak RSS increase in a fresh subprocess that only loads X and fits.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, X)
        for who in ("bf", "sklearn"):
            mb = _rss_probe(who, path, r)
            out.append((f"peak RSS increase, {who} fit (fresh subprocess, ru_maxrss)", mb))
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
        out.append((f"bf restarts={restarts}, 50 iterations (tol=0): warm / compile",
                    f"{t:.3g} s / {c:.2f} s"))
    out.append(("restarts=10 / restarts=1 (warm)", f"{times[10] / times[1]:.2f}"))
    out.append(("sklearn NMF fit (for scale)", f"{t_sk:.3g} s"))
    return out


def _rss_probe(who, path, r):
    cmd = [sys.executable, os.path.abspath(__file__), "--_rss", who, path, str(r)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True)
        d = json.loads(p.stdout.strip().splitlines()[-1])
        return f"{(d['after'] - d['before']) / 1024:.1f} MiB"
    except Exception as e:  # noqa: BLE001 - report, never fail the benchmark
        return f"failed ({type(e).__name__})"


def rss_probe_main(who, path, r):
    """Subprocess body: ru_maxrss (KiB on Linux) before and after one fit."""
    X = np.load(path)
    jax.block_until_ready(jnp.zeros(1))  # start the JAX runtime before the baseline
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if who == "bf":
        bf.fit(bf.Model(bf.Gaussian(), r, bf.NonNegative()), X, key=0, max_iter=200, tol=1e-4)
    else:
        NMF(r, solver="cd", init="random", max_iter=200, tol=1e-4, random_state=0).fit_transform(X)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before": before, "after": after}))


def problem_klnmf(quick):
    """2. KL-NMF on Poisson spike counts vs sklearn NMF (multiplicative updates)."""
    n, m, r = SIZES["klnmf"][quick]
    X = planted_spikes(n, m, r)
    max_iter, tol = 200, 1e-4
    name = f"2. KL-NMF spikes {n}x{m} r={r} (mean {X.mean():.2f}, {100 * (X == 0).mean():.0f}% zeros)"

    model = bf.Model(bf.Poisson(link="identity"), r, bf.NonNegative())
    res, t_warm, t_comp = bf_timed(model, X, max_iter=max_iter, tol=tol)
    loss = kl_loss(X, res.factors[0], res.factors[1].T)
    ours = bf_summary(model, res, t_warm, t_comp, loss)

    sk = NMF(r, solver="mu", beta_loss="kullback-leibler", init="random", max_iter=max_iter,
             tol=tol, random_state=0)
    W, t_sk = timed(sk.fit_transform, X)
    sk_loss = kl_loss(X, W, sk.components_)
    x64 = X.astype(np.float64)
    const = float(np.sum(gammaln(x64 + 1) - xlogy(x64, x64) + x64))  # -log p - KL
    hist = shifted_history(res, loss)
    return [row(name, "KL(X‖WHᵀ)", ours, f"max_iter={max_iter}, tol={tol:g}",
                'NMF(solver="mu", beta_loss="kullback-leibler", init="random")',
                f"max_iter={max_iter}, tol={tol:g}", t_sk, sk.n_iter_, sk_loss,
                reach(hist, sk_loss, t_warm, res.n_iter), _const_gap(res, loss, const))], []


def problem_pca(quick):
    """3. PCA (Gaussian + Flat) on centred data vs randomized PCA and a full SVD."""
    n, m, r = SIZES["pca"][quick]
    X = planted_lowrank_centered(n, m, r)
    max_iter, tol = 200, 1e-6
    name = f"3. PCA {n}x{m} r={r} (centred)"

    model = bf.Model(bf.Gaussian(), r, bf.Flat())
    res, t_warm, t_comp = bf_timed(model, X, max_iter=max_iter, tol=tol)
    loss = half_sq_loss(X, res.factors)
    ours = bf_summary(model, res, t_warm, t_comp, loss)
    hist = shifted_history(res, loss)
    gap = _const_gap(res, loss, X.size * LOG_2PI_HALF)
    settings = f"max_iter={max_iter}, tol={tol:g}"
    rows = []

    pca = PCA(r, svd_solver="randomized", random_state=0)
    Z, t_pca = timed(pca.fit_transform, X)
    pca_loss = half_sq_loss(X, (Z, pca.components_.T))  # X is centred: mean_ ~ 0
    rows.append(row(name, "0.5‖X−UVᵀ‖²", ours, settings, 'PCA(svd_solver="randomized")',
                    "defaults (n_oversamples=10, n_iter=auto)", t_pca, "-", pca_loss,
                    reach(hist, pca_loss, t_warm, res.n_iter), gap))

    (U, s, Vt), t_svd = timed(np.linalg.svd, X, full_matrices=False)
    svd_loss = half_sq_loss(X, (U[:, :r] * s[:r], Vt[:r].T))
    rows.append(row(name, "0.5‖X−UVᵀ‖²", ours, settings, "numpy.linalg.svd (optimum)",
                    "full_matrices=False", t_svd, "-", svd_loss,
                    reach(hist, svd_loss, t_warm, res.n_iter), gap))
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
        loss = half_sq_loss(T, res.factors)
        ours = bf_summary(model, res, t_warm, t_comp, loss)
        hist = shifted_history(res, loss)
        gap = _const_gap(res, loss, T.size * LOG_2PI_HALF)
        peers = (
            [("parafac", tld.parafac)] if not nonneg
            else [("non_negative_parafac", tld.non_negative_parafac)]
            + ([("non_negative_parafac_hals", tld.non_negative_parafac_hals)]
               if hasattr(tld, "non_negative_parafac_hals") else [])
        )
        for peer_name, fn in peers:
            (cp, errors), t_tl = timed(fn, T, r, n_iter_max=max_iter, init="random", tol=tol,
                                       random_state=0, return_errors=True)
            weights, factors = cp
            factors = [f * weights if k == 0 else f for k, f in enumerate(factors)]
            tl_loss = half_sq_loss(T, factors)
            rows.append(row(name, "0.5‖T−[[A,B,C]]‖²", ours, settings,
                            f'tensorly {peer_name}(init="random")',
                            f"n_iter_max={max_iter}, tol={tol:g} (abs. change of rel. error)",
                            t_tl, len(errors), tl_loss, reach(hist, tl_loss, t_warm, res.n_iter),
                            f"{gap}; tensorly dtype {factors[0].dtype}"))
    return rows, []


def adam_fit(model, x, r, steps, lr, seed):
    """Plain Adam on model.objective from a random start, `steps` steps in one jitted scan."""
    import optax

    mask = jnp.ones(x.shape, bool)
    s = (model.likelihood.init_scale(np.asarray(x)) / np.sqrt(r)) ** 0.5  # as bf's init
    keys = jax.random.split(jax.random.key(seed), 2)
    f0 = tuple(s * jax.random.normal(k, (n, r), x.dtype) for k, n in zip(keys, x.shape))
    opt = optax.adam(lr)

    def objective(f):
        return model.objective(x, mask, f)

    @jax.jit
    def run(f0):
        def step(carry, _):
            f, state = carry
            val, g = jax.value_and_grad(objective)(f)
            upd, state = opt.update(g, state, f)
            return (optax.apply_updates(f, upd), state), val

        (f, _), _ = lax.scan(step, (f0, opt.init(f0)), None, length=steps)
        return f, objective(f)

    return run, f0


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

        x = jnp.asarray(X)
        run, f0 = adam_fit(model, x, r, ADAM_STEPS, ADAM_LR, seed=0)
        _, t_first = timed(run, f0)
        run1, f1 = adam_fit(model, x, r, ADAM_STEPS, ADAM_LR, seed=1)
        (_, adam_obj), t_adam = timed(run, f1)  # same compiled program, new start
        adam_obj = float(adam_obj)
        rows.append(row(name, "−log posterior", ours, f"max_iter={max_iter}, tol={tol:g}",
                        "optax.adam on model.objective (jit, lax.scan)",
                        f"{ADAM_STEPS} steps, lr={ADAM_LR}", t_adam, ADAM_STEPS, adam_obj,
                        reach(np.asarray(res.history), adam_obj, t_warm, res.n_iter),
                        f"Adam compile {t_first - t_adam:.2f} s"))
    return rows, []


PROBLEMS = {
    "nmf": problem_nmf,
    "klnmf": problem_klnmf,
    "pca": problem_pca,
    "cp": problem_cp,
    "glmpca": problem_glmpca,
}


# --------------------------------------------------------------------------- report


def machine_info(quick):
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "?"
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i['internal_api']} ({i['num_threads']} threads)"
                         for i in threadpool_info() if i["user_api"] == "blas")
    except Exception:  # noqa: BLE001
        blas = "?"
    return [
        ("date", datetime.datetime.now().isoformat(timespec="seconds")),
        ("platform", platform.platform()),
        ("cpu", f"{cpu}; os.cpu_count()={os.cpu_count()}, usable={len(os.sched_getaffinity(0))}"),
        ("python", platform.python_version()),
        ("versions", f"bayesfactor {bf.__version__}, jax {jax.__version__} "
                     f"({jax.default_backend()}), numpy {np.__version__}, "
                     f"scikit-learn {sklearn.__version__}, tensorly {tensorly.__version__}"),
        ("BLAS (numpy/scipy)", blas),
        ("dtype", f"float32 everywhere: jax_enable_x64={jax.config.jax_enable_x64}, bf factors "
                  f"{jnp.zeros(1).dtype}; peers get float32 input. Losses recomputed in float64."),
        ("size", "quick (--quick)" if quick else "full"),
    ]


def markdown_table(rows, columns):
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(esc(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


COLUMNS = ["problem", "loss", "bf update", "bf settings", "bf compile s", "bf warm s",
           "bf n_iter", "bf loss", "peer", "peer settings", "peer s", "peer n_iter", "peer loss",
           "time bf/peer", "bf time to peer loss", "note"]


def report(info, rows, diag, status, elapsed):
    parts = ["# bayesfactor benchmarks", "", f"**Status:** {status} (wall time {elapsed:.0f} s)",
             ""]
    parts += [f"- **{k}:** {v}" for k, v in info]
    parts += ["", "Timings are single runs on a shared machine: treat ratios within ~1.5x as "
              "noise. See benchmarks/README.md for the columns.", "", "## Results", "",
              markdown_table(rows, COLUMNS)]
    if diag:
        parts += ["", "## Gaussian NMF diagnostics (problem 1)", "",
                  markdown_table([{"quantity": k, "value": v} for k, v in diag],
                                 ["quantity", "value"])]
    return "\n".join(parts) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (~1-2 min in total)")
    p.add_argument("--out", default=None,
                   help="Markdown output (default benchmarks/RESULTS.md, "
                        "or benchmarks/RESULTS_quick.md with --quick)")
    p.add_argument("--only", choices=sorted(PROBLEMS), action="append",
                   help="run only this problem (repeatable)")
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
        print(f"[{time.perf_counter() - t0:6.1f} s] {name} done in {time.perf_counter() - t:.1f} s",
              flush=True)
        left = names[i + 1:]
        status = "complete" if not left else f"partial: still running {', '.join(left)}"
        # Rewritten after every problem so an interrupted run leaves what it finished.
        text = report(info, rows, diag, status, time.perf_counter() - t0)
        with open(out, "w") as fh:
            fh.write(text)
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    sys.exit(main())
