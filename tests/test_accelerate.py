"""Extrapolated block updates (Ang & Gillis 2019): monotone, same optimum, fewer iterations."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from cases import CASES, MATRIX, assert_monotone, make_data
from conftest import planted

import bayesfactor as bf
from bayesfactor.solvers.accelerate import balance
from bayesfactor.solvers.plan import accelerates
from bayesfactor.solvers.updates import select_update


def _fit(model, x, accelerate=True, **kwargs):
    """``bf.fit`` with the extrapolation forced on or off."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        return bf.fit(model, x, accelerate=accelerate, **kwargs)


def _plan(model, ndim=2):
    priors = model.mode_priors(ndim)
    return [(k, select_update(model.likelihood, p)) for k, p in enumerate(priors)]


# One case per kind of block update that extrapolates.
KINDS = {
    "pca": "row-solve (exact)",  # ALS
    "nmf": "hals (exact)",
    "sparse_pca": "hals (exact)",
    "kl_nmf": "multiplicative (majorized)",
    "kl_nmf_l2": "multiplicative (majorized)",
    "logistic_pca": "row-solve (majorized)",
    "poisson_pca": "row-solve (line search)",
    "robust_pca": "row-solve (line search)",
}


@pytest.mark.parametrize("name", list(KINDS))
def test_extrapolated_history_is_monotone_and_objective_matches_factors(name):
    model, kind = CASES[name]
    # On by default except for the multiplicative KL updates (forced on here).
    multiplicative = KINDS[name].startswith("multiplicative")
    assert accelerates(model.mode_priors(2), _plan(model)) is not multiplicative
    assert select_update(model.likelihood, model.mode_priors(2)[0]).name == KINDS[name]
    x = make_data(kind, (30, 20))
    result = _fit(model, x, key=3, max_iter=300, tol=1e-10)
    assert_monotone(result.history)
    expected = model.objective(jnp.asarray(x), jnp.ones(x.shape, bool), result.factors)
    np.testing.assert_allclose(result.objective, expected, rtol=1e-10)
    assert result.history[-1] == pytest.approx(result.objective, rel=1e-12)
    for prior, f in zip(model.mode_priors(2), result.factors, strict=True):
        assert np.isfinite(prior.log_prob(jnp.asarray(f)))


def test_coordinate_newton_update_extrapolates_monotonically():
    model = bf.Model(bf.Bernoulli(), 2, bf.HalfNormal(1.0))
    assert select_update(model.likelihood, bf.HalfNormal(1.0)).kind == "coordinate-newton"
    result = _fit(model, make_data("binary", (30, 20)), key=1, max_iter=200, tol=1e-10)
    assert_monotone(result.history)
    assert all((f >= 0).all() for f in result.factors)


def test_pca_reaches_eckart_young(rng):
    _, eta = planted(rng, (40, 25), 3)
    x = eta + 0.5 * rng.normal(size=eta.shape)
    model = bf.Model(bf.Gaussian(), 3, bf.Flat())
    result = _fit(model, x, key=0, max_iter=2000, tol=1e-13)
    s = np.linalg.svd(x, compute_uv=False)
    optimum = 0.5 * np.sum(s[3:] ** 2) + x.size * 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(result.objective, optimum, rtol=1e-8)


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
@pytest.mark.parametrize("name", ["nmf", "kl_nmf", "logistic_pca", "poisson_pca"])
def test_same_optimum_as_without_extrapolation(name):
    model, kind = CASES[name]
    x = make_data(kind, (40, 30), seed=2)
    kwargs = dict(key=0, max_iter=5000, tol=1e-12, restarts=4)
    plain = _fit(model, x, accelerate=False, **kwargs)
    fast = _fit(model, x, **kwargs)
    np.testing.assert_allclose(fast.objective, plain.objective, rtol=1e-6)
    np.testing.assert_allclose(
        model.eta(fast.factors), model.eta(plain.factors), atol=1e-3 * np.abs(x).max()
    )


def test_fewer_iterations_on_a_planted_nmf(rng):
    factors, eta = planted(rng, (200, 150), 6, nonnegative=True)
    x = eta + 0.1 * rng.normal(size=eta.shape)
    model = bf.Model(bf.Gaussian(), 6, bf.NonNegative())
    plain = _fit(model, x, accelerate=False, key=0, max_iter=3000, tol=1e-8)
    fast = _fit(model, x, key=0, max_iter=3000, tol=1e-8)
    target = plain.objective + 1e-8 * abs(plain.objective)
    reached = np.nonzero(fast.history <= target)[0]
    assert reached.size, (fast.objective, plain.objective)
    assert reached[0] + 1 <= 0.7 * plain.n_iter, (reached[0] + 1, plain.n_iter)
    assert fast.n_iter <= 0.7 * plain.n_iter, (fast.n_iter, plain.n_iter)


def test_fixed_mode_is_not_extrapolated_and_restarts_are_monotone():
    model, kind = CASES["poisson_pca"]
    x = make_data(kind, (6, 5, 4))
    assert accelerates(model.mode_priors(3), _plan(model, 3)[:2])
    v = np.random.default_rng(0).normal(size=(4, 2))
    result = _fit(model, x, key=0, restarts=3, init=(None, None, v), fixed=(2,), max_iter=200)
    np.testing.assert_array_equal(result.factors[2], v)
    assert_monotone(result.history)
    assert len(set(np.round(result.restart_objectives, 6))) > 1  # restarts differ


def test_masked_intercepts_and_estimated_scale_stay_monotone():
    model = bf.Model(bf.Gaussian(scale=bf.Estimated()), 2, bf.NonNegative(), intercepts=(1,))
    x = make_data("real", MATRIX) + 3.0
    mask = np.random.default_rng(1).random(MATRIX) > 0.2
    a = _fit(model, x, mask=mask, key=2, max_iter=100, tol=0)
    assert_monotone(a.history)
    b = _fit(model, np.where(mask, x, 99.0), mask=mask, key=2, max_iter=100, tol=0)
    np.testing.assert_array_equal(a.history, b.history)


def test_l1_zeros_survive_extrapolation():
    model, kind = CASES["sparse_pca"]
    result = _fit(model, make_data(kind, (30, 20)), key=0, max_iter=300, tol=1e-10)
    assert any((f == 0).any() for f in result.factors)


def test_balance_keeps_eta_and_equalizes_column_norms(rng):
    factors = [rng.random((n, 3)) * s for n, s in ((5, 1e-3), (4, 1.0), (6, 1e3))]
    factors[2][:, 1] = 0.0  # a dead component is left alone
    out, previous = [jnp.asarray(f) for f in factors], [jnp.asarray(f) for f in factors]
    balance(out, previous, (0, 1, 2))
    model = bf.Model(bf.Gaussian(), 3, bf.Flat())
    np.testing.assert_allclose(model.eta(tuple(out)), model.eta(tuple(factors)), rtol=1e-12)
    norms = np.array([np.linalg.norm(f, axis=0) for f in out])
    np.testing.assert_allclose(norms[:, [0, 2]], norms[0, [0, 2]][None].repeat(3, 0), rtol=1e-12)
    np.testing.assert_array_equal(out[0][:, 1], factors[0][:, 1])
    np.testing.assert_array_equal(previous[1], out[1])


def test_switched_off_for_kmeans_single_blocks_and_tensors_without_row_solves():
    kmeans = CASES["kmeans"][0]
    assert not accelerates(kmeans.mode_priors(2), _plan(kmeans))
    nmf = CASES["nmf"][0]
    assert not accelerates(nmf.mode_priors(2), _plan(nmf)[:1])
    assert not accelerates(nmf.mode_priors(3), _plan(nmf, 3))
    kl = CASES["kl_nmf"][0]
    assert not accelerates(kl.mode_priors(3), _plan(kl, 3))
    pca = CASES["pca"][0]
    assert accelerates(pca.mode_priors(3), _plan(pca, 3))


def test_accelerate_false_runs_the_plain_updates_and_is_checked():
    rng = np.random.default_rng(0)
    X = rng.poisson(rng.gamma(1.0, size=(30, 3)) @ rng.gamma(1.0, size=(3, 20))).astype(float)
    model = bf.Model(bf.Poisson(link="identity"), 3, bf.NonNegative())
    plain = bf.fit(model, X, max_iter=5000, tol=1e-7)  # the default: plain MU for KL
    again = bf.fit(model, X, max_iter=5000, tol=1e-7, accelerate=False)
    np.testing.assert_array_equal(plain.history, again.history)
    fast = bf.fit(model, X, max_iter=5000, tol=1e-7, accelerate=True)
    assert fast.n_iter != plain.n_iter
    with pytest.raises(TypeError, match="accelerate"):
        bf.fit(model, X, accelerate="yes")
