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
renamed over the target (``os.replace``), so an interrupted save (an exception,
Ctrl-C, SIGTERM) leaves any old file intact and no partial file behind; the
temporaries of a killed save are removed by the next save to the same place. A new
file gets the permissions of the umask (an existing one keeps its own), and a
symlink is followed, as ``cp`` and editors do.

Files are treated as coming from strangers. :func:`bayesfactor.load` reads only the
bayesfactor format: before any data are read it refuses HDF5 external storage,
external, soft and virtual links (which would make it read other files), checks
every dataset's size from the file's own metadata against ``max_bytes`` and its
shape against the declared model, and limits the declaration's nesting; after
reading it checks the contents (finite floating factors, consistent attributes)
and a SHA-256 digest of everything saved, so that a corrupted file is refused, not
loaded as NaN factors. Every refusal is a ``ValueError`` naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import signal
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bayesfactor import likelihoods
from bayesfactor._registry import LIKELIHOODS, PRIORS
from bayesfactor.conv import ConvModel
from bayesfactor.model import Model

__all__ = ["save", "read", "to_spec", "from_spec", "atomic_write", "check_hdf5", "MAX_BYTES"]

#: Most bytes of data :func:`bayesfactor.load` (and the CLI's ``.nc`` reader) read from one file
#: unless given ``max_bytes``: sizes come from the file's metadata, checked first.
MAX_BYTES = 2**30
#: Deepest nesting of a saved model declaration (a real one is 4-5 levels deep).
MAX_DEPTH = 32
#: A temporary file of a save left this long untouched is stale (its save was killed).
STALE_S = 600.0


def _classes() -> dict[str, type]:
    """Classes a saved declaration may name (``"likelihoods.Poisson"``, ...).

    The models, estimated parameters and the registered likelihoods and priors
    (:mod:`bayesfactor._registry`).
    """
    return {
        "Model": Model,
        "ConvModel": ConvModel,
        "likelihoods.Estimated": likelihoods.Estimated,
        **LIKELIHOODS.classes(),
        **PRIORS.classes(),
    }


_FORMAT = "bayesfactor.FitResult/2"  # /2: with a digest; /1 is still read


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
        name = next((k for k, c in _classes().items() if c is type(obj)), None)
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


def from_spec(spec: Any, arrays: Sequence[np.ndarray] = (), depth: int = 0) -> Any:
    """Rebuild a model, likelihood or prior from :func:`to_spec`'s declaration.

    Raises ``ValueError`` for a declaration nested deeper than :data:`MAX_DEPTH` or
    naming an array that is not there.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"the model declaration is nested deeper than {MAX_DEPTH} levels.")
    if isinstance(spec, dict) and "array" in spec:
        index = spec["array"]
        if isinstance(index, int) and not isinstance(index, bool):
            if not 0 <= index < len(arrays):
                raise ValueError(f"the model declaration refers to a missing array {index}.")
            return np.asarray(arrays[index])
        return np.asarray(spec["array"], dtype=np.dtype(spec["dtype"]))
    if isinstance(spec, dict):
        name = spec.get("class")
        classes = _classes()
        if name not in classes:
            raise ValueError(
                f"the file declares an unknown model part {name!r}; it was written by "
                "another version of bayesfactor, or is not a bayesfactor file."
            )
        kwargs = {k: from_spec(v, arrays, depth + 1) for k, v in spec.items() if k != "class"}
        for key in ("priors", "names", "labels"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        cls = classes[name]
        return getattr(cls, "from_fields", cls)(**kwargs)
    if isinstance(spec, list):
        return [from_spec(s, arrays, depth + 1) for s in spec]
    return spec


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file onto ``path``.

    The temporary file lives in ``path``'s folder (so the rename is atomic on one
    file system) and is removed if ``write`` fails or the process is interrupted
    (Ctrl-C; SIGTERM, handled while the write runs in the main thread): ``path`` is
    either the old file or the complete new one, never a partial file. Temporaries
    of an earlier save to ``path`` that was killed (SIGKILL) and left them untouched
    for :data:`STALE_S` seconds are removed first. A symlink ``path`` is followed;
    the file gets the existing file's permissions, or those of the umask.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot save to {str(path)!r}: the folder {str(path.parent)!r} does not exist."
        )
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {str(path)!r}: it is a folder; name a file.")
    prefix = f".{path.name}."
    for stale in path.parent.glob(f"{prefix}*.tmp"):
        try:
            if time.time() - stale.stat().st_mtime > STALE_S:
                stale.unlink()
        except OSError:
            pass  # removed by another process, or not ours to remove
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    os.close(fd)
    with _terminate_as_exception() as terminate:
        try:
            write(tmp)
            terminate.check()  # SIGTERM during the write: no rename
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _Terminated(SystemExit):
    """SIGTERM during a save, raised so that the temporary file is removed."""


class _terminate_as_exception:
    """While active (main thread only), SIGTERM raises :class:`_Terminated` (exit 143).

    The signal is also recorded: an exception raised where Python ignores it (in a
    finalizer that a library's write happens to run) is raised again on exit, before
    a temporary file could be renamed into place.
    """

    def __enter__(self):
        self.previous, self.signum = None, None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    def _raise(self, signum, frame):
        self.signum = signum
        raise _Terminated(128 + signum)

    def check(self) -> None:
        """Raise :class:`_Terminated` if SIGTERM arrived (even if it was swallowed)."""
        if self.signum is not None:
            raise _Terminated(128 + self.signum)

    def __exit__(self, kind, value, traceback):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        if kind is None:
            self.check()
        return False


def check_hdf5(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> dict[str, tuple]:
    """The ``(shape, dtype)`` of every dataset in an HDF5 / netCDF4 file, read from metadata.

    Nothing is read from the datasets themselves. Refused, with a ``ValueError``
    naming the file: a file that is not HDF5; external links, soft links and virtual
    datasets (which make a reader open other files); datasets stored in external
    raw files (which make it read any local file); data of more than ``max_bytes``
    in all (a small compressed file can expand to gigabytes).

    Examples
    --------
    >>> import tempfile, numpy as np, bayesfactor as bf
    >>> fit = bf.fit(bf.Model(bf.Gaussian(), 2, bf.Flat()), np.eye(4), max_iter=5)
    >>> path = fit.save(tempfile.mkdtemp() + "/fit.nc")
    >>> shape, dtype = check_hdf5(path)["F0"]
    >>> shape, dtype == np.float64
    ((4, 2), True)
    """
    import h5py

    where = repr(str(path))
    try:
        file = h5py.File(path, "r")
    except (OSError, RuntimeError) as err:
        raise ValueError(f"{where} is not an HDF5 / netCDF4 file: {err}") from None
    found: dict[str, tuple] = {}

    def visit(group, prefix):
        for name in group:  # iterating names resolves no link
            link = group.get(name, getlink=True)
            full = f"{prefix}{name}"
            if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
                kind = "an external" if isinstance(link, h5py.ExternalLink) else "a soft"
                raise ValueError(
                    f"{where} holds {kind} link {full!r}, which would read another "
                    "object or file; bayesfactor never writes links: refusing the file."
                )
            obj = group[name]
            if isinstance(obj, h5py.Group):
                visit(obj, full + "/")
                continue
            if obj.external or obj.is_virtual:
                raise ValueError(
                    f"{where} stores dataset {full!r} outside the file (external or virtual "
                    "storage), which would read other files; refusing the file."
                )
            found[full] = (obj.shape, obj.dtype)

    with file:
        try:
            visit(file, "")
        except (OSError, RuntimeError, KeyError) as err:  # damaged metadata
            raise ValueError(f"{where} is damaged: {type(err).__name__}: {err}") from None
    total = sum(math.prod(shape or ()) * dtype.itemsize for shape, dtype in found.values())
    if total > max_bytes:
        raise ValueError(
            f"{where} declares {total:,} bytes of data, more than max_bytes={max_bytes:,}; "
            "pass a larger max_bytes if the file is trusted and the memory is there."
        )
    return found


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


def _read(dataset, where: str) -> tuple[dict[str, Any], dict]:
    """The fields of the fit in an open (lazy) dataset, checked (:func:`read`); what was read."""

    def refuse(problem: str):
        raise ValueError(f"{where} is not a valid saved bayesfactor fit: {problem}.")

    attrs = dict(dataset.attrs)
    if attrs.get("format") not in (_FORMAT, "bayesfactor.FitResult/1"):
        raise ValueError(
            f"{where} is not a saved bayesfactor fit (format attribute "
            f"{attrs.get('format')!r}, expected {_FORMAT!r})."
        )

    def attr_json(name: str):
        try:
            return json.loads(str(attrs[name]))
        except (json.JSONDecodeError, RecursionError):
            refuse(f"its {name!r} attribute is not valid JSON (or is nested too deeply)")

    def integer(name: str, allowed=None):
        value = attrs.get(name)
        if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
            refuse(f"attribute {name!r} must be an integer; got {value!r}")
        if (allowed is not None and value not in allowed) or value < 0:
            refuse(f"attribute {name!r} is {int(value)}, expected {allowed or 'n >= 0'}")
        return int(value)

    def array(name: str, shape: tuple, what: str, floating: bool = True):
        if name not in dataset.variables:
            refuse(f"{what} {name!r} is missing")
        var = dataset.variables[name]
        if tuple(var.shape) != tuple(shape):
            refuse(f"{what} {name!r} has shape {tuple(var.shape)}, expected {tuple(shape)}")
        if floating and var.dtype.kind != "f":
            refuse(f"{what} {name!r} has dtype {var.dtype}, expected floating point")
        value = np.asarray(var.values)
        if floating and name != "history" and not np.isfinite(value).all():
            refuse(f"{what} {name!r} has non-finite entries")
        contents[name] = value
        return value

    contents: dict = {"attrs": attrs}
    arrays = []
    while f"model_array{len(arrays)}" in dataset.variables:
        name = f"model_array{len(arrays)}"
        var = dataset.variables[name]
        arrays.append(array(name, var.shape, "model array", floating=False))
    spec = attr_json("model")
    model = from_spec(spec, arrays)
    if not isinstance(model, (Model, ConvModel)) or not isinstance(
        model.likelihood, likelihoods.Likelihood
    ):
        refuse(f"its model declaration does not describe a model with a likelihood: {spec!r}")
    n_modes = 0
    while f"F{n_modes}" in dataset.variables:
        n_modes += 1
    if n_modes < 2:
        refuse(f"it holds {n_modes} factor matrices (F0, F1, ...); a fit has at least 2")
    shapes = [tuple(dataset.variables[f"F{k}"].shape) for k in range(n_modes)]
    conv = isinstance(model, ConvModel)
    expected = [
        (s[0], model.lags, model.rank) if conv and k == 0 else (s[0], model.rank)
        for k, s in enumerate(shapes)
    ]
    if conv and n_modes != 2:
        refuse(f"a ConvModel has 2 factors; the file holds {n_modes}")
    data_shape = tuple(s[0] for s in shapes)
    try:
        model.mode_priors(n_modes) if not conv else None
        model.likelihood.check_shape(data_shape)
    except (ValueError, TypeError) as err:
        refuse(f"its model does not fit its factors of shapes {shapes}: {err}")
    if any(k >= n_modes for k in model.intercepts):
        refuse(f"its model has intercepts on modes {model.intercepts} of {n_modes}")
    factors = tuple(array(f"F{k}", e, f"factor {k}") for k, e in enumerate(expected))
    intercepts = tuple(
        array(f"intercept{k}", (data_shape[k],), "intercept") for k in model.intercepts
    )
    n_iter = integer("n_iter")
    converged = integer("converged", (0, 1))
    history = array("history", (n_iter,), "the history")
    restarts = dataset.variables.get("restart_objectives")
    restarts = array(
        "restart_objectives", restarts.shape if restarts is not None else (1,), "restart objectives"
    )
    if restarts.ndim != 1 or not restarts.size:
        refuse("restart_objectives must be a non-empty vector")
    objective = attrs.get("objective")
    if not isinstance(objective, (float, np.floating)) or not np.isfinite(objective):
        refuse(f"attribute 'objective' must be a finite number; got {objective!r}")
    kind = attrs.get("kind")
    if kind not in ("numpy", "pandas", "xarray"):
        refuse(f"attribute 'kind' is {kind!r}, expected 'numpy', 'pandas' or 'xarray'")
    dims = attr_json("dims")
    labelled = attr_json("labelled")
    if not (isinstance(dims, list) and len(dims) in (0, n_modes)) or not all(
        d is None or isinstance(d, str) for d in dims
    ):
        refuse(f"attribute 'dims' must list {n_modes} names (or none); got {dims!r}")
    if not (isinstance(labelled, list) and len(labelled) == n_modes) or not all(
        isinstance(b, bool) for b in labelled
    ):
        refuse(f"attribute 'labelled' must list {n_modes} booleans; got {labelled!r}")
    labels = []
    for k in range(n_modes):
        name = dataset.variables[f"F{k}"].dims[0]
        if labelled[k]:
            import pandas as pd

            if name not in dataset.coords or dataset.coords[name].shape != (data_shape[k],):
                refuse(f"the labels of mode {k} are missing or of the wrong length")
            values = np.asarray(dataset.coords[name].values)
            contents[name] = values
            labels.append(pd.Index(values, name=dims[k] if dims else None))
        else:
            labels.append(None)
    fields = dict(
        model=model,
        factors=factors,
        objective=float(objective),
        history=history,
        n_iter=n_iter,
        converged=bool(converged),
        restart_objectives=restarts,
        labels=tuple(labels),
        dims=tuple(dims),
        kind=str(kind),
        intercepts=intercepts,
    )
    return fields, contents
