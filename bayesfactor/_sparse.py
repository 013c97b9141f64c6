r"""Sparse count data for KL-NMF: only the non-zeros are stored and touched.

For :math:`X \sim \mathrm{Poisson}(\eta)` (identity link) every entry not stored
is an observed zero, and the negative log-likelihood splits into a dense part
that needs only the factors' column sums and a sum over the :math:`\mathrm{nnz}`
stored entries:

.. math::
    -\log p(X \mid \eta) = \sum_r \prod_k \Big(\sum_i F_k[i, r]\Big)
    - \sum_{(i, x) \in \mathrm{nnz}} \big(x \log \eta_i - \log\Gamma(x + 1)\big),
    \qquad \eta_i = \sum_r \prod_k F_k[i_k, r].

The multiplicative update of mode :math:`k` needs :math:`(X / \eta)_{(k)} Z` with
:math:`Z = \odot_{j \ne k} F_j`, which is zero wherever :math:`X` is: gather the
rows of the factors at the stored coordinates, form :math:`x / \eta` per entry
and add the rows up per index of mode :math:`k` (a scatter-add). The non-zeros
are processed in blocks of :data:`BLOCK` inside a ``lax.scan``, so memory is
:math:`O(\mathrm{nnz} + \sum_k n_k R)`; the dense array is never formed.

Poisson with the log link (GLM-PCA, Townes et al. 2019) and Bernoulli (logistic
PCA) have no such split: :math:`\sum_i e^{\eta_i}` and
:math:`\sum_i \log(1 + e^{\eta_i})`, their gradients and curvatures run over
every entry and do not reduce to factor sums. For them a sparse *matrix* is
stored as :class:`SparseRows`, its non-zeros grouped by blocks of rows on the
host, and every pass over the data (objective, gradient and curvature) is a
*blocked dense pass*: a ``lax.scan`` over the row blocks that scatters one block's
non-zeros into a dense ``(block, n)`` array and runs the dense math on it.
The row factor's update takes each block's gradient and per-row curvatures as
they come (rows are independent); the column factor's update sums them over the
blocks, then solves once. Time is :math:`O(mnR^2)` per iteration, as dense;
memory is :math:`O(\mathrm{nnz} + \text{block} \cdot n + (m + n) R^2)`, with
``block * n`` about :data:`ROWS_BLOCK` entries.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax
from jax.scipy.special import gammaln

from bayesfactor import observations
from bayesfactor._data import Data, is_sparse
from bayesfactor._pytree import pytree_dataclass, static_field
from bayesfactor.likelihoods import Offset
from bayesfactor.model import cp_product
from bayesfactor.observations import data_term, dropped_constant

__all__ = [
    "SparseCounts",
    "SparseRows",
    "SparseData",
    "is_sparse",
    "sparse_data",
]


#: Non-zeros per block: the gathered factor rows of one block (``BLOCK * rank``
#: numbers per mode) are the only per-entry temporaries, so memory stays
#: O(nnz + sum_k n_k * rank) and a block's rows stay in cache.
BLOCK = 1 << 15

#: Entries of one densified row block in the blocked dense pass (rows per block:
#: ``ROWS_BLOCK // n``): each temporary of the dense math on a block (data, eta,
#: gradient, curvature weights) has this size, 8 MB in float64.
ROWS_BLOCK = 1 << 20


@pytree_dataclass
class SparseCounts:
    """An N-way array stored as its non-zero entries (COO); the rest are observed zeros.

    The entries are cut into blocks of at most :data:`BLOCK`: ``indices`` has shape
    ``(blocks, block, ndim)`` and ``values`` ``(blocks, block)``; the last block is
    padded with zeros at coordinate 0, which add nothing. No coordinate repeats. A
    pytree: ``fit``'s compiled loop takes it in place of the dense array, and the
    KL-NMF update and objective dispatch on it.
    """

    indices: Any
    values: Any
    shape: tuple[int, ...] = static_field()

    @classmethod
    def from_coo(cls, indices: np.ndarray, values: np.ndarray, shape) -> SparseCounts:
        """Blocks from ``(nnz, ndim)`` coordinates and ``(nnz,)`` values (NumPy)."""
        nnz = len(values)
        block = min(BLOCK, nnz)
        pad = -nnz % block
        indices = np.concatenate([indices, np.zeros((pad, len(shape)), indices.dtype)])
        values = np.concatenate([values, np.zeros(pad, values.dtype)])
        return cls(indices.reshape(-1, block, len(shape)), values.reshape(-1, block), tuple(shape))

    @property
    def ndim(self) -> int:  # noqa: D102
        return len(self.shape)

    @property
    def dtype(self):  # noqa: D102
        return self.values.dtype

    @property
    def size(self) -> int:
        """Number of entries of the dense array, stored or not."""
        return int(np.prod(self.shape))

    def to_device(self, dtype) -> SparseCounts:
        """The same entries as JAX arrays, values in ``dtype``."""
        return SparseCounts(jnp.asarray(self.indices), jnp.asarray(self.values, dtype), self.shape)

    def _blocks(self, factors, step, init):
        """``lax.scan`` of ``step(carry, rows, eta, index, x)`` over the blocks.

        ``rows`` are the factors' rows at the block's coordinates (``(block, rank)``
        per mode) and ``eta`` their CP product per entry.
        """

        def body(carry, block):
            index, x = block
            rows = [f[index[:, k]] for k, f in enumerate(factors)]
            return step(carry, rows, _product(rows), index, x), None

        return lax.scan(body, init, (self.indices, self.values))[0]

    def neg_log_likelihood(self, factors, constants: bool = True) -> Array:
        r"""Poisson (identity link) :math:`-\log p(X \mid \eta)` from the non-zeros only.

        ``constants=False`` leaves out :math:`\sum \log x!` (see :meth:`log_factorials`).
        """
        total = jnp.ones_like(factors[0][0])
        for f in factors:
            total = total * jnp.sum(f, axis=0)
        floor = jnp.finfo(total.dtype).eps  # as Poisson.log_prob: log of eta floored at eps

        def step(acc, rows, eta, index, x):
            return acc + jnp.sum(x * jnp.log(jnp.maximum(eta, floor)))

        value = jnp.sum(total) - self._blocks(factors, step, jnp.zeros((), total.dtype))
        return value + self.log_factorials() if constants else value

    def log_factorials(self) -> Array:
        r""":math:`\sum \log x!` over the non-zeros: the constant of the likelihood."""
        return jnp.sum(gammaln(self.values + 1.0))

    def ratio_mttkrp(self, factors, k: int) -> Array:
        r""":math:`(X / \eta)_{(k)} (\odot_{j \ne k} F_j)`, shape ``(n_k, rank)``."""
        f = factors[k]
        tiny = jnp.finfo(f.dtype).tiny

        def step(acc, rows, eta, index, x):
            z = _product(rows[:k] + rows[k + 1 :], keep_rank=True)
            return acc.at[index[:, k]].add((x / jnp.maximum(eta, tiny))[:, None] * z)

        return self._blocks(factors, step, jnp.zeros_like(f))


# The observations protocol (bayesfactor.observations): only the non-zeros are touched.
@observations.energy.register
def _(x: SparseCounts, model, mask, factors, eta=None, constants=True):
    return x.neg_log_likelihood(factors, constants)


@observations.dropped.register
def _(x: SparseCounts, model, mask, factors):
    return x.log_factorials()


@observations.observed_sum.register
def _(x: SparseCounts, elementwise, likelihood, mask):
    return jnp.sum(elementwise(likelihood, x.values))


@observations.ratio_mttkrp.register
def _(x: SparseCounts, model, mask, factors, k):
    return x.ratio_mttkrp(factors, k)


@pytree_dataclass
class SparseRows:
    r"""A sparse matrix stored by blocks of rows, for the blocked dense pass.

    Rows ``b * block ... (b + 1) * block - 1`` form block ``b``; ``rows`` (the row
    within the block), ``cols`` and ``values`` have shape ``(blocks, width)``, one
    padded slab per block (``width``: the most non-zeros of any block; padding
    adds 0 at ``(0, 0)``). The last block is padded with rows past ``m``, which
    are masked out. A pytree: ``fit``'s compiled loop takes it in place of the
    dense array, and the row-solve updates and the objective dispatch on it.

    ``base`` holds factors ``(B_0, B_1)`` whose product :math:`B_0 B_1^\top` is
    added to :math:`\eta` block by block (the factors, while an intercept is
    updated).
    """

    rows: Any
    cols: Any
    values: Any
    shape: tuple[int, ...] = static_field()
    block: int = static_field()
    base: tuple = ()

    @classmethod
    def from_counts(cls, counts: SparseCounts) -> SparseRows:
        """The non-zeros of ``counts`` (host NumPy) grouped by blocks of rows."""
        m, n = counts.shape
        keep = counts.values.ravel() != 0  # drops SparseCounts' padding
        index, values = counts.indices.reshape(-1, 2)[keep], counts.values.ravel()[keep]
        block = max(1, min(m, ROWS_BLOCK // n))
        blocks = -(-m // block)
        which = index[:, 0] // block
        order = np.argsort(which, kind="stable")
        index, values, which = index[order], values[order], which[order]
        sizes = np.bincount(which, minlength=blocks)
        position = np.arange(len(values)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        slabs = [np.zeros((blocks, max(int(sizes.max()), 1)), d) for d in (np.int32,) * 2]
        slabs.append(np.zeros(slabs[0].shape, values.dtype))
        for slab, column in zip(
            slabs, (index[:, 0] - which * block, index[:, 1], values), strict=True
        ):
            slab[which, position] = column
        return cls(*slabs, (m, n), block)

    @property
    def ndim(self) -> int:  # noqa: D102
        return 2

    @property
    def dtype(self):  # noqa: D102
        return self.values.dtype

    @property
    def size(self) -> int:
        """Number of entries of the dense matrix, stored or not."""
        return self.shape[0] * self.shape[1]

    def to_device(self, dtype) -> SparseRows:
        """The same slabs as JAX arrays, values in ``dtype``."""
        return SparseRows(
            jnp.asarray(self.rows),
            jnp.asarray(self.cols),
            jnp.asarray(self.values, dtype),
            self.shape,
            self.block,
        )

    def with_base(self, factors) -> SparseRows:
        r"""The same data with :math:`F_0 F_1^\top` of ``factors`` added to every eta."""
        return SparseRows(self.rows, self.cols, self.values, self.shape, self.block, factors)

    def map_rows(self, fn, likelihood, factors=(), *, stack: bool = False):
        r"""``fn(likelihood, x, mask, factors)`` on each dense row block, summed or stacked.

        ``x`` is the block's ``(block, n)`` dense data, ``mask`` ``(block, 1)``: False
        on the padding rows past ``m``; ``factors`` has the block's rows of
        ``factors[0]`` and the whole ``factors[1]``; the likelihood's arrays with one
        row per row of the data (an offset of shape ``(m, 1)`` or ``(m, n)``) are cut
        to the block's rows, and ``base`` enters as an offset. With ``stack`` the
        outputs with the block's rows as leading axis are concatenated, trimmed to
        ``m`` rows (others are the same for every block: the first block's is kept);
        otherwise the outputs are summed over the blocks.
        """
        m, n = self.shape
        blocks, size = self.rows.shape[0], self.block

        def split(a):  # (m, ...) -> (blocks, block, ...), padded with zeros
            a = jnp.pad(a, [(0, blocks * size - m)] + [(0, 0)] * (a.ndim - 1))
            return a.reshape(blocks, size, *a.shape[1:])

        leaves, tree = jax.tree.flatten(likelihood)
        cut = [m > 1 and jnp.ndim(a) == 2 and jnp.shape(a)[0] == m for a in leaves]
        heads = lambda fs: tuple(split(f) for f in fs[:1])  # noqa: E731
        xs = (
            self.rows,
            self.cols,
            self.values,
            jnp.arange(blocks),
            heads(factors),
            heads(self.base),
            [split(a) for a, c in zip(leaves, cut, strict=True) if c],
        )

        def one(xs):
            rows, cols, values, b, head, base_head, own = xs
            x = jnp.zeros((size, n), values.dtype).at[rows, cols].add(values)
            mask = (b * size + jnp.arange(size) < m)[:, None]
            own = iter(own)
            lik = tree.unflatten([next(own) if c else a for a, c in zip(leaves, cut, strict=True)])
            if self.base:
                lik = Offset.traced(lik, base_head[0] @ self.base[1].T)
            return fn(lik, x, mask, head + tuple(factors[1:]))

        if stack:
            rows = lambda a: a.reshape(blocks * size, *a.shape[2:])[:m]  # noqa: E731
            # An output without the block's rows (one Gram matrix for every row) is the
            # same in every block: the first block's.
            return jax.tree.map(lambda a: rows(a) if a.shape[1] == size else a[0], lax.map(one, xs))
        shapes = jax.eval_shape(one, jax.tree.map(lambda a: a[0], xs))
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        add = lambda total, xs: (jax.tree.map(jnp.add, total, one(xs)), None)  # noqa: E731
        return lax.scan(add, zeros, xs)[0]


# The observations protocol (bayesfactor.observations): blocked dense passes.
@observations.form.register
def _(x: SparseRows):
    return observations.Form(row_blocks=True)


@observations.blockwise.register
def _(x: SparseRows, fn, likelihood, mask, factors=(), *, stack=False):
    return x.map_rows(fn, likelihood, factors, stack=stack)


@observations.energy.register
def _(x: SparseRows, model, mask, factors, eta=None, constants=True):
    term = lambda lik, x, mask, fs: data_term(lik, x, mask, cp_product(fs), constants)  # noqa: E731
    return x.map_rows(term, model.likelihood, factors)


@observations.dropped.register
def _(x: SparseRows, model, mask, factors):
    term = lambda lik, x, mask, fs: dropped_constant(lik, x, mask, cp_product(fs))  # noqa: E731
    return x.map_rows(term, model.likelihood, factors)


def _product(rows: list[Array], keep_rank: bool = False) -> Array:
    """Elementwise product of the gathered rows; summed over the rank unless ``keep_rank``."""
    out = rows[0]
    for r in rows[1:]:
        out = out * r
    return out if keep_rank else jnp.sum(out, axis=-1)


class SparseData(Data):
    """:class:`~bayesfactor._data.Data` whose ``x`` is a host :class:`SparseCounts`."""

    def __init__(self, x: SparseCounts):
        none = (None,) * x.ndim
        super().__init__(x, None, none, none, "numpy")

    @property
    def dense(self) -> bool:
        """Every entry is observed (the ones not stored are zeros)."""
        return True

    @property
    def observed(self) -> np.ndarray:
        """The stored (non-zero) entries."""
        return self.x.values[self.x.values != 0]

    def init_scale(self, likelihood) -> float:
        """``likelihood.init_scale`` of the dense data.

        The likelihoods accepted with sparse input (Poisson, Bernoulli) take it from
        the mean of the data alone: the sum of the non-zeros over the size.
        """
        return likelihood.init_scale(np.array([self.x.values.sum() / self.x.size]))


def sparse_data(X: Any, mask: Any = None, *, name: str = "X") -> SparseData:
    """Check a sparse ``X`` and keep its non-zeros (duplicates summed, zeros dropped)."""
    if mask is not None:
        raise ValueError(
            f"mask is not supported with a sparse {name}: every entry it does not store is "
            "an observed zero. Pass a dense array (NaN = missing) to fit with missing entries."
        )
    if type(X).__name__ == "BCOO":
        if X.n_batch or X.n_dense:
            raise ValueError(
                f"a BCOO {name} must have n_batch=0 and n_dense=0; got n_batch={X.n_batch}, "
                f"n_dense={X.n_dense}. Use jax.experimental.sparse.BCOO.fromdense(dense)."
            )
        X = X.sum_duplicates()
        shape = tuple(X.shape)
        indices, values = np.asarray(X.indices), np.asarray(X.data)
        inside = np.all(indices < np.asarray(shape), axis=1)  # drop BCOO's padding entries
        indices, values = indices[inside], values[inside]
    else:
        coo = X.tocoo()
        coo.sum_duplicates()
        shape = tuple(coo.shape)
        coords = getattr(coo, "coords", None) or (coo.row, coo.col)
        indices, values = np.stack(coords, axis=1), coo.data
    if not np.issubdtype(values.dtype, np.number) or np.iscomplexobj(values):
        raise TypeError(f"{name} must hold real numbers; got dtype {values.dtype}.")
    if len(shape) < 2 or 0 in shape:
        raise ValueError(f"{name} must have at least 2 non-empty modes; got shape {shape}.")
    if not np.isfinite(values).all():
        raise ValueError(
            f"a sparse {name} has non-finite stored values (NaN or inf); sparse input has no "
            "missing entries. Drop them, or pass a dense array with NaN for missing entries."
        )
    keep = values != 0
    if not keep.any():
        raise ValueError(f"the sparse {name} has no non-zero entries; there is nothing to fit.")
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    return SparseData(SparseCounts.from_coo(indices[keep].astype(np.int32), values[keep], shape))
