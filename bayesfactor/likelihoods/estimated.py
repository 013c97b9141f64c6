r"""Likelihood parameters estimated with the factors: :class:`Estimated` and its machinery.

:class:`ParameterEstimates` is the part of every likelihood that handles its
:class:`Estimated` parameters (a Gaussian's scale, a von Mises concentration): which
they are, their conjugate priors, and their exact MAP update given :math:`\eta`. A
likelihood with one such parameter names it in ``parameter`` and provides
``parameter_prior`` and ``_map_parameter``; combinators (Offset, Blocks) forward.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import Array, lax

from bayesfactor._pytree import pytree_dataclass, unchecked_replace

if TYPE_CHECKING:
    from bayesfactor.likelihoods._base import Likelihood

__all__ = ["Estimated", "ParameterEstimates", "check_positive", "masked_sum", "log_bisection"]


def check_positive(name: str, value: float, owner: str) -> None:
    """Raise unless ``value`` is a finite number > 0 (or an :class:`Estimated`)."""
    if isinstance(value, Estimated):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"{owner}: {name} must be a positive number; got {value!r}.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: {name} must be a finite number > 0; got {value!r}.")


@pytree_dataclass
class Estimated:
    r"""A likelihood parameter estimated with the factors instead of held fixed.

    Pass it in place of the number: ``bf.Gaussian(scale=bf.Estimated())``. The fit
    then minimises the negative log posterior over the parameter too (exactly, in
    closed form or by bisection, once per iteration: the objective stays
    monotone), under a conjugate prior with shape :math:`a` (``concentration``)
    and rate :math:`b` (``rate``):

    - ``Gaussian(scale=)``: :math:`\sigma^2 \sim \text{InvGamma}(a, b)`, update
      :math:`\sigma^2 = (b + \tfrac12 \sum r^2) / (a + 1 + n/2)`;
    - ``Laplace(scale=)``: :math:`s \sim \text{InvGamma}(a, b)`, update
      :math:`s = (b + \sum |r|) / (a + 1 + n)`;
    - ``VonMises(concentration=)``: :math:`\kappa \sim \text{Gamma}(a, b)` with
      :math:`a \ge 1`, update: the root of :math:`n A(\kappa) + b - (a - 1)/\kappa =
      \sum \cos r` (bisection on :math:`\log \kappa`),

    over the :math:`n` observed entries, with residuals :math:`r = x - \eta` and
    :math:`A = I_1 / I_0`. The default prior (:math:`a = 1`, small :math:`b`) is
    weak: it only keeps the scale away from 0 when the factors fit the data
    exactly. Within :class:`Blocks` each block has its own.
    :func:`bayesfactor.sample` samples the parameter under the same prior. After a
    fit, ``fit.model.likelihood`` holds the estimate in ``value``.

    Parameters
    ----------
    value : float, default=1.0
        Starting value (after a fit: the estimate); > 0.
    concentration : float, default=1.0
        Prior shape :math:`a`; > 0.
    rate : float, default=1e-3
        Prior rate :math:`b`; > 0.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> rng = np.random.default_rng(0)
    >>> X = np.outer(rng.normal(size=200), rng.normal(size=100)) + 0.3 * rng.normal(size=(200, 100))
    >>> fit = bf.fit(bf.Model(bf.Gaussian(scale=bf.Estimated()), 1), X)
    >>> round(float(fit.model.likelihood.scale.value), 2)
    0.3
    """

    value: float = 1.0
    concentration: float = 1.0
    rate: float = 1e-3

    def __post_init__(self):
        for name in ("value", "concentration", "rate"):
            check_positive(name, getattr(self, name), "Estimated")

    def __repr__(self) -> str:
        prior = f"concentration={self.concentration!r}, rate={self.rate!r}"
        try:
            return f"Estimated(value={float(self.value):.4g}, {prior})"
        except TypeError:  # traced
            return f"Estimated({prior})"

    def replace(self, value: Any) -> Estimated:
        """The same prior with another ``value`` (no checks: ``value`` may be traced)."""
        return unchecked_replace(self, value=value)


def log_bisection(slope, bound: float, steps: int, dtype) -> Array:
    r"""The root :math:`k` of an increasing ``slope(log k)``, by bisection on :math:`\log k`.

    ``steps`` halvings of :math:`[-\text{bound}, \text{bound}]`; returns :math:`k` at
    the last interval's midpoint (the MAP of a concentration or shape parameter).
    """

    def bisect(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        up = slope(mid) > 0
        return jnp.where(up, lo, mid), jnp.where(up, mid, hi)

    bounds = (jnp.asarray(-bound, dtype), jnp.asarray(bound, dtype))
    lo, hi = lax.fori_loop(0, steps, bisect, bounds)
    return jnp.exp(0.5 * (lo + hi))


def masked_sum(mask: Array, values: Array) -> tuple[Array, Array]:
    """(number of observed entries, sum of ``values`` over them)."""
    seen = jnp.broadcast_to(mask, jnp.shape(values))
    return jnp.sum(seen, dtype=values.dtype), jnp.sum(jnp.where(seen, values, 0.0))


class ParameterEstimates:
    """The :class:`Estimated` parameters of a likelihood (a mixin of ``Likelihood``).

    A likelihood with one parameter that may be estimated names it in ``parameter``
    and provides :meth:`parameter_prior` and ``_map_parameter`` (the exact MAP given
    ``eta``); the rest follows from those.
    """

    #: Name of the field that may hold an :class:`Estimated` (None: nothing to estimate).
    parameter: ClassVar[str | None] = None

    @property
    def parameter_value(self) -> Any:
        """The current value of ``parameter`` (the estimate when it is Estimated)."""
        value = getattr(self, self.parameter)
        return value.value if isinstance(value, Estimated) else value

    def estimates(self) -> tuple[Estimated, ...]:
        """The :class:`Estimated` parameters, in a fixed order (empty when all are fixed)."""
        value = getattr(self, self.parameter) if self.parameter else None
        return (value,) if isinstance(value, Estimated) else ()

    def estimate_names(self) -> tuple[str, ...]:
        """A name per :class:`Estimated` parameter (the posterior variable in ``bf.sample``)."""
        return (self.parameter,) if self.estimates() else ()

    def with_estimates(self, estimates: tuple[Estimated, ...]) -> Likelihood:
        """A copy with its :class:`Estimated` parameters replaced (traced-safe)."""
        if not self.estimates():
            return self
        return unchecked_replace(self, **{self.parameter: estimates[0]})

    def with_values(self, values: tuple[Any, ...]) -> Likelihood:
        """A copy with the :class:`Estimated` parameters' values set (traced-safe)."""
        estimates = self.estimates()
        return self.with_estimates(
            tuple(e.replace(v) for e, v in zip(estimates, values, strict=True))
        )

    def update_estimates(self, x: Array, mask: Array, eta: Array) -> tuple[Estimated, ...]:
        """The MAP of each Estimated parameter given ``eta`` (the rest of the model fixed)."""
        return tuple(e.replace(self._map_parameter(e, x, mask, eta)) for e in self.estimates())

    def log_prior_estimates(self) -> Array:
        """Sum of the Estimated parameters' log prior densities (0 when none)."""
        pairs = zip(self.estimate_priors(), self.estimates(), strict=True)
        return sum((prior.log_prob(e.value**p) for (prior, p), e in pairs), 0.0)

    def estimate_priors(self) -> tuple[tuple[dist.Distribution, float], ...]:
        """Per Estimated parameter: its prior and the power ``p`` it is on (value**p)."""
        return tuple(self.parameter_prior(e) for e in self.estimates())

    def parameter_prior(self, estimate: Estimated) -> tuple[dist.Distribution, float]:
        """The prior's numpyro distribution and the power ``p`` it is on (value**p)."""
        raise NotImplementedError(f"{type(self).__name__} has no parameter to estimate.")

    def _map_parameter(self, estimate: Estimated, x: Array, mask: Array, eta: Array) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no parameter to estimate.")
