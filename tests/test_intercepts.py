"""Intercepts fitted jointly with the factors, against Eckart–Young and planted baselines."""

import warnings

import numpy as np
import pytest
import scipy.optimize
from cases import assert_monotone
from conftest import planted
from scipy.special import expit

import bayesfactor as bf
from bayesfactor.solvers import program


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        return bf.fit(*args, **kwargs)


def _best_rank(m, rank):
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    return (u[:, :rank] * s[:rank]) @ vt[:rank]


@pytest.fixture
def x(rng):
    _, low = planted(rng, (30, 20), 3)
    return (
        low
        + 3 * rng.normal(size=(1, 20))
        + 2 * rng.normal(size=(30, 1))
        + 0.2 * rng.normal(size=(30, 20))
    )


def test_column_intercept_is_pca_of_the_column_centred_data(x):
    model = bf.Model(bf.Gaussian(), 2, bf.Flat(), intercepts=("columns",))
    result = _fit(model, x, tol=1e-13, max_iter=5000)
    centred = x - x.mean(axis=0)
    expected = x.mean(axis=0) + _best_rank(centred, 2)  # Eckart–Young of the centred data
    np.testing.assert_allclose(result.predict(), expected, atol=1e-6 * np.abs(x).max())
    sse = np.sum((x - result.predict()) ** 2)
    s = np.linalg.svd(centred, compute_uv=False)
    np.testing.assert_allclose(sse, np.sum(s[2:] ** 2), rtol=1e-6)


def test_row_and_column_intercepts_are_pca_of_the_double_centred_data(x):
    model = bf.Model(bf.Gaussian(), 2, bf.Flat(), intercepts=("rows", "columns"))
    result = _fit(model, x, tol=1e-13, max_iter=5000)
    double = x - x.mean(axis=0) - x.mean(axis=1, keepdims=True) + x.mean()
    s = np.linalg.svd(double, compute_uv=False)
    np.testing.assert_allclose(np.sum((x - result.predict()) ** 2), np.sum(s[2:] ** 2), rtol=1e-6)


def _centre(x, intercepts):
    """``x`` less its least-squares additive fit along the intercept modes (NumPy)."""
    if 0 in intercepts:
        x = x - x.mean(axis=1, keepdims=True)
    return x - x.mean(axis=0) if 1 in intercepts else x


@pytest.fixture
def offset_matrix():
    """A rank-3 matrix plus noise, every entry shifted by 50: the mean dwarfs the factors."""
    g = np.random.RandomState(2)
    return g.normal(size=(100, 3)) @ g.normal(size=(3, 20)) + 0.1 * g.normal(size=(100, 20)) + 50


@pytest.mark.parametrize("intercepts", [(1,), (0,), (0, 1)], ids=["columns", "rows", "both"])
def test_intercept_pca_equals_centred_pca_with_default_settings(offset_matrix, intercepts):
    # A component used to carry the mean of 50 (squared error 1275 after max_iter).
    x = offset_matrix
    result = bf.fit(bf.Model(bf.Gaussian(), 3, bf.Flat(), intercepts=intercepts), x, key=0)
    assert result.converged
    s = np.linalg.svd(_centre(x, intercepts), compute_uv=False)  # Eckart–Young
    np.testing.assert_allclose(np.sum((x - result.predict()) ** 2), np.sum(s[3:] ** 2), rtol=1e-8)


@pytest.mark.parametrize("intercepts", [(1,), (0,), (0, 1)], ids=["columns", "rows", "both"])
def test_normal_priors_with_intercepts_shrink_the_centred_singular_values(
    offset_matrix, intercepts
):
    # MAP of ||X - 1b' - UV'||^2 / (2 sigma^2) + (||U||^2 + ||V||^2) / (2 s^2): with
    # min_{UV' = Z} (||U||^2 + ||V||^2) / 2 = ||Z||_* (nuclear norm), the singular
    # values of the centred data are soft-thresholded at sigma^2 / s^2.
    x, sigma, scale = offset_matrix, 0.5, 0.2
    model = bf.Model(bf.Gaussian(sigma), 3, bf.Normal(scale), intercepts=intercepts)
    result = bf.fit(model, x, key=0, tol=1e-12, max_iter=2000)
    assert result.converged
    centred = _centre(x, intercepts)
    u, d, vt = np.linalg.svd(centred, full_matrices=False)
    shrunk = np.maximum(d[:3] - sigma**2 / scale**2, 0.0)
    expected = x - centred + (u[:, :3] * shrunk) @ vt[:3]
    np.testing.assert_allclose(result.predict(), expected, atol=1e-8 * np.abs(x).max())


def _glm_objective(theta, x, shape, kind, scale):
    """Negative log posterior (up to constants) and its gradient, in NumPy: an oracle."""
    (m, n), rank = x.shape, shape
    u = theta[: m * rank].reshape(m, rank)
    v = theta[m * rank : (m + n) * rank].reshape(n, rank)
    eta = u @ v.T + theta[(m + n) * rank :]
    if kind == "poisson":
        energy, residual = np.exp(eta) - x * eta, np.exp(eta) - x
    else:
        energy, residual = np.logaddexp(0.0, eta) - x * eta, expit(eta) - x
    value = np.sum(energy) + (np.sum(u**2) + np.sum(v**2)) / (2 * scale**2)
    grad = (residual @ v + u / scale**2, residual.T @ u + v / scale**2, residual.sum(axis=0))
    return value, np.concatenate([g.ravel() for g in grad])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["poisson", "bernoulli"])
def test_glm_with_column_intercepts_reaches_the_joint_optimum(rng, kind):
    m, n, rank, scale = 60, 25, 2, 1.0
    _, eta = planted(rng, (m, n), rank, scale=0.5)
    baseline = rng.normal(size=n) + 1.0
    if kind == "poisson":
        x, likelihood = rng.poisson(np.exp(eta + baseline)).astype(float), bf.Poisson()
    else:
        x = (rng.random((m, n)) < expit(eta + baseline - 1.0)).astype(float)
        likelihood = bf.Bernoulli()
    model = bf.Model(likelihood, rank, bf.Normal(scale), intercepts=("columns",))
    assert bf.fit(model, x, key=0).converged  # default settings, no ConvergenceWarning
    result = bf.fit(model, x, key=0, tol=1e-12, max_iter=3000)
    assert result.converged
    theta = np.concatenate([f.ravel() for f in result.factors] + [result.intercepts[0]])
    ours, grad = _glm_objective(theta, x, rank, kind, scale)
    assert np.linalg.norm(grad) < 1e-3
    # L-BFGS on the same objective, from our solution and from a fresh start, finds
    # nothing lower.
    args = (x, rank, kind, scale)
    options = {"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-16}
    for start in (theta, 0.1 * rng.normal(size=theta.size)):
        other = scipy.optimize.minimize(
            _glm_objective, start, args=args, jac=True, method="L-BFGS-B", options=options
        )
        assert other.fun >= ours - 1e-8 * abs(ours)


@pytest.mark.parametrize(
    ("likelihood", "make"),
    [
        (bf.Poisson(), lambda rng, eta: rng.poisson(np.exp(eta))),
        (bf.Bernoulli(), lambda rng, eta: rng.random(eta.shape) < 1 / (1 + np.exp(-eta))),
        (bf.LaplaceLikelihood(0.3), lambda rng, eta: eta + rng.laplace(0, 0.3, eta.shape)),
    ],
    ids=["poisson-log", "bernoulli", "laplace"],
)
def test_objective_never_increases_with_intercepts_and_missing_entries(rng, likelihood, make):
    _, eta = planted(rng, (25, 18), 2, scale=0.5)
    x = make(rng, eta + rng.normal(size=(25, 1))).astype(float)
    x[rng.random(x.shape) < 0.2] = np.nan
    model = bf.Model(likelihood, 2, bf.Normal(1.0), intercepts=("rows", "columns"))
    result = _fit(model, x, max_iter=300)
    assert_monotone(result.history)
    assert [b.shape for b in result.intercepts] == [(25,), (18,)]
    assert np.isfinite(result.log_likelihood(x))


@pytest.mark.slow  # ~10-30 s
def test_row_baselines_of_counts_are_recovered(rng):
    baseline = rng.uniform(-1.0, 2.0, size=(80, 1))  # firing rates differ ~20x across rows
    u, v = rng.normal(size=(80, 1)), rng.normal(size=(1, 50))
    log_rate = baseline + 0.5 * u * v
    x = rng.poisson(np.exp(log_rate)).astype(float)
    with_rows = _fit(bf.Model(bf.Poisson(), 1, bf.Normal(2.0), intercepts="rows"), x, restarts=2)
    plain = _fit(bf.Model(bf.Poisson(), 1, bf.Normal(2.0)), x, restarts=2)
    # Metric: RMSE of the fitted log-rate against the planted one.
    rmse = lambda fit: np.sqrt(np.mean((fit.eta() - log_rate) ** 2))
    assert rmse(with_rows) < 0.25 and rmse(plain) > 1.5 * rmse(with_rows)


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_intercepts_save_load_and_cross_validate(x, tmp_path):
    model = bf.Model(bf.Gaussian(), 2, bf.Normal(3.0), intercepts=("columns",))
    fit = _fit(model, x)
    loaded = bf.load(fit.save(tmp_path / "fit.nc"))
    assert loaded.model == model
    np.testing.assert_array_equal(loaded.predict(), fit.predict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        table = bf.cross_validate(model, x, ranks=[1, 2], max_iter=300)
    assert np.isfinite(table["test_log_likelihood"]).all()


def test_intercept_errors_before_any_work(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("compiled before the input was checked")

    monkeypatch.setattr(program, "fit_program", forbidden)
    with pytest.raises(ValueError, match=r"intercepts on modes \(2,\) but X has only 2"):
        bf.fit(bf.Model(bf.Gaussian(), 1, intercepts=(2,)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="'rows'/'columns'"):
        bf.Model(bf.Gaussian(), 1, intercepts=("diagonal",))
    with pytest.raises(ValueError, match="non-negative eta"):
        bf.Model(bf.Poisson(link="identity"), 1, bf.NonNegative(), intercepts="rows")
    with pytest.raises(ValueError, match="Use bf.sample"):
        model = bf.Model(bf.Gaussian(), 1, bf.Normal(1.0), intercepts="rows")
        bf.laplace(model, np.ones((3, 3)), (np.ones((3, 1)), np.ones((3, 1))))
