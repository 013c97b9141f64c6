"""Indicator rows: k-means (and hard mixtures) as a factorization."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
from numpyro.distributions import constraints

from bayesfactor._pytree import pytree_dataclass
from bayesfactor.priors._base import Prior

__all__ = ["OneHot"]


@pytree_dataclass
class OneHot(Prior):
    r"""Each row of the factor is an indicator vector :math:`e_k`: k-means as factorization.

    With a Gaussian likelihood and a flat prior on the other mode, the MAP is
    the k-means solution (rows = points, the other factor = cluster centres);
    with other likelihoods it is the matching "hard" mixture model. The block
    update is Lloyd's assignment step (exact). The prior is uniform over the
    ``rank`` indicators.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.Model(likelihood=bf.Gaussian(), rank=3, priors=(bf.OneHot(), bf.Flat())).priors
    (OneHot(), Flat())
    """

    cli_names: ClassVar = {"onehot": {}}

    support: ClassVar = constraints.simplex
    separable: ClassVar[bool] = False
    additive: ClassVar[bool] = False  # uniform over `rank` indicators: -n log(rank)
    assigns: ClassVar[bool] = True

    def log_prob(self, f):  # noqa: D102
        onehot = jnp.all((f == 0) | (f == 1)) & jnp.all(jnp.sum(f, axis=-1) == 1)
        return jnp.where(onehot, -f.shape[0] * jnp.log(f.shape[1]), -jnp.inf)

    def sample(self, key, shape):  # noqa: D102  (uniform over the indicators)
        n, rank = shape
        return jax.nn.one_hot(jax.random.randint(jax.random.split(key)[0], (n,), 0, rank), rank)
