"""Reading the draws of an ``InferenceData``: :func:`factor_draws`, :func:`predictive_interval`."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from bayesfactor.model import Model
from bayesfactor.sampling.pointwise import _mean_draws

__all__ = ["factor_draws", "predictive_interval"]


def _flat_draws(posterior: Any, name: str) -> np.ndarray:
    """``posterior[name]`` as (chains * draws, ...), refusing a variable without those dims."""
    var = posterior[name]
    if var.ndim < 2 or not {"chain", "draw"} <= set(var.dims):
        raise ValueError(
            f"idata.posterior[{name!r}] must have dims (chain, draw, ...); got dims {var.dims}."
        )
    values = var.transpose("chain", "draw", ...).values
    return values.reshape((-1, *values.shape[2:]))


def factor_draws(idata: Any) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
    """The factors of an InferenceData from :func:`sample` or :func:`laplace`, per mode.

    The one reader of ``idata`` (:func:`predictive_interval`, ``bf.plot.factors``).

    Returns
    -------
    sampled : list
        Per mode ``k``: the draws of ``F{k}`` from ``posterior``, shape ``(chains *
        draws, n_k, rank)``, or None for a mode held fixed.
    fixed : list
        Per mode: its value from ``constant_data`` (``sample(..., fixed=...)``), or None.

    Raises
    ------
    TypeError
        ``idata`` has no posterior group with ``F0`` (sampled or fixed).
    """
    posterior = getattr(idata, "posterior", None)
    constant = getattr(idata, "constant_data", None)
    constant = {} if constant is None else constant
    if posterior is None or not ("F0" in posterior or "F0" in constant):
        raise TypeError(
            "idata must be an arviz.InferenceData returned by bf.sample or bf.laplace (a "
            f"posterior group with variables F0, F1, ...); got {type(idata).__name__}"
            + ("" if posterior is None else f" with variables {list(posterior.data_vars)}")
            + "."
        )
    sampled: list[np.ndarray | None] = []
    fixed: list[np.ndarray | None] = []
    while (name := f"F{len(sampled)}") in posterior or name in constant:
        sampled.append(_flat_draws(posterior, name) if name in posterior else None)
        fixed.append(None if name in posterior else np.asarray(constant[name].values))
    return sampled, fixed


def predictive_interval(
    idata: Any, model: Model, prob: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    r"""Equal-tailed credible interval of the predicted mean :math:`E[X] = g^{-1}(\eta)`.

    For every draw :math:`s` of the factors, :math:`\mu^{(s)} = g^{-1}(\eta^{(s)})`
    (``model.likelihood.mean``); the interval of each entry is the
    :math:`(1 - p)/2` and :math:`(1 + p)/2` quantiles of :math:`\mu^{(s)}` over
    all chains and draws. It is an interval for the mean, not for a new
    observation (which adds the likelihood's noise). Memory: one copy of ``X``
    per draw. For the factors themselves use ArviZ: ``az.hdi(idata, hdi_prob=p)``.

    Parameters
    ----------
    idata : arviz.InferenceData
        From :func:`sample` or :func:`laplace` (posterior variables ``F0``, ``F1``, ...).
    model : Model
        The model that produced ``idata``.
    prob : float, default=0.9
        Probability mass :math:`p` inside the interval, in (0, 1).

    Returns
    -------
    lower, upper : numpy arrays, shape (n_1, ..., n_N)
        Interval bounds for every entry of ``X`` (missing ones included).

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> X = np.random.default_rng(0).normal(size=(6, 5))
    >>> model = bf.Model(bf.Gaussian(), rank=1, priors=bf.Normal(1.0))
    >>> idata = bf.laplace(model, X, bf.fit(model, X, tol=1e-10), num_samples=200)
    >>> lower, upper = bf.predictive_interval(idata, model, prob=0.9)
    >>> lower.shape, bool((lower <= upper).all())
    ((6, 5), True)
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a bf.Model; got {model!r}.")
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 < prob < 1:
        raise ValueError(f"prob must be a number in (0, 1); got {prob!r}. Use e.g. prob=0.9.")
    sampled, fixed = factor_draws(idata)
    posterior = idata.posterior
    factors = [None if f is None else jnp.asarray(f) for f in sampled]
    constants = [None if c is None else jnp.asarray(c) for c in fixed]
    model.mode_priors(len(factors))  # the model must have one prior per mode
    rank = next(f for f in factors + constants if f is not None).shape[-1]
    if rank != model.rank:
        raise ValueError(
            f"idata has {rank} components but model.rank={model.rank}; "
            "pass the model that produced idata."
        )
    names = [f"intercept{k}" for k in model.intercepts] + list(model.likelihood.estimate_names())
    missing = [name for name in names if name not in posterior]
    if missing:
        raise ValueError(
            f"idata has no posterior variables {missing}, which model declares; pass the "
            "model that produced idata."
        )
    draws = [jnp.asarray(_flat_draws(posterior, n)) for n in names]
    extras = (tuple(draws[: len(model.intercepts)]), tuple(draws[len(model.intercepts) :]))
    means = np.asarray(_mean_draws(model, tuple(factors), tuple(constants), extras))
    tail = (1.0 - prob) / 2.0
    lower, upper = np.quantile(means, [tail, 1.0 - tail], axis=0)
    return lower, upper
