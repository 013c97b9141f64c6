"""The ``bayesfactor`` command line: ``bayesfactor demo`` (more subcommands to come).

Errors are reported as one line on stderr with exit status 2 (``--debug`` shows
the traceback instead); ``main`` returns the exit status rather than exiting.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

__all__ = ["main"]

_DESCRIPTION = """\
bayesfactor: matrix and tensor factorization as probabilistic (MAP) inference, in JAX.

Run a subcommand; `bayesfactor COMMAND --help` describes each one."""

_DEMO_HELP = """\
Fit non-negative Poisson factors (KL-NMF) to real spike counts and save a figure.

The data: one human subthalamic-nucleus neuron, 50 trials of left/right joystick
movements, spike counts in 40 bins of 50 ms around the GO cue (Kramer & Eden 2016,
MIT license; bundled). The model: Poisson(link="identity") likelihood, rank R,
non-negative priors, fitted by alternating MAP with 5 random restarts (key=0).
It prints the fit summary and its gain over a constant-rate model, and writes
factors.png, trial_factors.csv and time_factors.csv to the output folder."""

_DEMO_EPILOG = """\
examples:
  bayesfactor demo                      # rank 3, files in ./bayesfactor-demo
  bayesfactor demo --rank 2 --out figs  # rank 2, files in ./figs
  python -m bayesfactor demo --quick    # a fast smoke test"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    try:
        version = metadata.version("bayesfactor")
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree not installed
        version = "unknown"
    parser = _Parser(
        prog="bayesfactor",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bayesfactor {version}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", help="show the full traceback when an error occurs"
    )
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True
    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="fit Poisson NMF to real spike counts and plot the factors",
        description=_DEMO_HELP,
        epilog=_DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("bayesfactor-demo"),
        help="folder for the figure and CSV files, created if needed (default: %(default)s)",
    )
    demo.add_argument(
        "--rank",
        metavar="R",
        type=_positive_int,
        default=3,
        help="number of components (default: %(default)s)",
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="fewer restarts and iterations: a fast smoke test, less refined result",
    )
    demo.set_defaults(run=_demo)
    return parser


def _normalized(factors):
    """Scale each time profile to a peak of 1 (into the trial factor), largest first."""
    import numpy as np

    trial, time_ = (np.asarray(f, dtype=float) for f in factors)
    peak = time_.max(axis=0)
    peak[peak <= 0] = 1.0
    trial, time_ = trial * peak, time_ / peak
    order = np.argsort(-(trial.sum(axis=0) * time_.sum(axis=0)), kind="stable")
    return trial[:, order], time_[:, order]


def _plot(path: Path, trial, time_, counts, direction, bin_ms: int) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend or state
    from matplotlib.patches import Patch

    colors = {"left": "tab:blue", "right": "tab:red"}
    rank = trial.shape[1]
    fig = Figure(figsize=(10, 1.0 + 2.2 * rank), layout="constrained")
    axes = fig.subplots(rank, 2, squeeze=False, sharex="col")
    for r in range(rank):
        bars, lines = axes[r]
        bars.bar(counts.index, trial[:, r], color=[colors[d] for d in direction])
        bars.set_ylabel(f"component {r + 1}\n(spikes per bin\nat the peak)")
        lines.plot(counts.columns + bin_ms / 2, time_[:, r], color="k", marker=".")
        lines.axvline(0, color="0.6", linestyle="--", linewidth=1)
        lines.set_ylabel("time profile\n(peak = 1)")
    axes[0, 0].set_title("trial factor")
    axes[0, 1].set_title("time factor")
    fig.legend(
        handles=[Patch(color=c, label=f"{d} movement") for d, c in colors.items()],
        loc="outside lower center",
        ncols=2,
        fontsize="small",
    )
    axes[-1, 0].set_xlabel("trial")
    axes[-1, 1].set_xlabel("time from the GO cue (ms, bin centre)")
    fig.suptitle(
        f"Poisson NMF (rank {rank}) of STN spike counts, {counts.shape[0]} trials x "
        f"{counts.shape[1]} bins of {bin_ms} ms"
    )
    fig.savefig(path, dpi=120)


def _demo(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd
    from scipy.special import gammaln, xlogy

    import bayesfactor as bf
    from bayesfactor.datasets import load_stn_spikes

    bin_ms = 50
    out = args.out
    out.mkdir(parents=True, exist_ok=True)  # fail before the fit, not after
    spikes = load_stn_spikes(bin_ms=bin_ms)
    counts = spikes.counts
    restarts, max_iter, tol = (2, 200, 1e-4) if args.quick else (5, 500, 1e-6)
    model = bf.Model(bf.Poisson(link="identity"), rank=args.rank, priors=bf.NonNegative())
    print(
        f"Data: STN spike counts, {counts.shape[0]} trials x {counts.shape[1]} bins of "
        f"{bin_ms} ms (Kramer & Eden 2016, MIT license)."
    )
    print(f"Fitting {model!r} with {restarts} restarts ...", flush=True)

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bf.fit(model, counts, restarts=restarts, key=0, max_iter=max_iter, tol=tol)
    elapsed = time.perf_counter() - start
    for w in caught:
        print(f"bayesfactor: warning: {' '.join(str(w.message).split())}", file=sys.stderr)

    x = counts.to_numpy(dtype=float)
    mu = result.predict().to_numpy()
    mu0 = x.mean()  # rank 0: one constant rate for every trial and bin
    deviance = 2 * np.sum(xlogy(x, x) - xlogy(x, mu) - (x - mu))
    deviance0 = 2 * np.sum(xlogy(x, x) - xlogy(x, mu0) - (x - mu0))
    loglik = result.log_likelihood(counts)
    loglik0 = float(np.sum(xlogy(x, mu0) - mu0 - gammaln(x + 1)))
    print()
    print(result)
    print(
        f"  log-lik     {loglik:.6g}   (constant-rate model: {loglik0:.6g}, "
        f"gain {loglik - loglik0:.4g})"
    )
    print(
        f"  deviance    {deviance:.6g}   ({100 * (1 - deviance / deviance0):.1f} % of the "
        f"constant-rate model's {deviance0:.6g} explained)"
    )
    print(f"  time        {elapsed:.2f} s for {result.n_iter} iterations (incl. compilation)")

    trial, time_ = _normalized(result.factors)
    names = [f"component_{r + 1}" for r in range(model.rank)]
    paths = [out / "factors.png", out / "trial_factors.csv", out / "time_factors.csv"]
    _plot(paths[0], trial, time_, counts, spikes.direction, bin_ms)
    pd.DataFrame(trial, index=counts.index, columns=names).to_csv(paths[1])
    pd.DataFrame(time_, index=counts.columns, columns=names).to_csv(paths[2])
    print("\nWrote (time profiles scaled to a peak of 1, components by size):")
    for path in paths:
        print(f"  {path.resolve()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bayesfactor`` command line with ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments, without the program name.

    Returns
    -------
    int
        The exit status: 0 on success, 2 on a usage error or a failure.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already reported)
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("bayesfactor: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"bayesfactor: error: {message} (--debug shows the traceback)", file=sys.stderr)
        return 2
