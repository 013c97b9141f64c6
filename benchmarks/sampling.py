"""Effective samples per second: bf.sample (NUTS from the MAP) vs a hand-written NumPyro model.

    python benchmarks/sampling.py [--quick] [--out PATH] [--all-threads]

Both sides run numpyro's NUTS on the same posterior and the same data, with the
same num_warmup / num_samples / chains (sequential chains), in JAX's default
float32. bayesfactor's side is ``bf.sample(model, X, init=fit)`` started at the
MAP (``bf.fit``, timed separately); the peer is the model written by hand with
``numpyro.sample`` statements, started from numpyro's default ``init_to_uniform``.
The quantity compared is the effective sample size (ArviZ bulk ESS) of the
predicted rates E[X] per entry (``U V^T``: invariant to the order of components,
so the two sides' labellings do not matter), over wall time. See
benchmarks/README.md ("Sampling benchmark") for the columns. Nothing here asserts
on timings.
"""

from __future__ import annotations

import os

from _machine import cpu_name, pin_threads

SINGLE_THREAD = pin_threads()  # before numpy and jax load their thread pools

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

import bayesfactor as bf  # noqa: E402
from bayesfactor.sampling.idata import _arviz  # noqa: E402

# The Gaussian/Normal case warns about its rotation symmetry (rates are unaffected);
# ArviZ's import notice; bf.ConvergenceWarning.
warnings.simplefilter("ignore")
az = _arviz()

#: (num_warmup, num_samples, num_chains): full, quick.
SETTINGS = {False: (1000, 1000, 2), True: (200, 200, 2)}


# --------------------------------------------------------------------------- problems


def poisson_problem(rng, shape=(50, 40), rank=3):
    """Spike-like counts: sparse Gamma loadings, bursty Gamma time courses, low baseline."""
    W = rng.gamma(2.0, 1.0, size=(shape[0], rank)) * (rng.random((shape[0], rank)) < 0.4)
    H = rng.gamma(0.5, 2.0, size=(shape[1], rank))
    X = rng.poisson(0.05 + W @ H.T).astype(float)
    model = bf.Model(bf.Poisson(link="identity"), rank, bf.Exponential(1.0))

    def hand_written(x):
        n, m = x.shape
        U = numpyro.sample("U", dist.Exponential(1.0).expand([n, rank]).to_event(2))
        V = numpyro.sample("V", dist.Exponential(1.0).expand([m, rank]).to_event(2))
        numpyro.sample("obs", dist.Poisson(U @ V.T).to_event(2), obs=x)

    return X, model, hand_written


def gaussian_problem(rng, shape=(50, 40), rank=3):
    """U V^T + N(0, 1) noise, U, V ~ N(0, 1); fitted with Gaussian(1) + Normal(1)."""
    X = rng.normal(size=(shape[0], rank)) @ rng.normal(size=(shape[1], rank)).T
    X = X + rng.normal(size=shape)
    model = bf.Model(bf.Gaussian(1.0), rank, bf.Normal(1.0))

    def hand_written(x):
        n, m = x.shape
        U = numpyro.sample("U", dist.Normal(0.0, 1.0).expand([n, rank]).to_event(2))
        V = numpyro.sample("V", dist.Normal(0.0, 1.0).expand([m, rank]).to_event(2))
        numpyro.sample("obs", dist.Normal(U @ V.T, 1.0).to_event(2), obs=x)

    return X, model, hand_written


PROBLEMS = {
    "Poisson(identity) + Exponential(1), 50x40, rank 3": (poisson_problem, 0),
    "Gaussian(1) + Normal(1), 50x40, rank 3": (gaussian_problem, 1),
}


# --------------------------------------------------------------------------- runs


def run_ours(model, X, fit, warmup, samples, chains, key):
    idata = bf.sample(
        model,
        X,
        init=fit,
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method="sequential",
        key=key,
        progress_bar=False,
    )
    u = idata.posterior["F0"].transpose("chain", "draw", ...).values
    v = idata.posterior["F1"].transpose("chain", "draw", ...).values
    return u, v, int(idata.sample_stats["diverging"].sum())


def run_peer(hand_written, X, warmup, samples, chains, key):
    mcmc = MCMC(
        NUTS(hand_written),
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(key), np.asarray(X, np.float32), extra_fields=("diverging",))
    draws = mcmc.get_samples(group_by_chain=True)
    diverging = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
    return np.asarray(draws["U"]), np.asarray(draws["V"]), diverging


def timed(fn, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t0


def rate_diagnostics(u, v):
    """Bulk ESS and R-hat of every predicted rate (U V^T)_ij over (chain, draw)."""
    rates = np.einsum("cdir,cdjr->cdij", u.astype(float), v.astype(float))
    ds = az.convert_to_dataset({"rate": rates})
    return az.ess(ds)["rate"].values.ravel(), az.rhat(ds)["rate"].values.ravel()


def measure(name, fn, runs, tiny_args):
    """Full runs (timed, compile included; one per args in ``runs``) and a tiny run.

    Every call builds a new MCMC object, so numpyro traces and compiles again: a
    2 + 2 draw run costs about the compilation. A first, untimed tiny run pays the
    one-time costs of the process (first use of JAX primitives, ArviZ) that a user's
    second call would not pay either. ESS and times are means over the runs (MCMC
    keys differ), divergences a total and R-hat the largest.
    """
    timed(fn, *tiny_args)
    _, t_tiny = timed(fn, *tiny_args)
    stats = []
    for args in runs:
        (u, v, diverging), total = timed(fn, *args)
        ess, rhat = rate_diagnostics(u, v)
        stats.append((total, float(ess.min()), float(np.median(ess)), diverging, rhat.max()))
    total, low, mid, _, _ = (float(np.mean(c)) for c in zip(*stats, strict=True))
    warm = max(total - t_tiny, 1e-9)
    return {
        "method": name,
        "runs": len(runs),
        "wall s": total,
        "compile s (est.)": t_tiny,
        "min ESS": low,
        "median ESS": mid,
        "min ESS/s": low / total,
        "median ESS/s": mid / total,
        "min ESS/s excl. compile": low / warm,
        "median ESS/s excl. compile": mid / warm,
        "divergences": int(sum(s[3] for s in stats)),
        "max R-hat": float(max(s[4] for s in stats)),
    }


def run_problem(title, make, seed, quick, repeats, short):
    """Rows for one problem: bf.sample and the peer at the default and a short warm-up.

    With ``short`` (a number of warm-up draws) both also run with that warm-up: chains
    that start at the MAP should need less of it than chains from random starts.
    """
    warmup, samples, chains = SETTINGS[quick]
    X, model, hand_written = make(np.random.default_rng(seed))
    # The MAP that bf.sample starts from: first call compiles, the second is the one used.
    timed(lambda: bf.fit(model, X, key=0, restarts=4))
    fit, t_fit = timed(lambda: bf.fit(model, X, key=1, restarts=4))
    rows = []
    for w in [warmup] + ([short] if short and short < warmup else []):
        tag = "" if w == warmup else f", num_warmup={w}"
        ours = measure(
            f"bf.sample (MAP init){tag}",
            run_ours,
            [(model, X, fit, w, samples, chains, 2 + r) for r in range(repeats)],
            (model, X, fit, 2, 2, chains, 3),
        )
        # The same run, charged also for the (warm) MAP fit it started from.
        total, warm = ours["wall s"] + t_fit, ours["wall s"] - ours["compile s (est.)"] + t_fit
        ours_with_map = dict(ours, method=f"bf.sample + its bf.fit (warm){tag}")
        ours_with_map["wall s"] = total
        for stat in ("min", "median"):
            ours_with_map[f"{stat} ESS/s"] = ours[f"{stat} ESS"] / total
            ours_with_map[f"{stat} ESS/s excl. compile"] = ours[f"{stat} ESS"] / warm
        peer = measure(
            f"hand-written NumPyro (init_to_uniform){tag}",
            run_peer,
            [(hand_written, X, w, samples, chains, 2 + r) for r in range(repeats)],
            (hand_written, X, 2, 2, chains, 3),
        )
        if w == warmup:
            default_peer = peer
        rows += [ours, ours_with_map, peer, ratio_row(ours, peer, f"ratio bf.sample / peer{tag}")]
        if w != warmup:
            rows.append(
                ratio_row(ours, default_peer, f"ratio bf.sample{tag} / peer, num_warmup={warmup}")
            )
    for row in rows:
        row["case"] = title
    return rows, t_fit


def ratio_row(ours, peer, name):
    return {"method": name} | {c: ours[c] / peer[c] for c in RATIO_COLUMNS}


# --------------------------------------------------------------------------- report

COLUMNS = [
    "case",
    "method",
    "runs",
    "wall s",
    "compile s (est.)",
    "min ESS",
    "median ESS",
    "min ESS/s",
    "median ESS/s",
    "min ESS/s excl. compile",
    "median ESS/s excl. compile",
    "divergences",
    "max R-hat",
]
RATIO_COLUMNS = [
    "wall s",
    "min ESS",
    "median ESS",
    "min ESS/s",
    "median ESS/s",
    "min ESS/s excl. compile",
    "median ESS/s excl. compile",
]


def fmt(value):
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def markdown_table(rows, columns):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def machine_info(quick):
    try:
        load = "{:.2f} / {:.2f} / {:.2f} (1 / 5 / 15 min)".format(*os.getloadavg())
    except OSError:
        load = "?"
    warmup, samples, chains = SETTINGS[quick]
    return [
        ("date", datetime.datetime.now().isoformat(timespec="seconds")),
        ("platform", platform.platform()),
        ("cpu", cpu_name()),
        ("python", platform.python_version()),
        (
            "versions",
            f"bayesfactor {bf.__version__}, jax {jax.__version__} ({jax.default_backend()}), "
            f"numpyro {numpyro.__version__}, arviz {az.__version__}, numpy {np.__version__}",
        ),
        (
            "threads",
            "single-threaded (OMP/OPENBLAS/MKL_NUM_THREADS=1, XLA_FLAGS="
            f"{os.environ.get('XLA_FLAGS', '')!r})"
            if SINGLE_THREAD
            else "library defaults (--all-threads)",
        ),
        ("dtype", f"jax_enable_x64={jax.config.jax_enable_x64} (float32 on both sides)"),
        (
            "settings",
            f"num_warmup={warmup}, num_samples={samples}, num_chains={chains} "
            f"(sequential), NUTS defaults (target_accept_prob=0.8, max_tree_depth=10)"
            + (" [--quick]" if quick else ""),
        ),
        ("load at start", load),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer draws (200 + 200 per chain)")
    parser.add_argument("--out", default=None, help="output file (default benchmarks/SAMPLING.md)")
    parser.add_argument("--all-threads", action="store_true", help="keep library threading")
    parser.add_argument(
        "--repeats", type=int, default=3, help="full runs per method (MCMC keys differ)"
    )
    parser.add_argument(
        "--short-warmup",
        type=int,
        default=300,
        help="also run both with this warm-up (0: skip; 50 with --quick)",
    )
    args = parser.parse_args(argv)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "SAMPLING.md")
    info = machine_info(args.quick)
    start = time.perf_counter()
    rows, fits = [], []
    for title, (make, seed) in PROBLEMS.items():
        print(f"{title} ...", flush=True)
        short = min(args.short_warmup, 50) if args.quick else args.short_warmup
        problem_rows, t_fit = run_problem(title, make, seed, args.quick, args.repeats, short)
        rows += problem_rows
        fits.append(f"{title}: {t_fit:.2f} s")
        for row in problem_rows:
            print("  " + ", ".join(f"{c}={fmt(row.get(c, ''))}" for c in COLUMNS[1:]), flush=True)
    parts = [
        "# Sampling benchmark: bf.sample vs a hand-written NumPyro model",
        "",
        f"Written by `python benchmarks/sampling.py{' --quick' if args.quick else ''}` "
        f"(wall time {time.perf_counter() - start:.0f} s). See benchmarks/README.md "
        '("Sampling benchmark") for the columns.',
        "",
    ]
    parts += [f"- **{k}:** {v}" for k, v in info]
    parts += [f"- **warm bf.fit (MAP, restarts=4) before bf.sample:** {'; '.join(fits)}"]
    parts += [
        "",
        "ESS is ArviZ's bulk ESS of each predicted rate `E[X_ij] = (U Vᵀ)_ij` over all "
        "chains; min and median are over the 2000 entries. Wall time includes warm-up "
        "and compilation (every call compiles anew: numpyro builds a new MCMC); 'compile "
        "s (est.)' is the time of the same call with 2 + 2 draws (after an untimed one "
        "that pays the process's one-time costs), and 'excl. compile' subtracts it. For "
        "bf.sample it includes building the InferenceData (alignment, pointwise "
        "log-likelihood: compiled too). ESS and times are means over `runs` runs with "
        "different MCMC keys (ESS of one run varies by ~20 %); timings are from a shared "
        "machine: treat ratios within ~1.5x as noise.",
        "",
        markdown_table(rows, COLUMNS),
        "",
    ]
    with open(out, "w") as fh:
        fh.write("\n".join(parts))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
