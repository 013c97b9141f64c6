"""Test configuration: float64 for tight comparisons, strict rank promotion."""

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

from cases import OBJ_INCREASE_TOL  # noqa: E402, F401  (re-exported for the tests)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def planted(rng, shape, rank, nonnegative=False, scale=1.0):
    """Planted factors (one (n_k, rank) matrix per mode) and their CP product."""
    factors = []
    for n in shape:
        f = rng.normal(size=(n, rank)) * scale
        factors.append(np.abs(f) if nonnegative else f)
    letters = "abcdefg"[: len(shape)]
    eta = np.einsum(",".join(f"{c}z" for c in letters) + "->" + letters, *factors)
    return factors, eta
