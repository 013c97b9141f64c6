"""Checks of a fit's input, each refusing a bad value (named, with the fix) before any work.

The model against the data's shape (:func:`check_model`), given factors
(:func:`check_factors`, :func:`check_fixed`), the data's magnitude, what a sparse fit
supports (:func:`check_sparse_fit`), what a compressed fit needs
(:func:`check_compress`) and what a ``ConvModel`` fit leaves out
(:func:`check_conv_options`).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import Array

from bayesfactor._data import physical_memory, warn
from bayesfactor._sparse import SparseData
from bayesfactor.model import Model
from bayesfactor.result import FitResult, IdentifiabilityWarning, RankWarning
from bayesfactor.solvers.compress import COMPRESS_OVERSAMPLE, compress_ranks
from bayesfactor.solvers.options import FitOptions
from bayesfactor.solvers.updates import select_update

__all__ = [
    "MAX_MODES",
    "as_init",
    "check_compress",
    "check_conv_options",
    "check_factors",
    "check_fixed",
    "check_magnitude",
    "check_model",
    "check_sparse_fit",
]


#: Most modes of X: the einsum specs name each mode by a letter ("z", "y": components).
MAX_MODES = 24


def check_model(model: Model, shape: tuple[int, ...], restarts: int = 1) -> None:
    """Refuse a model that cannot fit data of ``shape``; warn where its MAP is not unique."""
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
        if prior.assigns and model.rank > shape[k]:
            raise ValueError(
                f"rank={model.rank} clusters need at least as many rows: mode {k} of X "
                f"has {shape[k]}. Use rank <= {shape[k]}."
            )
    free = [k for k, p in enumerate(priors) if p.scale_free]
    scaled = [k for k, p in enumerate(priors) if k not in free and not p.assigns]
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


def as_init(init: Any, model: Model, shape: tuple[int, ...], dtype) -> tuple[Array | None, ...]:
    """Given starting factors (:func:`check_factors`) as ``dtype`` arrays; None: drawn."""
    return tuple(
        None if f is None else jnp.asarray(f, dtype) for f in check_factors(init, model, shape)
    )


def check_fixed(fixed: Any, init: Any, ndim: int) -> tuple[int, ...]:
    """``fixed`` as sorted mode indices, each given by ``init``; at least one mode left to fit."""
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


def check_magnitude(data: Any, dtype) -> None:
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
    kinds = {select_update(lik, p).kind for p in model.mode_priors(data.x.ndim)}
    kl_nmf = kinds == {"multiplicative"}
    glm = kinds == {"row-solve"} and lik.admits_sparse_rows
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


def check_compress(compress: Any, model: Model, data: Any, devices: Any):
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
        (not model.likelihood.least_squares, f"the likelihood is {model.likelihood!r}"),
        (not data.dense, "X has missing entries"),
        (bool(model.intercepts), "the model has intercepts"),
        (bool(model.likelihood.estimates()), "the Gaussian scale is estimated"),
        (
            any(p.assigns for p in model.mode_priors(len(data.shape))),
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


def check_conv_options(options: FitOptions, *, fixed: Any, sparse: bool) -> None:
    """Refuse what a ``ConvModel`` fit (:func:`~bayesfactor.solvers.conv.fit_conv`) leaves out."""
    unsupported = (("fixed", fixed), ("devices", options.devices), ("a sparse X", sparse))
    extra = (
        ("accelerate=True", options.accelerate),
        ("check_every > 1", (options.check_every or 1) > 1),
        ("compress", options.compress),
    )
    for name, given in unsupported + extra:
        if given:
            raise ValueError(
                f"{name} is not supported for a ConvModel; leave it out (and pass X "
                "as a dense array)."
            )
