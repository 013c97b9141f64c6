"""What a fit minimises, for the compiled loop: :class:`Problem` and its objective.

A :class:`Problem` holds what one trace of the loop sees (the model, the data as the
loop holds it, the :class:`~bayesfactor.solvers.plan.Plan`, the constants of the
objective); :func:`given` is the (model, data) that the factor updates see, with
the intercepts and estimated likelihood parameters folded in; :func:`objective` is
the negative log posterior without its constant terms (:func:`constant`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
from jax import Array

from bayesfactor._pytree import unchecked_replace
from bayesfactor.likelihoods import Offset
from bayesfactor.model import Model
from bayesfactor.observations import dropped, squared_norm
from bayesfactor.solvers._shard import Layout
from bayesfactor.solvers.plan import Plan
from bayesfactor.solvers.updates import dense_gaussian_objective

__all__ = [
    "Problem",
    "constant",
    "current",
    "given",
    "inactive_prior",
    "objective",
    "padding",
]


@dataclasses.dataclass(frozen=True)
class Problem:
    """What one trace of the loop fits: Python container of traced arrays and static choices."""

    model: Model
    x: Any  # the data as the loop holds it: dense (placed), Tucker or sparse
    mask: Array
    dense: bool  # every entry observed: no mask array (the fast paths)
    layout: Layout
    active: Array | None  # (rank,) bool: the fitted components (fit_sweep), or all
    plan: Plan
    sat: Array  # the energy of a perfect fit (saturated), the same for every restart
    intercepts0: tuple  # the intercepts' start, the same for every restart
    assign: tuple[int, ...]  # drawn modes first updated from given ones, before the loop
    tol: Array
    max_iter: int
    stop: Array | int | None  # the loop's chunk ends past this iteration (run_in_chunks)


def current(model: Model, estimates: tuple) -> Model:
    """The model with the likelihood's Estimated parameters at their current values."""
    if not estimates:
        return model
    return unchecked_replace(model, likelihood=model.likelihood.with_values(estimates))


def given(p: Problem, intercepts: tuple, estimates: tuple) -> tuple[Model, Any]:
    """(model, data) that the factor updates see: intercepts and estimates folded in."""
    model, x = p.model, p.x
    m = current(model, estimates)
    if not model.intercepts:
        return m, x
    offset = model.intercept_eta(intercepts, x.shape, full=not p.plan.rows)
    if p.plan.gaussian:
        return m, x - offset
    return unchecked_replace(m, likelihood=Offset.traced(m.likelihood, offset)), x


def objective(p: Problem, factors: tuple, intercepts: tuple, estimates: tuple) -> Array:
    """The objective without its constant terms: the energy less its ``saturated`` part."""
    m, data = given(p, intercepts, estimates)
    if p.plan.gram:
        # Gram-matrix form: no reconstruction is formed (as scikit-learn's CD does).
        x_sq = squared_norm(data)
        return dense_gaussian_objective(m, data, x_sq, factors, p.plan.last, False) - p.sat
    return m.objective(data, p.mask, factors, constants=False) - p.sat


def constant(p: Problem, factors: tuple, intercepts: tuple, estimates: tuple) -> Array:
    """What ``objective`` leaves out: the same for any parameters."""
    return p.sat + _dropped(p, factors, intercepts, estimates)


def _dropped(p: Problem, factors: tuple, intercepts: tuple, estimates: tuple) -> Array:
    """The terms ``likelihood.energy`` drops, for the data in any form."""
    m, data = given(p, intercepts, estimates)
    return dropped(data, m, p.mask, factors)


def padding(p: Problem, factors: tuple) -> Array:
    """The log-prior of padding rows and inactive components: not recorded."""
    return p.layout.padding_prior(p.model, factors) + inactive_prior(p.model, p.x, p.active)


def inactive_prior(model: Model, x: Array, active: Array | None) -> Array | float:
    r"""Log-prior of the inactive components (zero columns), which the objective must not count.

    For priors additive over components (:attr:`Prior.additive`) it is the number of
    inactive components times :math:`\sum_k \log p_k(\mathbf 0_{n_k \times 1})`: a
    constant, so block updates and line searches compare objectives that include it.
    """
    if active is None:
        return 0.0
    zero_column = sum(
        p.log_prob(jnp.zeros((n, 1), x.dtype))
        for p, n in zip(model.mode_priors(x.ndim), x.shape, strict=True)
    )
    return jnp.sum(~active) * zero_column
