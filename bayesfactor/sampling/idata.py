"""The ``arviz.InferenceData`` of :func:`~bayesfactor.sample` and :func:`~bayesfactor.laplace`.

The only module that imports ArviZ (lazily, :func:`_arviz`: importing ArviZ takes
seconds, and ``import bayesfactor`` should not).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro
from jax import Array

from bayesfactor._data import Data
from bayesfactor.model import Model
from bayesfactor.sampling.pointwise import _log_likelihood_draws, _predictive_draws

__all__: list[str] = []

#: Dim names a user's label may not take (they would clash with ArviZ's own).
_RESERVED_DIMS = {"chain", "draw", "component", "observation"}


@functools.cache
def _arviz() -> Any:
    """ArviZ, imported on first use (importing it takes seconds)."""
    with warnings.catch_warnings():
        # ArviZ 0.2x warns once a day on import that its 1.0 refactor is coming;
        # bayesfactor pins arviz<1 (STYLE "Decisions"), so the notice is not actionable.
        # https://python.arviz.org/en/latest/user_guide/migration_guide.html
        warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
        import arviz
    return arviz


def _dim_names(data: Data) -> list[str]:
    """Per-mode dim names: the user's (pandas/xarray) where usable, else ``mode{k}_index``."""
    names: list[str] = []
    for k, name in enumerate(data.dims):
        ok = isinstance(name, str) and name and name not in _RESERVED_DIMS and name not in names
        names.append(name if ok else f"mode{k}_index")
    if len(set(names)) != len(names):  # a user dim took a default name: use defaults
        names = [f"mode{k}_index" for k in range(len(names))]
    return names


def _inference_data(
    model: Model,
    data: Data,
    draws: Sequence[np.ndarray | None],
    stats: dict | None,
    attrs: dict,
    predictive_key: Array | None = None,
    constants: Sequence[np.ndarray | None] | None = None,
    extras: Mapping[str, np.ndarray] | None = None,
) -> Any:
    """Posterior, pointwise log-likelihood (observed entries only) and observed data.

    ``draws`` has one (chain, draw, n_k, rank) array per mode, None for a mode held
    fixed, whose (n_k, rank) matrix is in ``constants`` (the group ``constant_data``).
    ``extras`` holds the draws of the intercepts (``intercept{k}``: (chain, draw,
    n_k)) and of the Estimated parameters (by ``estimate_names()``: (chain, draw)).
    With ``predictive_key``, also ``posterior_predictive``: one draw of the observed
    entries of ``X`` from ``likelihood.distribution(eta)`` per posterior draw.
    """
    az = _arviz()
    dims = _dim_names(data)
    index = np.flatnonzero(data.mask)
    constants = [None] * len(draws) if constants is None else list(constants)
    drawn = [f for f in draws if f is not None]
    chains, samples = drawn[0].shape[:2]
    dtype = jnp.asarray(drawn[0]).dtype
    flat = tuple(
        None if f is None else jnp.asarray(f.reshape((-1, *f.shape[2:])), dtype) for f in draws
    )
    const = tuple(None if c is None else jnp.asarray(c, dtype) for c in constants)
    extras = dict(extras or {})
    per_draw = lambda name: jnp.asarray(extras[name].reshape((-1, *extras[name].shape[2:])), dtype)
    ex = (
        tuple(per_draw(f"intercept{k}") for k in model.intercepts),
        tuple(per_draw(name) for name in model.likelihood.estimate_names()),
    )
    x, where = jnp.asarray(data.x, dtype), jnp.asarray(index)
    loglik = np.asarray(_log_likelihood_draws(model, x, where, flat, const, ex))
    loglik = loglik.reshape(chains, samples, index.size)
    predictive = None
    if predictive_key is not None:
        predictive = {
            "X": np.asarray(
                _predictive_draws(model, predictive_key, where, flat, const, ex)
            ).reshape(chains, samples, index.size)
        }
    coords = {
        name: np.arange(n) if labels is None else np.asarray(labels)
        for name, n, labels in zip(dims, data.shape, data.labels, strict=True)
    }
    coords["component"] = np.arange(model.rank)
    coords["observation"] = np.arange(index.size)
    var_dims = {f"F{k}": [dims[k], "component"] for k in range(len(draws))}
    var_dims |= {f"intercept{k}": [dims[k]] for k in model.intercepts}
    var_dims["X"] = ["observation"]
    fixed = {f"F{k}": np.asarray(c) for k, c in enumerate(constants) if c is not None}
    idata = az.from_dict(
        posterior={f"F{k}": np.asarray(f) for k, f in enumerate(draws) if f is not None}
        | {name: np.asarray(v) for name, v in extras.items()},
        log_likelihood={"X": loglik},
        posterior_predictive=predictive,
        observed_data={"X": data.x.reshape(-1)[index]},
        constant_data=fixed or None,
        sample_stats=stats,
        coords=coords,
        dims=var_dims,
        attrs=attrs,
    )
    # Which entry of X each observation is: one coordinate per mode (its index or label).
    where = np.unravel_index(index, data.shape)
    groups = [idata.log_likelihood, idata.observed_data]
    if predictive is not None:
        groups.append(idata.posterior_predictive)
    for group in groups:
        for name, i in zip(dims, where, strict=True):
            group.coords[name] = ("observation", coords[name][i])
    return idata


def _attrs(method: str, alignment: str) -> dict[str, str]:
    return {
        "inference_library": "numpyro",
        "inference_library_version": numpyro.__version__,
        "method": method,
        # What bayesfactor.alignment.align did to the factor draws (eta unchanged).
        "alignment": f"to the MAP: {alignment}",
    }
