"""The argument parser of the command line: one builder per sub-command.

Building it imports no JAX: the commands import what they need when they run.
"""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path

from bayesfactor.cli.arguments import (
    _LIKELIHOODS,
    _PRIORS,
    _likelihood,
    _positive_int,
    _prior,
    _ranks,
)
from bayesfactor.cli.commands import _cv, _fit
from bayesfactor.cli.demo import _demo

__all__: list[str] = []

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

_DATA_HELP = (
    "data file: .npy (any N-way array), .csv (first row column labels, first column "
    "row labels) or .nc (one xarray DataArray); empty/NaN entries are missing"
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    """The ``bayesfactor`` parser: ``--version`` and the ``demo``, ``fit`` and ``cv`` commands."""
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
    common = _common_arguments()
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True
    _add_demo(commands, common)
    spec = _model_arguments()
    _add_fit(commands, common, spec)
    _add_cv(commands, common, spec)
    return parser


def _common_arguments() -> argparse.ArgumentParser:
    """The options of every command: ``--debug`` and ``--overwrite``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", help="show the full traceback when an error occurs"
    )
    common.add_argument(
        "--overwrite",
        action="store_true",
        help="replace output files that exist (never the input data)",
    )
    return common


def _add_demo(commands, common: argparse.ArgumentParser) -> None:
    """``demo``: cross-validate and fit Poisson NMF of the bundled cell counts."""
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


def _model_arguments() -> argparse.ArgumentParser:
    """The data, the model (likelihood, priors) and the fit's settings of ``fit`` and ``cv``."""
    spec = argparse.ArgumentParser(add_help=False)
    spec.add_argument("data", metavar="DATA", type=Path, help=_DATA_HELP)
    spec.add_argument(
        "--likelihood",
        metavar="NAME[:P]",
        type=_likelihood,
        default="gaussian",  # argparse converts it after parsing (--help stays fast)
        help=f"observation model, one of {', '.join(_LIKELIHOODS)}; P sets its parameter "
        "(the Gaussian or Laplace scale, the von Mises concentration, ...). poisson is the "
        "identity link "
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
    return spec


def _add_fit(commands, common: argparse.ArgumentParser, spec: argparse.ArgumentParser) -> None:
    """``fit``: fit one rank to a data file and save the fit."""
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


def _add_cv(commands, common: argparse.ArgumentParser, spec: argparse.ArgumentParser) -> None:
    """``cv``: choose the rank by cross-validation on held-out entries."""
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
