"""Priors: one small class per factor prior (see :mod:`._base` for the interface).

A regularizer is a negative log-prior: :class:`Flat` and :class:`NonNegative` (none;
improper), :class:`Normal` and :class:`HalfNormal` (L2), :class:`Laplace` and
:class:`Exponential` (L1), :class:`Smooth` (a random walk) and :class:`OneHot` (k-means).
"""

from bayesfactor._registry import declared_classes, serve
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
# Leaf classes not imported above (a new module's class) are served on first use.
__all__ += sorted(set(declared_classes("priors")) - set(__all__))


def __getattr__(name: str) -> object:
    return serve("priors", name)
