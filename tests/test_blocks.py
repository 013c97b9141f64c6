"""Mixed data types (bf.Blocks): shared factors, per-block densities, dtype inference."""

import warnings

import jax
import numpy as np
import pandas as pd
import pytest
from cases import assert_monotone
from scipy import stats

import bayesfactor as bf
from bayesfactor.solvers import program

LIKS = {
    "counts": bf.Poisson(),
    "binary": bf.Bernoulli(),
    "real": bf.Gaussian(0.5),
    "angle": bf.VonMises(4.0),
}


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        return bf.fit(*args, **kwargs)


def _draw(rng, name, e):
    if name == "counts":
        return rng.poisson(np.exp(e))
    if name == "binary":
        return rng.random(e.shape) < 1 / (1 + np.exp(-e))
    if name == "real":
        return e + 0.5 * rng.normal(size=e.shape)
    return np.angle(np.exp(1j * (e + rng.vonmises(0.0, 4.0, e.shape))))


def _mixed(rng, n=150, per_block=15, rank=3):
    # Sparse non-negative row factors: identifiable (no rotation freedom) under
    # non-negative priors, so similarity measures recovery.
    u = rng.exponential(size=(n, rank)) * (rng.random((n, rank)) < 0.5)
    v = rng.normal(size=(4 * per_block, rank)) * 0.7
    eta = u @ v.T
    blocks, x = {}, np.empty_like(eta)
    for b, (name, lik) in enumerate(LIKS.items()):
        cols = slice(b * per_block, (b + 1) * per_block)
        blocks[name] = (cols, lik)
        x[:, cols] = _draw(rng, name, eta[:, cols])
    return bf.Blocks(blocks, mode=1), x, u


@pytest.mark.slow  # over 10 s
def test_mixed_table_recovers_the_shared_factors_better_than_one_likelihood():
    rng = np.random.default_rng(0)
    blocks, x, u = _mixed(rng)
    priors = (bf.Exponential(1.0), bf.Normal(1.0))
    mixed = _fit(bf.Model(blocks, 3, priors), x, restarts=3, max_iter=1000)
    ours = bf.similarity((mixed.factors[0],), (u,))
    # The single likelihoods that accept every column (counts, 0/1, reals, angles).
    singles = {
        "Gaussian": bf.Gaussian(x.std()),
        "Gaussian, estimated scale": bf.Gaussian(bf.Estimated(value=x.std())),
        "Laplace, estimated scale": bf.LaplaceLikelihood(bf.Estimated()),
    }
    for name, lik in singles.items():
        single = _fit(bf.Model(lik, 3, priors), x, restarts=3, max_iter=1000)
        theirs = bf.similarity((single.factors[0],), (u,))
        print(f"similarity to the planted row factors: mixed {ours:.3f}, {name} {theirs:.3f}")
        assert ours > 0.9 and ours > theirs + 0.05, (name, ours, theirs)


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_block_densities_are_each_likelihoods_own(rng):
    blocks, x, _ = _mixed(rng, n=6, per_block=2)
    eta = rng.normal(size=x.shape)
    lp = np.asarray(blocks.log_prob(x, eta))
    np.testing.assert_allclose(lp[:, 0:2], stats.poisson.logpmf(x[:, 0:2], np.exp(eta[:, 0:2])))
    np.testing.assert_allclose(
        lp[:, 2:4], stats.bernoulli.logpmf(x[:, 2:4], 1 / (1 + np.exp(-eta[:, 2:4])))
    )
    np.testing.assert_allclose(lp[:, 4:6], stats.norm.logpdf(x[:, 4:6], eta[:, 4:6], 0.5))
    np.testing.assert_allclose(lp[:, 6:8], stats.vonmises.logpdf(x[:, 6:8], 4.0, eta[:, 6:8]))
    # The numpyro distribution agrees, and samples each block from its own family.
    np.testing.assert_allclose(np.asarray(blocks.distribution(eta).log_prob(x)), lp, rtol=1e-6)
    import jax

    draw = np.asarray(blocks.distribution(eta).sample(jax.random.key(0)))
    assert (draw[:, 0:2] == np.round(draw[:, 0:2])).all() and (draw[:, 0:2] >= 0).all()
    assert set(np.unique(draw[:, 2:4])) <= {0.0, 1.0}
    assert (np.abs(draw[:, 6:8]) <= np.pi).all()


@pytest.mark.slow  # ~10-12 s
def test_mixed_fit_with_missing_entries_descends(rng):
    blocks, x, _ = _mixed(rng, n=40, per_block=5)
    x[rng.random(x.shape) < 0.2] = np.nan
    result = _fit(bf.Model(blocks, 2, bf.Normal(1.0)), x, max_iter=200)
    assert_monotone(result.history)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        table = bf.cross_validate(bf.Model(blocks, 2, bf.Normal(1.0)), x, max_iter=50)
    assert np.isfinite(table["test_log_likelihood"]).all()


def test_dataframe_dtypes_choose_the_likelihoods(rng):
    frame = pd.DataFrame(
        {
            "lick": rng.random(60) < 0.3,
            "spikes": rng.poisson(2.0, 60),
            "speed": rng.normal(5.0, 2.0, 60),
            "heading": rng.uniform(-np.pi, np.pi, 60),
        }
    )
    blocks = bf.Blocks.infer(frame, overrides={"heading": bf.VonMises(1.0)})
    chosen = dict(zip(frame.columns, blocks.table()["likelihood"], strict=True))
    assert chosen["lick"] == "Bernoulli()" and chosen["spikes"] == "Poisson(link='log')"
    assert chosen["speed"].startswith("Gaussian(scale=") and chosen["heading"].startswith(
        "VonMises"
    )
    assert blocks.likelihoods[blocks.names.index("speed")].scale == pytest.approx(
        frame["speed"].std(ddof=0)
    )
    result = _fit(bf.Model(blocks, 2, bf.Normal(1.0)), frame.astype(float), max_iter=100)
    assert result.predict().shape == (60, 4)


def test_block_errors_name_the_block(monkeypatch):
    monkeypatch.setattr(program, "fit_program", lambda *a, **k: pytest.fail("compiled too early"))
    blocks = bf.Blocks({"counts": ([0, 1], bf.Poisson()), "real": ([2], bf.Gaussian())})
    with pytest.raises(ValueError, match="block 'counts': .*negative"):
        bf.fit(bf.Model(blocks, 1), np.array([[1.0, -1.0, 0.5], [0.0, 2.0, 1.0]]))
    with pytest.raises(ValueError, match="cover 3 indices along mode 1"):
        bf.fit(bf.Model(blocks, 1), np.ones((2, 4)))
    with pytest.raises(ValueError, match="also in block 'a'"):
        bf.Blocks({"a": ([0, 1], bf.Poisson()), "b": ([1], bf.Gaussian())})
    with pytest.raises(ValueError, match=r"indices \[1\] along mode 1 belong to no block"):
        bf.Blocks({"a": ([0, 2], bf.Poisson())})
    with pytest.raises(TypeError, match="only bool, integer and float"):
        bf.Blocks.infer(pd.DataFrame({"name": ["a", "b"]}))


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_a_dataframe_fits_with_only_a_rank_and_reports_the_choice():
    rng = np.random.default_rng(1)
    n = 200
    eta = rng.normal(size=(n, 2)) @ (0.7 * rng.normal(size=(2, 6)))
    frame = pd.DataFrame(
        {
            "spikes0": rng.poisson(np.exp(eta[:, 0] + 1.0)),
            "spikes1": rng.poisson(np.exp(eta[:, 1] + 1.0)),
            "lick0": rng.random(n) < 1 / (1 + np.exp(-eta[:, 2])),
            "lick1": rng.random(n) < 1 / (1 + np.exp(-eta[:, 3])),
            "speed0": 20 + 5 * eta[:, 4] + 3 * rng.normal(size=n),
            "speed1": 20 + 5 * eta[:, 5] + 3 * rng.normal(size=n),
        }
    )
    fit = _fit(bf.Model(rank=2), frame, max_iter=3000)
    table = fit.model.likelihood.table()
    assert list(table.index) == list(frame.columns)
    assert list(table["block"]) == ["counts", "counts", "binary", "binary", "speed0", "speed1"]
    assert table.loc["lick1", "likelihood"] == "Bernoulli()"
    assert table.loc["speed0", "likelihood"].startswith("Gaussian(scale=")
    # GLRM defaults: a column intercept (here the planted baselines) and Normal priors.
    assert fit.model.intercepts == (1,) and fit.model.priors == bf.Normal(1.0)
    # (Up to the factors' share: the row factors' mean is shrunk to 0, not exactly 0.)
    np.testing.assert_allclose(fit.intercepts[0][[0, 1]], 1.0, atol=0.5)
    np.testing.assert_allclose(fit.intercepts[0][[4, 5]], 20.0, rtol=0.1)
    assert np.isfinite(np.asarray(fit.predict())).all() and fit.predict().shape == frame.shape


def test_auto_likelihood_of_a_plain_array_is_one_likelihood():
    counts = np.random.default_rng(0).poisson(2.0, size=(30, 8))
    fit = _fit(bf.Model(rank=1), counts)
    assert fit.model.likelihood == bf.Poisson()
    with pytest.raises(TypeError, match="needs a rank"):
        bf.Model(bf.Gaussian())


@pytest.mark.slow  # ~10-30 s
def test_cross_validate_scores_each_block_with_its_own_error():
    rng = np.random.default_rng(0)
    blocks, x, _ = _mixed(rng, n=60, per_block=5)
    model = bf.Model(blocks, 2, (bf.Exponential(1.0), bf.Normal(1.0)))
    test = np.random.default_rng(1).random(x.shape) < 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        cv = bf.cross_validate(model, x, holdout=test, key=0, max_iter=200)
    assert {"test_deviance_counts", "test_accuracy_binary", "test_mse_real"} <= set(cv.columns)
    assert "test_circular_error_angle" in cv.columns
    # Independent recomputation of two blocks' held-out scores from the same fit
    # (cross_validate's fold key: the second half of key 0, split per fold).
    fold_key = jax.random.split(jax.random.split(jax.random.key(0))[1], 1)[0]
    fit = _fit(model, x, mask=~test, key=fold_key, max_iter=200)
    assert fit.objective == pytest.approx(cv["objective"].iloc[0])
    mu = fit.predict()
    binary = test[:, 5:10]
    accuracy = np.mean((mu[:, 5:10][binary] > 0.5) == (x[:, 5:10][binary] == 1))
    lp = stats.norm.logpdf(x[:, 10:15], mu[:, 10:15], 0.5)[test[:, 10:15]].mean()
    assert cv["test_accuracy_binary"].iloc[0] == pytest.approx(accuracy)
    assert cv["test_log_likelihood_real"].iloc[0] == pytest.approx(lp, rel=1e-6)
