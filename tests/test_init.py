"""SVD-based starts (init="svd") against numpy's SVD, Eckart–Young and random starts."""

import warnings

import jax
import numpy as np
import pytest
from conftest import planted

import bayesfactor as bf
from bayesfactor._data import as_data
from bayesfactor.solvers.init import randomized_svd, svd_init


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        return bf.fit(*args, **kwargs)


def test_randomized_svd_matches_numpy(rng):
    a = rng.normal(size=(80, 5)) @ rng.normal(size=(5, 60)) + 0.01 * rng.normal(size=(80, 60))
    u, s, vt = (np.asarray(t) for t in randomized_svd(a, 5, jax.random.key(0)))
    exact = np.linalg.svd(a, compute_uv=False)
    np.testing.assert_allclose(s, exact[:5], rtol=1e-6)
    np.testing.assert_allclose(u.T @ u, np.eye(5), atol=1e-10)
    # The best rank-5 approximation: Eckart–Young residual.
    resid = np.sum((a - (u * s) @ vt) ** 2)
    np.testing.assert_allclose(resid, np.sum(exact[5:] ** 2), rtol=1e-6)


def test_svd_start_of_gaussian_flat_is_the_eckart_young_optimum(rng):
    x = rng.normal(size=(40, 12))  # min(shape) <= rank + 10: an exact SVD
    result = _fit(bf.Model(bf.Gaussian(), 3, bf.Flat()), x, init="svd", max_iter=50)
    s = np.linalg.svd(x, compute_uv=False)
    optimum = 0.5 * np.sum(s[3:] ** 2) + x.size * 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(result.history[0], optimum, rtol=1e-10)
    assert result.n_iter <= 2


@pytest.mark.slow  # over 10 s
def test_nndsvd_start_is_non_negative_and_beats_a_random_start():
    from sklearn.datasets import load_digits

    x = load_digits().data[:300]
    model = bf.Model(bf.Gaussian(), 6, bf.NonNegative())
    svd = _fit(model, x, init="svd", max_iter=1, tol=0)
    random = _fit(model, x, init="random", max_iter=1, tol=0)
    assert all((f >= 0).all() for f in svd.factors)
    assert svd.history[0] < 0.9 * random.history[0]
    # And from there to an optimum at least as good as the best of 3 random starts.
    best = _fit(model, x, init="svd", max_iter=500)
    three = _fit(model, x, restarts=3, max_iter=500)
    assert best.objective <= three.objective * 1.005


def test_kl_nmf_svd_start_is_scikit_learns_nndsvda(rng):
    # Multiplicative updates start from NNDSVDa: zeros filled with the data's mean.
    from sklearn.decomposition._nmf import _initialize_nmf

    x = rng.poisson(rng.gamma(1.0, 1.0, (60, 3)) @ rng.gamma(1.0, 1.0, (3, 40))).astype(float)
    model = bf.Model(bf.Poisson(link="identity"), 3, bf.NonNegative())
    w, h = (np.asarray(f) for f in svd_init(model, as_data(x), np.float64, jax.random.key(0)))
    w0, h0 = _initialize_nmf(x, 3, init="nndsvda", random_state=0)
    mean = x.mean()
    np.testing.assert_array_equal(w == mean, w0 == mean)  # the same entries filled
    np.testing.assert_array_equal(h == mean, h0.T == mean)
    assert (w == mean).sum() > 10
    # The rest up to the randomized SVDs (both approximate the trailing components).
    np.testing.assert_allclose(w, w0, atol=0.05 * w0.max())
    np.testing.assert_allclose(h, h0.T, atol=0.05 * h0.max())
    # HALS moves zeros itself: a Gaussian model keeps them near 0 (1% of sqrt(mean)).
    gauss = svd_init(bf.Model(bf.Gaussian(), 3, bf.NonNegative()), as_data(x), np.float64,
                     jax.random.key(0))  # fmt: skip
    floored = np.isclose(np.asarray(gauss[0]), 0.01 * np.sqrt(mean), rtol=1e-12, atol=0)
    assert floored.sum() == (w == mean).sum()


@pytest.mark.parametrize("prior", [bf.Flat(), bf.NonNegative()], ids=["cp", "nonneg-cp"])
def test_hosvd_start_recovers_a_planted_tensor(rng, prior):
    factors, t = planted(rng, (12, 10, 8), 3, nonnegative=True)
    result = _fit(bf.Model(bf.Gaussian(0.1), 3, prior), t, init="svd", max_iter=2000, tol=1e-10)
    assert bf.similarity(result, factors) > 0.99


@pytest.mark.slow  # over 10 s
def test_svd_start_with_missing_data_restarts_and_other_likelihoods(rng):
    x = rng.poisson(3.0, size=(30, 20)).astype(float)
    x[rng.random(x.shape) < 0.2] = np.nan
    kl = bf.Model(bf.Poisson(link="identity"), 3, bf.NonNegative())
    result = _fit(kl, x, init="svd", restarts=3, max_iter=200)
    assert result.restart_objectives.shape == (3,) and np.isfinite(result.objective)
    binary = (rng.random((30, 20)) < 0.4).astype(float)
    assert np.isfinite(
        _fit(bf.Model(bf.Bernoulli(), 2, bf.Normal(1.0)), binary, init="svd").objective
    )
    kmeans = _fit(
        bf.Model(bf.Gaussian(), 3, (bf.OneHot(), bf.Flat())), rng.normal(size=(30, 4)), init="svd"
    )
    assert set(np.unique(kmeans.factors[0])) <= {0.0, 1.0}


# --- non-negative CP: no component starts (or stays) dead ------------------------------


@pytest.fixture(scope="module")
def nonnegative_cp():
    """TensorLy's rank-3 random CP (6 x 3 x 12, seed 1) with absolute factors, and its HALS fit.

    An NNDSVD start with a 1% floor had HALS zero its third component at once, for good.
    """
    tl = pytest.importorskip("tensorly")
    from tensorly.decomposition import non_negative_parafac_hals

    cp = tl.random.random_cp((6, 3, 12), 3, random_state=1)
    cp.factors = [np.abs(f) for f in cp.factors]
    x = tl.cp_to_tensor(cp)
    peer = tl.cp_to_tensor(non_negative_parafac_hals(x, 3))  # its defaults
    return x, np.linalg.norm(x - peer) / np.linalg.norm(x)


def _relative_error(x, factors):
    return np.linalg.norm(x - np.einsum("ir,jr,kr->ijk", *factors)) / np.linalg.norm(x)


@pytest.mark.parametrize("init", ["svd", "random"])
def test_non_negative_cp_keeps_no_dead_component(nonnegative_cp, init):
    x, peer = nonnegative_cp
    model = bf.Model(bf.Gaussian(), 3, bf.NonNegative())
    for key in range(20):
        result = bf.fit(model, x, key=key, init=init)
        for k, f in enumerate(result.factors):
            assert (f.max(axis=0) > 0).all(), (key, k, f.max(axis=0))
        error = _relative_error(x, result.factors)
        assert error <= peer + 1e-3, (key, error, peer)


def test_noiseless_non_negative_cp_is_recovered(nonnegative_cp):
    x, _ = nonnegative_cp
    model = bf.Model(bf.Gaussian(), 3, bf.NonNegative())
    result = bf.fit(model, x, key=0, init="svd", tol=1e-12, max_iter=5000)
    assert _relative_error(x, result.factors) <= 1e-6


def test_a_dead_component_is_reseeded(nonnegative_cp):
    # A start with component 2 zero in every mode: HALS alone never moves it (no
    # gradient); it is revived from the residual's peak instead of staying 0.
    x, peer = nonnegative_cp
    rng = np.random.default_rng(0)
    start = [np.abs(rng.normal(size=(n, 3))) for n in x.shape]
    for f in start:
        f[:, 2] = 0.0
    model = bf.Model(bf.Gaussian(), 3, bf.NonNegative())
    result = bf.fit(model, x, init=tuple(start))
    assert all((f.max(axis=0) > 0).all() for f in result.factors)
    assert _relative_error(x, result.factors) <= peer + 1e-3
    assert np.all(np.diff(result.history) <= 1e-12 * np.abs(result.history[1:]))
