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
