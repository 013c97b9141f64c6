"""Cross-validation of ranks and models by held-out entries: :func:`cross_validate`."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from bayesfactor._data import Data, as_data, as_key
from bayesfactor.likelihoods import warn_pmf_data
from bayesfactor.model import Model
from bayesfactor.result import FitResult
from bayesfactor.selection.batch import (
    _as_models,
    _check_models,
    _check_positive_int,
    _check_ranks,
    _progress,
    _svd_bound,
    _Warnings,
)
from bayesfactor.selection.holdout import _as_holdout
from bayesfactor.selection.score import _score

__all__ = ["cross_validate"]


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
        matrix}``, Eckart–Young, else None), ``holdout`` (the fraction, or
        ``"masks"``), ``scheme`` and ``shape`` (the data's), which
        :func:`bayesfactor.plot.error` reads.

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

    labels, models, ranks_, data = _check_arguments(
        model, X, ranks, restarts, per_restart, pad_ranks, mask
    )
    key_masks, key_fits = jax.random.split(as_key(key))
    masks = _as_holdout(holdout, folds, scheme, axis, key_masks, data)
    runs = _runs(jax.random.split(key_fits, masks.shape[0]), restarts, per_restart)
    log = _Warnings()
    rows = []
    n_ranks = len(ranks_ if ranks is not None else [0])
    bar = _progress(len(models) * n_ranks * len(runs), progress, "cross_validate")
    for label, m in zip(labels or [None], models, strict=True):
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
            restarts=1 if per_restart else restarts,
            max_iter=max_iter,
            tol=tol,
            pad=pad_ranks,
        )
        bar.update(len(members))
        prefix = {} if labels is None else {"model": label}
        rows += [
            _row(prefix, member[:3], fit, data, masks[member[1]], restarts > 1 and not per_restart)
            for member, fit in zip(members, fits, strict=True)
        ]
    bar.close()
    log.emit(max_iter)
    table = pd.DataFrame(rows)
    table.attrs.update(_table_attrs(models, data, table["rank"].unique(), holdout, scheme))
    return table


def _check_arguments(
    model: Any,
    X: Any,
    ranks: Any,
    restarts: Any,
    per_restart: Any,
    pad_ranks: Any,
    mask: Any,
) -> tuple[list[Any] | None, list[Model], list[int], Data]:
    """Labels (None for a single model), models, ranks and data, all checked before any fit.

    Also warns (``DataWarning``) when a likelihood's pmf is asked to score non-counts.
    """
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
        # stacklevel: warn_pmf_data, _check_arguments, cross_validate, the user's call.
        warn_pmf_data(m.likelihood, data.x, data.mask, "cross_validate", stacklevel=4)
    return labels, models, ranks_, data


def _runs(fold_keys: jax.Array, restarts: int, per_restart: bool) -> list[tuple[int, Any, Any]]:
    """(fold, restart, key) of each fit of a (model, rank).

    One fit per fold (restart ``"best"``, the fold's key), or with ``per_restart`` one
    per restart (``0, 1, ...``, the keys of ``jax.random.split(fold key, restarts)``).
    """
    return [
        (f, i, k)
        for f in range(fold_keys.shape[0])
        for i, k in (
            enumerate(jax.random.split(fold_keys[f], restarts))
            if per_restart
            else [("best", fold_keys[f])]
        )
    ]


def _row(
    prefix: dict,
    member: tuple[int, int, Any],
    fit: FitResult,
    data: Data,
    test: np.ndarray,
    restart_objectives: bool,
) -> dict[str, Any]:
    """One row of the table: ``prefix``, (rank, fold, restart), scores and the fit's status.

    ``test`` is the fold's held-out mask; the fit was trained on the other observed entries.
    ``restart_objectives``: also the objectives of the fit's restarts (rounded).
    """
    rank, f, restart = member
    train = data.mask & ~test
    tr, te = _score(fit, data.x, train), _score(fit, data.x, test)
    row = dict(prefix)
    row |= {"rank": rank, "fold": f, "restart": restart}
    # Overall, then per block (Blocks): train_/test_ log-likelihood, error.
    row |= {
        f"{split}_{score}": value[score]
        for score in tr
        for split, value in (("train", tr), ("test", te))
    }
    row |= {"objective": fit.objective, "n_iter": fit.n_iter, "converged": fit.converged}
    if restart_objectives:
        row["restart_objectives"] = tuple(float(f"{v:.6g}") for v in fit.restart_objectives)
    return row


def _table_attrs(
    models: list[Model], data: Data, ranks: Iterable[int], holdout: Any, scheme: str
) -> dict[str, Any]:
    """The ``DataFrame.attrs`` of :func:`cross_validate`'s table (read by ``bf.plot.error``).

    ``metric``: the error's name (None when the models' errors differ);
    ``higher_is_better``: of the last model's error; ``likelihood``: the first
    model's, as text; ``svd_bound``: :func:`_svd_bound` of the first model (a dict
    {rank: least mean squared error} or None); ``holdout``: the fraction, or
    ``"masks"`` for explicit masks; ``scheme``; ``shape``: the data's shape.
    """
    names = {m.likelihood.error_name for m in models}
    last = models[-1].likelihood
    name, higher = last.error_name, last.error_higher_is_better
    return dict(
        metric=name if len(names) == 1 else None,
        higher_is_better=higher,
        likelihood=repr(models[0].likelihood),
        svd_bound=_svd_bound(models[0].likelihood, data, ranks),
        holdout=holdout if isinstance(holdout, numbers.Real) else "masks",
        scheme=scheme,
        shape=data.shape,
    )
