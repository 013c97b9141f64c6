"""seqNMF tooling: component power, sorting, and the significance of sequences."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from bayesfactor.conv.model import _overlap, conv_product

__all__ = ["sort_factors", "factor_power", "significance", "Significance"]


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
