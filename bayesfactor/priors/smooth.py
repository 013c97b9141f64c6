"""A Gaussian random walk along the mode's index: the derivative (smoothness) penalty."""

from __future__ import annotations

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from numpyro.distributions import constraints

from bayesfactor._pytree import pytree_dataclass, static_field
from bayesfactor.likelihoods.estimated import check_positive
from bayesfactor.priors._base import Prior, indicator, nonneg_prox

__all__ = ["Smooth"]


@pytree_dataclass
class Smooth(Prior):
    r"""Gaussian random walk along the mode's index: the derivative penalty.

    .. math:: -\log p(F) = \sum_{r} \sum_{i} \frac{(F_{i+1,r} - F_{ir})^2}{2 s^2}
        + \text{const}

    Flat in the level of each component (improper); with ``nonnegative=True``
    the factor is also constrained to :math:`[0, \infty)`. Block updates
    majorize the penalty with its curvature bound :math:`4/s^2` (the largest
    eigenvalue of the path-graph Laplacian), so they stay monotone.

    Parameters
    ----------
    scale : float, default=1.0
        Step standard deviation :math:`s`: smaller is smoother. Must be > 0.
    nonnegative : bool, default=False
        Constrain the factor to be non-negative as well.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.Smooth(0.1, nonnegative=True)
    Smooth(scale=0.1, nonnegative=True)
    """

    cli_names: ClassVar = {"smooth": {}}
    parameter: ClassVar = "scale"

    scale: float = 1.0
    nonnegative: bool = static_field(default=False)
    exact_curvature: ClassVar[bool] = False
    separable: ClassVar[bool] = False
    couples_rows: ClassVar[bool] = True
    rotation_invariant = property(lambda self: not self.nonnegative)

    def __post_init__(self):
        check_positive("scale", self.scale, "Smooth")
        if not isinstance(self.nonnegative, bool):
            raise TypeError(f"Smooth: nonnegative must be a bool; got {self.nonnegative!r}.")

    @property
    def support(self):  # noqa: D102
        return constraints.nonnegative if self.nonnegative else constraints.real

    @property
    def prox(self):  # noqa: D102
        return nonneg_prox if self.nonnegative else None

    def log_prob(self, f):  # noqa: D102
        lp = -self.penalty(f) - (f.shape[0] - 1) * f.shape[1] * (
            jnp.log(self.scale) + 0.5 * math.log(2 * math.pi)
        )
        return lp + indicator(f) if self.nonnegative else lp

    def penalty(self, f):  # noqa: D102
        return 0.5 * jnp.sum(jnp.diff(f, axis=0) ** 2) / self.scale**2

    def curvature(self):  # noqa: D102
        return 4.0 / self.scale**2

    def sample(self, key, shape):  # noqa: D102  (a Gaussian random walk from a N(0, 1) level)
        k1, k2 = jax.random.split(key)
        steps = self.scale * jax.random.normal(k2, shape).at[0].set(0.0)
        f = jax.random.normal(k1, (1, shape[1])) + jnp.cumsum(steps, axis=0)
        return jnp.abs(f) if self.nonnegative else f

    def init(self, u):  # noqa: D102
        return jnp.abs(u) if self.nonnegative else u
