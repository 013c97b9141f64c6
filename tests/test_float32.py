"""The default precision users get: float32 when JAX's x64 mode is off."""

import jax
import numpy as np
import pytest
from cases import CASES, MATRIX, assert_monotone, make_data

import bayesfactor as bf


@pytest.mark.parametrize(
    ("name", "max_iter"), [("nmf", 300), ("kl_nmf", 3000), ("logistic_pca", 300)]
)
def test_float32_fit_keeps_dtype_and_descends(name, max_iter):
    model, kind = CASES[name]
    x = make_data(kind, MATRIX)
    with jax.enable_x64(False):
        result = bf.fit(model, x, max_iter=max_iter, tol=1e-6, restarts=4)
    assert all(f.dtype == np.float32 for f in result.factors)
    assert result.history.dtype == np.float32
    assert_monotone(result.history, tol=1e-5)  # up to float32 rounding of the objective
    # Rounding can steer single runs to different local optima; the best of a few
    # restarts is the same optimum as in float64.
    reference = bf.fit(model, x, max_iter=max_iter, tol=1e-6, restarts=4)
    # (float32 may land on a better one: it must not be worse).
    assert result.objective <= reference.objective + 1e-3 * abs(reference.objective)
