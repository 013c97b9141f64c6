"""The alternating-MAP driver: one jitted ``lax.while_loop``, restarts vmapped."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from bayesfactor._data import (
    as_data,
    host_normals,
    host_rng,
    is_sparse,
    physical_memory,
    seed_words,
    warn,
)
from bayesfactor._precision import fit_dtype
from bayesfactor._pytree import unchecked_replace
from bayesfactor._sparse import SparseCounts, SparseData, SparseRows, sparse_data
from bayesfactor.conv import ConvModel
from bayesfactor.likelihoods import Bernoulli, Gaussian, Offset, Poisson
from bayesfactor.model import Model, cp_product, dropped_constant
from bayesfactor.priors import Flat, NonNegative, Normal, OneHot
from bayesfactor.result import FitResult, IdentifiabilityWarning, RankWarning
from bayesfactor.solvers._loop import (
    MESSAGES,
    Extrapolation,
    RandomStart,
    SolverState,
    Status,
    _best,
    _result,
    _sweep_flops,
    at_rounding_level,
    converged,
    energy_floor,
    run_in_chunks,
    saturated,
)
from bayesfactor.solvers._shard import ONE_DEVICE, Layout, as_mesh, layout_for
from bayesfactor.solvers.compress import (
    COMPRESS_OVERSAMPLE,
    Tucker,
    compress_ranks,
    compress_sketches,
    tucker_compress,
)
from bayesfactor.solvers.conv import fit_conv
from bayesfactor.solvers.init import intercept_start, svd_init
from bayesfactor.solvers.updates import (
    _line_search,
    _line_search_step,
    _replace,
    dense_gaussian_objective,
    select_update,
)

__all__ = ["fit", "fit_sweep"]


#: Extrapolation (Ang & Gillis 2019): starting weight, its division at a restart, its
#: growth per accepted iteration, and the growth of its ceiling (towards 1).
#: Measured on the benchmarks' KL-NMF (1000 x 5000, r=10; iterations to scikit-learn's
#: loss): (0.5, 1.5, 1.05, 1.01) 104, (0.5, 1.5, 1.1, 1.05) 85, (0.8, 1.5, 1.05, 1.01) 94,
#: (0.5, 2, 1.1, 1.05) 95; without extrapolation 114.
BETA0, ETA, GAMMA, GAMMA_MAX = 0.5, 1.5, 1.1, 1.05
#: Multiplicative updates keep a zero at zero: their extrapolation is floored at this
#: fraction of the plain block (KL-NMF above: 0.01 -> 312 iterations, 0.1 -> 104, 0.3 -> 114).
POSITIVE_FLOOR = 0.1


def _extrapolate(prior, f: Array, previous: Array, beta: Array, positive: bool = False) -> Array:
    r"""The extrapolated block :math:`\hat F = P(F + \beta (F - F_{\text{prev}}))`.

    :math:`P` keeps :math:`\hat F` in the prior's support: where the prior has a
    proximal part (non-negativity, L1), an entry whose sign differs from
    :math:`F`'s, or where :math:`F` is 0, is set to 0 (for a non-negative prior this
    is :math:`\max(0, \cdot)`; for L1 it keeps the zeros of :math:`F`). With
    ``positive`` (multiplicative updates, which cannot leave 0) it is floored at
    ``POSITIVE_FLOOR`` times :math:`F` instead.
    """
    hat = f + beta * (f - previous)
    if positive:
        return jnp.maximum(hat, POSITIVE_FLOOR * f)
    return hat if prior.prox is None else jnp.where(hat * f > 0, hat, 0.0)


def _balance(factors: list, previous: list, modes: Sequence[int]) -> None:
    r"""Rescale each component to equal column norms over ``modes`` (in place).

    Column :math:`r` of :math:`F_k` is multiplied by :math:`d_{kr} = g_r / \|F_k[:, r]\|`,
    :math:`g_r` the geometric mean of the norms over ``modes``: :math:`\prod_k d_{kr}
    = 1`, so :math:`\eta` is unchanged (and so is the objective under scale-free
    priors). Extrapolation otherwise drifts along this invariance (one factor to 0,
    another to infinity, until float32 underflows). ``previous`` is scaled alike.
    """
    tiny = jnp.finfo(factors[modes[0]].dtype).tiny
    logs = [jnp.log(jnp.maximum(jnp.linalg.norm(factors[k], axis=0), tiny)) for k in modes]
    dead = functools.reduce(jnp.logical_or, [n <= jnp.log(tiny) for n in logs])
    mean = sum(logs) / len(logs)
    for k, n in zip(modes, logs, strict=True):
        d = jnp.where(dead, 1.0, jnp.exp(mean - n))
        factors[k], previous[k] = factors[k] * d[None], previous[k] * d[None]


def _symmetric_powers(s: Array, *powers: float) -> list[Array]:
    """:math:`S^p` for each ``p`` of a symmetric positive definite ``s`` (one ``eigh``)."""
    w, q = jnp.linalg.eigh(0.5 * (s + s.T))
    return [(q * w[None] ** p) @ q.T for p in powers]


def _rotate(factors: list, previous: list, active: Array | None = None) -> None:
    r"""Give a matrix's :math:`(U, V)` equal Gram matrices, :math:`\eta = UV^\top` kept (in place).

    With flat priors on both modes the objective is invariant under
    :math:`(U A, V A^{-\top})` for any invertible :math:`A`, and extrapolation drifts
    along it towards ill-conditioned factors, whose Gram-form objective then loses
    digits in float32 (measured: a PCA restart with :math:`\kappa(U) \approx 500`
    reported 4920384 for a loss of 4929946, below the optimum, and kept
    extrapolating for 200 iterations). With :math:`M = U^\top U`,
    :math:`N = V^\top V` and :math:`P = M^{-1/2} (M^{1/2} N M^{1/2})^{1/2} M^{-1/2}`
    (:math:`PMP = N`), the symmetric :math:`A = P^{1/2}` gives :math:`(UA)^\top UA =
    (VA^{-1})^\top VA^{-1}`: both factors share the conditioning of :math:`\eta`, as
    :func:`_balance` equalises the column norms. ``previous`` is transformed alike.
    Components outside ``active`` (zero columns) keep an identity block; the transform
    is skipped where a column is 0 or it is not finite.
    """
    u, v = factors
    keep = jnp.ones(u.shape[1], bool) if active is None else active
    pad = jnp.diag(jnp.where(keep, 0.0, 1.0).astype(u.dtype))
    m, n = u.T @ u + pad, v.T @ v + pad
    root, inverse_root = _symmetric_powers(m, 0.5, -0.5)
    (middle,) = _symmetric_powers(root @ n @ root, 0.5)
    a, b = _symmetric_powers(inverse_root @ middle @ inverse_root, 0.5, -0.5)
    tiny = jnp.finfo(u.dtype).tiny
    dead = jnp.any(keep & (jnp.minimum(jnp.diag(m), jnp.diag(n)) <= tiny))
    ok = ~dead & jnp.all(jnp.isfinite(a)) & jnp.all(jnp.isfinite(b))
    for k, t in ((0, a), (1, b)):
        for fs in (factors, previous):
            fs[k] = jnp.where(ok & keep, fs[k] @ t, jnp.where(keep, fs[k], 0.0))


def accelerates(priors, plan) -> bool:
    """Whether ``_fit`` extrapolates for this model: where it was measured to pay.

    Measured (iterations for the extrapolated fit to reach the plain fit's objective;
    the plain fit's in brackets): benchmarks/run.py's Gaussian NMF HALS 5000 x 2000
    r=20 reaches scikit-learn's loss in 60 (plain: never, stalls at a worse one);
    KL-NMF 1000 x 5000 r=10 85 (114) to scikit-learn's loss; CP unconstrained ALS
    200 x 300 x 50 r=15 5 (7, which stalls at a 1.5x worse objective); logistic
    PCA 2000 x 500 r=10 19 (44); Poisson-log GLM-PCA 17 (109); Gaussian 300 x 200
    r=5 with HalfNormal / Exponential priors 55 / 49 (743 / 886). Off where it did
    not pay: on tensors except for row solves (ALS, IRLS): non-negative CP HALS 200 x
    300 x 50 r=15 46 (37); 3-way KL-NMF 60 x 50 x 40 r=5 with a HalfNormal prior 875
    (381); Lloyd (``OneHot``) steps, whose assignments cannot be extrapolated; a
    single fitted block (``fixed``), which has nothing to alternate with. Off for
    the multiplicative KL-NMF updates too: with the nested random starts (one draw
    per component) the benchmark's KL-NMF gained early (key 3, iteration 20:
    objective 1.4601e6 vs 1.4946e6 plain) but fell behind plain MU from iteration
    ~50 on, for keys 1-3 alike (iteration 100: 1.43709e6 vs 1.43662e6, 1.43636e6 vs
    1.43633e6, 1.43640e6 vs 1.43631e6), and reached scikit-learn's loss in 277
    iterations instead of 114; ``accelerate=True`` still turns it on.
    """
    if len(plan) < 2 or any(p.assigns for p in priors):
        return False
    if any(u.multiplicative for _, u in plan):
        return False
    return len(priors) == 2 or all(u.kind == "row-solve" for _, u in plan)


#: Iterations between evaluations of the objective where it is a pass over the data
#: that the updates do not make (:func:`check_interval`); scikit-learn's MU solver
#: also tests its convergence every 10 iterations.
CHECK_EVERY = 10


def check_interval(plan, accelerate: bool) -> int:
    """Default iterations between evaluations of the objective (``fit``'s ``check_every``).

    :data:`CHECK_EVERY` for multiplicative updates (KL-NMF), 1 otherwise. The
    multiplicative updates never need the objective, and on dense data it is a pass
    of its own (the reconstruction and a log per entry): measured on the benchmarks'
    KL-NMF (1000 x 5000, r=10, one thread), 9.5-10 ms per iteration with it, 6.5 ms
    without. Elsewhere it is cheap or needed every iteration: dense Gaussian fits
    take it from the Gram matrices, line searches and extrapolation compare it, and
    Lloyd steps stop exactly when the assignments do.
    """
    multiplicative = all(u.multiplicative for _, u in plan)
    return CHECK_EVERY if multiplicative and not accelerate else 1


def _mode_order(priors) -> tuple[int, ...]:
    # OneHot modes last: each iteration updates the centres, then assigns (Lloyd).
    return tuple(sorted(range(len(priors)), key=lambda k: isinstance(priors[k], OneHot)))


def _random_init(
    model: Model, shape, start: RandomStart, dtype, active: Array | None = None
) -> tuple[Array, ...]:
    """One restart's random factors from its host draws; ``active`` (traced int): that many used.

    Component :math:`r` (its column in every mode) is column :math:`r` of the start's
    standard normals, scaled so that each product of the modes' factors has magnitude
    ``scale / sqrt(rank)``, then moved into each mode's support by ``prior.init``; a
    ``OneHot`` mode starts from the Forgy rows (``start.rows``), except next to given
    factors (``start.given``), where ``_fit_impl`` assigns the rows to them instead.
    """
    priors = model.mode_priors(len(shape))
    rank = model.rank
    root = np.sqrt(rank) if active is None else jnp.sqrt(jnp.asarray(active, dtype))
    s = jnp.asarray((start.scale / root) ** (1.0 / len(shape)), dtype)  # NumPy scalars promote
    draws = jnp.asarray(start.normals, dtype)  # (sum of n_k, rank)
    starts = np.cumsum((0, *shape))
    factors = []
    for k, (n, prior) in enumerate(zip(shape, priors, strict=True)):
        if isinstance(prior, OneHot):
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
    (:func:`fit_sweep`). Drawing on the host (milliseconds) keeps random-bit generators
    out of the compiled fit: the benchmark NMF's first call went from 2.09 s to 1.54 s.
    """
    words = seed_words(key)
    priors = model.mode_priors(len(shape))
    rank = model.rank
    normals = host_normals(words, restarts, sum(shape), rank, dtype)
    rows = tuple(
        np.stack([host_rng(words, i, 1 + k).permutation(n)[:rank] for i in restarts])
        if isinstance(prior, OneHot)
        else None
        for k, (n, prior) in enumerate(zip(shape, priors, strict=True))
    )
    given = (None,) * len(shape) if given is None else given
    return RandomStart(normals, rows, np.asarray(scale, dtype), given)


def _init_many(
    model: Model, shape, dtype, start: RandomStart, active: Array | None = None
) -> tuple[Array, ...]:
    """One random initialization per restart of ``start``, stacked along a leading axis."""
    draws = (start.normals, start.rows)
    one = lambda normals, rows: _random_init(  # noqa: E731
        model, shape, start._replace(normals=normals, rows=rows), dtype, active
    )
    return jax.vmap(one)(*draws)


#: :func:`_init_many` as one program (outside a fit: the other restarts of ``init="svd"``).
_init_many_jit = jax.jit(_init_many, static_argnums=(1, 2))


def _fit_impl(
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
    :func:`_host_state` finishes it. ``"whole"`` runs the whole loop in one program.
    The iterates are the same either way: the chunks run the same loop body.

    Modes in ``fixed`` keep their starting values (e.g. ``transform`` of new data).
    ``layout`` shards ``x`` (placed and padded by ``layout.place``) across devices;
    ``start`` has the unpadded shapes, and so has the result. ``active`` (``(rank,)``
    bool, optional) fits only those components: the others are held at exactly 0 and
    left out of the recorded objective (:func:`_inactive_prior`), so a fit padded to a
    larger rank equals the fit at its own rank (:func:`fit_sweep`).

    With ``accelerate`` (default: :func:`accelerates`) the updates are extrapolated
    (Ang & Gillis 2019, Hessian-free): each block is updated from the extrapolated
    other blocks, then extrapolated itself, :math:`\hat F_k = P(F_k + \beta (F_k -
    F_k^{\text{prev}}))` (:func:`_extrapolate`); the last block of the sweep is
    extrapolated at the start of the next one, so the candidate (every block but
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
    re-seeds a component that HALS has set to 0 in a whole mode (:func:`_reseed_dead`).

    With ``check_every`` :math:`k > 1` (default: :func:`check_interval`), one loop
    iteration runs :math:`k` sweeps (fewer before ``max_iter``) in a ``fori_loop`` and
    then evaluates the objective once; ``history`` is NaN at the sweeps in between.
    """
    priors = model.mode_priors(x.ndim)
    order = [k for k in _mode_order(priors) if k not in fixed]
    gaussian = isinstance(model.likelihood, Gaussian)
    # With intercepts, a non-Gaussian likelihood sees them as an offset on eta (a
    # Gaussian one sees the data minus the intercepts, keeping its fast paths).
    offsetting = bool(model.intercepts) and not gaussian
    rows = isinstance(x, SparseRows)  # sparse, log/logit link: blocked dense passes
    lik = Offset.traced(model.likelihood, 0.0) if offsetting else model.likelihood
    plan = [(k, select_update(lik, priors[k])) for k in order]
    if all(u.kind == "lloyd" for _, u in plan):
        # Every other mode held fixed (e.g. assigning new data to known centres): the
        # assignment itself, no empty component re-seeded (nothing would follow it).
        plan = [
            (k, dataclasses.replace(u, apply=functools.partial(u.apply, relocate=False)))
            for k, u in plan
        ]
    if accelerate is None:  # extrapolation compares the objective every iteration
        accelerate = accelerates(priors, plan) and check_every in (None, 1)
    every = check_interval(plan, accelerate) if check_every is None else check_every
    last = order[-1]
    # Multiplicative updates keep a zero entry at zero: their extrapolation stays positive.
    positive = {k: u.multiplicative for k, u in plan}
    # Scale-free priors on every fitted mode: rescaling components leaves the objective
    # unchanged, and the extrapolation would drift along it.
    balance = len(order) > 1 and all(isinstance(priors[k], (Flat, NonNegative)) for k in order)
    # A matrix with flat priors on both modes: invariant under any (U A, V A^-T) (_rotate).
    rotate = x.ndim == 2 and len(order) == 2 and all(type(priors[k]) is Flat for k in order)
    # ||X||^2 - 2<X, eta> + ||eta||^2 cancels: it resolves a relative change of about
    # eps ||X||^2 / ||X - eta||^2, enough in float64 (the benchmark CP: 2e-16 x 2e6)
    # but not in float32 (1e-7 x 2e6 > tol), where the residual is summed instead.
    # A Tucker compression is only ever fitted in Gram form.
    gram = dense and gaussian and (jnp.finfo(x.dtype).eps < 1e-10 or isinstance(x, Tucker))
    assign: tuple[int, ...] = ()
    centred = _centred_modes(model, priors, order, x.ndim)
    # Gaussian non-negative CP: HALS zeroes a component that does not pay, and a
    # component that is 0 in one mode has no gradient in the others: it stays dead.
    # Not on matrices, where the conditional in the loop cost the extrapolated NMF
    # (1500 x 800, r=10, 100 iterations) 1.9-2.3 s instead of 0.5-1.2 s, without ever
    # running; on a 120 x 100 x 40 CP (r=10) it cost nothing measurable.
    reseeding = (
        gaussian
        and x.ndim > 2
        and not fixed
        and not isinstance(x, Tucker)
        and all(type(p) is NonNegative for p in priors)
    )
    if phase == "advance":
        pass  # a carry of this loop: nothing to draw or pad
    elif isinstance(start, RandomStart):
        # A given start is the start: modes drawn next to given factors are first
        # updated from them (for a OneHot mode: assigned to the given centres, not
        # Forgy rows that would overwrite them), in the sweep's order, before the loop;
        # otherwise the first sweep would overwrite a given mode from random ones.
        if any(g is not None for g in start.given):
            assign = tuple(k for k, *_ in plan if start.given[k] is None)
        drawn = _init_many(model, layout.unpadded(x.shape), x.dtype, start)
        start = tuple(
            d if g is None else jnp.broadcast_to(g, d.shape)
            for d, g in zip(drawn, start.given, strict=True)
        )
    if phase != "advance":
        start = layout.pad_factors(start, axis=1)

    def given(intercepts, estimates):
        """(model, data) that the factor updates see: intercepts and estimates folded in."""
        m = current(estimates)
        if not model.intercepts:
            return m, x
        offset = model.intercept_eta(intercepts, x.shape, full=not rows)
        if gaussian:
            return m, x - offset
        return unchecked_replace(m, likelihood=Offset.traced(m.likelihood, offset)), x

    def current(estimates):
        """The model with the likelihood's Estimated parameters at their current values."""
        if not estimates:
            return model
        return unchecked_replace(model, likelihood=model.likelihood.with_values(estimates))

    def objective(factors, intercepts, estimates):
        """The objective without its constant terms: the energy less its ``saturated`` part."""
        m, data = given(intercepts, estimates)
        if gram:
            # Gram-matrix form: no reconstruction is formed (as scikit-learn's CD does).
            x_sq = data.sq_norm if isinstance(data, Tucker) else jnp.sum(data * data)
            return dense_gaussian_objective(m, data, x_sq, factors, plan[-1][0], False) - sat
        return m.objective(data, mask, factors, constants=False) - sat

    def constant(factors, intercepts, estimates):
        """What ``objective`` leaves out: the same for any parameters."""
        return sat + dropped(factors, intercepts, estimates)

    def dropped(factors, intercepts, estimates):
        """The terms ``likelihood.energy`` drops."""
        if isinstance(x, SparseCounts):
            return x.log_factorials()
        if isinstance(x, Tucker):  # Gaussian: the same for every entry
            zero = jnp.zeros((), x.dtype)
            return x.size * dropped_constant(model.likelihood, zero, True, zero)
        m, data = given(intercepts, estimates)
        if rows:
            dropped = lambda lik, x, mask, fs: dropped_constant(lik, x, mask, cp_product(fs))  # noqa: E731
            return data.map_rows(dropped, m.likelihood, factors)
        return dropped_constant(m.likelihood, data, mask, m.eta(factors))

    def recentre(factors, intercepts, k):
        """Move the column means of ``F_k`` into the other mode's intercept (:func:`_recentre`)."""
        if k not in centred:
            return factors, intercepts
        j = 1 - k
        i = model.intercepts.index(j)
        n = layout.unpadded(x.shape)[k]
        f, b = _recentre(factors[k], factors[j], intercepts[i], n)
        return layout.constrain(_replace(factors, k, f)), _replace(intercepts, i, b)

    def update_intercepts(factors, intercepts, estimates):
        """Each intercept: a rank-1 block with ones in the other modes (exact or MM).

        After the factors (and their re-centring, ``recentre``): for a Gaussian matrix
        with centred factors the intercepts are then the means of the data less the
        factors' part, the exact joint update.
        """
        intercepts = list(intercepts)
        flat = Flat()
        lik = current(estimates).likelihood
        for i, k in enumerate(model.intercepts):
            others = intercepts[:i] + [jnp.zeros_like(intercepts[i])] + intercepts[i + 1 :]
            rest = model.intercept_eta(tuple(others), x.shape, full=not rows)
            ones = tuple(
                intercepts[i][:, None] if j == k else jnp.ones((n, 1), x.dtype)
                for j, n in enumerate(x.shape)
            )
            if rows:  # the factors' eta added block by block
                sub, data = Model(Offset.traced(lik, rest), 1, flat), x.with_base(factors)
            elif gaussian:
                sub, data = Model(lik, 1, flat), x - (model.eta(factors) + rest)
            else:
                sub, data = Model(Offset.traced(lik, model.eta(factors) + rest), 1, flat), x
            update = select_update(sub.likelihood, flat)
            new = update.apply(sub, flat, data, mask, ones, k, dense)
            if update.line_search:
                new = _line_search(
                    sub, data, mask, ones, k, new, sub.objective(data, mask, ones, constants=False)
                )
            intercepts[i] = new[:, 0]
        return tuple(intercepts)

    def update_estimates(factors, intercepts, estimates):
        """The likelihood's Estimated parameters: each an exact minimiser (closed form)."""
        if not estimates:
            return estimates
        eta = model.eta(factors)
        if model.intercepts:
            eta = eta + model.intercept_eta(intercepts, x.shape)
        new = current(estimates).likelihood.update_estimates(x, mask, eta)
        return tuple(e.value for e in new)

    def sweep(factors, intercepts, estimates, e=None):
        """One iteration's block updates; with ``e`` (Extrapolation), extrapolated.

        Returns the new (factors, intercepts, estimates), when extrapolating the plain
        blocks that the next extrapolation starts from, and whether a line search
        stalled (:func:`~bayesfactor.solvers.updates._line_search_step`).
        """
        m, data = given(intercepts, estimates)
        stalled = jnp.zeros((), bool)
        if e is not None:
            beta = jnp.where(e.plain, 0.0, e.beta).astype(x.dtype)
            previous = list(e.previous)
            # The last block: extrapolated from the last two plain ones (safe, previous).
            hat = _extrapolate(priors[last], factors[last], previous[last], beta, positive[last])
            previous[last] = factors[last]
            factors = layout.constrain(_replace(factors, last, hat))
        for k, update in plan:  # static: unrolled at trace time
            new = update.apply(m, priors[k], data, mask, factors, k, dense)
            if active is not None:  # inactive components: exactly 0 (see fit_sweep)
                new = jnp.where(active, new, 0.0)
            if update.line_search:
                before = objective(factors, intercepts, estimates) + sat  # as m.objective
                new, stall = _line_search_step(m, data, mask, factors, k, new, before)
                stalled = stalled | stall
            if e is not None and k != last:
                previous[k] = new
                new = _extrapolate(priors[k], new, e.previous[k], beta, positive[k])
            factors = layout.constrain(_replace(factors, k, new))
            factors, intercepts = recentre(factors, intercepts, k)
            if k in centred and k != plan[-1][0]:
                m, data = given(intercepts, estimates)  # the intercepts moved: the next sees them
        if reseeding:
            factors = layout.constrain(_reseed_dead(m, data, mask, factors, active))
        intercepts = update_intercepts(factors, intercepts, estimates)
        estimates = update_estimates(factors, intercepts, estimates)
        return (factors, intercepts, estimates), (previous if e is not None else None), stalled

    def body(s: SolverState) -> SolverState:
        carry = (s.factors, s.intercepts, s.estimates)
        e = s.extrapolation if accelerate else None
        stalled = jnp.zeros((), bool)
        if every == 1:
            carry, previous, stalled = sweep(*carry, e)
            steps = 1
        else:  # `every` sweeps (fewer before max_iter), then the objective
            steps = jnp.minimum(every, max_iter - s.step)
            carry = lax.fori_loop(0, steps, lambda _, c: sweep(*c)[0], carry)
        factors, intercepts, estimates = carry
        obj = objective(factors, intercepts, estimates) + padding(factors)
        change, done = converged(s.objective, obj, s.floor, tol, steps)
        extrapolation = ()
        if accelerate:
            if balance:
                factors = list(factors)
                if rotate:
                    _rotate(factors, previous, active)
                else:
                    _balance(factors, previous, order)
                factors = layout.constrain(tuple(factors))
            # A plain sweep is kept as it is (as without extrapolation): it is monotone
            # up to rounding, and a non-finite objective must stop the fit.
            accept = (obj <= s.objective) | e.plain
            keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(accept, a, b), new, old)
            factors, intercepts, estimates, obj, change = keep(
                (factors, intercepts, estimates, obj, change),
                (s.factors, s.intercepts, s.estimates, s.objective, s.change),
            )
            # Convergence is tested on plain sweeps only (the same test as without
            # extrapolation): a small change after an extrapolated step is checked by
            # a plain sweep in the next iteration.
            check = accept & done & ~e.plain
            done = done & e.plain
            extrapolation = Extrapolation(
                keep(tuple(previous), s.factors),
                jnp.where(accept, jnp.minimum(e.beta_max, GAMMA * e.beta), e.beta / ETA),
                jnp.where(accept, jnp.minimum(1.0, GAMMA_MAX * e.beta_max), e.beta),
                ~accept | check,
            )
        status = jnp.where(
            ~jnp.isfinite(obj),
            Status.NONFINITE,
            jnp.where(done, _done_status(stalled, separated(obj, s.floor)), Status.RUNNING),
        )
        status = jnp.where(
            (status == Status.RUNNING) & (s.step + steps >= max_iter), Status.MAX_ITER, status
        ).astype(jnp.int32)
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

    def separated(obj, floor):
        """The objective at rounding level where the likelihood cannot fit exactly."""
        return at_rounding_level(obj, floor) & (not model.likelihood.exact_fit)

    def cond(s: SolverState) -> Array:
        running = s.status == Status.RUNNING
        return running if stop is None else running & (s.step < stop)

    def padding(factors):
        """The log-prior of padding rows and inactive components: not recorded."""
        return layout.padding_prior(model, factors) + _inactive_prior(model, x, active)

    def begin(f0):
        f0 = layout.constrain(f0 if active is None else tuple(jnp.where(active, f, 0) for f in f0))
        b0 = intercepts0
        e0 = tuple(jnp.asarray(e.value, x.dtype) for e in model.likelihood.estimates())
        updates = dict(plan)
        for k in assign:  # static
            m, data = given(b0, e0)
            update = updates[k]
            new = update.apply(m, priors[k], data, mask, f0, k, dense)
            if update.line_search:  # from the drawn block, as in a sweep
                new = _line_search(m, data, mask, f0, k, new, objective(f0, b0, e0) + sat)
            f0 = layout.constrain(_replace(f0, k, new))
        obj0 = objective(f0, b0, e0) + padding(f0)
        init = SolverState(
            f0,
            b0,
            e0,
            jnp.zeros((), jnp.int32),
            obj0,
            jnp.full((), jnp.inf, obj0.dtype),
            jnp.full((max_iter,), jnp.nan, obj0.dtype),
            jnp.asarray(Status.RUNNING, jnp.int32),
            constant(f0, b0, e0),
            energy_floor(given(b0, e0)[0].likelihood, x, mask, gram),
        )
        if accelerate:  # the first iteration is a plain sweep
            one = jnp.ones((), obj0.dtype)
            init = init._replace(
                extrapolation=Extrapolation(f0, BETA0 * one, one, jnp.ones((), bool))
            )
        return init

    intercepts0 = intercept_start(model, x, mask)  # the same for every restart
    sat = saturated(model.likelihood, x, mask)  # the same for every restart
    loop = jax.vmap(lambda s: lax.while_loop(cond, body, s), axis_name=_RESTARTS)
    if phase == "advance":
        return loop(start)
    state = jax.vmap(begin, axis_name=_RESTARTS)(start)
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


#: The vmapped axis of the restarts in ``_fit_impl`` (a re-seed runs when any restart needs it).
_RESTARTS = "restarts"


def _reseed_dead(model, x, mask, factors, active=None):
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
    anywhere = lax.psum(jnp.any(dead).astype(jnp.int32), _RESTARTS) > 0

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


_fit = jax.jit(
    _fit_impl,
    static_argnames=("max_iter", "dense", "fixed", "layout", "accelerate", "check_every", "phase"),
)


def _host_state(state: SolverState, layout: Layout, model: Model, ndim: int) -> SolverState:
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


def _centred_modes(model: Model, priors, order, ndim: int) -> tuple[int, ...]:
    """The fitted modes of a matrix that :func:`_recentre` keeps centred after their update.

    Mode :math:`k` qualifies when the other mode has an intercept and :math:`k`'s
    prior is ``Flat`` or ``Normal``, whose log-density no shift of the columns raises.
    """
    if ndim != 2:
        return ()
    return tuple(
        k for k in order if 1 - k in model.intercepts and type(priors[k]) in (Flat, Normal)
    )


def _recentre(f: Array, other: Array, b: Array, n: int) -> tuple[Array, Array]:
    r"""Centre the columns of a matrix's factor ``f`` and move their means into ``b``.

    For :math:`\eta = U V^\top + \mathbf 1 b^\top` (a column intercept :math:`b`;
    the transpose for rows), with :math:`\bar u = U^\top \mathbf 1 / n`,

    .. math:: \eta = (U - \mathbf 1 \bar u^\top) V^\top + \mathbf 1 (b + V \bar u)^\top

    exactly: the move leaves :math:`\eta`, hence every likelihood, unchanged, and it
    minimises :math:`\|U - \mathbf 1 c^\top\|^2` over :math:`c`, so a ``Normal``
    prior on :math:`U` only gains (a ``Flat`` one is indifferent). Why it is needed:
    alternating single blocks, a component that carries the mean (:math:`u_r \approx
    c \mathbf 1`) is a fixed point of each block update (:math:`V` refits the mean
    through :math:`u_r`; the intercept update then sees a residual of mean 0), and
    the fit crawls out of it (measured on a 100 x 20 rank-3 matrix + 50: squared
    error 1275 after 500 iterations against 15.4 for PCA of the centred data). With
    :math:`U` centred after each of its updates, :math:`\mathbf 1^\top U = 0` and
    the Gaussian block updates of :math:`V` and :math:`b` decouple: the sweep is
    ALS (ridge ALS under Normal priors) on the centred data, whose optimum is the
    joint one. Only the first ``n`` rows (the data's, not a sharded mode's padding)
    are averaged and shifted; zero (inactive) columns stay zero.
    """
    real = (jnp.arange(f.shape[0]) < n)[:, None]
    mean = jnp.sum(jnp.where(real, f, 0.0), axis=0) / n
    return jnp.where(real, f - mean[None], f), b + other @ mean


def _done_status(stalled: Array, separated: Array) -> Array:
    """The status of a fit whose stopping test held: converged, unless it stalled or separated."""
    return jnp.where(
        stalled, Status.STALLED, jnp.where(separated, Status.SEPARATED, Status.CONVERGED)
    )


def _inactive_prior(model: Model, x: Array, active: Array | None) -> Array | float:
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


#: Most modes of X: the einsum specs name each mode by a letter ("z", "y": components).
MAX_MODES = 24


def _check_model(model: Model, shape: tuple[int, ...], restarts: int = 1) -> None:
    if not isinstance(model, Model):
        raise TypeError(f"model must be a bf.Model; got {model!r}.")
    if len(shape) > MAX_MODES:
        raise ValueError(
            f"X has {len(shape)} modes; bf.fit handles at most {MAX_MODES}. Merge modes "
            "(X.reshape) before fitting."
        )
    # A lower bound of what the fit holds: factors and an R x R Gram matrix per restart.
    need = 8.0 * restarts * (model.rank * sum(shape) + model.rank**2)
    if need > physical_memory():
        raise ValueError(
            f"rank={model.rank} with restarts={restarts} needs at least {need / 2**30:,.0f} "
            f"GiB (factors and {model.rank} x {model.rank} Gram matrices), more than this "
            f"machine's {physical_memory() / 2**30:,.0f} GiB; use a rank of at most "
            f"min(X.shape)={min(shape)}."
        )
    priors = model.mode_priors(len(shape))
    model.likelihood.check_shape(shape)
    if model.intercepts and max(model.intercepts) >= len(shape):
        raise ValueError(
            f"the model has intercepts on modes {model.intercepts} but X has only "
            f"{len(shape)} modes."
        )
    for k, prior in enumerate(priors):
        if isinstance(prior, OneHot) and model.rank > shape[k]:
            raise ValueError(
                f"rank={model.rank} clusters need at least as many rows: mode {k} of X "
                f"has {shape[k]}. Use rank <= {shape[k]}."
            )
    free = [k for k, p in enumerate(priors) if isinstance(p, (Flat, NonNegative))]
    scaled = [k for k, p in enumerate(priors) if k not in free and not isinstance(p, OneHot)]
    if free and scaled:
        warn(
            f"the priors on modes {scaled} penalise the factors' scale, but modes {free} have "
            "scale-free priors (Flat/NonNegative): rescaling F_k / c and F_j * c leaves the "
            "fit unchanged and shrinks the penalty towards 0, so the MAP does not exist and "
            "the prior's effect fades as the solver drifts. Give every mode a proper prior, "
            "e.g. bf.Normal(scale) or bf.HalfNormal(scale) instead of bf.Flat() / "
            "bf.NonNegative().",
            IdentifiabilityWarning,
            stacklevel=4,
        )
    if len(shape) == 2 and model.rank > min(shape):
        warn(
            f"rank={model.rank} is larger than the data allows: min(X.shape)={min(shape)} "
            f"for X of shape {shape}; the extra components are not identifiable. "
            f"Use rank <= {min(shape)}.",
            RankWarning,
            stacklevel=4,
        )


def check_factors(
    init: Any, model: Model, shape: tuple[int, ...], *, name: str = "init", allow_none: bool = True
) -> tuple[np.ndarray | None, ...]:
    """Factors given as a FitResult or a tuple (None = drawn at random), checked, as NumPy."""
    factors = init.factors if isinstance(init, FitResult) else init
    if not isinstance(factors, (tuple, list)) or len(factors) != len(shape):
        hint = " (None for a mode drawn at random)" if allow_none else " (one per mode of X)"
        raise TypeError(
            f"{name} must be a FitResult or a tuple of {len(shape)} factor matrices{hint}; "
            f"got {type(init).__name__}."
        )
    out = []
    for k, (f, n) in enumerate(zip(factors, shape, strict=True)):
        if f is None and allow_none:
            out.append(None)
            continue
        f = np.asarray(f, dtype=float)
        if f.shape != (n, model.rank):
            raise ValueError(
                f"{name} factor {k} has shape {f.shape}; expected {(n, model.rank)} "
                f"(X.shape[{k}], rank)."
            )
        if not np.isfinite(f).all():
            raise ValueError(f"{name} factor {k} has non-finite entries.")
        out.append(f)
    return tuple(out)


def _as_init(init: Any, model: Model, shape: tuple[int, ...], dtype) -> tuple[Array | None, ...]:
    return tuple(
        None if f is None else jnp.asarray(f, dtype) for f in check_factors(init, model, shape)
    )


def _check_fixed(fixed: Any, init: Any, ndim: int) -> tuple[int, ...]:
    try:
        modes = tuple(sorted({int(k) for k in fixed}))
    except TypeError:
        modes = None
    if (
        modes is None
        or any(isinstance(k, bool) for k in fixed)
        or any(k < 0 or k >= ndim for k in modes)
    ):
        raise ValueError(
            f"fixed must be a sequence of mode indices in 0..{ndim - 1}; got {fixed!r}."
        )
    if len(modes) == ndim:
        raise ValueError("fixed holds every mode: leave at least one mode to fit.")
    factors = init.factors if isinstance(init, FitResult) else init
    for k in modes:
        if (
            factors is None
            or not isinstance(factors, (tuple, list))
            or len(factors) != ndim
            or factors[k] is None
        ):
            raise ValueError(
                f"fixed=({k},) holds mode {k} at its init value, but init gives none: pass "
                f"init with an array for mode {k} (e.g. init=(None, V))."
            )
    return modes


def fit(
    model: Model | ConvModel,
    X: Any,
    *,
    mask: Any = None,
    key: int | Array = 0,
    restarts: int = 1,
    max_iter: int = 500,
    tol: float = 1e-6,
    init: Any = None,
    fixed: Sequence[int] = (),
    devices: Any = None,
    accelerate: bool | None = None,
    check_every: int | None = None,
    compress: bool | int | None = None,
) -> FitResult:
    r"""Fit a model by alternating MAP: minimise the negative log posterior.

    .. math::
        \hat F = \arg\min_{F_1..F_N} -\sum_{i \in \Omega} \log p(X_i \mid \eta_i)
        - \sum_k \log p_k(F_k), \qquad \eta = \textstyle\sum_r F_1[:, r] \circ
        \cdots \circ F_N[:, r]

    Each iteration updates one factor matrix at a time with the block update
    chosen for its (likelihood, prior) pair (see :mod:`bayesfactor.solvers.updates`),
    all inside one compiled ``lax.while_loop``. Intercepts start from the data's
    means on the scale of :math:`\eta` (:func:`~bayesfactor.solvers.init.intercept_start`;
    the random starts are drawn for the remainder) and follow the factors in each
    iteration; a matrix factor with a ``Flat`` or ``Normal`` prior is re-centred into
    the other mode's intercept after each of its updates (``_recentre``), so that
    PCA with intercepts is PCA of the centred data. Where it was measured to pay
    (matrices; row solves on tensors), the updates are extrapolated (Ang & Gillis
    2019): an extrapolated iterate is kept only when it lowers the objective, so the
    history stays monotone and the convergence test is made on plain sweeps. Restarts
    run as one vmapped program; the one with the lowest objective is kept.

    Parameters
    ----------
    model : Model or ConvModel
        Likelihood, rank and priors (a :class:`~bayesfactor.ConvModel` is fitted by
        :func:`bayesfactor.solvers.conv.fit_conv`; ``fixed`` does not apply to it).
    X : array_like, shape (n_1, ..., n_N), N >= 2
        Data: NumPy, JAX, pandas (labels kept) or xarray. NaN entries are missing.
        Also a ``scipy.sparse`` matrix or a ``jax.experimental.sparse.BCOO``, whose
        entries not stored are observed zeros (no mask, ``init="svd"`` or ``devices``
        then), for two families of models:

        - KL-NMF (``Poisson(link="identity")`` with ``NonNegative``, ``Exponential``
          or ``HalfNormal`` priors), any number of modes: only the non-zeros are
          touched, memory :math:`O(\mathrm{nnz} + \sum_k n_k R)`.
        - A matrix with ``Poisson(link="log")`` (GLM-PCA of single-cell counts) or
          ``Bernoulli()`` (logistic PCA of spike rasters), possibly in an ``Offset``
          (e.g. log size factors, shape ``(m, 1)``), with row-solve priors (``Flat``,
          ``Normal``, ``Smooth``) and at most one intercept mode (e.g.
          ``intercepts=("columns",)``): the rows are processed in dense blocks of
          about ``bayesfactor._sparse.ROWS_BLOCK`` entries (a blocked dense pass),
          the same fit as the dense one in the same time, memory
          :math:`O(\mathrm{nnz} + \text{block} \cdot n + (m + n) R^2)`.
    mask : array_like of bool, optional
        True where observed (same shape as ``X``); masked entries never touch the
        objective. Combined with NaN-as-missing.
    key : int or jax.random key, default=0
        Seed of the random initializations; same key, same result.
    restarts : int, default=1
        Number of random initializations, run in parallel (vmapped).
    max_iter : int, default=500
        Maximum number of alternating iterations.
    tol : float, default=1e-6
        Stop when the relative change of the objective per iteration is at most ``tol``
        (averaged over the iterations between evaluations, see ``check_every``).
    init : {"random", "svd"}, FitResult or tuple of arrays, optional
        ``"random"`` (default): random factors, one draw per restart (NumPy, on the
        host, from ``key``: see ``draw_start``). ``"svd"``: the
        first restart starts from the truncated SVD of the data on the scale of
        :math:`\eta` (NNDSVD for non-negative modes; HOSVD for tensors; missing
        entries filled with the mean; less the intercepts' start, if any; see
        :mod:`bayesfactor.solvers.init`), the others from random draws. A FitResult
        or factors: start there (warm start); a ``None`` in the tuple draws that
        mode at random.
    fixed : sequence of int, default=()
        Modes held at their ``init`` values and not updated: e.g. ``init=(None, V),
        fixed=(1,)`` fits only the row factors of new data against known components.
    devices : int, sequence of jax.Device or jax.sharding.Mesh, optional
        Shard the fit across devices (default: one device). An int takes the first
        ``n`` of ``jax.devices()``; a mesh must have one axis. The data (and mask)
        are split along their largest mode, padded with missing rows when its size
        is not a multiple of the number of devices (sizes that divide evenly keep the
        fast fully-observed paths); that mode's factor is split the same way and the
        others are replicated. The result equals the single-device fit up to
        rounding. On several hosts, call ``jax.distributed.initialize`` first and
        pass ``devices=jax.devices()`` with the same ``X`` in every process.
    accelerate : bool, optional
        Extrapolate the block updates (Ang & Gillis 2019; kept only when the
        objective falls). Default: where it was measured to pay (matrices, and row
        solves on tensors; see ``accelerates``). ``False`` runs the plain
        alternating updates, e.g. to compare with another library's algorithm.
    check_every : int, optional
        Evaluate the objective (``history``, the convergence test and the check for
        non-finite values) every this many iterations, and test convergence on its
        mean relative decrease per iteration over them. ``history`` is NaN at the
        iterations in between; the last iteration is always evaluated. Default: 10
        for multiplicative updates (KL-NMF), whose objective is a pass over the data
        of its own (~1/3 of an iteration), as in scikit-learn's MU solver; 1
        otherwise. Above 1 it excludes ``accelerate=True``, which compares the
        objective every iteration.
    compress : bool or int, optional
        Gaussian likelihood, every entry observed, no intercepts: fit the restarts on
        a randomized Tucker compression of ``X`` (``q`` leading directions per mode:
        ``compress`` itself, or ``rank + 20`` for True; see
        :mod:`bayesfactor.solvers.compress`), whose iterations never touch ``X``,
        then finish the best one on ``X``. The result is a fit of ``X`` (``objective``,
        ``history`` and ``n_iter`` are those of the finish); ``restart_objectives``
        are the restarts' objectives on the compression. Pays for large data and for
        restarts (benchmarks/RESULTS.md).

    Returns
    -------
    FitResult
        Factors, objective, history, convergence information.

    Raises
    ------
    TypeError, ValueError
        For bad input (named, with the fix), before any compilation.
    FloatingPointError
        If the objective became non-finite in every restart.

    Warns
    -----
    ConvergenceWarning
        If the kept restart stopped at ``max_iter``.
    RankWarning
        If ``rank`` exceeds ``min(X.shape)`` for a matrix.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> X = np.random.default_rng(0).poisson(3.0, size=(20, 15))
    >>> model = bf.Model(bf.Poisson(link="identity"), rank=2, priors=bf.NonNegative())
    >>> result = bf.fit(model, X, key=0, max_iter=1000, tol=1e-5)
    >>> [f.shape for f in result.factors]
    [(20, 2), (15, 2)]
    >>> bool((result.factors[0] >= 0).all())
    True

    Sparse counts (only the non-zeros are touched) and a sharded fit give the
    same fit:

    >>> import scipy.sparse as sp
    >>> sparse = bf.fit(model, sp.csr_matrix(X), key=0, max_iter=1000, tol=1e-5)
    >>> bool(np.isclose(sparse.objective, result.objective, rtol=1e-4))
    True
    >>> sharded = bf.fit(model, X, key=0, max_iter=1000, tol=1e-5, devices=1)
    >>> bool(np.isclose(sharded.objective, result.objective, rtol=1e-4))
    True

    GLM-PCA of sparse counts (Poisson log link, column intercept) through the
    blocked dense pass equals the dense fit:

    >>> glm = bf.Model(bf.Poisson(), rank=2, priors=bf.Normal(1.0), intercepts=("columns",))
    >>> dense = bf.fit(glm, X, key=0, max_iter=1000, tol=1e-5)
    >>> blocked = bf.fit(glm, sp.csr_matrix(X), key=0, max_iter=1000, tol=1e-5)
    >>> bool(np.isclose(blocked.objective, dense.objective, rtol=1e-4))
    True

    Gaussian restarts fitted on a compression of the data, the best finished on it:

    >>> nmf = bf.Model(bf.Gaussian(), rank=2, priors=bf.NonNegative())
    >>> direct = bf.fit(nmf, X, key=0, restarts=3, max_iter=1000, tol=1e-7)
    >>> compressed = bf.fit(nmf, X, key=0, restarts=3, max_iter=1000, tol=1e-7, compress=True)
    >>> bool(np.isclose(compressed.objective, direct.objective, rtol=1e-4))
    True
    """
    if isinstance(model, Model):
        model = model.for_data(X)
    mesh = as_mesh(devices)
    sparse = is_sparse(X)
    data = sparse_data(X, mask) if sparse else as_data(X, mask)
    _check_controls(restarts, max_iter, tol)
    restarts, max_iter, tol = int(restarts), int(max_iter), float(tol)
    if accelerate is not None and not isinstance(accelerate, bool):
        raise TypeError(f"accelerate must be True, False or None; got {accelerate!r}.")
    if check_every is not None:
        if isinstance(check_every, bool) or not isinstance(check_every, (int, np.integer)):
            raise TypeError(f"check_every must be a positive int or None; got {check_every!r}.")
        if check_every < 1:
            raise ValueError(f"check_every must be at least 1; got {check_every}.")
        if accelerate and check_every > 1:
            raise ValueError(
                "accelerate=True compares the objective every iteration: leave check_every "
                f"at 1 or None (got {check_every}), or pass accelerate=False."
            )
        check_every = int(check_every)
    if compress is not None and not isinstance(compress, (bool, int, np.integer)):
        raise TypeError(f"compress must be True, False, None or an int; got {compress!r}.")
    if isinstance(model, ConvModel):
        unsupported = (("fixed", fixed), ("devices", devices), ("a sparse X", sparse))
        extra = (
            ("accelerate=True", accelerate),
            ("check_every > 1", (check_every or 1) > 1),
            ("compress", compress),
        )
        for name, given in unsupported + extra:
            if given:
                raise ValueError(
                    f"{name} is not supported for a ConvModel; leave it out (and pass X "
                    "as a dense array)."
                )
        return fit_conv(
            model, data, key=key, restarts=restarts, max_iter=max_iter, tol=tol, init=init
        )
    _check_model(model, data.shape, restarts)
    blocked = sparse and check_sparse_fit(model, data, init=init, devices=devices)
    if not sparse:
        model.likelihood.check_data(data.x, data.mask)
        _check_magnitude(data, fit_dtype(data.x.dtype))
    fixed = _check_fixed(fixed, init, len(data.shape))
    ranks = _check_compress(compress, model, data, devices)
    seed_words(key)  # a bad key raises here, before any work
    dtype = fit_dtype(data.x.dtype)
    layout = layout_for(mesh, data.shape, model)
    if sparse:
        x = (SparseRows.from_counts(data.x) if blocked else data.x).to_device(dtype)
    else:
        x = layout.place(data.x, dtype)
    # A fully observed X needs no mask array on the device (padding rows are missing).
    dense = data.dense and not layout.pad
    mask_ = jnp.ones((), bool) if dense else layout.place(data.mask, bool, fill=False)
    scale = data.init_scale(model.likelihood) if sparse else _start_scale(model, data.x, data.mask)
    if isinstance(init, str):
        if init not in ("random", "svd"):
            raise ValueError(
                f"init must be 'random', 'svd', a FitResult or a tuple of factors; got {init!r}."
            )
        if init == "svd":
            model.likelihood.init_target(data.observed[:1])  # raises where undefined
    if init is None or init == "random":
        start = draw_start(model, data.shape, key, range(restarts), dtype, scale)
    elif init == "svd":
        svd = svd_init(model, data, dtype, key)
        start = tuple(f[None] for f in svd)
        if restarts > 1:
            others = draw_start(model, data.shape, key, range(1, restarts), dtype, scale)
            drawn = _init_many_jit(model, data.shape, dtype, others)
            start = tuple(jnp.concatenate(pair) for pair in zip(start, drawn, strict=True))
    else:
        given = _as_init(init, model, data.shape, dtype)
        if all(g is not None for g in given):
            start = tuple(g[None] for g in given)
        else:
            start = draw_start(model, data.shape, key, range(restarts), dtype, scale, given)
    run = functools.partial(
        _fit,
        model,
        tol=jnp.asarray(tol, dtype),
        max_iter=max_iter,
        fixed=fixed,
        accelerate=accelerate,
        check_every=check_every,
    )
    screened = None
    if ranks:
        compressed = tucker_compress(x, compress_sketches(seed_words(key), x.shape, ranks, dtype))
        screen = functools.partial(run, compressed, mask_, dense=True)
        cost = _sweep_flops(compressed, model.rank, restarts)
        screened = run_in_chunks(screen, start, max_iter, cost)
        screened = _host_state(screened, ONE_DEVICE, model, x.ndim)
        start = _best_start(screened)
    program = functools.partial(run, x, mask_, dense=dense, layout=layout)
    flops = _sweep_flops(x, model.rank, restarts)
    state = _host_state(run_in_chunks(program, start, max_iter, flops), layout, model, x.ndim)
    return _result(model, state, data, max_iter=max_iter, tol=tol, screened=screened)


def _start_scale(model: Model, x: np.ndarray, mask: np.ndarray) -> float:
    """Typical magnitude of the factors' part of eta, for the random starts (host).

    The likelihood's ``data_scale``; for a Gaussian model with intercepts, that of
    the data less the intercepts' start (:func:`intercept_start`): the factors are
    drawn for the remainder, not for the means (a start of the size of a large mean
    puts it in a component).
    """
    if not (model.intercepts and isinstance(model.likelihood, Gaussian)):
        return model.likelihood.data_scale(x, mask)
    filled = jnp.asarray(np.where(mask, x, 0.0))
    offset = model.intercept_eta(intercept_start(model, filled, jnp.asarray(mask)), x.shape)
    return model.likelihood.data_scale(x - np.asarray(offset), mask)


def _check_magnitude(data: Any, dtype) -> None:
    """Refuse data so small that their squares (and residuals') underflow ``dtype``."""
    limit = 1e3 * np.sqrt(np.finfo(dtype).tiny)  # float32: 1.1e-16; float64: 1.5e-151
    observed = data.observed
    largest = max(abs(float(observed.min())), abs(float(observed.max()))) if observed.size else 0
    if 0 < largest < limit:
        raise ValueError(
            f"X's largest entry is {largest:.2g}: fitted in {np.dtype(dtype).name}, the "
            "squares of such values underflow, and the fit would be rounding noise. Multiply "
            "X by a constant first (e.g. X / np.abs(X).max()), or pass float64 data."
        )


def check_sparse_fit(model, data: SparseData, *, init: Any, devices: Any) -> bool:
    """Refuse what a sparse fit does not support, with the alternative, before any work.

    Returns whether the fit takes the blocked dense pass (:class:`SparseRows`:
    Poisson log link or Bernoulli with row-solve priors) rather than the KL-NMF
    pass over the non-zeros (:class:`SparseCounts`).
    """
    lik = model.likelihood
    base = lik.base if isinstance(lik, Offset) else lik
    kinds = {select_update(lik, p).kind for p in model.mode_priors(data.x.ndim)}
    kl_nmf = kinds == {"multiplicative"}
    glm = kinds == {"row-solve"} and (
        isinstance(base, Bernoulli) or (isinstance(base, Poisson) and base.link == "log")
    )
    if not (kl_nmf or glm):
        raise ValueError(
            "sparse X is supported for KL-NMF (bf.Poisson(link='identity') with "
            "NonNegative(), Exponential(rate) or HalfNormal(scale) on every mode) and for "
            "matrices with bf.Poisson(link='log') or bf.Bernoulli() (optionally in an "
            "Offset) with Flat(), Normal(scale) or Smooth(scale) priors; got "
            f"{lik!r} with priors {model.priors!r}. Densify X (X.toarray()) for other models."
        )
    if glm and data.x.ndim != 2:
        raise ValueError(
            f"sparse X with {lik!r} must be a matrix; got a {data.x.ndim}-way array of shape "
            f"{data.x.shape}. Densify it, or fit a KL-NMF (bf.Poisson(link='identity'))."
        )
    if len(model.intercepts) > 1 or (model.intercepts and not glm):
        raise ValueError(
            f"intercepts={model.intercepts} is not supported with sparse X: at most one "
            "intercept mode, with bf.Poisson(link='log') or bf.Bernoulli() (e.g. "
            "intercepts=('columns',)); or densify X (X.toarray())."
        )
    if lik.estimates():
        raise ValueError("Estimated likelihood parameters are not supported with sparse X.")
    if isinstance(init, str) and init == "svd":
        raise ValueError("init='svd' is not supported with sparse X; use init='random'.")
    if devices is not None:
        raise ValueError("devices= is not supported with sparse X yet; use devices=None.")
    lik.validate(data.observed)
    return glm


def _check_compress(compress: Any, model: Model, data: Any, devices: Any):
    """Per-mode ranks of ``fit(..., compress=...)``, or ``()`` when off; errors before any work."""
    if compress is None or compress is False:
        return ()
    rank = model.rank
    if compress is not True and compress < rank:
        raise ValueError(
            f"compress={compress} keeps fewer directions per mode than rank={rank}: pass "
            f"compress=True (rank + {COMPRESS_OVERSAMPLE}) or an int of at least {rank}."
        )
    reasons = (
        (not isinstance(model.likelihood, Gaussian), f"the likelihood is {model.likelihood!r}"),
        (not data.dense, "X has missing entries"),
        (bool(model.intercepts), "the model has intercepts"),
        (bool(model.likelihood.estimates()), "the Gaussian scale is estimated"),
        (
            any(isinstance(p, OneHot) for p in model.mode_priors(len(data.shape))),
            "a prior is OneHot",
        ),
        (devices is not None, "devices is given"),
    )
    for bad, why in reasons:
        if bad:
            raise ValueError(
                f"compress needs a fully observed dense X, a Gaussian likelihood with a fixed "
                f"scale, no intercepts, no OneHot prior and one device, but {why}: leave "
                "compress out."
            )
    q = rank + COMPRESS_OVERSAMPLE if compress is True else int(compress)
    return compress_ranks(data.shape, q)


def _best_start(state: SolverState) -> tuple[Array, ...]:
    """The factors of the best restart (:func:`_best`), with a restart axis."""
    best = _best(state)
    if not np.isfinite(state.objective[best]):
        raise FloatingPointError(MESSAGES[Status.NONFINITE].format(n_iter=int(state.step.max())))
    return tuple(f[best : best + 1] for f in state.factors)


#: Most data entries (members x restarts x entries of X) one call of ``_fit_sweep`` holds:
#: a larger sweep runs in calls of equal size (the same program), one after another.
_SWEEP_ENTRIES = 2**27


@functools.partial(jax.jit, static_argnames=("max_iter", "dense", "padded", "phase"))
def _fit_sweep(
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
    """``_fit`` vmapped over members ``i``: ``masks[i]``, ``starts[i]`` (RandomStart), ``ranks[i]``.

    Member ``i`` starts from the random draws of a fit at rank ``ranks[i]`` (the same as
    ``fit``'s: the first ``ranks[i]`` components of the draw at ``model.rank``), its other
    components zero and, when ``padded``, inactive. Every member runs until it stops;
    one that has stopped no longer changes (the batched ``lax.while_loop`` selects its
    old state).
    """

    def member(mask, start, rank):
        if phase != "advance":
            start = _init_many(model, x.shape, x.dtype, start, rank if padded else None)
        active = jnp.arange(model.rank) < rank if padded else None
        return _fit_impl(
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
    sweep holding more than ``_SWEEP_ENTRIES`` (:math:`2^{27}`) data entries (members ×
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
    _check_controls(restarts, max_iter, tol)
    restarts, max_iter, tol = int(restarts), int(max_iter), float(tol)
    ranks = tuple(int(r) for r in ranks)
    masks = np.asarray(masks, dtype=bool).reshape(-1, *data.shape) & data.mask
    if not len(ranks) == masks.shape[0] == len(keys):
        raise ValueError(
            f"fit_sweep needs one rank, mask and key per member; got {len(ranks)} ranks, "
            f"{masks.shape[0]} masks and {len(keys)} keys."
        )
    models = {r: dataclasses.replace(model, rank=r) for r in sorted(set(ranks))}
    for m in models.values():
        _check_model(m, data.shape)
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
        scale = _start_scale(model, data.x, masks[i])
        return draw_start(models[rank], data.shape, keys[i], range(restarts), dtype, scale)

    for group in groups:
        group = list(group)
        rank = max(ranks[i] for i in group)
        dense = bool(masks[group].all())
        padded = any(ranks[i] < rank for i in group)
        # Members per call: bounded memory (each holds eta per restart); every call the
        # same size (the last one filled with copies), so all run one program.
        size = max(1, min(len(group), _SWEEP_ENTRIES // (restarts * x.size)))
        for first in range(0, len(group), size):
            chunk = group[first : first + size]
            batch = chunk + chunk[:1] * (size - len(chunk))
            program = functools.partial(
                _fit_sweep,
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
            state = _host_state(
                run_in_chunks(program, starts, max_iter, flops), ONE_DEVICE, model, x.ndim
            )
            for j, i in enumerate(chunk):
                member = jax.tree.map(lambda a, j=j: a[j], state)
                member = member._replace(factors=tuple(f[..., : ranks[i]] for f in member.factors))
                results[i] = _result(models[ranks[i]], member, data, max_iter=max_iter, tol=tol)
    return results


def _check_controls(restarts: Any, max_iter: Any, tol: Any) -> None:
    """Raise for a bad ``restarts``, ``max_iter`` or ``tol`` (NumPy scalars are accepted)."""
    for name, value in (("restarts", restarts), ("max_iter", max_iter)):
        if (
            isinstance(value, (bool, np.bool_))
            or not isinstance(value, (int, np.integer))
            or value < 1
        ):
            raise ValueError(f"{name} must be a positive int; got {value!r}.")
    number = isinstance(tol, (int, float, np.integer, np.floating)) and not isinstance(tol, bool)
    if not (number and np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0; got {tol!r}.")
