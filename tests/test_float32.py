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


def test_float32_pca_restarts_all_reach_the_eckart_young_optimum():
    # Flat priors on both modes leave (U A, V A^-T) free; extrapolation used to drift
    # along it to ill-conditioned factors whose float32 Gram-form objective read below
    # the optimum, so a wandering restart won the argmin and ran to max_iter.
    rng = np.random.default_rng(2)
    n, m, r = 2000, 800, 20
    scales = np.linspace(3.0, 1.0, r)
    x = (rng.normal(size=(n, r)) * scales) @ rng.normal(size=(r, m)) + rng.normal(size=(n, m))
    x = (x - x.mean(axis=0)).astype(np.float32)
    s = np.linalg.svd(x.astype(np.float64), compute_uv=False)
    optimum = 0.5 * np.sum(s[r:] ** 2)  # Eckart-Young
    model = bf.Model(bf.Gaussian(), r, bf.Flat())
    with jax.enable_x64(False):
        result = bf.fit(model, x, key=1, restarts=10, max_iter=200, tol=1e-6)
    u, v = (np.asarray(f, np.float64) for f in result.factors)
    loss = 0.5 * np.sum((x - u @ v.T) ** 2)
    assert result.converged and result.n_iter < 50
    assert loss <= optimum * (1 + 1e-5)
