"""Likelihood parameters estimated with the factors (bf.Estimated): closed forms, recovery."""

import numpy as np
import pytest
import scipy.stats as st
from conftest import OBJ_INCREASE_TOL, planted

import bayesfactor as bf
from bayesfactor.likelihoods import Laplace


def _monotone(history):
    steps = np.diff(history)
    assert np.all(steps <= OBJ_INCREASE_TOL * np.abs(history[1:]) + 1e-12), steps.max()


def test_gaussian_scale_is_the_closed_form_at_the_eckart_young_optimum(rng):
    # Flat priors: the factors' MAP is the truncated SVD whatever sigma is, and then
    # sigma^2 = (b + RSS/2) / (a + 1 + n/2) with RSS the discarded singular values.
    _, eta = planted(rng, (60, 40), 3)
    X = eta + 0.5 * rng.normal(size=eta.shape)
    prior = bf.Estimated(value=3.0, concentration=2.0, rate=0.7)
    fit = bf.fit(bf.Model(bf.Gaussian(prior), 3), X, tol=1e-12, max_iter=2000)
    s = np.linalg.svd(X, compute_uv=False)
    rss = np.sum(s[3:] ** 2)
    expected = np.sqrt((0.7 + rss / 2) / (2.0 + 1 + X.size / 2))
    estimate = fit.model.likelihood.scale
    assert estimate.value == pytest.approx(expected, rel=1e-6)
    assert (estimate.concentration, estimate.rate) == (2.0, 0.7)
    # The objective includes the inverse-gamma prior of sigma^2 (scipy as the reference).
    sigma = estimate.value
    reference = -(
        st.norm.logpdf(X, fit.eta(), sigma).sum() + st.invgamma.logpdf(sigma**2, 2.0, scale=0.7)
    )
    assert fit.objective == pytest.approx(reference, rel=1e-8)
    _monotone(fit.history)


def test_von_mises_concentration_matches_scipy_maximum_likelihood(rng):
    factors, eta = planted(rng, (80, 60), 1)
    X = np.angle(np.exp(1j * (eta + rng.vonmises(0.0, 4.0, size=eta.shape))))
    model = bf.Model(bf.VonMises(bf.Estimated(rate=1e-9)), 1, bf.Normal(2.0))
    # Circular rank-1 fits have many local optima (wrapped directions): random starts
    # need ~20 restarts to find the best one, so start from the planted factors; what
    # is tested is the estimate of kappa, not the search.
    fit = bf.fit(model, X, init=tuple(factors), tol=1e-10, max_iter=3000)
    kappa = fit.model.likelihood.concentration.value
    # Given the fitted mean directions, the MAP under Gamma(1, ~0) is the MLE of kappa.
    residual = np.angle(np.exp(1j * (X - fit.eta())))
    mle, _, _ = st.vonmises.fit(residual.ravel(), floc=0.0, fscale=1.0)
    assert kappa == pytest.approx(mle, rel=1e-4)
    assert kappa == pytest.approx(4.0, rel=0.1)
    _monotone(fit.history)


def test_laplace_scale_is_recovered_and_monotone(rng):
    _, eta = planted(rng, (150, 100), 2)
    X = eta + rng.laplace(0.0, 0.5, size=eta.shape)
    fit = bf.fit(bf.Model(Laplace(bf.Estimated()), 2), X, tol=1e-9, max_iter=3000)
    b = fit.model.likelihood.scale.value
    assert b == pytest.approx(np.mean(np.abs(X - fit.eta())), rel=1e-3)
    assert b == pytest.approx(0.5, rel=0.05)
    _monotone(fit.history)


def test_each_block_estimates_its_own_scale_with_missing_entries(rng):
    factors, eta = planted(rng, (200, 80), 2)
    noise = np.where(np.arange(80) < 40, 0.1, 1.0)
    X = eta + noise * rng.normal(size=eta.shape)
    mask = rng.random(X.shape) > 0.2
    lik = bf.Blocks(
        {
            "quiet": (slice(0, 40), bf.Gaussian(bf.Estimated())),
            "noisy": (slice(40, 80), bf.Gaussian(bf.Estimated())),
        }
    )
    fit = bf.fit(bf.Model(lik, 2, bf.Normal(10.0)), X, mask=mask, tol=1e-6, max_iter=5000)
    quiet, noisy = (lik.scale.value for lik in fit.model.likelihood.likelihoods)
    # The MAP of a variance is biased low by the fitted parameters' share of the
    # entries (about 5% here): a 10% tolerance.
    assert quiet == pytest.approx(0.1, rel=0.1)
    assert noisy == pytest.approx(1.0, rel=0.1)
    _monotone(fit.history)
    # A single shared scale weighs the noisy block as much as the quiet one: the quiet
    # columns' entries are fitted worse than with one scale per block.
    model = bf.Model(bf.Gaussian(bf.Estimated()), 2, bf.Normal(10.0))
    shared = bf.fit(model, X, mask=mask, tol=1e-6, max_iter=5000)
    err = lambda f: np.mean((f.eta() - eta)[:, :40] ** 2)
    assert err(fit) < err(shared)


def test_offset_passes_estimates_through(rng):
    _, eta = planted(rng, (50, 30), 1)
    shift = rng.normal(size=(50, 1))
    X = eta + shift + 0.2 * rng.normal(size=eta.shape)
    fit = bf.fit(bf.Model(bf.Offset(bf.Gaussian(bf.Estimated()), shift), 1), X, tol=1e-10)
    assert fit.model.likelihood.base.scale.value == pytest.approx(0.2, rel=0.1)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: bf.Estimated(value=-1.0), "value must be a finite number > 0"),
        (lambda: bf.Estimated(rate=0.0), "rate must be a finite number > 0"),
        (lambda: bf.VonMises(bf.Estimated(concentration=0.5)), "prior shape >= 1"),
        (lambda: bf.ConvModel(bf.Gaussian(bf.Estimated()), 2, lags=3), "does not estimate"),
    ],
    ids=["negative-value", "zero-rate", "vonmises-shape", "conv-model"],
)
def test_bad_estimated_raises(build, message):
    with pytest.raises(ValueError, match=message):
        build()
