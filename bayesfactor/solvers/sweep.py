"""Many fits of one model in one compiled program: :func:`fit_sweep` (ranks, folds, restarts)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from bayesfactor._data import as_data
from bayesfactor._precision import fit_dtype
from bayesfactor.model import Model
from bayesfactor.result import FitResult
from bayesfactor.solvers._loop import SolverState, _result, _sweep_flops, run_in_chunks
from bayesfactor.solvers._shard import ONE_DEVICE
from bayesfactor.solvers.checks import check_model
from bayesfactor.solvers.options import FitOptions
from bayesfactor.solvers.program import fit_impl, host_state
from bayesfactor.solvers.start import draw_start, init_many, start_scale

__all__ = ["SWEEP_ENTRIES", "fit_sweep", "sweep_members", "sweep_program"]


#: Most data entries (members x restarts x entries of X) one call of ``sweep_program`` holds:
#: a larger sweep runs in calls of equal size (the same program), one after another.
SWEEP_ENTRIES = 2**27


def sweep_members(
    model,
    x,
    masks,
    starts,
    ranks,
    tol,
    *,
    max_iter: int,
    dense: bool,
    padded: bool,
    phase: str = "whole",
    stop: Array | int | None = None,
) -> SolverState:
    """``fit_impl`` vmapped over members ``i``: ``masks[i]``, ``starts[i]``, ``ranks[i]``.

    Member ``i`` starts from the random draws of a fit at rank ``ranks[i]`` (the same as
    ``fit``'s: the first ``ranks[i]`` components of the draw at ``model.rank``), its other
    components zero and, when ``padded``, inactive. Every member runs until it stops;
    one that has stopped no longer changes (the batched ``lax.while_loop`` selects its
    old state).
    """

    def member(mask, start, rank):
        if phase != "advance":
            start = init_many(model, x.shape, x.dtype, start, rank if padded else None)
        active = jnp.arange(model.rank) < rank if padded else None
        return fit_impl(
            model,
            x,
            mask,
            start,
            tol,
            max_iter=max_iter,
            dense=dense,
            active=active,
            phase=phase,
            stop=stop,
        )

    return jax.vmap(member)(masks, starts, ranks)


#: :func:`sweep_members` as one compiled program.
sweep_program = jax.jit(sweep_members, static_argnames=("max_iter", "dense", "padded", "phase"))


def fit_sweep(
    model: Model,
    X: Any,
    ranks: Sequence[int],
    masks: Any,
    keys: Sequence[Array],
    *,
    restarts: int = 1,
    max_iter: int = 500,
    tol: float = 1e-6,
    pad: bool = True,
) -> list[FitResult]:
    r"""Many fits of one model, batched: member ``i`` at ``ranks[i]`` on ``masks[i]``.

    Member ``i`` is ``fit(model at ranks[i], X, mask=masks[i], key=keys[i],
    restarts=restarts, max_iter=max_iter, tol=tol)`` up to float rounding, but all
    members (and their restarts) run as one vmapped ``lax.while_loop``: a rank sweep
    compiles one program. When every prior is additive over components
    (:attr:`~bayesfactor.priors.Prior.additive`: all but ``OneHot``), every member is
    fitted at the largest rank :math:`R` with its last :math:`R - r` components
    inactive: held at exactly 0 (so they add nothing to :math:`\eta`; each block
    update of the active components is unchanged, since a zero column makes the
    Gram/curvature matrices block-diagonal and the priors' terms separate) and their
    prior :math:`\sum_k \log p_k(\mathbf 0)` left out of the objective, which then
    equals the rank-:math:`r` objective. Otherwise one program runs per rank.

    The batched loop runs until its slowest member stops; members that stopped are
    frozen, so the cost is (members) × (most iterations of any member) at rank
    :math:`R`, traded for a single compilation. Memory grows with the members: a
    sweep holding more than ``SWEEP_ENTRIES`` (:math:`2^{27}`) data entries (members ×
    restarts × entries of ``X``) runs in calls of equal size, one after another, all
    of the same program.

    Parameters
    ----------
    model : Model
        Likelihood and priors (its rank is ignored).
    X : array_like
        Data (NaN = missing).
    ranks : sequence of int, length M
        Rank of each member.
    masks : array_like of bool, shape (M, \*X.shape)
        True where member ``i`` sees an entry (combined with NaN-as-missing).
    keys : sequence of M int seeds or jax.random keys
        Seed of each member's restarts (as ``fit``'s ``key``).
    restarts, max_iter, tol
        As in :func:`fit`, the same for every member.
    pad : bool, default=True
        Pad the ranks (one program); False: one program per rank.

    Returns
    -------
    list of FitResult
        One per member, in order; warnings (convergence, rank) as ``fit`` gives them.
    """
    model = model.for_data(X)
    data = as_data(X)
    options = FitOptions.checked(restarts=restarts, max_iter=max_iter, tol=tol)
    restarts, max_iter, tol = options.restarts, options.max_iter, options.tol
    ranks = tuple(int(r) for r in ranks)
    masks = np.asarray(masks, dtype=bool).reshape(-1, *data.shape) & data.mask
    if not len(ranks) == masks.shape[0] == len(keys):
        raise ValueError(
            f"fit_sweep needs one rank, mask and key per member; got {len(ranks)} ranks, "
            f"{masks.shape[0]} masks and {len(keys)} keys."
        )
    models = {r: dataclasses.replace(model, rank=r) for r in sorted(set(ranks))}
    for m in models.values():
        check_model(m, data.shape)
        m.likelihood.check_data(data.x, data.mask)
    dtype = fit_dtype(data.x.dtype)
    x = jnp.asarray(data.x, dtype)
    pad = pad and all(p.additive for p in model.mode_priors(len(data.shape)))
    groups = (
        [range(len(ranks))]
        if pad
        else [[i for i in range(len(ranks)) if ranks[i] == r] for r in models]
    )
    results: list[Any] = [None] * len(ranks)

    def start(i, rank):  # member i's restarts, drawn at the program's rank
        scale = start_scale(model, data.x, masks[i])
        return draw_start(models[rank], data.shape, keys[i], range(restarts), dtype, scale)

    for group in groups:
        group = list(group)
        rank = max(ranks[i] for i in group)
        dense = bool(masks[group].all())
        padded = any(ranks[i] < rank for i in group)
        # Members per call: bounded memory (each holds eta per restart); every call the
        # same size (the last one filled with copies), so all run one program.
        size = max(1, min(len(group), SWEEP_ENTRIES // (restarts * x.size)))
        for first in range(0, len(group), size):
            chunk = group[first : first + size]
            batch = chunk + chunk[:1] * (size - len(chunk))
            program = functools.partial(
                sweep_program,
                models[rank],
                x,
                jnp.ones((size,), bool) if dense else jnp.asarray(masks[batch]),
                ranks=jnp.asarray([ranks[i] for i in batch]),
                tol=jnp.asarray(tol, dtype),
                max_iter=max_iter,
                dense=dense,
                padded=padded,
            )
            starts = jax.tree.map(lambda *a: np.stack(a), *[start(i, rank) for i in batch])
            flops = _sweep_flops(x, rank, size * restarts)
            state = host_state(
                run_in_chunks(program, starts, max_iter, flops), ONE_DEVICE, model, x.ndim
            )
            for j, i in enumerate(chunk):
                member = jax.tree.map(lambda a, j=j: a[j], state)
                member = member._replace(factors=tuple(f[..., : ranks[i]] for f in member.factors))
                results[i] = _result(models[ranks[i]], member, data, max_iter=max_iter, tol=tol)
    return results
