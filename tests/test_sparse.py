"""Sparse input (scipy.sparse, BCOO) equals the dense fit: KL-NMF over the non-zeros,
Poisson (log link) and Bernoulli through the blocked dense pass."""

import warnings

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


# Same iterations on both paths is the point, not convergence within max_iter.
@pytest.mark.filterwarnings("ignore::bayesfactor.result.ConvergenceWarning")
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


@pytest.mark.filterwarnings("ignore::bayesfactor.ConvergenceWarning")
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


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_sparse_tensor():
    t = np.random.default_rng(1).poisson(0.5, size=(5, 4, 3)).astype(float)
    model = bf.Model(KL, 2, bf.HalfNormal(2.0))
    dense = bf.fit(model, t, key=0, max_iter=100, tol=1e-9)
    sparse = bf.fit(model, jsparse.BCOO.fromdense(t), key=0, max_iter=100, tol=1e-9)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=1e-8)


UNSUPPORTED = "supported for KL-NMF .* and for matrices"


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (bf.Model(bf.Gaussian(), 2, bf.NonNegative()), UNSUPPORTED),
        (bf.Model(bf.Gaussian(), 2, bf.Normal(1.0)), UNSUPPORTED),
        (bf.Model(bf.Poisson(), 2, bf.priors.Laplace(1.0)), UNSUPPORTED),
        (bf.Model(bf.Bernoulli(), 2, bf.NonNegative()), UNSUPPORTED),
        (bf.Model(bf.Bernoulli(), 2, bf.OneHot()), UNSUPPORTED),
        (bf.Model(KL, 2, bf.Smooth(1.0, nonnegative=True)), UNSUPPORTED),
        (bf.Model(bf.Poisson(), 2, bf.Normal(1.0), intercepts=(0, 1)), "at most one intercept"),
    ],
    ids=[
        "gaussian",
        "gaussian_normal",
        "poisson_laplace",
        "bernoulli_nonneg",
        "onehot",
        "smooth",
        "two_intercepts",
    ],
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


# --------------------------------------------------------------------- blocked dense pass


@pytest.fixture
def small_blocks(monkeypatch):
    """Row blocks of 5 rows for 9 columns: 23 rows give 5 blocks, the last one padded."""
    monkeypatch.setattr(bayesfactor._sparse, "ROWS_BLOCK", 9 * 5)


@pytest.fixture(scope="module")
def glm_counts():
    rng = np.random.default_rng(2)
    u, v = rng.normal(size=(23, 2)), rng.normal(size=(9, 2))
    x = rng.poisson(0.3 * np.exp(0.5 * u @ v.T)).astype(float)
    x[3] = 0.0  # an all-zero row
    return x


EXPOSURE = np.log(np.random.default_rng(3).uniform(0.5, 2.0, size=(23, 1)))
GLMS = {
    "poisson": (bf.Poisson(), ()),
    "poisson_columns": (bf.Poisson(), ("columns",)),
    "poisson_rows": (bf.Poisson(), ("rows",)),
    "poisson_offset": (bf.Offset(bf.Poisson(), EXPOSURE), ("columns",)),  # size factors
    "bernoulli": (bf.Bernoulli(), ()),
    "bernoulli_columns": (bf.Bernoulli(), ("columns",)),
    "bernoulli_offset": (bf.Offset(bf.Bernoulli(), EXPOSURE), ()),
}


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
@pytest.mark.parametrize("convert", [sp.csr_matrix, jsparse.BCOO.fromdense], ids=["csr", "bcoo"])
@pytest.mark.parametrize(("lik", "intercepts"), list(GLMS.values()), ids=list(GLMS))
def test_glm_sparse_equals_dense(glm_counts, small_blocks, lik, intercepts, convert):
    """Same key: the blocked pass gives the dense fit (objective, factors, intercepts)."""
    binary = isinstance(getattr(lik, "base", lik), bf.Bernoulli)
    x = (glm_counts > 0).astype(float) if binary else glm_counts
    rows = sp.csr_matrix(x)
    blocks = bayesfactor._sparse.SparseRows.from_counts(bayesfactor._sparse.sparse_data(rows).x)
    assert blocks.block == 5 and x.shape[0] % blocks.block  # padded last block
    model = bf.Model(lik, 2, bf.Normal(1.0), intercepts=intercepts)
    kw = dict(key=0, max_iter=200, tol=1e-9, restarts=2)
    dense = bf.fit(model, x, **kw)
    sparse = bf.fit(model, convert(x), **kw)
    assert sparse.n_iter == dense.n_iter
    np.testing.assert_allclose(sparse.objective, dense.objective, rtol=1e-6)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=1e-6)
    np.testing.assert_allclose(sparse.restart_objectives, dense.restart_objectives, rtol=1e-6)
    for a, b in zip(
        sparse.factors + sparse.intercepts, dense.factors + dense.intercepts, strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
    assert np.all(np.diff(sparse.history) <= 1e-9 * np.abs(sparse.history[1:]))  # monotone


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_glm_smooth_prior_and_one_block(glm_counts):
    """Any row-solve prior (here Smooth on the columns); one block holds every row."""
    model = bf.Model(bf.Poisson(), 2, (bf.Normal(2.0), bf.Smooth(1.0)))
    dense = bf.fit(model, glm_counts, key=1, max_iter=500, tol=1e-7)
    sparse = bf.fit(model, sp.csc_array(glm_counts), key=1, max_iter=500, tol=1e-7)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=1e-6)


def test_glm_bad_input(glm_counts):
    model = bf.Model(bf.Bernoulli(), 2, bf.Normal(1.0))
    with pytest.raises(ValueError, match="Bernoulli data must be 0 or 1"):
        bf.fit(model, sp.csr_matrix(2 * (glm_counts > 0)))
    poisson = bf.Model(bf.Poisson(), 2, bf.Normal(1.0))
    with pytest.raises(ValueError, match="non-negative counts"):
        bf.fit(poisson, -sp.csr_matrix(glm_counts))
    with pytest.raises(ValueError, match="must be a matrix"):
        bf.fit(poisson, jsparse.BCOO.fromdense(np.ones((3, 4, 2))))
    with pytest.raises(ValueError, match="init='svd'"):
        bf.fit(poisson, sp.csr_matrix(glm_counts), init="svd")


def test_predict_refuses_to_densify_a_huge_sparse_fit():
    # 10^6 x 10^6 counts with 5 non-zeros: the fit touches only those; a dense
    # prediction would be 8 TB and used to abort the process inside XLA.
    rows, cols = np.arange(5) * 1000, np.arange(5) * 7
    x = sp.coo_matrix((np.ones(5), (rows, cols)), shape=(10**6, 10**6)).tocsr()
    model = bf.Model(bf.Poisson(link="identity"), 1, bf.NonNegative())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        fit = bf.fit(model, x, max_iter=5)
    for method in (fit.predict, fit.eta):
        with pytest.raises(MemoryError, match="would form a dense 1000000 x 1000000 array"):
            method()
        with pytest.raises(MemoryError, match=r"10000 x 1000000 array.*block=\(slice"):
            method(block=(slice(0, 10000), None))  # 80 GB
    # What to ask instead: the entries (the identity link's mean is the CP product) ...
    u, v = fit.factors
    i, j = np.array([0, 1000, 999_999]), np.array([0, 7, 5])
    np.testing.assert_allclose(fit.predict(entries=(i, j)), np.sum(u[i] * v[j], axis=1))
    # ... or a block of rows and columns.
    block = fit.predict(block=(slice(0, 1001, 1000), np.array([0, 7])))
    np.testing.assert_allclose(block, u[[0, 1000]] @ v[[0, 7]].T)
