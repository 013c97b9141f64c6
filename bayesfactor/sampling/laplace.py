"""A Gaussian (Laplace) approximation of the posterior at the MAP: :func:`laplace`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.flatten_util import ravel_pytree
from numpyro.distributions.transforms import biject_to

from bayesfactor._data import as_data, as_key, warn
from bayesfactor._precision import fit_dtype
from bayesfactor.alignment import align
from bayesfactor.model import Model
from bayesfactor.priors import Prior
from bayesfactor.result import FitResult, IdentifiabilityWarning
from bayesfactor.sampling.checks import (
    _check_count,
    _check_flag,
    _check_model,
    _reference,
    _warn_identifiability,
)
from bayesfactor.sampling.idata import _attrs, _inference_data
from bayesfactor.solvers.checks import check_fixed as _check_fixed

__all__ = ["laplace", "MAX_LAPLACE_PARAMETERS"]

#: Largest number of factor entries :func:`laplace` accepts by default: the dense
#: Hessian has this many squared entries (5,000 -> 200 MB in float64) and its
#: eigendecomposition costs O(P^3).
MAX_LAPLACE_PARAMETERS = 5000


@jax.jit
def _derivatives(
    model: Model, x: Array, mask: Array, z: tuple[Array | None, ...], constants
) -> tuple[Array, Array]:
    """Gradient and Hessian of the negative log posterior in the flattened unconstrained factors.

    ``z`` is None for a fixed mode, whose factor is then taken from ``constants``.
    """
    priors = model.mode_priors(x.ndim)
    flat, unravel = ravel_pytree(z)

    def objective(v):
        factors = tuple(
            c if zk is None else biject_to(p.support)(zk)
            for p, zk, c in zip(priors, unravel(v), constants, strict=True)
        )
        return model.objective(x, mask, factors)

    return jax.grad(objective)(flat), jax.hessian(objective)(flat)


def laplace(
    model: Model,
    X: Any,
    fit: FitResult | Sequence[Any],
    *,
    mask: Any = None,
    fixed: Sequence[int] = (),
    num_samples: int = 1000,
    key: int | Array = 0,
    max_parameters: int = MAX_LAPLACE_PARAMETERS,
    posterior_predictive: bool = False,
    rescale: bool = True,
) -> Any:
    r"""Draw from a Gaussian (Laplace) approximation of the posterior at the MAP.

    With :math:`z_k = T_k^{-1}(F_k)` the factors on the unconstrained scale
    (``biject_to(prior.support)``: the identity for real factors, ``log`` for
    non-negative ones), :math:`L(z)` the negative log posterior
    (``model.objective``) as a function of the flattened :math:`z`, and
    :math:`\hat z` the MAP,

    .. math::
        z \sim \mathcal N\big(\hat z, H^{-1}\big), \qquad
        H = \nabla^2 L(\hat z), \qquad F_k = T_k(z_k).

    :math:`H` is computed densely with ``jax.hessian`` and inverted through its
    eigendecomposition. Directions with eigenvalues below
    :math:`\sqrt{\epsilon}\,\lambda_{max} + \|\nabla L(\hat z)\| / \min_r \|\hat z_r\|`
    (the Hessian's rounding, plus the curvature that a MAP known only to its
    gradient :math:`\nabla L` gives a symmetry direction; :math:`\hat z_r` is
    component :math:`r` over all modes) are flat directions of the posterior
    (the rotation or scale symmetries of :func:`sample`); the draws stay at the
    MAP along them, and an :class:`IdentifiabilityWarning` says how many there
    are. Draws are independent and near the MAP, so they are not permuted or
    sign-flipped, but each component's scale is moved between the free modes to the
    MAP's column norms (:func:`align` with ``rescale=True``; eta unchanged), as in
    :func:`sample`, so that bands of the factors from both have the same meaning
    (``rescale=False`` keeps the Gaussian draws).

    Parameters
    ----------
    model : Model
        Likelihood, rank and priors (continuous; smooth at the MAP).
    X : array_like, shape (n_1, ..., n_N)
        The data ``fit`` was fitted to (NaN = missing).
    fit : FitResult or tuple of arrays
        The MAP. Fit it tightly (e.g. ``tol=1e-10``): :math:`H` is only
        meaningful at a stationary point.
    mask : array_like of bool, optional
        True where observed.
    fixed : sequence of int, default=()
        Modes held at their values in ``fit`` (as in :func:`sample`): :math:`z` and
        :math:`H` cover the free modes only, and the fixed factors are in the
        group ``constant_data``. For a Gaussian likelihood with one mode of a matrix
        fixed and ``Normal`` / ``Flat`` priors on the other, the posterior is
        Gaussian and the approximation exact.
    num_samples : int, default=1000
        Number of draws (one chain).
    key : int or jax.random key, default=0
        Seed of the draws (split between the factors and the predictive draws).
    max_parameters : int, default=5000
        Largest number of factor entries :math:`P = R \sum_k n_k` accepted: the
        Hessian takes :math:`8 P^2` bytes (200 MB at 5,000) and :math:`O(P^3)` time.
    posterior_predictive : bool, default=False
        Also draw replicated data of the observed entries, one per draw (as :func:`sample`).
    rescale : bool, default=True
        Move each draw's component scales between the free modes to the MAP's column
        norms (as :func:`sample`; eta unchanged). False keeps the draws of
        :math:`\mathcal N(\hat z, H^{-1})` themselves.

    Returns
    -------
    arviz.InferenceData
        The layout of :func:`sample` (``posterior``, ``log_likelihood``,
        ``observed_data``, ``posterior_predictive`` when asked, ``constant_data``
        with ``fixed``), with one chain and no ``sample_stats``.

    Raises
    ------
    ValueError
        For a discrete prior; more than ``max_parameters`` factor entries; a MAP
        entry exactly at a prior's kink or boundary (0 under ``Laplace``,
        ``NonNegative``, ``Exponential``, ...), where the log posterior has no
        Hessian (use :func:`sample`); or a Hessian with a negative eigenvalue
        (``fit`` is not a local minimum).

    Warns
    -----
    IdentifiabilityWarning
        Rotation or scale symmetries, flat directions of the Hessian.
    DataWarning
        Non-integer data under a Poisson likelihood (as :func:`sample`).

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> X = np.random.default_rng(0).normal(size=(6, 5))
    >>> model = bf.Model(bf.Gaussian(), rank=1, priors=bf.Normal(1.0))
    >>> fit = bf.fit(model, X, tol=1e-10)
    >>> idata = bf.laplace(model, X, fit, num_samples=200, key=1)
    >>> idata.posterior["F1"].shape
    (1, 200, 5, 1)
    """
    model = model.for_data(X) if isinstance(model, Model) else model
    data = as_data(X, mask)
    priors = _check_model(model, data, "laplace")
    _check_count("num_samples", num_samples, 1)
    _check_count("max_parameters", max_parameters, 1)
    _check_flag("posterior_predictive", posterior_predictive)
    _check_flag("rescale", rescale)
    key, predictive_key = jax.random.split(as_key(key))
    reference = _reference(fit, model, data.shape, "fit")
    fixed = _check_fixed(fixed, fit, len(data.shape))
    free = [k for k in range(len(priors)) if k not in fixed]
    _check_map(reference, priors, free, max_parameters)
    _warn_identifiability(model, priors, "laplace", fixed)

    dtype = fit_dtype(data.x.dtype)
    transforms = [biject_to(p.support) for p in priors]
    z0, grad, hessian = _curvature(model, data, reference, transforms, fixed, dtype)
    lam, vec, keep = _spectrum(hessian, grad, z0, dtype)
    draws = _gaussian_draws(key, num_samples, z0, lam[keep], vec[:, keep], dtype)
    blocks: list[np.ndarray | None] = [None] * len(priors)
    start = 0
    for k in free:  # ravel_pytree's order: the free modes in mode order
        f = reference[k]
        block = draws[:, start : start + f.size].reshape((1, num_samples, *f.shape))
        blocks[k] = np.asarray(transforms[k](jnp.asarray(block, dtype)))
        start += f.size
    rescaled = align(
        [blocks[k] for k in free],
        [reference[k] for k in free],
        flip=[False] * len(free),
        permute=False,
        rescale=rescale,
    )
    for k, f in zip(free, rescaled, strict=True):
        blocks[k] = f
    return _inference_data(
        model,
        data,
        blocks,
        None,
        _attrs("laplace", "scale between modes" if rescale else "none"),
        predictive_key if posterior_predictive else None,
        [reference[k] if k in fixed else None for k in range(len(priors))],
    )


def _check_map(
    reference: Sequence[np.ndarray],
    priors: Sequence[Prior],
    free: Sequence[int],
    max_parameters: int,
) -> None:
    """Refuse more than ``max_parameters`` free entries, or a MAP at a prior's kink or boundary."""
    size = sum(reference[k].size for k in free)
    if size > max_parameters:
        raise ValueError(
            f"laplace builds the dense Hessian of all {size} factor entries "
            f"({8 * size**2 / 1e9:.2g} GB in float64, O(P^3) to factor), above "
            f"max_parameters={max_parameters}. Use bf.sample (NUTS needs only gradients), "
            "a smaller rank, or raise max_parameters if the memory and time are there."
        )
    for k in free:
        f, p = reference[k], priors[k]
        zeros = int(np.sum(f == 0)) if p.prox is not None else 0
        if zeros:
            raise ValueError(
                f"laplace needs a MAP where the log posterior is twice differentiable, but "
                f"{zeros} entries of factor {k} are exactly 0, where its prior {p!r} has a "
                "kink or a boundary. Use bf.sample (NUTS) for this model, or a smooth prior "
                "on that mode (e.g. bf.Normal(scale))."
            )


def _curvature(
    model: Model,
    data: Any,
    reference: Sequence[np.ndarray],
    transforms: Sequence[Any],
    fixed: tuple[int, ...],
    dtype: Any,
) -> tuple[list[Array], np.ndarray, np.ndarray]:
    """The MAP of the free modes on the unconstrained scale, the gradient and the Hessian there.

    The gradient and Hessian (float64 NumPy) are of the negative log posterior in the
    flattened free factors (:func:`_derivatives`); both must be finite.
    """
    z_all = tuple(
        None if k in fixed else t.inv(jnp.asarray(f, dtype))
        for k, (t, f) in enumerate(zip(transforms, reference, strict=True))
    )
    constants = tuple(
        jnp.asarray(f, dtype) if k in fixed else None for k, f in enumerate(reference)
    )
    grad, hessian = (
        np.asarray(a, dtype=float)
        for a in _derivatives(
            model, jnp.asarray(data.x, dtype), jnp.asarray(data.mask), z_all, constants
        )
    )
    z0 = [z for z in z_all if z is not None]
    if not (np.isfinite(hessian).all() and np.isfinite(grad).all()):
        raise ValueError(
            "the Hessian of the negative log posterior at fit is not finite; check that fit "
            "is the MAP of this model on this X."
        )
    return z0, grad, hessian


def _spectrum(
    hessian: np.ndarray, grad: np.ndarray, z0: Sequence[Array], dtype: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues and vectors of the Hessian, and which eigenvalues are above the flat ones.

    Raises for a negative eigenvalue beyond the tolerance (not a local minimum); warns
    (:class:`IdentifiabilityWarning`) for flat directions, where the draws stay at the MAP.
    """
    lam, vec = np.linalg.eigh(hessian)
    # An eigenvalue is known to the Hessian's rounding, sqrt(eps) * lam_max, and to the
    # accuracy of the MAP: along a symmetry (rotation, scale) the curvature is exactly 0
    # at a stationary point, but at a point with gradient g the computed one is g times
    # the second derivative of the symmetry's path, of either sign and at most
    # |g| / |z_r| for a component r of size |z_r|.
    sqrt_eps = float(np.sqrt(np.finfo(dtype).eps))
    component = np.sqrt(sum(np.sum(np.asarray(v) ** 2, axis=0) for v in z0))
    tol = sqrt_eps * max(float(np.abs(lam).max()), 1e-300) + float(np.linalg.norm(grad)) / max(
        float(component.min()), sqrt_eps
    )
    if lam[0] < -tol:
        raise ValueError(
            f"the Hessian of the negative log posterior at fit has a negative eigenvalue "
            f"({lam[0]:.3g}; largest {lam[-1]:.3g}; gradient norm "
            f"{np.linalg.norm(grad):.3g}): fit is not a local minimum. Refit "
            "with a smaller tol, a larger max_iter or more restarts."
        )
    keep = lam > tol
    size = lam.size
    flat_directions = int(size - keep.sum())
    if flat_directions:
        warn(
            f"laplace: the Hessian at the MAP has {flat_directions} of {size} eigenvalues "
            f"near zero (below {tol:.2g}, largest {lam[-1]:.3g}): the posterior is flat "
            "along those directions (a symmetry of the model, see sample). The draws "
            "stay at the MAP along them, so the spread of single components is "
            "understated; eta and predictions are unaffected to first order.",
            IdentifiabilityWarning,
            stacklevel=4,  # warn, _spectrum, laplace, the user's call
        )
    return lam, vec, keep


def _gaussian_draws(
    key: Array, num_samples: int, z0: Sequence[Array], lam: np.ndarray, vec: np.ndarray, dtype: Any
) -> np.ndarray:
    r"""Draws of :math:`\hat z + V \Lambda^{-1/2} \epsilon`, :math:`\epsilon \sim N(0, I)`.

    ``lam``, ``vec``: the kept eigenvalues and their eigenvectors (columns); returns
    (num_samples, size) flattened unconstrained factors, the free modes in mode order.
    """
    noise = np.asarray(jax.random.normal(key, (num_samples, lam.size), dtype))
    z = np.concatenate([np.asarray(v).reshape(-1) for v in z0])
    return z + (noise / np.sqrt(lam)) @ vec.T
