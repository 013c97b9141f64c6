"""bayesfactor: matrix and tensor factorization as probabilistic (MAP) inference."""

from bayesfactor import (
    _precision as _precision,  # first: turns on JAX's x64 mode (BAYESFACTOR_X64=0 opts out)
    datasets as datasets,
    likelihoods as likelihoods,
    plot as plot,
    priors as priors,
)
from bayesfactor.conv import (
    ConvModel as ConvModel,
    factor_power as factor_power,
    significance as significance,
    sort_factors as sort_factors,
)
from bayesfactor.io import load as load
from bayesfactor.likelihoods import (
    Bernoulli as Bernoulli,
    Blocks as Blocks,
    DataWarning as DataWarning,
    Estimated as Estimated,
    Gaussian as Gaussian,
    Laplace as LaplaceLikelihood,
    Offset as Offset,
    Poisson as Poisson,
    VonMises as VonMises,
)
from bayesfactor.model import Model as Model
from bayesfactor.priors import (
    Exponential as Exponential,
    Flat as Flat,
    HalfNormal as HalfNormal,
    Laplace as Laplace,
    NonNegative as NonNegative,
    Normal as Normal,
    OneHot as OneHot,
    Smooth as Smooth,
)
from bayesfactor.result import (
    ConvergenceWarning as ConvergenceWarning,
    FitResult as FitResult,
    IdentifiabilityWarning as IdentifiabilityWarning,
    RankWarning as RankWarning,
)
from bayesfactor.sampling import (
    laplace as laplace,
    predictive_interval as predictive_interval,
    sample as sample,
)
from bayesfactor.selection import (
    Ensemble as Ensemble,
    compare as compare,
    cross_validate as cross_validate,
    fit_ensemble as fit_ensemble,
    holdout_masks as holdout_masks,
    similarity as similarity,
)
from bayesfactor.solvers import fit as fit

__version__ = "0.1.0"

__all__ = [
    "Model",
    "ConvModel",
    "fit",
    "sort_factors",
    "factor_power",
    "significance",
    "load",
    "similarity",
    "cross_validate",
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
    "RankWarning",
    "DataWarning",
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
