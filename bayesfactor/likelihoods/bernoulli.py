"""Binary data with a logit link: the logistic loss (logistic PCA)."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayesfactor._pytree import pytree_dataclass
from bayesfactor.likelihoods._base import LINK_FLOOR, Likelihood
from bayesfactor.likelihoods._messages import first_bad

__all__ = ["Bernoulli"]


@pytree_dataclass
class Bernoulli(Likelihood):
    r"""Binary data with a logit link (the logistic loss: logistic PCA).

    .. math::
        -\log p(X \mid \eta) = \sum_{i \in \Omega} \log(1 + e^{\eta_i}) - X_i \eta_i

    Block updates use the global curvature bound :math:`1/4` (Böhning &
    Lindsay 1988), so they are MM-monotone.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.Model(likelihood=bf.Bernoulli(), rank=2, priors=bf.Normal(1.0)).rank
    2
    """

    cli_names: ClassVar = {"bernoulli": {}}

    support: ClassVar = constraints.boolean
    majorizes: ClassVar[bool] = True
    constant_weight: ClassVar[bool] = True
    exact_fit: ClassVar[bool] = False
    admits_sparse_rows: ClassVar[bool] = True
    block_name: ClassVar[str] = "binary"
    error_name: ClassVar[str] = "accuracy"
    error_higher_is_better: ClassVar[bool] = True

    def log_prob(self, x, eta):  # noqa: D102
        return x * eta - jnp.logaddexp(0.0, eta)

    def mean(self, eta):  # noqa: D102
        return 1.0 / (1.0 + jnp.exp(-eta))

    def distribution(self, eta):  # noqa: D102
        return dist.Bernoulli(logits=eta)

    def weight(self, x, eta):  # noqa: D102
        return jnp.full_like(eta, 0.25)

    def error(self, x, mu):  # noqa: D102  (1 where the rounded mean is right)
        return ((mu > 0.5) == (x == 1)).astype(float)

    def init_target(self, x):  # noqa: D102
        return np.log((x + 0.5) / (1.5 - x))  # logit of 0/1 smoothed to 1/4, 3/4

    def eta_of_mean(self, mean):  # noqa: D102
        p = jnp.clip(mean, LINK_FLOOR, 1.0 - LINK_FLOOR)
        return jnp.log(p) - jnp.log1p(-p)

    def init_scale(self, x):  # noqa: D102
        return 1.0

    def validate(self, x):  # noqa: D102
        bad = (x != 0) & (x != 1)
        if bad.any():
            raise ValueError(
                f"Bernoulli data must be 0 or 1 where observed; {first_bad(x, bad)}. "
                "Binarise X (e.g. X > 0), or use Gaussian for real-valued data."
            )
