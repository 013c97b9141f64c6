"""Where a fit starts: random draws on the host, given factors, SVD; dead components re-seeded.

Random starts are drawn with NumPy on the host (:func:`draw_start`), one generator
per restart, and shaped into factors inside the compiled fit (:func:`init_many`);
:func:`initial_start` turns ``fit``'s ``init`` into a start; :func:`start_factors`
puts given factors next to drawn ones in the compiled fit; :func:`reseed_dead` moves
a component that a non-negative update has zeroed onto the residual's peak.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from bayesfactor._data import host_normals, host_rng, seed_words
from bayesfactor.model import Model
from bayesfactor.result import MESSAGES, Status
from bayesfactor.solvers._loop import RandomStart, SolverState, _best
from bayesfactor.solvers._shard import Layout
from bayesfactor.solvers.checks import as_init
from bayesfactor.solvers.init import intercept_start, svd_init
from bayesfactor.solvers.plan import Plan

__all__ = [
    "RESTARTS",
    "best_start",
    "draw_start",
    "init_many",
    "init_many_jit",
    "initial_start",
    "random_init",
    "reseed_dead",
    "start_factors",
    "start_scale",
]

#: The vmapped axis of the restarts in the compiled fit (a re-seed runs when any needs it).
RESTARTS = "restarts"


def random_init(
    model: Model, shape, start: RandomStart, dtype, active: Array | None = None
) -> tuple[Array, ...]:
    """One restart's random factors from its host draws; ``active`` (traced int): that many used.

    Component :math:`r` (its column in every mode) is column :math:`r` of the start's
    standard normals, scaled so that each product of the modes' factors has magnitude
    ``scale / sqrt(rank)``, then moved into each mode's support by ``prior.init``; a
    ``OneHot`` mode starts from the Forgy rows (``start.rows``), except next to given
    factors (``start.given``), where the fit assigns the rows to them instead.
    """
    priors = model.mode_priors(len(shape))
    rank = model.rank
    root = np.sqrt(rank) if active is None else jnp.sqrt(jnp.asarray(active, dtype))
    s = jnp.asarray((start.scale / root) ** (1.0 / len(shape)), dtype)  # NumPy scalars promote
    draws = jnp.asarray(start.normals, dtype)  # (sum of n_k, rank)
    starts = np.cumsum((0, *shape))
    factors = []
    for k, (n, prior) in enumerate(zip(shape, priors, strict=True)):
        if prior.assigns:
            # Forgy seeding: `rank` distinct rows alone, so the first centre update
            # puts the centres on those rows (the assignment step fills the rest).
            one_hot = jnp.zeros((n, rank), dtype).at[start.rows[k], jnp.arange(rank)].set(1.0)
            factors.append(one_hot)
        else:
            factors.append(prior.init(s * draws[starts[k] : starts[k + 1]]))
    return tuple(factors)


def draw_start(
    model: Model, shape, key: Any, restarts: Sequence[int], dtype, scale: Any, given=None
) -> RandomStart:
    """The random starts of ``restarts`` (indices) from ``key``, drawn on the host with NumPy.

    Restart :math:`i` draws its standard normals as a ``(rank, sum of n_k)`` array from
    its own generator (:func:`~bayesfactor._data.host_rng`), so that a fit at rank
    :math:`r` starts from the first :math:`r` components of the draw at any larger
    rank: nested starts across a rank sweep, and one draw for a padded sweep
    (:func:`~bayesfactor.solvers.sweep.fit_sweep`). Drawing on the host (milliseconds)
    keeps random-bit generators out of the compiled fit: the benchmark NMF's first call
    went from 2.09 s to 1.54 s.
    """
    words = seed_words(key)
    priors = model.mode_priors(len(shape))
    rank = model.rank
    normals = host_normals(words, restarts, sum(shape), rank, dtype)
    rows = tuple(
        np.stack([host_rng(words, "forgy", i, k).permutation(n)[:rank] for i in restarts])
        if prior.assigns
        else None
        for k, (n, prior) in enumerate(zip(shape, priors, strict=True))
    )
    given = (None,) * len(shape) if given is None else given
    return RandomStart(normals, rows, np.asarray(scale, dtype), given)


def init_many(
    model: Model, shape, dtype, start: RandomStart, active: Array | None = None
) -> tuple[Array, ...]:
    """One random initialization per restart of ``start``, stacked along a leading axis."""
    draws = (start.normals, start.rows)
    one = lambda normals, rows: random_init(  # noqa: E731
        model, shape, start._replace(normals=normals, rows=rows), dtype, active
    )
    return jax.vmap(one)(*draws)


#: :func:`init_many` as one program (outside a fit: the other restarts of ``init="svd"``).
init_many_jit = jax.jit(init_many, static_argnums=(1, 2))


def start_factors(
    model: Model, plan: Plan, layout: Layout, x: Any, start: Any
) -> tuple[tuple[Array, ...], tuple[int, ...]]:
    """The starting factors (padded for ``layout``) and the drawn modes to update first.

    ``start`` is a :class:`RandomStart` or factors with a restart axis. A given start
    is the start: modes drawn next to given factors are first updated from them (for a
    OneHot mode: assigned to the given centres, not Forgy rows that would overwrite
    them), in the sweep's order, before the loop; otherwise the first sweep would
    overwrite a given mode from random ones.
    """
    assign: tuple[int, ...] = ()
    if isinstance(start, RandomStart):
        if any(g is not None for g in start.given):
            assign = tuple(k for k, *_ in plan.updates if start.given[k] is None)
        drawn = init_many(model, layout.unpadded(x.shape), x.dtype, start)
        start = tuple(
            d if g is None else jnp.broadcast_to(g, d.shape)
            for d, g in zip(drawn, start.given, strict=True)
        )
    return layout.pad_factors(start, axis=1), assign


def initial_start(
    model: Model, data: Any, init: Any, *, key: Any, restarts: int, dtype, scale: Any
) -> Any:
    """``fit``'s ``init`` as a start: a :class:`RandomStart`, or factors with a restart axis.

    ``"random"`` (None): one draw per restart; ``"svd"``: the SVD start for the first
    restart, draws for the others; given factors: those (a ``None`` mode drawn).
    """
    if isinstance(init, str):
        if init not in ("random", "svd"):
            raise ValueError(
                f"init must be 'random', 'svd', a FitResult or a tuple of factors; got {init!r}."
            )
        if init == "svd":
            model.likelihood.init_target(data.observed[:1])  # raises where undefined
    if init is None or init == "random":
        return draw_start(model, data.shape, key, range(restarts), dtype, scale)
    if init == "svd":
        svd = svd_init(model, data, dtype, key)
        start = tuple(f[None] for f in svd)
        if restarts > 1:
            others = draw_start(model, data.shape, key, range(1, restarts), dtype, scale)
            drawn = init_many_jit(model, data.shape, dtype, others)
            start = tuple(jnp.concatenate(pair) for pair in zip(start, drawn, strict=True))
        return start
    given = as_init(init, model, data.shape, dtype)
    if all(g is not None for g in given):
        return tuple(g[None] for g in given)
    return draw_start(model, data.shape, key, range(restarts), dtype, scale, given)


def start_scale(model: Model, x: np.ndarray, mask: np.ndarray) -> float:
    """Typical magnitude of the factors' part of eta, for the random starts (host).

    The likelihood's ``data_scale``; for a Gaussian model with intercepts, that of
    the data less the intercepts' start (:func:`intercept_start`): the factors are
    drawn for the remainder, not for the means (a start of the size of a large mean
    puts it in a component).
    """
    if not (model.intercepts and model.likelihood.least_squares):
        return model.likelihood.data_scale(x, mask)
    filled = jnp.asarray(np.where(mask, x, 0.0))
    offset = model.intercept_eta(intercept_start(model, filled, jnp.asarray(mask)), x.shape)
    return model.likelihood.data_scale(x - np.asarray(offset), mask)


def best_start(state: SolverState) -> tuple[Array, ...]:
    """The factors of the best restart (:func:`_best`), with a restart axis."""
    best = _best(state)
    if not np.isfinite(state.objective[best]):
        raise FloatingPointError(MESSAGES[Status.NONFINITE].format(n_iter=int(state.step.max())))
    return tuple(f[best : best + 1] for f in state.factors)


def reseed_dead(model, x, mask, factors, active=None):
    r"""Re-seed a component that is 0 in every entry of some mode, from the residual's peak.

    A non-negative block update (HALS) sets a component to 0 where it does not lower
    the objective; once 0 in one mode, it has no gradient in the others, and stays 0.
    Like the relocation of an empty k-means cluster at the farthest point, the first
    dead component :math:`r` is moved onto the largest entry :math:`R_{i^*}` of the
    residual :math:`R = X - \eta` (observed entries): its column in mode :math:`k`
    becomes the positive part of the mode-:math:`k` fibre of :math:`R` through
    :math:`i^*`, divided by :math:`R_{i^*}` in every mode but the first, so that the
    component :math:`C` equals :math:`R` on those fibres where :math:`R > 0`. It is
    scaled by :math:`\alpha = \langle R, C\rangle_+ / \|C\|^2`, the least-squares
    weight, so the objective falls by :math:`\langle R, C\rangle_+^2 / \|C\|^2
    \ge 0` (flat priors on the scale: ``NonNegative``). It runs (one pass over the
    data) only in an iteration where some restart has a dead component.
    """
    tiny = jnp.finfo(x.dtype).tiny
    alive = functools.reduce(jnp.logical_and, [jnp.any(f > 0, axis=0) for f in factors])
    dead = ~alive if active is None else ~alive & active
    anywhere = lax.psum(jnp.any(dead).astype(jnp.int32), RESTARTS) > 0

    def reseed(factors):
        residual = jnp.where(mask, x - model.eta(factors), 0.0)
        peak = jnp.unravel_index(jnp.argmax(residual), x.shape)
        top = residual[peak]
        columns = []
        for k in range(x.ndim):
            fibre = residual[tuple(slice(None) if j == k else i for j, i in enumerate(peak))]
            fibre = jnp.maximum(fibre, 0.0)
            columns.append(fibre if k == 0 else fibre / jnp.maximum(top, tiny))
        c = model.eta(tuple(col[:, None] for col in columns))
        c = jnp.where(mask, c, 0.0)
        alpha = jnp.maximum(jnp.sum(residual * c), 0.0) / jnp.maximum(jnp.sum(c * c), tiny)
        columns[0] = alpha * columns[0]
        r = jnp.argmax(dead)  # the first dead component
        ok = jnp.any(dead) & (top > 0) & (alpha > 0)
        return tuple(
            jnp.where(ok, f.at[:, r].set(col.astype(f.dtype)), f)
            for f, col in zip(factors, columns, strict=True)
        )

    return lax.cond(anywhere, reseed, lambda f: f, factors)
