r"""The abstract :class:`Likelihood`: what an observation model provides and declares.

Each likelihood is elementwise over a broadcastable natural parameter
:math:`\eta`; it gives the log-density of the data (``log_prob``), the mean
(``mean``, the inverse link), the matching numpyro distribution, a check of the
data (run in NumPy before any compilation) and the curvature the block
updates use (``weight``): the exact second derivative for Gaussian data, a
global upper bound (a majorizer, so updates are monotone) for Bernoulli,
Laplace and von Mises data, and the Newton curvature for Poisson (updates then
use a line search). Solvers and tools ask the declared capabilities below,
never which class they hold.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import scipy.linalg
from jax import Array
from numpyro.distributions import constraints

from bayesfactor._data import observed
from bayesfactor._registry import LIKELIHOODS
from bayesfactor.likelihoods.estimated import ParameterEstimates

__all__ = ["Likelihood", "NONNEGATIVE_SUPPORTS", "LINK_FLOOR"]

#: Supports that count as non-negative when a model checks its priors.
NONNEGATIVE_SUPPORTS = (constraints.nonnegative, constraints.positive, constraints.simplex)
#: Smallest mean (and, for Bernoulli, distance of the mean from 1) that
#: :meth:`Likelihood.eta_of_mean` maps to eta: an all-zero column starts its
#: intercept at log(1e-6) = -13.8 (logit: -13.8), finite, instead of -inf.
LINK_FLOOR = 1e-6


class Likelihood(ParameterEstimates, abc.ABC):
    """Abstract base of the observation models.

    A new likelihood provides ``log_prob``, ``mean``, ``distribution`` and
    ``weight``, declares ``support`` (of the data) and the capabilities below that
    hold for it, and extends ``validate`` if its data have a restricted support. A
    parameter that may be :class:`~bayesfactor.Estimated` is handled by
    :class:`~bayesfactor.likelihoods.estimated.ParameterEstimates`.
    """

    # --- declared capabilities (what solvers and tools ask) ---------------------------

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
    #: ``energy`` is :math:`(x - \eta)^2 / 2\sigma^2` with one :math:`\sigma` for every
    #: entry and no offset (Gaussian): Gram-form objectives, SVD bounds, compression.
    least_squares: ClassVar[bool] = False
    #: Column-wise proximal coordinate descent (HALS) is exact for it: a quadratic energy
    #: of eta with one weight (Gaussian, also inside an Offset: a shift keeps it quadratic).
    admits_hals: ClassVar[bool] = False
    #: The multiplicative MM update of KL-NMF applies (Poisson with the identity link).
    admits_multiplicative: ClassVar[bool] = False
    #: Sparse data are fitted by blocked dense passes over rows (a log or logit link,
    #: where zeros carry information: Poisson(link="log"), Bernoulli).
    admits_sparse_rows: ClassVar[bool] = False
    #: Name of the per-entry error of :meth:`error` in scores (``cross_validate``).
    error_name: ClassVar[str] = "mse"
    #: A higher :meth:`error` is better (accuracy), not worse.
    error_higher_is_better: ClassVar[bool] = False
    #: The block :meth:`Blocks.infer` gathers columns of this likelihood into (``"counts"``);
    #: None: each column with another one of it is a block named after the column.
    block_name: ClassVar[str | None] = None
    #: Names on the command line (``--likelihood NAME[:P]``) -> constructor arguments;
    #: ``P`` sets :attr:`parameter`. Empty: not offered there.
    cli_names: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LIKELIHOODS.add(cls)  # saved files and the command line find it by name

    # --- the density -------------------------------------------------------------------

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

    def error(self, x: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Elementwise error of the fitted mean ``mu`` for data ``x`` (NumPy; squared here)."""
        return (x - mu) ** 2

    # --- structure: factor supports, offsets, blocks, parts of the data ---------------

    def accepts_factor_support(self, support: constraints.Constraint) -> bool:
        """Whether a prior with this support gives valid parameters."""
        return True

    @property
    def base(self) -> Likelihood:
        """The likelihood without its known offset (an :class:`Offset`'s; itself here)."""
        return self

    def parts(self, shape: tuple[int, ...]) -> tuple[tuple[str, Likelihood, np.ndarray], ...]:
        """``(name, likelihood, where)`` per part with a likelihood of its own (Blocks).

        ``where`` is a boolean array broadcastable to ``shape``; empty here (one
        likelihood for every entry).
        """
        return ()

    def check_shape(self, shape: tuple[int, ...]) -> None:  # noqa: B027 (optional hook)
        """Check that the likelihood's own arrays (if any) fit data of ``shape``."""

    def restrict(self, index: tuple[np.ndarray, ...], pointwise: bool) -> Likelihood:
        """The likelihood of part of the data: ``index`` holds 1-D int arrays, one per mode.

        ``pointwise``: the entries ``(index[0][n], index[1][n], ...)``, as a 1-D array;
        else the block ``np.ix_(*index)``. Itself here (no arrays of its own).
        """
        return self

    # --- checks of the data (NumPy, before any compilation) ---------------------------

    def check_data(self, x: np.ndarray, mask: np.ndarray) -> None:
        """Validate the data ``x`` (full array) where ``mask`` is True; raise ``ValueError``."""
        self.validate(observed(x, mask))

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

    # --- starts: scales and targets on the scale of eta -------------------------------

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

    def data_scale(self, x: np.ndarray, mask: np.ndarray) -> float:
        """Typical magnitude of ``eta`` for random starts, from the observed data."""
        return self.init_scale(observed(x, mask))

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
