import warnings

import numpy as np
import pytest
from scipy.optimize import nnls
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import bayesfactor as bf
from bayesfactor.sklearn import NMF, PCA, FactorModel, LogisticPCA, PoissonNMF


def test_pca_transform_is_least_squares_on_the_components(rng):
    x = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 12)) + 0.1 * rng.normal(size=(40, 12))
    est = PCA(n_components=3, max_iter=1000, tol=1e-12).fit(x[:30])
    new = x[30:]
    expected = np.linalg.lstsq(est.components_.T, new.T, rcond=None)[0].T
    np.testing.assert_allclose(est.transform(new), expected, rtol=1e-5, atol=1e-7)
    # The training row factors are the least-squares ones too (a block optimum).
    np.testing.assert_allclose(
        est.fit_transform(x[:30]),
        np.linalg.lstsq(est.components_.T, x[:30].T, rcond=None)[0].T,
        rtol=1e-4,
        atol=1e-6,
    )


def test_nmf_transform_is_nnls_per_row(rng):
    x = np.abs(rng.normal(size=(30, 3))) @ np.abs(rng.normal(size=(3, 10)))
    x += 0.05 * np.abs(rng.normal(size=x.shape))
    est = NMF(n_components=3, max_iter=2000, tol=1e-12).fit(x)
    new = np.abs(rng.normal(size=(4, 3))) @ est.components_
    new[0, :3] = 0.0
    w = est.transform(new)
    expected = np.stack([nnls(est.components_.T, row)[0] for row in new])
    np.testing.assert_allclose(w, expected, atol=1e-5)
    np.testing.assert_allclose(est.inverse_transform(w), w @ est.components_, atol=1e-12)


def test_transform_handles_missing_entries(rng):
    v = rng.normal(size=(10, 2))
    x = rng.normal(size=(25, 2)) @ v.T
    est = PCA(n_components=2, max_iter=1000, tol=1e-12).fit(x)
    new = rng.normal(size=(3, 2)) @ v.T
    holed = new.copy()
    holed[:, :4] = np.nan
    np.testing.assert_allclose(est.inverse_transform(est.transform(holed)), new, atol=1e-6)


@pytest.mark.slow  # ~10-12 s
def test_clone_and_grid_search_over_rank(rng):
    rates = np.abs(rng.normal(size=(90, 2))) @ np.abs(rng.normal(size=(2, 30))) * 5
    x = rng.poisson(rates).astype(float)
    est = PoissonNMF(max_iter=300)
    copy = clone(est)
    assert copy.get_params() == est.get_params() and copy is not est
    pipe = make_pipeline(FunctionTransformer(), est)
    search = GridSearchCV(pipe, {"poissonnmf__n_components": [1, 2, 3]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        search.fit(x)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and len(scores) == 3
    # The held-out score recovers the planted rank (the held-in one rose with the rank).
    assert search.best_params_ == {"poissonnmf__n_components": 2}, scores


def _gaussian_log_density(x, mu):
    return -0.5 * (x - mu) ** 2 - 0.5 * np.log(2 * np.pi)


def test_score_is_the_log_likelihood_of_held_out_entries_only(rng):
    from bayesfactor.sklearn import _row_holdout

    v = rng.normal(size=(10, 2))
    x = rng.normal(size=(45, 2)) @ v.T + 0.3 * rng.normal(size=(45, 10))
    est = PCA(n_components=2, max_iter=1000, tol=1e-12).fit(x[:25])
    new = x[25:].copy()
    new[0, :3] = np.nan  # missing: neither fitted nor scored
    heldout = _row_holdout(~np.isnan(new), 0.2, 0)
    # 20 % of each row's observed entries: round(0.2 * 10) = 2, round(0.2 * 7) = 1.
    assert heldout.sum(axis=1).tolist() == [1] + [2] * 19
    assert not (heldout & np.isnan(new)).any()
    # Oracle: each row's least-squares factor on its training entries alone, and the
    # Gaussian (scale 1) log-density of its held-out entries under that factor.
    h = est.components_
    logp = []
    for row, out in zip(new, heldout, strict=True):
        train = ~out & ~np.isnan(row)
        w = np.linalg.lstsq(h[:, train].T, row[train], rcond=None)[0]
        logp.extend(_gaussian_log_density(row[out], w @ h[:, out]))
    assert est.score(new) == pytest.approx(np.mean(logp), rel=1e-6)
    with pytest.raises(ValueError, match="holdout=1.5"):
        est.set_params(holdout=1.5).score(new)


@pytest.mark.slow  # ~15 s each: 3 ranks x (fit + score), compiled per rank
@pytest.mark.parametrize("estimator", [NMF, PCA])
def test_grid_search_recovers_the_planted_rank(estimator, rng):
    if estimator is NMF:  # non-negative rank 4 plus Gaussian noise
        signal = rng.gamma(1.0, size=(198, 4)) @ rng.gamma(1.0, size=(4, 60))
        x = signal + 0.5 * rng.normal(size=signal.shape)
    else:
        x = rng.normal(size=(198, 4)) @ rng.normal(size=(4, 60)) + rng.normal(size=(198, 60))
    search = GridSearchCV(estimator(max_iter=200), {"n_components": [2, 4, 8]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        search.fit(x)
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_ == {"n_components": 4}, scores
    # Every fold prefers 4 to 2 and to 8 (a held-in score rises with the rank).
    for fold in range(3):
        split = search.cv_results_[f"split{fold}_test_score"]
        assert split[1] > split[2] and split[1] > split[0], (fold, split)


@pytest.mark.slow  # ~15 s: two ranks, each fit and scored
def test_full_rank_scores_below_the_planted_rank_held_out_but_not_held_in(rng):
    x = rng.gamma(1.0, size=(90, 2)) @ rng.gamma(1.0, size=(2, 12))
    x += 0.3 * rng.normal(size=x.shape)
    held_out, held_in = {}, {}
    for rank in (2, 12):  # 12 = the number of features: it can fit any row exactly
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bf.ConvergenceWarning)
            est = NMF(rank, max_iter=500).fit(x[:60])
            held_out[rank] = est.score(x[60:])
        # Held-in oracle: NNLS factor of each whole new row, scored on the same entries.
        h = est.components_
        w = np.stack([nnls(h.T, row)[0] for row in x[60:]])
        held_in[rank] = _gaussian_log_density(x[60:], w @ h).mean()
    assert held_in[12] > held_in[2]
    assert held_out[2] > held_out[12]
    # The planted rank's held-out score is near the noise's own mean log-density.
    noise_only = -0.5 * 0.3**2 - 0.5 * np.log(2 * np.pi)
    assert held_out[2] == pytest.approx(noise_only, abs=0.03)


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_generic_model_and_logistic_preset(rng):
    logits = rng.normal(size=(40, 2)) @ rng.normal(size=(2, 20)) * 2
    x = (rng.random(logits.shape) < 1 / (1 + np.exp(-logits))).astype(float)
    est = LogisticPCA(n_components=2, max_iter=1000).fit(x)
    probs = est.inverse_transform(est.transform(x))
    assert ((probs > 0.5) == x).mean() > 0.8
    est = FactorModel(bf.Gaussian(), 2, (bf.HalfNormal(1.0), bf.Exponential(0.1))).fit(np.abs(x))
    assert (est.components_ >= 0).all() and est.n_iter_ >= 1


def test_bad_input_is_rejected():
    est = PCA(n_components=1).fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match="3 features"):
        est.transform(np.ones((2, 5)))
    with pytest.raises(ValueError, match="2D array"):
        est.transform(np.ones(3))
    with pytest.raises(ValueError, match="infinity"):
        PCA().fit(np.full((3, 3), np.inf))


@pytest.mark.slow  # over 10 s
def test_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        # Checks fit tiny random data with few iterations; warnings are expected.
        warnings.simplefilter("ignore")
        results = check_estimator(FactorModel(max_iter=20), on_fail=None)
    failed = [
        (r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"
    ]
    assert not failed, failed


def test_scikit_learn_init_names_are_accepted_or_refused_clearly():
    x = np.random.default_rng(0).random((30, 12))
    svd = NMF(2, init="nndsvda").fit(x)
    assert svd.result_.converged
    np.testing.assert_allclose(svd.components_, NMF(2, init="svd").fit(x).components_)
    with pytest.raises(ValueError, match="init must be one of"):
        NMF(2, init="nndsvdar").fit(x)
