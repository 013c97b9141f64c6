import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, stats

import bayesfactor as bf


@pytest.mark.parametrize(
    "prior, reference",
    [
        (bf.Normal(0.6), lambda f: stats.norm.logpdf(f, 0, 0.6).sum()),
        (bf.Laplace(0.4), lambda f: stats.laplace.logpdf(f, 0, 0.4).sum()),
        (bf.Exponential(2.0), lambda f: stats.expon.logpdf(f, scale=0.5).sum()),
        (bf.HalfNormal(1.5), lambda f: stats.halfnorm.logpdf(f, scale=1.5).sum()),
    ],
    ids=["Normal", "Laplace", "Exponential", "HalfNormal"],
)
def test_log_prob_matches_scipy(rng, prior, reference):
    f = rng.normal(size=(7, 3))
    if prior.support is not bf.Flat.support:
        f = np.abs(f)
    np.testing.assert_allclose(prior.log_prob(jnp.asarray(f)), reference(f), rtol=1e-12)


def test_smooth_is_a_gaussian_random_walk(rng):
    f = rng.normal(size=(9, 2))
    ref = stats.norm.logpdf(np.diff(f, axis=0), 0, 0.3).sum()
    np.testing.assert_allclose(bf.Smooth(0.3).log_prob(jnp.asarray(f)), ref, rtol=1e-12)
    assert bf.Smooth(0.3, nonnegative=True).log_prob(jnp.asarray(-np.abs(f))) == -np.inf


def test_support_priors_are_minus_inf_outside():
    f = jnp.array([[1.0, -0.1]])
    for prior in (bf.NonNegative(), bf.Exponential(), bf.HalfNormal()):
        assert prior.log_prob(f) == -np.inf
    assert bf.OneHot().log_prob(jnp.array([[1.0, 0.0], [0.0, 1.0]])) == -2 * np.log(2)
    assert bf.OneHot().log_prob(jnp.array([[1.0, 1.0]])) == -np.inf


@pytest.mark.parametrize(
    "prior", [bf.Laplace(0.5), bf.NonNegative(), bf.Exponential(2.0)], ids=repr
)
def test_prox_minimises_its_problem(rng, prior):
    """prox(v, t) = argmin_f g(f) + (f - v)^2 / (2 t), checked by scalar minimisation."""
    v, t = rng.normal(size=5), 0.7
    # Non-smooth part of -log p: the total minus the differentiable penalty.
    g = lambda f: float(-prior.log_prob(jnp.array([[f]])) - prior.penalty(jnp.array([[f]])))
    got = np.asarray(prior.prox(jnp.asarray(v), t))
    for vi, gi in zip(v, got, strict=True):
        obj = lambda f, vi=vi: g(f) + (f - vi) ** 2 / (2 * t)
        lo, hi = (0.0, 10.0) if prior.support is not bf.Flat.support else (-10.0, 10.0)
        best = optimize.minimize_scalar(
            obj, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10}
        )
        assert abs(best.x - gi) < 1e-6


@pytest.mark.parametrize("prior", [bf.Normal(0.5), bf.HalfNormal(2.0), bf.Smooth(0.3)], ids=repr)
def test_curvature_bounds_penalty_hessian(rng, prior):
    f = jnp.asarray(np.abs(rng.normal(size=(6, 2))))
    hess = jax.hessian(lambda v: prior.penalty(v.reshape(6, 2)))(f.ravel())
    top = np.linalg.eigvalsh(np.asarray(hess)).max()
    assert top <= prior.curvature() + 1e-12
    if prior.exact_curvature:
        np.testing.assert_allclose(np.diag(hess), prior.curvature())


def test_bad_prior_parameters():
    with pytest.raises(ValueError, match=r"Exponential: rate must be a finite number > 0; got -1"):
        bf.Exponential(-1)
    with pytest.raises(TypeError, match="nonnegative must be a bool"):
        bf.Smooth(1.0, nonnegative="yes")


# --- declared capabilities, checked against the densities they describe ---------------

ALL_PRIORS = [
    bf.Flat(),
    bf.Normal(0.7),
    bf.Laplace(0.4),
    bf.NonNegative(),
    bf.Exponential(2.0),
    bf.HalfNormal(1.5),
    bf.Smooth(0.3),
    bf.Smooth(0.3, nonnegative=True),
]


def _random_orthogonal(rng, r):
    q, _ = np.linalg.qr(rng.normal(size=(r, r)))
    return q


@pytest.mark.parametrize("prior", ALL_PRIORS, ids=repr)
def test_declared_invariances_hold_and_undeclared_ones_fail(rng, prior):
    # Each flag, True or False, is checked on the log-density itself: a transform the
    # prior declares leaves it unchanged; one it does not declare changes it.
    f = rng.uniform(0.5, 2.0, size=(6, 3)) * (
        1 if prior.nonnegative else rng.choice([-1, 1], (6, 3))
    )
    lp = float(prior.log_prob(jnp.asarray(f)))
    scaled = f * np.array([3.0, 0.5, 2.0])
    q = _random_orthogonal(rng, 3)
    a = q @ np.diag([3.0, 0.5, 2.0])  # invertible, neither orthogonal nor positive
    for flag, g in (
        ("scale_free", scaled),
        ("rotation_invariant", f @ q),
        ("mixing_invariant", f @ a),
    ):
        same = np.isclose(float(prior.log_prob(jnp.asarray(g))), lp, rtol=1e-10, atol=1e-10)
        assert same == getattr(prior, flag), (flag, prior)


@pytest.mark.parametrize("prior", ALL_PRIORS, ids=repr)
def test_admits_centring_means_centring_never_raises_the_penalty(rng, prior):
    f = rng.normal(size=(8, 2)) + 3.0
    lp, centred = float(prior.log_prob(jnp.asarray(f))), f - f.mean(axis=0)
    if prior.admits_centring:
        assert float(prior.log_prob(jnp.asarray(centred))) >= lp - 1e-12
    if prior.nonnegative:  # centring leaves the support: never declared
        assert not prior.admits_centring


def test_nonnegative_is_the_support_and_couples_rows_is_smooth_only(rng):
    for prior in ALL_PRIORS + [bf.OneHot()]:
        negative = float(prior.log_prob(jnp.asarray(-np.abs(rng.normal(size=(4, 2))))))
        if not prior.assigns:
            assert prior.nonnegative == (negative == -np.inf)
        # couples_rows: log_prob is not a sum over rows (adding a row changes the others').
        f = rng.normal(size=(5, 2))
        f = np.abs(f) if prior.nonnegative else f
        if not prior.assigns:
            whole = float(prior.log_prob(jnp.asarray(f)))
            split = float(prior.log_prob(jnp.asarray(f[:2]))) + float(
                prior.log_prob(jnp.asarray(f[2:]))
            )
            assert prior.couples_rows == (not np.isclose(whole, split, rtol=1e-10))
    assert bf.OneHot().nonnegative and bf.OneHot().assigns


@pytest.mark.parametrize(
    "prior, cdf",
    [
        (bf.Normal(0.7), stats.norm(0, 0.7).cdf),
        (bf.Laplace(0.4), stats.laplace(0, 0.4).cdf),
        (bf.Exponential(2.0), stats.expon(scale=0.5).cdf),
        (bf.HalfNormal(1.5), stats.halfnorm(scale=1.5).cdf),
        (bf.Flat(), stats.norm.cdf),  # improper: standard normal entries
        (bf.NonNegative(), stats.halfnorm.cdf),
    ],
    ids=lambda case: repr(case) if isinstance(case, bf.priors.Prior) else "",
)
def test_sample_draws_the_priors_law(prior, cdf):
    f = np.asarray(prior.sample(jax.random.key(0), (4000, 2)))
    assert f.shape == (4000, 2)
    assert stats.kstest(f.ravel(), cdf).pvalue > 1e-3


def test_sample_smooth_is_a_random_walk_and_onehot_is_indicators():
    f = np.asarray(bf.Smooth(0.2).sample(jax.random.key(1), (3000, 2)))
    assert stats.kstest(np.diff(f, axis=0).ravel(), stats.norm(0, 0.2).cdf).pvalue > 1e-3
    assert (
        np.asarray(bf.Smooth(0.2, nonnegative=True).sample(jax.random.key(1), (50, 2))) >= 0
    ).all()
    z = np.asarray(bf.OneHot().sample(jax.random.key(2), (3000, 3)))
    assert set(np.unique(z)) == {0.0, 1.0} and (z.sum(axis=1) == 1).all()
    assert stats.chisquare(z.sum(axis=0)).pvalue > 1e-3  # uniform over the 3 indicators
