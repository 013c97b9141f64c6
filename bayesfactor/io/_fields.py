"""The checked fields of a saved fit, read from an open (lazy) dataset, one step at a time.

Each step reads what it checks and refuses a file with a ``ValueError`` naming it; the
order of the steps is the order of the checks (:func:`bayesfactor.io.read`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from bayesfactor import likelihoods
from bayesfactor.conv import ConvModel
from bayesfactor.io.spec import from_spec
from bayesfactor.model import Model

__all__: list[str] = []

_FORMAT = "bayesfactor.FitResult/2"  # /2: with a digest; /1 is still read


class _Reader:
    """An open dataset, the file's name for errors, and what was read from it (``contents``)."""

    def __init__(self, dataset, where: str):
        self.dataset, self.where = dataset, where
        self.attrs = dict(dataset.attrs)
        if self.attrs.get("format") not in (_FORMAT, "bayesfactor.FitResult/1"):
            raise ValueError(
                f"{where} is not a saved bayesfactor fit (format attribute "
                f"{self.attrs.get('format')!r}, expected {_FORMAT!r})."
            )
        self.contents: dict = {"attrs": self.attrs}

    def refuse(self, problem: str):
        raise ValueError(f"{self.where} is not a valid saved bayesfactor fit: {problem}.")

    def attr_json(self, name: str):
        try:
            return json.loads(str(self.attrs[name]))
        except (json.JSONDecodeError, RecursionError):
            self.refuse(f"its {name!r} attribute is not valid JSON (or is nested too deeply)")

    def integer(self, name: str, allowed=None):
        value = self.attrs.get(name)
        if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
            self.refuse(f"attribute {name!r} must be an integer; got {value!r}")
        if (allowed is not None and value not in allowed) or value < 0:
            self.refuse(f"attribute {name!r} is {int(value)}, expected {allowed or 'n >= 0'}")
        return int(value)

    def array(self, name: str, shape: tuple, what: str, floating: bool = True):
        if name not in self.dataset.variables:
            self.refuse(f"{what} {name!r} is missing")
        var = self.dataset.variables[name]
        if tuple(var.shape) != tuple(shape):
            self.refuse(f"{what} {name!r} has shape {tuple(var.shape)}, expected {tuple(shape)}")
        if floating and var.dtype.kind != "f":
            self.refuse(f"{what} {name!r} has dtype {var.dtype}, expected floating point")
        value = np.asarray(var.values)
        if floating and name != "history" and not np.isfinite(value).all():
            self.refuse(f"{what} {name!r} has non-finite entries")
        self.contents[name] = value
        return value


def _model(reader: _Reader):
    """The model declared in the file, with the arrays it holds."""
    arrays = []
    while f"model_array{len(arrays)}" in reader.dataset.variables:
        name = f"model_array{len(arrays)}"
        var = reader.dataset.variables[name]
        arrays.append(reader.array(name, var.shape, "model array", floating=False))
    spec = reader.attr_json("model")
    model = from_spec(spec, arrays)
    if not isinstance(model, (Model, ConvModel)) or not isinstance(
        model.likelihood, likelihoods.Likelihood
    ):
        reader.refuse(
            f"its model declaration does not describe a model with a likelihood: {spec!r}"
        )
    return model


def _layout(reader: _Reader, model) -> tuple[int, list[tuple], tuple]:
    """The number of modes, the expected factor shapes and the data's shape, checked."""
    variables = reader.dataset.variables
    n_modes = 0
    while f"F{n_modes}" in variables:
        n_modes += 1
    if n_modes < 2:
        reader.refuse(f"it holds {n_modes} factor matrices (F0, F1, ...); a fit has at least 2")
    shapes = [tuple(variables[f"F{k}"].shape) for k in range(n_modes)]
    conv = isinstance(model, ConvModel)
    expected = [
        (s[0], model.lags, model.rank) if conv and k == 0 else (s[0], model.rank)
        for k, s in enumerate(shapes)
    ]
    if conv and n_modes != 2:
        reader.refuse(f"a ConvModel has 2 factors; the file holds {n_modes}")
    data_shape = tuple(s[0] for s in shapes)
    try:
        model.mode_priors(n_modes) if not conv else None
        model.likelihood.check_shape(data_shape)
    except (ValueError, TypeError) as err:
        reader.refuse(f"its model does not fit its factors of shapes {shapes}: {err}")
    if any(k >= n_modes for k in model.intercepts):
        reader.refuse(f"its model has intercepts on modes {model.intercepts} of {n_modes}")
    return n_modes, expected, data_shape


def _run(reader: _Reader) -> dict[str, Any]:
    """The run's record: iterations, convergence, history, restarts, objective, kind."""
    n_iter = reader.integer("n_iter")
    converged = reader.integer("converged", (0, 1))
    history = reader.array("history", (n_iter,), "the history")
    restarts = reader.dataset.variables.get("restart_objectives")
    restarts = reader.array(
        "restart_objectives", restarts.shape if restarts is not None else (1,), "restart objectives"
    )
    if restarts.ndim != 1 or not restarts.size:
        reader.refuse("restart_objectives must be a non-empty vector")
    objective = reader.attrs.get("objective")
    if not isinstance(objective, (float, np.floating)) or not np.isfinite(objective):
        reader.refuse(f"attribute 'objective' must be a finite number; got {objective!r}")
    kind = reader.attrs.get("kind")
    if kind not in ("numpy", "pandas", "xarray"):
        reader.refuse(f"attribute 'kind' is {kind!r}, expected 'numpy', 'pandas' or 'xarray'")
    return dict(
        objective=float(objective),
        history=history,
        n_iter=n_iter,
        converged=bool(converged),
        restart_objectives=restarts,
        kind=str(kind),
    )


def _labels(reader: _Reader, n_modes: int, data_shape: tuple) -> tuple[list, list]:
    """The data's dimension names and the labels of every mode (``None`` where unlabelled)."""
    dims = reader.attr_json("dims")
    labelled = reader.attr_json("labelled")
    if not (isinstance(dims, list) and len(dims) in (0, n_modes)) or not all(
        d is None or isinstance(d, str) for d in dims
    ):
        reader.refuse(f"attribute 'dims' must list {n_modes} names (or none); got {dims!r}")
    if not (isinstance(labelled, list) and len(labelled) == n_modes) or not all(
        isinstance(b, bool) for b in labelled
    ):
        reader.refuse(f"attribute 'labelled' must list {n_modes} booleans; got {labelled!r}")
    labels = []
    for k in range(n_modes):
        name = reader.dataset.variables[f"F{k}"].dims[0]
        if labelled[k]:
            import pandas as pd

            coords = reader.dataset.coords
            if name not in coords or coords[name].shape != (data_shape[k],):
                reader.refuse(f"the labels of mode {k} are missing or of the wrong length")
            values = np.asarray(coords[name].values)
            reader.contents[name] = values
            labels.append(pd.Index(values, name=dims[k] if dims else None))
        else:
            labels.append(None)
    return dims, labels


def _read(dataset, where: str) -> tuple[dict[str, Any], dict]:
    """The fields of the fit in an open (lazy) dataset, checked (:func:`read`); what was read."""
    reader = _Reader(dataset, where)
    model = _model(reader)
    n_modes, expected, data_shape = _layout(reader, model)
    factors = tuple(reader.array(f"F{k}", e, f"factor {k}") for k, e in enumerate(expected))
    intercepts = tuple(
        reader.array(f"intercept{k}", (data_shape[k],), "intercept") for k in model.intercepts
    )
    run = _run(reader)
    dims, labels = _labels(reader, n_modes, data_shape)
    fields = dict(
        model=model,
        factors=factors,
        objective=run["objective"],
        history=run["history"],
        n_iter=run["n_iter"],
        converged=run["converged"],
        restart_objectives=run["restart_objectives"],
        labels=tuple(labels),
        dims=tuple(dims),
        kind=run["kind"],
        intercepts=intercepts,
    )
    return fields, reader.contents
