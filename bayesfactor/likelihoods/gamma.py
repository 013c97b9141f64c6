r"""The gamma likelihood: positive continuous data with a log link."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import digamma, gammaln
from numpyro.distributions import constraints

from bayesfactor._pytree import pytree_dataclass
from bayesfactor.likelihoods._base import LINK_FLOOR, Likelihood
from bayesfactor.likelihoods.estimated import Estimated, check_positive, log_bisection

__all__ = ["Gamma"]

#: Bisection steps on log k for an Estimated shape: [-15, 15] halved 64 times is
#: resolved to 1.6e-18, below float64's spacing there (the bracket ends are the bounds
#: of the estimate: k from 3e-7 to 3.3e6, a coefficient of variation from 1800 to 5e-4).
BISECTIONS = 64
LOG_BOUND = 15.0


@pytree_dataclass
class Gamma(Likelihood):
    r"""Positive continuous data with gamma noise and a log link (a gamma GLM).

    .. math::
        -\log p(X \mid \eta) = \sum_{i \in \Omega} k \Big(\frac{X_i}{\mu_i}
        + \log \mu_i\Big) - k \log k + \log\Gamma(k) - (k - 1) \log X_i,
        \qquad \mu_i = e^{\eta_i}

    Mean :math:`\mu`, variance :math:`\mu^2 / k`: a constant coefficient of variation
    :math:`1/\sqrt k` (durations, intensities, rates, positive amounts). The
    energy is :math:`k` times the Itakura-Saito divergence of :math:`X` from
    :math:`\mu`, up to a constant: with non-negative factors on the
    :math:`\mu` scale this is IS-NMF's loss (Févotte, Bertin & Durrieu 2009), here
    with a log link. Block updates use the Newton curvature :math:`k X / \mu` with a
    line search.

    Parameters
    ----------
    concentration : float or Estimated, default=1.0
        The shape :math:`k` (numpyro's ``Gamma`` concentration; the rate is
        :math:`k / \mu`); must be > 0. ``bf.Estimated()`` fits it with the factors
        (prior :math:`k \sim \text{Gamma}(a, b)`; the update is exact: the objective
        is convex in :math:`k` with two or more observed entries, solved by bisection
        on :math:`\log k`).

    Examples
    --------
    >>> import bayesfactor as bf
    >>> from bayesfactor.likelihoods import Gamma
    >>> bf.Model(Gamma(4.0), rank=2, priors=bf.Normal(1.0)).likelihood
    Gamma(concentration=4.0)
    """

    cli_names: ClassVar = {"gamma": {}}

    concentration: float | Estimated = 1.0
    support: ClassVar = constraints.positive
    parameter: ClassVar[str] = "concentration"
    error_name: ClassVar[str] = "deviance"

    def __post_init__(self):
        check_positive("concentration", self.concentration, "Gamma")

    def error(self, x, mu):  # noqa: D102
        # Unit deviance 2 [(x - mu) / mu - log(x / mu)] (scikit-learn's gamma deviance).
        mu = np.maximum(mu, np.finfo(float).eps)
        return 2.0 * ((x - mu) / mu - np.log(x / mu))

    def log_prob(self, x, eta):  # noqa: D102
        k = self.parameter_value
        return (
            k * jnp.log(k) - gammaln(k) + (k - 1.0) * jnp.log(x) - k * eta - k * x * jnp.exp(-eta)
        )

    def energy(self, x, eta):  # noqa: D102
        k = self.parameter_value
        if self.estimates():  # k (x / mu - log(x / mu)) and k's own terms (log x dropped)
            return k * (x * jnp.exp(-eta) + eta - jnp.log(x)) - k * jnp.log(k) + gammaln(k)
        return k * (eta + x * jnp.exp(-eta))

    def saturated_energy(self, x):  # noqa: D102  (at mu = x: k (log x + 1))
        if self.estimates():
            return jnp.zeros_like(x)
        return self.parameter_value * (jnp.log(x) + 1.0)

    def mean(self, eta):  # noqa: D102
        return jnp.exp(eta)

    def distribution(self, eta):  # noqa: D102
        k = self.parameter_value
        return dist.Gamma(k, k * jnp.exp(-eta))

    def weight(self, x, eta):  # noqa: D102
        return self.parameter_value * x * jnp.exp(-eta)  # Newton curvature k x / mu

    def init_target(self, x):  # noqa: D102
        return np.log(x)

    def eta_of_mean(self, mean):  # noqa: D102
        return jnp.log(jnp.maximum(mean, LINK_FLOOR))

    def init_scale(self, x):  # noqa: D102
        rms = float(np.sqrt(np.mean(np.log(x) ** 2))) if x.size else 0.0
        return rms if rms > 0 else 1.0

    def validate(self, x):  # noqa: D102
        bad = ~(x > 0)
        if bad.any():
            values = x[bad]
            raise ValueError(
                f"Gamma data must be positive where observed; found {values.size} values "
                f"<= 0 (first: {values[0].item()!r}). Mark exact zeros missing (NaN) if "
                "they are not measurements, or use NegativeBinomial or Poisson for counts."
            )

    def parameter_prior(self, estimate):  # noqa: D102
        return dist.Gamma(estimate.concentration, estimate.rate), 1.0

    def _map_parameter(self, estimate, x, mask, eta):
        r"""The root of the objective's slope in :math:`k` (convex), by bisection on log k.

        With :math:`D = \sum (x/\mu - \log(x/\mu))` over the :math:`n` observed
        entries, the slope is :math:`D - n + n(\psi(k) - \log k) + b - (a - 1)/k`.
        """
        seen = jnp.broadcast_to(mask, jnp.shape(eta))
        x = jnp.where(seen, x, 1.0)  # keeps log x finite where unobserved
        divergence = jnp.where(seen, x * jnp.exp(-eta) + eta - jnp.log(x), 0.0)
        n = jnp.sum(seen, dtype=divergence.dtype)
        total = jnp.sum(divergence)
        a, b = estimate.concentration, estimate.rate

        def slope(log_k):
            k = jnp.exp(log_k)
            return total - n + n * (digamma(k) - log_k) + b - (a - 1.0) / k

        return log_bisection(slope, LOG_BOUND, BISECTIONS, jnp.result_type(eta))
