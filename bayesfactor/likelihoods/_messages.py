"""Warnings and messages about data that a likelihood's pmf does not fit."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bayesfactor.likelihoods._base import Likelihood

__all__ = ["DataWarning", "warn_pmf_data", "first_bad"]


class DataWarning(UserWarning):
    """The data suit the MAP fit but not a use that needs the likelihood's own pmf.

    E.g. non-integer data under :class:`Poisson`: the fit (KL divergence for
    ``link="identity"``) is defined for them, but log-likelihoods, CV scores, LOO/WAIC
    and posterior predictive draws need integer counts.
    """


def warn_pmf_data(
    likelihood: Likelihood, x: np.ndarray, mask: np.ndarray, use: str, stacklevel: int = 3
) -> None:
    """Warn (:class:`DataWarning`) if ``use`` evaluates a pmf the observed data do not fit.

    ``stacklevel`` counts from this function (2 = its caller), as ``warnings.warn``.
    """
    problem = likelihood.pmf_problem(np.asarray(x), np.asarray(mask))
    if problem:
        warnings.warn(f"{use}: {problem}", DataWarning, stacklevel=stacklevel)


def first_bad(x: np.ndarray, bad: np.ndarray) -> str:
    """How many values ``bad`` marks in ``x``, and the first (for error messages)."""
    values = x[bad]
    return f"found {values.size} such values (first: {values[0].item()!r})"
