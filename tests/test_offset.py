"""Known offsets on the natural parameter (bf.Offset): exposure, equivalence, errors."""

import warnings

import numpy as np
import pytest
from conftest import count_compiles, planted

import bayesfactor as bf
from bayesfactor.solvers import program


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        return bf.fit(*args, **kwargs)


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_exposure_offset_recovers_rates_that_a_plain_fit_misses():
    rng = np.random.default_rng(3)
    _, log_rate = planted(rng, (60, 40), 2, scale=0.6)
    exposure = np.exp(rng.uniform(0.0, np.log(10.0), size=60))  # exposures vary 10x
    x = rng.poisson(exposure[:, None] * np.exp(log_rate)).astype(float)
    offset = np.log(exposure)[:, None]
    prior = bf.Normal(2.0)
    with_offset = _fit(bf.Model(bf.Offset(bf.Poisson(), offset), 2, prior), x, restarts=3)
    plain = _fit(bf.Model(bf.Poisson(), 2, prior), x, restarts=3)
    # Metric: RMSE of the fitted log-rate per unit exposure against the planted one.
    rmse_offset = np.sqrt(np.mean((with_offset.eta() - log_rate) ** 2))
    rmse_plain = np.sqrt(np.mean((plain.eta() - offset - log_rate) ** 2))
    assert rmse_offset < 0.2, rmse_offset
    assert rmse_plain > 1.5 * rmse_offset, (rmse_plain, rmse_offset)
    # predict() is the expected count, exposure included.
    np.testing.assert_allclose(with_offset.predict(), np.exp(with_offset.eta() + offset))


def test_gaussian_offset_is_fitting_the_residual(rng):
    _, eta = planted(rng, (20, 15), 2)
    offset = rng.normal(size=(20, 15))
    x = eta + offset + 0.1 * rng.normal(size=eta.shape)
    tight = dict(key=1, tol=1e-10, max_iter=5000)
    shifted = _fit(bf.Model(bf.Offset(bf.Gaussian(), offset), 2, bf.Normal(3.0)), x, **tight)
    residual = _fit(bf.Model(bf.Gaussian(), 2, bf.Normal(3.0)), x - offset, **tight)
    np.testing.assert_allclose(shifted.objective, residual.objective, rtol=1e-6)
    np.testing.assert_allclose(shifted.predict(), residual.predict() + offset, atol=1e-4)


def test_gaussian_offset_nmf_takes_hals_and_ends_where_nmf_of_the_residual_does():
    # A shift keeps the energy quadratic: Offset(Gaussian) + NonNegative is fitted by
    # HALS (it took the one-column coordinate Newton step: 332 iterations to a 5e-5
    # worse loss on this problem, against 70 now). Oracle: scikit-learn's NMF (cd) of
    # the residual, whose objective the offset fit must reach (within 0.1 %).
    from sklearn.decomposition import NMF

    from bayesfactor.solvers.updates import select_update

    assert select_update(bf.Offset(bf.Gaussian(), 0.5), bf.NonNegative()).kind == "hals"
    rng = np.random.default_rng(0)
    w, h = rng.random((120, 4)), rng.random((90, 4))
    offset = rng.normal(size=(120, 1))
    x = w @ h.T + offset + 0.05 * rng.normal(size=(120, 90))
    fit = _fit(bf.Model(bf.Offset(bf.Gaussian(), offset), 4, bf.NonNegative()), x, key=0)
    assert fit.converged and fit.n_iter < 200
    loss = 0.5 * np.sum((x - offset - fit.factors[0] @ fit.factors[1].T) ** 2)
    # scikit-learn refuses negative entries; the residual has few (noise 0.05 on WH^T).
    residual = np.maximum(x - offset, 0.0)
    peer = NMF(4, solver="cd", init="nndsvda", tol=1e-10, max_iter=5000)
    with warnings.catch_warnings():  # it runs to max_iter: as close to its optimum as it gets
        warnings.simplefilter("ignore")
        wp = peer.fit_transform(residual)
    peer_loss = 0.5 * np.sum((x - offset - wp @ peer.components_) ** 2)
    assert loss <= peer_loss * (1 + 1e-3)


def test_new_offsets_reuse_the_compiled_fit(rng):
    x = rng.poisson(2.0, size=(9, 7)).astype(float)
    model = bf.Model(bf.Offset(bf.Poisson(), np.zeros((9, 1))), 1, bf.Normal(1.0))
    _fit(model, x, max_iter=50)
    other = bf.Model(bf.Offset(bf.Poisson(), rng.normal(size=(9, 1))), 1, bf.Normal(1.0))
    with count_compiles() as compiled:
        _fit(other, x, max_iter=50)
    assert compiled.of(program.fit_program) == 0


def test_offset_errors_before_any_work(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("compiled before the input was checked")

    monkeypatch.setattr(program, "fit_program", forbidden)
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"does not broadcast to the data's shape \(4, 3\)"):
        bf.fit(bf.Model(bf.Offset(bf.Poisson(), np.zeros(4)), 1), x)
    with pytest.raises(ValueError, match="finite"):
        bf.Offset(bf.Poisson(), [np.inf])
    with pytest.raises(TypeError, match="not an Offset"):
        bf.Offset(bf.Offset(bf.Poisson(), 0.0), 0.0)
    with pytest.raises(ValueError, match="identity"):
        bf.Model(bf.Offset(bf.Poisson(link="identity"), 1.0), 1, bf.Flat())


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_offset_models_sample_and_save(rng, tmp_path):
    x = rng.poisson(3.0, size=(6, 5)).astype(float)
    model = bf.Model(bf.Offset(bf.Poisson(), np.log(np.arange(1, 7))[:, None]), 1, bf.Normal(1.0))
    fit = _fit(model, x, tol=1e-10, max_iter=2000)
    idata = bf.laplace(model, x, fit, num_samples=50)
    lower, upper = bf.predictive_interval(idata, model)
    assert (lower <= fit.predict() + 1e-9).mean() > 0.9 and (
        fit.predict() <= upper + 1e-9
    ).mean() > 0.9
    loaded = bf.load(fit.save(tmp_path / "fit.nc"))
    np.testing.assert_array_equal(loaded.predict(), fit.predict())
