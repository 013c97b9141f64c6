"""L1 priors: Laplace on the reals (sparse factors), Exponential on [0, inf)."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
from numpyro.distributions import constraints

from bayesfactor._pytree import pytree_dataclass
from bayesfactor.likelihoods.estimated import check_positive
from bayesfactor.priors._base import Prior, indicator, nonneg_prox

__all__ = ["Laplace", "Exponential"]


@pytree_dataclass
class Laplace(Prior):
    r"""Laplace prior :math:`F_{ir} \sim \mathrm{Laplace}(0, b)`: the L1 (sparse) penalty.

    .. math:: -\log p(F) = \sum_{ir} \frac{|F_{ir}|}{b} + \text{const}

    MAP factors have exact zeros, more of them as :math:`b` shrinks (sparse PCA).

    Parameters
    ----------
    scale : float, default=1.0
        Prior scale :math:`b`; the L1 strength is :math:`1/b`. Must be > 0.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.priors.Laplace(0.5).scale
    0.5
    """

    cli_names: ClassVar = {"laplace": {}}
    parameter: ClassVar = "scale"

    scale: float = 1.0

    def __post_init__(self):
        check_positive("scale", self.scale, "Laplace")

    def log_prob(self, f):  # noqa: D102
        return -jnp.sum(jnp.abs(f)) / self.scale - f.size * jnp.log(2 * self.scale)

    def sample(self, key, shape):  # noqa: D102
        return self.scale * jax.random.laplace(jax.random.split(key)[0], shape)

    def prox(self, v, step):  # noqa: D102
        # Soft-thresholding: the proximal operator of |f| / b.
        return jnp.sign(v) * jnp.maximum(jnp.abs(v) - step / self.scale, 0.0)


@pytree_dataclass
class Exponential(Prior):
    r"""Exponential prior :math:`F_{ir} \sim \mathrm{Exp}(\lambda)`: non-negative + L1.

    .. math:: -\log p(F) = \lambda \sum_{ir} F_{ir} - nR \log\lambda, \quad F \ge 0

    Parameters
    ----------
    rate : float, default=1.0
        Rate :math:`\lambda` (the L1 strength); must be > 0.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.Exponential(rate=0.1).rate
    0.1
    """

    cli_names: ClassVar = {"exponential": {}}
    parameter: ClassVar = "rate"

    rate: float = 1.0
    support: ClassVar = constraints.nonnegative
    prox = staticmethod(nonneg_prox)

    def __post_init__(self):
        check_positive("rate", self.rate, "Exponential")

    def log_prob(self, f):  # noqa: D102
        return indicator(f) - self.penalty(f) + f.size * jnp.log(self.rate)

    def penalty(self, f):  # noqa: D102
        return self.rate * jnp.sum(f)

    def sample(self, key, shape):  # noqa: D102
        return jax.random.exponential(jax.random.split(key)[0], shape) / self.rate

    def init(self, u):  # noqa: D102
        return jnp.abs(u)
