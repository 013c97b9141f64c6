"""Saving a fit to one netCDF file and reading it back, checked (see :mod:`bayesfactor.io`)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from bayesfactor.io._fields import _FORMAT, _read
from bayesfactor.io.atomic import _terminate_as_exception, atomic_write
from bayesfactor.io.hdf5 import MAX_BYTES, check_hdf5
from bayesfactor.io.spec import to_spec

__all__ = ["save", "read"]


def _digest(variables: dict[str, np.ndarray], attrs: dict) -> str:
    """SHA-256 of the saved arrays (name, dtype, shape, bytes) and attributes."""
    h = hashlib.sha256()
    for name in sorted(variables):
        a = np.asarray(variables[name])
        if a.dtype.kind in "OUS":  # labels: their text
            h.update(f"{name}|text|{a.shape}|".encode())
            h.update("\x1f".join(map(str, a.ravel())).encode())
        else:
            h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
            h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps({k: str(attrs[k]) for k in sorted(attrs) if k != "sha256"}).encode())
    return h.hexdigest()


def _dim_names(result: Any) -> list[str]:
    dims = list(result.dims) if result.dims else [None] * len(result.factors)
    names = [d if isinstance(d, str) and d else f"mode{k}" for k, d in enumerate(dims)]
    if len(set(names)) != len(names) or {"component", "lag", "iteration", "restart"} & set(names):
        names = [f"mode{k}" for k in range(len(names))]
    return names


def save(result: Any, path: str | os.PathLike) -> Path:
    """Write a fit to a netCDF file, atomically (see the module docstring).

    Parameters
    ----------
    result : FitResult
        The fit to save.
    path : str or path-like
        Target file (conventionally ``.nc``); its folder must exist. An existing file
        is replaced only once the new one is complete.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, numpy as np, bayesfactor as bf
    >>> X = np.random.default_rng(0).poisson(3.0, size=(20, 10))
    >>> fit = bf.fit(bf.Model(bf.Poisson(link="identity"), 2, bf.NonNegative()), X)
    >>> path = fit.save(tempfile.mkdtemp() + "/fit.nc")
    >>> bool(np.array_equal(bf.load(path).predict(), fit.predict()))
    True
    """
    import xarray as xr

    if not all(hasattr(result, a) for a in ("model", "factors", "history", "restart_objectives")):
        raise TypeError(f"save expects a FitResult; got {type(result).__name__}.")
    names = _dim_names(result)
    labels = result.labels or (None,) * len(result.factors)
    variables, coords = {}, {}
    for k, (f, name, lab) in enumerate(zip(result.factors, names, labels, strict=True)):
        # A ConvModel's W has a lag axis: (neurons, lag, component).
        middle = ("lag",) if np.ndim(f) == 3 else ()
        variables[f"F{k}"] = ((name, *middle, "component"), np.asarray(f))
        if lab is not None:
            coords[name] = np.asarray(lab)
    for k, b in zip(result.model.intercepts, result.intercepts, strict=True):
        variables[f"intercept{k}"] = ((names[k],), np.asarray(b))
    arrays: list[np.ndarray] = []
    model_spec = json.dumps(to_spec(result.model, arrays))
    for i, a in enumerate(arrays):  # the model's own arrays (offsets, block assignments)
        variables[f"model_array{i}"] = (tuple(f"model_array{i}_{j}" for j in range(a.ndim)), a)
    variables["history"] = (("iteration",), np.asarray(result.history))
    variables["restart_objectives"] = (("restart",), np.asarray(result.restart_objectives))
    from bayesfactor import __version__

    attrs = {
        "format": _FORMAT,
        "model": model_spec,
        "objective": float(result.objective),
        "n_iter": int(result.n_iter),
        "converged": int(bool(result.converged)),
        "kind": result.kind,
        "dims": json.dumps(list(result.dims) if result.dims else []),
        "labelled": json.dumps([lab is not None for lab in labels]),
        "bayesfactor_version": __version__,
    }
    contents = {name: value for name, (_, value) in variables.items()} | coords
    with _terminate_as_exception():  # SIGTERM anywhere in a save: no temporary left
        attrs["sha256"] = _digest(contents, attrs)
        dataset = xr.Dataset(variables, coords=coords, attrs=attrs)
        return atomic_write(path, lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf"))


def read(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """The checked fields of the fit saved at ``path`` (:func:`bayesfactor.load` builds it).

    Everything :func:`bayesfactor.load` refuses is refused here, with the same errors.
    """
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved fit at {str(path)!r}.")
    where = repr(str(path))
    check_hdf5(path, max_bytes)
    try:
        with xr.open_dataset(path, engine="h5netcdf") as lazy:  # metadata; data on demand
            fields, contents = _read(lazy, where)
    except ValueError:
        raise
    except (
        OSError,
        RuntimeError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        RecursionError,
    ) as err:
        raise ValueError(
            f"{where} is not a valid saved bayesfactor fit: {type(err).__name__}: {err}"
        ) from None
    attrs = contents.pop("attrs")
    if attrs.get("format") == _FORMAT and attrs.get("sha256") != _digest(contents, attrs):
        raise ValueError(
            f"{where} is corrupted: its contents do not match the digest saved with them "
            "(a damaged copy or an edited file); save the fit again from its source."
        )
    return fields
