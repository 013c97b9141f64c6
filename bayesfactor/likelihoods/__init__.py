"""Likelihoods: one small class per observation model (see :mod:`._base` for the interface).

The leaves (:class:`Gaussian`, :class:`Laplace`, :class:`Bernoulli`, :class:`Poisson`,
:class:`VonMises`) each have a module; :class:`Offset` and :class:`Blocks` combine them;
:class:`Estimated` marks a parameter fitted with the factors.
"""

from bayesfactor._registry import declared_classes, serve
from bayesfactor.likelihoods._base import LINK_FLOOR, NONNEGATIVE_SUPPORTS, Likelihood
from bayesfactor.likelihoods._messages import DataWarning, warn_pmf_data
from bayesfactor.likelihoods.bernoulli import Bernoulli
from bayesfactor.likelihoods.blocks import Blocks, infer
from bayesfactor.likelihoods.estimated import Estimated
from bayesfactor.likelihoods.gaussian import Gaussian
from bayesfactor.likelihoods.laplace import Laplace
from bayesfactor.likelihoods.offset import Offset
from bayesfactor.likelihoods.poisson import Poisson
from bayesfactor.likelihoods.vonmises import VonMises

__all__ = [
    "Likelihood",
    "Estimated",
    "Gaussian",
    "Laplace",
    "Bernoulli",
    "Poisson",
    "VonMises",
    "Offset",
    "Blocks",
    "DataWarning",
    "warn_pmf_data",
    "infer",
    "NONNEGATIVE_SUPPORTS",
    "LINK_FLOOR",
]
# Leaf classes not imported above (a new module's class) are served on first use.
__all__ += sorted(set(declared_classes("likelihoods")) - set(__all__))


def __getattr__(name: str) -> object:
    return serve("likelihoods", name)
