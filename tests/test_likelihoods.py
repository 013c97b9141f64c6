import re

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import bayesfactor as bf

# (likelihood, data draw, eta draw, scipy reference log-density)
CASES = [
    (
        bf.Gaussian(0.7),
        lambda r: r.normal(size=20),
        lambda r: r.normal(size=20),
        lambda x, eta: stats.norm.logpdf(x, eta, 0.7),
    ),
    (
        bf.LaplaceLikelihood(1.3),
        lambda r: r.normal(size=20),
        lambda r: r.normal(size=20),
        lambda x, eta: stats.laplace.logpdf(x, eta, 1.3),
    ),
    (
        bf.Bernoulli(),
        lambda r: r.integers(0, 2, size=20).astype(float),
        lambda r: 3 * r.normal(size=20),
        lambda x, eta: stats.bernoulli.logpmf(x, 1 / (1 + np.exp(-eta))),
    ),
    (
        bf.Poisson(),
        lambda r: r.poisson(3.0, size=20).astype(float),
        lambda r: r.normal(size=20),
        lambda x, eta: stats.poisson.logpmf(x, np.exp(eta)),
    ),
    (
        bf.Poisson(link="identity"),
        lambda r: r.poisson(3.0, size=20).astype(float),
        lambda r: r.gamma(2.0, size=20),
        lambda x, eta: stats.poisson.logpmf(x, eta),
    ),
    (
        bf.VonMises(2.5),
        lambda r: r.uniform(-10, 10, size=20),
        lambda r: r.normal(size=20),
        lambda x, eta: stats.vonmises.logpdf(np.angle(np.exp(1j * (x - eta))), 2.5),
    ),
]


@pytest.mark.parametrize("lik, draw_x, draw_eta, reference", CASES, ids=[repr(c[0]) for c in CASES])
def test_log_prob_matches_scipy_and_numpyro(rng, lik, draw_x, draw_eta, reference):
    x, eta = draw_x(rng), draw_eta(rng)
    ours = np.asarray(lik.log_prob(jnp.asarray(x), jnp.asarray(eta)))
    np.testing.assert_allclose(ours, reference(x, eta), rtol=1e-10, atol=1e-10)
    if not isinstance(lik, bf.VonMises):  # numpyro's VonMises support is [-pi, pi)
        via_numpyro = np.asarray(lik.distribution(jnp.asarray(eta)).log_prob(jnp.asarray(x)))
        np.testing.assert_allclose(ours, via_numpyro, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("lik, draw_x, draw_eta, reference", CASES, ids=[repr(c[0]) for c in CASES])
def test_weight_bounds_or_matches_curvature(rng, lik, draw_x, draw_eta, reference):
    """``weight`` is the exact second derivative (Newton) or an upper bound (MM)."""
    import jax

    x, eta = jnp.asarray(draw_x(rng)), jnp.asarray(draw_eta(rng))
    nll = lambda e: -jnp.sum(lik.log_prob(x, e))
    hess_diag = jax.jvp(jax.grad(nll), (eta,), (jnp.ones_like(eta),))[1]
    w = lik.weight(x, eta)
    if lik.majorizes:
        assert np.all(np.asarray(w) >= np.asarray(hess_diag) - 1e-12)
    elif isinstance(lik, bf.Poisson):
        np.testing.assert_allclose(w, hess_diag, rtol=1e-10)


def test_mean_is_inverse_link():
    eta = jnp.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(bf.Poisson().mean(eta), np.exp(eta))
    np.testing.assert_allclose(bf.Poisson(link="identity").mean(eta), eta)
    np.testing.assert_allclose(bf.Bernoulli().mean(eta), 1 / (1 + np.exp(-eta)))
    np.testing.assert_allclose(bf.VonMises().mean(jnp.array([3 * np.pi])), [np.pi], atol=1e-12)


@pytest.mark.parametrize(
    "make, value, message",
    [
        (bf.Gaussian, 0.0, "scale must be a finite number > 0; got 0.0"),
        (bf.Gaussian, -1.0, "scale must be a finite number > 0"),
        (bf.LaplaceLikelihood, float("nan"), "scale must be a finite number > 0"),
        (bf.VonMises, 0, "concentration must be a finite number > 0"),
    ],
)
def test_bad_parameters_raise(make, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make(value)


def test_bad_parameter_types_and_links():
    with pytest.raises(TypeError, match="scale must be a positive number"):
        bf.Gaussian("1")
    with pytest.raises(ValueError, match="link must be 'log' or 'identity'"):
        bf.Poisson(link="sqrt")


def test_validate_names_problem_and_fix():
    with pytest.raises(
        ValueError, match=r"non-negative counts; found 1 such values \(first: -1\.0\)"
    ):
        bf.Poisson().validate(np.array([0.0, 2.0, -1.0]))
    with pytest.raises(ValueError, match="must be 0 or 1 where observed.*Binarise X"):
        bf.Bernoulli().validate(np.array([0.0, 1.0, 0.5]))
    bf.Poisson().validate(np.array([0.0, 2.5]))  # non-integers allowed: the KL view


def test_init_scale_does_not_overflow_for_huge_data():
    # RMS of (3, -4) * 1e200 is 5e200 / sqrt(2); x**2 would overflow float64.
    x = np.array([3e200, -4e200])
    assert bf.Gaussian().init_scale(x) == pytest.approx(5e200 / np.sqrt(2), rel=1e-12)
    assert bf.Gaussian().init_scale(np.zeros(3)) == 1.0


# --- declared capabilities ------------------------------------------------------------


@pytest.mark.parametrize(
    "lik, x, mu, reference",
    [
        # Poisson: the unit deviance, twice the log-likelihood ratio to the saturated fit.
        (
            bf.Poisson(),
            np.array([0.0, 1.0, 4.0, 7.0]),
            np.array([0.5, 2.0, 4.0, 3.0]),
            lambda x, mu: (
                2 * (stats.poisson.logpmf(x, np.maximum(x, 1e-300)) - stats.poisson.logpmf(x, mu))
            ),
        ),
        (
            bf.Bernoulli(),
            np.array([0.0, 1.0, 1.0, 0.0]),
            np.array([0.2, 0.9, 0.3, 0.7]),
            lambda x, mu: np.array([1.0, 1.0, 0.0, 0.0]),
        ),
        (
            bf.VonMises(2.0),
            np.array([0.0, np.pi, 2 * np.pi, 1.0]),
            np.array([0.0, 0.0, 0.0, 1.0 + 2 * np.pi]),
            lambda x, mu: np.array([0.0, 2.0, 0.0, 0.0]),
        ),
        (
            bf.Gaussian(3.0),
            np.array([1.0, -2.0]),
            np.array([0.5, 0.0]),
            lambda x, mu: (x - mu) ** 2,
        ),
        (bf.LaplaceLikelihood(), np.array([1.0]), np.array([3.0]), lambda x, mu: np.array([4.0])),
    ],
    ids=lambda case: repr(case) if isinstance(case, bf.likelihoods.Likelihood) else "",
)
def test_error_is_the_named_metric(lik, x, mu, reference):
    expected = {"Poisson": "deviance", "Bernoulli": "accuracy", "VonMises": "circular_error"}
    assert lik.error_name == expected.get(type(lik).__name__, "mse")
    assert lik.error_higher_is_better == (lik.error_name == "accuracy")
    np.testing.assert_allclose(lik.error(x, mu), reference(x, mu), atol=1e-12)
    wrapped = bf.Offset(lik, 0.0)  # an offset changes eta, not the error of a mean
    assert (wrapped.error_name, wrapped.error_higher_is_better) == (
        lik.error_name,
        lik.error_higher_is_better,
    )
    np.testing.assert_array_equal(wrapped.error(x, mu), lik.error(x, mu))


def test_least_squares_and_sparse_rows_follow_the_energy_and_the_link(rng):
    x, eta = rng.normal(size=10), rng.normal(size=10)
    for lik in (bf.Gaussian(0.7), bf.LaplaceLikelihood(), bf.Bernoulli(), bf.VonMises()):
        quadratic = np.allclose(lik.energy(x, eta), (x - eta) ** 2 / (2 * 0.7**2))
        assert lik.least_squares == quadratic
    assert not bf.Offset(bf.Gaussian(), 1.0).least_squares  # the offset is not the data's
    # Blocked dense rows: a log or logit link (zeros carry information), also in an Offset.
    assert bf.Bernoulli().admits_sparse_rows and bf.Poisson(link="log").admits_sparse_rows
    assert not bf.Poisson(link="identity").admits_sparse_rows
    assert not bf.Gaussian().admits_sparse_rows
    assert bf.Offset(bf.Poisson(), 0.0).admits_sparse_rows
    # The identity link's energy eta - x log eta is KL-NMF's: the multiplicative update.
    assert bf.Poisson(link="identity").admits_multiplicative
    assert not bf.Poisson().admits_multiplicative


def test_base_unwraps_an_offset_and_parts_split_blocks():
    lik = bf.Poisson()
    assert lik.base is lik and bf.Offset(lik, 0.5).base is lik
    assert lik.parts((3, 4)) == ()
    blocks = bf.Blocks({"n": ([0, 2], bf.Poisson()), "g": ([1, 3], bf.Gaussian())})
    parts = blocks.parts((3, 4))
    assert [(name, part) for name, part, _ in parts] == [("n", bf.Poisson()), ("g", bf.Gaussian())]
    cover = np.broadcast_to(parts[0][2], (3, 4)).astype(int) + np.broadcast_to(parts[1][2], (3, 4))
    assert (cover == 1).all() and np.broadcast_to(parts[0][2], (3, 4))[:, [0, 2]].all()


def test_blocks_constructor_takes_its_own_fields():
    import dataclasses

    spec = {"n": ([0, 2], bf.Poisson()), "g": ([1, 3], bf.Gaussian(0.5))}
    blocks = bf.Blocks(spec, mode=1)
    assert blocks.likelihoods == (bf.Poisson(), bf.Gaussian(0.5))
    np.testing.assert_array_equal(blocks.assignment, [0, 1, 0, 1])
    fields = {f.name: getattr(blocks, f.name) for f in dataclasses.fields(blocks)}
    assert bf.Blocks(**fields) == blocks
    assert dataclasses.replace(blocks, labels=("a", "b", "c", "d")).labels == ("a", "b", "c", "d")
    assert bf.Blocks([bf.Poisson(), bf.Gaussian()], [1, 0, 1]).names == ("block0", "block1")
    with pytest.raises(ValueError, match=r"block numbers 0\.\.1"):
        bf.Blocks((bf.Poisson(), bf.Gaussian()), [0, 2], names=("a", "b"))
    with pytest.raises(ValueError, match="2 names for 1 likelihoods"):
        bf.Blocks((bf.Poisson(),), [0], names=("a", "b"))
    with pytest.raises(TypeError, match="not an assignment"):
        bf.Blocks(spec, assignment=[0, 1, 0, 1])
    with pytest.raises(TypeError, match="needs a likelihood"):
        bf.Blocks({"o": ([0], bf.Offset(bf.Poisson(), 0.0))})
