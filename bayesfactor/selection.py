r"""Model comparison and assessment: cross-validation, ensembles, similarity.

Held-out data are a **mask**: a fold is a boolean array of ``X``'s shape (True =
held out), and the fit of a fold is ``bf.fit(model, X, mask=observed & ~heldout)``
(same shapes, new mask), so the fits of all folds, restarts and ranks run batched in
one compiled program (:func:`bayesfactor.solvers._driver.fit_sweep`).
Held-out entries never reach the objective (they are zeroed and masked before
anything is compiled); they are scored afterwards by the likelihood's own
per-entry log-likelihood and by an error suited to the likelihood:

=====================  =============================================  ==================
likelihood             error (mean over scored entries)               better
=====================  =============================================  ==================
Gaussian, Laplace      ``mse``: :math:`(x - \mu)^2`                   lower
Poisson                ``deviance``: :math:`2(x\log(x/\mu) - x + \mu)`  lower
Bernoulli              ``accuracy``: :math:`[\,[\mu > 1/2] = x\,]`    higher
VonMises               ``circular_error``: :math:`1 - \cos(x - \mu)`  lower
=====================  =============================================  ==================

where :math:`\mu` is the fitted mean (``FitResult.predict()``).

References
----------
.. [1] Wold (1978), "Cross-validatory estimation of the number of components in
   factor and principal components models", Technometrics 20(4) (speckled holdout).
.. [2] Williams et al. (2018), "Unsupervised discovery of demixed, low-dimensional
   neural dynamics across multiple timescales through tensor component analysis",
   Neuron 98(6), doi:10.1016/j.neuron.2018.05.015 (ensembles, similarity, tensortools).
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from scipy.special import xlogy

from bayesfactor._data import as_data, as_key
from bayesfactor.alignment import congruence, match
from bayesfactor.likelihoods import (
    Bernoulli,
    Blocks,
    DataWarning,
    Gaussian,
    Laplace,
    Likelihood,
    Offset,
    Poisson,
    VonMises,
    warn_pmf_data,
)
from bayesfactor.model import Model
from bayesfactor.result import ConvergenceWarning, FitResult

__all__ = [
    "similarity",
    "cross_validate",
    "holdout_masks",
    "score",
    "fit_ensemble",
    "Ensemble",
    "SCHEMES",
    "compare",
]

#: Holdout schemes of :func:`holdout_masks` / :func:`cross_validate`.
SCHEMES = ("speckled", "rows")


# --- similarity ---------------------------------------------------------------------------


def _factors(f: Any) -> tuple[np.ndarray, ...]:
    factors = getattr(f, "factors", f)  # a FitResult or a tuple of arrays
    return tuple(np.asarray(m, dtype=float) for m in factors)


def similarity(factors_a: Sequence[Any] | Any, factors_b: Sequence[Any] | Any) -> float:
    r"""Similarity of two factorizations in [0, 1], invariant to permutation and scale.

    Each component is normalised per mode; the similarity of component :math:`r`
    of ``a`` and :math:`s` of ``b`` is the product over modes of the absolute
    cosines :math:`\prod_k |\langle a_{k,r}, b_{k,s}\rangle|`
    (:func:`bayesfactor.alignment.congruence`). Components are matched by the
    Hungarian algorithm (:func:`bayesfactor.alignment.match`, the matching that
    aligns posterior draws too);
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
    score, _ = congruence(a, b)
    perm = match(score)  # perm[s]: the component of a matched to b's s (-1: none)
    matched = perm >= 0
    return float(score[perm[matched], np.flatnonzero(matched)].sum() / max(score.shape))


# --- scores of a fit ----------------------------------------------------------------------


def _mse(x, mu):
    return (x - mu) ** 2


def _deviance(x, mu):
    # Poisson unit deviance; mu floored at machine epsilon as in the likelihood's log.
    mu = np.maximum(mu, np.finfo(float).eps)
    return 2.0 * (xlogy(x, x) - xlogy(x, mu) - x + mu)


def _accuracy(x, mu):
    return ((mu > 0.5) == (x == 1)).astype(float)


def _circular_error(x, mu):
    return 1.0 - np.cos(x - mu)


#: (error name, elementwise error of data x and fitted mean mu, higher is better).
_METRICS = (
    ((Gaussian, Laplace), "mse", _mse, False),
    ((Poisson,), "deviance", _deviance, False),
    ((Bernoulli,), "accuracy", _accuracy, True),
    ((VonMises,), "circular_error", _circular_error, False),
)


def _metric(likelihood: Likelihood) -> tuple[str, Any, bool]:
    for classes, name, fn, higher in _METRICS:
        if isinstance(likelihood, classes):
            return name, fn, higher
    return "mse", _mse, False  # a new likelihood without its own error: squared error


def score(fit: FitResult, X: Any, mask: Any = None) -> dict[str, float]:
    r"""Per-entry log-likelihood and error of a fit on the entries of ``X`` in ``mask``.

    .. math::
        \ell = \frac{1}{|S|} \sum_{i \in S} \log p(X_i \mid \hat\eta_i), \qquad
        \text{error} = \frac{1}{|S|} \sum_{i \in S} e(X_i, \hat\mu_i)

    with :math:`S` the observed entries in ``mask`` and :math:`e` the likelihood's
    error (see :mod:`bayesfactor.selection`: ``mse``, ``deviance``, ``accuracy`` or
    ``circular_error``).

    Parameters
    ----------
    fit : FitResult
        A fit of data with ``X``'s shape.
    X : array_like
        Data to score (NaN = missing, never scored).
    mask : array_like of bool, optional
        True where an entry is scored; default every observed entry.

    Returns
    -------
    dict
        ``{"log_likelihood": float, <error name>: float}``, both means per entry.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> from bayesfactor.selection import score
    >>> X = np.outer(np.arange(1.0, 11.0), np.arange(1.0, 9.0))
    >>> fit = bf.fit(bf.Model(bf.Gaussian(), 1, bf.Flat()), X, key=0)
    >>> s = score(fit, X)
    >>> sorted(s), s["mse"] < 1e-8
    (['log_likelihood', 'mse'], True)
    """
    if not isinstance(fit, FitResult):
        raise TypeError(f"fit must be a bf.FitResult; got {type(fit).__name__}.")
    data = as_data(X, mask)
    if data.shape != fit.shape:
        raise ValueError(f"X has shape {data.shape}; the fit is of shape {fit.shape}.")
    fit.model.likelihood.check_data(data.x, data.mask)
    warn_pmf_data(fit.model.likelihood, data.x, data.mask, "score")
    return _score(fit, data.x, data.mask)


def _score(fit: FitResult, x: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Mean log-likelihood and error over ``mask``; with Blocks, also per block.

    A block's scores are named ``log_likelihood_<block>`` and ``<error>_<block>``
    with the error of the block's own likelihood (e.g. ``accuracy_licks``).
    """
    lik = fit.model.likelihood
    lik = lik.base if isinstance(lik, Offset) else lik
    parts = [("", lik, mask)]
    if isinstance(lik, Blocks):
        for b, (block, blik) in enumerate(zip(lik.names, lik.likelihoods, strict=True)):
            parts.append((f"_{block}", blik, mask & np.asarray(lik._in_block(b, x.shape))))
    lp = mu = None
    out = {}
    for suffix, part, where in parts:
        name, error, _ = _metric(part)
        if not where.any():
            out |= {f"log_likelihood{suffix}": np.nan, f"{name}{suffix}": np.nan}
            continue
        if lp is None:
            with warnings.catch_warnings():
                # The caller warned once (warn_pmf_data) for all its fits and folds.
                warnings.simplefilter("ignore", DataWarning)
                lp = np.asarray(fit.log_likelihood(x, mask=mask, pointwise=True))
            mu = np.asarray(fit.predict(), dtype=float)
        out[f"log_likelihood{suffix}"] = float(lp[where].mean())
        out[f"{name}{suffix}"] = float(error(x[where], mu[where]).mean())
    return out


# --- argument checks (all before any fitting) --------------------------------------------


def _check_ranks(ranks: Any, default: Iterable[int]) -> list[int]:
    if ranks is None:
        return sorted(set(default))
    if isinstance(ranks, numbers.Integral) and not isinstance(ranks, bool):
        ranks = [ranks]
    try:
        items = list(ranks)
    except TypeError:
        items = None
    if (
        not items
        or any(isinstance(r, bool) or not isinstance(r, numbers.Integral) for r in items)
        or any(r < 1 for r in items)
    ):
        raise ValueError(
            f"ranks must be positive ints (an int or a non-empty iterable of them); got "
            f"ranks={ranks!r}. Use e.g. ranks=range(1, 6)."
        )
    return sorted({int(r) for r in items})


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {name}={value!r}.")


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


def _as_models(model: Any) -> tuple[list[Any] | None, list[Model]]:
    """Labels (None for a single model) and the models."""
    if isinstance(model, Model):
        return None, [model]
    if isinstance(model, Mapping):
        labels, models = list(model.keys()), list(model.values())
    elif isinstance(model, Sequence) and not isinstance(model, str):
        labels, models = list(range(len(model))), list(model)
    else:
        labels, models = [], []
    if not models or not all(isinstance(m, Model) for m in models):
        raise TypeError(
            "model must be a bf.Model, a dict {label: bf.Model} or a list of bf.Model; "
            f"got {model!r}."
        )
    return labels, models


def _check_models(models: list[Model], data) -> None:
    for m in models:
        m.mode_priors(len(data.shape))  # raises for a wrong number of per-mode priors
        m.likelihood.check_data(data.x, data.mask)


# --- holdout masks -------------------------------------------------------------------------


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


# --- fitting many models ----------------------------------------------------------------


def _progress(total: int, progress: bool | None, desc: str):
    """A tqdm bar over ``total`` fits; by default shown only when stderr is a terminal."""
    import sys

    from tqdm.auto import tqdm

    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None (auto); got {progress!r}.")
    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, desc=desc, unit="fit", disable=not show, leave=False)


class _Warnings:
    """Collect warnings of many fits; re-emit each distinct one once at the end."""

    def __init__(self) -> None:
        self.not_converged = 0
        self.fits = 0
        self.other: dict[tuple[type, str], None] = {}

    def sweep(self, model: Model, X: Any, **kwargs: Any) -> list[FitResult]:
        """``fit_sweep(model, X, **kwargs)``: many fits in one compiled program."""
        from bayesfactor.solvers._driver import fit_sweep

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = fit_sweep(model, X, **kwargs)
        self.fits += len(results)
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                self.other[(w.category, str(w.message))] = None
        self.not_converged += sum(not r.converged for r in results)
        return results

    def emit(self, max_iter: int, stacklevel: int = 3) -> None:
        for category, message in self.other:
            warnings.warn(message, category, stacklevel=stacklevel)
        if self.not_converged:
            warnings.warn(
                f"{self.not_converged} of {self.fits} fits stopped at max_iter={max_iter} "
                "before meeting tol (see the `converged` column); raise max_iter or "
                "loosen tol.",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )


def _svd_bound(likelihood: Likelihood, data, ranks: Iterable[int]) -> dict[int, float] | None:
    r"""Eckart–Young: the least mean squared error of a rank-r matrix, per rank.

    :math:`\min_{\operatorname{rank} M \le r} \frac{1}{|X|}\|X - M\|_F^2 =
    \frac{1}{|X|}\sum_{i > r} \sigma_i^2`, for a fully observed Gaussian matrix only.
    """
    if not isinstance(likelihood, Gaussian) or data.x.ndim != 2 or not data.dense:
        return None
    s2 = np.linalg.svd(data.x, compute_uv=False) ** 2
    return {int(r): float(s2[r:].sum() / data.x.size) for r in ranks}


def cross_validate(
    model: Model | Mapping[Any, Model] | Sequence[Model],
    X: Any,
    *,
    ranks: int | Iterable[int] | None = None,
    holdout: float | Any = 0.1,
    folds: int = 1,
    scheme: str = "speckled",
    axis: int = 0,
    restarts: int = 1,
    per_restart: bool = False,
    key: int | jax.Array = 0,
    mask: Any = None,
    max_iter: int = 500,
    tol: float = 1e-6,
    progress: bool | None = None,
    pad_ranks: bool = True,
) -> Any:
    r"""Cross-validate ranks (and models) by held-out entries: a tidy table of scores.

    For every fold :math:`f` a held-out set :math:`H_f` of observed entries
    :math:`\Omega` is drawn (:func:`holdout_masks`); each model is fitted at every
    rank to the training entries :math:`\Omega \setminus H_f` only (``bf.fit`` with
    ``mask=``; held-out entries never reach the objective) and scored on both sets by
    the per-entry log-likelihood and the likelihood's error (:func:`score`):

    .. math::
        \ell_{\text{test}} = \frac{1}{|H_f|} \sum_{i \in H_f}
        \log p(X_i \mid \hat\eta_i), \qquad
        \hat\eta = \text{MAP fitted to } \Omega \setminus H_f

    A sweep over prior strengths is a dict of models, e.g.
    ``{lam: bf.Model(bf.Gaussian(), 3, bf.Normal(1 / lam)) for lam in lams}``; the
    numbers of a prior are traced, so all of them reuse one compiled program.

    **One program per sweep.** The fits of a model at every (rank, fold, restart) run
    as one vmapped ``lax.while_loop``: a fold is a new mask of the same shape, and each
    rank :math:`r` is fitted at the largest rank :math:`R` with components
    :math:`r+1..R` held at exactly zero and left out of the objective (``pad_ranks``).
    The result equals separate ``bf.fit(model at rank r, X, mask=train, key=...)``
    calls up to float rounding: the same starts (component :math:`j` of a random
    start depends only on the key and :math:`j`), the same block updates (a zero
    component decouples from the others for every prior but ``OneHot``, which falls
    back to one program per rank) and the same stopping rule per fit. So the sweep
    compiles once (about one rank's compile, not one per rank); in exchange the batch
    runs until its slowest fit stops and every fit costs rank :math:`R`: fits that
    stopped are frozen, not skipped. On an accelerator the batch runs in parallel and
    the single compile is the gain; on a CPU, where compute adds up, a sweep run many
    times (cached program) may be faster with ``pad_ranks=False``.

    Parameters
    ----------
    model : Model, dict {label: Model} or list of Model
        The model(s) to compare; a list is labelled 0, 1, ...
    X : array_like, shape (n_1, ..., n_N)
        Data; NaN entries are missing (neither fitted nor scored).
    ranks : int or iterable of int, optional
        Ranks to fit each model at; default the model's own rank.
    holdout : float in (0, 1) or array of bool, default=0.1
        Fraction of the observed entries held out per fold; or explicit masks (True =
        held out) of shape ``X.shape`` or ``(folds, *X.shape)``.
    folds : int, default=1
        Number of held-out sets; disjoint in groups of :math:`\lfloor 1 /
        \text{holdout} \rfloor` (``holdout=0.2, folds=5`` is 5-fold CV).
    scheme : {"speckled", "rows"}, default="speckled"
        Random entries, or random entries within random slices along ``axis``
        (:func:`holdout_masks`).
    axis : int, default=0
        Mode whose slices ``scheme="rows"`` chooses.
    restarts : int, default=1
        Random initializations per fit.
    per_restart : bool, default=False
        False: one fit with ``restarts`` starts per (model, rank, fold), scored at
        its best restart (``restart="best"``; the objectives of all restarts are in
        ``restart_objectives``). True: one fit per restart (``restarts=1`` with the
        ``i``-th key of ``jax.random.split(fold key, restarts)``), each row one
        restart (``restart=0, 1, ...``). Either way all of them run in the same
        batched program.
    key : int or jax.random key, default=0
        Seed of the masks and of the initializations; same key, same table.
    mask : array_like of bool, optional
        True where observed, combined with NaN-as-missing.
    max_iter, tol
        Passed to :func:`bayesfactor.fit`.
    progress : bool, optional
        Show a progress bar (tqdm) over the fits, advanced per model (one batch);
        default: when stderr is a terminal.
    pad_ranks : bool, default=True
        Fit every rank in one program, padded to the largest (see above). False: one
        program per rank (its folds and restarts still batched); compiles once per
        rank, but no fit runs at a larger rank or past its rank's slowest fit.

    Returns
    -------
    pandas.DataFrame
        One row per (model, rank, fold, restart) with columns ``model`` (only for a
        dict or list of models), ``rank``, ``fold``, ``restart``,
        ``train_log_likelihood``, ``test_log_likelihood`` (means per entry),
        ``train_<error>``, ``test_<error>`` (the likelihood's error, e.g.
        ``test_mse``); for a :class:`~bayesfactor.Blocks` likelihood, the same per
        block, named ``test_log_likelihood_<block>``, ``test_<error>_<block>`` (each
        block's own error, e.g. ``test_accuracy_licks``); ``objective``,
        ``n_iter``, ``converged`` and, for ``restarts > 1`` without
        ``per_restart``, ``restart_objectives``.
        ``DataFrame.attrs`` holds ``metric`` (the error's name),
        ``higher_is_better``, ``likelihood`` and ``svd_bound`` (for a fully
        observed Gaussian matrix: ``{rank: least mean squared error of any rank-r
        matrix}``, Eckart–Young, else None).

    Raises
    ------
    ValueError, TypeError
        For bad ranks, holdout, scheme, folds, restarts, models or data, before any
        fitting.

    Warns
    -----
    ConvergenceWarning
        Once, if any fit stopped at ``max_iter`` (see the ``converged`` column).

    See Also
    --------
    fit_ensemble : every restart of every rank on all the data.
    bayesfactor.plot.error : the table against rank.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> from bayesfactor.selection import cross_validate
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(10, 2)) @ rng.normal(size=(2, 8)) + 0.1 * rng.normal(size=(10, 8))
    >>> cv = cross_validate(bf.Model(bf.Gaussian(), 1, bf.Flat()), X, ranks=[1, 2],
    ...                     holdout=0.2, key=0)
    >>> list(cv.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['rank', 'fold', 'restart', 'train_log_likelihood', 'test_log_likelihood',
     'train_mse', 'test_mse', 'objective', 'n_iter', 'converged']
    >>> int(cv.loc[cv.test_mse.idxmin(), "rank"])
    2
    """
    import pandas as pd

    labels, models = _as_models(model)
    models = [m.for_data(X) if isinstance(m, Model) else m for m in models]  # "auto"
    ranks_ = _check_ranks(ranks, (m.rank for m in models))
    _check_positive_int("restarts", restarts)
    for flag, value in (("per_restart", per_restart), ("pad_ranks", pad_ranks)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be a bool; got {value!r}.")
    data = as_data(X, mask)
    _check_models(models, data)
    for m in models:  # held-out entries are scored by the likelihood's pmf
        warn_pmf_data(m.likelihood, data.x, data.mask, "cross_validate")
    key_masks, key_fits = jax.random.split(as_key(key))
    masks = _as_holdout(holdout, folds, scheme, axis, key_masks, data)
    fold_keys = jax.random.split(key_fits, masks.shape[0])

    log = _Warnings()
    rows = []
    n = 1 if per_restart else restarts  # restarts per fit
    runs = [  # (fold, restart, key) of each fit of a (model, rank)
        (f, i, k)
        for f in range(masks.shape[0])
        for i, k in (
            enumerate(jax.random.split(fold_keys[f], restarts))
            if per_restart
            else [("best", fold_keys[f])]
        )
    ]
    n_ranks = len(ranks_ if ranks is not None else [0])
    bar = _progress(len(models) * n_ranks * len(runs), progress, "cross_validate")
    for label, m in zip(labels or [None], models, strict=True):
        name, _, higher = _metric(m.likelihood)
        # Every (rank, fold, restart) of a model in one compiled program (fit_sweep).
        members = [
            (rank, *run) for rank in (ranks_ if ranks is not None else [m.rank]) for run in runs
        ]
        fits = log.sweep(
            m,
            X,
            ranks=[rank for rank, *_ in members],
            masks=[data.mask & ~masks[f] for _, f, _, _ in members],
            keys=[k for *_, k in members],
            restarts=n,
            max_iter=max_iter,
            tol=tol,
            pad=pad_ranks,
        )
        bar.update(len(members))
        for (rank, f, restart, _), fit in zip(members, fits, strict=True):
            train, test = data.mask & ~masks[f], masks[f]
            tr, te = _score(fit, data.x, train), _score(fit, data.x, test)
            row = {} if labels is None else {"model": label}
            row |= {"rank": rank, "fold": f, "restart": restart}
            # Overall, then per block (Blocks): train_/test_ log-likelihood, error.
            row |= {
                f"{split}_{score}": value[score]
                for score in tr
                for split, value in (("train", tr), ("test", te))
            }
            row |= {"objective": fit.objective, "n_iter": fit.n_iter, "converged": fit.converged}
            if n > 1:
                row["restart_objectives"] = tuple(float(f"{v:.6g}") for v in fit.restart_objectives)
            rows.append(row)
    bar.close()
    log.emit(max_iter)
    table = pd.DataFrame(rows)
    names = {_metric(m.likelihood)[0] for m in models}
    table.attrs.update(
        metric=name if len(names) == 1 else None,
        higher_is_better=higher,
        likelihood=repr(models[0].likelihood),
        svd_bound=_svd_bound(models[0].likelihood, data, table["rank"].unique()),
        holdout=holdout if isinstance(holdout, numbers.Real) else "masks",
        scheme=scheme,
        shape=data.shape,
    )
    return table


# --- ensembles ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, repr=False)
class Ensemble:
    """Every restart of every rank, fitted to all observed data (:func:`fit_ensemble`).

    Attributes
    ----------
    results : dict {rank: list of FitResult}
        One fit per restart, in restart order (restart ``i`` used the ``i``-th key of
        ``jax.random.split(key, restarts)``).
    x : numpy.ndarray
        The fitted data (missing entries zeroed).
    mask : numpy.ndarray of bool
        True where observed.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> from bayesfactor.selection import fit_ensemble
    >>> X = np.outer(np.arange(1.0, 11.0), np.arange(1.0, 9.0))
    >>> ens = fit_ensemble(bf.Model(bf.Gaussian(), 1, bf.Flat()), X, ranks=[1],
    ...                    restarts=2)
    >>> ens.ranks, len(ens.results[1]), round(float(ens.similarities().similarity.min()), 6)
    ([1], 2, 1.0)
    """

    results: dict[int, list[FitResult]]
    x: np.ndarray
    mask: np.ndarray

    @property
    def ranks(self) -> list[int]:
        """The fitted ranks, ascending."""
        return sorted(self.results)

    def best(self, rank: int) -> FitResult:
        """The fit of ``rank`` with the lowest objective."""
        if rank not in self.results:
            raise KeyError(f"rank={rank} was not fitted; the ensemble has ranks {self.ranks}.")
        return min(self.results[rank], key=lambda r: r.objective)

    def objectives(self) -> Any:
        """One row per run: rank, restart, objective, n_iter, converged, train scores.

        Returns
        -------
        pandas.DataFrame
            Columns ``rank``, ``restart``, ``objective``, ``n_iter``, ``converged``,
            ``train_log_likelihood`` and ``train_<error>`` (means per observed
            entry; see :func:`score`); ``attrs`` as in :func:`cross_validate`.
        """
        import pandas as pd

        rows = []
        likelihood = self.results[self.ranks[0]][0].model.likelihood
        warn_pmf_data(likelihood, self.x, self.mask, "Ensemble.objectives (train scores)")
        name, _, higher = _metric(likelihood)
        for rank in self.ranks:
            for i, r in enumerate(self.results[rank]):
                s = _score(r, self.x, self.mask)
                rows.append(
                    {
                        "rank": rank,
                        "restart": i,
                        "objective": r.objective,
                        "n_iter": r.n_iter,
                        "converged": r.converged,
                        "train_log_likelihood": s["log_likelihood"],
                        f"train_{name}": s[name],
                    }
                )
        table = pd.DataFrame(rows)
        data = as_data(self.x, self.mask)
        table.attrs.update(
            metric=name,
            higher_is_better=higher,
            likelihood=repr(likelihood),
            svd_bound=_svd_bound(likelihood, data, self.ranks),
            shape=self.x.shape,
        )
        return table

    def similarities(self) -> Any:
        """Similarity (:func:`similarity`) of every run to the best run of its rank.

        Returns
        -------
        pandas.DataFrame
            Columns ``rank``, ``restart``, ``objective``, ``similarity``; the best run
            of a rank has similarity 1.
        """
        import pandas as pd

        rows = []
        for rank in self.ranks:
            best = self.best(rank)
            for i, r in enumerate(self.results[rank]):
                rows.append(
                    {
                        "rank": rank,
                        "restart": i,
                        "objective": r.objective,
                        "similarity": similarity(r, best),
                    }
                )
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        runs = [r for rank in self.ranks for r in self.results[rank]]
        sims = self.similarities().groupby("rank").similarity
        lines = [f"Ensemble({runs[0].model.likelihood!r}, shape {self.x.shape})"]
        lines.append("   rank  runs  best objective  converged  mean similarity")
        for rank in self.ranks:
            res = self.results[rank]
            lines.append(
                f"  {rank:5d}  {len(res):4d}  {self.best(rank).objective:14.6g}  "
                f"{sum(r.converged for r in res):5d}/{len(res):<3d}  "
                f"{sims.get_group(rank).mean():15.3f}"
            )
        return "\n".join(lines)


def fit_ensemble(
    model: Model,
    X: Any,
    *,
    ranks: int | Iterable[int] | None = None,
    restarts: int = 5,
    key: int | jax.Array = 0,
    mask: Any = None,
    max_iter: int = 500,
    tol: float = 1e-6,
    progress: bool | None = None,
) -> Ensemble:
    r"""Fit ``model`` at every rank from ``restarts`` random starts, keeping every run.

    The spread of the runs of one rank shows how well the optimum is determined:
    their objectives (``Ensemble.objectives()``) and their similarity to the best run
    (``Ensemble.similarities()``, :func:`similarity`) — when every restart finds the
    same components the model is identifiable at that rank (Williams et al. 2018).

    Each run is ``bf.fit(..., restarts=1)`` with its own key (the ``i``-th of
    ``jax.random.split(key, restarts)``, the same for every rank), up to float
    rounding; all runs of all ranks run batched in one compiled program, padded to
    the largest rank as in :func:`cross_validate`.

    Parameters
    ----------
    model : Model
        Likelihood and priors; its rank is the default ``ranks``.
    X : array_like
        Data (NaN = missing).
    ranks : int or iterable of int, optional
        Ranks to fit; default ``model.rank``.
    restarts : int, default=5
        Runs per rank.
    key : int or jax.random key, default=0
        Seed; same key, same ensemble.
    mask : array_like of bool, optional
        True where observed.
    max_iter, tol
        Passed to :func:`bayesfactor.fit`.
    progress : bool, optional
        Show a progress bar (tqdm) over the fits; default: when stderr is a terminal.

    Returns
    -------
    Ensemble
        ``.results[rank]`` (list of FitResult), ``.best(rank)``, ``.objectives()``,
        ``.similarities()``.

    Warns
    -----
    ConvergenceWarning
        Once, if any run stopped at ``max_iter``.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> from bayesfactor.selection import fit_ensemble
    >>> X = np.outer(np.arange(1.0, 11.0), np.arange(1.0, 9.0))
    >>> ens = fit_ensemble(bf.Model(bf.Gaussian(), 1, bf.Flat()), X, ranks=1,
    ...                    restarts=2, key=0)
    >>> ens.objectives()[["rank", "restart", "converged"]]
       rank  restart  converged
    0     1        0       True
    1     1        1       True
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a bf.Model; got {model!r}.")
    ranks_ = _check_ranks(ranks, [model.rank])
    _check_positive_int("restarts", restarts)
    data = as_data(X, mask)
    _check_models([model], data)
    keys = jax.random.split(as_key(key), restarts)
    log = _Warnings()
    bar = _progress(len(ranks_) * restarts, progress, "fit_ensemble")
    members = [(rank, k) for rank in ranks_ for k in keys]
    fits = log.sweep(
        model,
        X,
        ranks=[rank for rank, _ in members],
        masks=np.broadcast_to(data.mask, (len(members), *data.shape)),
        keys=[k for _, k in members],
        max_iter=max_iter,
        tol=tol,
    )
    bar.update(len(members))
    results = {rank: fits[i * restarts : (i + 1) * restarts] for i, rank in enumerate(ranks_)}
    bar.close()
    log.emit(max_iter)
    return Ensemble(results=results, x=data.x, mask=data.mask)


# --- comparison of sampled models ---------------------------------------------------------


def compare(idatas: Mapping[str, Any], *, ic: str = "loo", **kwargs: Any) -> Any:
    r"""Rank sampled models by expected log predictive density (PSIS-LOO or WAIC).

    A thin wrapper of ``arviz.compare``: every value is an ``InferenceData`` from
    :func:`bayesfactor.sample` (or :func:`bayesfactor.laplace`) of the **same data**,
    whose pointwise ``log_likelihood`` over the observed entries gives

    .. math::
        \widehat{\mathrm{elpd}} = \sum_{i \in \Omega} \log p(X_i \mid X_{-i})

    estimated by Pareto-smoothed importance sampling (``ic="loo"``) or WAIC. Note
    that leaving out one *entry* is the speckled-holdout question of
    :func:`cross_validate`, answered from one posterior instead of refits.

    Parameters
    ----------
    idatas : dict {name: arviz.InferenceData}
        The models to compare, e.g. ``{"rank 2": idata2, "rank 3": idata3}``.
    ic : {"loo", "waic"}, default="loo"
        The information criterion.
    **kwargs
        Passed to ``arviz.compare`` (e.g. ``scale="deviance"``).

    Returns
    -------
    pandas.DataFrame
        ``arviz.compare``'s table, best model first (``elpd_loo``, ``p_loo``,
        ``elpd_diff``, ``weight``, ``se``, ``dse``, ``warning``, ...).

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> X = np.random.default_rng(0).normal(size=(8, 6))
    >>> runs = {f"rank {r}": bf.sample(bf.Model(bf.Gaussian(), r, bf.Normal(1.0)), X,
    ...         num_warmup=50, num_samples=50, num_chains=1, progress_bar=False)
    ...         for r in (1,)}
    >>> bf.compare(runs).index.tolist()
    ['rank 1']
    """
    from bayesfactor.sampling.idata import _arviz

    if not isinstance(idatas, Mapping) or not idatas:
        raise TypeError(
            "idatas must be a non-empty dict {name: InferenceData} from bf.sample; got "
            f"{type(idatas).__name__}."
        )
    if ic not in ("loo", "waic"):
        raise ValueError(f"ic must be 'loo' or 'waic'; got {ic!r}.")
    sizes = set()
    for name, idata in idatas.items():
        group = getattr(idata, "log_likelihood", None)
        if group is None or "X" not in group:
            raise ValueError(
                f"{name!r} has no pointwise log_likelihood of X: pass the InferenceData "
                "returned by bf.sample or bf.laplace."
            )
        sizes.add(group["X"].shape[-1])
    if len(sizes) > 1:
        raise ValueError(
            f"the models were fitted to different numbers of observed entries {sorted(sizes)}; "
            "compare models of the same data (same X and mask)."
        )
    az = _arviz()
    with warnings.catch_warnings():
        # ArviZ warns about pointwise Pareto k > 0.7; its table's `warning` column says so.
        warnings.filterwarnings("ignore", message=".*(Pareto|pareto|posterior variance).*")
        # arviz<1 calls pandas' deprecated sort_values(inplace=True) (pandas >= 3.1).
        warnings.filterwarnings("ignore", message="The inplace keyword")
        return az.compare(dict(idatas), ic=ic, **kwargs)
