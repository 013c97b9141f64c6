"""NegativeBinomial: scipy's pmf, statsmodels' GLM, planted factors, and every entry point."""

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm
from cases import assert_monotone
from scipy import stats

import bayesfactor as bf
from bayesfactor.cli import main
from bayesfactor.datasets import simulate
from bayesfactor.likelihoods import NegativeBinomial
from bayesfactor.sklearn import FactorModel

R = 2.5  # the concentration r of the fixed-parameter checks


def _design(rng, rows=8, features=40, rank=3):
    """A GLM per row: X[i] ~ NB(exp(H w_i), r), H (features, rank) known, w_i fitted."""
    h = np.column_stack([np.ones(features), rng.normal(size=(features, rank - 1))])
    w = np.column_stack([np.full(rows, 1.0), 0.5 * rng.normal(size=(rows, rank - 1))])
    mu = np.exp(w @ h.T)
    x = rng.negative_binomial(R, R / (R + mu)).astype(float)
    return x, h


def test_log_prob_is_scipys_pmf_and_numpyros(rng):
    x, eta = rng.poisson(3.0, size=30).astype(float), rng.normal(size=30)
    lik = NegativeBinomial(R)
    mu = np.exp(eta)
    ours = np.asarray(lik.log_prob(jnp.asarray(x), jnp.asarray(eta)))
    np.testing.assert_allclose(ours, stats.nbinom.logpmf(x, R, R / (R + mu)), rtol=1e-12)
    # numpyro's NegativeBinomial2 (sampling, NUTS) agrees (it computes via lbeta: 1e-6).
    numpyro_lp = lik.distribution(jnp.asarray(eta)).log_prob(jnp.asarray(x))
    np.testing.assert_allclose(ours, np.asarray(numpyro_lp), rtol=1e-6)


@pytest.mark.parametrize("concentration", [R, bf.Estimated(R)], ids=["fixed", "estimated"])
def test_energy_weight_and_saturated_energy_are_consistent(rng, concentration):
    lik = NegativeBinomial(concentration)
    x, eta = jnp.asarray(rng.poisson(3.0, size=30).astype(float)), jnp.asarray(rng.normal(size=30))
    # energy = -log_prob + a constant in eta: log x! (and, for a fixed r, its terms)
    gap = lambda eta: -lik.log_prob(x, eta) - lik.energy(x, eta)  # noqa: E731
    np.testing.assert_allclose(gap(eta), gap(eta + 1.7), rtol=1e-12, atol=1e-12)
    if lik.estimates():  # only log x! is dropped: the energy keeps every term in r
        log_factorial = -stats.poisson.logpmf(np.asarray(x), 1.0) - 1.0
        np.testing.assert_allclose(gap(eta), log_factorial, rtol=1e-12, atol=1e-12)
    # weight is the exact second derivative of the energy in eta (Newton curvature)
    curvature = jax.vmap(jax.grad(jax.grad(lik.energy, argnums=1), argnums=1))(x, eta)
    np.testing.assert_allclose(lik.weight(x, eta), curvature, rtol=1e-12)
    if lik.estimates():
        return
    # saturated energy: the energy at its minimiser mu = x (and the limit at x = 0)
    x = x.at[0].set(0.0)
    at_x = lik.energy(x, jnp.log(jnp.maximum(x, 1e-300)))
    np.testing.assert_allclose(lik.saturated_energy(x), at_x, rtol=1e-12)


def test_row_regressions_are_statsmodels_negative_binomial_glms(rng):
    x, h = _design(rng)
    model = bf.Model(NegativeBinomial(R), 3, bf.Flat())
    fit = bf.fit(model, x, init=(None, h), fixed=(1,), tol=1e-14, max_iter=200)
    np.testing.assert_array_equal(fit.factors[1], h)
    family = sm.families.NegativeBinomial(alpha=1.0 / R)
    for i, row in enumerate(x):
        ref = sm.GLM(row, h, family=family).fit(tol=1e-13, maxiter=200)
        np.testing.assert_allclose(fit.factors[0][i], ref.params, rtol=1e-6, atol=1e-9)


@pytest.mark.slow  # compiles the fit with an Estimated parameter (~4 s)
def test_estimated_concentration_is_statsmodels_joint_maximum_likelihood(rng, tmp_path):
    x, h = _design(rng, rows=6)
    # A negligible Gamma(1, 1e-12) prior: the MAP is the maximum likelihood.
    lik = NegativeBinomial(bf.Estimated(concentration=1.0, rate=1e-12))
    fit = bf.fit(bf.Model(lik, 3, bf.Flat()), x, init=(None, h), fixed=(1,), tol=1e-15)
    assert_monotone(fit.history)
    # statsmodels' NB2 count model on the stacked rows, one block of coefficients each.
    design = np.kron(np.eye(len(x)), h)
    ref = sm.NegativeBinomial(x.ravel(), design).fit(method="newton", maxiter=200, disp=0)
    r = float(fit.model.likelihood.concentration.value)
    np.testing.assert_allclose(r, 1.0 / ref.params[-1], rtol=1e-6)
    np.testing.assert_allclose(fit.factors[0].ravel(), ref.params[:-1], rtol=1e-6, atol=1e-9)
    # Saved and loaded with its estimate (the registry names the class).
    loaded = bf.load(fit.save(tmp_path / "nb.nc"))
    assert loaded.model.likelihood == fit.model.likelihood
    np.testing.assert_array_equal(loaded.factors[0], fit.factors[0])


@pytest.mark.slow  # two restarts of a 200 x 150 fit, compiles included (~15 s)
def test_planted_factors_and_concentration_are_recovered():
    truth = bf.Model(NegativeBinomial(3.0), 2, bf.HalfNormal(1.0))
    x, planted = simulate(truth, (200, 150), key=2)
    model = bf.Model(NegativeBinomial(bf.Estimated()), 2, bf.HalfNormal(1.0))
    fit = bf.fit(model, x, key=0, restarts=2)
    assert fit.converged
    assert_monotone(fit.history)
    assert bf.similarity(fit.factors, planted) >= 0.95
    r = float(fit.model.likelihood.concentration.value)
    assert abs(r - 3.0) <= 0.1 * 3.0, r
    # The reported objective is the model's at the estimated concentration.
    expected = fit.model.objective(
        jnp.asarray(x, float), jnp.ones(x.shape, bool), tuple(map(jnp.asarray, fit.factors))
    )
    np.testing.assert_allclose(fit.objective, expected, rtol=1e-10)


@pytest.mark.slow  # compiles the gamma-Poisson sampler (~5 s)
def test_simulated_counts_have_the_negative_binomial_moments():
    model = bf.Model(NegativeBinomial(R), 1, bf.HalfNormal(1.0))
    x, (u, v) = simulate(model, (400, 300), key=0)
    mu = np.exp(u @ v.T)
    assert np.issubdtype(x.dtype, np.integer) and x.min() >= 0
    z = (x - mu) / np.sqrt(mu + mu**2 / R)  # standardised: mean 0, variance 1
    se = 1 / np.sqrt(x.size)
    assert abs(z.mean()) < 5 * se and abs(z.var() - 1) < 0.05


def test_negative_counts_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=re.escape("must be non-negative counts; found 1")):
        bf.fit(bf.Model(NegativeBinomial(), 1, bf.Normal()), np.array([[1.0, -2.0], [3.0, 0.0]]))
    with pytest.raises(ValueError, match="concentration must be a finite number > 0"):
        NegativeBinomial(0.0)


# --- every entry point, on one small count matrix ---


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(3)
    rates = np.abs(rng.normal(size=(15, 2))) @ np.abs(rng.normal(size=(2, 10))) * 3
    return rng.negative_binomial(4.0, 4.0 / (4.0 + rates)).astype(float)


@pytest.fixture(scope="module")
def small_fit(counts):
    model = bf.Model(NegativeBinomial(4.0), 2, bf.Normal(1.0))
    return model, bf.fit(model, counts, key=0, max_iter=300)


def test_cli_fit_names_it_and_saves_what_load_reads(counts, small_fit, tmp_path, capsys):
    np.save(tmp_path / "counts.npy", counts)
    argv = ["fit", str(tmp_path / "counts.npy"), "--likelihood", "negative-binomial:4"]
    argv += ["--rank", "2", "--prior", "normal:1", "--restarts", "1", "--max-iter", "300"]
    assert main([*argv, "--out", str(tmp_path / "fit.nc")]) == 0
    assert "NegativeBinomial(concentration=4.0)" in capsys.readouterr().out
    loaded = bf.load(tmp_path / "fit.nc")
    model, direct = small_fit
    assert loaded.model == model
    np.testing.assert_allclose(loaded.predict(), direct.predict(), rtol=1e-10)


@pytest.mark.slow  # compile (~6 s)
def test_sklearn_factor_model_fits_transforms_and_scores(counts):
    est = FactorModel(likelihood=NegativeBinomial(4.0), n_components=2, priors=bf.Normal(1.0))
    w = est.fit_transform(counts)
    assert w.shape == (15, 2) and est.components_.shape == (2, 10)
    score = est.score(counts)
    # The held-out entries score better than under a flat rate (one mean for all).
    flat = stats.nbinom.logpmf(counts, 4.0, 4.0 / (4.0 + counts.mean())).mean()
    assert np.isfinite(score) and score > flat


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_laplace_with_fixed_loadings_has_the_glm_observed_information(rng):
    x, h = _design(rng, rows=3)
    model = bf.Model(NegativeBinomial(R), 3, bf.Flat())
    fit = bf.fit(model, x, init=(None, h), fixed=(1,), tol=1e-14, max_iter=200)
    idata = bf.laplace(model, x, fit, fixed=(1,), num_samples=4000, key=1)
    draws = idata.posterior["F0"].values[0]  # (draw, row, rank)
    for i, w in enumerate(fit.factors[0]):
        # Observed information of a NB GLM: H^T diag((x + r) mu r / (r + mu)^2) H.
        mu = np.exp(h @ w)
        info = h.T @ (((x[i] + R) * mu * R / (R + mu) ** 2)[:, None] * h)
        cov = np.linalg.inv(info)
        np.testing.assert_allclose(np.cov(draws[:, i].T), cov, rtol=0.1, atol=0.1 * cov.max())
        se = np.sqrt(np.diag(cov) / len(draws))
        assert np.all(np.abs(draws[:, i].mean(axis=0) - w) < 5 * se)


@pytest.mark.slow  # NUTS compile (~18 s)
def test_nuts_samples_factors_and_the_concentration(counts):
    model = bf.Model(NegativeBinomial(bf.Estimated()), 2, bf.Normal(1.0))
    fit = bf.fit(model, counts, key=0, max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.IdentifiabilityWarning)
        idata = bf.sample(
            model, counts, init=fit, num_chains=1, num_warmup=20, num_samples=20, key=0
        )
    r = idata.posterior["concentration"].values
    assert r.shape == (1, 20) and (r > 0).all()
    assert idata.posterior["F0"].shape[-2:] == (15, 2)


@pytest.mark.slow  # compile (~6 s)
def test_cross_validate_scores_held_out_counts(counts):
    model = bf.Model(NegativeBinomial(4.0), 1, bf.Normal(1.0))
    table = bf.cross_validate(model, counts, ranks=[1, 2], holdout=0.2, max_iter=200, key=0)
    assert sorted(table["rank"].unique()) == [1, 2]
    assert np.isfinite(table["test_log_likelihood"]).all()
    assert table.attrs["metric"] == "deviance" and not table.attrs["higher_is_better"]


def test_error_is_statsmodels_unit_deviance(rng):
    x = rng.negative_binomial(3.0, 0.4, size=200).astype(float)
    mu = rng.gamma(2.0, 2.0, size=200)
    family = sm.families.NegativeBinomial(alpha=1 / 3.0)
    expected = family.deviance(x, mu) / x.size
    np.testing.assert_allclose(NegativeBinomial(3.0).error(x, mu).mean(), expected, rtol=1e-12)
