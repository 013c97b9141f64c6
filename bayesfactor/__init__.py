"""bayesfactor: matrix and tensor factorization as probabilistic (MAP) inference."""

import importlib
from typing import TYPE_CHECKING, Any

# The public names are imported on first use (PEP 562), so that `import bayesfactor` and
# `bayesfactor --help` do not pay for JAX. The TYPE_CHECKING block below is the one list of
# them: static tools read it, and `_lazy_names` reads it from this file's syntax tree. Every
# module that computes imports `bayesfactor._precision` first, which turns on JAX's x64 mode.
if TYPE_CHECKING:  # what static tools and IDEs see
    from bayesfactor import datasets, likelihoods, plot, priors  # noqa: F401
    from bayesfactor._cache import clear_caches  # noqa: F401
    from bayesfactor.conv import ConvModel, factor_power, significance, sort_factors  # noqa: F401
    from bayesfactor.likelihoods import (  # noqa: F401
        Bernoulli,
        Blocks,
        DataWarning,
        Estimated,
        Gaussian,
        Laplace as LaplaceLikelihood,  # noqa: F401
        Offset,
        Poisson,
        VonMises,
    )
    from bayesfactor.model import Model  # noqa: F401
    from bayesfactor.priors import (  # noqa: F401
        Exponential,
        Flat,
        HalfNormal,
        Laplace,
        NonNegative,
        Normal,
        OneHot,
        Smooth,
    )
    from bayesfactor.ranks import RankChoice, choose_rank  # noqa: F401
    from bayesfactor.result import (  # noqa: F401
        ConvergenceWarning,
        FitResult,
        IdentifiabilityWarning,
        RankWarning,
        load,
    )
    from bayesfactor.sampling import laplace, predictive_interval, sample  # noqa: F401
    from bayesfactor.selection import (  # noqa: F401
        Ensemble,
        compare,
        cross_validate,
        fit_ensemble,
        holdout_masks,
        similarity,
    )
    from bayesfactor.solvers import fit  # noqa: F401


def _lazy_names() -> dict[str, tuple[str, str | None]]:
    """``{public name: (module, attribute or None for a submodule)}`` from TYPE_CHECKING."""
    import ast

    with open(__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.dump(n.test)
    )
    names = {}
    for node in block.body:
        for alias in node.names:
            if node.module == "bayesfactor":  # a submodule
                names[alias.asname or alias.name] = (f"bayesfactor.{alias.name}", None)
            else:
                names[alias.asname or alias.name] = (node.module, alias.name)
    return names


def _declared_names() -> dict[str, tuple[str, str]]:
    """Likelihood and prior classes that no line above names (a new leaf module's class).

    They are served as ``bf.NAME`` too, unless the name is taken (the first kind wins).
    """
    from bayesfactor._registry import declared_classes

    names: dict[str, tuple[str, str]] = {}
    for kind in ("likelihoods", "priors"):
        for name, module in declared_classes(kind).items():
            names.setdefault(name, (module, name))
    return names


_LAZY = _lazy_names()
_NEW = {k: v for k, v in _declared_names().items() if k not in _LAZY}
_LAZY.update(_NEW)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'bayesfactor' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    value = value if attr is None else getattr(value, attr)
    globals()[name] = value  # once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"

__all__ = [
    "Model",
    "clear_caches",
    "ConvModel",
    "fit",
    "sort_factors",
    "factor_power",
    "significance",
    "load",
    "similarity",
    "cross_validate",
    "choose_rank",
    "RankChoice",
    "fit_ensemble",
    "Ensemble",
    "holdout_masks",
    "compare",
    "sample",
    "laplace",
    "predictive_interval",
    "IdentifiabilityWarning",
    "FitResult",
    "ConvergenceWarning",
    "DataWarning",
    "RankWarning",
    "Gaussian",
    "Poisson",
    "Bernoulli",
    "LaplaceLikelihood",
    "VonMises",
    "Offset",
    "Blocks",
    "Estimated",
    "Flat",
    "Normal",
    "Laplace",
    "NonNegative",
    "Exponential",
    "HalfNormal",
    "Smooth",
    "OneHot",
    "likelihoods",
    "priors",
    "datasets",
    "plot",
]
__all__ += sorted(_NEW)
