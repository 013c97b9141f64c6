"""Angles (circular data): the von Mises likelihood."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import i0e, i1e

from bayesfactor._pytree import pytree_dataclass
from bayesfactor.likelihoods._base import Likelihood
from bayesfactor.likelihoods.estimated import (
    Estimated,
    check_positive,
    log_bisection,
    masked_sum,
)

__all__ = ["VonMises"]


@pytree_dataclass
class VonMises(Likelihood):
    r"""Angles in radians (circular data); the mean direction is :math:`\eta`.

    .. math::
        -\log p(X \mid \eta) = \sum_{i \in \Omega} -\kappa \cos(X_i - \eta_i)
        + \log 2\pi I_0(\kappa)

    Block updates use the curvature bound :math:`\kappa`, so they are MM-monotone.

    Parameters
    ----------
    concentration : float or Estimated, default=1.0
        Concentration :math:`\kappa`; must be > 0. ``bf.Estimated()`` fits it with
        the factors (prior :math:`\kappa \sim \text{Gamma}(a, b)`, :math:`a \ge 1`).

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.Model(likelihood=bf.VonMises(2.0), rank=1, priors=bf.Flat()).rank
    1
    """

    cli_names: ClassVar = {"vonmises": {}}

    concentration: float | Estimated = 1.0
    majorizes: ClassVar[bool] = True
    constant_weight: ClassVar[bool] = True
    parameter: ClassVar[str] = "concentration"
    error_name: ClassVar[str] = "circular_error"

    def __post_init__(self):
        check_positive("concentration", self.concentration, "VonMises")
        if any(prior.concentration < 1 for prior in self.estimates()):
            raise ValueError(
                "VonMises: an Estimated concentration needs a prior shape >= 1 (a "
                "log-concave Gamma prior, so the update has one root); got "
                f"concentration={self.concentration.concentration!r}."
            )

    def log_prob(self, x, eta):  # noqa: D102
        k = self.parameter_value
        # log I0(k) = log(i0e(k)) + k, stable for large k.
        return k * jnp.cos(x - eta) - (jnp.log(2 * jnp.pi * i0e(k)) + k)

    def energy(self, x, eta):  # noqa: D102
        k = self.parameter_value
        e = -k * jnp.cos(x - eta)
        return e + jnp.log(i0e(k)) + k if self.estimates() else e

    def mean(self, eta):  # noqa: D102
        return jnp.angle(jnp.exp(1j * eta))

    def distribution(self, eta):  # noqa: D102
        return dist.VonMises(eta, self.parameter_value)

    def weight(self, x, eta):  # noqa: D102
        return jnp.full_like(eta, self.parameter_value)

    def saturated_energy(self, x):  # noqa: D102  (-kappa at eta = x; 0 when estimated)
        if self.estimates():
            return jnp.zeros_like(x)
        return jnp.full_like(x, -self.parameter_value)

    def parameter_prior(self, estimate):  # noqa: D102
        return dist.Gamma(estimate.concentration, estimate.rate), 1.0

    def _map_parameter(self, estimate, x, mask, eta):
        n, total = masked_sum(mask, jnp.cos(x - eta))
        a, b = estimate.concentration, estimate.rate

        def slope(log_k):  # derivative of the objective in kappa: increasing for a >= 1
            k = jnp.exp(log_k)
            return n * i1e(k) / i0e(k) + b - (a - 1.0) / k - total

        return log_bisection(slope, 12.0, 60, jnp.result_type(eta))

    def error(self, x, mu):  # noqa: D102
        return 1.0 - np.cos(x - mu)

    def eta_of_mean(self, mean):  # noqa: D102
        # The mean of angles is not their mean direction (they wrap): start at 0.
        return jnp.zeros_like(mean)

    def init_target(self, x):  # noqa: D102
        raise ValueError(
            "init='svd' is not defined for von Mises data: angles wrap around, so their "
            "SVD says nothing about the mean directions. Use init='random' (the default)."
        )

    def init_scale(self, x):  # noqa: D102
        return 1.0
