"""Gamma: scipy's density, statsmodels' gamma GLM, planted factors, and every entry point."""

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm
from cases import assert_monotone
from scipy import optimize, special, stats
from sklearn.metrics import mean_gamma_deviance

import bayesfactor as bf
from bayesfactor.cli import main
from bayesfactor.datasets import simulate
from bayesfactor.likelihoods import Gamma
from bayesfactor.sklearn import FactorModel

K = 3.0  # the shape k of the fixed-parameter checks


def _design(rng, rows=8, features=40, rank=3):
    """A GLM per row: X[i] ~ Gamma(k, k / exp(H w_i)), H (features, rank) known."""
    h = np.column_stack([np.ones(features), rng.normal(size=(features, rank - 1))])
    w = np.column_stack([np.full(rows, 1.0), 0.5 * rng.normal(size=(rows, rank - 1))])
    return rng.gamma(K, np.exp(w @ h.T) / K), h


def test_log_prob_is_scipys_density_and_numpyros(rng):
    x, eta = rng.gamma(2.0, size=30), rng.normal(size=30)
    lik = Gamma(K)
    ours = np.asarray(lik.log_prob(jnp.asarray(x), jnp.asarray(eta)))
    np.testing.assert_allclose(ours, stats.gamma.logpdf(x, K, scale=np.exp(eta) / K), rtol=1e-12)
    numpyro_lp = lik.distribution(jnp.asarray(eta)).log_prob(jnp.asarray(x))
    np.testing.assert_allclose(ours, np.asarray(numpyro_lp), rtol=1e-10)


@pytest.mark.parametrize("concentration", [K, bf.Estimated(K)], ids=["fixed", "estimated"])
def test_energy_weight_and_saturated_energy_are_consistent(rng, concentration):
    lik = Gamma(concentration)
    x, eta = jnp.asarray(rng.gamma(2.0, size=30)), jnp.asarray(rng.normal(size=30))
    gap = lambda eta: -lik.log_prob(x, eta) - lik.energy(x, eta)  # noqa: E731
    np.testing.assert_allclose(gap(eta), gap(eta - 0.8), rtol=1e-12, atol=1e-12)
    if lik.estimates():  # only log x is dropped: the energy keeps every term in k
        np.testing.assert_allclose(gap(eta), np.log(np.asarray(x)), rtol=1e-12, atol=1e-12)
    curvature = jax.vmap(jax.grad(jax.grad(lik.energy, argnums=1), argnums=1))(x, eta)
    np.testing.assert_allclose(lik.weight(x, eta), curvature, rtol=1e-12)
    if not lik.estimates():  # the energy's minimum is at mu = x
        np.testing.assert_allclose(lik.saturated_energy(x), lik.energy(x, jnp.log(x)), rtol=1e-12)


def test_row_regressions_are_statsmodels_gamma_glms(rng):
    x, h = _design(rng)
    model = bf.Model(Gamma(K), 3, bf.Flat())
    fit = bf.fit(model, x, init=(None, h), fixed=(1,), tol=1e-14, max_iter=200)
    family = sm.families.Gamma(sm.families.links.Log())
    for i, row in enumerate(x):
        ref = sm.GLM(row, h, family=family).fit(tol=1e-13, maxiter=200)
        np.testing.assert_allclose(fit.factors[0][i], ref.params, rtol=1e-6, atol=1e-9)


@pytest.mark.slow  # compiles the fit with an Estimated parameter (~4 s)
def test_estimated_shape_is_the_maximum_likelihood_given_the_glm(rng, tmp_path):
    x, h = _design(rng, rows=6)
    lik = Gamma(bf.Estimated(concentration=1.0, rate=1e-12))  # a negligible prior: ML
    fit = bf.fit(bf.Model(lik, 3, bf.Flat()), x, init=(None, h), fixed=(1,), tol=1e-15)
    assert_monotone(fit.history)
    k = float(fit.model.likelihood.concentration.value)
    # The coefficients do not depend on k (statsmodels' GLM, as above); k is then the
    # root of n (log k - digamma(k)) = sum(x / mu - log(x / mu) - 1), scipy's brentq.
    family = sm.families.Gamma(sm.families.links.Log())
    mu = np.array([sm.GLM(row, h, family=family).fit(tol=1e-13).fittedvalues for row in x])
    d = np.sum(x / mu - np.log(x / mu) - 1)
    ref = optimize.brentq(
        lambda k: x.size * (np.log(k) - special.digamma(k)) - d, 1e-3, 1e4, xtol=1e-14
    )
    np.testing.assert_allclose(k, ref, rtol=1e-6)
    loaded = bf.load(fit.save(tmp_path / "gamma.nc"))
    assert loaded.model.likelihood == fit.model.likelihood


@pytest.mark.slow  # two restarts of a 200 x 150 fit, compiles included (~10 s)
def test_planted_factors_and_shape_are_recovered():
    truth = bf.Model(Gamma(4.0), 2, bf.HalfNormal(1.0))
    x, planted = simulate(truth, (200, 150), key=2)
    model = bf.Model(Gamma(bf.Estimated()), 2, bf.HalfNormal(1.0))
    fit = bf.fit(model, x, key=0, restarts=2)
    assert fit.converged
    assert_monotone(fit.history)
    assert bf.similarity(fit.factors, planted) >= 0.95
    k = float(fit.model.likelihood.concentration.value)
    assert abs(k - 4.0) <= 0.1 * 4.0, k
    expected = fit.model.objective(
        jnp.asarray(x), jnp.ones(x.shape, bool), tuple(map(jnp.asarray, fit.factors))
    )
    np.testing.assert_allclose(fit.objective, expected, rtol=1e-10)


@pytest.mark.slow  # compiles the gamma sampler (~4 s)
def test_simulated_data_have_the_gamma_moments():
    x, (u, v) = simulate(bf.Model(Gamma(K), 1, bf.HalfNormal(1.0)), (400, 300), key=0)
    mu = np.exp(u @ v.T)
    assert x.min() > 0
    z = (x - mu) / (mu / np.sqrt(K))  # standardised: mean 0, variance 1
    se = 1 / np.sqrt(x.size)
    assert abs(z.mean()) < 5 * se and abs(z.var() - 1) < 0.05


def test_non_positive_data_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=re.escape("must be positive where observed; found 1")):
        bf.fit(bf.Model(Gamma(), 1, bf.Normal()), np.array([[1.0, 0.0], [3.0, 2.0]]))
    with pytest.raises(ValueError, match="concentration must be a finite number > 0"):
        Gamma(-1.0)


# --- every entry point, on one small positive matrix ---


@pytest.fixture(scope="module")
def positive():
    rng = np.random.default_rng(3)
    means = np.abs(rng.normal(size=(15, 2))) @ np.abs(rng.normal(size=(2, 10))) + 0.5
    return rng.gamma(4.0, means / 4.0)


@pytest.fixture(scope="module")
def small_fit(positive):
    model = bf.Model(Gamma(4.0), 2, bf.Normal(1.0))
    return model, bf.fit(model, positive, key=0, max_iter=300)


def test_cli_fit_names_it_and_saves_what_load_reads(positive, small_fit, tmp_path, capsys):
    np.save(tmp_path / "x.npy", positive)
    argv = ["fit", str(tmp_path / "x.npy"), "--likelihood", "gamma:4", "--rank", "2"]
    argv += ["--prior", "normal:1", "--restarts", "1", "--max-iter", "300"]
    assert main([*argv, "--out", str(tmp_path / "fit.nc")]) == 0
    assert "Gamma(concentration=4.0)" in capsys.readouterr().out
    loaded = bf.load(tmp_path / "fit.nc")
    model, direct = small_fit
    assert loaded.model == model
    np.testing.assert_allclose(loaded.predict(), direct.predict(), rtol=1e-10)


@pytest.mark.slow  # a fit and the Hessian compiled (~5 s)
def test_laplace_with_fixed_loadings_has_the_glm_observed_information(rng):
    x, h = _design(rng, rows=3)
    model = bf.Model(Gamma(K), 3, bf.Flat())
    fit = bf.fit(model, x, init=(None, h), fixed=(1,), tol=1e-14, max_iter=200)
    idata = bf.laplace(model, x, fit, fixed=(1,), num_samples=4000, key=1)
    draws = idata.posterior["F0"].values[0]
    for i, w in enumerate(fit.factors[0]):
        info = h.T @ ((K * x[i] * np.exp(-(h @ w)))[:, None] * h)  # observed: k x / mu
        cov = np.linalg.inv(info)
        np.testing.assert_allclose(np.cov(draws[:, i].T), cov, rtol=0.1, atol=0.1 * cov.max())
        se = np.sqrt(np.diag(cov) / len(draws))
        assert np.all(np.abs(draws[:, i].mean(axis=0) - w) < 5 * se)


@pytest.mark.slow  # compile (~6 s)
def test_sklearn_factor_model_fits_transforms_and_scores(positive):
    est = FactorModel(likelihood=Gamma(4.0), n_components=2, priors=bf.Normal(1.0))
    w = est.fit_transform(positive)
    assert w.shape == (15, 2) and est.components_.shape == (2, 10)
    flat = stats.gamma.logpdf(positive, 4.0, scale=positive.mean() / 4.0).mean()
    assert est.score(positive) > flat


@pytest.mark.slow  # NUTS compile (~15 s)
def test_nuts_samples_factors_and_the_shape(positive):
    model = bf.Model(Gamma(bf.Estimated()), 2, bf.Normal(1.0))
    fit = bf.fit(model, positive, key=0, max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.IdentifiabilityWarning)
        idata = bf.sample(
            model, positive, init=fit, num_chains=1, num_warmup=20, num_samples=20, key=0
        )
    k = idata.posterior["concentration"].values
    assert k.shape == (1, 20) and (k > 0).all()


@pytest.mark.slow  # compile (~6 s)
def test_cross_validate_scores_held_out_entries(positive):
    model = bf.Model(Gamma(4.0), 1, bf.Normal(1.0))
    table = bf.cross_validate(model, positive, ranks=[1, 2], holdout=0.2, max_iter=200, key=0)
    assert sorted(table["rank"].unique()) == [1, 2]
    assert np.isfinite(table["test_log_likelihood"]).all()
    assert table.attrs["metric"] == "deviance" and not table.attrs["higher_is_better"]


def test_error_is_sklearns_gamma_deviance(rng):
    x, mu = rng.gamma(2.0, 1.5, size=200), rng.gamma(3.0, 1.0, size=200)
    expected = mean_gamma_deviance(x, mu)
    np.testing.assert_allclose(Gamma(2.0).error(x, mu).mean(), expected, rtol=1e-12)
