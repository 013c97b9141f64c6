"""The convolutional model (seqNMF): :class:`ConvModel`, :func:`conv_product`, lag algebra."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import Array

from bayesfactor._pytree import pytree_dataclass, static_field
from bayesfactor.likelihoods import Likelihood
from bayesfactor.model import data_term
from bayesfactor.priors import NonNegative, Prior

__all__ = ["ConvModel", "conv_product"]


def _lag_stack(h: Array, lags: int) -> Array:
    """``(T, K) -> (T, L, K)``: entry ``[t, l]`` is ``h[t - l]`` (0 for ``t < l``)."""
    t, k = h.shape
    padded = jnp.concatenate([jnp.zeros((lags - 1, k), h.dtype), h])
    index = jnp.arange(t)[:, None] - jnp.arange(lags)[None, :] + lags - 1
    return padded[index]


def _unlag_sum(y: Array) -> Array:
    """``(T, L, K) -> (T, K)``: entry ``[s]`` is ``sum_l y[s + l, l]`` (terms past T are 0).

    The adjoint of :func:`_lag_stack`.
    """
    t, lags, k = y.shape
    padded = jnp.concatenate([y, jnp.zeros((lags - 1, lags, k), y.dtype)])
    index = jnp.arange(t)[:, None] + jnp.arange(lags)[None, :]
    return jnp.sum(padded[index, jnp.arange(lags)[None, :]], axis=1)


def _overlap(x: Array, w: Array) -> Array:
    r"""The transposed convolution :math:`(W \bar\circledast X)_{tk} = \sum_{nl} W_{nlk} X_{n,t+l}`.

    Returns shape ``(T, K)`` (seqNMF's ``WTX``, transposed).
    """
    return _unlag_sum(jnp.einsum("nt,nlk->tlk", x, w))


def _smooth(v: Array, lags: int) -> Array:
    """Sum of ``v`` over a window of ``2 lags - 1`` frames centred on each time (seqNMF's S)."""
    t = v.shape[0]
    cs = jnp.cumsum(jnp.concatenate([jnp.zeros((lags, v.shape[1]), v.dtype), v]), axis=0)
    cs = jnp.concatenate([cs, jnp.broadcast_to(cs[-1:], (lags - 1, v.shape[1]))])
    return cs[2 * lags - 1 : 2 * lags - 1 + t] - cs[:t]


def _off_diagonal(v: Array) -> Array:
    """``v @ (1 - I)``: for each component, the sum of the other components."""
    return jnp.sum(v, axis=1, keepdims=True) - v


def conv_product(w: Any, h: Any) -> Array:
    r"""The convolutional product :math:`\eta_{nt} = \sum_{l,k} W_{nlk} H_{t-l,k}`.

    Parameters
    ----------
    w : array_like, shape (N, lags, rank)
        Exemplars: one ``N × lags`` pattern per component.
    h : array_like, shape (T, rank)
        Timecourses: when each component's pattern starts.

    Returns
    -------
    Array of shape ``(N, T)``; with ``lags=1`` it is ``w[:, 0] @ h.T``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesfactor.conv import conv_product
    >>> w = np.array([[[1.0], [2.0]]])          # one neuron, lags 0 and 1, one component
    >>> h = np.array([[1.0], [0.0], [0.0]])     # one event at t = 0
    >>> conv_product(w, h).tolist()
    [[1.0, 2.0, 0.0]]
    """
    w, h = jnp.asarray(w), jnp.asarray(h)
    return jnp.einsum("nlk,tlk->nt", w, _lag_stack(h, w.shape[1]))


@pytree_dataclass
class ConvModel:
    r"""A convolutional factorization model (convolutional NMF, seqNMF).

    .. math::
        X_{nt} \sim p(\,\cdot \mid \eta_{nt}), \qquad
        \eta_{nt} = \sum_{l=0}^{L-1} \sum_k W_{nlk} H_{t-l,k}, \qquad
        W \sim p_W,\ H \sim p_H

    The MAP objective is :math:`-\sum_{(n,t) \in \Omega} \log p(X_{nt} \mid \eta_{nt})
    - \log p_W(W) - \log p_H(H) + \lambda \sum_{i \ne j} [(W \bar\circledast X) S H]_{ij}`
    (the last term is seqNMF's cross-orthogonality penalty; see :mod:`bayesfactor.conv`).

    Parameters
    ----------
    likelihood : Gaussian or Poisson(link="identity")
        ``Gaussian`` gives seqNMF's least squares; ``Poisson(link="identity")`` the
        KL / spike-count version.
    rank : int
        Number of sequences :math:`K`.
    lags : int
        Length :math:`L` of each exemplar in frames (1 gives ordinary NMF).
    priors : Prior or (Prior, Prior), default=NonNegative()
        One prior for both ``W`` and ``H``, or a pair ``(prior_W, prior_H)``; each
        ``NonNegative()``, ``Exponential(rate)`` (L1, seqNMF's ``lambdaL1W/H``) or
        ``HalfNormal(scale)``.
    xortho : float, default=0.0
        Strength :math:`\lambda \ge 0` of the cross-orthogonality penalty (seqNMF's
        ``lambda``); needs non-negative data.

    Raises
    ------
    TypeError, ValueError
        For an unsupported likelihood or prior, ``rank``/``lags`` < 1 or a
        negative ``xortho``.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> model = bf.ConvModel(bf.Gaussian(), rank=3, lags=20, xortho=0.01)
    >>> model.lags, model.rank
    (20, 3)
    >>> spikes = bf.ConvModel(bf.Poisson(link="identity"), rank=2, lags=10,
    ...                       priors=(bf.NonNegative(), bf.Exponential(0.5)))
    """

    likelihood: Likelihood
    rank: int = static_field()
    lags: int = static_field()
    priors: Prior | tuple[Prior, Prior] = None
    xortho: float = 0.0

    def __post_init__(self):
        lik = self.likelihood
        # The multiplicative updates: least squares (seqNMF) or KL (Poisson, identity link).
        if not isinstance(lik, Likelihood) or not (lik.least_squares or lik.admits_multiplicative):
            raise TypeError(
                f"ConvModel supports bf.Gaussian(scale) and bf.Poisson(link='identity'); got "
                f"{lik!r}. Use one of those (Poisson with the log link has no "
                "multiplicative update)."
            )
        if lik.estimates():
            raise ValueError(
                f"ConvModel does not estimate the noise scale yet; got {lik!r}. Give a "
                "number, e.g. bf.Gaussian(1.0) (with non-negative priors only the ratio of "
                "the scale to the priors' matters)."
            )
        for name in ("rank", "lags"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be a positive int; got {value!r}.")
            if value < 1:
                raise ValueError(f"{name} must be >= 1; got {name}={value}.")
        priors = NonNegative() if self.priors is None else self.priors
        if isinstance(priors, list):
            priors = tuple(priors)
        items = priors if isinstance(priors, tuple) else (priors, priors)
        if len(items) != 2:
            raise ValueError(
                f"priors must be one prior or a pair (prior_W, prior_H); got {len(items)} priors."
            )
        for name, prior in zip("WH", items, strict=True):
            # The multiplicative MM updates handle non-negative, separable priors (whose
            # penalty gradient g bounds the curvature by g / F: see solvers.conv).
            if not isinstance(prior, Prior) or not (prior.nonnegative and prior.separable):
                raise ValueError(
                    f"the prior on {name} is {prior!r}; ConvModel's multiplicative updates need "
                    "a non-negative separable prior: NonNegative(), Exponential(rate) (L1) or "
                    "HalfNormal(scale)."
                )
        object.__setattr__(self, "priors", priors)
        x = self.xortho
        if isinstance(x, bool) or not isinstance(x, (int, float, np.floating)):
            raise TypeError(f"xortho must be a number >= 0; got {x!r}.")
        if not (math.isfinite(x) and x >= 0):
            raise ValueError(f"xortho must be a finite number >= 0; got {x!r}.")
        object.__setattr__(self, "xortho", float(x))

    @property
    def intercepts(self) -> tuple:
        """No intercepts (``FitResult`` asks)."""
        return ()

    def factor_priors(self) -> tuple[Prior, Prior]:
        """The priors of ``W`` and ``H``."""
        return self.priors if isinstance(self.priors, tuple) else (self.priors, self.priors)

    def eta(self, factors: Sequence[Array]) -> Array:
        """The natural parameter :func:`conv_product` of ``factors = (W, H)``."""
        w, h = factors
        return conv_product(w, h)

    def log_prior(self, factors: Sequence[Array]) -> Array:
        """Log-density of ``W`` and ``H`` under their priors."""
        return sum(p.log_prob(f) for p, f in zip(self.factor_priors(), factors, strict=True))

    def log_likelihood(
        self, x: Array, mask: Array, factors: Sequence[Array], eta: Array | None = None
    ) -> Array:
        """Pointwise log-likelihood, 0 where ``mask`` is False."""
        lp = self.likelihood.log_prob(x, self.eta(factors) if eta is None else eta)
        return jnp.where(mask, lp, 0.0)

    def xortho_penalty(self, x: Array, factors: Sequence[Array]) -> Array:
        r"""The cross-orthogonality term :math:`\sum_{i\ne j} [(W \bar\circledast X) S H]_{ij}`.

        Without the factor :math:`\lambda`; ``x`` has its missing entries zeroed.
        """
        w, h = factors
        return jnp.sum(_smooth(_overlap(x, w), self.lags) * _off_diagonal(h))

    def objective(
        self,
        x: Array,
        mask: Array,
        factors: Sequence[Array],
        eta: Array | None = None,
        *,
        ortho: bool | None = None,
        constants: bool = True,
    ) -> Array:
        """The penalised negative log posterior (the one minimised quantity).

        ``ortho`` says whether to add the cross-orthogonality term; by default it is
        added unless ``xortho`` is a concrete 0 (under ``jit`` pass it explicitly to
        skip the term's cost when the penalty is off). ``constants=False`` sums
        ``likelihood.energy``: the same up to terms no parameter changes.
        """
        eta = self.eta(factors) if eta is None else eta
        value = data_term(self.likelihood, x, mask, eta, constants) - self.log_prior(factors)
        if ortho is None:
            ortho = not (isinstance(self.xortho, float) and self.xortho == 0.0)
        if ortho:
            value = value + self.xortho * self.xortho_penalty(jnp.where(mask, x, 0.0), factors)
        return value


# --- seqNMF tooling -------------------------------------------------------------------------
