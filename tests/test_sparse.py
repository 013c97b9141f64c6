"""Sparse count input (scipy.sparse, BCOO) for KL-NMF equals the dense fit."""

import numpy as np
import pytest
import scipy.sparse as sp
from jax.experimental import sparse as jsparse

import bayesfactor as bf
import bayesfactor._sparse

KL = bf.Poisson(link="identity")


@pytest.fixture(scope="module")
def counts():
    x = np.random.default_rng(0).poisson(0.5, size=(12, 10)).astype(float)
    x[0] = 0.0  # an all-zero row: its factor row goes to 0 in both fits
    return x


CONVERTERS = {
    "csr": sp.csr_matrix,
    "coo_array": sp.coo_array,
    "csc_array": sp.csc_array,
    "bcoo": jsparse.BCOO.fromdense,
}


@pytest.mark.parametrize("prior", [bf.NonNegative(), bf.Exponential(0.5)], ids=repr)
@pytest.mark.parametrize("convert", list(CONVERTERS.values()), ids=list(CONVERTERS))
def test_sparse_equals_dense(counts, convert, prior):
    model = bf.Model(KL, 2, prior)
    dense = bf.fit(model, counts, key=0, max_iter=150, tol=1e-9, restarts=2)
    sparse = bf.fit(model, convert(counts), key=0, max_iter=150, tol=1e-9, restarts=2)
    assert sparse.n_iter == dense.n_iter
    np.testing.assert_allclose(sparse.objective, dense.objective, rtol=1e-8)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=1e-8)
    np.testing.assert_allclose(sparse.factors[0], dense.factors[0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sparse.restart_objectives, dense.restart_objectives, rtol=1e-8)


def test_blocks_with_padding_equal_dense(counts, monkeypatch):
    """Non-zeros cut into blocks of 7 (the last one padded) give the same fit."""
    monkeypatch.setattr(bayesfactor._sparse, "BLOCK", 7)
    model = bf.Model(KL, 2, bf.NonNegative())
    x = sp.csr_matrix(counts)
    assert x.nnz % 7 and x.nnz > 14
    dense = bf.fit(model, counts, key=3, max_iter=100, tol=1e-6)
    sparse = bf.fit(model, x, key=3, max_iter=100, tol=1e-6)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=1e-8)


def test_duplicates_summed_and_zeros_dropped(counts):
    """scipy's COO semantics: repeated coordinates add up, stored zeros are no entries."""
    i, j = np.nonzero(counts)
    half = counts[i, j] / 2
    rows, cols = np.concatenate([i, i, [0]]), np.concatenate([j, j, [0]])
    coo = sp.coo_matrix((np.concatenate([half, half, [0.0]]), (rows, cols)), shape=counts.shape)
    model = bf.Model(KL, 2, bf.NonNegative())  # the shapes of test_sparse_equals_dense: cached
    dense = bf.fit(model, counts, key=0, max_iter=150, tol=1e-9, restarts=2)
    sparse = bf.fit(model, coo, key=0, max_iter=150, tol=1e-9, restarts=2)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=1e-8)


def test_sparse_tensor():
    t = np.random.default_rng(1).poisson(0.5, size=(5, 4, 3)).astype(float)
    model = bf.Model(KL, 2, bf.HalfNormal(2.0))
    dense = bf.fit(model, t, key=0, max_iter=100, tol=1e-9)
    sparse = bf.fit(model, jsparse.BCOO.fromdense(t), key=0, max_iter=100, tol=1e-9)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=1e-8)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (bf.Model(bf.Gaussian(), 2, bf.NonNegative()), "KL-NMF only"),
        (bf.Model(bf.Poisson(), 2, bf.Normal(1.0)), "KL-NMF only"),
        (bf.Model(KL, 2, bf.Smooth(1.0, nonnegative=True)), "KL-NMF only"),
    ],
    ids=["gaussian", "poisson_log", "smooth"],
)
def test_unsupported_models(counts, model, match):
    with pytest.raises(ValueError, match=match):
        bf.fit(model, sp.csr_matrix(counts))


def test_bad_sparse_input(counts):
    model = bf.Model(KL, 2, bf.NonNegative())
    x = sp.csr_matrix(counts)
    with pytest.raises(ValueError, match="mask is not supported"):
        bf.fit(model, x, mask=counts > 0)
    with pytest.raises(ValueError, match="init='svd'"):
        bf.fit(model, x, init="svd")
    with pytest.raises(ValueError, match="devices="):
        bf.fit(model, x, devices=1)
    with pytest.raises(ValueError, match="non-negative counts"):
        bf.fit(model, -x)
    nan = x.copy()
    nan.data[0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        bf.fit(model, nan)
    with pytest.raises(ValueError, match="no non-zero"):
        bf.fit(model, sp.csr_matrix((3, 4)))
    with pytest.raises(TypeError, match="densify"):  # elsewhere: a clear error, not a crash
        bf.cross_validate(model, x, ranks=[1])
