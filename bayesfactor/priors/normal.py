"""Gaussian priors: the L2 (ridge) penalty, on the reals and on [0, inf)."""

from __future__ import annotations

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from numpyro.distributions import constraints

from bayesfactor._pytree import pytree_dataclass
from bayesfactor.likelihoods.estimated import check_positive
from bayesfactor.priors._base import Prior, indicator, nonneg_prox

__all__ = ["Normal", "HalfNormal"]


@pytree_dataclass
class Normal(Prior):
    r"""Gaussian prior :math:`F_{ir} \sim \mathcal N(0, s^2)`: the L2 (ridge) penalty.

    .. math:: -\log p(F) = \sum_{ir} \frac{F_{ir}^2}{2 s^2} + \text{const}

    Parameters
    ----------
    scale : float, default=1.0
        Prior standard deviation :math:`s`; must be > 0.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.Normal(2.0).scale
    2.0
    """

    cli_names: ClassVar = {"normal": {}}
    parameter: ClassVar = "scale"
    rotation_invariant: ClassVar[bool] = True
    admits_centring: ClassVar[bool] = True

    scale: float = 1.0

    def __post_init__(self):
        check_positive("scale", self.scale, "Normal")

    def log_prob(self, f):  # noqa: D102
        n = f.size
        return -self.penalty(f) - n * (jnp.log(self.scale) + 0.5 * math.log(2 * math.pi))

    def penalty(self, f):  # noqa: D102
        return 0.5 * jnp.sum(f**2) / self.scale**2

    def curvature(self):  # noqa: D102
        return 1.0 / self.scale**2

    def sample(self, key, shape):  # noqa: D102
        return self.scale * jax.random.normal(jax.random.split(key)[0], shape)


@pytree_dataclass
class HalfNormal(Prior):
    r"""Half-normal prior on :math:`[0, \infty)`: non-negative + L2.

    .. math:: -\log p(F) = \sum_{ir} \frac{F_{ir}^2}{2 s^2} + \text{const}, \quad F \ge 0

    Parameters
    ----------
    scale : float, default=1.0
        Scale :math:`s`; must be > 0.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.HalfNormal(1.0).scale
    1.0
    """

    cli_names: ClassVar = {"halfnormal": {}}
    parameter: ClassVar = "scale"

    scale: float = 1.0
    support: ClassVar = constraints.nonnegative
    prox = staticmethod(nonneg_prox)

    def __post_init__(self):
        check_positive("scale", self.scale, "HalfNormal")

    def log_prob(self, f):  # noqa: D102
        const = f.size * (0.5 * math.log(2 / math.pi) - jnp.log(self.scale))
        return indicator(f) - self.penalty(f) + const

    def penalty(self, f):  # noqa: D102
        return 0.5 * jnp.sum(f**2) / self.scale**2

    def curvature(self):  # noqa: D102
        return 1.0 / self.scale**2

    def sample(self, key, shape):  # noqa: D102
        return jnp.abs(self.scale * jax.random.normal(jax.random.split(key)[0], shape))

    def init(self, u):  # noqa: D102
        return jnp.abs(u)
