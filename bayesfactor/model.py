r"""The model: a likelihood, a rank and a prior per mode.

Data :math:`X` is an N-way array. With one factor matrix :math:`F_k` of shape
``(X.shape[k], rank)`` per mode, the natural parameter is the CP product

.. math:: \eta_{i_1 \dots i_N} = \sum_r F_1[i_1, r] \cdots F_N[i_N, r]

(a matrix is :math:`\eta = U V^\top`) and the MAP objective is the negative
log posterior :math:`-\sum_{i \in \Omega} \log p(X_i \mid \eta_i) - \sum_k \log p_k(F_k)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import Array
from numpyro.distributions import constraints

from bayesfactor._pytree import pytree_dataclass, static_field
from bayesfactor.likelihoods import Likelihood
from bayesfactor.observations import _LETTERS, data_term, dropped_constant, energy
from bayesfactor.priors import Prior

__all__ = ["Model", "cp_product", "data_term", "dropped_constant"]


def cp_product(factors: Sequence[Array]) -> Array:
    r"""The CP product :math:`\eta = \sum_r F_1[:, r] \circ \cdots \circ F_N[:, r]`.

    Parameters
    ----------
    factors : sequence of arrays, shape (n_k, rank)
        One factor matrix per mode.

    Returns
    -------
    Array of shape ``(n_1, ..., n_N)``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesfactor.model import cp_product
    >>> cp_product([np.ones((2, 1)), np.arange(3.0)[:, None]]).tolist()
    [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]
    """
    modes = _LETTERS[: len(factors)]
    spec = ",".join(f"{m}z" for m in modes) + "->" + modes
    return jnp.einsum(spec, *factors)


@pytree_dataclass
class Model:
    r"""A factorization model: likelihood + rank + priors.

    .. math::
        X_i \sim p(\,\cdot \mid \eta_i), \qquad
        \eta = \textstyle\sum_r F_1[:, r] \circ \cdots \circ F_N[:, r],
        \qquad F_k \sim p_k

    Parameters
    ----------
    likelihood : Likelihood or "auto", default="auto"
        The observation model, e.g. ``bf.Gaussian()`` or ``bf.Poisson()``.
        ``"auto"`` chooses it from the data's dtypes when fitting
        (:func:`bayesfactor.likelihoods.infer`: for a DataFrame, one likelihood per
        kind of column, reported by ``fit.model.likelihood.table()``) and, as
        generalized low-rank models do (Udell et al. 2016), adds a column intercept
        to a matrix and defaults the priors to ``Normal(1.0)`` (a flat prior has no
        MAP for binary columns). ``fit.model`` shows what was chosen.
    rank : int
        Number of components :math:`R` (a positive int; required).
    priors : Prior or tuple of Prior, default=Flat()
        One prior used for every mode, or a tuple with one prior per mode
        (its length must equal ``X.ndim`` when fitting).
    intercepts : tuple of int or {"rows", "columns"}, default=()
        Modes with an intercept: :math:`\eta \mathrel{+}= b^{(k)}` broadcast along
        mode ``k`` (one baseline per row for ``0`` / ``"rows"``, per column for ``1`` /
        ``"columns"``), flat prior, fitted jointly with the factors (started from
        the data's means, see :func:`~bayesfactor.solvers.init.intercept_start`). A
        column intercept makes Gaussian + Flat exactly PCA of the column-centred data.

    Raises
    ------
    TypeError
        If ``rank`` is not an int or the likelihood/priors have the wrong type.
    ValueError
        If ``rank < 1`` or a prior's support does not suit the likelihood
        (identity-link Poisson needs non-negative priors on every mode).

    Examples
    --------
    >>> import bayesfactor as bf
    >>> nmf = bf.Model(likelihood=bf.Gaussian(), rank=5, priors=bf.NonNegative())
    >>> semi_nmf = bf.Model(bf.Gaussian(), rank=5, priors=(bf.NonNegative(), bf.Flat()))
    >>> kl_nmf = bf.Model(bf.Poisson(link="identity"), rank=5, priors=bf.Exponential(1.0))
    >>> pca = bf.Model(bf.Gaussian(), rank=5, intercepts=("columns",))  # mean-centred
    >>> mixed = bf.Model(rank=3)  # likelihood per column from a DataFrame's dtypes
    """

    likelihood: Likelihood | str = "auto"
    rank: int = static_field(default=None)
    priors: Prior | tuple[Prior, ...] = None
    intercepts: tuple[int, ...] = static_field(default=())

    def __post_init__(self):
        if not isinstance(self.likelihood, Likelihood) and self.likelihood != "auto":
            raise TypeError(
                f"likelihood must be a bayesfactor likelihood such as bf.Gaussian(), or "
                f"'auto'; got {self.likelihood!r}."
            )
        if self.rank is None:
            raise TypeError("Model needs a rank, e.g. bf.Model(bf.Gaussian(), rank=3).")
        if isinstance(self.rank, np.integer):  # e.g. a NumPy loop variable
            object.__setattr__(self, "rank", int(self.rank))
        if isinstance(self.rank, bool) or not isinstance(self.rank, int):
            raise TypeError(
                f"rank must be a positive int; got {self.rank!r} "
                f"({type(self.rank).__name__}). Use e.g. rank=3."
            )
        if self.rank < 1:
            raise ValueError(f"rank must be a positive int; got rank={self.rank}. Use rank >= 1.")
        priors = self.priors
        if priors is None:
            from bayesfactor.priors import Flat, Normal

            priors = Normal(1.0) if self.likelihood == "auto" else Flat()
        if isinstance(priors, list):
            priors = tuple(priors)
        items = priors if isinstance(priors, tuple) else (priors,)
        if not items or not all(isinstance(p, Prior) for p in items):
            raise TypeError(
                "priors must be a bayesfactor prior (e.g. bf.Flat()) or a tuple with "
                f"one prior per mode; got {self.priors!r}."
            )
        object.__setattr__(self, "priors", priors)
        object.__setattr__(self, "intercepts", self._check_intercepts(self.intercepts))
        for k, prior in enumerate(items):
            if self.likelihood == "auto":  # every inferred likelihood takes any prior
                break
            if not self.likelihood.accepts_factor_support(prior.support):
                where = f"mode {k}" if isinstance(priors, tuple) else "every mode"
                raise ValueError(
                    f"{self.likelihood!r} needs non-negative factors, but the prior on "
                    f"{where} is {prior!r} (support: {prior.support}). Use NonNegative(), "
                    "Exponential(rate), HalfNormal(scale) or Smooth(scale, nonnegative=True) "
                    "on every mode, or link='log'."
                )

    def __repr__(self) -> str:
        extra = f", intercepts={self.intercepts}" if self.intercepts else ""
        return (
            f"Model(likelihood={self.likelihood!r}, rank={self.rank}, "
            f"priors={self.priors!r}{extra})"
        )

    def _check_intercepts(self, intercepts) -> tuple[int, ...]:
        names = {"rows": 0, "columns": 1}
        items = (intercepts,) if isinstance(intercepts, (str, int)) else tuple(intercepts)
        modes = []
        for item in items:
            mode = names.get(item, item) if isinstance(item, str) else item
            if isinstance(mode, bool) or not isinstance(mode, int) or mode < 0:
                raise ValueError(
                    f"intercepts must be mode indices (ints >= 0) or 'rows'/'columns'; got "
                    f"{intercepts!r}. E.g. intercepts=('columns',) for PCA's column means."
                )
            modes.append(mode)
        if (
            modes
            and self.likelihood != "auto"
            and not self.likelihood.accepts_factor_support(constraints.real)
        ):
            raise ValueError(
                f"{self.likelihood!r} needs a non-negative eta, so a real-valued intercept "
                "does not fit it; use bf.Poisson(link='log') for baselines of counts."
            )
        return tuple(sorted(set(modes)))

    def for_data(self, X: Any) -> Model:
        """The model with ``likelihood="auto"`` replaced by the one inferred from ``X``."""
        if not (isinstance(self.likelihood, str) and self.likelihood == "auto"):
            return self
        from bayesfactor.likelihoods import infer

        intercepts = self.intercepts or ((1,) if np.ndim(X) == 2 else ())
        return Model(infer(X), self.rank, self.priors, intercepts)

    def mode_priors(self, ndim: int) -> tuple[Prior, ...]:
        """The prior of each of the ``ndim`` modes.

        Raises ``ValueError`` if a per-mode tuple does not have ``ndim`` entries.
        """
        if not isinstance(self.priors, tuple):
            return (self.priors,) * ndim
        if len(self.priors) != ndim:
            raise ValueError(
                f"the model has {len(self.priors)} priors (one per mode) but X has "
                f"{ndim} modes. Give one prior per mode, or a single prior for all."
            )
        return self.priors

    def eta(self, factors: Sequence[Array]) -> Array:
        """The natural parameter: the CP product of ``factors``."""
        return cp_product(factors)

    def intercept_eta(
        self, intercepts: Sequence[Array], shape: tuple[int, ...], *, full: bool = True
    ) -> Array:
        """The intercepts' part of eta: each ``(n_k,)`` vector broadcast along its mode.

        ``full=False`` leaves it broadcastable to ``shape`` (size 1 along the modes
        without an intercept) instead of forming the whole array.
        """
        ones = (1,) * len(shape)
        total = jnp.zeros(
            shape if full else ones, intercepts[0].dtype if intercepts else jnp.float32
        )
        for k, b in zip(self.intercepts, intercepts, strict=True):
            total = total + b.reshape(tuple(-1 if j == k else 1 for j in range(len(shape))))
        return total

    def log_prior(self, factors: Sequence[Array]) -> Array:
        """Sum over modes of the priors' log-densities."""
        priors = self.mode_priors(len(factors))
        return sum(p.log_prob(f) for p, f in zip(priors, factors, strict=True))

    def log_likelihood(
        self, x: Array, mask: Array, factors: Sequence[Array], eta: Array | None = None
    ) -> Array:
        """Pointwise log-likelihood, 0 where ``mask`` is False.

        ``eta`` may be passed when it is already known (it must equal ``eta(factors)``).
        """
        lp = self.likelihood.log_prob(x, self.eta(factors) if eta is None else eta)
        return jnp.where(mask, lp, 0.0)

    def objective(
        self,
        x: Array,
        mask: Array,
        factors: Sequence[Array],
        eta: Array | None = None,
        *,
        constants: bool = True,
    ) -> Array:
        """The negative log posterior (the one minimised quantity).

        Includes the priors of the likelihood's :class:`~bayesfactor.Estimated`
        parameters, if any. ``constants=False`` sums ``likelihood.energy`` instead of
        the log-density: the same function of the parameters up to a constant.
        """
        nll = energy(x, self, mask, factors, eta, constants)  # any form (observations)
        return nll - self.log_prior(factors) - self.likelihood.log_prior_estimates()
