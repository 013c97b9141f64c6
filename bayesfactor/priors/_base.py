r"""The abstract :class:`Prior`: what a factor prior provides and declares.

A prior on a factor matrix :math:`F` (shape ``(n, rank)``) splits its negative
log-density into a differentiable part (``penalty``, with a diagonal curvature
bound ``curvature``) and a non-smooth part handled by its proximal operator
(``prox``: the projection on the support, soft-thresholding, ...). Block
updates only use these three pieces, so a new prior is one class. Solvers,
sampling and simulation ask its declared capabilities (support, invariances,
``assigns``, ``sample``), never which class it is.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax import Array
from numpyro.distributions import constraints

from bayesfactor._registry import PRIORS
from bayesfactor.likelihoods._base import NONNEGATIVE_SUPPORTS

__all__ = ["Prior"]


class Prior(abc.ABC):
    """Abstract base of the factor priors.

    A new prior provides ``support``, ``log_prob`` and, for the block updates,
    ``penalty`` (its differentiable part), ``curvature`` (a bound on the
    diagonal of the penalty's Hessian; exact when ``exact_curvature``) and
    ``prox`` (the proximal operator of the rest, ``None`` when there is none);
    it declares the capabilities below that hold for it, and ``sample`` if it is
    not a (folded) standard normal.
    """

    # --- declared capabilities ---------------------------------------------------------

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
    #: Improper and unchanged by rescaling a column (Flat, NonNegative): components can
    #: be rebalanced between such modes for free, and sampling must pin their scale.
    scale_free: ClassVar[bool] = False
    #: ``log_prob`` is unchanged by any rotation of the components, ``F -> F Q`` with
    #: ``Q`` orthogonal (Flat, Normal, Smooth on the reals).
    rotation_invariant: ClassVar[bool] = False
    #: ``log_prob`` is unchanged by any invertible mixing ``F -> F A`` (Flat).
    mixing_invariant: ClassVar[bool] = False
    #: Moving each column's mean into an intercept never raises ``-log_prob`` (Flat,
    #: Normal): the fit may keep such a mode centred.
    admits_centring: ClassVar[bool] = False
    #: ``log_prob`` couples neighbouring rows (Smooth): padding the mode changes it.
    couples_rows: ClassVar[bool] = False
    #: The constructor argument a number sets (``--prior NAME:P``); ``None``: no number.
    parameter: ClassVar[str | None] = None
    #: Names on the command line (``--prior NAME[:P]``) -> constructor arguments.
    cli_names: ClassVar[dict[str, dict]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        PRIORS.add(cls)  # saved files and the command line find it by name

    @property
    def nonnegative(self) -> bool:
        """The support is non-negative (non-negative reals, positive, simplex)."""
        return self.support in NONNEGATIVE_SUPPORTS

    # --- the density and its pieces for the block updates ------------------------------

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

    # --- draws --------------------------------------------------------------------------

    def init(self, u: Array) -> Array:
        """Map a standard-normal draw ``u`` (times a scale) into the support."""
        return u

    def sample(self, key: Array, shape: tuple[int, int]) -> Array:
        """A factor matrix of ``shape`` ``(n, rank)`` drawn from the prior (simulation).

        Its law where it is proper; standard normal entries here (folded onto the
        support when it is non-negative), for the improper flat priors.
        """
        f = jax.random.normal(jax.random.split(key)[0], shape)
        return jnp.abs(f) if self.nonnegative else f


def nonneg_prox(v: Array, step: Array) -> Array:
    r"""The projection on :math:`[0, \infty)`: the prox of the non-negativity indicator."""
    return jnp.maximum(v, 0.0)


def indicator(f: Array) -> Array:
    r"""Log-density of a flat prior on :math:`[0, \infty)`: 0 inside, -inf outside."""
    # min(f) >= 0, not all(f >= 0): on a start drawn as |normal| XLA folds the latter
    # to a constant reduction over the whole factor (seconds of compile at 1e6 rows).
    return jnp.where(jnp.min(f) >= 0, 0.0, -jnp.inf)
