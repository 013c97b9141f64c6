"""The ``bayesfactor`` command line: ``demo``, ``fit`` and ``cv``.

Errors are reported as one line on stderr with exit status 2 (``--debug`` shows
the traceback instead); ``main`` returns the exit status rather than exiting.
"""

from __future__ import annotations

import argparse
import os
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
factors.png, trial_factors.csv, time_factors.csv and the fit (model.nc, read it
with bayesfactor.load) to the output folder. Then it cross-validates ranks 1-5
(10 % of the entries held out, 3 folds) and writes cv.csv and error.png."""

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
    common.add_argument(
        "--overwrite",
        action="store_true",
        help="replace output files that exist (never the input data)",
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

    spec = argparse.ArgumentParser(add_help=False)
    spec.add_argument("data", metavar="DATA", type=Path, help=_DATA_HELP)
    spec.add_argument(
        "--likelihood",
        metavar="NAME[:P]",
        type=_likelihood,
        default="gaussian",  # argparse converts it after parsing (--help stays fast)
        help=f"observation model, one of {', '.join(_LIKELIHOODS)}; P is the Gaussian or "
        "Laplace scale or the von Mises concentration. poisson is the identity link "
        "(counts = sum of non-negative parts: KL-NMF, bf.Poisson(link='identity')); "
        "poisson-log is the log link (bf.Poisson(), Python's default); auto: one per "
        "column of a CSV from its values (bool, counts, floats; with column intercepts) "
        "(default: gaussian)",
    )
    spec.add_argument(
        "--prior",
        metavar="NAME[:P]",
        type=_prior,
        action="append",
        help=f"factor prior, one of {', '.join(_PRIORS)}; P is its scale or rate. Give it "
        "once for every mode, or once per mode in order (default: nonnegative for "
        "poisson, else flat)",
    )
    spec.add_argument(
        "--restarts",
        metavar="K",
        type=_positive_int,
        default=5,
        help="random initializations, the best kept (default: %(default)s)",
    )
    spec.add_argument(
        "--max-iter",
        metavar="N",
        type=_positive_int,
        default=500,
        help="iteration limit (default: %(default)s)",
    )
    spec.add_argument(
        "--key", metavar="SEED", type=int, default=0, help="random seed (default: %(default)s)"
    )
    fit = commands.add_parser(
        "fit",
        parents=[common, spec],
        help="fit a model to a data file and save it",
        description="Fit a model (likelihood, rank, priors) to DATA by alternating MAP, "
        "print a summary and save the fit (netCDF; read it with bayesfactor.load).",
        epilog="examples:\n  bayesfactor fit counts.npy --likelihood poisson --rank 5 "
        "--prior exponential:1.0 --out fit.nc\n  bayesfactor fit votes.csv --likelihood "
        "bernoulli --rank 2 --prior normal:1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument(
        "--rank", metavar="R", type=_positive_int, required=True, help="number of components"
    )
    fit.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        default=Path("fit.nc"),
        help="where to save the fit (default: %(default)s)",
    )
    fit.set_defaults(run=_fit)
    cv = commands.add_parser(
        "cv",
        parents=[common, spec],
        help="choose the rank by cross-validation on held-out entries",
        description="Fit the model at every rank to DATA with a random speckled subset "
        "of entries held out, score the held-out entries, print the table and write "
        "cv.csv and error.png.",
        epilog="example:\n  bayesfactor cv counts.npy --likelihood poisson --ranks 1:8",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cv.add_argument(
        "--ranks",
        metavar="A:B",
        type=_ranks,
        default=_ranks("1:6"),
        help="ranks to try: A:B (inclusive) or a list 1,2,5 (default: 1:6)",
    )
    cv.add_argument(
        "--holdout",
        metavar="H",
        type=float,
        default=0.1,
        help="fraction of entries held out per fold (default: %(default)s)",
    )
    cv.add_argument(
        "--folds",
        metavar="F",
        type=_positive_int,
        default=1,
        help="number of held-out sets (default: %(default)s)",
    )
    cv.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("bayesfactor-cv"),
        help="folder for cv.csv and error.png (default: %(default)s)",
    )
    cv.set_defaults(run=_cv)
    return parser


_DATA_HELP = (
    "data file: .npy (any N-way array), .csv (first row column labels, first column "
    "row labels) or .nc (one xarray DataArray); empty/NaN entries are missing"
)
_LIKELIHOODS = ("gaussian", "poisson", "poisson-log", "bernoulli", "laplace", "vonmises", "auto")
_PRIORS = (
    "flat",
    "normal",
    "laplace",
    "nonnegative",
    "exponential",
    "halfnormal",
    "smooth",
    "onehot",
)


def _name_and_number(text: str, names: Sequence[str], kind: str):
    name, _, number = text.partition(":")
    name = name.strip().lower()
    if name not in names:
        raise argparse.ArgumentTypeError(
            f"unknown {kind} {name!r}; choose one of {', '.join(names)}"
        )
    if not number:
        return name, None
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(
            f"{text!r}: the number after ':' must be positive and finite, e.g. '{name}:1.0'"
        )
    return name, value


def _likelihood(text: str):
    import bayesfactor as bf

    name, p = _name_and_number(text, _LIKELIHOODS, "likelihood")
    kwargs = (
        {}
        if p is None
        else {
            "gaussian": {"scale": p},
            "laplace": {"scale": p},
            "vonmises": {"concentration": p},
        }.get(name)
    )
    if kwargs is None:
        raise argparse.ArgumentTypeError(f"{name!r} takes no number; use just '{name}'")
    return {
        "gaussian": lambda: bf.Gaussian(**kwargs),
        "poisson": lambda: bf.Poisson(link="identity"),
        "poisson-log": lambda: bf.Poisson(link="log"),
        "bernoulli": lambda: bf.Bernoulli(),
        "laplace": lambda: bf.LaplaceLikelihood(**kwargs),
        "vonmises": lambda: bf.VonMises(**kwargs),
        "auto": lambda: "auto",
    }[name]()


def _prior(text: str):
    import bayesfactor as bf

    name, p = _name_and_number(text, _PRIORS, "prior")
    plain = {"flat": bf.Flat, "nonnegative": bf.NonNegative, "onehot": bf.OneHot}
    if name in plain:
        if p is not None:
            raise argparse.ArgumentTypeError(f"{name!r} takes no number; use just '{name}'")
        return plain[name]()
    if p is None:
        raise argparse.ArgumentTypeError(f"{name!r} needs a number, e.g. '{name}:1.0'")
    return {
        "normal": bf.Normal,
        "laplace": bf.Laplace,
        "exponential": bf.Exponential,
        "halfnormal": bf.HalfNormal,
        "smooth": bf.Smooth,
    }[name](p)


def _ranks(text: str) -> list[int]:
    try:
        if ":" in text:
            a, b = (int(t) for t in text.split(":"))
            ranks = list(range(a, b + 1))
        else:
            ranks = [int(t) for t in text.split(",")]
    except ValueError:
        ranks = []
    if not ranks or min(ranks) < 1:
        raise argparse.ArgumentTypeError(
            f"expected ranks as A:B or a list like 1,2,5 (all >= 1), got {text!r}"
        )
    return ranks


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
    names = ("factors.png", "trial_factors.csv", "time_factors.csv", "model.nc", *_CV_FILES)
    _check_outputs(args, folder=out, names=names)  # fail before the fit, not after
    out.mkdir(parents=True, exist_ok=True)
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
    result = _quietly(bf.fit, model, counts, restarts=restarts, key=0, max_iter=max_iter, tol=tol)
    elapsed = time.perf_counter() - start

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
    paths.append(result.save(out / "model.nc"))
    print("\nWrote (time profiles scaled to a peak of 1, components by size):")
    for path in paths:
        print(f"  {path.resolve()}")

    ranks = list(range(1, 4 if args.quick else 6))
    print(f"\nChoosing the rank: 10 % of the entries held out, ranks {ranks} ...", flush=True)
    table = _quietly(
        bf.cross_validate,
        model,
        counts,
        ranks=ranks,
        holdout=0.1,
        folds=1 if args.quick else 3,
        restarts=restarts,
        max_iter=max_iter,
        tol=tol,
        key=0,
    )
    _report_cv(table, out)
    return 0


def _read(path: Path):
    """The data file as a NumPy array, pandas DataFrame or xarray DataArray."""
    import numpy as np

    if not path.is_file():
        raise FileNotFoundError(f"no data file at {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.ndarray):  # an .npz archive under another name
                names = list(data.keys())
                data.close()
                raise ValueError(
                    f"it is an .npz archive of arrays {names[:5]}, not one .npy array; save "
                    "the array to fit with np.save"
                )
            return data
        if suffix == ".csv":
            import pandas as pd

            return pd.read_csv(path, index_col=0)
        if suffix == ".nc":
            import xarray as xr

            from bayesfactor.io import check_hdf5

            check_hdf5(path)  # no links or external storage; sizes bounded before reading
            return xr.load_dataarray(path, engine="h5netcdf")
    except Exception as exc:
        raise ValueError(f"cannot read {str(path)!r} as {suffix} data: {exc}") from None
    raise ValueError(f"{str(path)!r}: unknown data format {suffix!r}; use .npy, .csv or .nc")


def _model(args: argparse.Namespace, rank: int):
    import bayesfactor as bf

    priors = args.prior
    if args.likelihood == "auto":
        return bf.Model(rank=rank, priors=None if priors is None else _one_or_tuple(priors))
    if priors is None:
        poisson = isinstance(args.likelihood, bf.Poisson) and args.likelihood.link == "identity"
        priors = [bf.NonNegative() if poisson else bf.Flat()]
    return bf.Model(args.likelihood, rank, _one_or_tuple(priors))


def _one_or_tuple(priors: list):
    return priors[0] if len(priors) == 1 else tuple(priors)


def _quietly(call, *args, **kwargs):
    """Run ``call``, printing its warnings as one line each on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call(*args, **kwargs)
    for w in caught:
        print(f"bayesfactor: warning: {' '.join(str(w.message).split())}", file=sys.stderr)
    return out


def _fit(args: argparse.Namespace) -> int:
    import bayesfactor as bf

    _check_outputs(args, files=(args.out,))  # fail before the fit, not after
    data = _read(args.data)
    model = _model(args, args.rank)
    print(f"Fitting {model!r} to {args.data} {tuple(data.shape)} ...", flush=True)
    start = time.perf_counter()
    result = _quietly(
        bf.fit, model, data, restarts=args.restarts, max_iter=args.max_iter, key=args.key
    )
    print(result)
    if isinstance(result.model.likelihood, bf.Blocks):  # chosen by --likelihood auto
        print(result.model.likelihood.table().to_string())
    print(f"  time        {time.perf_counter() - start:.2f} s (incl. compilation)")
    print(f"Wrote {result.save(args.out).resolve()}")
    return 0


def _cv(args: argparse.Namespace) -> int:
    import bayesfactor as bf

    _check_outputs(args, folder=args.out, names=_CV_FILES)
    data = _read(args.data)
    model = _model(args, args.ranks[0])
    print(
        f"Cross-validating {model.likelihood!r} with priors {model.priors!r} at ranks "
        f"{', '.join(map(str, args.ranks))} on {args.data} {tuple(data.shape)} ...",
        flush=True,
    )
    table = _quietly(
        bf.cross_validate,
        model,
        data,
        ranks=args.ranks,
        holdout=args.holdout,
        folds=args.folds,
        restarts=args.restarts,
        max_iter=args.max_iter,
        key=args.key,
    )
    _report_cv(table, args.out)
    return 0


#: What ``cv`` (and ``demo``) write into their folder.
_CV_FILES = ("cv.csv", "error.png")


def _check_outputs(args: argparse.Namespace, files=(), folder=None, names=()) -> None:
    """Refuse, before any work, outputs that would replace the input or an existing file.

    An existing output is replaced only with ``--overwrite``; the input never is.
    ``folder`` (created when the outputs are written) must be creatable.
    """
    data = getattr(args, "data", None)
    if folder is not None:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"--out {str(folder)!r} is a file, not a folder")
        ancestor = next(p for p in (folder, *folder.parents) if p.exists())
        if not os.access(ancestor, os.W_OK):
            raise PermissionError(f"cannot create files under {str(ancestor)!r} (--out)")
        files = [folder / n for n in names]
    for path in files:
        if path.is_dir():
            raise IsADirectoryError(f"--out {str(path)!r} is a folder; name a file in it")
        if folder is None and not path.parent.is_dir():
            raise FileNotFoundError(f"the folder of --out {str(path)!r} does not exist")
        if not path.exists():
            continue
        if data is not None and Path(data).exists() and os.path.samefile(path, data):
            raise ValueError(
                f"--out {str(path)!r} is the input data file; refusing to overwrite it. "
                "Name another output."
            )
        if not args.overwrite:
            raise FileExistsError(
                f"{str(path)!r} exists; pass --overwrite to replace it, or choose another --out"
            )


def _report_cv(table, out: Path) -> None:
    """Print the per-rank summary of a CV table and write cv.csv and error.png."""
    import matplotlib.pyplot as plt

    import bayesfactor as bf

    out.mkdir(parents=True, exist_ok=True)

    metric = table.attrs["metric"]
    columns = ["train_log_likelihood", "test_log_likelihood", f"test_{metric}"]
    summary = table.groupby("rank")[columns].mean()
    best = int(summary["test_log_likelihood"].idxmax())
    print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"Best held-out log-likelihood per entry at rank {best}.")
    paths = [out / "cv.csv", out / "error.png"]
    table.drop(columns=["restart_objectives"], errors="ignore").to_csv(paths[0], index=False)
    # A pyplot figure (marking the same best rank), closed once saved.
    fig = bf.plot.error(table)
    try:
        fig.savefig(paths[1], dpi=120)
    finally:
        plt.close(fig)
    print("Wrote:")
    for path in paths:
        print(f"  {path.resolve()}")


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
