"""GroupLasso: its prox against closed forms and scipy, its density, and components switched off."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import assert_monotone
from scipy import integrate, optimize, stats

import bayesfactor as bf
from bayesfactor.cli import main
from bayesfactor.datasets import simulate
from bayesfactor.likelihoods import NegativeBinomial
from bayesfactor.priors import GroupLasso
from bayesfactor.sklearn import FactorModel
from bayesfactor.solvers import describe_update


def _scipy_prox(v, step, rate, nonnegative=False):
    """argmin_x sum (x - v)^2 / (2 step) + rate ||x||, by numerical minimisation."""
    step = np.broadcast_to(step, v.shape)
    obj = lambda x: np.sum((x - v) ** 2 / (2 * step)) + rate * np.linalg.norm(x)  # noqa: E731
    bounds = [(0, None)] * v.size if nonnegative else None
    start = np.maximum(v, 0) if nonnegative else v
    best = optimize.minimize(obj, start, method="L-BFGS-B", bounds=bounds, tol=1e-14)
    return best.x, obj


@pytest.mark.parametrize("nonnegative", [False, True], ids=["real", "nonnegative"])
@pytest.mark.parametrize("norm", [0.4, 3.0], ids=["switched-off", "shrunk"])
def test_prox_is_block_soft_thresholding_and_minimises_its_problem(rng, norm, nonnegative):
    v = rng.normal(size=6)
    v = v / np.linalg.norm(v) * norm
    step, rate = 0.7, 1.0
    got = np.asarray(GroupLasso(rate, nonnegative=nonnegative).prox(jnp.asarray(v), step))
    u = np.maximum(v, 0) if nonnegative else v
    closed = u * max(0.0, 1 - step * rate / np.linalg.norm(u))
    np.testing.assert_allclose(got, closed, rtol=1e-12, atol=1e-15)
    ref, obj = _scipy_prox(v, step, rate, nonnegative)
    assert obj(got) <= obj(ref) + 1e-10
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert (np.linalg.norm(got) == 0) == (np.linalg.norm(u) <= step * rate)


@pytest.mark.parametrize("norm", [0.3, 2.0], ids=["switched-off", "shrunk"])
def test_prox_with_one_step_per_entry_minimises_its_weighted_problem(rng, norm):
    """Rows with their own curvature (missing entries; coordinate Newton): step is a vector."""
    v = rng.normal(size=6)
    v = v / np.linalg.norm(v) * norm
    step = rng.uniform(0.2, 1.5, size=6)
    got = np.asarray(GroupLasso(1.0).prox(jnp.asarray(v), jnp.asarray(step)))
    ref, obj = _scipy_prox(v, step, 1.0)
    assert obj(got) <= obj(ref) + 1e-10
    np.testing.assert_allclose(got, ref, atol=1e-6)
    # With equal steps it is the closed form.
    same = GroupLasso(1.0).prox(jnp.asarray(v), jnp.full(6, 0.7))
    np.testing.assert_allclose(same, GroupLasso(1.0).prox(jnp.asarray(v), 0.7), rtol=1e-12)


def test_prox_of_a_matrix_thresholds_each_column():
    v = jnp.array([[3.0, 0.3], [4.0, 0.4]])  # column norms 5 and 0.5
    got = np.asarray(GroupLasso(2.0).prox(v, 0.5))  # threshold 1
    np.testing.assert_allclose(got, [[2.4, 0.0], [3.2, 0.0]], rtol=1e-12)


def test_log_prob_is_a_normalised_density(rng):
    f = rng.normal(size=(1, 3))  # one entry per column: Laplace(0, 1 / rate) each
    got = GroupLasso(2.0).log_prob(jnp.asarray(f))
    np.testing.assert_allclose(got, stats.laplace.logpdf(f, scale=0.5).sum(), rtol=1e-12)
    # Radial: the density depends on the norm only; integrate over shells of radius rho.
    rho = np.linspace(0.0, 60.0, 60001)
    for n, nonnegative, shell in [(3, False, 4 * np.pi), (2, True, np.pi / 2)]:
        prior = GroupLasso(1.5, nonnegative=nonnegative)
        direction = np.ones(n) / np.sqrt(n)
        at = jax.vmap(lambda r, prior=prior, d=direction: prior.log_prob((r * d)[:, None]))
        density = np.exp(np.asarray(at(jnp.asarray(rho))))
        total = integrate.simpson(shell * rho ** (n - 1) * density, x=rho)
        np.testing.assert_allclose(total, 1.0, rtol=1e-8)
    assert GroupLasso(1.0, nonnegative=True).log_prob(jnp.array([[1.0], [-0.1]])) == -np.inf


def test_block_updates_apply_the_prox_to_whole_columns():
    gaussian = bf.Model(bf.Gaussian(), 2, GroupLasso(1.0))
    counts = bf.Model(NegativeBinomial(2.0), 2, GroupLasso(1.0))
    assert describe_update(gaussian) == ("hals (exact)",) * 2
    assert describe_update(counts) == ("coordinate-newton (line search)",) * 2
    assert not GroupLasso.separable and GroupLasso.additive


@pytest.fixture(scope="module")
def rank3():
    rng = np.random.default_rng(5)
    u, v = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
    signal = u @ v.T
    return signal + 0.1 * rng.normal(size=signal.shape), signal


@pytest.mark.parametrize(
    "missing",
    [0.0, pytest.param(0.1, marks=pytest.mark.slow)],  # per-row curvatures: another compile
    ids=["dense", "missing"],
)
@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_surplus_components_are_switched_off_exactly_where_normal_only_shrinks(
    rank3, missing, tmp_path
):
    x, signal = rank3
    mask = np.random.default_rng(6).random(x.shape) >= missing
    fit = bf.fit(bf.Model(bf.Gaussian(), 6, GroupLasso(2.0)), x, mask=mask, key=0, max_iter=2000)
    assert_monotone(fit.history)
    norms = np.linalg.norm(fit.factors[0], axis=0) * np.linalg.norm(fit.factors[1], axis=0)
    assert np.sum(norms == 0) == 3, norms  # exactly zero, in every mode
    assert all((np.linalg.norm(f, axis=0) == 0).sum() == 3 for f in fit.factors)
    assert np.linalg.norm(fit.eta() - signal) / np.linalg.norm(signal) < 0.05
    ridge = bf.fit(bf.Model(bf.Gaussian(), 6, bf.Normal(1.0)), x, mask=mask, key=0, max_iter=2000)
    assert (np.linalg.norm(ridge.factors[0], axis=0) > 0).all()
    loaded = bf.load(fit.save(tmp_path / "group.nc"))
    assert loaded.model == fit.model
    np.testing.assert_array_equal(loaded.factors[0], fit.factors[0])


def test_laplace_refuses_switched_off_components(rank3):
    x, _ = rank3
    model = bf.Model(bf.Gaussian(), 6, GroupLasso(2.0))
    fit = bf.fit(model, x, key=0, max_iter=2000)
    with pytest.raises(ValueError, match="entries of factor 0 are exactly 0"):
        bf.laplace(model, x, fit)


def test_cli_prior_group_takes_its_rate(rank3, tmp_path):
    x, _ = rank3
    np.save(tmp_path / "x.npy", x)
    argv = ["fit", str(tmp_path / "x.npy"), "--rank", "4", "--prior", "group:2"]
    assert main([*argv, "--restarts", "1", "--out", str(tmp_path / "fit.nc")]) == 0
    loaded = bf.load(tmp_path / "fit.nc")
    assert loaded.model.priors == GroupLasso(2.0)
    assert (np.linalg.norm(loaded.factors[0], axis=0) == 0).sum() == 1


@pytest.mark.slow  # compile (~6 s)
def test_sklearn_cross_validation_and_simulation_accept_it(rank3):
    x, _ = rank3
    est = FactorModel(n_components=4, priors=GroupLasso(2.0), max_iter=2000).fit(x)
    assert (np.linalg.norm(est.components_, axis=1) == 0).sum() == 1
    assert np.isfinite(est.score(x))
    # additive over components: cross_validate pads the ranks into one program
    model = bf.Model(bf.Gaussian(), 2, GroupLasso(2.0))
    table = bf.cross_validate(model, x, ranks=[2, 3, 6], max_iter=2000)
    scores = table.groupby("rank")["test_log_likelihood"].mean()
    assert scores[3] > scores[2]  # the planted rank is 3 ...
    assert abs(scores[6] - scores[3]) < 0.02 * abs(scores[3])  # ... the surplus switched off
    y, factors = simulate(bf.Model(bf.Gaussian(0.1), 2, GroupLasso(1.0)), (10, 8), key=0)
    assert y.shape == (10, 8) and factors[0].shape == (10, 2)


@pytest.mark.slow  # NUTS compile (~10 s)
def test_nuts_samples_under_it(rank3):
    x, _ = rank3
    model = bf.Model(bf.Gaussian(0.1), 3, GroupLasso(1.0))
    fit = bf.fit(model, x, key=0, max_iter=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.IdentifiabilityWarning)
        idata = bf.sample(model, x, init=fit, num_chains=1, num_warmup=20, num_samples=20)
    assert idata.posterior["F0"].shape == (1, 20, 50, 3)
    assert np.isfinite(idata.posterior["F0"].values).all()
