"""Default fits end at the optimum: against the peers' objectives and closed forms.

Every comparison starts both solvers from the same point where the problem is not
convex (scikit-learn's ``init="custom"``, TensorLy's CP start), so that a gap is the
solver's, not a different local optimum's.
"""

import warnings

import numpy as np
import pytest
import tensorly as tl
from sklearn.decomposition import NMF
from sklearn.linear_model import LogisticRegression, PoissonRegressor
from tensorly.decomposition import parafac

import bayesfactor as bf

tl.set_backend("numpy")


def cp(factors):
    letters = "abc"[: len(factors)]
    return np.einsum(",".join(f"{c}z" for c in letters) + "->" + letters, *factors)


def sq_loss(x, factors):
    return 0.5 * np.sum((x - cp(factors)) ** 2)


def planted_nmf(rng, n=120, m=80, r=4, noise=0.3):
    w, h = rng.exponential(size=(n, r)), rng.exponential(size=(r, m))
    return np.maximum(w @ h + noise * rng.normal(size=(n, m)), 0.0)


def start(rng, shape, r, scale=1.0):
    return tuple(scale * np.abs(rng.normal(size=(n, r))) for n in shape)


def test_nmf_default_ends_at_sklearn_cd_objective(rng):
    x = planted_nmf(rng)
    w0, h0 = start(rng, x.shape, 4, np.sqrt(x.mean() / 4))
    sk = NMF(4, init="custom", solver="cd", tol=1e-10, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = sk.fit_transform(x, W=w0.copy(), H=h0.T.copy())
    peer = sq_loss(x, (w, sk.components_.T))
    ours = bf.fit(bf.Model(bf.Gaussian(), 4, bf.NonNegative()), x, init=(w0, h0))
    assert ours.converged
    assert sq_loss(x, ours.factors) <= peer * (1 + 1e-3)


def test_kl_nmf_default_ends_at_sklearn_mu_objective(rng):
    w, h = rng.exponential(size=(60, 3)), rng.exponential(size=(3, 50))
    x = rng.poisson(w @ h).astype(float)
    w0, h0 = start(rng, x.shape, 3, np.sqrt(x.mean() / 3))
    sk = NMF(3, init="custom", solver="mu", beta_loss="kullback-leibler", tol=1e-12)
    sk.set_params(max_iter=20000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = sk.fit_transform(x, W=w0.copy(), H=h0.T.copy())

    def kl(f):
        mu = f[0] @ f[1].T
        return np.sum(mu - x * np.log(np.maximum(mu, 1e-300)))

    model = bf.Model(bf.Poisson(link="identity"), 3, bf.NonNegative())
    ours = bf.fit(model, x, init=(w0, h0), max_iter=5000)
    assert ours.converged
    peer = kl((w, sk.components_.T))
    assert kl(ours.factors) <= peer + 1e-3 * abs(peer)


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_smaller_tol_runs_longer_and_ends_no_higher(rng):
    x = rng.poisson(planted_nmf(rng, 60, 40, 3, 0.0)).astype(float)
    cases = [
        (bf.Model(bf.Poisson(link="identity"), 3, bf.NonNegative()), x),
        (bf.Model(bf.Gaussian(), 3, bf.NonNegative()), x),
        (bf.Model(bf.Bernoulli(), 3, bf.Normal(1.0)), (x > np.median(x)).astype(float)),
    ]
    for model, data in cases:
        fits = [bf.fit(model, data, key=0, tol=tol, max_iter=20000) for tol in (1e-4, 1e-6, 1e-9)]
        assert all(f.converged for f in fits)
        n_iter = [f.n_iter for f in fits]
        objective = [f.objective for f in fits]
        assert n_iter == sorted(n_iter) and n_iter[0] < n_iter[-1], (model, n_iter)
        assert all(np.diff(objective) <= 1e-12 * abs(objective[0])), (model, objective)


def test_tol_zero_runs_max_iter_and_says_not_converged():
    rng = np.random.RandomState(1)
    a = rng.rand(150, 5) @ rng.rand(5, 150)
    with pytest.warns(bf.ConvergenceWarning, match="max_iter=300"):
        result = bf.fit(bf.Model(bf.Gaussian(), 5, bf.NonNegative()), a, tol=0, max_iter=300)
    assert result.n_iter == 300 and not result.converged


@pytest.mark.parametrize("prior", [bf.NonNegative(), bf.Flat()])
def test_noiseless_planted_nmf_and_cp_recover_in_float64(prior):
    rng = np.random.RandomState(1)
    for shape in ((150, 150), (20, 15, 10)):
        factors = [rng.rand(n, 3) for n in shape]
        x = cp(factors)
        result = bf.fit(bf.Model(bf.Gaussian(), 3, prior), x, key=0, max_iter=5000)
        assert result.converged
        assert np.sqrt(2 * sq_loss(x, result.factors)) / np.linalg.norm(x) <= 1e-6


def test_missing_entries_of_exact_low_rank_data_are_recovered(rng):
    u, v = rng.normal(size=(80, 3)), rng.normal(size=(60, 3))
    x = u @ v.T
    mask = rng.random(x.shape) > 0.3
    result = bf.fit(bf.Model(bf.Gaussian(), 3, bf.Flat()), x, mask=mask, key=0, max_iter=5000)
    assert result.converged
    eta = result.factors[0] @ result.factors[1].T
    assert np.linalg.norm(eta - x) / np.linalg.norm(x) <= 1e-6


def test_ridge_pca_equals_the_shrunk_svd(rng):
    # Normal(s) on both modes, noise 1: the MAP has singular values max(0, d - 1/s^2)
    # on the data's singular vectors (the penalty (|U|^2 + |V|^2) / (2 s^2) is
    # minimised over balanced factors by sum_i d_i' / s^2).
    x = rng.normal(size=(60, 4)) @ rng.normal(size=(4, 40)) + 0.5 * rng.normal(size=(60, 40))
    s = 0.5
    u, d, vt = np.linalg.svd(x, full_matrices=False)
    shrunk = np.maximum(d[:4] - 1 / s**2, 0.0)
    optimum = 0.5 * np.sum((x - (u[:, :4] * shrunk) @ vt[:4]) ** 2) + np.sum(shrunk) / s**2
    result = bf.fit(bf.Model(bf.Gaussian(), 4, bf.Normal(s)), x, key=0)
    f = result.factors
    ours = sq_loss(x, f) + (np.sum(f[0] ** 2) + np.sum(f[1] ** 2)) / (2 * s**2)
    assert result.converged
    assert ours <= optimum * (1 + 1e-7)


def test_logistic_row_fit_equals_sklearn_logistic_regression(rng):
    v = rng.normal(size=(200, 3))
    u = rng.normal(size=(5, 3))
    y = (rng.random((5, 200)) < 1 / (1 + np.exp(-u @ v.T))).astype(float)
    s = 1.5
    model = bf.Model(bf.Bernoulli(), 3, bf.Normal(s))

    def objective(u):  # the negative log posterior of all rows
        z = u @ v.T
        return np.sum(np.logaddexp(0, z) - y * z) + np.sum(u**2) / (2 * s**2)

    lr = LogisticRegression(C=s**2, fit_intercept=False, tol=1e-12, max_iter=10000)
    coef = np.stack([lr.fit(v, y[i]).coef_[0] for i in range(5)])
    # tol bounds the relative decrease per iteration of the objective of all rows
    # together: at the default, the total is at the optimum to ~tol (one slow,
    # near-separable row, whose MM steps with the 1/4 bound converge linearly, keeps
    # ~7e-5 of its own objective); a tight tol reaches it to rounding.
    for tol, gap in ((1e-6, 1e-5), (1e-12, 1e-11)):
        result = bf.fit(model, y, init=(None, v), fixed=(1,), tol=tol)
        assert result.converged
        assert objective(result.factors[0]) <= objective(coef) * (1 + gap)
    np.testing.assert_allclose(result.factors[0], coef, rtol=1e-4)


def test_poisson_row_fit_equals_sklearn_poisson_regressor(rng):
    v = 0.5 * rng.normal(size=(300, 3))
    u = rng.normal(size=(4, 3))
    y = rng.poisson(np.exp(u @ v.T)).astype(float)
    s = 2.0
    model = bf.Model(bf.Poisson(), 3, bf.Normal(s))
    result = bf.fit(model, y, init=(None, v), fixed=(1,))
    assert result.converged
    for i in range(4):
        # PoissonRegressor: mean deviance / 2 + alpha / 2 |w|^2, i.e. ours / n.
        pr = PoissonRegressor(alpha=1 / (300 * s**2), fit_intercept=False, tol=1e-12)
        coef = pr.set_params(max_iter=10000, solver="newton-cholesky").fit(v, y[i]).coef_
        np.testing.assert_allclose(result.factors[0][i], coef, rtol=1e-5, atol=1e-7)


def test_cp_default_ends_at_tensorly_parafac_objective():
    rng = np.random.default_rng(3)
    shape, r = (30, 25, 20), 4
    x = cp([rng.normal(size=(n, r)) for n in shape])
    x = x + 0.1 * x.std() * rng.normal(size=shape)
    init = [rng.normal(size=(n, r)) for n in shape]
    start = tl.cp_tensor.CPTensor((np.ones(r), [f.copy() for f in init]))
    weights, factors = parafac(x, r, init=start, tol=1e-12, n_iter_max=5000)
    peer = sq_loss(x, [factors[0] * weights, *factors[1:]])
    ours = bf.fit(bf.Model(bf.Gaussian(), r, bf.Flat()), x, init=tuple(init), max_iter=5000)
    assert ours.converged
    assert sq_loss(x, ours.factors) <= peer * (1 + 1e-3)


def test_semi_non_negative_cp_reaches_tensorly_hals_accuracy():
    # TensorLy's test_non_negative_parafac_hals_one_unconstrained: exact data, modes 0
    # and 2 non-negative; its HALS (tol=0, 100 iterations) reaches ~2.5e-7.
    rng = np.random.RandomState(1234)
    a = rng.uniform(size=(8, 3)) * rng.uniform(size=3)
    b, c = rng.standard_normal(size=(9, 3)), rng.uniform(0.1, 1.1, size=(10, 3))
    x = cp((a, b, c))
    model = bf.Model(bf.Gaussian(), 3, (bf.NonNegative(), bf.Flat(), bf.NonNegative()))
    for init in ("svd", "random"):
        result = bf.fit(model, x, init=init, max_iter=1000)
        assert result.converged
        assert np.sqrt(2 * sq_loss(x, result.factors)) / np.linalg.norm(x) <= 1e-6


@pytest.mark.parametrize("given", [0, 1])
def test_a_start_given_for_some_modes_is_the_start(rng, given):
    # The drawn modes are first fitted to the given ones: half of the optimum is
    # enough to stay there (the first sweep used to overwrite a given mode 0 from a
    # random mode 1).
    x = rng.exponential(size=(50, 3)) @ rng.exponential(size=(3, 40))
    model = bf.Model(bf.Gaussian(), 3, bf.NonNegative())
    optimum = bf.fit(model, x, key=0, tol=1e-12, max_iter=5000)
    init = [None, None]
    init[given] = optimum.factors[given]
    with pytest.warns(bf.ConvergenceWarning):
        result = bf.fit(model, x, init=tuple(init), max_iter=2)
    assert result.history[0] <= optimum.objective * (1 + 1e-6)


def test_a_stalled_line_search_is_not_called_converged(rng):
    # Offsets of -10 on a log-link Poisson model: the Newton steps from the random
    # start are rejected by the line search and the fit stops far from the data's
    # level (predicted mean 0.18x the data's); it used to say converged=True.
    x = rng.poisson(3.0, size=(40, 30))
    model = bf.Model(bf.Offset(bf.Poisson(), np.full((40, 1), -10.0)), 2, bf.Normal(10.0))
    with pytest.warns(bf.ConvergenceWarning, match="stopped making progress"):
        result = bf.fit(model, x, key=0, max_iter=300)
    assert not result.converged


def test_separable_binary_data_with_flat_priors_have_no_map_and_say_so(rng):
    u, v = rng.normal(size=(30, 1)), rng.normal(size=(20, 1))
    x = (u @ v.T > 0).astype(float)
    with pytest.warns(bf.ConvergenceWarning, match="no finite MAP"):
        result = bf.fit(bf.Model(bf.Bernoulli(), 1, bf.Flat()), x, key=0, max_iter=2000)
    assert not result.converged
    result = bf.fit(bf.Model(bf.Bernoulli(), 1, bf.Normal(1.0)), x, key=0)  # a proper prior
    assert result.converged


def test_float32_data_whose_squares_underflow_are_refused(rng):
    x = (rng.random((30, 2)) @ rng.random((2, 20)) * 1e-30).astype(np.float32)
    with pytest.raises(ValueError, match="squares of such values underflow"):
        bf.fit(bf.Model(bf.Gaussian(), 2, bf.NonNegative()), x)
    x = x.astype(np.float64)  # fine in float64
    result = bf.fit(bf.Model(bf.Gaussian(), 2, bf.NonNegative()), x)
    assert np.linalg.norm(x - result.predict()) / np.linalg.norm(x) < 1e-6


def test_tiny_scale_data_fit_or_are_refused_with_the_reason(rng):
    base = rng.random((30, 2)) @ rng.random((2, 20))
    model = bf.Model(bf.Poisson(link="identity"), 2, bf.NonNegative())
    # The relative change is taken of the deviance (saturated energy subtracted): the
    # same fit at any scale. (Of eta - x log eta, KL-NMF at 1e-10 stopped at 0.8 %.)
    for scale in (1.0, 1e-10):
        result = bf.fit(model, base * scale, key=0, max_iter=5000)
        assert result.converged
        error = np.linalg.norm(base * scale - result.predict()) / np.linalg.norm(base * scale)
        assert error < 1e-6, (scale, error)
    with pytest.raises(ValueError, match="below what float32 resolves"):
        bf.fit(model, (base * 1e-10).astype(np.float32))
    with pytest.raises(ValueError, match="scale should be near the data's noise level"):
        bf.fit(bf.Model(bf.LaplaceLikelihood(), 2, bf.NonNegative()), base * 1e-10)
