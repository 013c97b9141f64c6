"""The ``fit`` and ``cv`` commands, and the steps the commands share.

Reading a data file, the model from the arguments, output checks made before any work,
warnings as one line each, and the report of a cross-validation. Everything heavy
(JAX, pandas, matplotlib) is imported inside the functions: ``--help`` loads none of it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

__all__: list[str] = []


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
    from numpyro.distributions import constraints

    import bayesfactor as bf

    priors = args.prior
    if args.likelihood == "auto":
        return bf.Model(rank=rank, priors=None if priors is None else _one_or_tuple(priors))
    if priors is None:  # non-negative where the likelihood needs it (KL-NMF), else flat
        nonnegative = not args.likelihood.accepts_factor_support(constraints.real)
        priors = [bf.NonNegative() if nonnegative else bf.Flat()]
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
    if hasattr(result.model.likelihood, "table"):  # Blocks, chosen by --likelihood auto
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
