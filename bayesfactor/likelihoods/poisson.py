"""Counts (or any non-negative data): Poisson PCA and KL-NMF."""

from __future__ import annotations

from typing import ClassVar, Literal

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import scipy.special
from jax import Array
from jax.scipy.special import gammaln, xlogy
from numpyro.distributions import constraints

from bayesfactor._data import observed
from bayesfactor._pytree import pytree_dataclass, static_field
from bayesfactor.likelihoods._base import LINK_FLOOR, NONNEGATIVE_SUPPORTS, Likelihood
from bayesfactor.likelihoods._messages import first_bad

__all__ = ["Poisson"]


def _floor(eta: Array) -> Array:
    return jnp.maximum(eta, jnp.finfo(eta.dtype).eps)


@pytree_dataclass
class Poisson(Likelihood):
    r"""Counts (or any non-negative data, the KL-divergence view).

    .. math::
        -\log p(X \mid \eta) = \sum_{i \in \Omega} \mu_i - X_i \log \mu_i
        + \log \Gamma(X_i + 1), \qquad \mu_i = g^{-1}(\eta_i)

    With ``link="identity"`` (:math:`\mu = \eta`) and non-negative priors the MAP
    is KL-NMF (Lee & Seung 2001); with ``link="log"`` it is Poisson PCA
    (Collins, Dasgupta & Schapire 2002).

    Parameters
    ----------
    link : {"log", "identity"}, default="log"
        ``"identity"`` needs non-negative priors on every mode.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.Model(likelihood=bf.Poisson(link="identity"), rank=3,
    ...          priors=bf.NonNegative()).likelihood
    Poisson(link='identity')
    """

    cli_names: ClassVar = {"poisson": {"link": "identity"}, "poisson-log": {"link": "log"}}

    link: Literal["log", "identity"] = static_field(default="log")
    support: ClassVar = constraints.nonnegative
    admits_multiplicative = property(lambda self: self.link == "identity")
    admits_sparse_rows = property(lambda self: self.link == "log")
    error_name: ClassVar[str] = "deviance"
    block_name: ClassVar[str] = "counts"

    def __post_init__(self):
        if self.link not in ("log", "identity"):
            raise ValueError(f"Poisson: link must be 'log' or 'identity'; got {self.link!r}.")

    def log_prob(self, x, eta):  # noqa: D102
        if self.link == "log":
            return x * eta - jnp.exp(eta) - gammaln(x + 1.0)
        # x log(eta), with eta floored at machine epsilon inside the log (as
        # scikit-learn's beta divergence does): a zero rate where a count is positive
        # costs a large finite penalty, and x = 0 contributes 0 and no 0/0 gradient.
        # (No select on x > 0: it made XLA's pass over the data ~2x slower.)
        return x * jnp.log(_floor(eta)) - eta - gammaln(x + 1.0)

    def mean(self, eta):  # noqa: D102
        return jnp.exp(eta) if self.link == "log" else eta

    def distribution(self, eta):  # noqa: D102
        return dist.Poisson(self.mean(eta))

    def energy(self, x, eta):  # noqa: D102
        if self.link == "log":
            return jnp.exp(eta) - x * eta
        return eta - x * jnp.log(_floor(eta))

    def saturated_energy(self, x):  # noqa: D102  (at eta = x, or log x: x - x log x)
        return x - xlogy(x, x)

    def weight(self, x, eta):  # noqa: D102
        if self.link == "log":
            return jnp.exp(eta)
        # Newton curvature x / eta^2, with the same floor as in log_prob.
        return x / _floor(eta) ** 2

    def error(self, x, mu):  # noqa: D102
        # Poisson unit deviance; mu floored at machine epsilon as in the likelihood's log.
        mu = np.maximum(mu, np.finfo(float).eps)
        return 2.0 * (scipy.special.xlogy(x, x) - scipy.special.xlogy(x, mu) - x + mu)

    def accepts_factor_support(self, support):  # noqa: D102
        return self.link == "log" or support in NONNEGATIVE_SUPPORTS

    def init_target(self, x):  # noqa: D102
        return np.log(x + 0.5) if self.link == "log" else x

    def eta_of_mean(self, mean):  # noqa: D102
        return jnp.log(jnp.maximum(mean, LINK_FLOOR)) if self.link == "log" else mean

    def init_scale(self, x):  # noqa: D102
        if self.link == "log":
            return float(np.log1p(np.mean(x)))
        return float(np.mean(x)) or 1.0

    def pmf_problem(self, x, mask):  # noqa: D102
        x = observed(x, mask)
        bad = x != np.round(x)
        if not bad.any():
            return None
        fit = "KL divergence, KL-NMF" if self.link == "identity" else "Poisson deviance"
        return (
            f"the Poisson pmf needs integer counts, but the data have non-integer values; "
            f"{first_bad(x, bad)}. The MAP fit ({fit}) is defined for them, but "
            "log-likelihoods (with their log x! term), CV scores, LOO/WAIC and posterior "
            "predictive draws are not those of a count model. Round the data "
            "(np.round(X)) if they are counts, or use a likelihood for real-valued data "
            "(bf.Gaussian, bf.LaplaceLikelihood)."
        )

    def validate(self, x):  # noqa: D102
        bad = x < 0
        if bad.any():
            raise ValueError(
                f"Poisson data must be non-negative counts; {first_bad(x, bad)}. "
                "Use Gaussian or Laplace for real-valued data."
            )
        eps = np.finfo(np.float32 if x.dtype.kind == "f" and x.dtype.itemsize <= 4 else float).eps
        tiny = (x > 0) & (x < 1e3 * eps)
        if tiny.any():
            raise ValueError(
                f"Poisson data have positive entries as small as {float(x[tiny].min()):.2g}, "
                f"below what {'float32' if eps > 1e-10 else 'float64'} resolves here (rates "
                f"are floored at eps={eps:.2g} inside the log): scale the data up (counts, "
                "or rates per a larger unit), or pass float64 data."
            )
