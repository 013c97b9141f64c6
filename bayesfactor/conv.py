r"""Convolutional factorization (convolutional NMF / seqNMF) and its tooling.

Data :math:`X` (neurons :math:`N` × time :math:`T`) is explained by ``rank``
sequences, each an exemplar :math:`W_{:, :, k}` (neurons × ``lags``) played at the
times given by its timecourse :math:`H_{:, k}`:

.. math::
    \eta_{nt} = \sum_{l=0}^{L-1} \sum_k W_{nlk} H_{t-l,k}
    \qquad (H_{t-l,k} = 0 \text{ for } t < l)

With ``lags=1`` this is :math:`W H^\top`, the ordinary NMF. The MAP objective is the
negative log posterior plus, optionally, seqNMF's cross-orthogonality penalty
(Mackevicius et al. 2019)

.. math::
    \lambda \, \big\| (W \mathbin{\bar\circledast} X)\, S\, H \big\|_{1, i \ne j},
    \qquad (W \mathbin{\bar\circledast} X)_{tk} = \sum_{n,l} W_{nlk} X_{n,t+l},

where :math:`S` sums over a window of :math:`2L - 1` frames around each time:
components that overlap in time *and* in their neurons' activity are penalised.

Factors follow the library's "rank last" convention: ``W`` has shape
``(N, lags, rank)`` and ``H`` has shape ``(T, rank)``. Fit with :func:`bayesfactor.fit`.

References
----------
.. [1] Smaragdis (2004), "Non-negative matrix factor deconvolution",
   doi:10.1007/978-3-540-30110-3_63.
.. [2] Mackevicius, Bahle, Williams et al. (2019), "Unsupervised discovery of
   temporal sequences in high-dimensional datasets, with applications to
   neuroscience", eLife 8:e38471, doi:10.7554/eLife.38471.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from bayesfactor._pytree import pytree_dataclass, static_field
from bayesfactor.likelihoods import Likelihood
from bayesfactor.model import data_term
from bayesfactor.priors import NonNegative, Prior

__all__ = [
    "ConvModel",
    "conv_product",
    "sort_factors",
    "factor_power",
    "significance",
    "Significance",
]


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


def _wh(factors: Any) -> tuple[np.ndarray, np.ndarray]:
    w, h = factors.factors if hasattr(factors, "factors") else factors
    w, h = np.asarray(w, dtype=float), np.asarray(h, dtype=float)
    if w.ndim != 3 or h.ndim != 2 or w.shape[2] != h.shape[1]:
        raise ValueError(
            "factors must be (W, H) with W of shape (N, lags, rank) and H of shape "
            f"(T, rank); got shapes {w.shape} and {h.shape}."
        )
    return w, h


def factor_power(X: Any, factors: Any) -> np.ndarray:
    r"""Fraction of the data's power explained by each component (seqNMF's loadings).

    .. math::
        \text{power}_k = \max\Big(0, \frac{\sum_{nt} 2 X_{nt} \hat X^{(k)}_{nt}
        - (\hat X^{(k)}_{nt})^2}{\sum_{nt} X_{nt}^2}\Big),
        \qquad \hat X^{(k)} = W_{:,:,k} \circledast H_{:,k}

    Parameters
    ----------
    X : array_like, shape (N, T)
        The data (NaN entries count as 0).
    factors : FitResult or (W, H)
        ``W`` of shape ``(N, lags, rank)``, ``H`` of shape ``(T, rank)``.

    Returns
    -------
    numpy array, shape (rank,)

    Examples
    --------
    >>> import numpy as np
    >>> from bayesfactor.conv import conv_product, factor_power
    >>> w = np.ones((2, 1, 1)); h = np.ones((3, 1))
    >>> factor_power(np.asarray(conv_product(w, h)), (w, h)).tolist()
    [1.0]
    """
    w, h = _wh(factors)
    x = np.nan_to_num(np.asarray(X, dtype=float))
    total = np.sum(x**2)
    out = np.empty(w.shape[2])
    for k in range(w.shape[2]):
        part = np.asarray(conv_product(w[:, :, k : k + 1], h[:, k : k + 1]))
        out[k] = np.sum(2 * x * part - part**2) / total
    return np.maximum(out, 0.0)


def sort_factors(factors: Any, X: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort components and neurons for display, as seqNMF does.

    Components are ordered by explained power (:func:`factor_power`) when ``X`` is
    given, else by the time of their timecourse's peak. Neurons are grouped by the
    component in which they load most (in the new component order), and within a
    group ordered by the lag of their peak in it (seqNMF's
    ``helper.ClusterByFactor``); neurons with no loading come last.

    Parameters
    ----------
    factors : FitResult or (W, H)
        ``W`` of shape ``(N, lags, rank)``, ``H`` of shape ``(T, rank)``.
    X : array_like, shape (N, T), optional
        The data, to order components by explained power.

    Returns
    -------
    W : numpy array, shape (N, lags, rank)
        Components reordered (neurons are not: index with ``neuron_order``).
    H : numpy array, shape (T, rank)
        Components reordered.
    neuron_order : numpy array of int, shape (N,)
        Row order for display: ``W[neuron_order]`` and ``X[neuron_order]``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesfactor.conv import sort_factors
    >>> w = np.zeros((3, 4, 1)); w[0, 3, 0] = w[1, 0, 0] = w[2, 1, 0] = 1.0
    >>> sort_factors((w, np.ones((5, 1))))[2].tolist()
    [1, 2, 0]
    """
    w, h = _wh(factors)
    if X is not None:
        order = np.argsort(-factor_power(X, (w, h)), kind="stable")
    else:
        order = np.argsort(np.argmax(h, axis=0), kind="stable")
    w, h = w[:, :, order], h[:, order]
    n, lags, _ = w.shape
    flat = w.reshape(n, -1)  # index l * rank + k
    best = np.argmax(flat, axis=1)
    lag, component = np.divmod(best, w.shape[2])
    empty = flat.max(axis=1) <= 0
    component = np.where(empty, w.shape[2], component)
    lag = np.where(empty, lags, lag)
    neuron_order = np.lexsort((np.arange(n), lag, component))
    return w, h, neuron_order


#: Why a component was not tested (its p-value is NaN), as :func:`significance` decides.
_UNTESTED = {
    "empty": "empty exemplar",
    "single": "one neuron carries > 99.9 % of the power",
}


class Significance(NamedTuple):
    """Result of :func:`significance`; prints as a table (component, skewness, p-value).

    Attributes
    ----------
    pvalues : numpy array, shape (rank,)
        Permutation p-value of each component, in (0, 1]; NaN for a component that was
        not tested (see ``untested``).
    significant : numpy array of bool, shape (rank,)
        ``pvalues <= alpha / tested`` (Bonferroni over the tested components).
    skewness : numpy array, shape (rank,)
        Skewness of each component's overlap with the data.
    null_skewness : numpy array, shape (rank, num_null)
        The null distribution of each component's skewness.
    alpha : float
        The family-wise level.
    untested : tuple of str, length rank
        Empty for a tested component, else why it was not tested.
    """

    pvalues: np.ndarray
    significant: np.ndarray
    skewness: np.ndarray
    null_skewness: np.ndarray
    alpha: float = 0.05
    untested: tuple[str, ...] = ()

    def __repr__(self) -> str:
        rank, num_null = self.null_skewness.shape
        tested = [not reason for reason in self.untested] or [True] * rank
        n_tested = max(1, sum(tested))
        lines = [
            f"Significance: {int(self.significant.sum())} of {rank} components significant, "
            f"p <= {self.alpha / n_tested:.3g} (alpha={self.alpha:g} / {sum(tested)} tested, "
            f"num_null={num_null})",
            "  component  skewness   p-value  significant",
        ]
        for k in range(rank):
            if tested[k]:
                cells = f"{self.pvalues[k]:9.3g}  {'yes' if self.significant[k] else 'no':>11}"
            else:
                cells = f"{'nan':>9}  not tested: {self.untested[k]}"
            lines.append(f"  {k:9d}  {self.skewness[k]:8.3g}  {cells}")
        return "\n".join(lines)


def _skewness(v: np.ndarray) -> np.ndarray:
    """Biased sample skewness along axis 0 (MATLAB's ``skewness(v, 1)``)."""
    d = v - v.mean(axis=0)
    m2, m3 = np.mean(d**2, axis=0), np.mean(d**3, axis=0)
    return np.where(m2 > 0, m3 / np.where(m2 > 0, m2, 1.0) ** 1.5, 0.0)


@jax.jit
def _null_skewness(x: Array, w: Array, shifts: Array) -> Array:
    """Skewness of the overlap with data for each set of per-neuron circular lag shifts."""
    lags = w.shape[1]

    def one(shift):  # shift: (N, rank) ints
        index = (jnp.arange(lags)[None, :, None] - shift[:, None, :]) % lags
        w_null = jnp.take_along_axis(w, index, axis=1)
        o = _overlap(x, w_null)
        d = o - jnp.mean(o, axis=0, keepdims=True)
        m2, m3 = jnp.mean(d**2, axis=0), jnp.mean(d**3, axis=0)
        return jnp.where(m2 > 0, m3 / jnp.where(m2 > 0, m2, 1.0) ** 1.5, 0.0)

    return jax.lax.map(one, shifts)


def significance(
    X: Any,
    factors: Any,
    *,
    alpha: float = 0.05,
    num_null: int | None = None,
    key: int | Array = 0,
) -> Significance:
    r"""Which sequences are significant on held-out data (seqNMF's ``test_significance``).

    For each component :math:`k`, the overlap :math:`o_t = \sum_{n,l} W_{nlk}
    X_{n,t+l}` of its exemplar with the held-out data is skewed (large at the few
    times the sequence plays) when the sequence is real. The null distribution of the
    skewness comes from exemplars whose neurons are each circularly shifted by a
    random lag (the sequential order destroyed, each neuron's loading kept); the
    p-value is :math:`(1 + \#\{\text{null} > \text{observed}\}) / (1 + \text{num\_null})`
    (seqNMF [1]_ divides by num_null alone, which can exceed 1; Phipson & Smyth 2010),
    significant when :math:`p \le \alpha / K` (Bonferroni over the :math:`K` tested
    components). Components with an empty
    exemplar, or with one neuron carrying over 99.9 % of the power, get
    :math:`p = \mathrm{NaN}` (not tested: no sequence to shift), with the reason in
    ``untested``. Unlike seqNMF, which circularly shifts the data, the overlap
    is not wrapped around the end of the recording (times past it count 0).

    Parameters
    ----------
    X : array_like, shape (N, T_test)
        Held-out data (not used in the fit), e.g. the last part of the recording.
        NaN entries count as 0.
    factors : FitResult or (W, H)
        Only ``W`` (shape ``(N, lags, rank)``) is used.
    alpha : float, default=0.05
        Family-wise significance level.
    num_null : int, optional
        Number of null exemplars; default ``2 * ceil(K / alpha)`` (as seqNMF).
    key : int or jax.random key, default=0
        Seed of the random shifts.

    Returns
    -------
    Significance
        ``pvalues``, ``significant``, ``skewness``, ``null_skewness``, ``alpha``,
        ``untested``; printed, a table of the components (component, skewness,
        p-value, significant).

    References
    ----------
    .. [1] Mackevicius et al. (2019), eLife 8:e38471, "Testing the significance of
       each factor on held-out data".

    Examples
    --------
    >>> import numpy as np
    >>> from bayesfactor.conv import significance
    >>> w = np.zeros((4, 3, 1)); w[np.arange(3), np.arange(3), 0] = 1.0
    >>> X = np.zeros((4, 60)); X[np.arange(3)[:, None], np.arange(3)[:, None] + [5, 30]] = 1
    >>> result = significance(X, (w, np.ones((60, 1))), num_null=40)
    >>> bool(result.significant[0])
    True
    >>> result  # doctest: +NORMALIZE_WHITESPACE
    Significance: 1 of 1 components significant, p <= 0.05 (alpha=0.05 / 1 tested, num_null=40)
      component  skewness   p-value  significant
              0       5.2    0.0244          yes
    """
    from bayesfactor._data import as_key

    w, _ = _wh(factors)
    x = np.nan_to_num(np.asarray(X, dtype=float))
    if x.ndim != 2 or x.shape[0] != w.shape[0]:
        raise ValueError(
            f"X must be (N, T_test) with N={w.shape[0]} rows like W; got shape {x.shape}."
        )
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}.")
    flat = w.sum(axis=1)  # (N, rank)
    blank = ~(w > 0).any(axis=(0, 1))
    single = ~blank & (flat.max(axis=0) ** 2 > 0.999 * (flat**2).sum(axis=0))
    empty = blank | single
    untested = tuple(
        _UNTESTED["empty"] if b else _UNTESTED["single"] if o else ""
        for b, o in zip(blank, single, strict=True)
    )
    tested = max(1, int((~empty).sum()))  # seqNMF drops the empty ones before Bonferroni
    if num_null is None:
        num_null = 2 * math.ceil(tested / alpha)
    if isinstance(num_null, bool) or not isinstance(num_null, int) or num_null < 1:
        raise ValueError(f"num_null must be a positive int; got {num_null!r}.")
    # seqNMF: randi(L) shifts, i.e. 1..L (a shift of L is the identity).
    shifts = jax.random.randint(as_key(key), (num_null, *flat.shape), 1, w.shape[1] + 1)
    xj, wj = jnp.asarray(x), jnp.asarray(w)
    null = np.asarray(_null_skewness(xj, wj, shifts)).T  # (rank, num_null)
    skew = _skewness(np.asarray(_overlap(xj, wj)))
    pvalues = (1 + np.sum(null > skew[:, None], axis=1)) / (1 + num_null)
    # Untested components have no p-value (NaN: also never significant below).
    pvalues = np.where(empty, np.nan, pvalues)
    significant = ~empty & (np.nan_to_num(pvalues, nan=1.0) <= alpha / tested)
    return Significance(pvalues, significant, skew, null, float(alpha), untested)
