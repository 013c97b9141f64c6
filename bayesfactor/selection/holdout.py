"""Held-out entries as masks: :func:`holdout_masks` (speckled or by rows)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from bayesfactor._data import as_data, as_key
from bayesfactor.selection.batch import _check_positive_int

__all__ = ["holdout_masks", "SCHEMES"]

#: Holdout schemes of :func:`holdout_masks` / :func:`cross_validate`.
SCHEMES = ("speckled", "rows")


def _check_scheme(scheme: Any, axis: Any, ndim: int) -> None:
    if scheme not in SCHEMES:
        raise ValueError(
            f"scheme={scheme!r} is not a holdout scheme; use one of {SCHEMES}: 'speckled' "
            "holds out random entries, 'rows' random entries within random slices "
            "along `axis`."
        )
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis!r} is not a mode of X (ndim={ndim}); use 0 .. {ndim - 1}.")


def _check_holdout(holdout: Any) -> None:
    if (
        isinstance(holdout, bool)
        or not isinstance(holdout, numbers.Real)
        or not 0.0 < float(holdout) < 1.0
    ):
        raise ValueError(
            f"holdout={holdout!r} must be the fraction of observed entries held out, a "
            "number in (0, 1) such as holdout=0.1, or boolean masks (True = held out) of "
            "X's shape."
        )


def _permutation(key: jax.Array, n: int) -> np.ndarray:
    return np.asarray(jax.random.permutation(key, n))


def _disjoint_chunks(
    key: jax.Array, n: int, size: int, folds: int, fraction: float
) -> list[np.ndarray]:
    """``folds`` index sets of about ``size`` from ``range(n)``, disjoint within each pass.

    A pass is one random permutation cut into chunks; more folds than fit in a pass
    start a new pass (a fresh permutation). When ``1 / fraction`` is an integer
    :math:`k` (``fraction`` is about ``size / n``), a pass is cut into :math:`k`
    chunks whose sizes differ by at most one, so it covers every index exactly once:
    ``holdout=0.2, folds=5`` is 5-fold cross-validation whatever ``n`` is. Otherwise
    a pass is ``n // size`` chunks of ``size``.
    """
    # 1e-9: 1 / fraction for fraction = 1 / k must floor to k despite rounding.
    k = max(1, int(np.floor(1.0 / fraction + 1e-9)))
    if abs(k * fraction - 1.0) < 1e-9 and k <= n:
        per_pass = k
        sizes = np.full(per_pass, n // per_pass)
        sizes[: n % per_pass] += 1
    else:
        per_pass = max(1, n // size)
        sizes = np.full(per_pass, size)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    out, perm = [], None
    for f in range(folds):
        p, j = divmod(f, per_pass)
        if j == 0:
            perm = _permutation(jax.random.fold_in(key, p), n)
        out.append(perm[bounds[j] : bounds[j + 1]])
    return out


def _empty_training_slice(train: np.ndarray, observed: np.ndarray) -> tuple[int, int] | None:
    """(mode, index) of a slice that had observed entries but has no training entry."""
    for k in range(train.ndim):
        others = tuple(a for a in range(train.ndim) if a != k)
        had = observed.any(axis=others)
        has = train.any(axis=others)
        bad = np.flatnonzero(had & ~has)
        if bad.size:
            return k, int(bad[0])
    return None


def _masks(data, holdout: float, folds: int, scheme: str, axis: int, key: jax.Array) -> np.ndarray:
    observed = data.mask
    shape = observed.shape
    out = np.zeros((folds, *shape), dtype=bool)
    key_outer, key_inner = jax.random.split(key)
    if scheme == "speckled":
        index = np.flatnonzero(observed)
        size = round(holdout * index.size)
        if not 1 <= size < index.size:
            raise ValueError(
                f"holdout={holdout} of the {index.size} observed entries holds out {size}; "
                "at least 1 must be held out and 1 kept. Use a larger holdout or more data."
            )
        chunks = _disjoint_chunks(key_outer, index.size, size, folds, holdout)
        for f, chunk in enumerate(chunks):
            out[f].flat[index[chunk]] = True
    else:
        axis = axis % len(shape)
        n_rows = shape[axis]
        # Half of each chosen slice is held out (the other half trains its factor
        # row), so 2 * holdout of the slices are chosen; all of them above 1/2.
        n_chosen = max(1, min(n_rows, round(2 * holdout * n_rows)))
        within = min(1.0, holdout * n_rows / n_chosen)
        chunks = _disjoint_chunks(key_outer, n_rows, n_chosen, folds, min(1.0, 2 * holdout))
        for f, rows in enumerate(chunks):
            fold_key = jax.random.fold_in(key_inner, f)
            for row in rows:
                obs = np.moveaxis(observed, axis, 0)[row]
                index = np.flatnonzero(obs)
                size = min(index.size, max(1, round(within * index.size)))
                chunk = _permutation(jax.random.fold_in(fold_key, int(row)), index.size)[:size]
                np.moveaxis(out[f], axis, 0)[row].flat[index[chunk]] = True
    hint = (
        " (or scheme='speckled')."
        if scheme != "speckled"
        else ", another key, or mask out (mask=False) slices with very few observed entries."
    )
    for f in range(folds):
        bad = _empty_training_slice(observed & ~out[f], observed)
        if bad is not None:
            raise ValueError(
                f"holdout={holdout} with scheme={scheme!r} holds out every observed entry "
                f"of index {bad[1]} along mode {bad[0]} in fold {f}, so its factor row "
                "could not be fitted. Use a smaller holdout" + hint
            )
    return out


def holdout_masks(
    X: Any,
    holdout: float = 0.1,
    *,
    folds: int = 1,
    scheme: str = "speckled",
    axis: int = 0,
    key: int | jax.Array = 0,
    mask: Any = None,
) -> np.ndarray:
    r"""Random held-out sets of entries of ``X``, one boolean mask per fold.

    ``scheme="speckled"`` holds out :math:`\mathrm{round}(h\,|\Omega|)` entries drawn
    uniformly from the observed ones :math:`\Omega` (Wold 1978). ``scheme="rows"``
    holds out entries within a random subset of slices along ``axis`` (rows of a
    matrix, e.g. neurons of a neurons × trials matrix): :math:`\min(1, 2h)` of the
    slices are chosen and :math:`h / \min(1, 2h)` of each chosen slice's observed
    entries are held out (half of it when :math:`h \le 1/2`), so about :math:`h` of
    all entries are held out while every slice keeps training entries.

    Folds are disjoint within a *pass*: one random permutation of the entries
    (speckled) or slices (rows) cut into folds. When :math:`1/h` is an integer
    :math:`k` (speckled; :math:`1/\min(1, 2h)` for rows) a pass is :math:`k` folds
    whose sizes differ by at most one, so ``holdout=0.2, folds=5`` is 5-fold
    cross-validation: every observed entry is held out exactly once. Otherwise a
    pass is as many folds of :math:`\mathrm{round}(h\,|\Omega|)` entries as fit.
    Further folds start a new pass with a fresh permutation.

    Parameters
    ----------
    X : array_like
        The data (NaN = missing; missing entries are never held out).
    holdout : float in (0, 1), default=0.1
        Fraction of the observed entries held out in each fold.
    folds : int, default=1
        Number of masks.
    scheme : {"speckled", "rows"}, default="speckled"
        How entries are drawn (see above).
    axis : int, default=0
        The mode whose slices ``scheme="rows"`` chooses.
    key : int or jax.random key, default=0
        Seed; the same key gives the same masks.
    mask : array_like of bool, optional
        True where observed, combined with NaN-as-missing.

    Returns
    -------
    numpy.ndarray of bool, shape (folds, \*X.shape)
        True where an entry is held out in that fold.

    Raises
    ------
    ValueError
        For a holdout outside (0, 1), an unknown scheme, or a holdout that would
        leave a row (a slice along some mode) without training entries.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesfactor.selection import holdout_masks
    >>> masks = holdout_masks(np.zeros((10, 8)), 0.25, folds=4, key=0)
    >>> masks.shape, masks.sum(axis=(1, 2)).tolist()
    ((4, 10, 8), [20, 20, 20, 20])
    >>> int(masks.sum(axis=0).max())  # 4 folds of 1/4: each entry held out once
    1
    """
    data = as_data(X, mask)
    _check_holdout(holdout)
    _check_positive_int("folds", folds)
    _check_scheme(scheme, axis, len(data.shape))
    return _masks(data, float(holdout), int(folds), scheme, int(axis), as_key(key))


def _as_holdout(holdout: Any, folds: int, scheme: str, axis: int, key, data) -> np.ndarray:
    """Held-out masks (folds, *shape) from a fraction or from user masks."""
    if isinstance(holdout, (np.ndarray, jax.Array)) or (
        isinstance(holdout, Sequence) and not isinstance(holdout, str)
    ):
        masks = np.asarray(holdout)
        if (
            masks.dtype != np.bool_
            or masks.shape[-data.x.ndim :] != data.shape
            or (masks.ndim not in (data.x.ndim, data.x.ndim + 1))
        ):
            raise ValueError(
                f"holdout masks must be boolean arrays of X's shape {data.shape} (one fold) "
                f"or of shape (folds, *X.shape); got dtype {masks.dtype} and shape "
                f"{masks.shape}. Or pass a fraction such as holdout=0.1."
            )
        masks = masks.reshape(-1, *data.shape) & data.mask
        if folds not in (1, masks.shape[0]):
            raise ValueError(
                f"folds={folds} but {masks.shape[0]} holdout masks were given; leave "
                "folds at 1 or make it equal to the number of masks."
            )
        for f, m in enumerate(masks):
            if not m.any() or not (data.mask & ~m).any():
                raise ValueError(
                    f"holdout mask {f} holds out {int(m.sum())} of the "
                    f"{int(data.mask.sum())} observed entries; it must hold out at least "
                    "one and keep at least one."
                )
            bad = _empty_training_slice(data.mask & ~m, data.mask)
            if bad is not None:
                # That factor row would keep its random start: its test score means nothing.
                raise ValueError(
                    f"holdout mask {f} holds out every observed entry of index {bad[1]} "
                    f"along mode {bad[0]}, so its factor row could not be fitted. Keep "
                    "some entries of every slice for training (e.g. scheme='rows')."
                )
        return masks
    _check_holdout(holdout)
    _check_positive_int("folds", folds)
    _check_scheme(scheme, axis, data.x.ndim)
    return _masks(data, float(holdout), int(folds), scheme, int(axis), key)
