"""Precision follows the data: float64 data is fitted in float64, float32 data in float32.

JAX computes in float32 unless its global ``jax_enable_x64`` switch is on. As in
GPJax and PyMC's JAX backend, bayesfactor turns it on when this module loads (every
module that computes imports it first; ``import bayesfactor`` alone loads nothing), so
that NumPy's default float64 data get float64 fits (as scikit-learn and TensorLy give them) and
float32 data stay float32 (the fast path on GPUs, half the memory). Opt out before
the first use with the environment variable ``BAYESFACTOR_X64=0``; an explicit
``JAX_ENABLE_X64`` (JAX's own variable) is respected too. With x64 off every fit is
float32, whatever the data.
"""

from __future__ import annotations

import os

import jax
import numpy as np

__all__ = ["ENV", "X64", "enable_x64", "fit_dtype"]

#: Environment variable that keeps JAX's x64 switch as it is (``0``, ``false``, ``no``, ``off``).
ENV = "BAYESFACTOR_X64"


def enable_x64() -> bool:
    """Turn on JAX's x64 mode unless ``BAYESFACTOR_X64`` or ``JAX_ENABLE_X64`` say otherwise.

    Returns whether x64 is on afterwards.
    """
    off = os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off")
    if not off and "JAX_ENABLE_X64" not in os.environ:
        jax.config.update("jax_enable_x64", True)
    return bool(jax.config.jax_enable_x64)


def fit_dtype(dtype) -> np.dtype:
    """The floating dtype a fit of data of ``dtype`` computes in.

    float32 (and narrower floats) stay float32; float64, integers and booleans give
    float64, or float32 when JAX's x64 mode is off.

    Examples
    --------
    >>> import numpy as np
    >>> fit_dtype(np.float32), fit_dtype(np.int64)
    (dtype('float32'), dtype('float64'))
    """
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating) and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))


X64 = enable_x64()  # on import (_data and _pytree, which every computing module uses, import it)
