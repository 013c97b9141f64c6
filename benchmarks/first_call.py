"""First call of a new Python process: bayesfactor with and without its compilation cache.

Each row runs one task in fresh processes (``python first_call.py --one TASK``): the
import, the first call (tracing + XLA compilation + run) and a second call in the same
process (run only), for three cache states:

- ``off``: ``BAYESFACTOR_CACHE_DIR=off`` (every process compiles);
- ``cold``: an empty cache folder (compiles and writes the entries);
- ``warm``: the same folder again (XLA's programs read from disk; tracing remains).

The peer column is scikit-learn's first call on the same data (NMF and PCA rows).
Writes ``benchmarks/FIRST_CALL.md``. Ratios are warm / off and ours / peer.

    python benchmarks/first_call.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _machine import cpu_name, pin_threads

HERE = os.path.dirname(os.path.abspath(__file__))

TASKS = {
    "nmf 400x64 r5": "Gaussian NMF (HALS), sklearn NMF(init='random', solver='cd')",
    "kl-nmf 400x64 r5": "Poisson(identity) NMF (MU), sklearn NMF(beta_loss='kullback-leibler')",
    "pca 400x64 r5": "Gaussian, flat priors; sklearn PCA",
    "cp 30x20x10 r3": "non-negative Gaussian CP (no peer)",
}


def _one(task: str) -> dict:
    """Time one task in this (fresh) process; print a JSON line."""
    t0 = time.perf_counter()
    import numpy as np

    import bayesfactor as bf

    bf.Model  # noqa: B018 (load the modules: x64 and the cache are set here)
    t_import = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    shape = (30, 20, 10) if task.startswith("cp") else (400, 64)
    x = np.abs(rng.normal(size=shape))
    if task.startswith("kl"):
        x = rng.poisson(np.abs(rng.normal(size=(400, 5))) @ np.abs(rng.normal(size=(5, 64))))
    lik = bf.Poisson(link="identity") if task.startswith("kl") else bf.Gaussian()
    prior = bf.Flat() if task.startswith("pca") else bf.NonNegative()
    model = bf.Model(lik, 3 if task.startswith("cp") else 5, prior)
    times = []
    for key in (0, 1):
        t = time.perf_counter()
        bf.fit(model, x, key=key, restarts=1)
        times.append(time.perf_counter() - t)
    peer = None
    if not task.startswith("cp"):
        import warnings

        from sklearn.decomposition import NMF, PCA

        kw = {"beta_loss": "kullback-leibler", "solver": "mu"} if task.startswith("kl") else {}
        est = PCA(5) if task.startswith("pca") else NMF(5, init="random", random_state=0, **kw)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(x)
        peer = time.perf_counter() - t
    return {"import": t_import, "first": times[0], "second": times[1], "peer": peer}


def _run(task: str, cache: str) -> dict:
    env = dict(os.environ, BAYESFACTOR_CACHE_DIR=cache)
    out = subprocess.run(
        [sys.executable, __file__, "--one", task, *sys.argv[1:]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--all-threads", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one)))
        return
    sys.path.insert(0, HERE)
    from run import git_commit

    rows = []
    for task in TASKS:
        best: dict = {}
        for _ in range(args.repeats):  # the minimum over repeats: the least disturbed run
            with tempfile.TemporaryDirectory() as folder:
                runs = {"off": _run(task, "off"), "cold": _run(task, folder)}
                runs["warm"] = _run(task, folder)
            for state, r in runs.items():
                for k, v in r.items():
                    if v is not None:
                        best[state, k] = min(best.get((state, k), v), v)
        rows.append((task, best))
        print(task, {f"{s}/{k}": round(v, 3) for (s, k), v in best.items()}, flush=True)

    lines = [
        "# First call of a new process (compilation cache off / cold / warm)",
        "",
        f"`python benchmarks/first_call.py --repeats {args.repeats}`; commit {git_commit()}; "
        f"{time.strftime('%Y-%m-%d')}; {cpu_name()}; "
        f"{'single-threaded' if not args.all_threads else 'all threads'}; minimum of "
        f"{args.repeats} repeats. Seconds; first call = tracing + compilation + run, "
        "second = run only (same process, another key).",
        "",
        "| task | import | first, off | first, cold | first, warm | warm / off "
        "| second call | sklearn first | warm / sklearn |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task, b in rows:
        peer = b.get(("off", "peer"))
        lines.append(
            f"| {task} | {b['off', 'import']:.2f} | {b['off', 'first']:.2f} | "
            f"{b['cold', 'first']:.2f} | {b['warm', 'first']:.2f} | "
            f"{b['warm', 'first'] / b['off', 'first']:.2f} | {b['warm', 'second']:.3f} | "
            + (f"{peer:.3f} | {b['warm', 'first'] / peer:.0f} |" if peer else "– | – |")
        )
    lines += ["", *(f"- {task}: {what}" for task, what in TASKS.items()), ""]
    path = os.path.join(HERE, "FIRST_CALL.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    pin_threads()
    main()
