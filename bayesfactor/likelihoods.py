r"""Likelihoods: one small class per observation model.

Each likelihood is elementwise over a broadcastable natural parameter
:math:`\eta`; it gives the log-density of the data (``log_prob``), the mean
(``mean``, the inverse link), the matching numpyro distribution, a check of the
data (run in NumPy before any compilation) and the curvature the block
updates use (``weight``): the exact second derivative for Gaussian data, a
global upper bound (a majorizer, so updates are monotone) for Bernoulli,
Laplace and von Mises data, and the Newton curvature for Poisson (updates then
use a line search).
"""

from __future__ import annotations

import abc
import math
import warnings
from typing import Any, ClassVar, Literal

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import scipy.linalg
from jax import Array, lax
from jax.scipy.special import gammaln, i0e, i1e, xlogy
from numpyro.distributions import constraints

from bayesfactor._data import observed
from bayesfactor._pytree import pytree_dataclass, static_field, unchecked_replace
from bayesfactor._registry import LIKELIHOODS

__all__ = [
    "Likelihood",
    "Estimated",
    "Gaussian",
    "Laplace",
    "Bernoulli",
    "Poisson",
    "VonMises",
    "Offset",
    "Blocks",
    "DataWarning",
    "warn_pmf_data",
]

#: Supports that count as non-negative when a model checks its priors.
NONNEGATIVE_SUPPORTS = (constraints.nonnegative, constraints.positive, constraints.simplex)
#: Smallest mean (and, for Bernoulli, distance of the mean from 1) that
#: :meth:`Likelihood.eta_of_mean` maps to eta: an all-zero column starts its
#: intercept at log(1e-6) = -13.8 (logit: -13.8), finite, instead of -inf.
LINK_FLOOR = 1e-6


def _check_positive(name: str, value: float, owner: str) -> None:
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
            _check_positive(name, getattr(self, name), "Estimated")

    def __repr__(self) -> str:
        prior = f"concentration={self.concentration!r}, rate={self.rate!r}"
        try:
            return f"Estimated(value={float(self.value):.4g}, {prior})"
        except TypeError:  # traced
            return f"Estimated({prior})"

    def replace(self, value: Any) -> Estimated:
        """The same prior with another ``value`` (no checks: ``value`` may be traced)."""
        return unchecked_replace(self, value=value)


class DataWarning(UserWarning):
    """The data suit the MAP fit but not a use that needs the likelihood's own pmf.

    E.g. non-integer data under :class:`Poisson`: the fit (KL divergence for
    ``link="identity"``) is defined for them, but log-likelihoods, CV scores, LOO/WAIC
    and posterior predictive draws need integer counts.
    """


def warn_pmf_data(
    likelihood: Likelihood, x: np.ndarray, mask: np.ndarray, use: str, stacklevel: int = 3
) -> None:
    """Warn (:class:`DataWarning`) if ``use`` evaluates a pmf the observed data do not fit.

    ``stacklevel`` counts from this function (2 = its caller), as ``warnings.warn``.
    """
    problem = likelihood.pmf_problem(np.asarray(x), np.asarray(mask))
    if problem:
        warnings.warn(f"{use}: {problem}", DataWarning, stacklevel=stacklevel)


class Likelihood(abc.ABC):
    """Abstract base of the observation models.

    A new likelihood provides ``log_prob``, ``mean``, ``distribution`` and
    ``weight``, declares ``support`` (of the data) and the two flags below, and
    extends ``validate`` if its data have a restricted support.
    """

    #: numpyro constraint on the data.
    support: ClassVar[constraints.Constraint] = constraints.real
    #: ``weight`` is the exact, constant curvature: the quadratic model is exact.
    exact_quadratic: ClassVar[bool] = False
    #: ``weight`` bounds the curvature everywhere: block updates are MM-monotone.
    majorizes: ClassVar[bool] = False
    #: ``weight`` is one number for every entry (then a row solve needs one Gram matrix).
    constant_weight: ClassVar[bool] = False
    #: ``energy`` reaches its infimum at finite ``eta`` (an exact fit); False where it is
    #: approached only as ``|eta|`` grows without bound (Bernoulli: separable data).
    exact_fit: ClassVar[bool] = True
    #: Column-wise proximal coordinate descent (HALS) is exact for it: a quadratic energy
    #: of the CP product itself, with one weight (Gaussian; not inside an Offset).
    admits_hals: ClassVar[bool] = False
    #: The multiplicative MM update of KL-NMF applies (Poisson with the identity link).
    admits_multiplicative: ClassVar[bool] = False
    #: Names on the command line (``--likelihood NAME[:P]``) -> constructor arguments;
    #: ``P`` sets :attr:`parameter`. Empty: not offered there.
    cli_names: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LIKELIHOODS.add(cls)  # saved files and the command line find it by name

    @abc.abstractmethod
    def log_prob(self, x: Array, eta: Array) -> Array:
        r"""Elementwise log-density :math:`\log p(x \mid \eta)`."""

    @abc.abstractmethod
    def mean(self, eta: Array) -> Array:
        """Elementwise mean of the data, the inverse link of ``eta``."""

    @abc.abstractmethod
    def distribution(self, eta: Array) -> dist.Distribution:
        """The matching numpyro distribution (the reference for ``log_prob``)."""

    @abc.abstractmethod
    def weight(self, x: Array, eta: Array) -> Array:
        r"""Curvature of :math:`-\log p` in ``eta`` used by the block updates."""

    def accepts_factor_support(self, support: constraints.Constraint) -> bool:
        """Whether a prior with this support gives valid parameters."""
        return True

    def init_scale(self, x: np.ndarray) -> float:
        """Typical magnitude of ``eta`` for random initialization (observed ``x``)."""
        if not x.size:
            return 1.0
        # BLAS nrm2 (scipy.linalg.norm of a vector): one pass, scaled against overflow.
        x = np.ravel(x)
        if x.dtype.char not in "fd":
            x = x.astype(np.float64)
        rms = float(scipy.linalg.norm(x, check_finite=False)) / np.sqrt(x.size)
        return rms if rms > 0 else 1.0

    def energy(self, x: Array, eta: Array) -> Array:
        r"""Elementwise :math:`-\log p(x \mid \eta)` up to terms constant in ``eta``.

        What the block updates compare and differentiate, and what the fit's
        convergence test sums: dropping the constants (e.g. Poisson's :math:`\log x!`,
        a Gaussian's :math:`\log \sigma \sqrt{2\pi}`) saves a special-function
        evaluation per entry in every line-search step and keeps a large constant
        from hiding the objective's changes (the relative change is taken of the
        sum without it). Terms of an :class:`Estimated` parameter are kept.
        """
        return -self.log_prob(x, eta)

    def saturated_energy(self, x: Array) -> Array:
        r"""Elementwise :math:`\inf_\eta E(x, \eta)`, the energy of a perfect fit.

        The fit's relative change is taken of :math:`\sum_i E(x_i, \eta_i) - E(x_i,
        \cdot)_{\min}` (a deviance, 0 at a perfect fit; plus the priors), so that
        ``tol`` means the same whatever the data's scale: Poisson's :math:`\eta - x
        \log\eta` has a part :math:`-x \log x` that grows with the scale. 0 here
        (Gaussian, Laplace, Bernoulli: the energy vanishes at a perfect fit), and 0
        where an Estimated parameter would make it change during the fit.
        """
        return jnp.zeros_like(x)

    def init_target(self, x: np.ndarray) -> np.ndarray:
        """The data moved to the scale of ``eta``, for SVD-based starts (``init="svd"``)."""
        return x

    def eta_of_mean(self, mean: Array) -> Array:
        r"""The :math:`\eta` whose mean is ``mean`` (the inverse of :meth:`mean`), kept finite.

        Starts the intercepts (:func:`bayesfactor.solvers.init.intercept_start`) from
        the means of the data. ``mean`` has the data's number of modes, size 1 along
        those averaged over (so that a likelihood with arrays of its own, an
        :class:`Offset` or :class:`Blocks`, can tell which entries it summarises).
        Identity here (Gaussian, Laplace).
        """
        return mean

    def check_shape(self, shape: tuple[int, ...]) -> None:  # noqa: B027 (optional hook)
        """Check that the likelihood's own arrays (if any) fit data of ``shape``."""

    def restrict(self, index: tuple[np.ndarray, ...], pointwise: bool) -> Likelihood:
        """The likelihood of part of the data: ``index`` holds 1-D int arrays, one per mode.

        ``pointwise``: the entries ``(index[0][n], index[1][n], ...)``, as a 1-D array;
        else the block ``np.ix_(*index)``. Itself here (no arrays of its own).
        """
        return self

    def check_data(self, x: np.ndarray, mask: np.ndarray) -> None:
        """Validate the data ``x`` (full array) where ``mask`` is True; raise ``ValueError``."""
        self.validate(observed(x, mask))

    def data_scale(self, x: np.ndarray, mask: np.ndarray) -> float:
        """Typical magnitude of ``eta`` for random starts, from the observed data."""
        return self.init_scale(observed(x, mask))

    def validate(self, x: np.ndarray) -> None:  # noqa: B027 (optional hook: real data pass)
        """Check the observed entries ``x`` (1-D NumPy array); raise ``ValueError``."""

    def pmf_problem(self, x: np.ndarray, mask: np.ndarray) -> str | None:
        """Why the observed data are outside the support of the pmf (None: they are not).

        :meth:`check_data` accepts what the MAP fit is defined for; this tells, for
        uses that evaluate the density itself (log-likelihoods, sampling, CV scores),
        what does not fit its support, with the fix. None here: every value
        ``validate`` accepts is in the support.
        """
        return None

    # --- a parameter that may be Estimated (Gaussian scale, von Mises concentration) ---

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


def _masked_sum(mask: Array, values: Array) -> tuple[Array, Array]:
    """(number of observed entries, sum of ``values`` over them)."""
    seen = jnp.broadcast_to(mask, jnp.shape(values))
    return jnp.sum(seen, dtype=values.dtype), jnp.sum(jnp.where(seen, values, 0.0))


def _floor(eta: Array) -> Array:
    return jnp.maximum(eta, jnp.finfo(eta.dtype).eps)


def _first_bad(x: np.ndarray, bad: np.ndarray) -> str:
    values = x[bad]
    return f"found {values.size} such values (first: {values[0].item()!r})"


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
    admits_hals: ClassVar[bool] = True

    def __post_init__(self):
        _check_positive("scale", self.scale, "Gaussian")

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
        n, total = _masked_sum(mask, (x - eta) ** 2)
        a, b = estimate.concentration, estimate.rate
        return jnp.sqrt((b + 0.5 * total) / (a + 1.0 + 0.5 * n))


@pytree_dataclass
class Laplace(Likelihood):
    r"""Real-valued data with Laplace noise: the absolute loss, robust to outliers.

    .. math::
        -\log p(X \mid \eta) = \sum_{i \in \Omega} \frac{|X_i - \eta_i|}{b} + \log 2b

    Block updates majorize :math:`|r| \le r^2 / (2|r_0|) + |r_0|/2`
    (iteratively reweighted least squares) and keep a line search, because the
    bound is not tight for residuals below ``1e-4 * b``.

    Parameters
    ----------
    scale : float or Estimated, default=1.0
        Scale :math:`b` (mean absolute deviation); must be > 0. ``bf.Estimated()``
        fits it with the factors (prior :math:`b \sim \text{InvGamma}`).

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.Model(likelihood=bf.likelihoods.Laplace(), rank=2, priors=bf.Flat()).rank
    2
    """

    cli_names: ClassVar = {"laplace": {}}

    scale: float | Estimated = 1.0
    parameter: ClassVar[str] = "scale"

    def __post_init__(self):
        _check_positive("scale", self.scale, "Laplace")

    def log_prob(self, x, eta):  # noqa: D102
        s = self.parameter_value
        return -jnp.abs(x - eta) / s - jnp.log(2 * s)

    def energy(self, x, eta):  # noqa: D102
        s = self.parameter_value
        e = jnp.abs(x - eta) / s
        return e + jnp.log(s) if self.estimates() else e

    def mean(self, eta):  # noqa: D102
        return eta

    def distribution(self, eta):  # noqa: D102
        return dist.Laplace(eta, self.parameter_value)

    def weight(self, x, eta):  # noqa: D102
        # IRLS weight 1 / (b |r|), floored where |r| < 1e-4 b to stay finite.
        s = self.parameter_value
        return 1.0 / (s * jnp.maximum(jnp.abs(x - eta), 1e-4 * s))

    def validate(self, x):  # noqa: D102
        # The IRLS floor is 1e-4 b: data far below a fixed scale are not resolved
        # (measured: data of size 1e-10 with b = 1 stopped at relative error 0.6).
        size = float(np.max(np.abs(x))) if x.size else 0.0
        if not self.estimates() and 0 < size < 1e-3 * float(self.scale):
            raise ValueError(
                f"LaplaceLikelihood(scale={self.scale}) on data no larger than {size:.2g}: the "
                "scale should be near the data's noise level. Pass scale of that order, "
                "scale=bf.Estimated(), or rescale X."
            )

    def parameter_prior(self, estimate):  # noqa: D102
        return dist.InverseGamma(estimate.concentration, estimate.rate), 1.0

    def _map_parameter(self, estimate, x, mask, eta):
        n, total = _masked_sum(mask, jnp.abs(x - eta))
        return (estimate.rate + total) / (estimate.concentration + 1.0 + n)


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

    def log_prob(self, x, eta):  # noqa: D102
        return x * eta - jnp.logaddexp(0.0, eta)

    def mean(self, eta):  # noqa: D102
        return 1.0 / (1.0 + jnp.exp(-eta))

    def distribution(self, eta):  # noqa: D102
        return dist.Bernoulli(logits=eta)

    def weight(self, x, eta):  # noqa: D102
        return jnp.full_like(eta, 0.25)

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
                f"Bernoulli data must be 0 or 1 where observed; {_first_bad(x, bad)}. "
                "Binarise X (e.g. X > 0), or use Gaussian for real-valued data."
            )


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
            f"{_first_bad(x, bad)}. The MAP fit ({fit}) is defined for them, but "
            "log-likelihoods (with their log x! term), CV scores, LOO/WAIC and posterior "
            "predictive draws are not those of a count model. Round the data "
            "(np.round(X)) if they are counts, or use a likelihood for real-valued data "
            "(bf.Gaussian, bf.LaplaceLikelihood)."
        )

    def validate(self, x):  # noqa: D102
        bad = x < 0
        if bad.any():
            raise ValueError(
                f"Poisson data must be non-negative counts; {_first_bad(x, bad)}. "
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

    def __post_init__(self):
        _check_positive("concentration", self.concentration, "VonMises")
        if isinstance(self.concentration, Estimated) and self.concentration.concentration < 1:
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
        n, total = _masked_sum(mask, jnp.cos(x - eta))
        a, b = estimate.concentration, estimate.rate

        def slope(log_k):  # derivative of the objective in kappa: increasing for a >= 1
            k = jnp.exp(log_k)
            return n * i1e(k) / i0e(k) + b - (a - 1.0) / k - total

        def bisect(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            up = slope(mid) > 0
            return jnp.where(up, lo, mid), jnp.where(up, mid, hi)

        dtype = jnp.result_type(eta)
        lo, hi = lax.fori_loop(0, 60, bisect, (jnp.asarray(-12.0, dtype), jnp.asarray(12.0, dtype)))
        return jnp.exp(0.5 * (lo + hi))

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


@pytree_dataclass
class Offset(Likelihood):
    r"""A likelihood with a known offset added to the natural parameter.

    .. math:: X_i \sim p_{\text{base}}(\,\cdot \mid \eta_i + o_i)

    ``o`` is data, not a parameter: the log of each cell's library size or of each
    bin's width for a log-link Poisson model (exposure, so the factors model rates),
    a known baseline, or a fitted mean. Every method of ``base`` sees
    :math:`\eta + o`; ``predict`` includes it. The offset is traced: fits with new
    offsets of the same shape reuse the compiled program.

    Parameters
    ----------
    base : Likelihood
        The observation model, e.g. ``bf.Poisson()``.
    offset : array_like
        Broadcastable to the data's shape (e.g. ``log_exposure[:, None]`` for one
        value per row); finite.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> exposure = np.array([1.0, 10.0, 100.0])                # e.g. library sizes
    >>> lik = bf.Offset(bf.Poisson(), np.log(exposure)[:, None])
    >>> X = np.random.default_rng(0).poisson(0.5 * exposure[:, None], size=(3, 40))
    >>> fit = bf.fit(bf.Model(lik, 1, bf.Normal(3.0)), X)
    >>> rates = np.exp(fit.eta())                             # per unit of exposure
    >>> bool(np.allclose(rates.mean(axis=1), 0.5, rtol=0.6))
    True
    """

    base: Likelihood = None
    offset: Any = 0.0

    def __post_init__(self):
        if not isinstance(self.base, Likelihood) or isinstance(self.base, Offset):
            raise TypeError(
                f"Offset: base must be a bayesfactor likelihood such as bf.Poisson() (not an "
                f"Offset); got {self.base!r}."
            )
        offset = np.asarray(self.offset)
        if not np.issubdtype(offset.dtype, np.number) or not np.isfinite(offset).all():
            raise ValueError("Offset: offset must be a finite numeric array.")
        object.__setattr__(self, "offset", offset.astype(float))

    def __repr__(self) -> str:
        return f"Offset({self.base!r}, offset of shape {np.shape(self.offset)})"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Offset
            and self.base == other.base
            and np.shape(self.offset) == np.shape(other.offset)
            and bool(np.array_equal(self.offset, other.offset))
        )

    @classmethod
    def traced(cls, base: Likelihood, offset: Any) -> Offset:
        """An Offset built inside compiled code (``offset`` may be a tracer; no checks)."""
        return unchecked_replace(object.__new__(cls), base=base, offset=offset)

    support = property(lambda self: self.base.support)
    exact_quadratic = property(lambda self: self.base.exact_quadratic)
    majorizes = property(lambda self: self.base.majorizes)
    constant_weight = property(lambda self: self.base.constant_weight)
    exact_fit = property(lambda self: self.base.exact_fit)

    def _shift(self, eta):
        return eta + jnp.broadcast_to(jnp.asarray(self.offset, eta.dtype), jnp.shape(eta))

    def log_prob(self, x, eta):  # noqa: D102
        return self.base.log_prob(x, self._shift(eta))

    def energy(self, x, eta):  # noqa: D102
        return self.base.energy(x, self._shift(eta))

    def mean(self, eta):  # noqa: D102
        return self.base.mean(self._shift(eta))

    def saturated_energy(self, x):  # noqa: D102
        return self.base.saturated_energy(x)

    def distribution(self, eta):  # noqa: D102
        return self.base.distribution(self._shift(eta))

    def weight(self, x, eta):  # noqa: D102
        return self.base.weight(x, self._shift(eta))

    def accepts_factor_support(self, support):  # noqa: D102
        return self.base.accepts_factor_support(support)

    def estimates(self):  # noqa: D102
        return self.base.estimates()

    def estimate_names(self):  # noqa: D102
        return self.base.estimate_names()

    def with_estimates(self, estimates):  # noqa: D102
        return Offset.traced(self.base.with_estimates(estimates), self.offset)

    def update_estimates(self, x, mask, eta):  # noqa: D102
        return self.base.update_estimates(x, mask, self._shift(eta))

    def estimate_priors(self):  # noqa: D102
        return self.base.estimate_priors()

    def validate(self, x):  # noqa: D102
        self.base.validate(x)

    def check_data(self, x, mask):  # noqa: D102
        self.base.check_data(x, mask)

    def pmf_problem(self, x, mask):  # noqa: D102
        return self.base.pmf_problem(x, mask)

    def data_scale(self, x, mask):  # noqa: D102
        return self.base.data_scale(x, mask)

    def restrict(self, index, pointwise):  # noqa: D102
        offset = np.asarray(self.offset)
        offset = offset.reshape((1,) * (len(index) - offset.ndim) + offset.shape)
        keep = [
            i if n > 1 else np.zeros(1 if not pointwise else i.size, int)
            for i, n in zip(index, offset.shape, strict=True)
        ]
        part = offset[tuple(keep) if pointwise else np.ix_(*keep)]
        return Offset.traced(self.base.restrict(index, pointwise), part)

    def check_shape(self, shape: tuple[int, ...]) -> None:  # noqa: D102
        self.base.check_shape(shape)
        try:
            ok = np.broadcast_shapes(np.shape(self.offset), shape) == tuple(shape)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"Offset: the offset of shape {np.shape(self.offset)} does not broadcast to "
                f"the data's shape {tuple(shape)}; give one value per entry, or e.g. "
                "offset[:, None] for one per row."
            )

    def init_scale(self, x):  # noqa: D102
        return self.base.init_scale(x)

    def eta_of_mean(self, mean):  # noqa: D102
        # The base's eta of the mean, less the mean offset over the same entries.
        offset = jnp.asarray(self.offset)
        shape = jnp.broadcast_shapes(offset.shape, jnp.shape(mean))
        axes = tuple(a for a, n in enumerate(jnp.shape(mean)) if n == 1 and shape[a] > 1)
        offset = jnp.mean(jnp.broadcast_to(offset, shape), axis=axes, keepdims=True)
        return self.base.eta_of_mean(mean) - offset

    def init_target(self, x):  # noqa: D102
        target = self.base.init_target(x)
        if np.shape(target) == np.shape(x) and np.ndim(x) == np.ndim(self.offset):
            return target - np.broadcast_to(self.offset, np.shape(x))
        return target


@pytree_dataclass
class Blocks(Likelihood):
    r"""One likelihood per block of indices along a mode: mixed data types in one table.

    .. math::
        X_{ij} \sim p_{b(j)}(\,\cdot \mid \eta_{ij}), \qquad
        \eta = \textstyle\sum_r U_{:r} \circ V_{:r}

    Column ``j`` (index ``j`` along ``mode``) belongs to block :math:`b(j)`: spike
    counts (Poisson), licks (Bernoulli), running speed (Gaussian) and head direction
    (von Mises) of the same time bins share the row factors (Udell et al. 2016,
    generalized low-rank models). Each block keeps its own parameters (a Gaussian's
    scale, a von Mises concentration): they set how much its entries weigh.

    Parameters
    ----------
    likelihoods : dict {name: (indices, Likelihood)}
        Each block's indices along ``mode`` (a ``slice`` with explicit bounds, or a
        sequence of ints) and its likelihood. Every index belongs to exactly one block.
    mode : int, default=1
        The mode whose indices the blocks split (1: columns of a matrix).

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> lik = bf.Blocks({"spikes": (slice(0, 3), bf.Poisson()),
    ...                  "speed": (slice(3, 4), bf.Gaussian(0.5))}, mode=1)
    >>> lik
    Blocks(spikes: Poisson(link='log') [3], speed: Gaussian(scale=0.5) [1]; mode=1)
    >>> X = np.column_stack([np.random.default_rng(0).poisson(2.0, size=(20, 3)),
    ...                      np.random.default_rng(1).normal(size=20)])
    >>> fit = bf.fit(bf.Model(lik, 1, bf.Normal(1.0)), X)
    >>> fit.predict().shape
    (20, 4)

    See Also
    --------
    Blocks.infer : the blocks of a DataFrame from its column dtypes.
    """

    likelihoods: Any = ()
    assignment: Any = None  # (n,) ints: the block of each index along `mode`
    mode: int = static_field(default=1)
    names: tuple = static_field(default=())
    labels: tuple = static_field(default=())  # the DataFrame's column names (infer)

    def __post_init__(self):
        spec = self.likelihoods
        if not isinstance(spec, dict) or not spec:
            raise TypeError(
                "Blocks: give a dict {name: (indices, likelihood)}, e.g. "
                "{'counts': (slice(0, 80), bf.Poisson()), 'speed': (slice(80, 81), "
                f"bf.Gaussian(0.5))}}; got {spec!r}."
            )
        if isinstance(self.mode, bool) or not isinstance(self.mode, int) or self.mode < 0:
            raise ValueError(f"Blocks: mode must be an int >= 0; got {self.mode!r}.")
        owner: dict[int, str] = {}
        liks = []
        for name, value in spec.items():
            if not (isinstance(value, tuple) and len(value) == 2):
                raise TypeError(f"Blocks: block {name!r} must be (indices, likelihood).")
            index, lik = value
            if not isinstance(lik, Likelihood) or isinstance(lik, (Blocks, Offset)):
                raise TypeError(
                    f"Blocks: block {name!r} needs a likelihood such as bf.Poisson(); got {lik!r}."
                )
            if isinstance(index, slice):
                if index.stop is None:
                    raise ValueError(
                        f"Blocks: block {name!r}: give the slice's end, e.g. slice(0, 80)."
                    )
                index = range(*index.indices(index.stop))
            for i in np.asarray(list(index), dtype=int).ravel():
                if i < 0 or i in owner:
                    problem = "negative" if i < 0 else f"also in block {owner[i]!r}"
                    raise ValueError(f"Blocks: index {i} of block {name!r} is {problem}.")
                owner[int(i)] = name
            liks.append(lik)
        n = max(owner) + 1 if owner else 0
        missing = sorted(set(range(n)) - set(owner))
        if not owner or missing:
            raise ValueError(
                f"Blocks: indices {missing[:5]} along mode {self.mode} belong to no block; "
                "every index needs exactly one likelihood."
            )
        names = list(spec)
        assignment = np.array([names.index(owner[i]) for i in range(n)])
        object.__setattr__(self, "likelihoods", tuple(liks))
        object.__setattr__(self, "assignment", assignment)
        object.__setattr__(self, "names", tuple(str(k) for k in names))

    @classmethod
    def infer(cls, frame: Any, overrides: dict | None = None) -> Blocks:
        """Blocks for the columns of a DataFrame, chosen by dtype.

        ``bool`` -> ``Bernoulli()``, non-negative integers -> ``Poisson()`` (log
        link), other numbers -> ``Gaussian(scale)`` with the column's standard
        deviation as the scale. ``overrides`` maps column names to likelihoods
        (e.g. ``{"heading": bf.VonMises(2.0)}``); each distinct likelihood is one
        block. ``repr`` (and ``table()``) report the choice per column.

        Examples
        --------
        >>> import pandas as pd, bayesfactor as bf
        >>> df = pd.DataFrame({"lick": [True, False, True, True], "spikes": [0, 3, 1, 2],
        ...                    "speed": [0.5, 1.5, 0.5, 1.5]})
        >>> bf.Blocks.infer(df).table()  # doctest: +NORMALIZE_WHITESPACE
                 block           likelihood
        column
        lick    binary          Bernoulli()
        spikes  counts  Poisson(link='log')
        speed    speed  Gaussian(scale=0.5)
        """
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"Blocks.infer needs a pandas DataFrame; got {type(frame).__name__}.")
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(frame.columns)
        if unknown:
            raise ValueError(f"Blocks.infer: overrides name unknown columns {sorted(unknown)}.")
        groups: dict[str, tuple[list[int], Likelihood]] = {}
        for j, (column, series) in enumerate(frame.items()):
            lik = overrides[column] if column in overrides else _infer_one(series, column)
            kind = {Bernoulli: "binary", Poisson: "counts"}.get(type(lik), str(column))
            key = kind if kind not in groups or groups[kind][1] == lik else str(column)
            groups.setdefault(key, ([], lik))[0].append(j)
        blocks = cls({key: (index, lik) for key, (index, lik) in groups.items()}, mode=1)
        object.__setattr__(blocks, "labels", tuple(frame.columns))
        return blocks

    @classmethod
    def from_fields(cls, likelihoods, assignment, mode=1, names=(), labels=()) -> Blocks:
        """Rebuild from the stored fields (``bayesfactor.io.from_spec``)."""
        assignment = np.asarray(assignment, dtype=int)
        spec = {
            name: (np.flatnonzero(assignment == b), lik)
            for b, (name, lik) in enumerate(zip(names, likelihoods, strict=True))
        }
        blocks = cls(spec, mode=mode)
        object.__setattr__(blocks, "labels", tuple(labels))
        return blocks

    def table(self) -> Any:
        """The block and likelihood of every index along ``mode``, as a DataFrame."""
        import pandas as pd

        return pd.DataFrame(
            {
                "block": [self.names[b] for b in self.assignment],
                "likelihood": [repr(self.likelihoods[b]) for b in self.assignment],
            },
            index=pd.Index(self.labels, name="column") if self.labels else None,
        )

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Blocks
            and (self.likelihoods, self.mode, self.names, self.labels)
            == (other.likelihoods, other.mode, other.names, other.labels)
            and bool(np.array_equal(self.assignment, other.assignment))
        )

    def __repr__(self) -> str:
        counts = np.bincount(np.asarray(self.assignment), minlength=len(self.likelihoods))
        parts = [
            f"{name}: {lik!r} [{c}]"
            for name, lik, c in zip(self.names, self.likelihoods, counts, strict=True)
        ]
        return f"Blocks({', '.join(parts)}; mode={self.mode})"

    support = property(lambda self: constraints.real)
    exact_quadratic = property(lambda self: all(lik.exact_quadratic for lik in self.likelihoods))
    majorizes = property(lambda self: all(lik.majorizes for lik in self.likelihoods))
    exact_fit = property(lambda self: all(lik.exact_fit for lik in self.likelihoods))

    def restrict(self, index, pointwise):  # noqa: D102
        return unchecked_replace(  # entries: their blocks along the one axis they have
            self,
            assignment=np.asarray(self.assignment)[index[self.mode]],
            mode=0 if pointwise else self.mode,
        )

    def _in_block(self, b: int, shape) -> Array:
        axes = tuple(-1 if j == self.mode else 1 for j in range(len(shape)))
        return jnp.broadcast_to((jnp.asarray(self.assignment) == b).reshape(axes), shape)

    def _combine(self, fn, x, eta):
        """``fn(lik, x, eta)`` of each block where it applies (0 stands in for others' x)."""
        out = jnp.zeros(jnp.shape(eta), jnp.result_type(eta))
        for b, lik in enumerate(self.likelihoods):
            inside = self._in_block(b, jnp.shape(eta))
            out = jnp.where(inside, fn(lik, jnp.where(inside, x, 0.0), eta), out)
        return out

    def log_prob(self, x, eta):  # noqa: D102
        return self._combine(lambda lik, x, e: lik.log_prob(x, e), x, eta)

    def energy(self, x, eta):  # noqa: D102
        return self._combine(lambda lik, x, e: lik.energy(x, e), x, eta)

    def weight(self, x, eta):  # noqa: D102
        return self._combine(lambda lik, x, e: lik.weight(x, e), x, eta)

    def saturated_energy(self, x):  # noqa: D102
        return self._combine(lambda lik, x, e: lik.saturated_energy(x), x, x)

    def mean(self, eta):  # noqa: D102
        return self._combine(lambda lik, x, e: lik.mean(e), jnp.zeros_like(eta), eta)

    def distribution(self, eta):  # noqa: D102
        return _BlockDistribution(self, eta)

    def accepts_factor_support(self, support):  # noqa: D102
        return all(lik.accepts_factor_support(support) for lik in self.likelihoods)

    def estimates(self):  # noqa: D102
        return tuple(e for lik in self.likelihoods for e in lik.estimates())

    def estimate_names(self):  # noqa: D102
        return tuple(
            f"{name}_{block}"
            for block, lik in zip(self.names, self.likelihoods, strict=True)
            for name in lik.estimate_names()
        )

    def with_estimates(self, estimates):  # noqa: D102
        if not self.estimates():
            return self
        liks, i = [], 0
        for lik in self.likelihoods:
            n = len(lik.estimates())
            liks.append(lik.with_estimates(tuple(estimates[i : i + n])))
            i += n
        return unchecked_replace(self, likelihoods=tuple(liks))

    def update_estimates(self, x, mask, eta):  # noqa: D102
        out = []
        for b, lik in enumerate(self.likelihoods):
            if lik.estimates():
                inside = self._in_block(b, jnp.shape(eta))
                out.extend(lik.update_estimates(jnp.where(inside, x, 0.0), mask & inside, eta))
        return tuple(out)

    def estimate_priors(self):  # noqa: D102
        return tuple(p for lik in self.likelihoods for p in lik.estimate_priors())

    def check_shape(self, shape):  # noqa: D102
        if len(shape) <= self.mode or shape[self.mode] != len(self.assignment):
            raise ValueError(
                f"Blocks: the blocks cover {len(self.assignment)} indices along mode "
                f"{self.mode}, but the data have shape {tuple(shape)}."
            )

    def eta_of_mean(self, mean):  # noqa: D102
        if jnp.shape(mean)[self.mode] != len(self.assignment):
            return jnp.zeros_like(mean)  # a mean over several blocks has no one scale
        return self._combine(lambda lik, m, e: lik.eta_of_mean(m), mean, mean)

    def _split(self, x: np.ndarray, b: int) -> np.ndarray:
        return np.compress(np.asarray(self.assignment) == b, x, axis=self.mode)

    def check_data(self, x, mask):  # noqa: D102
        for b, (name, lik) in enumerate(zip(self.names, self.likelihoods, strict=True)):
            try:
                lik.check_data(self._split(x, b), self._split(mask, b))
            except ValueError as err:
                raise ValueError(f"block {name!r}: {err}") from None

    def pmf_problem(self, x, mask):  # noqa: D102
        problems = [
            f"block {name!r}: {problem}"
            for b, (name, lik) in enumerate(zip(self.names, self.likelihoods, strict=True))
            if (problem := lik.pmf_problem(self._split(x, b), self._split(mask, b)))
        ]
        return " ".join(problems) or None

    def data_scale(self, x, mask):  # noqa: D102
        scales = [
            lik.data_scale(self._split(x, b), self._split(mask, b))
            for b, lik in enumerate(self.likelihoods)
            if self._split(mask, b).any()
        ]
        return float(np.mean(scales)) if scales else 1.0

    def init_target(self, x):  # noqa: D102
        if np.ndim(x) <= self.mode or np.shape(x)[self.mode] != len(self.assignment):
            for lik in self.likelihoods:  # a check only: raises where undefined
                lik.init_target(x)
            return x
        out = np.array(x, dtype=float)
        for b, lik in enumerate(self.likelihoods):
            where = np.flatnonzero(np.asarray(self.assignment) == b)
            part = np.take(out, where, axis=self.mode)
            np.put_along_axis(
                out,
                where.reshape([-1 if j == self.mode else 1 for j in range(out.ndim)])
                + np.zeros_like(part, dtype=int),
                np.asarray(lik.init_target(part), dtype=float),
                axis=self.mode,
            )
        return out


def _infer_one(values: Any, name: Any = "X") -> Likelihood:
    """The likelihood a column (or a whole array) of this dtype gets (see Blocks.infer)."""
    import pandas as pd

    values = values if isinstance(values, pd.Series) else pd.Series(np.ravel(values))
    if pd.api.types.is_bool_dtype(values):
        return Bernoulli()
    if pd.api.types.is_integer_dtype(values) and values.min() >= 0:
        return Poisson()
    if pd.api.types.is_numeric_dtype(values):
        std = float(np.nanstd(values.to_numpy(dtype=float)))
        return Gaussian(std if std > 0 else 1.0)
    raise TypeError(
        f"cannot choose a likelihood for {name!r} of dtype {values.dtype}: only bool, "
        "integer and float data are modelled. Drop or encode it, or give a likelihood."
    )


def infer(X: Any) -> Likelihood:
    """The likelihood for data ``X`` chosen from its dtypes (``Model(likelihood="auto")``).

    A DataFrame gets :meth:`Blocks.infer` (one likelihood per kind of column; a
    single kind collapses to that likelihood), any other array one likelihood for
    its dtype: ``bool`` -> ``Bernoulli()``, non-negative integers -> ``Poisson()``,
    other numbers -> ``Gaussian(std)``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesfactor.likelihoods import infer
    >>> infer(np.array([[0, 3], [1, 2]]))
    Poisson(link='log')
    """
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        blocks = Blocks.infer(X)
        return blocks.likelihoods[0] if len(blocks.likelihoods) == 1 else blocks
    return _infer_one(X.values if hasattr(X, "dims") else X)


class _BlockDistribution(dist.Distribution):
    """The numpyro distribution of a :class:`Blocks` likelihood (one block per index)."""

    support = constraints.real

    def __init__(self, blocks: Blocks, eta: Array):
        self.blocks, self.eta = blocks, eta
        super().__init__(batch_shape=jnp.shape(eta))

    def log_prob(self, value):  # noqa: D102
        return self.blocks.log_prob(value, self.eta)

    def sample(self, key, sample_shape=()):  # noqa: D102
        import jax

        shape = tuple(sample_shape) + jnp.shape(self.eta)
        out = jnp.zeros(shape, jnp.result_type(self.eta))
        keys = jax.random.split(key, len(self.blocks.likelihoods))
        for b, lik in enumerate(self.blocks.likelihoods):
            draw = lik.distribution(self.eta).sample(keys[b], sample_shape)
            inside = jnp.broadcast_to(self.blocks._in_block(b, jnp.shape(self.eta)), shape)
            out = jnp.where(inside, draw.astype(out.dtype), out)
        return out
