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
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import Array, lax
from jax.scipy.special import gammaln

from bayesfactor._data import Data, is_sparse
from bayesfactor._pytree import pytree_dataclass, static_field

__all__ = ["SparseCounts", "SparseData", "is_sparse", "sparse_data", "check_sparse_fit"]


#: Non-zeros per block: the gathered factor rows of one block (``BLOCK * rank``
#: numbers per mode) are the only per-entry temporaries, so memory stays
#: O(nnz + sum_k n_k * rank) and a block's rows stay in cache.
BLOCK = 1 << 15


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

    @property
    def init_scale(self) -> float:
        """``Poisson(link="identity").init_scale`` of the dense data: the mean count."""
        return float(self.x.values.sum() / self.x.size) or 1.0  # padding adds 0


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


def check_sparse_fit(model, data: SparseData, *, init: Any, devices: Any) -> None:
    """Refuse what a sparse fit does not support, with the alternative, before any work."""
    from bayesfactor.solvers.updates import _mu_update, select_update  # (updates imports model)

    priors = model.mode_priors(data.x.ndim)
    unsupported = [p for p in priors if select_update(model.likelihood, p)[0] is not _mu_update]
    if unsupported:
        raise ValueError(
            f"sparse X is supported for KL-NMF only: bf.Poisson(link='identity') with "
            f"NonNegative(), Exponential(rate) or HalfNormal(scale) on every mode; got "
            f"{model.likelihood!r} with priors {model.priors!r}. Densify X (X.toarray()) "
            "for other models."
        )
    if model.intercepts:
        raise ValueError("intercepts are not supported with sparse X; densify X (X.toarray()).")
    if isinstance(init, str) and init == "svd":
        raise ValueError("init='svd' is not supported with sparse X; use init='random'.")
    if devices is not None:
        raise ValueError("devices= is not supported with sparse X yet; use devices=None.")
    model.likelihood.validate(data.observed)
