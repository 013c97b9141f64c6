"""Gaussian noise: the quadratic loss (PCA, NMF)."""

from __future__ import annotations

import math
from typing import ClassVar

import jax.numpy as jnp
import numpyro.distributions as dist

from bayesfactor._pytree import pytree_dataclass
from bayesfactor.likelihoods._base import Likelihood
from bayesfactor.likelihoods.estimated import Estimated, check_positive, masked_sum

__all__ = ["Gaussian"]


@pytree_dataclass
class Gaussian(Likelihood):
    r"""Real-valued data with Gaussian noise (the quadratic loss).

    .. math::
        -\log p(X \mid \eta) = \sum_{i \in \Omega} \frac{(X_i - \eta_i)^2}{2\sigma^2}
        + \log \sigma + \tfrac12 \log 2\pi

    With flat priors the MAP is PCA (the truncated SVD attains it, Eckart & Young
    1936); with non-negative priors it is NMF.

    Parameters
    ----------
    scale : float or Estimated, default=1.0
        Noise standard deviation :math:`\sigma`; must be > 0. ``bf.Estimated()``
        fits it with the factors (prior :math:`\sigma^2 \sim \text{InvGamma}`).

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.Model(likelihood=bf.Gaussian(), rank=2, priors=bf.Flat()).rank
    2
    """

    cli_names: ClassVar = {"gaussian": {}}

    scale: float | Estimated = 1.0
    exact_quadratic: ClassVar[bool] = True
    majorizes: ClassVar[bool] = True
    constant_weight: ClassVar[bool] = True
    parameter: ClassVar[str] = "scale"
    least_squares: ClassVar[bool] = True
    admits_hals: ClassVar[bool] = True

    def __post_init__(self):
        check_positive("scale", self.scale, "Gaussian")

    def log_prob(self, x, eta):  # noqa: D102
        s = self.parameter_value
        return -0.5 * ((x - eta) / s) ** 2 - jnp.log(s) - 0.5 * math.log(2 * math.pi)

    def energy(self, x, eta):  # noqa: D102
        s = self.parameter_value
        e = 0.5 * ((x - eta) / s) ** 2
        return e + jnp.log(s) if self.estimates() else e

    def mean(self, eta):  # noqa: D102
        return eta

    def distribution(self, eta):  # noqa: D102
        return dist.Normal(eta, self.parameter_value)

    def weight(self, x, eta):  # noqa: D102
        return jnp.full_like(eta, 1.0 / self.parameter_value**2)

    def parameter_prior(self, estimate):  # noqa: D102
        return dist.InverseGamma(estimate.concentration, estimate.rate), 2.0

    def _map_parameter(self, estimate, x, mask, eta):
        n, total = masked_sum(mask, (x - eta) ** 2)
        a, b = estimate.concentration, estimate.rate
        return jnp.sqrt((b + 0.5 * total) / (a + 1.0 + 0.5 * n))
