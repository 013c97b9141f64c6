"""Invariants of every block update (tensortools' and scikit-learn's NMF test oracles)."""

import re
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from cases import CASES, MATRIX, TENSOR, assert_monotone, evaluated, make_data
from conftest import count_compiles

import bayesfactor as bf
from bayesfactor._data import seed_words
from bayesfactor.solvers.program import fit_program
from bayesfactor.solvers.start import draw_start, init_many


def _fit(name, shape=MATRIX, **kwargs):
    model, kind = CASES[name]
    x = make_data(kind, shape)
    kwargs.setdefault("max_iter", 150)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        return model, x, bf.fit(model, x, **kwargs)


@pytest.mark.parametrize("name", list(CASES))
def test_objective_never_increases_and_support_holds(name):
    model, x, result = _fit(name)
    assert_monotone(result.history)
    # The reported objective is the model's negative log posterior at the factors.
    mask = jnp.ones(x.shape, bool)
    expected = model.objective(jnp.asarray(x), mask, tuple(map(jnp.asarray, result.factors)))
    np.testing.assert_allclose(result.objective, expected, rtol=1e-10)
    for prior, f in zip(model.mode_priors(x.ndim), result.factors, strict=True):
        assert np.isfinite(prior.log_prob(jnp.asarray(f))), prior


@pytest.mark.parametrize("name", ["nmf", "kl_nmf", "poisson_pca", "robust_pca"])
def test_tensor_objective_never_increases(name):
    _, _, result = _fit(name, shape=TENSOR)
    assert all(f.shape == (n, 2) for f, n in zip(result.factors, TENSOR, strict=True))
    assert_monotone(result.history)


@pytest.mark.filterwarnings("ignore::bayesfactor.ConvergenceWarning")
@pytest.mark.parametrize("name", ["nmf", "kl_nmf", "logistic_pca", "kmeans", "poisson_pca"])
def test_masked_entries_do_not_matter(name):
    model, kind = CASES[name]
    x = make_data(kind, MATRIX)
    mask = np.random.default_rng(1).random(MATRIX) > 0.3
    a = bf.fit(model, x, mask=mask, key=2, max_iter=40, tol=0)
    corrupted = np.where(mask, x, 999.0)
    b = bf.fit(model, corrupted, mask=mask, key=2, max_iter=40, tol=0)
    np.testing.assert_array_equal(a.history, b.history)
    for fa, fb in zip(a.factors, b.factors, strict=True):
        np.testing.assert_array_equal(fa, fb)
    # NaN-as-missing is the same as the explicit mask.
    c = bf.fit(model, np.where(mask, x, np.nan), key=2, max_iter=40, tol=0)
    np.testing.assert_array_equal(a.factors[0], c.factors[0])


@pytest.mark.filterwarnings("ignore::bayesfactor.ConvergenceWarning")
def test_same_key_same_result_different_key_different():
    model, kind = CASES["nmf"]
    x = make_data(kind, MATRIX)
    a, b = (bf.fit(model, x, key=3, restarts=2) for _ in range(2))
    c = bf.fit(model, x, key=4, restarts=2)
    np.testing.assert_array_equal(a.factors[0], b.factors[0])
    assert not np.array_equal(a.factors[0], c.factors[0])
    # An explicit jax key gives the same as its int seed.
    import jax

    d = bf.fit(model, x, key=jax.random.key(3), restarts=2)
    np.testing.assert_array_equal(a.factors[0], d.factors[0])


def test_restarts_keep_the_best_and_finished_restarts_stop():
    model, kind = CASES["nmf"]
    x = make_data(kind, MATRIX)
    result = bf.fit(model, x, key=0, restarts=4, max_iter=500)
    assert result.restart_objectives.shape == (4,)
    assert result.objective == result.restart_objectives.min()
    # Under vmap the loop runs until every restart is done; a restart that has
    # converged must not move: run each init alone and compare.
    dtype = jnp.float64
    start = draw_start(model, MATRIX, 0, range(4), dtype, 1.0)
    inits = init_many(model, MATRIX, dtype, start)
    xj, mask, tol = jnp.asarray(x), jnp.ones(MATRIX, bool), jnp.asarray(1e-6)
    together = fit_program(model, xj, mask, inits, tol, max_iter=500, dense=True)
    steps = np.asarray(together.step)
    assert len(set(steps.tolist())) > 1  # restarts finish at different iterations
    for i in range(4):
        alone = fit_program(
            model, xj, mask, tuple(f[i : i + 1] for f in inits), tol, max_iter=500, dense=True
        )
        assert int(alone.step[0]) == steps[i]
        # Equal up to the rounding of batched vs single matmuls (which extrapolation
        # amplifies by up to (1 + beta) per iteration).
        np.testing.assert_allclose(alone.factors[0][0], together.factors[0][i], rtol=1e-10)


@pytest.mark.filterwarnings("ignore::bayesfactor.ConvergenceWarning")
def test_an_int_seed_and_its_key_draw_the_same_starts():
    import jax

    for seed in (0, 1, 12345, 2**31 - 1):
        assert seed_words(seed) == np.asarray(jax.random.key_data(jax.random.key(seed))).tolist()
    model, kind = CASES["kmeans"]  # normal draws and Forgy rows
    x = make_data(kind, MATRIX)
    a = bf.fit(model, x, key=7, restarts=2, max_iter=3, tol=0)
    b = bf.fit(model, x, key=jax.random.key(7), restarts=2, max_iter=3, tol=0)
    c = bf.fit(model, x, key=8, restarts=2, max_iter=3, tol=0)
    np.testing.assert_array_equal(a.restart_objectives, b.restart_objectives)
    assert not np.array_equal(a.restart_objectives, c.restart_objectives)
    with pytest.raises(TypeError, match="key must be an int seed or a jax.random key"):
        bf.fit(model, x, key="7")


def test_random_starts_are_drawn_on_the_host_not_compiled():
    # Random-bit generators compile to large kernels: none in the fit's program.
    model, kind = CASES["kl_nmf"]
    x = jnp.asarray(make_data(kind, MATRIX))
    start = draw_start(model, MATRIX, 0, range(3), x.dtype, 1.0)
    lowered = fit_program.lower(model, x, True, start, 1e-6, max_iter=5, dense=True)
    text = lowered.as_text()
    assert "threefry" not in text and "rng_bit_generator" not in text
    # Restart i's draw is its own: restarts (1, 2) equal the last two of (0, 1, 2).
    later = draw_start(model, MATRIX, 0, range(1, 3), x.dtype, 1.0)
    np.testing.assert_array_equal(later.normals, start.normals[1:])


def test_compiles_once_for_new_values_and_prior_scales_again_for_new_rank():
    x = make_data("real", (11, 9))
    with count_compiles() as first:
        bf.fit(bf.Model(bf.Gaussian(), 2, bf.HalfNormal(1.0)), x, max_iter=20, tol=1e-3)
    with count_compiles() as again:
        bf.fit(
            bf.Model(bf.Gaussian(2.0), 2, bf.HalfNormal(3.0)), x + 1.0, max_iter=20, tol=1e-3, key=5
        )
    # Two programs per fit: the loop's start, and its chunks (run_in_chunks).
    assert first.of(fit_program) == 2 and again.of(fit_program) == 0
    with count_compiles() as new_rank:
        bf.fit(bf.Model(bf.Gaussian(), 3, bf.HalfNormal(1.0)), x, max_iter=20, tol=1e-3)
    assert new_rank.of(fit_program) == 2


@pytest.mark.filterwarnings("ignore::bayesfactor.ConvergenceWarning")
def test_check_every_evaluates_the_same_iterates_less_often():
    model, kind = CASES["kl_nmf"]
    x = make_data(kind, MATRIX)
    every = bf.fit(model, x, key=1, max_iter=23, tol=0, check_every=1)
    for check_every, evaluated_at in [(5, [4, 9, 14, 19, 22]), (None, [9, 19, 22])]:
        sparse = bf.fit(model, x, key=1, max_iter=23, tol=0, check_every=check_every)
        assert sparse.n_iter == 23
        assert np.flatnonzero(~np.isnan(sparse.history)).tolist() == evaluated_at
        np.testing.assert_allclose(
            sparse.history[evaluated_at], every.history[evaluated_at], rtol=1e-10
        )
        for a, b in zip(sparse.factors, every.factors, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9)
    # Elsewhere the default evaluates every iteration (here with extrapolation).
    nmf, kind = CASES["nmf"]
    assert not np.isnan(bf.fit(nmf, make_data(kind, MATRIX), max_iter=23, tol=0).history).any()


def test_check_every_tests_the_mean_decrease_per_iteration():
    model, kind = CASES["kl_nmf"]
    x = make_data(kind, MATRIX)
    tol = 1e-5
    result = bf.fit(model, x, key=1, max_iter=5000, tol=tol, check_every=10)
    assert result.converged and result.n_iter % 10 == 0
    # The test is relative to the objective without its constant terms (log x!).
    h = result.history - scipy.special.gammaln(x + 1.0).sum()
    mean_decrease = lambda a, b: (h[a] - h[b]) / (10 * abs(h[b]))  # noqa: E731
    assert mean_decrease(-11, -1) <= tol < mean_decrease(-21, -11)


def test_check_every_is_checked():
    model, kind = CASES["kl_nmf"]
    x = make_data(kind, MATRIX)
    with pytest.raises(ValueError, match="check_every must be at least 1"):
        bf.fit(model, x, check_every=0)
    with pytest.raises(TypeError, match="check_every must be a positive int"):
        bf.fit(model, x, check_every=2.5)
    with pytest.raises(ValueError, match="accelerate=True compares the objective"):
        bf.fit(model, x, check_every=5, accelerate=True)
    with pytest.raises(ValueError, match="check_every > 1 is not supported for a ConvModel"):
        bf.fit(bf.ConvModel(bf.Poisson(link="identity"), 2, 3), x, check_every=5)


@pytest.mark.filterwarnings("ignore::bayesfactor.ConvergenceWarning")
def test_check_every_above_one_fits_without_extrapolation():
    model, kind = CASES["nmf"]
    x = make_data(kind, MATRIX)
    plain = bf.fit(model, x, max_iter=12, tol=0, accelerate=False)
    sparse = bf.fit(model, x, max_iter=12, tol=0, check_every=4)
    np.testing.assert_allclose(sparse.history[3::4], plain.history[3::4], rtol=1e-10)


def test_warm_start_from_a_result_continues():
    model, kind = CASES["kl_nmf"]
    x = make_data(kind, MATRIX)
    with pytest.warns(bf.ConvergenceWarning, match=re.escape("stopped after max_iter=5")):
        short = bf.fit(model, x, max_iter=5, tol=0)
    more = bf.fit(model, x, init=short, max_iter=300)
    assert evaluated(more.history)[0] <= short.objective + 1e-12
    assert more.objective < short.objective


def test_converged_flag_and_history_length():
    _, _, result = _fit("pca", max_iter=500)
    assert result.converged and result.n_iter == len(result.history) < 500
    assert "converged" in repr(result) and "(12, 2), (10, 2)" in repr(result)


LIKELIHOODS = {
    "real": [bf.Gaussian(), bf.LaplaceLikelihood(0.5)],
    "count": [bf.Poisson(), bf.Poisson(link="identity")],
    "binary": [bf.Bernoulli()],
    "angle": [bf.VonMises(4.0)],
}
PRIORS = [
    bf.Flat(),
    bf.Normal(1.0),
    bf.Laplace(1.0),
    bf.NonNegative(),
    bf.Exponential(1.0),
    bf.HalfNormal(1.0),
    bf.Smooth(1.0),
    bf.Smooth(1.0, nonnegative=True),
]
PRODUCT = [
    (lik, prior, kind, shape)
    for kind, liks in LIKELIHOODS.items()
    for lik in liks
    for prior in PRIORS
    if lik.accepts_factor_support(prior.support)
    for shape in (MATRIX, TENSOR)
]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::bayesfactor.ConvergenceWarning")
@pytest.mark.parametrize(
    "lik, prior, kind, shape", PRODUCT, ids=[f"{c[0]}-{c[1]}-{len(c[3])}way" for c in PRODUCT]
)
def test_every_pair_descends_and_stays_in_support(lik, prior, kind, shape):
    model = bf.Model(lik, 2, prior)
    x = make_data(kind, shape)
    x[(0,) * len(shape)] = np.nan  # a missing entry exercises the masked path
    result = bf.fit(model, x, max_iter=60, restarts=2)
    assert_monotone(result.history)
    for f in result.factors:
        assert np.isfinite(prior.log_prob(jnp.asarray(f)))


@pytest.mark.parametrize(
    "likelihood", [bf.Bernoulli(), bf.VonMises(2.0)], ids=["bernoulli", "vonmises"]
)
def test_constant_weight_row_solve_equals_per_row_grams(likelihood):
    # A constant curvature bound gives one Gram matrix for all rows; the result must
    # equal the general path's n per-row Grams (mask given as a full array).
    from bayesfactor.solvers.updates import select_update

    rng = np.random.default_rng(0)
    factors = (jnp.asarray(rng.normal(size=(12, 3))), jnp.asarray(rng.normal(size=(9, 3))))
    x = jnp.asarray(rng.integers(0, 2, size=(12, 9)).astype(float))
    if isinstance(likelihood, bf.VonMises):
        x = jnp.asarray(rng.uniform(-np.pi, np.pi, size=(12, 9)))
    model = bf.Model(likelihood, 3, bf.Normal(1.0))
    assert likelihood.constant_weight
    update = select_update(likelihood, bf.Normal(1.0))
    assert update.kind == "row-solve"
    for k in (0, 1):
        fast = update.apply(model, bf.Normal(1.0), x, jnp.ones((), bool), factors, k, True)
        full = update.apply(model, bf.Normal(1.0), x, jnp.ones(x.shape, bool), factors, k, False)
        np.testing.assert_allclose(fast, full, rtol=1e-10, atol=1e-12)


def test_numpy_scalars_are_accepted_and_oversized_keys_are_named():
    x = np.random.default_rng(0).normal(size=(8, 6))
    model = bf.Model(bf.Gaussian(), np.int64(2), bf.Flat())
    assert type(model.rank) is int
    result = bf.fit(
        model, x, restarts=np.int64(2), max_iter=np.int64(300), tol=np.float32(1e-6), key=0
    )
    assert result.converged
    with pytest.raises(ValueError, match="does not fit in 64 bits"):
        bf.fit(model, x, key=2**70)
    with pytest.raises(ValueError, match="tol must be a finite number"):
        bf.fit(model, x, tol=float("nan"))
