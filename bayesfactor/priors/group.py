r"""The group-lasso prior: sparsity on whole components (columns of a factor)."""

from __future__ import annotations

import math
from typing import ClassVar

import jax.numpy as jnp
from jax import Array, lax
from jax.scipy.special import gammaln
from numpyro.distributions import constraints

from bayesfactor._pytree import pytree_dataclass, static_field
from bayesfactor.likelihoods.estimated import check_positive
from bayesfactor.priors._base import Prior

__all__ = ["GroupLasso"]

#: Bisection steps of the weighted prox (per-entry steps): the bracket [0, ||v||] is
#: resolved to 2^-64 of ||v||, below float64's spacing.
BISECTIONS = 64


def column_norms(f: Array, keepdims: bool = False) -> Array:
    r"""The Euclidean norm of each column, :math:`\|F_{:r}\|_2`, with gradient 0 at 0.

    (The plain norm's gradient at a zero column is 0/0; 0 is a subgradient.)
    """
    sq = jnp.sum(f * f, axis=0, keepdims=keepdims)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


@pytree_dataclass
class GroupLasso(Prior):
    r"""Group sparsity on components: a penalty on each column's Euclidean norm (L2,1).

    .. math::
        -\log p(F) = \lambda \sum_{r} \|F_{:r}\|_2 + R\Big(\log\Gamma(n) + \log 2
        + \tfrac n2 \log\pi - \log\Gamma(\tfrac n2) - n \log\lambda\Big)

    for :math:`F` of shape :math:`(n, R)`: each column has the density
    :math:`\propto e^{-\lambda \|F_{:r}\|}` on :math:`\mathbb R^n` (normalised: a
    proper prior). Its proximal operator is block soft-thresholding,
    :math:`F_{:r} \max(0, 1 - t\lambda / \|F_{:r}\|)`, so a MAP switches whole
    components off (exactly zero columns) where an L1 prior (``Laplace``) zeroes
    single entries and ``Normal`` only shrinks: fit a generous rank and let the
    prior keep the components that pay (Yuan & Lin 2006 [1]_; automatic relevance
    determination at the MAP). Not separable per entry: the block updates apply
    the prox to whole columns (HALS, coordinate Newton with a line search per
    column).

    Parameters
    ----------
    rate : float, default=1.0
        :math:`\lambda`, the strength; must be > 0.
    nonnegative : bool, default=False
        Constrain the factor to :math:`[0, \infty)` as well (the density is then
        :math:`2^n` times larger on the orthant).

    References
    ----------
    .. [1] Yuan & Lin (2006), Model selection and estimation in regression with
       grouped variables, doi:10.1111/j.1467-9868.2005.00532.x

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from bayesfactor.priors import GroupLasso
    >>> prior = GroupLasso(rate=1.0)
    >>> prior.prox(jnp.array([6.0, 8.0]), 5.0).tolist()  # norm 10 shrunk by 5 * rate
    [3.0, 4.0]
    >>> prior.prox(jnp.array([0.3, 0.4]), 1.0).tolist()  # norm 0.5 < 1 * rate: off
    [0.0, 0.0]
    """

    cli_names: ClassVar = {"group": {}}
    parameter: ClassVar = "rate"

    rate: float = 1.0
    nonnegative: bool = static_field(default=False)
    separable: ClassVar[bool] = False  # one term per column, not per entry
    additive: ClassVar[bool] = True  # ... and a zero column stays zero (prox(0) = 0)

    def __post_init__(self):
        check_positive("rate", self.rate, "GroupLasso")
        if not isinstance(self.nonnegative, bool):
            raise TypeError(f"GroupLasso: nonnegative must be a bool; got {self.nonnegative!r}.")

    @property
    def support(self):  # noqa: D102
        return constraints.nonnegative if self.nonnegative else constraints.real

    def log_prob(self, f):  # noqa: D102
        n, rank = f.shape
        const = (
            n * jnp.log(self.rate)
            - gammaln(float(n))
            + gammaln(0.5 * n)
            - math.log(2.0)
            - 0.5 * n * math.log(math.pi)
        )
        if self.nonnegative:
            const = const + n * math.log(2.0)  # the orthant holds 2^-n of the mass
        lp = -self.rate * jnp.sum(column_norms(f)) + rank * const
        if self.nonnegative:
            return jnp.where(jnp.min(f) >= 0, lp, -jnp.inf)
        return lp

    def prox(self, v: Array, step: Array) -> Array:
        r"""Block soft-thresholding of a column ``v`` (or of each column of a matrix).

        :math:`\arg\min_x \tfrac12 \sum_i (x_i - v_i)^2 / t_i + \lambda\|x\|_2` (over
        :math:`x \ge 0` when ``nonnegative``: the same applied to :math:`\max(v, 0)`).
        A scalar step :math:`t`: the closed form :math:`v \max(0, 1 - t\lambda/\|v\|)`.
        One step per entry (a column whose rows have their own curvature
        :math:`1/t_i`): :math:`x = 0` if :math:`\|v / t\| \le \lambda`, else
        :math:`x_i = v_i \rho / (\rho + \lambda t_i)` with :math:`\rho = \|x\|` the
        root of :math:`\sum_i v_i^2 / (\rho + \lambda t_i)^2 = 1`, by bisection on
        :math:`[0, \|v\|]`.
        """
        if self.nonnegative:
            v = jnp.maximum(v, 0.0)
        lam = self.rate
        norm = column_norms(v, keepdims=True)
        tiny = jnp.finfo(v.dtype).tiny
        if jnp.ndim(step) == 0:
            return v * jnp.maximum(0.0, 1.0 - step * lam / jnp.maximum(norm, tiny))
        t = jnp.broadcast_to(step, v.shape)
        off = column_norms(v / t, keepdims=True) <= lam

        def bisect(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            big = jnp.sum((v / (mid + lam * t)) ** 2, axis=0, keepdims=True) > 1.0
            return jnp.where(big, mid, lo), jnp.where(big, hi, mid)

        lo, hi = lax.fori_loop(0, BISECTIONS, bisect, (jnp.zeros_like(norm), norm))
        rho = 0.5 * (lo + hi)
        return jnp.where(off, 0.0, v * rho / jnp.maximum(rho + lam * t, tiny))

    def init(self, u):  # noqa: D102
        return jnp.abs(u) if self.nonnegative else u
