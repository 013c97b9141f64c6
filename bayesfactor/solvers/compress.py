r"""Tucker compression of dense Gaussian data: restarts fitted at a fraction of the cost.

For the Gaussian likelihood the data enter every block update and the objective only
through the MTTKRP :math:`X_{(k)} (\odot_{j \ne k} F_j)` and :math:`\|X\|^2`
(:func:`~bayesfactor.solvers.updates.dense_gaussian_objective`). With orthonormal
bases :math:`Q_k` (``n_k x q_k``) of the leading subspaces of each mode and the core
:math:`G = X \times_1 Q_1^\top \cdots \times_N Q_N^\top`, the projection
:math:`\hat X = G \times_1 Q_1 \cdots \times_N Q_N` has

.. math::
    \hat X_{(k)} (\odot_{j \ne k} F_j) = Q_k \, G_{(k)} (\odot_{j \ne k} Q_j^\top F_j),

which costs :math:`O(\sum_j n_j q_j R + \prod_j q_j R)` instead of
:math:`O(\prod_j n_j R)`: the fit of :math:`\hat X` never touches :math:`X`. The
bases come from a randomized subspace iteration (higher-order orthogonal iteration
started from Gaussian sketches; Halko, Martinsson & Tropp 2011; for matrices Erichson
et al. 2018's randomized HALS compresses the same way).

:func:`~bayesfactor.fit` with ``compress`` fits every restart on :math:`\hat X`, keeps
the best, and finishes it on :math:`X` itself: the result is a fit of :math:`X` (its
objective exact), only the path to it differs.

The SVD start (``init="svd"``, :mod:`bayesfactor.solvers.init`) takes its singular
vectors from the same compression, of any likelihood's data on the scale of
:math:`\eta`.

References
----------
.. [1] Halko, Martinsson & Tropp (2011), "Finding structure with randomness", SIAM
   Review 53(2).
.. [2] Erichson, Mendible, Wihlborn & Kutz (2018), "Randomized nonnegative matrix
   factorization", Pattern Recognition Letters 104.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from bayesfactor import observations
from bayesfactor._data import host_rng
from bayesfactor._pytree import pytree_dataclass
from bayesfactor.observations import _LETTERS, mttkrp

__all__ = ["Tucker", "tucker_compress", "compress_ranks", "compress_sketches"]

#: Directions kept per mode beyond the rank by ``compress=True`` (the oversampling of
#: Erichson et al. 2018's randomized HALS).
COMPRESS_OVERSAMPLE = 20

#: Sweeps of the subspace iteration (each is one pass over X per mode); the first
#: starts from Gaussian sketches, as the range finder with one power iteration.
SWEEPS = 2


@pytree_dataclass
class Tucker:
    r"""Dense data in compressed form: core ``G`` and orthonormal ``bases`` (``n_k x q_k``).

    ``sq_norm`` is :math:`\|X\|^2` of the data it compresses (not of :math:`\hat X`),
    so a fit's objective is on the data's scale. A pytree: ``fit``'s compiled loop
    takes it in place of the dense array, and :func:`mttkrp` dispatches on it.
    """

    core: Array
    bases: tuple
    sq_norm: Array

    @property
    def shape(self) -> tuple[int, ...]:  # noqa: D102
        return tuple(b.shape[0] for b in self.bases)

    @property
    def ndim(self) -> int:  # noqa: D102
        return len(self.bases)

    @property
    def dtype(self):  # noqa: D102
        return self.core.dtype

    @property
    def size(self) -> int:
        """Entries of the data it compresses."""
        return int(np.prod(self.shape))

    def mttkrp(self, factors: tuple[Array, ...], k: int) -> Array:
        r"""The MTTKRP of :math:`\hat X`: :math:`Q_k G_{(k)} (\odot_{j \ne k} Q_j^\top F_j)`."""
        small = tuple(
            None if j == k else b.T @ f
            for j, (b, f) in enumerate(zip(self.bases, factors, strict=True))
        )
        return self.bases[k] @ mttkrp(self.core, small, k)


# The observations protocol (bayesfactor.observations): Gaussian, fully observed.
@observations.form.register
def _(x: Tucker):
    return observations.Form(compressed=True)


observations.mttkrp.register(Tucker, Tucker.mttkrp)


@observations.squared_norm.register
def _(x: Tucker):
    return x.sq_norm


@observations.energy_at_zero.register
def _(x: Tucker, likelihood, mask):  # E(x, 0) = x^2 / (2 sigma^2)
    return 0.5 * x.sq_norm / likelihood.parameter_value**2


@observations.saturated.register
def _(x: Tucker, likelihood, mask):
    return jnp.zeros((), x.dtype)


@observations.dropped.register
def _(x: Tucker, model, mask, factors):  # the same for every entry
    zero = jnp.zeros((), x.dtype)
    return x.size * observations.dropped_constant(model.likelihood, zero, True, zero)


def compress_ranks(shape: tuple[int, ...], q: int) -> tuple[int, ...]:
    """Per-mode compression ranks: ``q``, at most the mode's size and the others' product."""
    ranks = [min(q, n) for n in shape]
    changed = True
    while changed:  # a basis has at most as many columns as the other modes' product
        changed = False
        for k in range(len(ranks)):
            cap = int(np.prod(ranks[:k] + ranks[k + 1 :]))
            if ranks[k] > cap:
                ranks[k], changed = cap, True
    return tuple(ranks)


def _contract(x: Array, bases: list[Array], k: int) -> Array:
    r""":math:`X \times_{j \ne k} B_j^\top`, unfolded along mode ``k``: ``(n_k, prod q_j)``."""
    if x.ndim == 2:  # one other mode: the MTTKRP itself (with its fast transpose)
        return mttkrp(x, tuple(bases), k)
    modes = _LETTERS[: x.ndim]
    upper = _LETTERS.upper()
    others = [f"{m}{upper[j]}" for j, m in enumerate(modes) if j != k]
    out = modes[k] + "".join(upper[j] for j in range(x.ndim) if j != k)
    y = jnp.einsum(
        ",".join([modes, *others]) + "->" + out, x, *(b for j, b in enumerate(bases) if j != k)
    )
    return y.reshape(x.shape[k], -1)


def compress_sketches(words: list[int], shape, ranks, dtype) -> tuple[np.ndarray, ...]:
    """Standard normal ``(n_k, q_k)`` sketches, drawn on the host from a key's ``words``."""
    rng = host_rng(words, "sketch")
    return tuple(rng.standard_normal((n, q), dtype) for n, q in zip(shape, ranks, strict=True))


@functools.partial(jax.jit, static_argnames=("sweeps",))
def tucker_compress(x: Array, sketches: tuple[Array, ...], sweeps: int = SWEEPS) -> Tucker:
    r"""Compress ``x`` by randomized subspace iteration (HOOI from Gaussian ``sketches``).

    Each of ``sweeps`` (default :data:`SWEEPS`) sweeps sets, mode by mode, :math:`Q_k`
    to the leading :math:`q_k` left singular vectors of :math:`X \times_{j \ne k} Q_j^\top` (the
    others at their latest values; at first the sketches, shape ``(n_j, q_j)``). The
    core reuses the last contraction: :math:`G_{(N)} = Q_N^\top (X \times_{j < N}
    Q_j^\top)_{(N)}`.
    """
    ranks = tuple(s.shape[1] for s in sketches)
    bases = [jnp.asarray(s, x.dtype) for s in sketches]
    for _ in range(sweeps):
        for k in range(x.ndim):
            y = _contract(x, bases, k)
            u = (
                jnp.linalg.svd(y, full_matrices=False)[0]
                if y.shape[1] > ranks[k]
                else jnp.linalg.qr(y)[0]
            )
            bases[k] = u[:, : ranks[k]]
    last = x.ndim - 1
    core = (bases[last].T @ y).reshape((ranks[last], *ranks[:last]))
    core = jnp.moveaxis(core, 0, last)
    return Tucker(core, tuple(bases), jnp.sum(x * x))
