"""The alternating loop's state and ending: stopping rule, chunked runs, results.

Shared by the CP driver (:mod:`bayesfactor.solvers.program`) and the convolutional one
(:mod:`bayesfactor.solvers.conv`): what a fit carries (:class:`SolverState`), why it
stopped (:class:`~bayesfactor.result.Status`, :data:`~bayesfactor.result.MESSAGES`,
in :mod:`bayesfactor.result`), when a change counts as convergence
(:func:`converged`, :func:`energy_floor`), how the compiled loop runs in bounded chunks
so that Ctrl-C stops it (:func:`run_in_chunks`), and the :class:`FitResult` of its best
restart (:func:`_result`).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from bayesfactor._data import warn
from bayesfactor._pytree import unchecked_replace
from bayesfactor.observations import energy_at_zero
from bayesfactor.result import MESSAGES, ConvergenceWarning, FitResult, Status


class SolverState(NamedTuple):
    """Carry of the alternating loop."""

    factors: tuple[Array, ...]  # one (X.shape[k], rank) array per mode
    intercepts: tuple[Array, ...]  # one (X.shape[k],) array per mode in model.intercepts
    estimates: tuple[Array, ...]  # values of the likelihood's Estimated parameters
    step: Array  # shape=(), int32
    objective: Array  # shape=(), negative log posterior minus `constant`
    change: Array  # shape=(), last relative decrease of the objective
    history: Array  # shape=(max_iter,), NaN past `step`
    status: Array  # shape=(), int32 code of `Status`
    # The objective's terms that no parameter changes (e.g. n log(sigma sqrt(2 pi))):
    # left out of `objective` and `history`, so that they do not hide its relative
    # change, and added back when the result is reported.
    constant: Array
    floor: Array  # shape=(), rounding level of the objective's changes (energy_floor)
    extrapolation: Extrapolation | tuple = ()  # () when the fit does not extrapolate


class Extrapolation(NamedTuple):
    """Carry of the extrapolated block updates (:func:`_extrapolate`); one copy of the factors."""

    previous: tuple[Array, ...]  # per mode: the block before the last update (see body)
    beta: Array  # shape=(), extrapolation weight of the next iteration
    beta_max: Array  # shape=(), ceiling of beta (the weight of the last restart)
    plain: Array  # shape=(), bool: the next iteration does not extrapolate (after a restart)


def converged(
    previous: Array, objective: Array, floor: Array, tol: Array, steps: Array | int = 1
) -> tuple[Array, Array]:
    r"""The relative decrease of the objective per iteration, and whether it is small enough.

    With :math:`L` the objective without its constant terms (``likelihood.energy``: a
    large constant would hide its changes), evaluated ``steps`` (:math:`s`) iterations
    apart, the change is :math:`c = (L_{t-s} - L_t) / (s |L_t|)`; the fit has converged
    when :math:`|c| \le \text{tol}`. One exception, for ``tol > 0``: when the objective
    itself is at the rounding level of the data's energy (:func:`energy_floor`, e.g.
    :math:`L \to 0` on exact low-rank data), so that :math:`c` stays large from rounding
    alone, a change below that level ends the fit too. ``tol = 0`` never converges: the
    fit runs ``max_iter`` iterations.
    """
    decrease = previous - objective
    change = decrease / (steps * jnp.maximum(jnp.abs(objective), jnp.finfo(objective.dtype).tiny))
    rounding = at_rounding_level(objective, floor) & (jnp.abs(decrease) <= floor)
    return change, (tol > 0) & ((jnp.abs(change) <= tol) | rounding)


def at_rounding_level(objective: Array, floor: Array) -> Array:
    """Whether the objective itself is at the rounding level (:func:`converged`'s exception)."""
    return jnp.abs(objective) <= floor


def energy_floor(likelihood, x: Array, mask: Array, gram: bool = False) -> Array:
    r"""Rounding level of an objective at an exact fit, from the data's energy :math:`E_0`.

    :math:`E_0 = \sum_i |E(x_i, 0)|`. The Gram form of a Gaussian objective,
    :math:`\|X\|^2 - 2 \langle X, \eta\rangle + \|\eta\|^2` (``gram``), cancels to a
    rounding error of about :math:`\epsilon E_0`: its level is :math:`16 \epsilon E_0`.
    A sum of the residuals' energies is accurate to about :math:`\epsilon` of itself
    and reaches about :math:`\epsilon^2 E_0` at an exact fit; its level is
    :math:`16 \epsilon^{3/2} E_0`, between the two, so that it never ends a fit whose
    objective is above :math:`10^{-9} E_0` in float32 (:math:`10^{-22} E_0` in float64).
    """
    energy = energy_at_zero(x, likelihood, mask)  # any form (bayesfactor.observations)
    eps = jnp.finfo(x.dtype).eps
    return 16 * eps * (1.0 if gram else jnp.sqrt(eps)) * energy


class RandomStart(NamedTuple):
    """Random initializations: draws made on the host (:func:`draw_start`), shaped in the fit."""

    normals: Array  # shape=(restarts, sum of n_k, rank), standard normal
    rows: tuple  # per mode: (restarts, rank) int Forgy rows of a OneHot mode, else None
    scale: Array  # shape=(), typical magnitude of eta (Likelihood.init_scale)
    given: tuple  # per mode: an (n_k, rank) array used by every restart, or None (random)


#: Wall time that one compiled chunk of the loop aims at (:func:`run_in_chunks`).
CHUNK_SECONDS = 0.25


#: A pessimistic rate of the loop's arithmetic (flop/s), for the first chunk's length.
_SLOW_FLOPS = 2e9


def run_in_chunks(program: Any, start: Any, max_iter: int, flops: float) -> SolverState:
    r"""Run a fit's loop in chunks (``program``: a fit or sweep program bound to its data).

    The loop is compiled once (``phase="advance"``, its ``stop`` traced) and called
    for chunks of iterations of about :data:`CHUNK_SECONDS` of wall time each; between
    two chunks Python runs, so Ctrl-C (``KeyboardInterrupt``) stops the fit within
    a chunk, and nothing keeps computing after it. The first chunk is as long as
    :data:`_SLOW_FLOPS` allows for ``flops`` per iteration (a small fit runs in one
    chunk); each next one is scaled by the measured time (at most 8 times longer).
    A chunk ends when every restart has stopped or passed its ``stop``, and the next
    continues the same carry, so the iterates are those of one uninterrupted loop.
    """
    state = program(start, phase="start")
    stop, size = 0, int(np.clip(CHUNK_SECONDS * _SLOW_FLOPS / max(flops, 1.0), 1, max_iter))
    while True:
        stop = min(max_iter, stop + size)
        began = time.perf_counter()
        state = program(state, phase="advance", stop=stop)
        if not (np.asarray(state.status) == Status.RUNNING).any():
            return state  # at stop == max_iter every restart has stopped (MAX_ITER)
        seconds = max(time.perf_counter() - began, 1e-6)
        size = int(np.clip(size * CHUNK_SECONDS / seconds, 1, 8 * size))


def _sweep_flops(x: Any, rank: int, batch: int) -> float:
    """About the arithmetic of one iteration: a product with the stored data per mode.

    ``x`` is the data as the loop holds it (dense, Tucker-compressed or sparse): its
    stored numbers, whatever its form, times the rank, per mode and fit in ``batch``.
    """
    stored = sum(float(np.size(leaf)) for leaf in jax.tree.leaves(x))
    return 2.0 * x.ndim * stored * rank * batch


def _best(state: SolverState) -> int:
    """The restart of ``state`` (host arrays) with the lowest finite objective."""
    return int(np.argmin(np.where(np.isfinite(state.objective), state.objective, np.inf)))


def _result(
    model: Any,
    state: SolverState,
    data: Any,
    *,
    max_iter: int,
    tol: float,
    stacklevel: int = 4,
    screened: SolverState | None = None,
) -> FitResult:
    """The best restart of ``state`` (host arrays) as a FitResult; raise or warn on its status.

    ``stacklevel`` points the ConvergenceWarning at the user's call of ``bf.fit``.
    ``screened``: the restarts on a compression (``fit(..., compress=...)``), whose
    objectives are the ``restart_objectives``.
    """
    best = _best(state)
    status = Status(int(state.status[best]))
    n_iter = int(state.step[best])
    finite = all(np.isfinite(f[best]).all() for f in (*state.factors, *state.intercepts))
    if status == Status.NONFINITE or not np.isfinite(state.objective[best]) or not finite:
        raise FloatingPointError(MESSAGES[Status.NONFINITE].format(n_iter=n_iter))
    if status in (Status.MAX_ITER, Status.STALLED, Status.SEPARATED):
        warn(
            MESSAGES[status].format(
                max_iter=max_iter,
                tol=tol,
                change=float(state.change[best]),
                n_iter=n_iter,
                likelihood=model.likelihood,
            ),
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    if state.estimates:
        values = tuple(float(v[best]) for v in state.estimates)
        model = unchecked_replace(model, likelihood=model.likelihood.with_values(values))
    constant = np.asarray(state.constant)  # added back: the full negative log posterior
    restarts = state if screened is None else screened
    return FitResult(
        model=model,
        factors=tuple(np.asarray(f[best]) for f in state.factors),
        objective=float(state.objective[best] + constant[best]),
        history=np.asarray(state.history[best][:n_iter] + constant[best]),
        n_iter=n_iter,
        converged=status == Status.CONVERGED,
        restart_objectives=np.asarray(restarts.objective + restarts.constant),
        labels=data.labels,
        dims=data.dims,
        kind=data.kind,
        intercepts=tuple(np.asarray(b[best]) for b in state.intercepts),
    )
