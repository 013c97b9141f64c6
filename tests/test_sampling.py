"""Posterior sampling against independent references.

References, strongest first: ``scipy.stats`` densities for the numpyro program; a
Hessian of the rank-1 Gaussian posterior derived by hand (and the Bayesian ridge
conditional) for the Laplace approximation; the closed-form Gaussian conditional of
U given a fixed V (``fixed=(1,)``) for both; an exact Gibbs sampler (ridge
conditionals, numpy only) for NUTS and Laplace on a nearly Gaussian posterior, and
a KL-NMF posterior written by hand in numpyro (no bayesfactor code) for NUTS, with
ESS-gated tolerances (STYLE C16e); chains started in permuted labellings for the
alignment inside ``bf.sample``; coverage of credible
intervals on data drawn from the prior (Bayesian calibration); exactly planted
permutations and sign flips for the alignment; the Poisson / Gaussian variance of
replicated data for ``posterior_predictive``; the dimension of the rotation group
for the flat directions of the Hessian.

NUTS dominates the run time (each call compiles for about 2.5 s per chain), so the
fast tests share module-scoped runs on 12 x 10 (and one 15 x 12) matrices.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pytest
import xarray as xr
from conftest import planted
from numpyro.distributions import constraints
from numpyro.infer import MCMC, NUTS, init_to_value
from numpyro.infer.util import log_density, potential_energy
from scipy import stats
from scipy.special import expit

import bayesfactor as bf
from bayesfactor._data import as_key
from bayesfactor.sampling import IdentifiabilityWarning, align, numpyro_model, nuts
from bayesfactor.sampling.idata import _arviz
from bayesfactor.sampling.nuts import _interior

az = _arviz()

SHAPE = (12, 10)
#: Tolerated |z| of a NUTS mean against a reference, z = difference / (sd / sqrt(ESS)).
#: Entries of eta share the factors, so their z are correlated; 6 is ~1e-9 one-sided
#: for a single N(0, 1) and leaves room for the underestimate of ESS on 1 chain.
MAX_Z = 6.0

FAST = dict(num_warmup=300, num_samples=300, progress_bar=False)
QUIET = dict(progress_bar=False)


def _eta_draws(idata) -> np.ndarray:
    """eta for every (chain, draw) of a matrix posterior: shape (chain, draw, n, m)."""
    f0 = idata.posterior["F0"].transpose("chain", "draw", ...).values
    f1 = idata.posterior["F1"].transpose("chain", "draw", ...).values
    return np.einsum("cdir,cdjr->cdij", f0, f1)


def _ess(draws: np.ndarray) -> np.ndarray:
    """Bulk ESS of every entry of (chain, draw, ...) draws."""
    return az.ess(az.convert_to_dataset({"v": draws}))["v"].values


def _tight_fit(model, X, **kwargs):
    return bf.fit(model, X, tol=1e-12, max_iter=3000, restarts=4, **kwargs)


# --- module-scoped runs ---------------------------------------------------------------


@pytest.fixture(scope="module")
def gauss_prior():
    """Rank-1 Gaussian / Normal(1) data with the truth drawn from the prior (calibration)."""
    rng = np.random.default_rng(11)
    sigma, tau = 0.5, 1.0
    factors = [tau * rng.normal(size=(n, 1)) for n in SHAPE]
    eta = factors[0] @ factors[1].T
    X = eta + sigma * rng.normal(size=SHAPE)
    model = bf.Model(bf.Gaussian(sigma), 1, bf.Normal(tau))
    idata = bf.sample(model, X, init=_tight_fit(model, X), num_chains=1, key=1, **FAST)
    return model, X, eta, idata


@pytest.fixture(scope="module")
def gauss_sharp():
    """Rank-1 Gaussian / Normal posterior that is nearly Gaussian (high signal to noise).

    The factors are 3x the prior scale and the noise is 1, so each entry of U, V has a
    posterior sd of ~3% of its size. What is left non-Gaussian is the curvature of the
    bilinear posterior (the scale ridge (U c, V / c), the directions of U and V): it
    moves the mean of eta by ~1% of eta away from the Laplace mean (see the test).
    """
    rng = np.random.default_rng(1)
    sigma, tau = 1.0, 0.5
    factors = [3.0 * rng.normal(size=(n, 1)) for n in SHAPE]
    X = factors[0] @ factors[1].T + sigma * rng.normal(size=SHAPE)
    model = bf.Model(bf.Gaussian(sigma), 1, bf.Normal(tau))
    fit = _tight_fit(model, X)
    lap = bf.laplace(model, X, fit, num_samples=4000, key=2, rescale=False)
    nuts = bf.sample(
        model,
        X,
        init=fit,
        num_chains=1,
        key=3,
        num_warmup=300,
        num_samples=1000,
        progress_bar=False,
    )
    return model, X, fit, lap, nuts


def _poisson_frame(rng, missing=(2, 3)):
    """Counts from a planted rank-2 NMF with disjoint supports, as a labelled DataFrame."""
    W = np.full((SHAPE[0], 2), 0.1)
    W[:6, 0], W[6:, 1] = rng.uniform(1, 2, 6), rng.uniform(1, 2, 6)
    H = np.full((SHAPE[1], 2), 0.1)
    H[:5, 0], H[5:, 1] = rng.uniform(2, 4, 5), rng.uniform(2, 4, 5)
    X = rng.poisson(W @ H.T).astype(float)
    X[missing] = np.nan
    index = pd.Index([f"n{i}" for i in range(SHAPE[0])], name="neuron")
    columns = pd.Index([f"t{j}" for j in range(SHAPE[1])], name="time")
    return pd.DataFrame(X, index=index, columns=columns), W @ H.T


@pytest.fixture(scope="module")
def poisson_nmf():
    """KL-NMF with Exponential priors on labelled counts with one NaN: 2 chains, rank 2."""
    df, mu = _poisson_frame(np.random.default_rng(0))
    model = bf.Model(bf.Poisson(link="identity"), 2, bf.Exponential(0.5))
    fit = _tight_fit(model, df)
    idata = bf.sample(model, df, init=fit, num_chains=2, key=4, posterior_predictive=True, **FAST)
    return model, df, mu, fit, idata


def _planted_nmf_counts(rng, shape, rank):
    """Counts from a planted NMF whose components have disjoint supports (well identified)."""
    W, H = np.full((shape[0], rank), 0.1), np.full((shape[1], rank), 0.1)
    rows, cols = shape[0] // rank, shape[1] // rank
    for c in range(rank):
        W[c * rows : (c + 1) * rows, c] = rng.uniform(1, 2, rows)
        H[c * cols : (c + 1) * cols, c] = rng.uniform(2, 4, cols)
    return rng.poisson(W @ H.T).astype(float)


class _Recorder:
    """Stand-in for numpyro's MCMC inside bf.sample: per-chain starts, raw draws kept.

    ``starts`` are the unconstrained values every chain starts from (leading chain
    axis), passed as numpyro's ``init_params``; ``raw`` receives numpyro's draws
    before bf.sample aligns them.
    """

    def __init__(self, starts):
        self.starts, self.raw = starts, {}
        recorder = self

        class Recording(MCMC):
            def run(self, key, *args, **kwargs):
                return super().run(key, *args, init_params=recorder.starts, **kwargs)

            def get_samples(self, group_by_chain=False):
                out = super().get_samples(group_by_chain)
                recorder.raw.update({k: np.asarray(v) for k, v in out.items()})
                return out

        self.mcmc = Recording


@pytest.fixture(scope="module")
def poisson_rank3():
    """KL-NMF, rank 3, with chain 1 started at the MAP with its components permuted.

    The components have disjoint supports, so the permuted labelling is a separate
    mode that a chain does not leave: chain 1's raw draws are label-switched against
    chain 0's, which bf.sample's alignment must undo.
    """
    X = _planted_nmf_counts(np.random.default_rng(3), (15, 12), 3)
    model = bf.Model(bf.Poisson(link="identity"), 3, bf.Exponential(0.5))
    fit = _tight_fit(model, X)
    shift = np.array([1, 2, 0])
    starts = {}
    for k, (f, prior) in enumerate(zip(fit.factors, model.mode_priors(2), strict=True)):
        f = _interior(np.asarray(f), prior)
        starts[f"F{k}"] = np.log(np.stack([f, f[:, shift]]))
    recorder = _Recorder(starts)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nuts, "MCMC", recorder.mcmc)
        idata = bf.sample(
            model,
            X,
            init=fit,
            num_chains=2,
            key=6,
            num_warmup=250,
            num_samples=400,
            progress_bar=False,
        )
    return model, X, fit, idata, recorder.raw


# --- the numpyro program --------------------------------------------------------------


def _scipy_log_posterior(model, x, mask, factors):
    """log p(X | F) + log p(F) from scipy.stats (every density here is normalised)."""
    lik, eta = model.likelihood, np.einsum("ir,jr->ij", *factors)
    if isinstance(lik, bf.Gaussian):
        ll = stats.norm.logpdf(x, eta, lik.scale)
    elif isinstance(lik, bf.Poisson):
        ll = stats.poisson.logpmf(x, np.exp(eta) if lik.link == "log" else eta)
    elif isinstance(lik, bf.Bernoulli):
        ll = stats.bernoulli.logpmf(x, expit(eta))
    elif isinstance(lik, bf.LaplaceLikelihood):
        ll = stats.laplace.logpdf(x, eta, lik.scale)
    elif isinstance(lik, bf.VonMises):
        ll = stats.vonmises.logpdf(x, lik.concentration, loc=eta)
    total = ll[mask].sum()
    for prior, f in zip(model.mode_priors(2), factors, strict=True):
        if isinstance(prior, bf.Normal):
            total += stats.norm.logpdf(f, 0, prior.scale).sum()
        elif isinstance(prior, bf.Laplace):
            total += stats.laplace.logpdf(f, 0, prior.scale).sum()
        elif isinstance(prior, bf.Exponential):
            total += stats.expon.logpdf(f, scale=1 / prior.rate).sum()
        elif isinstance(prior, bf.HalfNormal):
            total += stats.halfnorm.logpdf(f, scale=prior.scale).sum()
    return total


DENSITY_CASES = {
    "gaussian-normal": (bf.Model(bf.Gaussian(0.7), 2, bf.Normal(1.3)), "real"),
    "poisson-laplace": (bf.Model(bf.Poisson(), 2, bf.Laplace(0.8)), "count"),
    "kl-exponential": (bf.Model(bf.Poisson(link="identity"), 2, bf.Exponential(0.5)), "count"),
    "bernoulli-normal": (bf.Model(bf.Bernoulli(), 2, bf.Normal(2.0)), "binary"),
    "laplace-halfnormal": (bf.Model(bf.LaplaceLikelihood(0.5), 2, bf.HalfNormal(1.5)), "real"),
    "vonmises-mixed": (bf.Model(bf.VonMises(2.0), 2, (bf.Normal(1.0), bf.Laplace(0.5))), "angle"),
}


def _density_inputs(model, kind, rng):
    priors = model.mode_priors(2)
    factors = [
        np.abs(rng.normal(size=(n, 2))) + 0.1
        if p.support is not constraints.real
        else rng.normal(size=(n, 2))
        for n, p in zip(SHAPE, priors, strict=True)
    ]
    eta = np.abs(rng.normal(size=SHAPE)) + 0.5
    x = {
        "real": lambda: rng.normal(size=SHAPE),
        "count": lambda: rng.poisson(eta).astype(float),
        "binary": lambda: (rng.random(SHAPE) < 0.4).astype(float),
        "angle": lambda: rng.vonmises(0.0, 2.0, size=SHAPE),
    }[kind]()
    mask = rng.random(SHAPE) < 0.8
    return x, mask, factors


@pytest.mark.parametrize("name", list(DENSITY_CASES))
def test_numpyro_density_equals_objective_and_scipy(name, rng):
    model, kind = DENSITY_CASES[name]
    x, mask, factors = _density_inputs(model, kind, rng)
    params = {"F0": jnp.asarray(factors[0]), "F1": jnp.asarray(factors[1])}
    lp = float(log_density(numpyro_model, (model, jnp.asarray(x), mask), {}, params)[0])
    # The two code paths (numpyro distributions vs the MAP objective) agree exactly ...
    objective = float(model.objective(jnp.asarray(x), jnp.asarray(mask), tuple(params.values())))
    np.testing.assert_allclose(lp, -objective, rtol=1e-12, atol=1e-9)
    # ... and both are the normalised log posterior written with scipy.stats.
    np.testing.assert_allclose(lp, _scipy_log_posterior(model, x, mask, factors), rtol=1e-10)
    # Masked entries do not enter: overwriting them changes nothing.
    x2 = np.where(mask, x, x + 1.0 if kind != "binary" else 1.0 - x)
    lp2 = float(log_density(numpyro_model, (model, jnp.asarray(x2), mask), {}, params)[0])
    np.testing.assert_allclose(lp2, lp, rtol=1e-12)


def test_numpyro_density_three_way_tensor(rng):
    """A 3-way CP model: numpyro equals -objective, and scipy on the explicit CP sum."""
    shape = (6, 5, 4)
    model = bf.Model(bf.Gaussian(0.5), 2, (bf.Normal(1.0), bf.Exponential(2.0), bf.Smooth(0.7)))
    factors = [np.abs(rng.normal(size=(n, 2))) for n in shape]
    x, mask = rng.normal(size=shape), rng.random(shape) < 0.7
    params = {f"F{k}": jnp.asarray(f) for k, f in enumerate(factors)}
    lp = float(log_density(numpyro_model, (model, jnp.asarray(x), mask), {}, params)[0])
    objective = model.objective(jnp.asarray(x), jnp.asarray(mask), tuple(params.values()))
    np.testing.assert_allclose(lp, -float(objective), rtol=1e-12)
    eta = sum(
        np.multiply.outer(np.multiply.outer(factors[0][:, r], factors[1][:, r]), factors[2][:, r])
        for r in range(2)
    )
    smooth = stats.norm.logpdf(np.diff(factors[2], axis=0), 0, 0.7).sum()  # random walk
    ref = (
        stats.norm.logpdf(x, eta, 0.5)[mask].sum()
        + stats.norm.logpdf(factors[0], 0, 1.0).sum()
        + stats.expon.logpdf(factors[1], scale=0.5).sum()
        + smooth
    )
    np.testing.assert_allclose(lp, ref, rtol=1e-10)


def test_potential_energy_has_the_log_jacobian(rng):
    """NUTS's potential on the unconstrained scale: objective(exp z) - sum(z) for F >= 0."""
    model = bf.Model(bf.Poisson(), 2, (bf.Exponential(0.5), bf.Normal(1.0)))
    z0, f1 = rng.normal(size=(SHAPE[0], 2)), np.abs(rng.normal(size=(SHAPE[1], 2)))
    x, mask = rng.poisson(2.0, size=SHAPE).astype(float), np.ones(SHAPE, bool)
    pe = potential_energy(
        numpyro_model, (model, jnp.asarray(x), mask), {}, {"F0": z0, "F1": jnp.asarray(f1)}
    )
    objective = model.objective(jnp.asarray(x), jnp.asarray(mask), (jnp.exp(z0), jnp.asarray(f1)))
    np.testing.assert_allclose(float(pe), float(objective) - z0.sum(), rtol=1e-12)


# --- Laplace against a hand-derived Hessian -------------------------------------------


def _rank1_gaussian_hessian(X, u, v, sigma, tau):
    """Hessian of -log p(u, v | X) for X ~ N(u v^T, sigma^2), u, v ~ N(0, tau^2).

    d2/du_i du_k = (v.v / sigma^2 + 1 / tau^2) [i == k], likewise for v, and
    d2/du_i dv_j = (2 u_i v_j - X_ij) / sigma^2.
    """
    n, m = X.shape
    cross = (2 * np.outer(u, v) - X) / sigma**2
    return np.block(
        [
            [(v @ v / sigma**2 + 1 / tau**2) * np.eye(n), cross],
            [cross.T, (u @ u / sigma**2 + 1 / tau**2) * np.eye(m)],
        ]
    )


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_laplace_matches_hand_derived_hessian(gauss_sharp):
    model, X, fit, lap, _ = gauss_sharp
    sigma, tau = model.likelihood.scale, model.mode_priors(2)[0].scale
    u, v = (np.asarray(f)[:, 0] for f in fit.factors)
    cov = np.linalg.inv(_rank1_gaussian_hessian(X, u, v, sigma, tau))
    draws = np.concatenate(
        [lap.posterior["F0"].values[0, :, :, 0], lap.posterior["F1"].values[0, :, :, 0]], axis=1
    )
    n_draws = draws.shape[0]
    sd = np.sqrt(np.diag(cov))
    # Mean at the MAP (5 SE) and marginal sds (5 SE: the relative SE of an sd is 1/sqrt(2N)).
    mean_error = np.abs(draws.mean(0) - np.concatenate([u, v]))
    np.testing.assert_array_less(mean_error, 5 * sd / np.sqrt(n_draws))
    np.testing.assert_allclose(draws.std(0), sd, rtol=5 / np.sqrt(2 * n_draws))
    # Conditional of U given V: the Bayesian ridge posterior, sigma^2 / (v.v + sigma^2/tau^2).
    emp = np.cov(draws.T)
    n = u.size
    cond = emp[:n, :n] - emp[:n, n:] @ np.linalg.solve(emp[n:, n:], emp[n:, :n])
    ridge = sigma**2 / (v @ v + sigma**2 / tau**2)
    np.testing.assert_allclose(np.diag(cond), ridge, rtol=0.1)
    # By default the draws' scale (u c, v / c) is moved to the MAP's norms: eta unchanged.
    aligned = bf.laplace(model, X, fit, num_samples=4000, key=2)
    np.testing.assert_allclose(_eta_draws(aligned), _eta_draws(lap), rtol=1e-12)
    norms = [np.linalg.norm(aligned.posterior[f"F{k}"].values, axis=2) for k in (0, 1)]
    ref = [np.linalg.norm(f) for f in fit.factors]
    np.testing.assert_allclose(norms[0] / ref[0], norms[1] / ref[1], rtol=1e-12)


def _gibbs_rank1(X, sigma, tau, v0, num_samples, num_chains, seed):
    """Exact Gibbs sampler of the rank-1 Gaussian / Normal posterior (numpy only).

    Given v, u is a Bayesian ridge regression: u | v ~ N(X v / p, sigma^2 / p I) with
    p = v.v + sigma^2 / tau^2; likewise v | u. Returns eta draws (chain, draw, n, m).
    """
    rng = np.random.default_rng(seed)
    lam = sigma**2 / tau**2
    v = np.tile(v0, (num_chains, 1))
    out = []
    for it in range(2 * num_samples):  # the first half is burn-in
        p = np.sum(v**2, axis=1, keepdims=True) + lam
        u = v @ X.T / p + sigma / np.sqrt(p) * rng.normal(size=(num_chains, X.shape[0]))
        p = np.sum(u**2, axis=1, keepdims=True) + lam
        v = u @ X / p + sigma / np.sqrt(p) * rng.normal(size=(num_chains, X.shape[1]))
        if it >= num_samples:
            out.append(u[:, :, None] * v[:, None, :])
    return np.stack(out, axis=1)


def _compare_eta(draws, reference):
    """Per eta entry: difference of means and its SE, ratio of sds and its SE, ESS."""
    ess, ref_ess = _ess(draws), _ess(reference)
    sd, ref_sd = draws.std((0, 1)), reference.std((0, 1))
    diff = draws.mean((0, 1)) - reference.mean((0, 1))
    se = np.sqrt(sd**2 / ess + ref_sd**2 / ref_ess)
    # Relative SE of an sd: sqrt(kurtosis - 1) / (2 sqrt(ESS)), with the ESS of the squared
    # deviations (they mix more slowly than the draws); 1/sqrt(2 ESS) for a Gaussian.
    sd_se = np.sqrt(_sd_var(draws) + _sd_var(reference))
    return diff, se, sd / ref_sd, sd_se, ess


def _sd_var(draws):
    dev2 = (draws - draws.mean((0, 1))) ** 2
    kurtosis = (dev2**2).mean((0, 1)) / dev2.mean((0, 1)) ** 2
    return (kurtosis - 1) / (4 * _ess(dev2))


@pytest.fixture(scope="module")
def gibbs_sharp(gauss_sharp):
    model, X, fit, *_ = gauss_sharp
    sigma, tau = model.likelihood.scale, model.mode_priors(2)[0].scale
    v0 = np.asarray(fit.factors[1])[:, 0]
    return _gibbs_rank1(X, sigma, tau, v0, num_samples=5000, num_chains=4, seed=7)


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_nuts_agrees_with_exact_gibbs(gauss_sharp, gibbs_sharp):
    """Mean and sd of every eta entry: NUTS vs an exact Gibbs sampler, within MCMC error."""
    *_, nuts = gauss_sharp
    assert int(nuts.sample_stats["diverging"].sum()) == 0
    diff, se, ratio, sd_se, ess = _compare_eta(_eta_draws(nuts), gibbs_sharp)
    assert ess.min() > 100
    z = diff / se
    # Entries of eta share the factors, so their z are correlated, not 120 independent N(0, 1).
    assert np.abs(z).max() < MAX_Z and np.sqrt(np.mean(z**2)) < 2.0
    assert np.all(np.abs(ratio - 1) < MAX_Z * sd_se)
    assert abs(np.median(ratio) - 1) < 0.05


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_laplace_agrees_with_exact_gibbs_to_its_approximation_error(gauss_sharp, gibbs_sharp):
    """Laplace vs the exact posterior on a nearly Gaussian posterior.

    Laplace's mean of eta is the MAP's plus the linearised covariance; the exact mean is
    shrunk further by the curvature of the bilinear posterior (the scale ridge
    (u c, v / c) and the spread of the directions of u and v), an O(Var(log c) +
    angular variance) ~ 1% relative effect here (1.4% measured with 10^5 Gibbs draws).
    The tolerance is 3% of |eta| plus the MCMC error; the sds agree to 5%.
    """
    model, X, fit, lap, _ = gauss_sharp
    diff, se, ratio, sd_se, _ = _compare_eta(_eta_draws(lap), gibbs_sharp)
    eta = np.asarray(fit.predict())
    assert np.all(np.abs(diff) < 0.03 * np.abs(eta) + MAX_Z * se)
    assert np.all(np.abs(ratio - 1) < 0.05 + MAX_Z * sd_se)


# --- against a hand-written numpyro model ---------------------------------------------


def _hand_written_poisson_nmf(x, observed, rank, rate):
    """X_ij ~ Poisson((U V^T)_ij) for observed (i, j), U, V ~ Exponential(rate): by hand."""
    n, m = x.shape
    U = numpyro.sample("U", dist.Exponential(rate).expand([n, rank]).to_event(2))
    V = numpyro.sample("V", dist.Exponential(rate).expand([m, rank]).to_event(2))
    numpyro.sample("obs", dist.Poisson((U @ V.T)[observed]).to_event(1), obs=x[observed])


@pytest.mark.slow  # ~10-30 s
def test_nuts_agrees_with_a_hand_written_numpyro_model(poisson_nmf):
    """Posterior mean and sd of every rate (U V^T)_ij: bf.sample vs NUTS on a model by hand.

    The reference is written directly with numpyro distributions (no bayesfactor code)
    and started from numpyro's default init_to_uniform, not the MAP. Rates are invariant
    to the order of components, so they are compared whatever labelling each side found;
    the missing entry (NaN) is predicted by both.
    """
    model, df, _, _, idata = poisson_nmf
    x = df.to_numpy()
    observed = ~np.isnan(x)
    rate = model.mode_priors(2)[0].rate
    mcmc = MCMC(
        NUTS(_hand_written_poisson_nmf), num_warmup=300, num_samples=700, progress_bar=False
    )
    mcmc.run(jax.random.key(8), np.nan_to_num(x), observed, 2, rate)
    draws = mcmc.get_samples(group_by_chain=True)
    reference = np.einsum("cdir,cdjr->cdij", np.asarray(draws["U"]), np.asarray(draws["V"]))
    diff, se, ratio, sd_se, ess = _compare_eta(_eta_draws(idata), reference)
    assert ess.min() > 100 and _ess(reference).min() > 100
    z = diff / se
    assert np.abs(z).max() < MAX_Z and np.sqrt(np.mean(z**2)) < 2.0
    assert np.all(np.abs(ratio - 1) < MAX_Z * sd_se)
    assert abs(np.median(ratio) - 1) < 0.1


# --- fixed modes: a Gaussian conditional in closed form ---------------------------------


@pytest.fixture(scope="module")
def gauss_fixed_v():
    """Gaussian(sigma) / Normal(tau), rank 2, V held fixed: each row of U is Gaussian.

    u_i | V, X ~ N(C V^T x_i / sigma^2, C), C = (V^T V / sigma^2 + I / tau^2)^{-1}.
    """
    rng = np.random.default_rng(21)
    sigma, tau, rank = 0.5, 1.0, 2
    V = rng.normal(size=(SHAPE[1], rank))
    X = rng.normal(size=(SHAPE[0], rank)) @ V.T + sigma * rng.normal(size=SHAPE)
    model = bf.Model(bf.Gaussian(sigma), rank, bf.Normal(tau))
    precision = V.T @ V / sigma**2 + np.eye(rank) / tau**2
    cov = np.linalg.inv(precision)
    mean = X @ V @ cov / sigma**2
    return model, X, V, mean, cov, precision


def test_laplace_with_a_fixed_mode_is_the_closed_form(gauss_fixed_v):
    """Exact there: centre = the ridge solution, and every draw is mean + C^{1/2} eps.

    laplace draws z = z_hat + A eps with A A^T = H^{-1}, eps ~ N(0, I) from its key; the
    closed form holds iff (u_s - mean)^T P (u_s - mean) = |eps_s|^2 for every draw s
    (P = kron(I, C^{-1})), which over 1000 draws pins down A^T P A = I entry by entry.
    """
    model, X, V, mean, cov, precision = gauss_fixed_v
    # No IdentifiabilityWarning: fixing V breaks the rotation (filterwarnings = error).
    fit = bf.fit(model, X, init=(None, V), fixed=(1,), tol=1e-12)
    np.testing.assert_allclose(fit.factors[0], mean, rtol=1e-10, atol=1e-12)
    num = 1000
    idata = bf.laplace(model, X, fit, fixed=(1,), num_samples=num, key=3)
    assert list(idata.posterior) == ["F0"] and list(idata.constant_data) == ["F1"]
    np.testing.assert_array_equal(idata.constant_data["F1"].values, V)
    u = idata.posterior["F0"].values[0]
    dev = u - mean
    mahalanobis = np.einsum("sir,rq,siq->s", dev, precision, dev)
    key = jax.random.split(as_key(3))[0]
    eps = np.asarray(jax.random.normal(key, (num, u[0].size), u.dtype))
    np.testing.assert_allclose(mahalanobis, np.sum(eps**2, axis=1), rtol=1e-6)
    # And, without the key: the moments within their Monte-Carlo error.
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(u.mean(0) - mean) < 5 * sd / np.sqrt(num))
    np.testing.assert_allclose(np.cov(dev.reshape(-1, 2).T), cov, atol=5 * cov.max() / np.sqrt(num))


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_nuts_with_a_fixed_mode_matches_the_closed_form(gauss_fixed_v):
    """Posterior mean of every u_ir and the 2 x 2 covariance of the rows, within MC error."""
    model, X, V, mean, cov, _ = gauss_fixed_v
    # init=(None, V): bf.sample fits the free mode itself (bf.fit with fixed=(1,)).
    idata = bf.sample(
        model, X, init=(None, V), fixed=(1,), num_chains=1, key=2, **dict(FAST, num_samples=800)
    )
    assert list(idata.posterior) == ["F0"]
    np.testing.assert_array_equal(idata.constant_data["F1"].values, V)
    assert int(idata.sample_stats["diverging"].sum()) == 0
    u = idata.posterior["F0"].values  # (chain, draw, n, rank)
    ess = _ess(u)
    assert ess.min() > 200
    z = (u.mean((0, 1)) - mean) / (u.std((0, 1)) / np.sqrt(ess))
    assert np.abs(z).max() < MAX_Z and np.sqrt(np.mean(z**2)) < 2.0
    # Covariance of a row, pooled over the 12 independent rows: S_ab = mean of
    # (u_a - mean_a)(u_b - mean_b); its SE from the variance and ESS of each product.
    dev = u - mean
    for a, b in ((0, 0), (1, 1), (0, 1)):
        prod = dev[..., a] * dev[..., b]  # (chain, draw, n)
        se = np.sqrt(np.sum(prod.var((0, 1)) / _ess(prod))) / prod.shape[-1]
        assert abs(prod.mean() - cov[a, b]) < MAX_Z * se, (a, b)
    # The predicted mean uses the constant V: E[X] = U V^T draw by draw.
    lower, upper = bf.predictive_interval(idata, model)
    ref = np.quantile(u @ V.T, [0.05, 0.95], axis=(0, 1))
    np.testing.assert_allclose(np.stack([lower, upper]), ref, rtol=1e-12)


# --- calibration and intervals --------------------------------------------------------


def _coverage(idata, eta, prob=0.9):
    lower, upper = np.quantile(_eta_draws(idata), [(1 - prob) / 2, (1 + prob) / 2], axis=(0, 1))
    return float(np.mean((lower <= eta) & (eta <= upper)))


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_credible_intervals_cover_truth_drawn_from_prior(gauss_prior):
    """90% intervals of eta cover ~90% of the true entries when the truth is a prior draw."""
    *_, eta, idata = gauss_prior
    assert 0.75 <= _coverage(idata, eta) <= 0.99


@pytest.mark.slow
def test_credible_intervals_are_calibrated_over_replicates():
    """Pooled over 10 datasets from the rank-2 prior, coverage of 90% intervals is 85-95%."""
    covered = []
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        factors = [rng.normal(size=(n, 2)) for n in SHAPE]
        eta = factors[0] @ factors[1].T
        X = eta + 0.5 * rng.normal(size=SHAPE)
        model = bf.Model(bf.Gaussian(0.5), 2, bf.Normal(1.0))
        with pytest.warns(IdentifiabilityWarning, match="rotation"):
            idata = bf.sample(model, X, init=_tight_fit(model, X), num_chains=1, key=seed, **FAST)
        covered.append(_coverage(idata, eta))
    assert 0.85 <= np.mean(covered) <= 0.95


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_predictive_interval(gauss_prior, poisson_nmf):
    model, X, eta, idata = gauss_prior
    lower, upper = bf.predictive_interval(idata, model, prob=0.9)
    assert lower.shape == upper.shape == X.shape
    assert np.all(lower <= upper)
    # Gaussian: E[X] = eta, so this is the equal-tailed interval of eta computed by hand.
    ref = np.quantile(_eta_draws(idata), [0.05, 0.95], axis=(0, 1))
    np.testing.assert_allclose(np.stack([lower, upper]), ref, rtol=1e-12)
    assert np.mean((lower <= eta) & (eta <= upper)) >= 0.75
    # KL-NMF: covers the planted Poisson rates, the NaN entry included.
    model, df, mu, _, idata = poisson_nmf
    lower, upper = bf.predictive_interval(idata, model, prob=0.9)
    assert lower.shape == df.shape and np.all(lower >= 0)
    assert np.mean((lower <= mu) & (mu <= upper)) >= 0.75
    assert np.all(bf.predictive_interval(idata, model, prob=0.5)[1] <= upper)


# --- alignment ------------------------------------------------------------------------


@pytest.mark.parametrize("flip", [(True, True, True), (True, False, True)])
def test_align_undoes_planted_permutations_and_paired_sign_flips(flip, rng):
    shape, rank, draws = (6, 5, 4), 3, (2, 25)
    ref = [rng.normal(size=(n, rank)) for n in shape]
    # Draws: the reference plus 1% noise, each draw's components permuted, and signs
    # flipped on the flippable modes with a product of +1 per component (eta unchanged).
    truth = [r + 0.01 * rng.normal(size=(*draws, *r.shape)) for r in ref]
    modes = [k for k in range(len(shape)) if flip[k]]
    signs = np.ones((len(shape), *draws, rank))
    for k in modes[:-1]:
        signs[k] = rng.choice([-1.0, 1.0], size=(*draws, rank))
    signs[modes[-1]] = np.prod(signs[modes[:-1]], axis=0)
    perms = np.stack([rng.permutation(rank) for _ in range(np.prod(draws))]).reshape(*draws, rank)
    scrambled = [
        np.take_along_axis(t, perms[..., None, :], axis=-1) * s[..., None, :]
        for t, s in zip(truth, signs, strict=True)
    ]
    assert not np.allclose(scrambled[0], truth[0])
    out = align(scrambled, ref, flip=flip, rescale=False)
    for o, t in zip(out, truth, strict=True):
        np.testing.assert_allclose(o, t, rtol=0, atol=1e-15)


def _scrambled(rng, ref, draws, spread=1.0):
    """Draws of ``ref``: per draw, components permuted, paired sign flips, and each
    component's scale moved between the modes by lognormal multipliers of product 1."""
    rank, n_modes = ref[0].shape[1], len(ref)
    log_c = spread * rng.normal(size=(n_modes, draws, rank))
    log_c -= log_c.mean(axis=0)  # product over modes 1: eta unchanged
    signs = rng.choice([-1.0, 1.0], size=(n_modes, draws, rank))
    signs[-1] = np.prod(signs[:-1], axis=0)
    perms = np.stack([rng.permutation(rank) for _ in range(draws)])
    return [
        np.take_along_axis(np.broadcast_to(r, (draws, *r.shape)), perms[:, None, :], axis=-1)
        * (s * np.exp(c))[:, None, :]
        for r, s, c in zip(ref, signs, log_c, strict=True)
    ]


def _cp(factors):
    letters = "abc"[: len(factors)]
    spec = ",".join(f"s{c}r" for c in letters) + "->s" + letters
    return np.einsum(spec, *factors)


def test_align_undoes_planted_scales(rng):
    """Permuted, sign-flipped draws whose scale moved between modes (by up to e^3) come
    back exactly as the reference; eta of every draw is unchanged."""
    ref = [rng.normal(size=(n, 3)) for n in (6, 5, 4)]
    scrambled = _scrambled(rng, ref, draws=40)
    assert np.abs(np.linalg.norm(scrambled[0], axis=1) - np.linalg.norm(ref[0], axis=0)).max() > 1
    out = align(scrambled, ref)
    for o, r in zip(out, ref, strict=True):
        np.testing.assert_allclose(o, np.broadcast_to(r, o.shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_cp(out), _cp(scrambled), rtol=1e-12, atol=1e-12)


def test_aligned_norms_are_the_references_times_one_factor(rng):
    """Noisy draws: per draw and component, norm_k / reference norm_k is the same for
    every mode (the scale moved between modes), and the CP product is unchanged."""
    ref = [np.abs(rng.normal(size=(n, 2))) + 0.5 for n in (7, 5)]
    noisy = [r + 0.2 * rng.normal(size=(30, *r.shape)) for r in ref]
    scrambled = [f * np.exp(c) for f, c in zip(noisy, [1.5, -1.5], strict=True)]
    out = align(scrambled, ref, flip=(False, False), permute=False)
    ratio = np.stack(
        [
            np.linalg.norm(o, axis=1) / np.linalg.norm(r, axis=0)
            for o, r in zip(out, ref, strict=True)
        ]
    )
    np.testing.assert_allclose(ratio[0], ratio[1], rtol=1e-12)
    assert np.abs(np.log(ratio)).max() < 0.3  # the planted e^{+-1.5} is gone
    np.testing.assert_allclose(_cp(out), _cp(scrambled), rtol=1e-12)
    # rescale=False keeps the planted scales; float32 draws stay float32.
    kept = align(scrambled, ref, flip=(False, False), permute=False, rescale=False)
    np.testing.assert_array_equal(kept[0], scrambled[0])
    assert align([f.astype(np.float32) for f in scrambled], ref)[0].dtype == np.float32


def test_align_rejects_mismatched_input(rng):
    ref = [rng.normal(size=(5, 2)), rng.normal(size=(4, 2))]
    with pytest.raises(ValueError, match="one entry per mode"):
        align([ref[0][None]], ref)
    with pytest.raises(ValueError, match="draws for mode 1 have shape"):
        align([ref[0][None], ref[1][None, :3]], ref)


def test_sampled_components_are_aligned_and_mix(poisson_nmf):
    """KL-NMF with Exponential priors is identified: R-hat < 1.1 for every factor entry."""
    _, _, _, fit, idata = poisson_nmf
    assert int(idata.sample_stats["diverging"].sum()) == 0
    rhat = az.rhat(idata)
    assert float(rhat["F0"].max()) < 1.1 and float(rhat["F1"].max()) < 1.1
    # Every chain's posterior mean is matched to the MAP's components, in order.
    for chain in range(2):
        means = [idata.posterior[f"F{k}"].isel(chain=chain).mean("draw").values for k in (0, 1)]
        assert bf.similarity(tuple(means), fit.factors) > 0.9
        for m, f in zip(means, fit.factors, strict=True):
            cos = (m / np.linalg.norm(m, axis=0)).T @ (f / np.linalg.norm(f, axis=0))
            assert np.all(np.argmax(cos, axis=1) == np.arange(2))


@pytest.mark.slow  # its fixture's two-chain NUTS run (~17 s; test_compare shares it)
def test_label_switched_chains_are_aligned(poisson_rank3):
    """Chains in different labellings: raw R-hat is large, aligned R-hat < 1.05."""
    model, X, fit, idata, raw = poisson_rank3
    assert int(idata.sample_stats["diverging"].sum()) == 0
    unaligned = az.rhat(az.convert_to_dataset(raw))
    assert float(unaligned["F0"].max()) > 1.5 and float(unaligned["F1"].max()) > 1.5
    aligned = az.rhat(idata)
    assert float(aligned["F0"].max()) < 1.05 and float(aligned["F1"].max()) < 1.05
    # The raw chain 1 did sit in the permuted labelling (the test is not vacuous) ...
    shift = np.array([1, 2, 0])
    for k in (0, 1):
        means = raw[f"F{k}"].mean(axis=1)
        f = np.asarray(fit.factors[k])
        assert np.abs(means[1] - f[:, shift]).max() < np.abs(means[1] - f).max() / 3
    # ... and the rates, which alignment must not change, are those of the raw draws.
    rates = np.einsum("cdir,cdjr->cdij", raw["F0"], raw["F1"])
    np.testing.assert_allclose(_eta_draws(idata), rates, rtol=1e-12)


def _inside_band(draws, f, prob=0.9):
    """Fraction of the entries of ``f`` inside the equal-tailed band of (chain, draw, ...) draws."""
    d = draws.reshape(-1, *f.shape)
    lower, upper = np.quantile(d, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return float(np.mean((lower <= f) & (f <= upper)))


def test_positive_map_entries_lie_inside_their_bands(poisson_nmf):
    """KL-NMF, rank 2: every MAP entry off the boundary is inside its 90 % band.

    The MAP puts some background loadings at exactly 0, the boundary of the support,
    below every (positive) draw: those are outside any band, rightly. The others are
    inside once the draws are on the MAP's scale (the scale between U and V is held
    only by the Exponential priors and the Jacobian of log F).
    """
    _, _, _, fit, idata = poisson_nmf
    for k, f in enumerate(fit.factors):
        positive = f > 1e-6 * f.max()
        assert positive.mean() > 0.5
        d = idata.posterior[f"F{k}"].values.reshape(-1, *f.shape)
        lower, upper = np.quantile(d, [0.05, 0.95], axis=0)
        assert np.mean(((lower <= f) & (f <= upper))[positive]) >= 0.95


@pytest.mark.slow
def test_map_lies_inside_its_own_band_after_scale_alignment():
    """A concentrated posterior (rates 20-80, 240 counts, rank 1): the MAP is inside its
    90 % band for >= 95 % of the entries of each factor, with bands of the aligned draws.

    Not vacuous: the raw draws sit on another scale (only the weak Exponential(0.1)
    prior and the Jacobian of log F, 30 against 8 entries, hold (u c, v / c); raw
    posterior median of sum(u) ~2.7x the MAP's, measured), so their bands miss the MAP.
    Aligning changes no rate: the aligned draws' products are the raw draws'.
    """
    rng = np.random.default_rng(0)
    W, H = rng.uniform(2, 4, (30, 1)), rng.uniform(10, 20, (8, 1))
    X = rng.poisson(W @ H.T).astype(float)
    model = bf.Model(bf.Poisson(link="identity"), 1, bf.Exponential(0.1))
    fit = bf.fit(model, X, tol=1e-8, max_iter=3000)
    recorder = _Recorder(None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nuts, "MCMC", recorder.mcmc)
        idata = bf.sample(model, X, init=fit, num_chains=1, key=0, **dict(FAST, num_warmup=200))
    raw = recorder.raw
    for k, f in enumerate(fit.factors):
        assert _inside_band(idata.posterior[f"F{k}"].values, f) >= 0.95
        assert _inside_band(raw[f"F{k}"], f) <= 0.5
    rates = np.einsum("cdir,cdjr->cdij", raw["F0"], raw["F1"])
    np.testing.assert_allclose(_eta_draws(idata), rates, rtol=1e-12)


# --- InferenceData layout -------------------------------------------------------------


def test_inference_data_layout_from_pandas(poisson_nmf):
    _, df, _, _, idata = poisson_nmf
    assert set(idata.groups()) == {
        "posterior",
        "posterior_predictive",
        "log_likelihood",
        "sample_stats",
        "observed_data",
    }
    assert idata.posterior["F0"].dims == ("chain", "draw", "neuron", "component")
    assert idata.posterior["F1"].dims == ("chain", "draw", "time", "component")
    assert list(idata.posterior["neuron"].values) == list(df.index)
    assert list(idata.posterior["time"].values) == list(df.columns)
    assert idata.posterior["F0"].shape == (2, 300, 12, 2)
    # Only the 119 observed entries, in C order, labelled by (neuron, time).
    observed = df.stack(future_stack=True).dropna()
    for group in ("log_likelihood", "observed_data", "posterior_predictive"):
        x = idata[group]["X"]
        assert x.dims[-1] == "observation" and x.shape[-1] == 119
        pairs = list(zip(x["neuron"].values, x["time"].values, strict=True))
        assert pairs == list(observed.index) and ("n2", "t3") not in pairs
    np.testing.assert_array_equal(idata.observed_data["X"].values, observed.values)
    stats_ = idata.sample_stats
    for name in ("diverging", "acceptance_rate", "n_steps", "energy", "lp", "step_size"):
        assert stats_[name].shape == (2, 300)
    assert np.all(np.isfinite(stats_["lp"].values)) and np.all(stats_["step_size"] > 0)


def test_log_likelihood_is_pointwise_poisson(poisson_nmf):
    """log_likelihood[c, d, o] = scipy's Poisson log-pmf of X_o at that draw's rate."""
    _, df, _, _, idata = poisson_nmf
    observed = ~np.isnan(df.to_numpy())
    rates = _eta_draws(idata)[:, :, observed]
    ref = stats.poisson.logpmf(df.to_numpy()[observed], rates)
    np.testing.assert_allclose(idata.log_likelihood["X"].values, ref, rtol=1e-10)


def test_posterior_predictive_has_poisson_noise(poisson_nmf):
    """Replicated counts: integers whose mean over draws is the mean rate, within Poisson SE."""
    _, df, _, _, idata = poisson_nmf
    x = idata.posterior_predictive["X"].values
    assert np.all(x >= 0) and np.all(x == np.round(x))
    rates = _eta_draws(idata)[:, :, ~np.isnan(df.to_numpy())]
    n = rates.shape[0] * rates.shape[1]
    # Given the rates, mean(x) - mean(rate) has variance mean(rate) / n, independently per entry.
    z = (x.mean((0, 1)) - rates.mean((0, 1))) / np.sqrt(rates.mean((0, 1)) / n)
    assert np.abs(z).max() < 5 and 0.7 < z.std() < 1.35


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_laplace_layout_from_xarray_with_mask_and_predictive(gauss_sharp):
    model, X, fit, *_ = gauss_sharp
    X = X.copy()
    X[0, 1] = np.nan
    mask = np.ones(SHAPE, bool)
    mask[4, 4] = mask[0, 1] = False
    genes, cells = [f"g{i}" for i in range(12)], np.arange(10) * 10
    da = xr.DataArray(X, dims=("gene", "cell"), coords={"gene": genes, "cell": cells})
    # The MAP of the full data: 2 fewer entries move it a little, the Hessian stays
    # positive definite (rank 1, no flat direction), and a refit would cost a compile.
    idata = bf.laplace(
        model, da, fit, mask=mask, num_samples=2000, key=5, posterior_predictive=True
    )
    assert "sample_stats" not in idata.groups()
    assert idata.posterior["F0"].dims == ("chain", "draw", "gene", "component")
    assert list(idata.posterior["gene"].values) == genes
    np.testing.assert_array_equal(idata.posterior["cell"].values, cells)
    observed = mask & ~np.isnan(X)
    for group in ("log_likelihood", "observed_data", "posterior_predictive"):
        assert idata[group]["X"].shape[-1] == observed.sum() == 118
    obs = idata.observed_data
    pairs = set(zip(obs["gene"].values, obs["cell"].values, strict=True))
    assert ("g0", 10) not in pairs and ("g4", 40) not in pairs and ("g0", 0) in pairs
    # Gaussian pointwise log-likelihood against scipy, and replicated data with noise sigma.
    eta = _eta_draws(idata)[:, :, observed]
    sigma = model.likelihood.scale
    ref = stats.norm.logpdf(X[observed], eta, sigma)
    np.testing.assert_allclose(idata.log_likelihood["X"].values, ref, rtol=1e-10)
    x = idata.posterior_predictive["X"].values
    z = (x.mean((0, 1)) - eta.mean((0, 1))) / (sigma / np.sqrt(2000))
    assert np.abs(z).max() < 5 and 0.75 < z.std() < 1.3
    plain = bf.laplace(model, da, fit, mask=mask, num_samples=2000, key=5)
    assert "posterior_predictive" not in plain.groups()


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_reserved_and_missing_dim_names_fall_back(gauss_sharp):
    model, X, fit, *_ = gauss_sharp
    df = pd.DataFrame(X)
    df.index.name = "observation"  # ArviZ's own dim: not usable
    idata = bf.laplace(model, df, fit, num_samples=10)
    assert idata.posterior["F0"].dims[2:] == ("mode0_index", "component")
    assert idata.posterior["F1"].dims[2:] == ("mode1_index", "component")


# --- model comparison -----------------------------------------------------------------


# ArviZ's Pareto-k and WAIC-variance notices are diagnostics (a 12 x 10 example, 600
# draws), not failures. arviz 0.23's compare calls DataFrame.sort_values(inplace=True),
# which pandas 3 deprecates (Pandas4Warning); arviz is pinned < 1 (STYLE "Decisions").
@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto:UserWarning")
@pytest.mark.filterwarnings("ignore:For one or more samples the posterior variance:UserWarning")
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.sort_values:Warning")
def test_loo_and_waic_run(poisson_nmf):
    *_, idata = poisson_nmf
    loo, waic = az.loo(idata, pointwise=True), az.waic(idata, pointwise=True)
    assert np.isfinite(loo.elpd_loo) and np.isfinite(waic.elpd_waic)
    assert loo.loo_i.shape == waic.waic_i.shape == (119,)
    # For a nearly Gaussian posterior elpd_loo ~ (best draw's log-likelihood) - p / 2,
    # with p ~ p_loo effective parameters: a scale or sign error in log_likelihood fails.
    best = float(idata.log_likelihood["X"].sum("observation").max())
    assert best - 3 * loo.p_loo < loo.elpd_loo < best


@pytest.mark.slow  # ~10-12 s
@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto:UserWarning")
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.sort_values:Warning")
def test_compare_prefers_the_planted_rank(poisson_rank3):
    """Counts simulated with rank 3: PSIS-LOO (az.loo via bf.compare) prefers rank 3 to 1."""
    model, X, _, rank3, _ = poisson_rank3
    rank1_model = bf.Model(model.likelihood, 1, model.priors)
    rank1 = bf.sample(rank1_model, X, init=_tight_fit(rank1_model, X), num_chains=1, **FAST)
    loo = az.loo(rank3)
    assert np.isfinite(loo.elpd_loo) and loo.n_data_points == X.size
    table = bf.compare({"rank 1": rank1, "rank 3": rank3})
    assert table.index[0] == "rank 3"
    assert table.loc["rank 1", "elpd_diff"] > 4 * table.loc["rank 1", "dse"]


# --- errors and warnings before any work ----------------------------------------------


class _Work(Exception):
    """Raised by a stand-in for the MAP fit: reaching it means the checks passed."""


@pytest.fixture
def no_work(monkeypatch):
    def fail(*args, **kwargs):
        raise _Work

    monkeypatch.setattr(nuts, "_fit_map", fail)
    monkeypatch.setattr(nuts, "MCMC", fail)


def test_discrete_prior_is_refused(no_work, rng):
    model = bf.Model(bf.Gaussian(), 2, (bf.OneHot(), bf.Flat()))
    X = rng.normal(size=SHAPE)
    with pytest.raises(ValueError, match="prior on mode 0 is OneHot.*discrete"):
        bf.sample(model, X)
    fit = (np.eye(12, 2), rng.normal(size=(10, 2)))
    with pytest.raises(ValueError, match="continuous factors"):
        bf.laplace(model, X, fit)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_samples": 0}, "num_samples must be an int >= 1; got 0"),
        ({"num_samples": 10.0}, "num_samples must be an int"),
        ({"num_samples": True}, "num_samples must be an int"),
        ({"num_warmup": -1}, "num_warmup must be an int >= 0"),
        ({"num_chains": 0}, "num_chains must be an int >= 1"),
        ({"chain_method": "threads"}, "chain_method must be one of"),
        ({"target_accept_prob": 1.0}, r"target_accept_prob must be in \(0, 1\)"),
        ({"init": (np.ones((12, 1)), np.ones((9, 1)))}, r"init factor 1 has shape \(9, 1\)"),
        ({"init": (np.ones((12, 1)), np.full((10, 1), np.nan))}, "non-finite"),
        ({"fixed": (1,)}, r"fixed=\(1,\) holds mode 1 at its init value, but init gives none"),
        ({"fixed": (1,), "init": (np.ones((12, 1)), None)}, "but init gives none"),
        ({"fixed": (2,)}, r"fixed must be a sequence of mode indices in 0..1"),
        ({"fixed": 1}, "fixed must be a sequence"),
        ({"fixed": (0, 1), "init": (np.ones((12, 1)), np.ones((10, 1)))}, "every mode"),
    ],
)
def test_sample_bad_settings(kwargs, match, no_work, rng):
    model = bf.Model(bf.Gaussian(), 1, bf.Normal(1.0))
    with pytest.raises(ValueError, match=match):
        bf.sample(model, rng.normal(size=SHAPE), **kwargs)


def test_sample_bad_types(no_work, rng):
    X = rng.normal(size=SHAPE)
    with pytest.raises(TypeError, match="model must be a bf.Model"):
        bf.sample("pca", X)
    model = bf.Model(bf.Gaussian(), 1, bf.Normal(1.0))
    with pytest.raises(TypeError, match="init must be a FitResult or a tuple of 2"):
        bf.sample(model, X, init=np.ones((12, 1)))
    with pytest.raises(ValueError, match="Poisson data must be non-negative"):
        bf.sample(bf.Model(bf.Poisson(), 1, bf.Normal(1.0)), X)
    with pytest.raises(TypeError, match="posterior_predictive must be True or False"):
        bf.sample(model, X, posterior_predictive="yes")
    with pytest.raises(TypeError, match="posterior_predictive must be True or False"):
        bf.laplace(model, X, (np.ones((12, 1)), np.ones((10, 1))), posterior_predictive=1)


def test_identifiability_warnings_come_first_and_point_at_the_caller(no_work, rng):
    X = rng.normal(size=SHAPE)
    rotation = bf.Model(bf.Gaussian(), 2, bf.Normal(1.0))
    with pytest.warns(IdentifiabilityWarning, match="rotation symmetry") as record:
        with pytest.raises(_Work):
            bf.sample(rotation, X)
    assert record[0].filename == __file__
    with pytest.warns(IdentifiabilityWarning, match="posterior is improper"):
        with pytest.warns(IdentifiabilityWarning, match="rotation symmetry"):
            with pytest.raises(_Work):
                bf.sample(bf.Model(bf.Gaussian(), 2, bf.Flat()), X)
    # Rank 1, or sparse priors: no warning (filterwarnings = error would raise).
    for model in (
        bf.Model(bf.Gaussian(), 1, bf.Normal(1.0)),
        bf.Model(bf.Gaussian(), 2, bf.Laplace(1.0)),
    ):
        with pytest.raises(_Work):
            bf.sample(model, X)
    # A fixed mode breaks the rotation (U Q, V Q) and the scale (U c, V / c): no warning,
    # whether sample fits the free mode (init=(None, V)) or starts from a full init.
    V = rng.normal(size=(10, 2))
    for model in (rotation, bf.Model(bf.Gaussian(), 2, bf.Flat())):
        with pytest.raises(_Work):
            bf.sample(model, X, init=(None, V), fixed=(1,))
    # ... but two flat free modes of a tensor keep their scale symmetry.
    tensor = rng.normal(size=(4, 3, 2))
    init = (None, None, rng.normal(size=(2, 2)))
    with pytest.warns(IdentifiabilityWarning, match=r"mode\(s\) \[0, 1\].*improper"):
        with pytest.raises(_Work):
            bf.sample(bf.Model(bf.Gaussian(), 2, bf.Flat()), tensor, init=init, fixed=(2,))


def test_laplace_fixed_errors(rng):
    X = rng.normal(size=SHAPE)
    model = bf.Model(bf.Gaussian(), 1, bf.Normal(1.0))
    fit = (np.ones((12, 1)), np.ones((10, 1)))
    with pytest.raises(ValueError, match="fixed must be a sequence of mode indices"):
        bf.laplace(model, X, fit, fixed=(-1,))
    with pytest.raises(ValueError, match="every mode"):
        bf.laplace(model, X, fit, fixed=(0, 1))
    # Only the free mode counts against max_parameters: 12 entries, not 22.
    with pytest.raises(ValueError, match="all 12 factor entries"):
        bf.laplace(model, X, fit, fixed=(1,), max_parameters=11)


def test_laplace_refusals(rng):
    X = rng.normal(size=SHAPE)
    model = bf.Model(bf.Gaussian(), 2, bf.Normal(1.0))
    fit = (rng.normal(size=(12, 2)), rng.normal(size=(10, 2)))
    with pytest.raises(ValueError, match="all 44 factor entries.*max_parameters=40"):
        bf.laplace(model, X, fit, max_parameters=40)
    sparse = bf.Model(bf.Gaussian(), 2, bf.Exponential(1.0))
    fit = (np.abs(fit[0]), np.abs(fit[1]))
    fit[0][3, 1] = 0.0
    with pytest.raises(ValueError, match="1 entries of factor 0 are exactly 0"):
        bf.laplace(sparse, np.abs(X), fit)
    with pytest.raises(ValueError, match="fit factor 1 has shape"):
        bf.laplace(model, X, (fit[0], fit[1][:5]))
    with pytest.raises(ValueError, match="negative eigenvalue"):  # a saddle, not a minimum
        bf.laplace(
            bf.Model(bf.Gaussian(), 1, bf.Normal(1.0)),
            X,
            (np.zeros((12, 1)) + 1e-3, np.zeros((10, 1)) + 1e-3),
        )


def _rotation_tangents(factors):
    """Unit tangents (U A, V A) of the rotations (U Q, V Q), one per antisymmetric A."""
    u, v = (np.asarray(f) for f in factors)
    rank, out = u.shape[1], []
    for a in range(rank):
        for b in range(a + 1, rank):
            gen = np.zeros((rank, rank))
            gen[a, b], gen[b, a] = 1.0, -1.0
            t = np.concatenate([(u @ gen).ravel(), (v @ gen).ravel()])
            out.append(t / np.linalg.norm(t))
    return np.stack(out)


@pytest.mark.parametrize("rank", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_laplace_flat_directions_are_the_rotations(rank, rng):
    """Gaussian + Normal: rank (rank - 1) / 2 zero eigenvalues of the Hessian at the MAP.

    That is the dimension of the rotation group O(rank) acting on (U Q, V Q); the draws
    do not move along those directions. The MAP is also perturbed by 1e-6: its gradient
    then gives the rotations a curvature of either sign (~1e-3, far above the Hessian's
    rounding), which must still count as flat, not as "not a local minimum".
    """
    factors, eta = planted(rng, SHAPE, rank)
    X = eta + 0.1 * rng.normal(size=SHAPE)
    model = bf.Model(bf.Gaussian(0.1), rank, bf.Normal(1.0))
    fit = bf.fit(model, X, tol=1e-8, max_iter=3000)
    flat = rank * (rank - 1) // 2
    for perturbation in (0.0, 1e-6, 1e-6, 1e-6):
        init = tuple(np.asarray(f) + perturbation * rng.normal(size=f.shape) for f in fit.factors)
        with pytest.warns(IdentifiabilityWarning) as record:
            idata = bf.laplace(model, X, init, num_samples=200, rescale=False)
        messages = [str(w.message) for w in record]
        assert any("rotation symmetry" in m for m in messages)
        size = rank * sum(SHAPE)
        assert any(f"has {flat} of {size} eigenvalues near zero" in m for m in messages)
        moves = np.concatenate(
            [(idata.posterior[f"F{k}"].values[0] - f).reshape(200, -1) for k, f in enumerate(init)],
            axis=1,
        )
        along = moves @ _rotation_tangents(init).T
        # Not exactly 0: off the exact MAP the flat eigenvectors tilt by ~|g| / gap ~ 1e-4.
        assert np.abs(along).max() < 1e-2 * np.linalg.norm(moves, axis=1).min()


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_predictive_interval_errors(gauss_prior):
    model, _, _, idata = gauss_prior
    with pytest.raises(ValueError, match="prob must be a number in"):
        bf.predictive_interval(idata, model, prob=1.0)
    with pytest.raises(TypeError, match="InferenceData returned by bf.sample"):
        bf.predictive_interval(object(), model)
    with pytest.raises(ValueError, match="idata has 1 components but model.rank=2"):
        bf.predictive_interval(idata, bf.Model(bf.Gaussian(), 2, bf.Normal(1.0)))


# --- intercepts and Estimated likelihood parameters -----------------------------------


def _gauss_extras_model(tau=1.0):
    lik = bf.Gaussian(bf.Estimated(value=1.0, concentration=3.0, rate=1.0))
    return bf.Model(lik, 1, bf.Normal(tau), intercepts=("columns",))


def test_numpyro_density_with_intercepts_and_an_estimated_scale_is_scipys(rng):
    """log p(U, V, b, sigma | X) by scipy: the scale's site is sigma, with the Jacobian."""
    model = _gauss_extras_model(tau=1.5)
    x = rng.normal(size=(6, 4))
    mask = rng.random(x.shape) > 0.2
    u, v, b, sigma = rng.normal(size=(6, 1)), rng.normal(size=(4, 1)), rng.normal(size=4), 0.7
    params = {"F0": u, "F1": v, "intercept1": b, "scale": sigma}
    lp = log_density(numpyro_model, (model, x, mask), {}, params)[0]
    mu = u @ v.T + b[None, :]
    expected = (
        stats.norm.logpdf(x, mu, sigma)[mask].sum()
        + stats.norm.logpdf(u, 0, 1.5).sum()
        + stats.norm.logpdf(v, 0, 1.5).sum()
        + stats.invgamma.logpdf(sigma**2, 3.0, scale=1.0)
        + np.log(2 * sigma)  # d(sigma^2) / d(sigma)
    )
    assert float(lp) == pytest.approx(expected, rel=1e-10)


def _hand_written_gaussian_with_intercepts(x, tau, a, b):
    """X_ij ~ N(u_i v_j + c_j, sigma), u, v ~ N(0, tau), c flat, sigma^2 ~ InvGamma(a, b)."""
    n, m = x.shape
    u = numpyro.sample("u", dist.Normal(0, tau).expand([n, 1]).to_event(2))
    v = numpyro.sample("v", dist.Normal(0, tau).expand([m, 1]).to_event(2))
    c = numpyro.sample("c", dist.ImproperUniform(dist.constraints.real, (), (m,)))
    var = numpyro.sample("var", dist.InverseGamma(a, b))
    numpyro.sample("obs", dist.Normal(u @ v.T + c[None, :], jnp.sqrt(var)).to_event(2), obs=x)


@pytest.mark.slow  # ~30 s of NUTS
def test_nuts_samples_intercepts_and_scale_like_a_hand_written_model():
    """Posterior of sigma and of the means u v^T + c: bf.sample vs NUTS on a model by hand."""
    rng = np.random.default_rng(5)
    model = _gauss_extras_model()
    x = rng.normal(size=(SHAPE[0], 1)) @ rng.normal(size=(1, SHAPE[1])) + 3.0
    x = x + rng.normal(size=SHAPE[1]) + 0.5 * rng.normal(size=SHAPE)
    fit = _tight_fit(model, x)
    idata = bf.sample(
        model, x, init=fit, key=4, num_warmup=300, num_samples=700, progress_bar=False
    )
    assert set(idata.posterior.data_vars) == {"F0", "F1", "intercept1", "scale"}
    assert idata.posterior["intercept1"].dims == ("chain", "draw", "mode1_index")
    start = {
        "u": fit.factors[0],
        "v": fit.factors[1],
        "c": fit.intercepts[0],
        "var": fit.model.likelihood.scale.value**2,
    }
    mcmc = MCMC(
        NUTS(_hand_written_gaussian_with_intercepts, init_strategy=init_to_value(values=start)),
        num_warmup=300,
        num_samples=700,
        num_chains=2,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(9), x, 1.0, 3.0, 1.0)
    draws = mcmc.get_samples(group_by_chain=True)
    reference = np.einsum("cdir,cdjr->cdij", np.asarray(draws["u"]), np.asarray(draws["v"]))
    reference = reference + np.asarray(draws["c"])[:, :, None, :]
    ours = _eta_draws(idata) + idata.posterior["intercept1"].values[:, :, None, :]
    diff, se, ratio, sd_se, ess = _compare_eta(ours, reference)
    z = diff / se
    assert np.abs(z).max() < MAX_Z and np.sqrt(np.mean(z**2)) < 2.0
    assert abs(np.median(ratio) - 1) < 0.1
    sigma_ours = idata.posterior["scale"].values
    sigma_ref = np.sqrt(np.asarray(draws["var"]))
    se_sigma = np.hypot(
        sigma_ours.std() / np.sqrt(_ess(sigma_ours)), sigma_ref.std() / np.sqrt(_ess(sigma_ref))
    )
    assert abs(sigma_ours.mean() - sigma_ref.mean()) < MAX_Z * se_sigma
    # The log-likelihood group uses each draw's own scale and intercepts.
    s, d = 1, 17
    mu = ours[s, d]
    expected = stats.norm.logpdf(x, mu, sigma_ours[s, d]).reshape(-1)
    np.testing.assert_allclose(idata.log_likelihood["X"].values[s, d], expected, rtol=1e-6)
    # predictive_interval adds each draw's intercepts (the test's own sums as reference).
    lower, upper = bf.predictive_interval(idata, model, prob=0.9)
    flat = ours.reshape(-1, *SHAPE)
    np.testing.assert_allclose(lower, np.quantile(flat, 0.05, axis=0), rtol=1e-6)
    np.testing.assert_allclose(upper, np.quantile(flat, 0.95, axis=0), rtol=1e-6)


def test_laplace_refuses_intercepts_and_estimated_scales(rng):
    model = _gauss_extras_model()
    x = rng.normal(size=SHAPE)
    with pytest.raises(ValueError, match="bf.sample"):
        bf.laplace(model, x, (np.ones((SHAPE[0], 1)), np.ones((SHAPE[1], 1))))


def test_chains_start_near_the_map_but_apart():
    # Each chain's start: the MAP plus Uniform(-2, 2) on the unconstrained scale
    # (log for a positive factor), drawn with the chain's own key.
    import jax
    from numpyro.infer.util import initialize_model

    from bayesfactor.sampling import INIT_RADIUS, numpyro_model
    from bayesfactor.sampling.nuts import _init_near

    model = bf.Model(bf.Poisson(link="identity"), 2, bf.Exponential(1.0))
    x = np.random.default_rng(0).poisson(2.0, size=(6, 5)).astype(float)
    center = {"F0": np.full((6, 2), 0.5), "F1": np.full((5, 2), 2.0)}
    strategy = functools.partial(_init_near, values=center, radius=INIT_RADIUS)
    starts = []
    for seed in (0, 1):
        info = initialize_model(
            jax.random.key(seed),
            numpyro_model,
            model_args=(model, x, np.ones(x.shape, bool)),
            init_strategy=strategy,
        )[0]
        starts.append({k: np.asarray(v) for k, v in info.z.items()})  # unconstrained
    for name, value in center.items():
        for z in starts:
            offset = z[name] - np.log(value)
            assert np.all(np.abs(offset) <= INIT_RADIUS) and offset.std() > 0.5
        assert not np.allclose(starts[0][name], starts[1][name])


# --- non-integer counts -----------------------------------------------------------------


def test_non_integer_counts_warn_where_the_pmf_is_used(no_work, rng):
    """Poisson's pmf needs integers: bf.sample / bf.laplace warn (before any work)."""
    model = bf.Model(bf.Poisson(link="identity"), 2, bf.Exponential(1.0))
    X = rng.gamma(2.0, size=SHAPE)  # real, non-negative: legitimate for KL-NMF
    for method in (bf.sample, functools.partial(bf.laplace, fit=None)):
        with pytest.warns(bf.DataWarning, match=r"Poisson pmf needs integer counts.*np\.round"):
            with pytest.raises((_Work, ValueError, TypeError)):
                method(model, X)
