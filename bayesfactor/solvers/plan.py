"""What a fit does in each iteration, decided before tracing: :class:`Plan`.

Which block update each fitted mode takes and in which order (:func:`mode_order`,
``OneHot`` modes last), whether the updates are extrapolated (:func:`accelerates`)
and rebalanced, how often the objective is evaluated (:func:`check_interval`),
whether it is taken in Gram form, which modes are kept centred into an intercept
(:func:`centred_modes`) and whether dead components are re-seeded.
"""

from __future__ import annotations

import dataclasses
import functools

import jax.numpy as jnp

from bayesfactor.likelihoods import Offset
from bayesfactor.model import Model
from bayesfactor.observations import form
from bayesfactor.solvers.updates import BlockUpdate, select_update

__all__ = [
    "CHECK_EVERY",
    "Plan",
    "accelerates",
    "centred_modes",
    "check_interval",
    "make_plan",
    "mode_order",
]


def accelerates(priors, plan) -> bool:
    """Whether a fit extrapolates for this model: where it was measured to pay.

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


def mode_order(priors) -> tuple[int, ...]:
    """The modes in the order of a sweep: ``OneHot`` ones last (centres, then assignments)."""
    return tuple(sorted(range(len(priors)), key=lambda k: priors[k].assigns))


def centred_modes(model: Model, priors, order, ndim: int) -> tuple[int, ...]:
    """The fitted modes of a matrix kept centred after their update (``recentre_columns``).

    Mode :math:`k` qualifies when the other mode has an intercept and :math:`k`'s
    prior is ``Flat`` or ``Normal``, whose log-density no shift of the columns raises.
    """
    if ndim != 2:
        return ()
    return tuple(k for k in order if 1 - k in model.intercepts and priors[k].admits_centring)


@dataclasses.dataclass(frozen=True)
class Plan:
    """The static decisions of one fit (:func:`make_plan`): Python values, fixed at trace time."""

    priors: tuple  # one prior per mode of X
    order: tuple[int, ...]  # the fitted modes, in the order of a sweep
    updates: tuple[tuple[int, BlockUpdate], ...]  # (mode, its block update), in that order
    gaussian: bool  # a least-squares likelihood: intercepts are subtracted from the data
    rows: bool  # sparse rows (log/logit link): blocked dense passes
    accelerate: bool  # the updates are extrapolated (accelerate.py)
    every: int  # sweeps between evaluations of the objective
    positive: dict  # mode -> its extrapolation stays positive (multiplicative updates)
    balance: bool  # scale-free priors on every fitted mode: components are rebalanced
    rotate: bool  # a matrix with mixing-invariant priors on both modes: Grams equalised
    gram: bool  # the objective in Gram-matrix form (dense least squares)
    centred: tuple[int, ...]  # modes kept centred into the other mode's intercept
    reseeding: bool  # dead components are re-seeded (start.reseed_dead)

    @property
    def last(self) -> int:
        """The last mode of a sweep (extrapolated at the start of the next one)."""
        return self.order[-1]


def make_plan(
    model: Model,
    x,
    *,
    dense: bool,
    fixed: tuple[int, ...] = (),
    accelerate: bool | None = None,
    check_every: int | None = None,
) -> Plan:
    """The :class:`Plan` of fitting ``model`` to ``x`` (as the loop holds it), ``fixed`` held.

    ``accelerate`` and ``check_every`` as ``fit``'s (None: :func:`accelerates`,
    :func:`check_interval`).
    """
    priors = model.mode_priors(x.ndim)
    order = tuple(k for k in mode_order(priors) if k not in fixed)
    gaussian = model.likelihood.least_squares
    updates = _updates(model, priors, order, gaussian)
    if accelerate is None:  # extrapolation compares the objective every iteration
        accelerate = accelerates(priors, updates) and check_every in (None, 1)
    every = check_interval(updates, accelerate) if check_every is None else check_every
    # Scale-free priors on every fitted mode: rescaling components leaves the objective
    # unchanged, and the extrapolation would drift along it.
    balance = len(order) > 1 and all(priors[k].scale_free for k in order)
    # A matrix with flat priors on both modes: invariant under any (U A, V A^-T) (rotate).
    rotate = x.ndim == 2 and len(order) == 2 and all(priors[k].mixing_invariant for k in order)
    # ||X||^2 - 2<X, eta> + ||eta||^2 cancels: it resolves a relative change of about
    # eps ||X||^2 / ||X - eta||^2, enough in float64 (the benchmark CP: 2e-16 x 2e6)
    # but not in float32 (1e-7 x 2e6 > tol), where the residual is summed instead.
    # A Tucker compression is only ever fitted in Gram form.
    compressed, row_blocks = form(x)
    gram = dense and gaussian and (jnp.finfo(x.dtype).eps < 1e-10 or compressed)
    # Gaussian non-negative CP: HALS zeroes a component that does not pay, and a
    # component that is 0 in one mode has no gradient in the others: it stays dead.
    # Not on matrices, where the conditional in the loop cost the extrapolated NMF
    # (1500 x 800, r=10, 100 iterations) 1.9-2.3 s instead of 0.5-1.2 s, without ever
    # running; on a 120 x 100 x 40 CP (r=10) it cost nothing measurable.
    reseeding = (
        gaussian
        and x.ndim > 2
        and not fixed
        and not compressed
        and all(p.scale_free and p.nonnegative for p in priors)
    )
    return Plan(
        priors=tuple(priors),
        order=order,
        updates=updates,
        gaussian=gaussian,
        rows=row_blocks,  # sparse, log/logit link: blocked dense passes
        accelerate=accelerate,
        every=every,
        # Multiplicative updates keep a zero entry at zero: their extrapolation stays positive.
        positive={k: u.multiplicative for k, u in updates},
        balance=balance,
        rotate=rotate,
        gram=gram,
        centred=centred_modes(model, priors, order, x.ndim),
        reseeding=reseeding,
    )


def _updates(model: Model, priors, order, gaussian: bool) -> tuple:
    """(mode, block update) for each fitted mode, in ``order``."""
    # With intercepts, a non-Gaussian likelihood sees them as an offset on eta (a
    # Gaussian one sees the data minus the intercepts, keeping its fast paths).
    offsetting = bool(model.intercepts) and not gaussian
    lik = Offset.traced(model.likelihood, 0.0) if offsetting else model.likelihood
    plan = [(k, select_update(lik, priors[k])) for k in order]
    if all(u.kind == "lloyd" for _, u in plan):
        # Every other mode held fixed (e.g. assigning new data to known centres): the
        # assignment itself, no empty component re-seeded (nothing would follow it).
        plan = [
            (k, dataclasses.replace(u, apply=functools.partial(u.apply, relocate=False)))
            for k, u in plan
        ]
    return tuple(plan)
