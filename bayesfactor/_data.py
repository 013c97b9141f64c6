"""Conversion and checks of user input at the public boundary (NumPy, before any jit)."""

from __future__ import annotations

import numbers
import os
import warnings
from typing import Any

import jax
import numpy as np

from bayesfactor import _cache, _precision  # noqa: F401  (first: JAX x64 and cache)

__all__ = [
    "Data",
    "all_observed",
    "as_data",
    "as_key",
    "host_normals",
    "host_rng",
    "is_sparse",
    "physical_memory",
    "seed_words",
    "STREAMS",
]


class Data:
    """Observed array (missing entries zeroed), mask, and the input's labels."""

    def __init__(self, x: np.ndarray, mask: np.ndarray, labels: tuple, dims: tuple, kind: str):
        self.x, self.mask, self.labels, self.dims, self.kind = x, mask, labels, dims, kind

    @property
    def shape(self) -> tuple[int, ...]:  # noqa: D102
        return self.x.shape

    @property
    def dense(self) -> bool:
        """Every entry is observed."""
        return all_observed(self.mask)

    @property
    def observed(self) -> np.ndarray:
        """The observed entries, flat (a view, not a copy, when all are observed)."""
        return observed(self.x, self.mask)


def _unwrap(X: Any) -> tuple[np.ndarray, tuple, tuple, str]:
    """Array, per-mode labels, dim names, and the container kind of ``X``."""
    module = type(X).__module__
    if module.startswith("pandas") and hasattr(X, "columns"):
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        bad = [c for c, t in X.dtypes.items() if not (is_numeric_dtype(t) or is_bool_dtype(t))]
        if bad:
            raise TypeError(
                f"the DataFrame has non-numeric columns {bad[:5]}"
                f"{' ...' if len(bad) > 5 else ''} (dtype {X.dtypes[bad[0]]}); drop them or "
                "encode them as numbers first, e.g. X.drop(columns=[...])."
            )
        return (
            X.to_numpy(dtype=float, na_value=np.nan),
            (X.index, X.columns),
            (X.index.name, X.columns.name),
            "pandas",
        )
    if module.startswith("xarray") and hasattr(X, "dims"):
        labels = tuple(X.indexes[d] if d in X.indexes else None for d in X.dims)
        return np.asarray(X.values), labels, tuple(X.dims), "xarray"
    x = np.asarray(X)
    return x, (None,) * x.ndim, (None,) * x.ndim, "numpy"


def as_data(X: Any, mask: Any = None, *, name: str = "X") -> Data:
    """Check ``X`` and ``mask`` and return a :class:`Data`; clear errors otherwise."""
    if is_sparse(X):
        raise TypeError(
            f"a sparse {name} is accepted only by bf.fit (KL-NMF, Poisson or Bernoulli); "
            f"here, densify it first: {name}.toarray() (scipy) or {name}.todense() (BCOO)."
        )
    x, labels, dims, kind = _unwrap(X)
    if x.dtype == object or not (
        np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.bool_)
    ):
        raise TypeError(
            f"{name} must be a numeric array; got dtype {x.dtype}. "
            "Convert it first, e.g. np.asarray(X, dtype=float)."
        )
    if np.iscomplexobj(x):
        raise TypeError(f"{name} must be real-valued; got dtype {x.dtype}.")
    if x.ndim < 2:
        raise ValueError(
            f"{name} must have at least 2 dimensions (a matrix or a tensor); got a "
            f"{x.ndim}-D array of shape {x.shape}. Reshape it, e.g. X.reshape(-1, 1) "
            "for a single column."
        )
    if 0 in x.shape:
        raise ValueError(f"{name} has an empty mode: shape {x.shape}. Every mode needs entries.")
    if mask is None and _all_finite(x):
        # The common case, fully observed: no copy of X and no mask array, so the
        # only passes over the data here are two reductions (min, max).
        x = np.asarray(x, dtype=x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)
        x = x.view()
        x.flags.writeable = False
        return Data(x, np.broadcast_to(np.True_, x.shape), labels, dims, kind)
    # One host copy, in the input's floating precision (float32 stays float32).
    x = np.array(x, dtype=x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)
    nan = np.isnan(x)
    if mask is None:
        mask = ~nan
    else:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(
                f"mask must be a boolean array (True = observed); got dtype {mask.dtype}. "
                "Use e.g. mask=(M != 0)."
            )
        if mask.shape != x.shape:
            raise ValueError(f"mask has shape {mask.shape} but {name} has shape {x.shape}.")
        mask = mask & ~nan  # NaN is missing whatever the mask says
    if not mask.any():
        raise ValueError(
            f"all entries of {name} are missing (NaN or masked); there is nothing to fit."
        )
    inf = np.isinf(x) & mask
    if inf.any():
        raise ValueError(
            f"{name} has {inf.sum()} infinite entries, e.g. at index "
            f"{tuple(int(i) for i in np.argwhere(inf)[0])}. Replace them, or mark them "
            "missing (NaN or mask=False)."
        )
    x[~mask] = 0.0  # missing entries never reach a log-prob or a gradient
    return Data(x, mask, labels, dims, kind)


def _all_finite(x: np.ndarray) -> bool:
    """No NaN or infinity in ``x``: NaN propagates through min and max, inf shows in them."""
    if not np.issubdtype(x.dtype, np.floating):
        return True
    return bool(np.isfinite(np.min(x)) and np.isfinite(np.max(x)))


def all_observed(mask: np.ndarray) -> bool:
    """``mask.all()``, without a pass over a broadcast constant (all strides 0)."""
    if mask.size and not any(mask.strides):
        return bool(mask.flat[0])
    return bool(mask.all())


def observed(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The entries of ``x`` where ``mask`` is True, flat (a view when all are observed)."""
    return x.ravel() if all_observed(mask) else x[mask]


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a ``scipy.sparse`` array/matrix or a ``jax.experimental.sparse.BCOO``."""
    module = type(X).__module__
    return (module.startswith("scipy.sparse") and hasattr(X, "tocoo")) or (
        module.startswith("jax.experimental.sparse") and type(X).__name__ == "BCOO"
    )


def as_key(key: Any) -> jax.Array:
    """A ``jax.random`` key from an int seed or a key (typed or raw uint32)."""
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        if not -(2**63) <= key < 2**63:
            raise ValueError(
                f"key={key} does not fit in 64 bits; use an int seed in [0, 2**63) or a "
                "jax.random key, e.g. key=0."
            )
        return jax.random.key(int(key))
    if isinstance(key, jax.Array):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            return key
        if key.dtype == np.uint32 and key.shape == (2,):
            return jax.random.wrap_key_data(key)
    raise TypeError(f"key must be an int seed or a jax.random key; got {key!r}. Use e.g. key=0.")


def seed_words(key: Any) -> list[int]:
    """The words of ``as_key(key)`` (an int seed or a key), without a device computation.

    The entropy of the draws made on the host (:func:`host_rng`). An int seed gives the
    words of ``jax.random.key(seed)`` (``[0, seed]`` for the default threefry key, so
    ``key=5`` and ``key=jax.random.key(5)`` draw alike) without compiling
    ``jax.random.key``'s seeding program.
    """
    threefry = jax.config.jax_default_prng_impl == "threefry2x32"
    if isinstance(key, numbers.Integral) and not isinstance(key, bool) and threefry:
        if 0 <= key < 2**31:
            return [0, int(key)]
    return [int(w) for w in np.asarray(jax.random.key_data(as_key(key))).ravel()]


#: The host streams of a key, by name: every draw a fit makes on the host has a stream
#: of its own (a named use and its indices), so that a new draw never shifts the numbers
#: of another, and a fit at rank r draws the first r columns of a fit at a higher rank.
STREAMS = {
    "normals": lambda restart: (restart, 0),  # a restart's random start
    "forgy": lambda restart, mode: (restart, 1 + mode),  # its Forgy rows of a OneHot mode
    "padding": lambda: (2**31 - 2,),  # an SVD start's columns past the data's rank
    "sketch": lambda: (2**31 - 1,),  # the Gaussian sketches of a Tucker compression
}


def host_rng(words: list[int], stream: str, *index: int) -> np.random.Generator:
    """The NumPy generator of the named ``stream`` (:data:`STREAMS`) of a key's ``words``.

    Examples
    --------
    >>> from bayesfactor._data import host_rng, seed_words
    >>> a = host_rng(seed_words(0), "forgy", 3, 1).permutation(5)
    >>> b = host_rng(seed_words(0), "forgy", 3, 1).permutation(5)
    >>> (a == b).all()
    np.True_
    """
    return np.random.default_rng([*words, *STREAMS[stream](*index)])


def host_normals(words: list[int], restarts, size: int, rank: int, dtype) -> np.ndarray:
    """Standard normals, shape ``(len(restarts), size, rank)``, drawn on the host.

    Restart ``i`` (of the indices ``restarts``) is a ``(rank, size)`` draw of its own
    generator, transposed: its first ``r`` columns equal the draw at rank ``r``. The
    draw is made in float64 and rounded to ``dtype``, so that a key gives the same
    start to float32 and float64 data (NumPy's float32 stream is another sequence).
    """
    return np.stack(
        [
            host_rng(words, "normals", i).standard_normal((rank, size)).T.astype(dtype)
            for i in restarts
        ]
    )


def physical_memory() -> float:
    """Bytes of memory of this machine (infinite where the OS does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return float("inf")


def warn(message: str, category: type[Warning], stacklevel: int = 3) -> None:
    """Warn from the user's call site (``stacklevel`` frames above this helper's caller)."""
    warnings.warn(message, category, stacklevel=stacklevel)
