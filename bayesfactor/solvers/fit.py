"""The public alternating-MAP fit: :func:`fit`, over checks, options, start, plan and program."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
from jax import Array

from bayesfactor._data import as_data, is_sparse, seed_words
from bayesfactor._precision import fit_dtype
from bayesfactor._sparse import SparseRows, sparse_data
from bayesfactor.conv import ConvModel
from bayesfactor.model import Model
from bayesfactor.result import FitResult
from bayesfactor.solvers._loop import _result
from bayesfactor.solvers._shard import as_mesh, layout_for
from bayesfactor.solvers.checks import (
    check_compress,
    check_conv_options,
    check_fixed,
    check_magnitude,
    check_model,
    check_sparse_fit,
)
from bayesfactor.solvers.conv import fit_conv
from bayesfactor.solvers.options import FitOptions
from bayesfactor.solvers.program import run_fit
from bayesfactor.solvers.start import initial_start, start_scale

__all__ = ["fit"]


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
    the other mode's intercept after each of its updates (``nuisance.recentre_columns``), so that
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
        host, from ``key``: see ``start.draw_start``). ``"svd"``: the
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
        solves on tensors; see ``plan.accelerates``). ``False`` runs the plain
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
    options = FitOptions.checked(
        restarts=restarts,
        max_iter=max_iter,
        tol=tol,
        accelerate=accelerate,
        check_every=check_every,
        compress=compress,
        devices=devices,
    )
    if isinstance(model, ConvModel):
        check_conv_options(options, fixed=fixed, sparse=sparse)
        return fit_conv(model, data, options, key=key, init=init)
    check_model(model, data.shape, options.restarts)  # warns: called from here (stacklevel)
    blocked, fixed, ranks = _checked(model, data, sparse, init, fixed, options)
    seed_words(key)  # a bad key raises here, before any work
    dtype = fit_dtype(data.x.dtype)
    layout = layout_for(mesh, data.shape, model)
    x, mask_, dense = _on_device(data, sparse, blocked, layout, dtype)
    scale = data.init_scale(model.likelihood) if sparse else start_scale(model, data.x, data.mask)
    start = initial_start(
        model, data, init, key=key, restarts=options.restarts, dtype=dtype, scale=scale
    )
    state, screened = run_fit(
        model,
        x,
        mask_,
        start,
        options,
        dense=dense,
        layout=layout,
        fixed=fixed,
        ranks=ranks,
        key=key,
        dtype=dtype,
    )
    max_iter, tol = options.max_iter, options.tol  # warns: called from here (stacklevel)
    return _result(model, state, data, max_iter=max_iter, tol=tol, screened=screened)


def _checked(model: Model, data: Any, sparse: bool, init: Any, fixed: Any, options: FitOptions):
    """The checks of ``fit``'s input after the model's, in order; (blocked, fixed, ranks)."""
    blocked = sparse and check_sparse_fit(model, data, init=init, devices=options.devices)
    if not sparse:
        model.likelihood.check_data(data.x, data.mask)
        check_magnitude(data, fit_dtype(data.x.dtype))
    fixed = check_fixed(fixed, init, len(data.shape))
    ranks = check_compress(options.compress, model, data, options.devices)
    return blocked, fixed, ranks


def _on_device(data: Any, sparse: bool, blocked: bool, layout: Any, dtype):
    """The data and mask as the loop holds them, and whether every entry is observed."""
    if sparse:
        x = (SparseRows.from_counts(data.x) if blocked else data.x).to_device(dtype)
    else:
        x = layout.place(data.x, dtype)
    # A fully observed X needs no mask array on the device (padding rows are missing).
    dense = data.dense and not layout.pad
    mask = jnp.ones((), bool) if dense else layout.place(data.mask, bool, fill=False)
    return x, mask, dense
