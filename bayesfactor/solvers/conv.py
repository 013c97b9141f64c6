r"""Alternating MAP for :class:`~bayesfactor.ConvModel`: multiplicative MM updates.

Each iteration updates :math:`H` then :math:`W` (seqNMF's order), each by one
multiplicative majorize-minimize step, inside one jitted ``lax.while_loop``;
restarts are vmapped.

For a block :math:`F \ge 0` (``W`` or ``H``) the likelihood enters through the
forward operator ``op`` of that block (``op(A)`` contracts an ``N × T`` array with
the other factor, shifted over the lags: the gradient of
:math:`\langle A, \eta\rangle` in :math:`F`):

* **Gaussian** (:math:`\sigma`): :math:`\tfrac{1}{2\sigma^2}\|X - \eta\|^2` is a
  quadratic with a non-negative Hessian :math:`A`, majorized by the diagonal
  :math:`\mathrm{diag}(A\tilde F / \tilde F)` (Lee & Seung 2001). Negative data
  split as :math:`X = X^+ - X^-`; the linear term of :math:`X^-` is majorized by
  the same diagonal trick. The step is

  .. math:: F^+ = \tilde F \odot \frac{\mathrm{op}(X^+)}{\mathrm{op}(\eta) +
     \mathrm{op}(X^-) + \sigma^2 (\nabla \text{penalty} + \lambda\, G)}

* **Poisson, identity link**: Jensen's inequality on :math:`\eta` majorizes the
  negative log-likelihood by :math:`d F - c \log F` per entry with
  :math:`c = \tilde F \odot \mathrm{op}(X / \eta)`, :math:`d = \mathrm{op}(\mathbf 1_\Omega)`;
  with the prior's curvature bound :math:`a` each entry solves
  :math:`\tfrac a2 F^2 + bF - c\log F`, :math:`F^+ = 2c / (b + \sqrt{b^2 + 4ac})`,
  :math:`b = d + \nabla\text{penalty} + \lambda G - a\tilde F` (as
  :func:`bayesfactor.solvers.updates` does for KL-NMF).

The priors' penalties (``Exponential``: :math:`\lambda_1 F`, ``HalfNormal``:
:math:`F^2 / 2s^2`) have curvature at most :math:`\nabla\text{penalty} / F`, so
putting their gradient in the Gaussian denominator is also a majorizer (seqNMF's
``lambdaL1`` update is this step). The cross-orthogonality term
:math:`\lambda \sum_{i \ne j} [(W \bar\circledast X) S H]_{ij}` is **linear** in
each block for non-negative data, with gradient :math:`\lambda G \ge 0`
(:math:`G_H = (W \bar\circledast X) S (1 - I)`, :math:`G_W = X \star S H (1 - I)`,
seqNMF's ``dRdH`` / ``dRdW``), so it is majorized exactly and the published seqNMF
step (without its renormalisation of :math:`H`, which is not monotone) is an MM step
on the penalised objective. Every step is thus monotone; as a guard, an iteration
whose objective would rise by more than rounding (16 machine epsilons, relative) is
rejected: the factors are kept and the fit stops, converged.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from bayesfactor._data import Data, host_normals, seed_words, warn
from bayesfactor._precision import fit_dtype
from bayesfactor.conv.model import (
    ConvModel,
    _lag_stack,
    _off_diagonal,
    _overlap,
    _smooth,
    conv_product,
)
from bayesfactor.observations import dropped_constant, saturated
from bayesfactor.result import FitResult, IdentifiabilityWarning, Status
from bayesfactor.solvers._loop import (
    RandomStart,
    SolverState,
    _result,
    _sweep_flops,
    converged,
    energy_floor,
    run_in_chunks,
)
from bayesfactor.solvers.options import FitOptions

__all__ = ["fit_conv"]

#: Relative rise of the objective (in machine epsilons) put down to rounding and accepted.
_ROUNDING = 16


def _random_start(model: ConvModel, shape, normals: Array, scale: Array) -> tuple[Array, Array]:
    """(W, H) from one restart's standard normals, ``(n * lags + t, rank)`` (host draws)."""
    n, t = shape
    prior_w, prior_h = model.factor_priors()
    # eta sums lags * rank products W H: each factor ~ sqrt(scale / (lags * rank)).
    s = jnp.sqrt(scale / (model.lags * model.rank))
    w = prior_w.init(s * normals[: n * model.lags].reshape(n, model.lags, model.rank))
    h = prior_h.init(s * normals[n * model.lags :])
    return w, h


def _step(lik, prior, f, op, eta, x_pos, x_neg, ones, ortho_grad):
    """One multiplicative MM step for the block ``f`` (see the module docstring)."""
    tiny = jnp.finfo(f.dtype).tiny
    grad = jax.grad(prior.penalty)(f) + ortho_grad
    if lik.least_squares:
        den = op(eta * ones) + lik.parameter_value**2 * grad
        if x_neg is not None:
            den = den + op(x_neg)
        new = f * op(x_pos) / jnp.maximum(den, tiny)
    else:
        ratio = jnp.where((ones > 0) & (x_pos > 0), x_pos / jnp.maximum(eta, tiny), 0.0)
        c = f * op(ratio)
        a = prior.curvature()
        b = op(ones) + grad - a * f
        new = 2 * c / jnp.maximum(b + jnp.sqrt(b * b + 4 * a * c), tiny)
    return jnp.where(jnp.isfinite(new), new, f)


@functools.partial(jax.jit, static_argnames=("max_iter", "ortho", "signed", "phase"))
def _fit_conv(
    model: ConvModel,
    x,
    mask,
    start,
    tol,
    *,
    max_iter: int,
    ortho: bool,
    signed: bool,
    phase: str = "whole",
    stop=None,
) -> SolverState:
    """Alternating multiplicative MM from ``start`` (RandomStart, or (W, H) with a restart axis).

    ``phase`` and ``stop`` split the loop into chunks as ``program.fit_impl``'s do
    (:func:`~bayesfactor.solvers._loop.run_in_chunks`).
    """
    lik = model.likelihood
    prior_w, prior_h = model.factor_priors()
    lags = model.lags
    ones = jnp.broadcast_to(mask, x.shape).astype(x.dtype)
    x_pos = jnp.maximum(x, 0.0) if signed else x
    x_neg = jnp.maximum(-x, 0.0) if signed else None
    if phase != "advance" and isinstance(start, RandomStart):
        start = jax.vmap(lambda z: _random_start(model, x.shape, z, start.scale))(start.normals)

    sat = saturated(x, lik, mask)  # the energy of a perfect fit (observations.saturated)

    def objective(w, h):  # without constant terms (added back in the result)
        return model.objective(x, mask, (w, h), ortho=ortho, constants=False) - sat

    def body(s: SolverState) -> SolverState:
        w, h = s.factors
        # i) H, with W fixed: op_H(A) = sum_{n,l} W[n,l,k] A[n, t+l].
        op_h = lambda a: _overlap(a, w)
        g_h = model.xortho * _off_diagonal(_smooth(op_h(x), lags)) if ortho else 0.0
        h = _step(lik, prior_h, h, op_h, conv_product(w, h), x_pos, x_neg, ones, g_h)
        # ii) W, with H fixed: op_W(A) = sum_t A[n, t] H[t-l, k].
        stack = _lag_stack(h, lags)
        op_w = lambda a: jnp.einsum("nt,tlk->nlk", a, stack)
        if ortho:
            smoothed = _lag_stack(_smooth(_off_diagonal(h), lags), lags)
            g_w = model.xortho * jnp.einsum("nt,tlk->nlk", x, smoothed)
        else:
            g_w = 0.0
        eta = jnp.einsum("nlk,tlk->nt", w, stack)
        w = _step(lik, prior_w, w, op_w, eta, x_pos, x_neg, ones, g_w)
        # iii) accept unless the objective rose beyond rounding (every step is MM, so
        # only rounding can raise it; _ROUNDING eps of slack, or float32 fits would stop
        # at the first rounding-level wobble).
        obj = objective(w, h)
        finite = jnp.isfinite(obj)
        slack = _ROUNDING * jnp.finfo(obj.dtype).eps * (jnp.abs(s.objective) + jnp.abs(sat))
        rose = finite & (obj > s.objective + slack)
        factors = jax.tree.map(lambda old, new: jnp.where(rose, old, new), s.factors, (w, h))
        obj = jnp.where(rose, s.objective, obj)
        change, done = converged(s.objective, obj, s.floor, tol)
        status = jnp.where(
            ~finite,
            Status.NONFINITE,
            jnp.where(rose, Status.STALLED, jnp.where(done, Status.CONVERGED, Status.RUNNING)),
        )
        status = jnp.where(
            (status == Status.RUNNING) & (s.step + 1 >= max_iter), Status.MAX_ITER, status
        ).astype(jnp.int32)
        history = s.history.at[s.step].set(obj)
        return SolverState(
            factors, (), (), s.step + 1, obj, change, history, status, s.constant, s.floor
        )

    def cond(s: SolverState):
        running = s.status == Status.RUNNING
        return running if stop is None else running & (s.step < stop)

    def begin(f0):
        obj0 = objective(*f0)
        init = SolverState(
            tuple(f0),
            (),
            (),
            jnp.zeros((), jnp.int32),
            obj0,
            jnp.full((), jnp.inf, obj0.dtype),
            jnp.full((max_iter,), jnp.nan, obj0.dtype),
            jnp.asarray(Status.RUNNING, jnp.int32),
            dropped_constant(lik, x, mask, model.eta(tuple(f0))) + sat,
            energy_floor(lik, x, mask),
        )
        return init

    loop = jax.vmap(lambda s: lax.while_loop(cond, body, s))
    if phase == "advance":
        return loop(start)
    state = jax.vmap(begin)(tuple(start))
    return state if phase == "start" else loop(state)


def _check(model: ConvModel, data: Data) -> None:
    """Input checks before any compilation (clear errors, named fixes)."""
    if data.x.ndim != 2:
        raise ValueError(
            f"a ConvModel factorizes a matrix (neurons x time); got X of shape {data.shape}. "
            "Reshape or select a 2-D slice."
        )
    n, t = data.shape
    if model.lags > t:
        raise ValueError(
            f"lags={model.lags} is longer than the recording: X has T={t} time points "
            f"(columns). Use lags <= {t}."
        )
    model.likelihood.check_data(data.x, data.mask)
    if model.xortho > 0 and (data.observed < 0).any():
        raise ValueError(
            f"xortho={model.xortho} needs non-negative data (the penalty is seqNMF's L1 norm of "
            "overlaps of non-negative quantities); X has negative entries. Shift or clip the "
            "data, or use xortho=0."
        )
    free = [p.scale_free for p in model.factor_priors()]
    if any(free) and not all(free):
        warn(
            "one of W and H has a scale-free NonNegative prior and the other a prior that "
            "penalises scale: rescaling (W / c, H * c) shrinks the penalty towards 0, so the "
            "MAP does not exist and the prior's effect fades. Give both a proper prior, e.g. "
            "priors=(bf.Exponential(rate), bf.Exponential(rate)).",
            IdentifiabilityWarning,
            stacklevel=5,
        )


def _as_start(init: Any, model: ConvModel, shape, dtype) -> tuple[Array, Array]:
    factors = init.factors if isinstance(init, FitResult) else init
    expected = ((shape[0], model.lags, model.rank), (shape[1], model.rank))
    if not isinstance(factors, (tuple, list)) or len(factors) != 2:
        raise TypeError(
            "init must be 'random', a FitResult of a ConvModel or a pair (W, H); got "
            f"{type(init).__name__}."
        )
    out = []
    for name, f, want in zip("WH", factors, expected, strict=True):
        f = np.asarray(f, dtype=float)
        if f.shape != want:
            raise ValueError(f"init {name} has shape {f.shape}; expected {want}.")
        if not np.isfinite(f).all() or (f < 0).any():
            raise ValueError(f"init {name} must be finite and non-negative.")
        out.append(jnp.asarray(f, dtype)[None])
    return tuple(out)


def fit_conv(
    model: ConvModel,
    data: Data,
    options: FitOptions,
    *,
    key: Any,
    init: Any = None,
) -> FitResult:
    r"""Fit a :class:`~bayesfactor.ConvModel` (called by :func:`bayesfactor.fit`).

    Minimises the penalised negative log posterior of :mod:`bayesfactor.conv` by
    alternating multiplicative MM steps on :math:`H` and :math:`W` (see this module's
    docstring); the objective never increases.

    Parameters
    ----------
    model : ConvModel
        Likelihood, rank, lags, priors and cross-orthogonality strength.
    data : Data
        Checked input from :func:`bayesfactor._data.as_data` (missing entries masked).
    options : FitOptions
        The checked ``restarts``, ``max_iter`` and ``tol`` of :func:`bayesfactor.fit`
        (:func:`~bayesfactor.solvers.checks.check_conv_options` refuses the others).
    key : int or jax.random key
        Seed of the random starts.
    init : None, "random", FitResult or (W, H), optional
        Start; a given start is used by the single restart.

    Returns
    -------
    FitResult
        ``factors`` is ``(W, H)``, ``W`` of shape ``(N, lags, rank)``, ``H`` of shape
        ``(T, rank)``; ``predict()`` and ``log_likelihood()`` work as for any fit.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> X = np.random.default_rng(0).poisson(1.0, size=(6, 30))
    >>> model = bf.ConvModel(bf.Poisson(link="identity"), rank=2, lags=4)
    >>> result = bf.fit(model, X, key=0, max_iter=200, tol=1e-3)
    >>> [f.shape for f in result.factors]
    [(6, 4, 2), (30, 2)]
    >>> bool(np.all(np.diff(result.history) <= 0))
    True
    """
    _check(model, data)
    restarts, max_iter, tol = options.restarts, options.max_iter, options.tol
    dtype = fit_dtype(data.x.dtype)
    x = jnp.asarray(data.x, dtype)
    mask = jnp.ones((), bool) if data.dense else jnp.asarray(data.mask)
    if init is None or (isinstance(init, str) and init == "random"):
        scale = model.likelihood.data_scale(data.x, data.mask)
        (n, t), rank = data.shape, model.rank
        normals = host_normals(seed_words(key), range(restarts), n * model.lags + t, rank, dtype)
        start = RandomStart(normals, (), np.asarray(scale, dtype), ())
    elif isinstance(init, str):
        raise ValueError(
            f"init must be 'random', a FitResult or a pair (W, H) for a ConvModel; got {init!r}."
        )
    else:
        start = _as_start(init, model, data.shape, dtype)
    program = functools.partial(
        _fit_conv,
        model,
        x,
        mask,
        tol=jnp.asarray(tol, dtype),
        max_iter=max_iter,
        ortho=model.xortho > 0,
        signed=bool((data.observed < 0).any()),
    )
    # Each iteration convolves: about lags times a matrix fit's arithmetic.
    flops = model.lags * _sweep_flops(x, model.rank, restarts)
    state = run_in_chunks(program, start, max_iter, flops)
    return _result(model, jax.device_get(state), data, max_iter=max_iter, tol=tol, stacklevel=5)
