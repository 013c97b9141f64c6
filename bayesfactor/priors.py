r"""Priors: one small class per factor prior (a regularizer is a negative log-prior).

A prior on a factor matrix :math:`F` (shape ``(n, rank)``) splits its negative
log-density into a differentiable part (``penalty``, with a diagonal curvature
bound ``curvature``) and a non-smooth part handled by its proximal operator
(``prox``: the projection on the support, soft-thresholding, ...). Block
updates only use these three pieces, so a new prior is one class here.
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar

import jax.numpy as jnp
from jax import Array
from numpyro.distributions import constraints

from bayesfactor._pytree import pytree_dataclass, static_field
from bayesfactor._registry import PRIORS
from bayesfactor.likelihoods import _check_positive

__all__ = [
    "Prior",
    "Flat",
    "Normal",
    "Laplace",
    "NonNegative",
    "Exponential",
    "HalfNormal",
    "Smooth",
    "OneHot",
]


class Prior(abc.ABC):
    """Abstract base of the factor priors.

    A new prior provides ``support``, ``log_prob`` and, for the block updates,
    ``penalty`` (its differentiable part), ``curvature`` (a bound on the
    diagonal of the penalty's Hessian; exact when ``exact_curvature``) and
    ``prox`` (the proximal operator of the rest, ``None`` when there is none).
    """

    #: numpyro constraint on the factor entries.
    support: ClassVar[constraints.Constraint] = constraints.real
    #: ``curvature`` is the exact Hessian of ``penalty`` (not just a bound).
    exact_curvature: ClassVar[bool] = True
    #: ``log_prob`` is a sum of independent terms, one per entry.
    separable: ClassVar[bool] = True
    #: ``log_prob`` is a sum of terms, one per component (column), and a zero column
    #: stays zero under every block update: a fit padded with zero components equals
    #: the fit at its own rank (``cross_validate`` then fits all ranks in one program).
    additive: ClassVar[bool] = True
    #: Rows are assignments to one component (``OneHot``): Lloyd's step updates them.
    assigns: ClassVar[bool] = False
    #: The constructor argument a number sets (``--prior NAME:P``); ``None``: no number.
    parameter: ClassVar[str | None] = None
    #: Names on the command line (``--prior NAME[:P]``) -> constructor arguments.
    cli_names: ClassVar[dict[str, dict]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        PRIORS.add(cls)  # saved files and the command line find it by name

    @abc.abstractmethod
    def log_prob(self, f: Array) -> Array:
        """Total log-density of the factor matrix ``f`` (up to a constant)."""

    def penalty(self, f: Array) -> Array:
        """Differentiable part of ``-log_prob`` (scalar)."""
        return jnp.zeros((), f.dtype)

    def curvature(self) -> float | Array:
        """Upper bound on the diagonal of the penalty's Hessian (a scalar)."""
        return 0.0

    #: Proximal operator ``prox(v, step)`` of the non-smooth part, or ``None``.
    prox = None

    def init(self, u: Array) -> Array:
        """Map a standard-normal draw ``u`` (times a scale) into the support."""
        return u


def _nonneg_prox(v: Array, step: Array) -> Array:
    return jnp.maximum(v, 0.0)


def _indicator(f: Array) -> Array:
    # log-density of a flat prior on [0, inf): 0 inside, -inf outside.
    # min(f) >= 0, not all(f >= 0): on a start drawn as |normal| XLA folds the latter
    # to a constant reduction over the whole factor (seconds of compile at 1e6 rows).
    return jnp.where(jnp.min(f) >= 0, 0.0, -jnp.inf)


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

    def log_prob(self, f):  # noqa: D102
        return jnp.zeros((), f.dtype)


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

    scale: float = 1.0

    def __post_init__(self):
        _check_positive("scale", self.scale, "Normal")

    def log_prob(self, f):  # noqa: D102
        n = f.size
        return -self.penalty(f) - n * (jnp.log(self.scale) + 0.5 * math.log(2 * math.pi))

    def penalty(self, f):  # noqa: D102
        return 0.5 * jnp.sum(f**2) / self.scale**2

    def curvature(self):  # noqa: D102
        return 1.0 / self.scale**2


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
        _check_positive("scale", self.scale, "Laplace")

    def log_prob(self, f):  # noqa: D102
        return -jnp.sum(jnp.abs(f)) / self.scale - f.size * jnp.log(2 * self.scale)

    def prox(self, v, step):  # noqa: D102
        # Soft-thresholding: the proximal operator of |f| / b.
        return jnp.sign(v) * jnp.maximum(jnp.abs(v) - step / self.scale, 0.0)


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

    support: ClassVar = constraints.nonnegative
    prox = staticmethod(_nonneg_prox)

    def log_prob(self, f):  # noqa: D102
        return _indicator(f)

    def init(self, u):  # noqa: D102
        return jnp.abs(u)


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
    prox = staticmethod(_nonneg_prox)

    def __post_init__(self):
        _check_positive("rate", self.rate, "Exponential")

    def log_prob(self, f):  # noqa: D102
        return _indicator(f) - self.penalty(f) + f.size * jnp.log(self.rate)

    def penalty(self, f):  # noqa: D102
        return self.rate * jnp.sum(f)

    def init(self, u):  # noqa: D102
        return jnp.abs(u)


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
    prox = staticmethod(_nonneg_prox)

    def __post_init__(self):
        _check_positive("scale", self.scale, "HalfNormal")

    def log_prob(self, f):  # noqa: D102
        const = f.size * (0.5 * math.log(2 / math.pi) - jnp.log(self.scale))
        return _indicator(f) - self.penalty(f) + const

    def penalty(self, f):  # noqa: D102
        return 0.5 * jnp.sum(f**2) / self.scale**2

    def curvature(self):  # noqa: D102
        return 1.0 / self.scale**2

    def init(self, u):  # noqa: D102
        return jnp.abs(u)


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

    def __post_init__(self):
        _check_positive("scale", self.scale, "Smooth")
        if not isinstance(self.nonnegative, bool):
            raise TypeError(f"Smooth: nonnegative must be a bool; got {self.nonnegative!r}.")

    @property
    def support(self):  # noqa: D102
        return constraints.nonnegative if self.nonnegative else constraints.real

    @property
    def prox(self):  # noqa: D102
        return _nonneg_prox if self.nonnegative else None

    def log_prob(self, f):  # noqa: D102
        lp = -self.penalty(f) - (f.shape[0] - 1) * f.shape[1] * (
            jnp.log(self.scale) + 0.5 * math.log(2 * math.pi)
        )
        return lp + _indicator(f) if self.nonnegative else lp

    def penalty(self, f):  # noqa: D102
        return 0.5 * jnp.sum(jnp.diff(f, axis=0) ** 2) / self.scale**2

    def curvature(self):  # noqa: D102
        return 4.0 / self.scale**2

    def init(self, u):  # noqa: D102
        return jnp.abs(u) if self.nonnegative else u


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
