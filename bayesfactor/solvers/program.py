"""The compiled alternating loop: init / step / terminate, restarts vmapped, and its runner.

:func:`fit_impl` is one fit of every restart as one program: a :class:`Problem` is
set up from the :class:`~bayesfactor.solvers.plan.Plan` and the start (:func:`begin`
makes the loop's first carry), :func:`step` is one iteration (:func:`sweep`: the
block updates, then the nuisance parameters; the objective, the convergence test,
the extrapolation's accept/reject) and :func:`running` ends it. :data:`fit_program`
compiles it; :func:`run_fit` runs it on the host in chunks (Ctrl-C stops it), after
screening the restarts on a compression where asked.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array, lax

from bayesfactor._data import seed_words
from bayesfactor.model import Model
from bayesfactor.observations import saturated
from bayesfactor.result import Status
from bayesfactor.solvers._loop import (
    SolverState,
    _sweep_flops,
    at_rounding_level,
    converged,
    energy_floor,
    run_in_chunks,
)
from bayesfactor.solvers._shard import ONE_DEVICE, Layout
from bayesfactor.solvers.accelerate import (
    accept_or_reject,
    extrapolate,
    extrapolate_last,
    first_extrapolation,
    rebalance,
)
from bayesfactor.solvers.compress import compress_sketches, tucker_compress
from bayesfactor.solvers.init import intercept_start
from bayesfactor.solvers.nuisance import recentre, update_estimates, update_intercepts
from bayesfactor.solvers.options import FitOptions
from bayesfactor.solvers.plan import make_plan
from bayesfactor.solvers.problem import Problem, constant, given, objective, padding
from bayesfactor.solvers.start import RESTARTS, best_start, reseed_dead, start_factors
from bayesfactor.solvers.updates import _line_search, _line_search_step, _replace

__all__ = [
    "begin",
    "fit_impl",
    "fit_program",
    "host_state",
    "run_fit",
    "run_in_chunks",
    "running",
    "step",
    "sweep",
]


def fit_impl(
    model,
    x,
    mask,
    start,
    tol,
    *,
    max_iter: int,
    dense: bool,
    fixed: tuple[int, ...] = (),
    layout: Layout = ONE_DEVICE,
    active: Array | None = None,
    accelerate: bool | None = None,
    check_every: int | None = None,
    phase: str = "whole",
    stop: Array | int | None = None,
) -> SolverState:
    r"""Alternating MAP from ``start`` (a RandomStart, or factors with a restart axis).

    ``phase`` splits the fit for :func:`run_in_chunks`: ``"start"`` returns the
    loop's first carry, ``"advance"`` continues a carry (``start``) until every restart
    has stopped or passed iteration ``stop`` (traced: one program for every chunk);
    both keep the carry as the loop holds it (padded, with its extrapolation), and
    :func:`host_state` finishes it. ``"whole"`` runs the whole loop in one program.
    The iterates are the same either way: the chunks run the same loop body.

    Modes in ``fixed`` keep their starting values (e.g. ``transform`` of new data).
    ``layout`` shards ``x`` (placed and padded by ``layout.place``) across devices;
    ``start`` has the unpadded shapes, and so has the result. ``active`` (``(rank,)``
    bool, optional) fits only those components: the others are held at exactly 0 and
    left out of the recorded objective (``problem.inactive_prior``), so a fit padded
    to a larger rank equals the fit at its own rank (``sweep.fit_sweep``).

    With ``accelerate`` (default: ``plan.accelerates``) the updates are extrapolated
    (Ang & Gillis 2019, Hessian-free; :mod:`~bayesfactor.solvers.accelerate`): each
    block is updated from the extrapolated other blocks, then extrapolated itself,
    :math:`\hat F_k = P(F_k + \beta (F_k - F_k^{\text{prev}}))`; the last block of the
    sweep is extrapolated at the start of the next one, so the candidate (every block but
    the last extrapolated, the last plain) has the objective that the last update's
    MTTKRP already gives. A candidate whose objective is not below the current one
    is rejected: the iterate, history and convergence test keep the current one
    (monotone), :math:`\beta \leftarrow \beta / \eta` with ceiling
    :math:`\bar\beta \leftarrow \beta`, and the next iteration is a plain sweep
    (monotone like the updates themselves); an accepted one grows
    :math:`\beta \leftarrow \min(\bar\beta, \gamma\beta)`,
    :math:`\bar\beta \leftarrow \min(1, \bar\gamma \bar\beta)`. Fixed and
    ``OneHot`` modes are never extrapolated.

    A ``start`` that gives some modes and draws the others first updates the drawn
    ones from the given ones (a ``OneHot`` mode: the assignment to given centres), so
    that the given start is used, not overwritten by the first sweep.
    A Gaussian tensor fit with ``NonNegative`` priors on every mode, none fixed,
    re-seeds a component that HALS has set to 0 in a whole mode (``start.reseed_dead``).

    With ``check_every`` :math:`k > 1` (default: ``plan.check_interval``), one loop
    iteration runs :math:`k` sweeps (fewer before ``max_iter``) in a ``fori_loop`` and
    then evaluates the objective once; ``history`` is NaN at the sweeps in between.
    """
    plan = make_plan(
        model, x, dense=dense, fixed=fixed, accelerate=accelerate, check_every=check_every
    )
    assign: tuple[int, ...] = ()
    if phase != "advance":  # else a carry of this loop: nothing to draw or pad
        start, assign = start_factors(model, plan, layout, x, start)
    intercepts0 = intercept_start(model, x, mask)  # the same for every restart
    sat = saturated(x, model.likelihood, mask)  # the same for every restart
    p = Problem(
        model, x, mask, dense, layout, active, plan, sat, intercepts0, assign, tol, max_iter, stop
    )
    loop = jax.vmap(
        lambda s: lax.while_loop(lambda s: running(p, s), lambda s: step(p, s), s),
        axis_name=RESTARTS,
    )
    if phase == "advance":
        return loop(start)
    state = jax.vmap(lambda f0: begin(p, f0), axis_name=RESTARTS)(start)
    if phase == "start":
        return state
    state = loop(state)
    return layout.replicate(
        state._replace(
            factors=layout.trim(state.factors, range(x.ndim), axis=1),
            intercepts=layout.trim(state.intercepts, model.intercepts, axis=1),
            extrapolation=(),
        )
    )


#: :func:`fit_impl` as one compiled program.
fit_program = jax.jit(
    fit_impl,
    static_argnames=("max_iter", "dense", "fixed", "layout", "accelerate", "check_every", "phase"),
)


def begin(p: Problem, f0: tuple[Array, ...]) -> SolverState:
    """The loop's first carry from one restart's starting factors ``f0``.

    Drawn modes next to given ones (``p.assign``) are first updated from them.
    """
    layout, active, x = p.layout, p.active, p.x
    f0 = layout.constrain(f0 if active is None else tuple(jnp.where(active, f, 0) for f in f0))
    b0 = p.intercepts0
    e0 = tuple(jnp.asarray(e.value, x.dtype) for e in p.model.likelihood.estimates())
    updates = dict(p.plan.updates)
    for k in p.assign:  # static
        m, data = given(p, b0, e0)
        update = updates[k]
        new = update.apply(m, p.plan.priors[k], data, p.mask, f0, k, p.dense)
        if update.line_search:  # from the drawn block, as in a sweep
            new = _line_search(m, data, p.mask, f0, k, new, objective(p, f0, b0, e0) + p.sat)
        f0 = layout.constrain(_replace(f0, k, new))
    obj0 = objective(p, f0, b0, e0) + padding(p, f0)
    init = SolverState(
        f0,
        b0,
        e0,
        jnp.zeros((), jnp.int32),
        obj0,
        jnp.full((), jnp.inf, obj0.dtype),
        jnp.full((p.max_iter,), jnp.nan, obj0.dtype),
        jnp.asarray(Status.RUNNING, jnp.int32),
        constant(p, f0, b0, e0),
        energy_floor(given(p, b0, e0)[0].likelihood, x, p.mask, p.plan.gram),
    )
    if p.plan.accelerate:  # the first iteration is a plain sweep
        init = init._replace(extrapolation=first_extrapolation(f0, obj0.dtype))
    return init


def sweep(p: Problem, factors, intercepts, estimates, e=None):
    """One iteration's block updates; with ``e`` (Extrapolation), extrapolated.

    Returns the new (factors, intercepts, estimates), when extrapolating the plain
    blocks that the next extrapolation starts from, and whether a line search
    stalled (:func:`~bayesfactor.solvers.updates._line_search_step`).
    """
    plan, layout, mask, active = p.plan, p.layout, p.mask, p.active
    m, data = given(p, intercepts, estimates)
    stalled = jnp.zeros((), bool)
    if e is not None:
        factors, previous, beta = extrapolate_last(plan, layout, factors, e, p.x.dtype)
    for k, update in plan.updates:  # static: unrolled at trace time
        new = update.apply(m, plan.priors[k], data, mask, factors, k, p.dense)
        if active is not None:  # inactive components: exactly 0 (see fit_sweep)
            new = jnp.where(active, new, 0.0)
        if update.line_search:
            before = objective(p, factors, intercepts, estimates) + p.sat  # as m.objective
            new, stall = _line_search_step(m, data, mask, factors, k, new, before)
            stalled = stalled | stall
        if e is not None and k != plan.last:
            previous[k] = new
            new = extrapolate(plan.priors[k], new, e.previous[k], beta, plan.positive[k])
        factors = layout.constrain(_replace(factors, k, new))
        factors, intercepts = recentre(p, factors, intercepts, k)
        if k in plan.centred and k != plan.last:
            m, data = given(p, intercepts, estimates)  # the intercepts moved: the next sees them
    if plan.reseeding:
        factors = layout.constrain(reseed_dead(m, data, mask, factors, active))
    intercepts = update_intercepts(p, factors, intercepts, estimates)
    estimates = update_estimates(p, factors, intercepts, estimates)
    return (factors, intercepts, estimates), (previous if e is not None else None), stalled


def _sweeps(p: Problem, s: SolverState):
    """The sweeps of one loop iteration: one (extrapolated or not), or ``every`` plain ones.

    Returns the (factors, intercepts, estimates), the plain blocks of an extrapolated
    sweep, whether a line search stalled and the number of sweeps run.
    """
    carry = (s.factors, s.intercepts, s.estimates)
    e = s.extrapolation if p.plan.accelerate else None
    stalled = jnp.zeros((), bool)
    previous = None
    if p.plan.every == 1:
        carry, previous, stalled = sweep(p, *carry, e)
        steps = 1
    else:  # `every` sweeps (fewer before max_iter), then the objective
        steps = jnp.minimum(p.plan.every, p.max_iter - s.step)
        carry = lax.fori_loop(0, steps, lambda _, c: sweep(p, *c)[0], carry)
    return carry, previous, stalled, steps


def step(p: Problem, s: SolverState) -> SolverState:
    """One iteration of the loop: the sweeps, the objective, the stopping test."""
    (factors, intercepts, estimates), previous, stalled, steps = _sweeps(p, s)
    obj = objective(p, factors, intercepts, estimates) + padding(p, factors)
    change, done = converged(s.objective, obj, s.floor, p.tol, steps)
    extrapolation = ()
    if p.plan.accelerate:
        if p.plan.balance:
            factors = rebalance(p.plan, p.layout, factors, previous, p.active)
        candidate = (factors, intercepts, estimates, obj, change)
        kept, done, extrapolation = accept_or_reject(s, candidate, previous, done)
        factors, intercepts, estimates, obj, change = kept
    status = _status(p, s, obj, done, stalled, steps)
    history = s.history.at[s.step + steps - 1].set(obj)
    return SolverState(
        factors,
        intercepts,
        estimates,
        s.step + steps,
        obj,
        change,
        history,
        status,
        s.constant,
        s.floor,
        extrapolation,
    )


def _status(p: Problem, s: SolverState, obj, done, stalled, steps) -> Array:
    """The status after an iteration (int32 code of :class:`Status`)."""
    status = jnp.where(
        ~jnp.isfinite(obj),
        Status.NONFINITE,
        jnp.where(done, done_status(stalled, _separated(p, obj, s.floor)), Status.RUNNING),
    )
    return jnp.where(
        (status == Status.RUNNING) & (s.step + steps >= p.max_iter), Status.MAX_ITER, status
    ).astype(jnp.int32)


def _separated(p: Problem, obj: Array, floor: Array) -> Array:
    """The objective at rounding level where the likelihood cannot fit exactly."""
    return at_rounding_level(obj, floor) & (not p.model.likelihood.exact_fit)


def running(p: Problem, s: SolverState) -> Array:
    """Whether the loop goes on: the restart runs (and has not passed the chunk's stop)."""
    running = s.status == Status.RUNNING
    return running if p.stop is None else running & (s.step < p.stop)


def done_status(stalled: Array, separated: Array) -> Array:
    """The status of a fit whose stopping test held: converged, unless it stalled or separated."""
    return jnp.where(
        stalled, Status.STALLED, jnp.where(separated, Status.SEPARATED, Status.CONVERGED)
    )


def host_state(state: SolverState, layout: Layout, model: Model, ndim: int) -> SolverState:
    """A chunked loop's carry on the host: padding rows cut off, the extrapolation dropped."""
    state = jax.device_get(state._replace(extrapolation=()))

    def cut(arrays, modes):
        return tuple(
            a[:, : a.shape[1] - layout.pad] if layout.pad and m == layout.mode else a
            for a, m in zip(arrays, modes, strict=True)
        )

    return state._replace(
        factors=cut(state.factors, range(ndim)),
        intercepts=cut(state.intercepts, model.intercepts),
    )


def run_fit(
    model: Model,
    x: Any,
    mask: Array,
    start: Any,
    options: FitOptions,
    *,
    dense: bool,
    layout: Layout,
    fixed: tuple[int, ...],
    ranks: tuple[int, ...],
    key: Any,
    dtype,
) -> tuple[SolverState, SolverState | None]:
    """Run :data:`fit_program` on the host in chunks; the final state and the screened one.

    With ``ranks`` (``fit(..., compress=...)``) the restarts first run on a Tucker
    compression of ``x`` with those per-mode ranks (screened), and the best one is
    finished on ``x``.
    """
    run = functools.partial(
        fit_program,
        model,
        tol=jnp.asarray(options.tol, dtype),
        max_iter=options.max_iter,
        fixed=fixed,
        accelerate=options.accelerate,
        check_every=options.check_every,
    )
    max_iter, restarts = options.max_iter, options.restarts
    screened = None
    if ranks:
        compressed = tucker_compress(x, compress_sketches(seed_words(key), x.shape, ranks, dtype))
        screen = functools.partial(run, compressed, mask, dense=True)
        cost = _sweep_flops(compressed, model.rank, restarts)
        screened = run_in_chunks(screen, start, max_iter, cost)
        screened = host_state(screened, ONE_DEVICE, model, x.ndim)
        start = best_start(screened)
    program = functools.partial(run, x, mask, dense=dense, layout=layout)
    flops = _sweep_flops(x, model.rank, restarts)
    state = host_state(run_in_chunks(program, start, max_iter, flops), layout, model, x.ndim)
    return state, screened
