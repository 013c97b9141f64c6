r"""Block updates: minimise the objective over one factor matrix, the others fixed.

For mode :math:`k` the data enter only through two contractions with the other
factors (no Khatri–Rao product is formed): the MTTKRP
:math:`G = A_{(k)} (\odot_{j \ne k} F_j)` of an elementwise array :math:`A`, and
the per-row Gram matrices :math:`H_i = \sum_j W_{ij} z_j z_j^\top` (a single
Hadamard product of the :math:`F_j^\top F_j` when every entry is observed and
the weights are constant).

Which update a (likelihood, prior) pair gets (:func:`select_update`):

=================================  ======================================  =============
pair                               update                                  guarantee
=================================  ======================================  =============
any likelihood + ``OneHot``        Lloyd: assign each row to the best      exact (but
                                   component; re-seed empty components     for a
                                   (:func:`_relocate_empty`)               re-seed)
Gaussian + Flat/Normal             ridge: per-row solve (ALS)              exact
Gaussian + NonNegative,            HALS: proximal coordinate descent on    exact
Exponential, HalfNormal, Laplace   columns (Gram matrix formed once)
Bernoulli, VonMises + Flat/Normal  per-row solve on the curvature bound    MM (monotone)
                                   (a constant: one Gram matrix for all
                                   rows when every entry is observed)
other likelihoods + Flat/Normal    per-row Newton / IRLS + line search     monotone
Poisson(identity) + NonNegative,   multiplicative MM (Lee & Seung 2001;    MM (monotone)
Exponential, HalfNormal (KL-NMF)   exact quadratic step for an L2 prior)
other non-Gaussian + prox priors   coordinate Newton on columns with eta   MM, or line
                                   kept current (Hsieh & Dhillon 2011)     search per column
any + ``Smooth``                   the above with the bound 4/s^2          MM / monotone
=================================  ======================================  =============

"Exact" minimises the objective over the block (one coordinate sweep for
HALS); MM minimises a majorizer (the curvature bound of Bernoulli 1/4, von
Mises :math:`\kappa`, the random-walk penalty :math:`4/s^2`), so the objective
never increases; the rest take their step through a backtracking line search
that only accepts a non-increasing objective.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array, lax

from bayesfactor.likelihoods import Likelihood
from bayesfactor.model import Model, cp_product
from bayesfactor.observations import _specs, blockwise, form, mttkrp, ratio_mttkrp
from bayesfactor.priors import Prior

__all__ = [
    "mttkrp",
    "row_grams",
    "select_update",
    "describe_update",
    "dense_gaussian_objective",
]

#: Halvings tried by the backtracking line search before keeping the old block.
_MAX_BACKTRACK = 12
#: Coordinate-descent sweeps over the columns per HALS block update: the Gram and
#: MTTKRP are formed once, so extra sweeps are cheap and cut the outer iterations
#: (measured: 1 -> 4 sweeps, 199 -> 77 iterations, 1.3x faster, on a 1000 x 500
#: rank-10 NMF; 4 -> 8 sweeps on benchmarks/run.py's 5000 x 2000 rank-20 NMF, 48-54
#: -> 39 iterations to scikit-learn's loss, +6 % per iteration, ~17 % less time).
_CD_SWEEPS = 8


def row_grams(w: Array, factors: tuple[Array, ...], k: int) -> Array:
    r"""Weighted per-row Gram matrices :math:`H_i = \sum_j W_{ij} z_j z_j^\top`.

    Returns an array of shape ``(w.shape[k], rank, rank)``.
    """
    modes, others = _specs(w.ndim, k)
    twice = [s.replace("z", "y") for s in others]
    spec = ",".join([modes, *others, *twice]) + f"->{modes[k]}zy"
    rest = [f for j, f in enumerate(factors) if j != k]
    return jnp.einsum(spec, w, *rest, *rest)


def _full_gram(factors: tuple[Array, ...], k: int) -> Array:
    gram = None
    for j, f in enumerate(factors):
        if j != k:
            gram = f.T @ f if gram is None else gram * (f.T @ f)
    return gram


def dense_gaussian_objective(model, x, x_sq, factors, k, constants=True):
    r"""The objective for fully observed Gaussian data, without forming :math:`\eta`.

    :math:`\|X - \eta\|^2 = \|X\|^2 - 2 \langle F_k, X_{(k)} Z\rangle + \mathbf 1^\top
    (\circledast_j F_j^\top F_j) \mathbf 1`; the MTTKRP for mode ``k`` is the one the
    update of mode ``k`` computes, so XLA can share it.
    """
    lik = model.likelihood
    cross = jnp.sum(factors[k] * mttkrp(x, factors, k))
    eta_sq = jnp.sum(_full_gram(factors, k) * (factors[k].T @ factors[k]))
    sq = x_sq - 2 * cross + eta_sq
    s = lik.parameter_value
    # Without constants: as the sum of lik.energy (log sigma only when it is estimated).
    const = x.size * jnp.log(s) if constants or lik.estimates() else 0.0
    const = const + x.size * 0.5 * jnp.log(2 * jnp.pi) if constants else const
    return 0.5 * sq / s**2 + const - model.log_prior(factors) - lik.log_prior_estimates()


def _replace(factors: tuple[Array, ...], k: int, f: Array) -> tuple[Array, ...]:
    return factors[:k] + (f,) + factors[k + 1 :]


def _gradient_and_curvature(model, prior, x, mask, factors, k, dense):
    """Gradient ``G`` (n, R) of the objective in ``F_k`` and curvature ``H`` (n|1, R, R)."""
    lik = model.likelihood
    f0 = factors[k]
    if dense and lik.least_squares and not form(x).row_blocks:
        # Constant weights, no mask: (F_k Gram - X_(k) Z) / sigma^2, eta never formed.
        gram = _full_gram(factors, k) / lik.parameter_value**2
        grad = f0 @ gram - mttkrp(x, factors, k) / lik.parameter_value**2
        hess = gram[None]
    else:
        # Dense blocks of the data (a dense array is one). Sparse rows: each block gives
        # its rows' terms (mode 0) or its share of every column's sums (mode 1); padding
        # rows past m have zero factor rows, so a constant weight's one Gram matrix per
        # block is exact too.
        derivatives = functools.partial(_data_derivatives, k=k, dense=dense)
        grad, hess = blockwise(x, derivatives, lik, mask, factors, stack=k == 0)
    grad = grad + jax.grad(prior.penalty)(f0)
    return grad, hess


def _data_derivatives(lik, x, mask, factors, k, dense):
    """The data term's gradient (n, R) in ``F_k`` and per-row curvatures (n|1, R, R)."""
    eta = cp_product(factors)
    g = jax.grad(lambda e: jnp.sum(jnp.where(mask, lik.energy(x, e), 0.0)))(eta)
    grad = mttkrp(g, factors, k)
    if dense and lik.constant_weight:
        # One weight for all entries (Bernoulli's 1/4, von Mises' kappa): one Gram
        # matrix serves every row, instead of n per-row Grams (R times the work of
        # the MTTKRP) and n eigendecompositions. (The weight is taken at full shape:
        # an Offset's offset broadcasts only to the data's shape.)
        w = lik.weight(x, eta).reshape(-1)[0]
        return grad, w * _full_gram(factors, k)[None]
    w = jnp.where(mask, lik.weight(x, eta), 0.0)
    return grad, row_grams(w, factors, k)


def _floor(h: Array) -> Array:
    """Floor a coordinate curvature at a tiny positive value.

    Where a column has no curvature (a dead component) the prox step becomes huge
    and lands on the prior's minimiser.
    """
    return jnp.maximum(h, jnp.sqrt(jnp.finfo(h.dtype).tiny))


def _psd_solve(h: Array, g: Array) -> Array:
    """Minimum-norm solution of ``h @ d = g`` for batched PSD ``h`` (eigh pseudo-inverse)."""
    evals, evecs = jnp.linalg.eigh(h)
    # numpy.linalg.pinv's rcond convention: rank * eps * largest eigenvalue.
    cutoff = h.shape[-1] * jnp.finfo(h.dtype).eps * jnp.max(evals, axis=-1, keepdims=True)
    inv = jnp.where(evals > cutoff, 1.0 / jnp.where(evals > cutoff, evals, 1.0), 0.0)
    coef = jnp.einsum("...rs,...r->...s", evecs, g) * inv
    return jnp.einsum("...rs,...s->...r", evecs, coef)


def _newton_update(model, prior, x, mask, factors, k, dense):
    """Per-row minimiser of the quadratic model (ridge / IRLS / Newton)."""
    grad, hess = _gradient_and_curvature(model, prior, x, mask, factors, k, dense)
    eye = jnp.eye(hess.shape[-1], dtype=hess.dtype)
    hess = hess + prior.curvature() * eye[None]
    return factors[k] - _psd_solve(hess, grad)


def _cd_update(model, prior, x, mask, factors, k, dense):
    r"""Proximal coordinate descent over columns on the quadratic model (HALS).

    Per row the model is :math:`q(f) = b^\top f + \tfrac12 f^\top (H + cI) f` with
    :math:`b = g - (H + cI) f_0` (gradient :math:`g` and curvature :math:`H` at the
    current block :math:`f_0`, prior curvature :math:`c`), so column :math:`r`'s
    gradient is :math:`b_r + (H + cI)_r f`: one product with the current block, no
    difference to :math:`f_0`. With one curvature for all rows the block is swept
    transposed, ``(R, n)``, so each column is contiguous in memory (measured 9.8 ->
    1.0 ms for four sweeps over a 5000 x 20 block, one thread); with per-row
    curvatures (missing entries) the product reduces along the rows of ``F``.
    """
    grad, hess = _gradient_and_curvature(model, prior, x, mask, factors, k, dense)
    f0 = factors[k]
    rank = f0.shape[1]
    hess = hess + prior.curvature() * jnp.eye(rank, dtype=hess.dtype)[None]
    if hess.shape[0] == 1:  # one Gram for every row: F^T is swept, (R, n)
        gram = hess[0]
        base = (grad - f0 @ gram).T
        columns = f0.T
        at = lambda f, r: f[r]  # noqa: E731
        put = lambda f, r, c: f.at[r].set(c)  # noqa: E731
        gradient = lambda f, r: base[r] + gram[r] @ f  # noqa: E731
        diagonal = lambda r: gram[r, r]  # noqa: E731
    else:  # per-row curvatures: F itself, reduced along its contiguous rows
        base = grad - jnp.einsum("nrs,ns->nr", hess, f0)
        columns = f0
        at = lambda f, r: f[:, r]  # noqa: E731
        put = lambda f, r, c: f.at[:, r].set(c)  # noqa: E731
        gradient = lambda f, r: base[:, r] + jnp.sum(hess[:, r, :] * f, axis=-1)  # noqa: E731
        diagonal = lambda r: hess[:, r, r]  # noqa: E731

    def column(i, f):
        r = i % rank
        h = _floor(diagonal(r))
        return put(f, r, prior.prox(at(f, r) - gradient(f, r) / h, 1.0 / h))

    swept = lax.fori_loop(0, _CD_SWEEPS * rank, column, columns)
    return swept.T if hess.shape[0] == 1 else swept


def _coordinate_newton_update(model, prior, x, mask, factors, k, dense):
    """Coordinate descent over columns with ``eta`` kept current (Hsieh & Dhillon 2011).

    Each column takes one proximal Newton step on the exact objective, with the
    curvature from ``weight``. Unless the likelihood's weight is a majorizer, the
    step backtracks: row by row when the prior is separable (each row of the
    column is its own one-dimensional problem), for the whole column otherwise.
    """
    lik = model.likelihood
    line_search = not lik.majorizes
    ones = jnp.ones((1, 1), factors[k].dtype)

    def column(r, carry):
        fs, eta = carry
        f = fs[k]
        cols = tuple(
            ones if j == k else lax.dynamic_slice_in_dim(m, r, 1, 1) for j, m in enumerate(fs)
        )
        z = model.eta(cols)  # the other modes' outer product; size 1 along mode k
        axes = tuple(j for j in range(x.ndim) if j != k)
        shape = tuple(-1 if j == k else 1 for j in range(x.ndim))
        g = jax.grad(lambda e: jnp.sum(jnp.where(mask, lik.energy(x, e), 0.0)))(eta)
        w = jnp.where(mask, lik.weight(x, eta), 0.0)
        c = lax.dynamic_slice_in_dim(f, r, 1, 1)[:, 0]
        grad = (
            jnp.sum(g * z, axis=axes)
            + lax.dynamic_slice_in_dim(jax.grad(prior.penalty)(f), r, 1, 1)[:, 0]
        )
        h = _floor(jnp.sum(w * z * z, axis=axes) + prior.curvature())
        new = prior.prox(c - grad / h, 1.0 / h)
        new = jnp.where(jnp.isfinite(new), new, c)

        def at(t):  # t: a scalar, or one step per row
            col = (1 - t) * c + t * new
            f_t = lax.dynamic_update_slice_in_dim(f, col[:, None], r, 1)
            return col, _replace(fs, k, f_t), eta + (col - c).reshape(shape) * z

        if not line_search:
            return at(jnp.ones((), f.dtype))[1:]
        if prior.separable:
            # Rows are independent problems: each backtracks on its own objective.
            def value(t):
                col, _, eta_t = at(t)
                nll = jnp.sum(jnp.where(mask, lik.energy(x, eta_t), 0.0), axis=axes)
                return nll - jax.vmap(lambda v: prior.log_prob(v.reshape(1, 1)))(col)

            return at(_backtrack(value, value(jnp.zeros_like(c))))[1:]

        def value(t):
            _, fs_t, eta_t = at(t)
            return jnp.sum(jnp.where(mask, lik.energy(x, eta_t), 0.0)) - model.log_prior(fs_t)

        return at(_backtrack(value, value(jnp.zeros((), f.dtype))))[1:]

    eta = model.eta(factors)
    out, _ = lax.fori_loop(0, factors[k].shape[1], column, (factors, eta))
    return out[k]


def _mu_update(model, prior, x, mask, factors, k, dense):
    r"""Multiplicative MM step for KL-NMF with a separable non-negative prior.

    Jensen's inequality on :math:`\sum_r F_{ir} z_{jr}` majorizes the Poisson
    (identity link) negative log-likelihood by a sum of one-dimensional terms
    :math:`d_{ir} F_{ir} - c_{ir} \log F_{ir}` with :math:`c = F \circ
    (X / \eta)_{(k)} Z` and :math:`d = \mathbf 1_{(k)} Z` (Lee & Seung 2001);
    the prior's penalty is majorized by its curvature bound :math:`a` around
    :math:`F`, so each entry minimises :math:`\tfrac a2 F^2 + b F - c \log F`,
    :math:`b = d + \nabla\text{penalty} - a F`, in closed form:
    :math:`F^+ = 2c / (b + \sqrt{b^2 + 4ac})` (:math:`c / b` when :math:`a = 0`,
    the classical multiplicative update). Costs two MTTKRPs and one
    reconstruction — no per-column passes over the data. With sparse counts
    (:class:`~bayesfactor._sparse.SparseCounts`) :math:`X / \eta` is formed at the
    non-zeros only.
    """
    f = factors[k]
    c = f * ratio_mttkrp(x, model, mask, factors, k)  # sparse counts: from the non-zeros
    if dense:  # the MTTKRP of all ones: a product of column sums
        d = jnp.ones_like(f)
        for j, m in enumerate(factors):
            if j != k:
                d = d * jnp.sum(m, axis=0)[None]
    else:
        d = mttkrp(jnp.broadcast_to(mask, x.shape).astype(f.dtype), factors, k)
    a = prior.curvature()
    b = d + jax.grad(prior.penalty)(f) - a * f
    denominator = b + jnp.sqrt(b * b + 4 * a * c)
    tiny = jnp.finfo(f.dtype).tiny
    new = 2 * c / jnp.maximum(denominator, tiny)
    # Floored at the smallest normal number: an entry that underflows to 0 could never
    # grow again (c = F (X/eta) Z), and float32 underflows soon (measured: KL-NMF of
    # planted spikes 300 x 1500, r=10: 61 % of W exactly 0 after 3000 iterations, stuck
    # 0.57 % above the float64 loss).
    return jnp.where(jnp.isfinite(new), jnp.maximum(new, tiny), f)


def _lloyd_update(model, prior, x, mask, factors, k, dense, relocate=True):
    r"""Assign each row to the component of lowest energy (exact); re-seed empty components.

    Row :math:`i`'s cost for component :math:`r` is its energy
    :math:`c_{ri} = \sum_j E(x_{ij}, \eta_{ij})` with :math:`F_k[i] = e_r` (the
    squared distance to centre :math:`r`, over :math:`2\sigma^2`, for a Gaussian), and
    it takes :math:`\arg\min_r c_{ri}`. With ``relocate`` (the default; off when
    every other mode is held fixed, where the assignment itself is wanted), an
    assignment that leaves components empty is followed by :func:`_relocate_empty`,
    as scikit-learn's k-means relocates its empty clusters.
    """
    n, rank = factors[k].shape
    lik = model.likelihood

    def cost(r):
        indicator = jnp.zeros((n, rank), factors[k].dtype).at[:, r].set(1.0)
        eta = model.eta(_replace(factors, k, indicator))
        e = jnp.where(mask, lik.energy(x, eta), 0.0)
        return jnp.sum(jnp.moveaxis(e, k, 0).reshape(n, -1), axis=1)

    costs = lax.map(cost, jnp.arange(rank))  # (rank, n)
    labels = jnp.argmin(costs, axis=0)
    if relocate:
        seen = jnp.moveaxis(jnp.broadcast_to(mask, x.shape), k, 0).reshape(n, -1)
        labels = _relocate_empty(labels, costs, jnp.any(seen, axis=1))
    return jax.nn.one_hot(labels, rank, dtype=factors[k].dtype)


def _relocate_empty(labels: Array, costs: Array, observed: Array) -> Array:
    r"""``labels`` with each empty component given one of the rows farthest from their own.

    A component is empty when no observed row (``observed``: a row with at least one
    observed entry) is assigned to it. The :math:`m` empty components, in index
    order, take the :math:`m` observed rows of largest cost :math:`c_{\ell_i i}` at
    their own component :math:`\ell_i`, by decreasing cost, so that the next update
    of the other modes puts each of them on its row (scikit-learn's
    ``_relocate_empty_clusters_dense``, which moves the centres directly). Static
    shapes: no component empty, no change.
    """
    rank, n = costs.shape
    empty = jnp.zeros(rank, jnp.int32).at[labels].add(observed.astype(jnp.int32)) == 0
    own = jnp.take_along_axis(costs, labels[None], axis=0)[0]
    _, far = lax.top_k(jnp.where(observed, own, -jnp.inf), rank)  # rows, farthest first
    rows = jnp.where(empty, far[jnp.cumsum(empty) - 1], n)  # n: out of bounds, dropped
    return labels.at[rows].set(jnp.arange(rank), mode="drop")


def _backtrack(value: Callable[[Array], Array], objective: Array) -> Array:
    """Largest step in 1, 1/2, 1/4, ... with ``value(t) <= objective``, elementwise; 0 if none.

    ``objective`` is the value at ``t = 0``; ``t`` has its shape (a scalar for a whole
    block, one entry per row for separable row problems).
    """

    def cond(carry):
        t, accepted, i = carry
        return (i < _MAX_BACKTRACK) & ~jnp.all(accepted)

    def body(carry):
        t, accepted, i = carry
        t = jnp.where(accepted, t, t / 2)
        return t, accepted | (value(t) <= objective), i + 1

    one = jnp.ones_like(objective)
    t, accepted, _ = lax.while_loop(cond, body, (one, value(one) <= objective, 0))
    return jnp.where(accepted, t, 0.0)


def _line_search(model, x, mask, factors, k, proposal, objective):
    """Backtrack from ``proposal`` towards the old block until the objective does not rise."""
    return _line_search_step(model, x, mask, factors, k, proposal, objective)[0]


def _line_search_step(model, x, mask, factors, k, proposal, objective):
    r""":func:`_line_search`'s block and whether it stalled.

    Stalled: every step was rejected although the proposal is more than
    :math:`\sqrt\epsilon` (relative) away from the old block, so the block did not
    move for lack of a descent step, not because it is at a minimum.
    """
    f0 = factors[k]
    at = lambda t: _replace(factors, k, (1 - t) * f0 + t * proposal)
    t = _backtrack(lambda t: model.objective(x, mask, at(t), constants=False), objective)
    distance = jnp.linalg.norm(proposal - f0)
    scale = jnp.sqrt(jnp.finfo(f0.dtype).eps) * (1 + jnp.linalg.norm(f0))
    return at(t)[k], (t == 0) & (distance > scale)


@dataclasses.dataclass(frozen=True)
class BlockUpdate:
    """A block update and what the driver needs to know about it (see :func:`select_update`).

    Attributes
    ----------
    apply : callable
        ``apply(model, prior, x, mask, factors, k, dense) -> new F_k``.
    kind : str
        ``"lloyd"``, ``"row-solve"``, ``"hals"``, ``"multiplicative"`` or
        ``"coordinate-newton"``.
    exactness : str
        ``"exact"``, ``"majorized"`` or ``"line search"``: how a step relates to the
        objective.
    line_search : bool
        The proposal goes through the backtracking line search (neither exact nor a
        majorization step).
    """

    apply: Callable[..., Array]
    kind: str
    exactness: str = "exact"
    line_search: bool = False

    @property
    def name(self) -> str:
        """Short name for reports, e.g. ``"hals (exact)"``."""
        return self.kind if self.kind == "lloyd" else f"{self.kind} ({self.exactness})"

    @property
    def multiplicative(self) -> bool:
        """Multiplicative: iterates stay positive, and a zero entry stays zero."""
        return self.kind == "multiplicative"


def _multiplicative_pair(likelihood: Likelihood, prior: Prior) -> bool:
    return likelihood.admits_multiplicative and prior.nonnegative and prior.separable


#: The block updates by capability, in order: a pair gets the first whose test it passes.
UPDATES = (
    ("lloyd", _lloyd_update, lambda likelihood, prior: prior.assigns),
    ("row-solve", _newton_update, lambda likelihood, prior: prior.prox is None),
    ("hals", _cd_update, lambda likelihood, prior: likelihood.admits_hals),
    ("multiplicative", _mu_update, _multiplicative_pair),
    # Columns with eta kept current; the line search, if any, is per column inside.
    ("coordinate-newton", _coordinate_newton_update, lambda likelihood, prior: True),
)


def select_update(likelihood: Likelihood, prior: Prior) -> BlockUpdate:
    """The block update for a (likelihood, prior) pair: the first of :data:`UPDATES` it admits.

    Returns
    -------
    BlockUpdate
        The update function, its kind, how exact a step is, and whether it needs the
        backtracking line search.
    """
    kind, apply = next((k, f) for k, f, admits in UPDATES if admits(likelihood, prior))
    exact = likelihood.exact_quadratic and prior.exact_curvature
    exactness = "exact" if exact else "majorized" if likelihood.majorizes else "line search"
    if kind == "multiplicative":
        exactness = "majorized"
    line_search = kind == "row-solve" and exactness == "line search"
    return BlockUpdate(apply, kind, exactness, line_search)


def describe_update(model: Model, ndim: int = 2) -> tuple[str, ...]:
    """Names of the block update used for each mode of ``model``.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> from bayesfactor.solvers import describe_update
    >>> describe_update(bf.Model(bf.Gaussian(), rank=2, priors=bf.NonNegative()))
    ('hals (exact)', 'hals (exact)')
    """
    return tuple(select_update(model.likelihood, p).name for p in model.mode_priors(ndim))
