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

from bayesfactor._registry import LIKELIHOODS, PRIORS, declared_cli_names

__all__ = ["main"]

_DESCRIPTION = """\
bayesfactor: matrix and tensor factorization as probabilistic (MAP) inference, in JAX.

Run a subcommand; `bayesfactor COMMAND --help` describes each one."""

_DEMO_HELP = """\
Choose a rank by cross-validation, then fit it: Poisson NMF of real single-cell counts.

The data: UMI counts of 700 human blood cells (PBMCs, Zheng et al. 2017, 10x Genomics,
CC BY 4.0; scanpy's reduced subset, BSD-3; bundled), the 200 genes of the highest
total count, with each cell's FACS-sorted type (not shown to the model). The model:
Poisson(link="identity") likelihood, non-negative priors (KL-NMF).

1. Cross-validation: ranks 1-12, 10 % of the entries held out in each of 3 folds; the
   rank is the smallest one whose mean held-out log-likelihood per entry is within one
   standard error of the best (bf.choose_rank). Writes cv.csv and error.png.
2. The fit of that rank (or --rank) with 5 random restarts; prints the summary, its
   gain over one rate per gene, and each component's top genes and the cell type that
   loads on it most. Writes factors.png, cell_factors.csv, gene_factors.csv and the
   fit (model.nc, read it with bayesfactor.load)."""

_DEMO_EPILOG = """\
examples:
  bayesfactor demo                      # files in ./bayesfactor-demo
  bayesfactor demo --rank 5 --out figs  # fit rank 5 whatever the CV says
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
        help="choose a rank by cross-validation and fit it (Poisson NMF of cell counts)",
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
        default=None,
        help="number of components to fit (default: the rank the cross-validation chooses)",
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
        help=f"observation model, one of {', '.join(_LIKELIHOODS)}; P sets its parameter "
        "(the Gaussian or Laplace scale, the von Mises concentration, ...). poisson is the identity link "
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
#: The names the likelihood and prior classes declare (``cli_names``), read from their
#: source so that --help does not load JAX; resolved to the classes after parsing.
_LIKELIHOODS = (*declared_cli_names("likelihoods"), "auto")
_PRIORS = declared_cli_names("priors")


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
    name, p = _name_and_number(text, _LIKELIHOODS, "likelihood")
    if name == "auto":
        return "auto"
    return _construct(name, p, LIKELIHOODS, needs_number=False)


def _prior(text: str):
    name, p = _name_and_number(text, _PRIORS, "prior")
    return _construct(name, p, PRIORS, needs_number=True)


def _construct(name: str, p: float | None, registry, needs_number: bool):
    """The class registered under CLI ``name``, its parameter set to ``p`` when given."""
    cls, kwargs = registry.by_cli_name()[name]
    if p is not None and cls.parameter is None:
        raise argparse.ArgumentTypeError(f"{name!r} takes no number; use just '{name}'")
    if p is None and needs_number and cls.parameter is not None:
        raise argparse.ArgumentTypeError(f"{name!r} needs a number, e.g. '{name}:1.0'")
    return cls(**kwargs, **({} if p is None else {cls.parameter: p}))


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


def _count_shares(cells, genes, cell_type):
    """Per cell type and component: the mean share of a cell's expected count it explains.

    Component ``r`` contributes ``W[i, r] * sum_j H[j, r]`` to cell ``i``'s expected
    total count (identity link).
    """
    expected = cells * genes.sum(axis=0).to_numpy()
    return expected.div(expected.sum(axis=1), axis=0).groupby(cell_type.to_numpy()).mean()


def _demo_figure(path: Path, cells, genes, cell_type, chosen: int) -> None:
    """Mean share of each cell type per component, and each component's top genes."""
    import matplotlib.pyplot as plt

    share = _count_shares(cells, genes, cell_type)
    rank = cells.shape[1]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, 1.5 + 0.45 * max(rank, len(share))), layout="constrained"
    )
    image = left.imshow(share.to_numpy(), cmap="viridis", vmin=0, aspect="auto")
    left.set_xticks(range(rank), [str(k + 1) for k in range(rank)])
    left.set_yticks(range(len(share)), share.index)
    left.set_xlabel("component")
    left.set_title("mean share of a cell's expected count, by cell type", fontsize=10)
    fig.colorbar(image, ax=left, shrink=0.8)
    right.axis("off")
    right.set_title("top genes (share of the component's counts)", fontsize=10)
    for k in range(rank):
        top = genes.iloc[:, k].nlargest(5)
        words = ", ".join(f"{g} {v:.0%}" for g, v in (top / genes.iloc[:, k].sum()).items())
        right.text(0, 1 - (k + 0.5) / rank, f"{k + 1}: {words}", va="center", fontsize=9)
    fig.suptitle(
        f"Poisson NMF of {cells.shape[0]} blood cells x {genes.shape[0]} genes at rank {rank} "
        f"(the held-out choice: rank {chosen})"
    )
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)


def _demo(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd
    from scipy.special import gammaln, xlogy

    import bayesfactor as bf
    from bayesfactor.datasets import load_pbmc68k

    out = args.out
    names = ("factors.png", "cell_factors.csv", "gene_factors.csv", "model.nc", *_CV_FILES)
    _check_outputs(args, folder=out, names=names)  # fail before the fit, not after
    out.mkdir(parents=True, exist_ok=True)
    pbmc = load_pbmc68k()
    genes = pbmc.counts.sum().sort_values(ascending=False, kind="stable").index[:200]
    counts = pbmc.counts[genes]
    restarts, max_iter, tol = (1, 200, 1e-4) if args.quick else (5, 500, 1e-6)
    ranks, folds = (list(range(1, 6)), 1) if args.quick else (list(range(1, 13)), 3)
    model = bf.Model(bf.Poisson(link="identity"), rank=1, priors=bf.NonNegative())
    print(
        f"Data: UMI counts of {counts.shape[0]} blood cells x {counts.shape[1]} genes (the "
        "highest total counts; Zheng et al. 2017, CC BY 4.0)."
    )
    print(
        f"1. Choosing the rank: Poisson NMF at ranks {ranks[0]}-{ranks[-1]}, 10 % of the "
        f"entries held out in {folds} fold(s) ...",
        flush=True,
    )
    table = _quietly(
        bf.cross_validate,
        model,
        counts,
        ranks=ranks,
        holdout=0.1,
        folds=folds,
        restarts=1,
        max_iter=max_iter,
        tol=10 * tol,  # the choice needs the scores to about 1e-3, not the optimum's digits
        key=0,
    )
    chosen = _report_cv(table, out)
    rank = args.rank or chosen
    why = "given with --rank" if args.rank else "the cross-validation's choice"
    model = bf.Model(bf.Poisson(link="identity"), rank=rank, priors=bf.NonNegative())
    print(f"\n2. Fitting rank {rank} ({why}) to all the data, {restarts} restarts ...", flush=True)
    start = time.perf_counter()
    result = _quietly(bf.fit, model, counts, restarts=restarts, key=0, max_iter=max_iter, tol=tol)
    elapsed = time.perf_counter() - start

    x = counts.to_numpy(dtype=float)
    rate0 = x.mean(axis=0)  # rank 0: one rate per gene, the same in every cell
    loglik = result.log_likelihood(counts)
    loglik0 = float(np.sum(xlogy(x, rate0) - rate0 - gammaln(x + 1)))
    print(result)
    print(
        f"  log-lik     {loglik:.6g}   (one rate per gene: {loglik0:.6g}; gain "
        f"{(loglik - loglik0) / x.size:.3f} per entry)"
    )
    print(f"  time        {elapsed:.2f} s for {result.n_iter} iterations (incl. compilation)")

    columns = [f"component_{k + 1}" for k in range(rank)]
    cells, gene_f = result.factors
    size = cells.sum(axis=0) * gene_f.sum(axis=0)  # each component's expected total count
    order = np.argsort(-size, kind="stable")
    cells = pd.DataFrame(cells[:, order], index=counts.index, columns=columns)
    gene_f = pd.DataFrame(gene_f[:, order], index=counts.columns, columns=columns)
    share = _count_shares(cells, gene_f, pbmc.cell_type)
    print("\nComponents (largest first): the cell type of the highest mean share, top genes")
    for k, column in enumerate(columns):
        top = ", ".join(gene_f[column].nlargest(5).index)
        kind = share[column].idxmax()
        print(f"  {k + 1}: {kind} ({share[column].max():.0%} of its cells' expected counts): {top}")
    paths = [out / "factors.png", out / "cell_factors.csv", out / "gene_factors.csv"]
    _demo_figure(paths[0], cells, gene_f, pbmc.cell_type, chosen)
    cells.assign(cell_type=pbmc.cell_type).to_csv(paths[1])
    gene_f.to_csv(paths[2])
    paths.append(result.save(out / "model.nc"))
    print("\nWrote:")
    for path in paths:
        print(f"  {path.resolve()}")
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


def _report_cv(table, out: Path) -> int:
    """Print the per-rank summary of a CV table, write cv.csv and error.png; the chosen rank."""
    import matplotlib.pyplot as plt

    import bayesfactor as bf

    out.mkdir(parents=True, exist_ok=True)

    metric = table.attrs["metric"]
    columns = ["train_log_likelihood", "test_log_likelihood", f"test_{metric}"]
    summary = table.groupby("rank")[columns].mean()
    print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    choice = _quietly(bf.choose_rank, table)
    print(f"Chosen rank {choice.rank}: {choice.rule}.")
    paths = [out / "cv.csv", out / "error.png"]
    table.drop(columns=["restart_objectives"], errors="ignore").to_csv(paths[0], index=False)
    # A pyplot figure (marking the chosen rank), closed once saved.
    fig = bf.plot.error(table, best=choice.rank)
    try:
        fig.savefig(paths[1], dpi=120)
    finally:
        plt.close(fig)
    print("Wrote:")
    for path in paths:
        print(f"  {path.resolve()}")
    return choice.rank


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
