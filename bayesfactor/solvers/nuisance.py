"""The nuisance parameters of a fit: intercepts and estimated likelihood parameters.

After the factors of a sweep, each intercept takes its own block update
(:func:`update_intercepts`) and each Estimated likelihood parameter its closed-form
minimiser (:func:`update_estimates`); a matrix factor with a ``Flat`` or ``Normal``
prior is kept centred, its column means moved into the other mode's intercept
(:func:`recentre`).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array

from bayesfactor.likelihoods import Offset
from bayesfactor.model import Model
from bayesfactor.priors import Flat
from bayesfactor.solvers.problem import Problem, current
from bayesfactor.solvers.updates import _line_search, _replace, select_update

__all__ = ["recentre", "recentre_columns", "update_estimates", "update_intercepts"]


def recentre(p: Problem, factors: tuple, intercepts: tuple, k: int) -> tuple[tuple, tuple]:
    """Move the column means of ``F_k`` into the other mode's intercept (recentre_columns)."""
    if k not in p.plan.centred:
        return factors, intercepts
    model, layout = p.model, p.layout
    j = 1 - k
    i = model.intercepts.index(j)
    n = layout.unpadded(p.x.shape)[k]
    f, b = recentre_columns(factors[k], factors[j], intercepts[i], n)
    return layout.constrain(_replace(factors, k, f)), _replace(intercepts, i, b)


def update_intercepts(p: Problem, factors: tuple, intercepts: tuple, estimates: tuple) -> tuple:
    """Each intercept: a rank-1 block with ones in the other modes (exact or MM).

    After the factors (and their re-centring, :func:`recentre`): for a Gaussian matrix
    with centred factors the intercepts are then the means of the data less the
    factors' part, the exact joint update.
    """
    model, x, mask, rows = p.model, p.x, p.mask, p.plan.rows
    intercepts = list(intercepts)
    flat = Flat()
    lik = current(model, estimates).likelihood
    for i, k in enumerate(model.intercepts):
        others = intercepts[:i] + [jnp.zeros_like(intercepts[i])] + intercepts[i + 1 :]
        rest = model.intercept_eta(tuple(others), x.shape, full=not rows)
        ones = tuple(
            intercepts[i][:, None] if j == k else jnp.ones((n, 1), x.dtype)
            for j, n in enumerate(x.shape)
        )
        if rows:  # the factors' eta added block by block
            sub, data = Model(Offset.traced(lik, rest), 1, flat), x.with_base(factors)
        elif p.plan.gaussian:
            sub, data = Model(lik, 1, flat), x - (model.eta(factors) + rest)
        else:
            sub, data = Model(Offset.traced(lik, model.eta(factors) + rest), 1, flat), x
        update = select_update(sub.likelihood, flat)
        new = update.apply(sub, flat, data, mask, ones, k, p.dense)
        if update.line_search:
            new = _line_search(
                sub, data, mask, ones, k, new, sub.objective(data, mask, ones, constants=False)
            )
        intercepts[i] = new[:, 0]
    return tuple(intercepts)


def update_estimates(p: Problem, factors: tuple, intercepts: tuple, estimates: tuple) -> tuple:
    """The likelihood's Estimated parameters: each an exact minimiser (closed form)."""
    if not estimates:
        return estimates
    model = p.model
    eta = model.eta(factors)
    if model.intercepts:
        eta = eta + model.intercept_eta(intercepts, p.x.shape)
    new = current(model, estimates).likelihood.update_estimates(p.x, p.mask, eta)
    return tuple(e.value for e in new)


def recentre_columns(f: Array, other: Array, b: Array, n: int) -> tuple[Array, Array]:
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
