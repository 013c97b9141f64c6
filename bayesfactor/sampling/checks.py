"""Checks of :func:`~bayesfactor.sample` and :func:`~bayesfactor.laplace` at the boundary.

Models (continuous priors, data), settings, the MAP to start from, and the
identifiability warnings (rotation and scale symmetries), all before any work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bayesfactor._data import Data, warn
from bayesfactor.likelihoods import warn_pmf_data
from bayesfactor.model import Model
from bayesfactor.priors import Prior
from bayesfactor.result import IdentifiabilityWarning
from bayesfactor.solvers.checks import check_factors

__all__: list[str] = []


def _check_continuous(priors: Sequence[Prior], method: str) -> None:
    for k, prior in enumerate(priors):
        if prior.assigns or prior.support.is_discrete:
            raise ValueError(
                f"{method} needs continuous factors, but the prior on mode {k} is {prior!r}, "
                "which is discrete (each row is an indicator vector): NUTS and the Laplace "
                "approximation work on continuous parameters only. Use bf.fit (MAP: the "
                "hard assignment), or a continuous prior on that mode, e.g. "
                "bf.NonNegative() or bf.Exponential(rate) for soft memberships."
            )


def _warn_identifiability(
    model: Model, priors: Sequence[Prior], method: str, fixed: tuple[int, ...] = ()
) -> None:
    # A fixed mode breaks the symmetries that would move it: the rotation (U Q, V Q) of
    # a matrix, and the scale (F_j c, F_k / c) between it and any other mode.
    free = [k for k in range(len(priors)) if k not in fixed]
    if (
        len(priors) == 2
        and not fixed
        and model.rank >= 2
        and all(p.rotation_invariant for p in priors)
    ):
        warn(
            f"{method}: a matrix model with rank={model.rank} and rotation-invariant priors "
            f"{tuple(priors)!r} has a rotation symmetry: (U Q, V Q) has the same posterior "
            "for every orthogonal Q (whatever the likelihood), so single components are "
            "not identified and their summaries and R-hat are not meaningful; eta, "
            "predictions and the subspace are. Use sparse or non-negative priors "
            "(bf.Laplace, bf.Exponential, bf.NonNegative, ...) to pin components down.",
            IdentifiabilityWarning,
            stacklevel=4,
        )
    flat = [k for k in free if priors[k].scale_free]
    if flat and len(free) >= 2:
        every = len(flat) == len(free)
        warn(
            f"{method}: the flat prior on mode(s) {flat} leaves the scale symmetry "
            "(U c, V / c) of each component "
            + (
                "unbounded: the posterior is improper, draws drift in scale and do not converge. "
                if every
                else "constrained only by the other modes' priors: the posterior may be "
                "improper (it depends on the shape). "
            )
            + "Use proper priors such as bf.Normal(scale) (or bf.HalfNormal(scale), "
            "bf.Exponential(rate) for non-negative factors) on every mode.",
            IdentifiabilityWarning,
            stacklevel=4,
        )


def _check_model(model: Any, data: Data, method: str) -> tuple[Prior, ...]:
    if not isinstance(model, Model):
        raise TypeError(f"model must be a bf.Model; got {model!r}.")
    if method == "laplace" and (model.intercepts or model.likelihood.estimates()):
        raise ValueError(
            "laplace approximates the posterior of the factors only; this model also has "
            f"intercepts {model.intercepts} or Estimated likelihood parameters "
            f"{model.likelihood.estimate_names()}. Use bf.sample (NUTS samples them too), "
            "or fix them at the MAP: bf.Offset(likelihood, intercepts) and fixed scales."
        )
    if len(model.intercepts) > 1:
        warn(
            f"{method}: intercepts on modes {model.intercepts} under flat priors can trade "
            "a constant between them (b_j + c, b_k - c) without changing eta: the "
            "posterior is improper along that direction and those draws drift. Keep one "
            "intercept, or read only eta and predictions.",
            IdentifiabilityWarning,
            stacklevel=4,
        )
    priors = model.mode_priors(len(data.shape))
    model.likelihood.check_shape(data.shape)
    _check_continuous(priors, method)
    model.likelihood.check_data(data.x, data.mask)
    # NUTS / Laplace draw from the pmf's posterior, and log_likelihood is the pmf.
    warn_pmf_data(model.likelihood, data.x, data.mask, f"bf.{method}", stacklevel=4)
    return priors


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}.")


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")


def _reference(init: Any, model: Model, shape: tuple[int, ...], name: str) -> list[np.ndarray]:
    """The MAP factors of ``init`` (FitResult or tuple of arrays), checked."""
    return list(check_factors(init, model, shape, name=name, allow_none=False))
