r"""The posterior of a :class:`~bayesfactor.Model` as a numpyro program.

:func:`numpyro_model` is the density NUTS samples (:mod:`bayesfactor.sampling.nuts`);
:func:`_draw_model` gives the likelihood and :math:`\eta` of one draw, for the
program and for the evaluations over draws (:mod:`bayesfactor.sampling.pointwise`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax import Array
from numpyro.distributions import constraints

from bayesfactor.model import Model

__all__ = ["numpyro_model"]


def numpyro_model(
    model: Model, x: Array, mask: Array, fixed: Mapping[int, Array] | None = None
) -> None:
    r"""The posterior of ``model`` given data ``x`` as a numpyro program.

    .. math::
        F_k \sim p_k \ (\text{site } ``F{k}``), \qquad
        X_i \sim p(\,\cdot \mid \eta_i) \ \text{for } i \in \Omega \ (\text{site } ``X``)

    Each factor is an ``ImproperUniform`` site on its prior's support plus a
    ``numpyro.factor`` with the prior's ``log_prob`` (so the priors in
    :mod:`bayesfactor.priors` stay the single definition of each density); the
    data are observed through ``likelihood.distribution(eta).mask(mask)``.
    Intercepts are sites ``intercept{k}`` (flat prior, as in the fit); each
    :class:`~bayesfactor.Estimated` likelihood parameter is a positive site named by
    ``likelihood.estimate_names()`` (e.g. ``scale``, ``scale_speed``) with its
    conjugate prior, written as a density of the parameter itself.
    Up to a constant, its log density is ``-model.objective(x, mask, factors)``.
    Modes in ``fixed`` are constants: no site and no prior term, so the density is
    the conditional posterior :math:`p(F_{free} \mid F_{fixed}, X)` up to a constant.

    Parameters
    ----------
    model : Model
        Likelihood, rank and priors (all priors continuous).
    x : Array, shape (n_1, ..., n_N)
        Data with missing entries filled with a valid value (``as_data`` zeroes them).
    mask : Array of bool, same shape
        True where observed; other entries do not enter the density.
    fixed : mapping of int to Array, optional
        Mode index -> its factor matrix, shape (n_k, rank), held constant.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> from numpyro.infer.util import log_density
    >>> from bayesfactor.sampling import numpyro_model
    >>> model = bf.Model(bf.Gaussian(), rank=1, priors=bf.Normal(1.0))
    >>> x, mask = np.ones((3, 2)), np.ones((3, 2), bool)
    >>> params = {"F0": np.ones((3, 1)), "F1": np.ones((2, 1))}
    >>> lp = log_density(numpyro_model, (model, x, mask), {}, params)[0]
    >>> bool(np.isclose(lp, -model.objective(x, mask, (params["F0"], params["F1"]))))
    True
    """
    priors = model.mode_priors(jnp.ndim(x))
    fixed = {} if fixed is None else fixed
    factors = []
    for k, (n, prior) in enumerate(zip(jnp.shape(x), priors, strict=True)):
        if k in fixed:
            factors.append(jnp.asarray(fixed[k]))
            continue
        f = numpyro.sample(f"F{k}", dist.ImproperUniform(prior.support, (), (n, model.rank)))
        numpyro.factor(f"log_prior_{k}", prior.log_prob(f))
        factors.append(f)
    intercepts = tuple(
        numpyro.sample(f"intercept{k}", dist.ImproperUniform(constraints.real, (), (n,)))
        for k, n in ((k, jnp.shape(x)[k]) for k in model.intercepts)
    )
    lik = model.likelihood
    values = []
    for name, (prior, p) in zip(lik.estimate_names(), lik.estimate_priors(), strict=True):
        value = numpyro.sample(name, dist.ImproperUniform(constraints.positive, (), ()))
        # The prior is on value**p: its density in value has the Jacobian p value**(p-1).
        log_jacobian = jnp.log(p) + (p - 1.0) * jnp.log(value)
        numpyro.factor(f"log_prior_{name}", prior.log_prob(value**p) + log_jacobian)
        values.append(value)
    lik, eta = _draw_model(model, factors, (), (intercepts, tuple(values)))
    numpyro.sample("X", lik.distribution(eta).mask(mask), obs=x)


def _draw_model(model: Model, factors, constants, extras) -> tuple[Any, Array]:
    """(likelihood, eta) of one draw of ``factors`` and ``extras``.

    ``extras = (intercepts, values of the Estimated parameters)``; fixed modes come
    from ``constants``.
    """
    intercepts, values = extras
    eta = model.eta(_merge(factors, constants) if constants else factors)
    if intercepts:
        eta = eta + model.intercept_eta(intercepts, eta.shape)
    return model.likelihood.with_values(values) if values else model.likelihood, eta


def _merge(draw: Sequence[Array | None], constants: Sequence[Array | None]) -> tuple[Array, ...]:
    """One draw's factors: the drawn ones, with the fixed modes' constants in their place."""
    return tuple(c if f is None else f for f, c in zip(draw, constants, strict=True))
