r"""Component matching: permutation, sign and scale of CP / NMF components.

A CP factorization :math:`\eta = \sum_r F_1[:, r] \circ \cdots \circ F_N[:, r]` is
unchanged when its components are permuted, when two modes of one component change
sign together, and when one mode of a component is scaled by :math:`c` and another
by :math:`1/c`. Comparing two factorizations (:func:`bayesfactor.similarity`) or
summarising posterior draws (:func:`bayesfactor.sampling.align`, used by
:func:`bayesfactor.sample` and :func:`bayesfactor.laplace`) first removes these
symmetries. Both use the same two steps here: :func:`congruence` scores every pair
of components by the product over modes of their absolute cosines, and
:func:`match` pairs them by the Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``), as tensortools' ``kruskal_align`` does.

References
----------
.. [1] Tomasi & Bro (2006), "A comparison of algorithms for fitting the PARAFAC
   model", Comput. Stat. Data Anal. 50(7) (the congruence of components).
.. [2] Williams et al. (2018), Neuron 98(6), doi:10.1016/j.neuron.2018.05.015
   (tensortools' ``kruskal_align``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["congruence", "match", "align"]


def _unit(a: np.ndarray) -> np.ndarray:
    """Columns (axis -2 is the mode's index) scaled to norm 1; zero columns kept at 0."""
    norm = np.linalg.norm(a, axis=-2, keepdims=True)
    return a / np.where(norm > 0, norm, 1.0)


def congruence(factors_a: Sequence[Any], factors_b: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    r"""Congruence of every component of ``a`` with every component of ``b``.

    .. math::
        c_k[r, s] = \frac{\langle F^a_k[:, r], F^b_k[:, s] \rangle}
        {\|F^a_k[:, r]\| \, \|F^b_k[:, s]\|}, \qquad
        \text{score}[r, s] = \prod_k |c_k[r, s]|

    (a zero column has cosine 0 with everything). The score is 1 for the same
    component up to scale and sign, 0 when one mode is orthogonal.

    Parameters
    ----------
    factors_a : sequence of arrays, shape (..., n_k, R)
        One array per mode; leading (batch) dims, e.g. posterior draws, allowed.
    factors_b : sequence of arrays, shape (..., n_k, S)
        Same modes; leading dims broadcast against ``a``'s.

    Returns
    -------
    score : numpy array, shape (..., R, S)
        Product over modes of the absolute cosines.
    cosines : numpy array, shape (N, ..., R, S)
        The signed cosines of each mode.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesfactor.alignment import congruence
    >>> a = (np.eye(3, 2), np.ones((2, 2)))
    >>> score, _ = congruence(a, (a[0][:, ::-1], -a[1]))
    >>> score.round(6).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    a = [np.asarray(f, dtype=float) for f in factors_a]
    b = [np.asarray(f, dtype=float) for f in factors_b]
    if len(a) != len(b) or any(x.shape[-2] != y.shape[-2] for x, y in zip(a, b, strict=True)):
        raise ValueError(
            "the two factorizations must describe data of the same shape; got modes of "
            f"sizes {[x.shape[-2] for x in a]} and {[y.shape[-2] for y in b]}."
        )
    cosines = np.stack(
        [np.einsum("...nr,...ns->...rs", _unit(x), _unit(y)) for x, y in zip(a, b, strict=True)]
    )
    return np.prod(np.abs(cosines), axis=0), cosines


def match(score: np.ndarray) -> np.ndarray:
    r"""Pair components to maximise the total score (Hungarian algorithm).

    For each leading (batch) index, ``scipy.optimize.linear_sum_assignment`` finds the
    one-to-one pairing of the rows (components of ``a``) and columns (components of
    ``b``) of ``score`` with the largest sum.

    Parameters
    ----------
    score : array, shape (..., R, S)
        E.g. the first output of :func:`congruence`.

    Returns
    -------
    numpy array of int, shape (..., S)
        ``perm[..., s]``: the component of ``a`` matched to component ``s`` of ``b``,
        -1 for the ``S - R`` columns left unmatched when ``R < S``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesfactor.alignment import match
    >>> match(np.array([[0.1, 0.9], [0.8, 0.2]])).tolist()
    [1, 0]
    """
    score = np.asarray(score, dtype=float)
    batch = score.shape[:-2]
    flat = score.reshape((-1, *score.shape[-2:]))
    perm = np.full((flat.shape[0], score.shape[-1]), -1, dtype=int)
    for i, s in enumerate(flat):
        rows, cols = linear_sum_assignment(s, maximize=True)
        perm[i, cols] = rows
    return perm.reshape((*batch, score.shape[-1]))


def align(
    draws: Sequence[Any],
    reference: Sequence[Any],
    *,
    flip: Sequence[bool] | None = None,
    permute: bool = True,
    rescale: bool = True,
) -> tuple[np.ndarray, ...]:
    r"""Align draws of the factors to a reference: permutation, sign, then scale.

    For every draw, i) component :math:`r` of the draw is matched to component
    :math:`q` of the reference by :func:`match` on :func:`congruence` (the product
    over modes of :math:`|\cos(F_k^{draw}[:, r], F_k^{ref}[:, q])|`); ii) on the
    modes that may change sign (``flip``), signs are flipped in pairs so that each
    component's cosine with the reference is non-negative on all of them but the
    last, which takes the product of the flips; iii) with ``rescale``, each
    component's scale is moved between the modes so that its column norms are the
    reference's times one common factor,

    .. math::
        F_k[:, r] \leftarrow F_k[:, r] \, \frac{m_{k r} \, g_r}{n_{k r}}, \qquad
        g_r = \Big(\prod_k \frac{n_{k r}}{m_{k r}}\Big)^{1/N},

    with :math:`n_{kr}` and :math:`m_{kr}` the norms of the draw's and the
    reference's column (the multipliers have product 1; a component with a zero
    column is left as it is). The CP product :math:`\eta` of every draw is unchanged
    by all three steps; only the representative of the draw among the factorizations
    with that :math:`\eta` changes. Without step iii, draws of
    :math:`(U c, V / c)` wander along the scale that only the priors pin down, and
    quantiles of one mode (credible bands) are not on the reference's scale.

    Parameters
    ----------
    draws : sequence of arrays, shape (..., n_k, rank)
        One array of draws per mode, with the same leading (draw) dimensions.
    reference : sequence of arrays, shape (n_k, rank)
        One factor matrix per mode (e.g. the MAP).
    flip : sequence of bool, optional
        Per mode, whether its sign may flip (True for real-valued factors with a
        symmetric prior; False for non-negative ones). Default: every mode.
    permute : bool, default=True
        Whether to match components. False keeps each draw's order (only signs
        are flipped): the right choice when a mode held fixed breaks the
        permutation symmetry, as in ``sample(..., fixed=...)``.
    rescale : bool, default=True
        Whether to move each component's scale between the modes (step iii). With
        one mode there is nothing to move.

    Returns
    -------
    tuple of numpy arrays, shapes and dtypes as ``draws``
        The aligned draws.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesfactor.alignment import align
    >>> rng = np.random.default_rng(0)
    >>> ref = (rng.normal(size=(5, 2)), rng.normal(size=(4, 2)))
    >>> swapped = (-3 * ref[0][None, :, ::-1], -ref[1][None, :, ::-1] / 3)   # one draw
    >>> out = align(swapped, ref)
    >>> bool(np.allclose(out[0][0], ref[0]) and np.allclose(out[1][0], ref[1]))
    True
    """
    ref = [np.asarray(f, dtype=float) for f in reference]
    rank = ref[0].shape[1]
    flip = (True,) * len(ref) if flip is None else tuple(bool(b) for b in flip)
    if len(draws) != len(ref) or len(flip) != len(ref):
        raise ValueError(
            f"draws, reference and flip need one entry per mode; got {len(draws)}, "
            f"{len(ref)} and {len(flip)}."
        )
    batch = np.shape(draws[0])[:-2]
    d, dtypes = [], []
    for k, (f, r) in enumerate(zip(draws, ref, strict=True)):
        f = np.asarray(f)
        if f.shape != batch + r.shape:
            raise ValueError(
                f"draws for mode {k} have shape {f.shape}; expected {batch + r.shape} "
                "(draw dimensions, then the reference's shape)."
            )
        dtypes.append(f.dtype if f.dtype.kind == "f" else np.dtype(float))
        d.append(f.reshape((-1, *r.shape)).astype(float))
    num = d[0].shape[0]

    # i) permutation. cos[k, s, r, q]: cosine of draw s's component r with reference q.
    score, cos = congruence(d, ref)
    perm = match(score) if permute else np.tile(np.arange(rank), (num, 1))
    d = [np.take_along_axis(f, perm[:, None, :], axis=-1) for f in d]
    # ii) paired sign flips, from the signed cosine of each matched pair: (draws, rank).
    diagonal = np.arange(rank)
    signed = [np.take_along_axis(c, perm[:, :, None], axis=1)[:, diagonal, diagonal] for c in cos]
    modes = [k for k in range(len(ref)) if flip[k]]
    if len(modes) >= 2:
        parity = np.ones((num, rank))
        for k in modes[:-1]:
            s = np.where(signed[k] < 0, -1.0, 1.0)
            d[k] = d[k] * s[:, None, :]
            parity *= s
        d[modes[-1]] = d[modes[-1]] * parity[:, None, :]
    # iii) scale: norms n_k -> m_k g with g the geometric mean of n_k / m_k over modes.
    if rescale and len(ref) >= 2:
        n = np.stack([np.linalg.norm(f, axis=-2) for f in d])  # (N, draws, rank)
        m = np.stack([np.linalg.norm(r, axis=0) for r in ref])[:, None, :]  # (N, 1, rank)
        ok = np.all(n > 0, axis=0) & np.all(m > 0, axis=0)  # (draws, rank)
        log_ratio = np.log(np.where(ok, n, 1.0)) - np.log(np.where(m > 0, m, 1.0))
        log_mult = np.where(ok, log_ratio.mean(axis=0) - log_ratio, 0.0)
        # Exact product 1: the last mode takes the inverse of the others' product.
        log_mult[-1] = -log_mult[:-1].sum(axis=0)
        d = [f * np.exp(lm)[:, None, :] for f, lm in zip(d, log_mult, strict=True)]
    return tuple(
        f.reshape(batch + r.shape).astype(t, copy=False)
        for f, r, t in zip(d, ref, dtypes, strict=True)
    )
