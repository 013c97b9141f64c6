r"""Saving and loading fits: one netCDF file per :class:`~bayesfactor.FitResult`.

A saved fit is an ``xarray.Dataset`` written with the ``h5netcdf`` engine:

=======================  =================================================================
``F0``, ``F1``, ...      the factors, dims ``(<mode dim>, "component")`` (a ConvModel's
                         W: ``(<mode dim>, "lag", "component")``), with the data's
                         labels as coordinates where it had them
``intercept0``, ...      the intercepts of the modes in ``model.intercepts``
``model_array0``, ...    arrays the model holds (an Offset's offset, a Blocks' assignment),
                         referred to by the declaration as ``{"array": i}``
``history``              the objective after each iteration, NaN where not evaluated
                         (dim ``iteration``)
``restart_objectives``   the final objective of every restart (dim ``restart``)
attributes               the model declaration (JSON), objective, n_iter, converged,
                         the container kind, the bayesfactor version
=======================  =================================================================

The model is stored as a declaration (class names and their numbers), not as
pickled code, so a file is readable by any later bayesfactor and loading one runs
no code from it: only the classes of :mod:`bayesfactor.likelihoods`,
:mod:`bayesfactor.priors` and :class:`bayesfactor.Model` can be named.

Files are written atomically: to a temporary file in the target folder, then
renamed over the target (``os.replace``), so an interrupted save leaves any old
file intact and no partial file behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bayesfactor import likelihoods, priors
from bayesfactor.conv import ConvModel
from bayesfactor.model import Model
from bayesfactor.result import FitResult

__all__ = ["save", "load", "to_spec", "from_spec", "atomic_write"]

#: Classes a saved declaration may name: ``{"Model": Model, "Gaussian": ..., ...}``.
_CLASSES: dict[str, type] = {"Model": Model, "ConvModel": ConvModel}
for _module in (likelihoods, priors):
    for _name in _module.__all__:
        _cls = getattr(_module, _name)
        if isinstance(_cls, type) and dataclasses.is_dataclass(_cls):
            _CLASSES[f"{_module.__name__.rsplit('.', 1)[-1]}.{_name}"] = _cls
_FORMAT = "bayesfactor.FitResult/1"


def to_spec(obj: Any, arrays: list | None = None) -> Any:
    """A JSON-ready declaration of a model, likelihood or prior (nested dicts).

    Arrays held by the model (the offset of :class:`~bayesfactor.Offset`, the
    block assignment of :class:`~bayesfactor.Blocks`) are appended to ``arrays``
    and declared as ``{"array": i}``; without ``arrays`` they are written inline
    as nested lists.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> from bayesfactor.io import from_spec, to_spec
    >>> model = bf.Model(bf.Poisson(link="identity"), 3, bf.Exponential(0.5))
    >>> to_spec(model)["likelihood"]
    {'class': 'likelihoods.Poisson', 'link': 'identity'}
    >>> from_spec(to_spec(model)) == model
    True
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = next((k for k, c in _CLASSES.items() if c is type(obj)), None)
        if name is None:
            raise TypeError(f"cannot save {type(obj).__name__}: not a bayesfactor model part.")
        spec = {"class": name}
        for field in dataclasses.fields(obj):
            spec[field.name] = to_spec(getattr(obj, field.name), arrays)
        return spec
    if isinstance(obj, (tuple, list)):
        return [to_spec(o, arrays) for o in obj]
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    value = np.asarray(obj)
    if value.ndim == 0:  # a JAX or NumPy scalar
        return value.item()
    if not np.issubdtype(value.dtype, np.number):
        raise TypeError(f"cannot save a model that holds a {value.dtype} array.")
    if arrays is None:
        return {"array": value.tolist(), "dtype": value.dtype.str}
    arrays.append(value)
    return {"array": len(arrays) - 1}


def from_spec(spec: Any, arrays: Sequence[np.ndarray] = ()) -> Any:
    """Rebuild a model, likelihood or prior from :func:`to_spec`'s declaration."""
    if isinstance(spec, dict) and "array" in spec:
        if isinstance(spec["array"], int):
            return np.asarray(arrays[spec["array"]])
        return np.asarray(spec["array"], dtype=np.dtype(spec["dtype"]))
    if isinstance(spec, dict):
        name = spec.get("class")
        if name not in _CLASSES:
            raise ValueError(
                f"the file declares an unknown model part {name!r}; it was written by "
                "another version of bayesfactor, or is not a bayesfactor file."
            )
        kwargs = {k: from_spec(v, arrays) for k, v in spec.items() if k != "class"}
        for key in ("priors", "names", "labels"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        cls = _CLASSES[name]
        return getattr(cls, "from_fields", cls)(**kwargs)
    if isinstance(spec, list):
        return [from_spec(s, arrays) for s in spec]
    return spec


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file onto ``path``.

    The temporary file lives in ``path``'s folder (so the rename is atomic on one
    file system) and is removed if ``write`` fails: ``path`` is either the old file
    or the complete new one, never a partial file.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot save to {str(path)!r}: the folder {str(path.parent)!r} does not exist."
        )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _dim_names(result: FitResult) -> list[str]:
    dims = list(result.dims) if result.dims else [None] * len(result.factors)
    names = [d if isinstance(d, str) and d else f"mode{k}" for k, d in enumerate(dims)]
    if len(set(names)) != len(names) or {"component", "lag", "iteration", "restart"} & set(names):
        names = [f"mode{k}" for k in range(len(names))]
    return names


def save(result: FitResult, path: str | os.PathLike) -> Path:
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

    if not isinstance(result, FitResult):
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
    dataset = xr.Dataset(variables, coords=coords, attrs=attrs)
    return atomic_write(path, lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf"))


def load(path: str | os.PathLike) -> FitResult:
    """Read a fit written by :func:`save` (or ``FitResult.save``).

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    FitResult
        Factors, model, history and settings as saved: ``predict()`` equals the
        original fit's.
    """
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved fit at {str(path)!r}.")
    try:
        dataset = xr.load_dataset(path, engine="h5netcdf")
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{str(path)!r} is not a netCDF file written by bayesfactor: {err}"
        ) from None
    if dataset.attrs.get("format") != _FORMAT:
        raise ValueError(
            f"{str(path)!r} is not a saved bayesfactor fit (format attribute "
            f"{dataset.attrs.get('format')!r}, expected {_FORMAT!r})."
        )
    attrs = dataset.attrs
    arrays = []
    while f"model_array{len(arrays)}" in dataset:
        arrays.append(dataset[f"model_array{len(arrays)}"].values)
    model = from_spec(json.loads(attrs["model"]), arrays)
    dims = tuple(json.loads(attrs["dims"]))
    factors, labels = [], []
    labelled = json.loads(attrs["labelled"])
    k = 0
    while f"F{k}" in dataset:
        var = dataset[f"F{k}"]
        factors.append(var.values)
        name = var.dims[0]
        if labelled[k]:
            import pandas as pd

            labels.append(pd.Index(dataset[name].values, name=dims[k] if dims else None))
        else:
            labels.append(None)
        k += 1
    return FitResult(
        model=model,
        factors=tuple(factors),
        objective=float(attrs["objective"]),
        history=dataset["history"].values,
        n_iter=int(attrs["n_iter"]),
        converged=bool(attrs["converged"]),
        restart_objectives=dataset["restart_objectives"].values,
        labels=tuple(labels),
        dims=dims,
        kind=str(attrs["kind"]),
        intercepts=tuple(dataset[f"intercept{k}"].values for k in model.intercepts),
    )
