"""Improper flat priors: on the reals (no regularization) and on [0, inf) (NMF)."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
from numpyro.distributions import constraints

from bayesfactor._pytree import pytree_dataclass
from bayesfactor.priors._base import Prior, indicator, nonneg_prox

__all__ = ["Flat", "NonNegative"]


@pytree_dataclass
class Flat(Prior):
    r"""Improper flat prior on the reals: no regularization (PCA's factors).

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.Flat()
    Flat()
    """

    cli_names: ClassVar = {"flat": {}}
    scale_free: ClassVar[bool] = True
    rotation_invariant: ClassVar[bool] = True
    mixing_invariant: ClassVar[bool] = True
    admits_centring: ClassVar[bool] = True

    def log_prob(self, f):  # noqa: D102
        return jnp.zeros((), f.dtype)


@pytree_dataclass
class NonNegative(Prior):
    r"""Improper flat prior on :math:`[0, \infty)`: non-negative factors (NMF).

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.NonNegative()
    NonNegative()
    """

    cli_names: ClassVar = {"nonnegative": {}}
    scale_free: ClassVar[bool] = True

    support: ClassVar = constraints.nonnegative
    prox = staticmethod(nonneg_prox)

    def log_prob(self, f):  # noqa: D102
        return indicator(f)

    def init(self, u):  # noqa: D102
        return jnp.abs(u)
