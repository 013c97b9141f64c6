"""Model comparison against independent references: Eckart–Young, scikit-learn, scipy,
brute-force matching, and recovery of planted structure."""

import itertools
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import made_up_fit, planted
from scipy import special, stats
from sklearn.linear_model import PoissonRegressor
from sklearn.metrics import accuracy_score, mean_poisson_deviance, mean_squared_error

import bayesfactor as bf
from bayesfactor.selection import score

#: One max_iter everywhere: it is static in the compiled fit, so programs are shared.
MAX_ITER = 300
NOISE = 0.3


def _quiet(fn, *args, **kwargs):
    """Call ``fn`` ignoring ConvergenceWarning only (every other warning still fails)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        return fn(*args, **kwargs)


def _svd_bound(x, rank):
    """Eckart–Young: least mean squared error of any rank-r matrix, from numpy's SVD."""
    s = np.linalg.svd(x, compute_uv=False)
    return np.sum(s[rank:] ** 2) / x.size


@pytest.fixture(scope="module")
def gaussian_x():
    rng = np.random.default_rng(0)
    _, eta = planted(rng, (40, 30), 3)
    return eta + NOISE * rng.normal(size=eta.shape)


@pytest.fixture(scope="module")
def gaussian_cv(gaussian_x):
    model = bf.Model(bf.Gaussian(), 3, bf.Flat())
    return bf.cross_validate(
        model, gaussian_x, ranks=[1, 3, 4, 8], holdout=0.2, folds=3, key=0, max_iter=MAX_ITER,
        tol=1e-5,  # rank 8 under flat priors with 20 % held out converges slowly
    )  # fmt: skip


# --- holdout masks ------------------------------------------------------------------------


def test_five_folds_of_a_fifth_partition_the_observed_entries():
    x = np.zeros((40, 30))
    x[:1, :7] = np.nan  # 1193 observed entries: 5 does not divide them
    observed = ~np.isnan(x)
    masks = bf.holdout_masks(x, 0.2, folds=5, key=3)
    assert masks.shape == (5, 40, 30) and masks.dtype == np.bool_
    # Every observed entry held out exactly once, a missing one never.
    np.testing.assert_array_equal(masks.sum(axis=0), observed.astype(int))
    sizes = masks.sum(axis=(1, 2))
    assert set(sizes.tolist()) <= {1193 // 5, 1193 // 5 + 1}


def test_speckled_fraction_and_disjoint_folds():
    x = np.ones((20, 15))
    x[3, :] = np.nan
    masks = bf.holdout_masks(x, 0.3, folds=3, key=0)
    n_observed = 20 * 15 - 15
    np.testing.assert_array_equal(masks.sum(axis=(1, 2)), round(0.3 * n_observed))
    assert masks.sum(axis=0).max() == 1  # disjoint
    assert not masks[:, 3, :].any()  # missing entries never held out
    # A fourth fold starts a new pass: still 30 % of the entries.
    more = bf.holdout_masks(x, 0.3, folds=4, key=0)
    assert more[3].sum() == round(0.3 * n_observed)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_rows_scheme_keeps_training_entries_in_every_slice(axis):
    x = np.ones((40, 30))
    x[5, 2] = np.nan
    observed = ~np.isnan(x)
    masks = bf.holdout_masks(x, 0.2, folds=3, scheme="rows", axis=axis, key=1)
    for m in masks:
        assert not (m & ~observed).any()
        train = observed & ~m
        assert train.any(axis=1).all() and train.any(axis=0).all()
        assert abs(m.sum() / observed.sum() - 0.2) < 0.02
        # Held-out entries lie in 2 * 0.2 of the slices along `axis`.
        other = 1 if axis % 2 == 0 else 0
        touched = m.any(axis=other).sum()
        assert touched == round(0.4 * x.shape[axis])


def test_same_key_same_masks():
    x = np.zeros((12, 10))
    a = bf.holdout_masks(x, 0.1, folds=2, key=7)
    np.testing.assert_array_equal(a, bf.holdout_masks(x, 0.1, folds=2, key=7))
    assert (a != bf.holdout_masks(x, 0.1, folds=2, key=8)).any()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"holdout": 0}, "holdout=0 must be the fraction of observed entries held out"),
        ({"holdout": 1.5}, "a number in (0, 1) such as holdout=0.1"),
        ({"holdout": True}, "holdout=True must be"),
        ({"scheme": "blocks"}, "scheme='blocks' is not a holdout scheme; use one of"),
        ({"scheme": "rows", "axis": 2}, "axis=2 is not a mode of X (ndim=2); use 0 .. 1"),
        ({"axis": 0.5}, "axis=0.5 is not a mode of X"),
        ({"folds": 0}, "folds must be a positive int; got folds=0"),
        ({"holdout": 0.001}, "holds out 0; at least 1 must be held out"),
    ],
)
def test_holdout_masks_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        bf.holdout_masks(np.zeros((6, 5)), **kwargs)


def test_rows_scheme_refuses_to_empty_a_slice():
    # A row with one observed entry would lose it: its factor row could not be fitted.
    x = np.ones((6, 5))
    x[:, 1:] = np.nan
    x[0, 1:] = 1.0
    with pytest.raises(ValueError, match="holds out every observed entry of index"):
        bf.holdout_masks(x, 0.45, scheme="rows", key=0)


# --- scores against scipy / scikit-learn ----------------------------------------------


def _angle(x):
    return np.angle(np.exp(1j * x))


@pytest.mark.parametrize(
    ("likelihood", "priors", "data", "mean", "reference"),
    [
        (
            bf.Gaussian(scale=0.7),
            bf.Flat(),
            lambda rng, mu: mu + 0.7 * rng.normal(size=mu.shape),
            lambda eta: eta,
            lambda x, mu: (
                "mse",
                mean_squared_error(x, mu),
                stats.norm.logpdf(x, mu, 0.7),
            ),
        ),
        (
            bf.Poisson(),
            bf.Normal(1.0),
            lambda rng, mu: rng.poisson(mu).astype(float),
            np.exp,
            lambda x, mu: (
                "deviance",
                mean_poisson_deviance(x, mu),
                stats.poisson.logpmf(x, mu),
            ),
        ),
        (
            bf.Bernoulli(),
            bf.Normal(1.0),
            lambda rng, mu: (rng.random(mu.shape) < mu).astype(float),
            special.expit,
            lambda x, mu: (
                "accuracy",
                accuracy_score(x, mu > 0.5),
                stats.bernoulli.logpmf(x, mu),
            ),
        ),
        (
            bf.VonMises(concentration=2.0),
            bf.Flat(),
            lambda rng, mu: _angle(mu + stats.vonmises.rvs(2.0, size=mu.shape, random_state=rng)),
            lambda eta: eta,
            lambda x, mu: (
                "circular_error",
                np.mean(1 - np.cos(x - mu)),
                stats.vonmises.logpdf(x, 2.0, loc=mu),
            ),
        ),
    ],
    ids=["gaussian", "poisson", "bernoulli", "vonmises"],
)
def test_score_matches_scipy_and_sklearn(rng, likelihood, priors, data, mean, reference):
    u, v = 0.5 * rng.normal(size=(12, 2)), 0.5 * rng.normal(size=(10, 2))
    mu = mean(u @ v.T)
    x = data(rng, mu)
    x[0, 0] = np.nan
    mask = rng.random(x.shape) < 0.6
    mask[0, 0] = False
    fit = made_up_fit(bf.Model(likelihood, 2, priors), (u, v))
    got = score(fit, x, mask)
    name, error, logpdf = reference(x[mask], mu[mask])
    assert sorted(got) == sorted(["log_likelihood", name])
    np.testing.assert_allclose(got[name], error, rtol=1e-10)
    np.testing.assert_allclose(got["log_likelihood"], np.mean(logpdf), rtol=1e-10)
    # Default: every observed entry (NaN never scored).
    observed = ~np.isnan(x)
    np.testing.assert_allclose(score(fit, x)[name], reference(x[observed], mu[observed])[1])


def test_cross_validated_poisson_deviance_matches_a_sklearn_glm(rng):
    """Rank-1 KL-NMF is the Poisson GLM log mu_ij = a_i + b_j (row + column effects):
    convex, so its fitted mean is unique, and scikit-learn's PoissonRegressor on the
    one-hot design of the training entries finds it independently."""
    n, m = 30, 20
    x = rng.poisson(np.outer(rng.gamma(2.0, size=n), rng.gamma(2.0, size=m))).astype(float)
    test = bf.holdout_masks(x, 0.2, key=1)[0]
    model = bf.Model(bf.Poisson(link="identity"), 1, bf.NonNegative())
    cv = bf.cross_validate(model, x, holdout=test, key=0, max_iter=MAX_ITER, tol=1e-12)
    rows, cols = np.indices(x.shape)

    def design(where):  # one-hot rows, one-hot columns but the first (identifiable)
        d = np.zeros((where.sum(), n + m - 1))
        d[np.arange(where.sum()), rows[where]] = 1.0
        c = cols[where]
        d[np.flatnonzero(c > 0), n + c[c > 0] - 1] = 1.0
        return d

    glm = PoissonRegressor(alpha=0.0, fit_intercept=False, solver="newton-cholesky", tol=1e-12)
    glm.fit(design(~test), x[~test])
    mu_test, mu_train = glm.predict(design(test)), glm.predict(design(~test))
    (row,) = cv.to_dict("records")
    assert cv.attrs["metric"] == "deviance" and cv.attrs["svd_bound"] is None
    np.testing.assert_allclose(row["test_deviance"], mean_poisson_deviance(x[test], mu_test), 1e-6)
    np.testing.assert_allclose(
        row["train_deviance"], mean_poisson_deviance(x[~test], mu_train), 1e-6
    )
    np.testing.assert_allclose(
        row["test_log_likelihood"], stats.poisson.logpmf(x[test], mu_test).mean(), 1e-6
    )


# --- rank selection on a planted Gaussian matrix ----------------------------------------


def test_cross_validate_table(gaussian_cv, gaussian_x):
    cv = gaussian_cv
    assert isinstance(cv, pd.DataFrame)
    assert list(cv.columns) == [
        "rank", "fold", "restart", "train_log_likelihood", "test_log_likelihood",
        "train_mse", "test_mse", "objective", "n_iter", "converged",
    ]  # fmt: skip
    assert len(cv) == 4 * 3 and (cv.restart == "best").all()
    assert cv.converged.all()
    assert cv.attrs["metric"] == "mse" and cv.attrs["higher_is_better"] is False
    bound = cv.attrs["svd_bound"]
    assert sorted(bound) == [1, 3, 4, 8]
    for r, value in bound.items():
        np.testing.assert_allclose(value, _svd_bound(gaussian_x, r), rtol=1e-10)


def test_held_out_error_picks_the_planted_rank(gaussian_cv):
    test = gaussian_cv.groupby("rank").test_mse.mean()
    train = gaussian_cv.groupby("rank").train_mse.mean()
    assert test.idxmin() == 3
    assert test[3] < 0.2 * test[1]
    # At the true rank the held-out error approaches the noise variance ...
    assert NOISE**2 < test[3] < 2 * NOISE**2
    # ... and rank 8 overfits: training error falls while held-out error rises.
    assert train[8] < train[3] and test[8] > 1.5 * test[3]
    assert (gaussian_cv.groupby("rank").test_log_likelihood.mean().idxmax()) == 3


def test_cross_validate_same_key_same_table(gaussian_x):
    model = bf.Model(bf.Gaussian(), 3, bf.Flat())
    a, b = (
        bf.cross_validate(model, gaussian_x, holdout=0.2, key=5, max_iter=MAX_ITER)
        for _ in range(2)
    )
    pd.testing.assert_frame_equal(a, b)


def test_ensemble_training_error_attains_eckart_young(gaussian_x):
    model = bf.Model(bf.Gaussian(), 1, bf.Flat())
    ens = bf.fit_ensemble(model, gaussian_x, ranks=[1, 3], restarts=2, tol=1e-12, max_iter=MAX_ITER)
    assert ens.ranks == [1, 3]
    assert all(len(ens.results[r]) == 2 for r in ens.ranks)  # every run kept
    table = ens.objectives()
    assert len(table) == 4 and table.converged.all()
    for r, mse in zip(table["rank"], table.train_mse, strict=True):
        bound = _svd_bound(gaussian_x, r)
        assert mse >= bound * (1 - 1e-12)
        np.testing.assert_allclose(mse, bound, rtol=1e-6)
        np.testing.assert_allclose(table.attrs["svd_bound"][r], bound, rtol=1e-10)
    sims = ens.similarities()
    assert sims.similarity.between(0.0, 1.0 + 1e-12).all()
    # Rank 1 is identified (a unique leading singular pair): every restart finds it.
    np.testing.assert_allclose(sims[sims["rank"] == 1].similarity, 1.0, atol=1e-6)


# --- ensembles of a planted NMF --------------------------------------------------------


@pytest.fixture(scope="module")
def nmf():
    rng = np.random.default_rng(1)
    factors, eta = planted(rng, (40, 30), 3, nonnegative=True)
    x = eta + 0.05 * rng.normal(size=eta.shape)
    model = bf.Model(bf.Gaussian(), 3, bf.NonNegative())
    ens = _quiet(bf.fit_ensemble, model, x, restarts=4, key=0, max_iter=MAX_ITER)
    return factors, x, ens


def test_planted_nmf_ensemble_is_identified(nmf):
    factors, x, ens = nmf
    sims = ens.similarities()
    assert len(sims) == 4 and list(sims.columns) == ["rank", "restart", "objective", "similarity"]
    assert sims.similarity.min() > 0.95
    assert bf.similarity(ens.best(3), factors) > 0.95
    best = ens.best(3)
    assert best.objective == min(r.objective for r in ens.results[3])
    # Nonnegative factors cannot beat the unconstrained optimum (Eckart–Young).
    table = ens.objectives()
    assert (table.train_mse >= _svd_bound(x, 3) * (1 - 1e-12)).all()
    assert "rank" in repr(ens) and "mean similarity" in repr(ens)
    with pytest.raises(KeyError, match=re.escape("rank=2 was not fitted")):
        ens.best(2)


def test_fit_ensemble_bad_input():
    x = np.ones((5, 4))
    with pytest.raises(TypeError, match="model must be a bf.Model"):
        bf.fit_ensemble("pca", x)
    with pytest.raises(ValueError, match="restarts must be a positive int"):
        bf.fit_ensemble(bf.Model(bf.Gaussian(), 1, bf.Flat()), x, restarts=0)
    with pytest.raises(ValueError, match=re.escape("ranks must be positive ints")):
        bf.fit_ensemble(bf.Model(bf.Gaussian(), 1, bf.Flat()), x, ranks=[0, 1])


# --- a prior-strength sweep ---------------------------------------------------------------


def test_prior_strength_sweep_prefers_a_moderate_prior(rng):
    # Sparse planted factors, rank 5 > 3: the strongest L1 prior shrinks everything
    # away, the weakest overfits; held-out likelihood must prefer one in between.
    u = rng.normal(size=(40, 3)) * (rng.random((40, 3)) < 0.3)
    v = rng.normal(size=(30, 3)) * (rng.random((30, 3)) < 0.3)
    x = 2 * u @ v.T + 0.5 * rng.normal(size=(40, 30))
    scales = [0.01, 0.1, 1.0, 100.0]
    models = {s: bf.Model(bf.Gaussian(scale=0.5), 5, bf.Laplace(s)) for s in scales}
    cv = _quiet(
        bf.cross_validate, models, x, holdout=0.2, folds=2, restarts=2, key=0, max_iter=MAX_ITER
    )
    assert list(cv.columns[:2]) == ["model", "rank"] and len(cv) == 4 * 2
    # The kept restart is the best of the two.
    for objective, both in zip(cv.objective, cv.restart_objectives, strict=True):
        assert len(both) == 2
        np.testing.assert_allclose(objective, min(both), rtol=1e-5)
    assert list(dict.fromkeys(cv.model)) == scales and (cv["rank"] == 5).all()
    ll = cv.groupby("model").test_log_likelihood.mean()
    assert ll.idxmax() in (0.1, 1.0)
    assert ll[0.01] < ll.max() and ll[100.0] < ll.max()


# --- N-way data ---------------------------------------------------------------------------


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_three_way_tensor_cross_validation_and_ensemble():
    rng = np.random.default_rng(2)
    factors, eta = planted(rng, (8, 7, 6), 2)
    x = eta + 0.1 * rng.normal(size=eta.shape)
    model = bf.Model(bf.Gaussian(), 2, bf.Flat())
    cv = _quiet(  # a CP swamp can outlast max_iter; the held-out error is what counts
        bf.cross_validate, model, x, holdout=0.2, folds=2, scheme="rows", axis=2, restarts=2,
        per_restart=True, key=0, max_iter=MAX_ITER,
    )  # fmt: skip
    assert len(cv) == 2 * 2 and sorted(set(cv.restart)) == [0, 1]
    assert "restart_objectives" not in cv.columns
    assert cv.attrs["svd_bound"] is None and cv.attrs["shape"] == (8, 7, 6)
    # Noise-level held-out error at the true rank, for the best restart of each fold (a
    # start can land in a CP swamp: diverging components that cancel on the training set).
    best = cv.loc[cv.groupby("fold").objective.idxmin()]
    assert (best.test_mse < 3 * 0.1**2).all()
    # One missing entry: the ensemble runs the same (masked) program as the folds.
    x_missing = x.copy()
    x_missing[0, 0, 0] = np.nan
    ens = bf.fit_ensemble(model, x_missing, restarts=2, key=0, max_iter=MAX_ITER)
    assert len(ens.results[2]) == 2
    assert ens.similarities().similarity.min() > 0.99
    assert bf.similarity(ens.best(2), factors) > 0.99


# --- argument checks of cross_validate (before any fitting) ----------------------------


def test_cross_validate_bad_input():
    x = np.random.default_rng(0).normal(size=(6, 5))
    model = bf.Model(bf.Gaussian(), 1, bf.Flat())
    with pytest.raises(TypeError, match="model must be a bf.Model, a dict"):
        bf.cross_validate([model, "pca"], x)
    with pytest.raises(ValueError, match=re.escape("Use e.g. ranks=range(1, 6)")):
        bf.cross_validate(model, x, ranks=[])
    with pytest.raises(ValueError, match="holdout masks must be boolean arrays of X's shape"):
        bf.cross_validate(model, x, holdout=np.zeros((5, 6), bool))
    row = np.zeros((6, 5), bool)
    row[2] = True
    with pytest.raises(ValueError, match="holds out every observed entry of index 2 along mode 0"):
        bf.cross_validate(model, x, holdout=row)
    with pytest.raises(ValueError, match="must hold out at least one"):
        bf.cross_validate(model, x, holdout=np.zeros((6, 5), bool))
    with pytest.raises(TypeError, match="per_restart must be a bool"):
        bf.cross_validate(model, x, per_restart=1)
    with pytest.raises(ValueError, match="Poisson"):
        bf.cross_validate(bf.Model(bf.Poisson(), 1, bf.Normal(1.0)), x)


# --- similarity -------------------------------------------------------------------------


def _brute_force_similarity(a, b):
    """Mean over the larger rank of prod_k |cos|, best over every matching."""
    cos = np.ones((a[0].shape[1], b[0].shape[1]))
    for x, y in zip(a, b, strict=True):
        cos *= np.abs((x / np.linalg.norm(x, axis=0)).T @ (y / np.linalg.norm(y, axis=0)))
    if cos.shape[0] > cos.shape[1]:
        cos = cos.T
    best = max(
        sum(cos[i, p[i]] for i in range(cos.shape[0]))
        for p in itertools.permutations(range(cos.shape[1]), cos.shape[0])
    )
    return best / cos.shape[1]


def test_similarity_is_invariant_to_permutation_scale_and_sign(rng):
    a = tuple(rng.normal(size=(n, 4)) for n in (9, 7, 5))
    perm = rng.permutation(4)
    scale = rng.uniform(0.1, 10.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))
    b = tuple(f[:, perm] * s[perm] for f, s in zip(a, scale, strict=True))
    assert bf.similarity(a, a) == pytest.approx(1.0, abs=1e-12)
    assert bf.similarity(a, b) == pytest.approx(1.0, abs=1e-12)
    assert bf.similarity(b, a) == pytest.approx(1.0, abs=1e-12)


def test_similarity_matches_brute_force_matching(rng):
    for _ in range(5):
        a = (rng.normal(size=(8, 4)), rng.normal(size=(6, 4)))
        b = (rng.normal(size=(8, 4)), rng.normal(size=(6, 4)))
        s = bf.similarity(a, b)
        assert 0.0 <= s < 0.8  # unrelated random factors
        assert s == pytest.approx(_brute_force_similarity(a, b), abs=1e-12)


def test_similarity_of_different_ranks(rng):
    a = (rng.normal(size=(8, 3)), rng.normal(size=(6, 3)))
    sub = (a[0][:, [2, 0]], -a[1][:, [2, 0]])
    # Two of three components matched exactly, the third unmatched (counts 0).
    assert bf.similarity(a, sub) == pytest.approx(2 / 3, abs=1e-12)
    b = (rng.normal(size=(8, 2)), rng.normal(size=(6, 2)))
    assert bf.similarity(a, b) == pytest.approx(_brute_force_similarity(a, b), abs=1e-12)


def test_similarity_of_different_data_shapes_raises(rng):
    with pytest.raises(ValueError, match="must describe data of the same shape"):
        bf.similarity((np.ones((3, 1)), np.ones((2, 1))), (np.ones((3, 1)), np.ones((4, 1))))


def test_cross_validation_compiles_once_per_sweep(rng):
    from conftest import count_compiles

    from bayesfactor.solvers.sweep import sweep_program

    x = rng.normal(size=(17, 13))  # a shape no other test compiles
    model = bf.Model(bf.Gaussian(), 2, bf.Normal(1.0))
    with count_compiles() as compiled:
        table = _quiet(
            bf.cross_validate,
            model,
            x,
            ranks=[2],
            folds=3,
            restarts=2,
            per_restart=True,
            max_iter=MAX_ITER,
            key=0,
        )
    # 3 folds x 2 restarts, one compiled program (two: its start and its chunks)
    assert len(table) == 6
    assert compiled.of(sweep_program) == 2
    sweep = {s: bf.Model(bf.Gaussian(), 2, bf.Normal(s)) for s in (0.5, 1.0, 2.0)}
    with count_compiles() as compiled:
        _quiet(bf.cross_validate, sweep, x, folds=3, restarts=2, max_iter=MAX_ITER, key=1)
    assert compiled.of(sweep_program) == 2  # new restarts; scales traced


@pytest.mark.slow
def test_poisson_rank_four_held_out_likelihood_peaks_at_four():
    rng = np.random.default_rng(4)
    factors, rates = planted(rng, (120, 150), 4, nonnegative=True)
    x = rng.poisson(rates).astype(float)
    model = bf.Model(bf.Poisson(link="identity"), 4, bf.NonNegative())
    table = _quiet(
        bf.cross_validate,
        model,
        x,
        ranks=range(1, 9),
        folds=2,
        restarts=3,
        max_iter=1000,
        key=0,
    )
    test = table.groupby("rank")["test_log_likelihood"].mean()
    assert int(test.idxmax()) == 4, test
    train = table.groupby("rank")["train_log_likelihood"].mean()
    assert (np.diff(train.to_numpy()) > -1e-3).all(), train


@pytest.mark.slow
def test_compare_prefers_the_planted_rank():
    rng = np.random.default_rng(1)
    _, eta = planted(rng, (14, 10), 2)
    x = eta + 0.3 * rng.normal(size=eta.shape)
    runs = {}
    for rank in (1, 2):
        model = bf.Model(bf.Gaussian(0.3), rank, (bf.Normal(1.0), bf.Normal(1.0)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bf.IdentifiabilityWarning)
            runs[f"rank {rank}"] = bf.sample(
                model, x, num_warmup=150, num_samples=150, num_chains=1, progress_bar=False
            )
    table = bf.compare(runs)
    assert table.index[0] == "rank 2"
    assert table.loc["rank 1", "elpd_diff"] > 2 * table.loc["rank 1", "dse"]
    with pytest.raises(ValueError, match="same data"):
        bf.compare({"a": runs["rank 1"], "b": _subset(runs["rank 2"])})
    with pytest.raises(TypeError, match="non-empty dict"):
        bf.compare([runs["rank 1"]])


def _subset(idata):
    return idata.isel(observation=slice(0, 10), groups="log_likelihood")


# --- non-integer counts -------------------------------------------------------------------


def test_non_integer_counts_fit_silently_but_warn_when_scored():
    """KL-NMF of real non-negative data is a legitimate fit (KL divergence): no warning.
    Scoring by the Poisson pmf (log-likelihood, score, cross_validate) warns, once."""
    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, size=(10, 8))
    model = bf.Model(bf.Poisson(link="identity"), 2, bf.NonNegative())
    fit = bf.fit(model, X, max_iter=200, tol=1e-5)  # filterwarnings=error: no warning here
    match = r"Poisson pmf needs integer counts.*found 80 such values"
    with pytest.warns(bf.DataWarning, match="log_likelihood: .*" + match):
        fit.log_likelihood(X)
    with pytest.warns(bf.DataWarning, match="score: "):
        score(fit, X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bf.cross_validate(model, X, ranks=[1, 2], holdout=0.2, folds=2, max_iter=50, tol=1e-4)
    data_warnings = [w for w in caught if issubclass(w.category, bf.DataWarning)]
    assert len(data_warnings) == 1 and "cross_validate" in str(data_warnings[0].message)
    # Whole numbers stored as floats are counts: no warning (filterwarnings=error).
    counts = np.round(X * 3)
    bf.fit(model, counts, max_iter=500, tol=1e-3).log_likelihood(counts)


def test_non_integer_counts_in_a_block_are_named():
    lik = bf.Blocks({"x": (slice(0, 2), bf.Gaussian()), "n": (slice(2, 4), bf.Poisson())}, mode=1)
    x = np.array([[0.5, 1.5, 2.0, 3.5]])
    problem = lik.pmf_problem(x, np.ones_like(x, bool))
    assert problem.startswith("block 'n': the Poisson pmf") and "(first: 3.5)" in problem
    assert lik.pmf_problem(np.round(x), np.ones_like(x, bool)) is None
