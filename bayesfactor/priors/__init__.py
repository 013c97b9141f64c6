"""Priors: one small class per factor prior (see :mod:`._base` for the interface).

A regularizer is a negative log-prior: :class:`Flat` and :class:`NonNegative` (none;
improper), :class:`Normal` and :class:`HalfNormal` (L2), :class:`Laplace` and
:class:`Exponential` (L1), :class:`Smooth` (a random walk) and :class:`OneHot` (k-means).
"""

from bayesfactor.priors._base import Prior
from bayesfactor.priors.flat import Flat, NonNegative
from bayesfactor.priors.laplace import Exponential, Laplace
from bayesfactor.priors.normal import HalfNormal, Normal
from bayesfactor.priors.onehot import OneHot
from bayesfactor.priors.smooth import Smooth

__all__ = [
    "Prior",
    "Flat",
    "Normal",
    "Laplace",
    "NonNegative",
    "Exponential",
    "HalfNormal",
    "Smooth",
    "OneHot",
]
