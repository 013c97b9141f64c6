r"""The negative binomial likelihood: over-dispersed counts with a log link."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import scipy.special
from jax import lax
from jax.scipy.special import gammaln, xlogy
from numpyro.distributions import constraints

from bayesfactor._data import observed
from bayesfactor._pytree import pytree_dataclass
from bayesfactor.likelihoods._base import LINK_FLOOR, Likelihood
from bayesfactor.likelihoods.estimated import Estimated, check_positive

__all__ = ["NegativeBinomial"]

#: Safeguarded Newton steps on log r per fit iteration (each accepted only if the
#: objective does not rise): near the optimum one step is enough (quadratic
#: convergence); three let a start far off (r = 1 for Poisson-like data, r ~ 1e3)
#: catch up within a few iterations.
NEWTON_STEPS = 3
#: Largest change of log r in one Newton step (a factor e^2 = 7.4 in r).
MAX_LOG_STEP = 2.0
#: Halvings of a Newton step tried before the step is given up (the estimate is kept).
MAX_HALVINGS = 20
#: log r is kept in [-15, 15] (r from 3e-7 to 3.3e6; beyond, lgamma(x + r) - lgamma(r)
#: loses more than 1e-9 to cancellation in float64 and the counts are Poisson anyway).
LOG_BOUND = 15.0


@pytree_dataclass
class NegativeBinomial(Likelihood):
    r"""Over-dispersed counts: the negative binomial (gamma-Poisson) with a log link.

    .. math::
        -\log p(X \mid \eta) = \sum_{i \in \Omega} (X_i + r) \log(r + \mu_i)
        - X_i \log \mu_i - r \log r - \log \frac{\Gamma(X_i + r)}{\Gamma(r)\,X_i!},
        \qquad \mu_i = e^{\eta_i}

    Mean :math:`\mu`, variance :math:`\mu + \mu^2 / r`: the Poisson as
    :math:`r \to \infty`, more over-dispersed as :math:`r` shrinks (scRNA-seq counts,
    spike counts; statsmodels' ``alpha`` is :math:`1/r`). Block updates use the
    Newton curvature :math:`(X + r)\,\mu r / (r + \mu)^2` with a line search.

    Parameters
    ----------
    concentration : float or Estimated, default=1.0
        :math:`r` (numpyro's ``NegativeBinomial2`` concentration, R's ``theta``);
        must be > 0. ``bf.Estimated()`` fits it with the factors (prior
        :math:`r \sim \text{Gamma}(a, b)`; a few safeguarded Newton steps on
        :math:`\log r` per iteration, each accepted only if the objective does not
        rise).

    Examples
    --------
    >>> import bayesfactor as bf
    >>> from bayesfactor.likelihoods import NegativeBinomial
    >>> bf.Model(NegativeBinomial(5.0), rank=2, priors=bf.Normal(1.0)).likelihood
    NegativeBinomial(concentration=5.0)
    """

    cli_names: ClassVar = {"negative-binomial": {}}

    concentration: float | Estimated = 1.0
    support: ClassVar = constraints.nonnegative_integer
    parameter: ClassVar[str] = "concentration"
    error_name: ClassVar[str] = "deviance"

    def __post_init__(self):
        check_positive("concentration", self.concentration, "NegativeBinomial")

    def error(self, x, mu):  # noqa: D102
        # Unit deviance 2 [x log(x / mu) - (x + r) log((x + r) / (mu + r))] (statsmodels'
        # NegativeBinomial family, alpha = 1/r); mu floored at eps as in the Poisson's.
        r = float(self.parameter_value)
        mu = np.maximum(mu, np.finfo(float).eps)
        return 2.0 * (scipy.special.xlogy(x, x / mu) - (x + r) * np.log((x + r) / (mu + r)))

    def log_prob(self, x, eta):  # noqa: D102
        r = self.parameter_value
        log_r = jnp.log(r)
        return (
            gammaln(x + r)
            - gammaln(r)
            - gammaln(x + 1.0)
            + r * log_r
            + x * eta
            - (x + r) * jnp.logaddexp(log_r, eta)
        )

    def energy(self, x, eta):  # noqa: D102
        r = self.parameter_value
        e = (x + r) * jnp.logaddexp(jnp.log(r), eta) - x * eta
        if self.estimates():  # the terms in r alone (log x! is dropped)
            return e + gammaln(r) - gammaln(x + r) - r * jnp.log(r)
        return e

    def saturated_energy(self, x):  # noqa: D102  (at mu = x: (x + r) log(x + r) - x log x)
        if self.estimates():
            return jnp.zeros_like(x)
        r = self.parameter_value
        return xlogy(x + r, x + r) - xlogy(x, x)

    def mean(self, eta):  # noqa: D102
        return jnp.exp(eta)

    def distribution(self, eta):  # noqa: D102
        return dist.NegativeBinomial2(jnp.exp(eta), self.parameter_value)

    def weight(self, x, eta):  # noqa: D102
        # Newton curvature (x + r) s (1 - s), s = mu / (r + mu) = sigmoid(eta - log r).
        r = self.parameter_value
        s = jax.nn.sigmoid(eta - jnp.log(r))
        return (x + r) * s * (1.0 - s)

    def init_target(self, x):  # noqa: D102
        return np.log(x + 0.5)

    def eta_of_mean(self, mean):  # noqa: D102
        return jnp.log(jnp.maximum(mean, LINK_FLOOR))

    def init_scale(self, x):  # noqa: D102
        return float(np.log1p(np.mean(x))) if x.size else 1.0

    def validate(self, x):  # noqa: D102
        bad = x < 0
        if bad.any():
            values = x[bad]
            raise ValueError(
                "NegativeBinomial data must be non-negative counts; found "
                f"{values.size} negative values (first: {values[0].item()!r}). Use "
                "Gaussian or Laplace for real-valued data."
            )

    def pmf_problem(self, x, mask):  # noqa: D102
        x = observed(x, mask)
        bad = x != np.round(x)
        if not bad.any():
            return None
        return (
            "the negative binomial pmf needs integer counts, but the data have "
            f"{int(bad.sum())} non-integer values (first: {x[bad][0].item()!r}). The MAP "
            "fit is defined for them, but log-likelihoods, CV scores, LOO/WAIC and "
            "posterior predictive draws are not those of a count model. Round the data "
            "(np.round(X)) if they are counts, or use a likelihood for real-valued data."
        )

    def parameter_prior(self, estimate):  # noqa: D102
        return dist.Gamma(estimate.concentration, estimate.rate), 1.0

    def _map_parameter(self, estimate, x, mask, eta):
        """A few safeguarded Newton steps on ``u = log r`` (the objective never rises)."""
        seen = jnp.broadcast_to(mask, jnp.shape(eta))
        x = jnp.where(seen, x, 0.0)
        a, b = estimate.concentration, estimate.rate

        def objective(u):  # -log p in r (terms without r dropped) - log Gamma(a, b) prior
            r = jnp.exp(u)
            e = gammaln(r) - gammaln(x + r) - r * u + (x + r) * jnp.logaddexp(u, eta)
            return jnp.sum(jnp.where(seen, e, 0.0)) + b * r - (a - 1.0) * u

        slope = jax.grad(objective)

        def newton(_, u):
            g, h = jax.jvp(slope, (u,), (jnp.ones_like(u),))
            d = jnp.clip(jnp.where(h > 0, -g / h, -jnp.sign(g)), -MAX_LOG_STEP, MAX_LOG_STEP)
            return _backtrack(objective, u, d)

        dtype = jnp.result_type(eta)
        u0 = jnp.clip(jnp.log(jnp.asarray(estimate.value, dtype)), -LOG_BOUND, LOG_BOUND)
        return jnp.exp(lax.fori_loop(0, NEWTON_STEPS, newton, u0))


def _backtrack(objective, u, d):
    """``u + t d`` for the largest ``t`` in 1, 1/2, ... that does not raise the objective."""
    before = objective(u)
    at = lambda t: jnp.clip(u + t * d, -LOG_BOUND, LOG_BOUND)  # noqa: E731

    def halve(carry):
        t, _, i = carry
        return t / 2, objective(at(t / 2)) <= before, i + 1

    one = jnp.ones_like(u)
    carry = (one, objective(at(one)) <= before, 0)
    t, accepted, _ = lax.while_loop(lambda c: (c[2] < MAX_HALVINGS) & ~c[1], halve, carry)
    return jnp.where(accepted, at(t), u)
