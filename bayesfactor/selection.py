"""Model assessment: similarity of factorizations (component matching)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["similarity"]


def _factors(f: Any) -> tuple[np.ndarray, ...]:
    factors = getattr(f, "factors", f)  # a FitResult or a tuple of arrays
    return tuple(np.asarray(m, dtype=float) for m in factors)


def similarity(factors_a: Sequence[Any] | Any, factors_b: Sequence[Any] | Any) -> float:
    r"""Similarity of two factorizations in [0, 1], invariant to permutation and scale.

    Each component is normalised per mode; the similarity of component :math:`r`
    of ``a`` and :math:`s` of ``b`` is the product over modes of the absolute
    cosines :math:`\prod_k |\langle a_{k,r}, b_{k,s}\rangle|`. Components are
    matched by the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``);
    the score is the mean over the components of the larger factorization (an
    unmatched component counts 0), as in tensortools' ``kruskal_align``.

    Parameters
    ----------
    factors_a, factors_b : FitResult or sequence of arrays, shape (n_k, rank)
        Two factorizations of data of the same shape (ranks may differ).

    Returns
    -------
    float
        1 for the same components up to order, scale and sign; 0 for orthogonal ones.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> rng = np.random.default_rng(0)
    >>> a = (rng.normal(size=(6, 2)), rng.normal(size=(5, 2)))
    >>> b = (3 * a[0][:, ::-1], -a[1][:, ::-1])
    >>> round(bf.similarity(a, b), 6)
    1.0
    """
    a, b = _factors(factors_a), _factors(factors_b)
    if len(a) != len(b) or any(x.shape[0] != y.shape[0] for x, y in zip(a, b, strict=True)):
        raise ValueError(
            "the two factorizations must describe data of the same shape; got "
            f"{[x.shape for x in a]} and {[y.shape for y in b]}."
        )
    score = np.ones((a[0].shape[1], b[0].shape[1]))
    for x, y in zip(a, b, strict=True):
        nx = np.linalg.norm(x, axis=0)
        ny = np.linalg.norm(y, axis=0)
        x = x / np.where(nx > 0, nx, 1.0)
        y = y / np.where(ny > 0, ny, 1.0)
        score *= np.abs(x.T @ y)
    rows, cols = linear_sum_assignment(score, maximize=True)
    return float(score[rows, cols].sum() / max(score.shape))
