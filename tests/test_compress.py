"""``fit(..., compress=...)``: restarts on a Tucker compression, finished on the data."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import planted

import bayesfactor as bf
from bayesfactor.solvers import program
from bayesfactor.solvers.compress import (
    Tucker,
    compress_ranks,
    compress_sketches,
    tucker_compress,
)
from bayesfactor.solvers.updates import mttkrp


def _compress(x, q, seed=0):
    ranks = compress_ranks(x.shape, q)
    return tucker_compress(jnp.asarray(x), compress_sketches([0, seed], x.shape, ranks, x.dtype))


def _expand(t: Tucker) -> np.ndarray:
    """The dense array the compression represents, G x_1 Q_1 ... x_N Q_N."""
    out = np.asarray(t.core)
    for k, b in enumerate(t.bases):
        out = np.moveaxis(np.tensordot(np.asarray(b), out, axes=(1, k)), 0, k)
    return out


def _tucker_rank_data(rng, shape, ranks):
    core = rng.normal(size=ranks)
    bases = [rng.normal(size=(n, q)) for n, q in zip(shape, ranks, strict=True)]
    return _expand(Tucker(core, tuple(bases), 0.0))


@pytest.mark.parametrize(
    ("shape", "ranks", "q"), [((40, 30), (4, 4), 6), ((12, 10, 9), (3, 4, 2), 5)]
)
def test_compression_of_low_tucker_rank_data_is_exact(rng, shape, ranks, q):
    x = _tucker_rank_data(rng, shape, ranks)
    t = _compress(x, q)
    for b in t.bases:  # orthonormal bases
        np.testing.assert_allclose(np.asarray(b.T @ b), np.eye(b.shape[1]), atol=1e-12)
    np.testing.assert_allclose(_expand(t), x, atol=1e-10 * np.abs(x).max())
    assert float(t.sq_norm) == pytest.approx(np.sum(x**2), rel=1e-12)


@pytest.mark.parametrize("shape", [(30, 20), (9, 8, 7)])
def test_compressed_mttkrp_is_the_mttkrp_of_the_projection(rng, shape):
    x = rng.normal(size=shape)  # full rank: the projection is not x
    t = _compress(x, 4)
    x_hat = _expand(t)
    assert np.linalg.norm(x_hat - x) > 0.1 * np.linalg.norm(x)
    factors = tuple(jnp.asarray(rng.normal(size=(n, 3))) for n in shape)
    for k in range(len(shape)):
        np.testing.assert_allclose(
            np.asarray(mttkrp(t, factors, k)),
            np.asarray(mttkrp(jnp.asarray(x_hat), factors, k)),
            rtol=1e-10,
            atol=1e-10,
        )


def test_compress_ranks_are_capped_by_the_other_modes():
    assert compress_ranks((100, 80), 30) == (30, 30)
    assert compress_ranks((100, 10), 30) == (10, 10)
    assert compress_ranks((50, 3, 2), 30) == (6, 3, 2)


def test_compressed_pca_reaches_the_eckart_young_optimum(rng):
    _, eta = planted(rng, (300, 120), 4)
    x = eta + 0.1 * rng.normal(size=eta.shape)
    model = bf.Model(bf.Gaussian(), 4, bf.Flat())
    result = bf.fit(model, x, restarts=3, compress=True, tol=1e-10, max_iter=500)
    s = np.linalg.svd(x, compute_uv=False)
    loss = 0.5 * np.sum((x - result.eta()) ** 2)
    assert loss == pytest.approx(0.5 * np.sum(s[4:] ** 2), rel=1e-8)
    # The objective is the data's, not the compression's.
    exact = model.objective(x, np.ones(x.shape, bool), result.factors)
    assert result.objective == pytest.approx(float(exact), rel=1e-10)
    assert result.restart_objectives.shape == (3,)


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_compressed_nmf_matches_the_direct_fit(rng):
    w, h = (np.abs(rng.normal(size=(n, 5))) for n in (200, 150))
    x = np.maximum(w @ h.T + 0.3 * rng.normal(size=(200, 150)), 0.0)
    model = bf.Model(bf.Gaussian(), 5, bf.NonNegative())
    kwargs = dict(restarts=4, key=3, tol=1e-8, max_iter=2000)
    direct = bf.fit(model, x, **kwargs)
    compressed = bf.fit(model, x, compress=15, **kwargs)
    assert all((f >= 0).all() for f in compressed.factors)
    assert compressed.objective == pytest.approx(direct.objective, rel=1e-4)
    again = bf.fit(model, x, compress=15, **kwargs)  # same key, same fit
    np.testing.assert_array_equal(again.factors[0], compressed.factors[0])


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_compressed_cp_recovers_a_planted_tensor(rng):
    factors, eta = planted(rng, (30, 25, 20), 3)
    noise = 0.05 * rng.normal(size=eta.shape)
    model = bf.Model(bf.Gaussian(), 3, bf.Flat())
    result = bf.fit(model, eta + noise, restarts=3, compress=True, tol=1e-10, max_iter=1000)
    # At the optimum the residual is the noise less what the model absorbs.
    residual = 0.5 * np.sum((eta + noise - result.eta()) ** 2)
    assert residual <= 0.5 * np.sum(noise**2)
    assert residual >= 0.9 * 0.5 * np.sum(noise**2)


@pytest.mark.parametrize(
    ("model", "x", "kwargs", "message"),
    [
        (bf.Model(bf.Poisson(), 2), np.ones((6, 5)), {}, "the likelihood is Poisson"),
        (bf.Model(bf.Gaussian(), 2), np.where(np.eye(6, 5) > 0, np.nan, 1.0), {}, "missing"),
        (bf.Model(bf.Gaussian(), 2, intercepts=("columns",)), np.ones((6, 5)), {}, "intercepts"),
        (bf.Model(bf.Gaussian(), 2, (bf.OneHot(), bf.Flat())), np.ones((6, 5)), {}, "OneHot"),
        (bf.Model(bf.Gaussian(bf.Estimated(1.0)), 2), np.ones((6, 5)), {}, "scale is estimated"),
        (bf.Model(bf.Gaussian(), 2), np.ones((6, 5)), {"devices": 1}, "devices is given"),
    ],
)
def test_compress_rejects_what_it_cannot_fit(monkeypatch, model, x, kwargs, message):
    def forbidden(*args, **kwargs):
        raise AssertionError("ran before the input was checked")

    monkeypatch.setattr(program, "tucker_compress", forbidden)
    with pytest.raises(ValueError, match=f"compress needs a fully observed.*{message}"):
        bf.fit(model, x, compress=True, **kwargs)


def test_compress_argument_errors():
    x = np.ones((6, 5))
    model = bf.Model(bf.Gaussian(), 3)
    with pytest.raises(ValueError, match="fewer directions per mode than rank=3"):
        bf.fit(model, x, compress=2)
    with pytest.raises(TypeError, match="compress must be True, False, None or an int"):
        bf.fit(model, x, compress="yes")
    kl = bf.Model(bf.Poisson(link="identity"), 2, bf.NonNegative())
    with pytest.raises(ValueError, match="compress needs a fully observed.*Poisson"):
        bf.fit(kl, sp.csr_matrix(x), compress=True)
    conv = bf.ConvModel(bf.Gaussian(), rank=1, lags=2)
    with pytest.raises(ValueError, match="compress is not supported for a ConvModel"):
        bf.fit(conv, x, compress=True)
