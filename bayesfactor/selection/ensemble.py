"""Every restart of every rank (:func:`fit_ensemble`, :class:`Ensemble`) and :func:`similarity`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import numpy as np

from bayesfactor._data import as_data, as_key
from bayesfactor.alignment import congruence, match
from bayesfactor.likelihoods import warn_pmf_data
from bayesfactor.model import Model
from bayesfactor.result import FitResult
from bayesfactor.selection.batch import (
    _check_models,
    _check_positive_int,
    _check_ranks,
    _progress,
    _svd_bound,
    _Warnings,
)
from bayesfactor.selection.score import _score

__all__ = ["similarity", "Ensemble", "fit_ensemble"]


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
        name, higher = likelihood.error_name, likelihood.error_higher_is_better
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
