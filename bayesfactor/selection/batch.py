"""Fitting many models at once: argument checks, progress bar, collected warnings.

Shared by :func:`~bayesfactor.cross_validate` and :func:`~bayesfactor.fit_ensemble`
(and :mod:`bayesfactor.selection.holdout` for its counts), all before any fitting.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from bayesfactor.likelihoods import Likelihood
from bayesfactor.model import Model
from bayesfactor.result import ConvergenceWarning, FitResult

__all__: list[str] = []


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
        from bayesfactor.solvers.sweep import fit_sweep

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
    if not likelihood.least_squares or data.x.ndim != 2 or not data.dense:
        return None
    s2 = np.linalg.svd(data.x, compute_uv=False) ** 2
    return {int(r): float(s2[r:].sum() / data.x.size) for r in ranks}
