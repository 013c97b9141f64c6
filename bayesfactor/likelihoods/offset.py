"""Offset: a likelihood with a known offset added to the natural parameter."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from bayesfactor._pytree import pytree_dataclass, unchecked_replace
from bayesfactor.likelihoods._base import Likelihood

__all__ = ["Offset"]


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
    admits_hals = property(lambda self: self.base.admits_hals)  # the shift keeps E quadratic
    exact_fit = property(lambda self: self.base.exact_fit)
    admits_sparse_rows = property(lambda self: self.base.admits_sparse_rows)
    error_name = property(lambda self: self.base.error_name)
    error_higher_is_better = property(lambda self: self.base.error_higher_is_better)

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

    def error(self, x, mu):  # noqa: D102
        return self.base.error(x, mu)

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
