"""Convolutional NMF (ConvModel, seqNMF): oracles, invariants, planted sequences, tooling."""

import re
import warnings

import numpy as np
import pytest
import scipy.stats
from conftest import OBJ_INCREASE_TOL
from scipy.optimize import linear_sum_assignment

import bayesfactor as bf
from bayesfactor.conv import conv_product

# --- independent references ------------------------------------------------------------------


def naive_conv(w, h):
    """eta[n, t] = sum_l sum_k W[n, l, k] H[t - l, k], as explicit loops."""
    n, lags, rank = w.shape
    t = h.shape[0]
    eta = np.zeros((n, t))
    for l in range(lags):
        for s in range(l, t):
            eta[:, s] += w[:, l, :] @ h[s - l, :]
    return eta


def naive_xortho(x, w, h):
    """seqNMF's ||(W^T X) S H^T||_{1, i != j} with explicit loops (no padding)."""
    n, lags, rank = w.shape
    t = x.shape[1]
    wtx = np.zeros((rank, t))
    for s in range(t):
        for l in range(lags):
            if s + l < t:
                wtx[:, s] += w[:, l, :].T @ x[:, s + l]
    smooth = np.zeros_like(wtx)
    for s in range(t):
        lo, hi = max(0, s - lags + 1), min(t, s + lags)
        smooth[:, s] = wtx[:, lo:hi].sum(axis=1)
    c = smooth @ h
    return np.abs(c).sum() - np.abs(np.diag(c)).sum()


def shift_lags(w, s):
    """Each exemplar moved s lags later (zero-filled)."""
    out = np.zeros_like(w)
    out[:, s:] = w[:, : w.shape[1] - s]
    return out


def lag_aligned_similarity(w_true, w_fit):
    """Mean over true sequences of the best cosine, maximised over lag shifts and matching."""
    lags = w_true.shape[1]
    score = np.zeros((w_true.shape[2], w_fit.shape[2]))
    for i in range(w_true.shape[2]):
        a = w_true[:, :, i] / np.linalg.norm(w_true[:, :, i])
        for j in range(w_fit.shape[2]):
            b = w_fit[:, :, j]
            if not b.any():
                continue
            b = b / np.linalg.norm(b)
            for s in range(-lags + 1, lags):
                moved = np.zeros_like(b)
                if s >= 0:
                    moved[:, s:] = b[:, : lags - s]
                else:
                    moved[:, : lags + s] = b[:, -s:]
                score[i, j] = max(score[i, j], float(np.sum(a * moved)))
    rows, cols = linear_sum_assignment(score, maximize=True)
    return score[rows, cols].sum() / w_true.shape[2]


def simulate_sequences(rng, n_per=8, n_other=6, lags=12, t=900, n_events=12, rate=6.0, bg=0.03):
    """Three planted sequences of n_per neurons each (plus silent neurons), Poisson counts."""
    rank = 3
    w = np.zeros((rank * n_per + n_other, lags, rank))
    for k in range(rank):
        for i in range(n_per):
            w[k * n_per + i, int(i * (lags - 2) / (n_per - 1)), k] = rate
    h = np.zeros((t, rank))
    for k in range(rank):
        h[rng.choice(t - lags, n_events, replace=False), k] = 1.0
    return rng.poisson(naive_conv(w, h) + bg), w, h


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    w = rng.exponential(size=(7, 3, 2))
    h = rng.exponential(size=(25, 2)) * (rng.random((25, 2)) < 0.3)
    x = rng.poisson(naive_conv(w, h) + 0.1).astype(float)
    return x, w, h


# --- the model ------------------------------------------------------------------------------


def test_conv_product_matches_loops(small):
    _, w, h = small
    np.testing.assert_allclose(conv_product(w, h), naive_conv(w, h), rtol=1e-12)


def test_lags_one_is_nmf_objective(small):
    x, w, h = small
    w1, h = w[:, :1, :] + 0.1, h + 0.1  # positive rates: finite Poisson log-likelihoods
    mask = np.random.default_rng(1).random(x.shape) < 0.8
    for lik in (bf.Gaussian(scale=0.7), bf.Poisson(link="identity")):
        conv = bf.ConvModel(lik, rank=2, lags=1)
        nmf = bf.Model(lik, rank=2, priors=bf.NonNegative())
        ours = float(conv.objective(x, mask, (w1, h)))
        theirs = float(nmf.objective(x, mask, (w1[:, 0], h)))
        eta = w1[:, 0] @ h.T
        if isinstance(lik, bf.Gaussian):
            reference = -scipy.stats.norm(eta, 0.7).logpdf(x)[mask].sum()
        else:
            reference = -scipy.stats.poisson(eta).logpmf(x)[mask].sum()
        assert ours == pytest.approx(theirs, rel=1e-12)
        assert ours == pytest.approx(reference, rel=1e-10)


def lee_seung(x, w, h, steps, poisson):
    """Textbook multiplicative updates (H then W), Euclidean or KL (Lee & Seung 2001)."""
    for _ in range(steps):
        if poisson:
            h = h * ((x / (w @ h.T)).T @ w) / w.sum(axis=0)
            w = w * ((x / (w @ h.T)) @ h) / h.sum(axis=0)
        else:
            h = h * (x.T @ w) / (h @ (w.T @ w))
            w = w * (x @ h) / (w @ (h.T @ h))
    return w, h


@pytest.mark.parametrize("poisson", [False, True], ids=["gaussian", "poisson"])
def test_lags_one_fit_path_is_lee_seung(small, poisson):
    x, w, h = small
    w0, h0 = w[:, 0, :] + 0.1, h + 0.1
    lik = bf.Poisson(link="identity") if poisson else bf.Gaussian()
    model = bf.ConvModel(lik, rank=2, lags=1)
    with pytest.warns(bf.ConvergenceWarning):
        fit = bf.fit(model, x, init=(w0[:, None, :], h0), max_iter=15, tol=0.0)
    w_ref, h_ref = lee_seung(x, w0, h0, 15, poisson)
    np.testing.assert_allclose(fit.factors[0][:, 0, :], w_ref, rtol=1e-9)
    np.testing.assert_allclose(fit.factors[1], h_ref, rtol=1e-9)
    nmf = bf.Model(lik, rank=2, priors=bf.NonNegative())
    assert fit.objective == pytest.approx(float(nmf.objective(x, True, (w_ref, h_ref))), rel=1e-9)


def test_lags_one_poisson_path_is_bf_kl_nmf(small):
    """bf.fit's KL-NMF uses the same multiplicative MM: on X^T (H first) the paths coincide."""
    x, w, h = small
    w0, h0 = w[:, 0, :] + 0.1, h + 0.1
    lik = bf.Poisson(link="identity")
    with pytest.warns(bf.ConvergenceWarning):
        conv = bf.fit(bf.ConvModel(lik, 2, 1), x, init=(w0[:, None, :], h0), max_iter=25, tol=0)
    with pytest.warns(bf.ConvergenceWarning):
        nmf = bf.fit(
            bf.Model(lik, 2, bf.NonNegative()),
            x.T,
            init=(h0, w0),
            max_iter=25,
            tol=0,
            accelerate=False,
            check_every=1,
        )
    np.testing.assert_allclose(conv.history, nmf.history, rtol=1e-9)
    np.testing.assert_allclose(conv.factors[1], nmf.factors[0], rtol=1e-8)
    np.testing.assert_allclose(conv.factors[0][:, 0, :], nmf.factors[1], rtol=1e-8)


def test_shift_exemplar_and_timecourse(small):
    _, w, h = small
    rng = np.random.default_rng(2)
    lags, s = 6, 2
    w = rng.exponential(size=(5, lags, 2))
    w[:, lags - s :] = 0.0  # room to move the exemplar s lags later
    h = rng.exponential(size=(40, 2))
    h_moved = np.zeros_like(h)
    h_moved[:-s] = h[s:]  # the timecourse s frames earlier
    before = np.asarray(conv_product(w, h))
    after = np.asarray(conv_product(shift_lags(w, s), h_moved))
    inner = slice(lags, h.shape[0] - s)  # away from both edges
    np.testing.assert_allclose(after[:, inner], before[:, inner], rtol=1e-12)
    assert not np.allclose(after, before)  # the edges do change


def test_xortho_penalty_matches_seqnmf_definition(small):
    x, w, h = small
    model = bf.ConvModel(bf.Gaussian(), rank=2, lags=3, xortho=0.3)
    assert float(model.xortho_penalty(x, (w, h))) == pytest.approx(naive_xortho(x, w, h))
    plain = bf.ConvModel(bf.Gaussian(), rank=2, lags=3)
    mask = np.ones(x.shape, bool)
    diff = float(model.objective(x, mask, (w, h)) - plain.objective(x, mask, (w, h)))
    assert diff == pytest.approx(0.3 * naive_xortho(x, w, h))


CASES = [
    (bf.Gaussian(), bf.NonNegative(), 0.0),
    (bf.Gaussian(scale=0.5), (bf.Exponential(0.5), bf.HalfNormal(2.0)), 0.2),
    (bf.Poisson(link="identity"), bf.NonNegative(), 0.0),
    (bf.Poisson(link="identity"), (bf.HalfNormal(1.0), bf.Exponential(1.0)), 0.2),
]


@pytest.mark.parametrize("lik, priors, xortho", CASES, ids=["gauss", "gauss-xo", "pois", "pois-xo"])
def test_objective_never_increases(small, lik, priors, xortho):
    x = small[0]
    mask = np.random.default_rng(3).random(x.shape) < 0.85
    model = bf.ConvModel(lik, rank=2, lags=3, priors=priors, xortho=xortho)
    rng = np.random.default_rng(4)
    start = (rng.exponential(size=(7, 3, 2)), rng.exponential(size=(25, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        fit = bf.fit(model, x, mask=mask, init=start, max_iter=150, tol=1e-9)
    assert fit.history[0] < float(model.objective(x, mask, start))  # the first step descends
    rises = np.diff(fit.history) / np.abs(fit.history[1:])
    assert rises.max() <= OBJ_INCREASE_TOL
    assert fit.n_iter > 20  # descended, not stopped by the rejection guard
    assert fit.objective == pytest.approx(float(model.objective(x, mask, fit.factors)))


def test_xortho_value_does_not_recompile(small):
    from conftest import count_compiles

    x = small[0]
    start = (np.ones((7, 3, 2)), np.ones((25, 2)))
    compiles = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        for xortho in (0.1, 0.3, 0.7):
            model = bf.ConvModel(bf.Gaussian(), rank=2, lags=3, xortho=xortho)
            with count_compiles() as compiled:
                bf.fit(model, x + xortho, init=start, max_iter=7, tol=0.0)
            compiles.append(compiled)
    assert compiles[1] == compiles[2] == []  # no program compiled again


def test_masked_entries_do_not_matter(small):
    x, _, _ = small
    mask = np.random.default_rng(5).random(x.shape) < 0.7
    model = bf.ConvModel(bf.Poisson(link="identity"), rank=2, lags=3, xortho=0.1)
    kwargs = dict(mask=mask, key=3, max_iter=60, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        a = bf.fit(model, x, **kwargs)
        b = bf.fit(model, np.where(mask, x, 999.0), **kwargs)
        c = bf.fit(model, x, **kwargs)
    np.testing.assert_array_equal(a.history, b.history)
    np.testing.assert_array_equal(a.factors[0], c.factors[0])  # same key, same result


def test_result_predict_and_log_likelihood(small):
    x = small[0]
    model = bf.ConvModel(bf.Poisson(link="identity"), rank=2, lags=3)
    fit = bf.fit(model, x, key=0, max_iter=500, tol=1e-6)
    w, h = fit.factors
    assert w.shape == (7, 3, 2) and h.shape == (25, 2) and (w >= 0).all() and (h >= 0).all()
    np.testing.assert_allclose(fit.predict(), naive_conv(w, h), rtol=1e-10)
    ll = scipy.stats.poisson(naive_conv(w, h)).logpmf(x).sum()
    assert fit.log_likelihood(x) == pytest.approx(ll, rel=1e-10)
    assert fit.objective == pytest.approx(-ll, rel=1e-10)


# --- errors before compilation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: bf.ConvModel(bf.Gaussian(), rank=2, lags=0), ValueError, "lags must be >= 1"),
        (lambda: bf.ConvModel(bf.Gaussian(), rank=2, lags=2.0), TypeError, "lags must be"),
        (lambda: bf.ConvModel(bf.Poisson(), rank=2, lags=2), TypeError, "link='identity'"),
        (
            lambda: bf.ConvModel(bf.Gaussian(), rank=2, lags=2, priors=bf.Normal(1.0)),
            ValueError,
            "the prior on W is Normal",
        ),
        (
            lambda: bf.ConvModel(bf.Gaussian(), 2, 2, priors=(bf.NonNegative(), bf.Flat())),
            ValueError,
            "the prior on H is Flat",
        ),
        (lambda: bf.ConvModel(bf.Gaussian(), 2, 2, xortho=-1.0), ValueError, "xortho must be"),
    ],
    ids=["lags0", "lags-float", "log-link", "prior-W", "prior-H", "xortho"],
)
def test_declaration_errors(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


def test_data_errors():
    x = np.abs(np.random.default_rng(0).normal(size=(4, 10)))
    gauss = bf.ConvModel(bf.Gaussian(), rank=2, lags=3)
    with pytest.raises(ValueError, match=re.escape("lags=11 is longer than the recording")):
        bf.fit(bf.ConvModel(bf.Gaussian(), rank=2, lags=11), x)
    with pytest.raises(ValueError, match="Poisson data must be non-negative"):
        bf.fit(bf.ConvModel(bf.Poisson(link="identity"), 2, 3), -x)
    with pytest.raises(ValueError, match="xortho=0.1 needs non-negative data"):
        bf.fit(bf.ConvModel(bf.Gaussian(), 2, 3, xortho=0.1), x - 1.0)
    with pytest.raises(ValueError, match="factorizes a matrix"):
        bf.fit(gauss, np.ones((3, 4, 10)))
    with pytest.raises(ValueError, match=re.escape("init W has shape (4, 2, 2)")):
        bf.fit(gauss, x, init=(np.ones((4, 2, 2)), np.ones((10, 2))))
    with pytest.raises(ValueError, match="fixed is not supported"):
        bf.fit(gauss, x, init=(np.ones((4, 3, 2)), np.ones((10, 2))), fixed=(0,))
    with pytest.warns(bf.IdentifiabilityWarning):
        model = bf.ConvModel(bf.Gaussian(), 2, 3, priors=(bf.NonNegative(), bf.Exponential()))
        bf.fit(model, x, max_iter=5, tol=1.0)


def test_gaussian_signed_data_monotone():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, 30))
    model = bf.ConvModel(bf.Gaussian(), rank=2, lags=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        fit = bf.fit(model, x, key=0, max_iter=100, tol=1e-9)
    assert (np.diff(fit.history) <= OBJ_INCREASE_TOL * np.abs(fit.history[1:])).all()
    assert fit.objective < fit.history[0]


def test_nonfinite_objective_raises():
    x = np.random.default_rng(0).poisson(2.0, size=(4, 12)).astype(float)
    x[0, 0] = 1e200  # finite data whose squared residual overflows
    model = bf.ConvModel(bf.Gaussian(), rank=1, lags=2)
    start = (np.ones((4, 2, 1)), np.ones((12, 1)))
    with pytest.raises(FloatingPointError, match="non-finite"):
        bf.fit(model, x, init=start, max_iter=20)


# --- planted sequences and the seqNMF tooling ---------------------------------------------


@pytest.fixture(scope="module")
def planted():
    x, w, h = simulate_sequences(np.random.default_rng(1))
    model = bf.ConvModel(bf.Poisson(link="identity"), rank=5, lags=12, xortho=0.2)
    fit = bf.fit(model, x[:, :600], key=0, restarts=3, max_iter=500, tol=1e-6)
    return x, w, h, fit


def test_planted_sequences_recovered(planted):
    _, w, _, fit = planted
    assert lag_aligned_similarity(w, fit.factors[0]) > 0.9


def test_significance_marks_the_planted(planted):
    x, w, _, fit = planted
    result = bf.significance(x[:, 600:], fit, alpha=0.05, key=0)
    # Each planted sequence's best lag-aligned match is significant; the rest are not.
    matched = [
        int(np.argmax([lag_aligned_similarity(w[:, :, [i]], fit.factors[0][:, :, [j]])
                       for j in range(5)]))
        for i in range(3)
    ]  # fmt: skip
    assert sorted(set(matched)) == sorted(matched)
    assert result.significant[matched].all()
    assert result.significant.sum() == 3
    assert result.null_skewness.shape[0] == 5 and (result.pvalues > 0).all()


def test_factor_power_and_sorting(planted):
    x, _, _, fit = planted
    train = x[:, :600]
    power = bf.factor_power(train, fit)
    w, h = fit.factors
    total = 1 - np.sum((train - naive_conv(w, h)) ** 2) / np.sum(train**2)
    assert (power >= 0).all() and power.sum() <= 1
    # The planted sequences barely overlap: the per-factor powers add up to the total.
    assert power.sum() == pytest.approx(total, abs=0.05)
    w_sorted, h_sorted, order = bf.sort_factors(fit, train)
    assert np.all(np.diff(bf.factor_power(train, (w_sorted, h_sorted))) <= 1e-12)
    assert sorted(order.tolist()) == list(range(train.shape[0]))
    # Within the first component's neurons, peak lags are non-decreasing.
    peak_comp = np.argmax(w_sorted.max(axis=1), axis=1)[order]
    peak_lag = np.argmax(w_sorted[order, :, 0], axis=1)[peak_comp == 0]
    assert (np.diff(peak_lag) >= 0).all()


def test_seqnmf_plot(planted):
    from matplotlib.figure import Figure

    x, _, _, fit = planted
    fig = bf.plot.seqnmf(fit, x[:, :600])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3


@pytest.mark.slow
def test_songbird_sequences():
    bird = bf.datasets.load_songbird()
    x = bird.neural.to_numpy()
    train, test = x[:, :444], x[:, 444:]
    model = bf.ConvModel(bf.Gaussian(), rank=2, lags=bird.fs_neural, xortho=0.001)
    fit = bf.fit(model, train, key=0, restarts=2, max_iter=300, tol=1e-5)
    assert bf.significance(test, fit, key=0).significant.any()
    assert bf.factor_power(train, fit).sum() > 0.2


def test_conv_fit_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.poisson(1.0, size=(6, 40)).astype(float)
    model = bf.ConvModel(bf.Poisson(link="identity"), rank=2, lags=4, xortho=0.1)
    fit = bf.fit(model, x, max_iter=2000)
    loaded = bf.load(fit.save(tmp_path / "conv.nc"))
    assert loaded.model == model
    np.testing.assert_array_equal(loaded.factors[0], fit.factors[0])
    np.testing.assert_array_equal(loaded.predict(), fit.predict())
    assert loaded.objective == fit.objective


def test_significance_prints_a_table(planted):
    x, _, _, fit = planted
    result = bf.significance(x[:, 600:], fit, alpha=0.05, key=0)
    text = repr(result)
    rank = result.pvalues.size
    # A header, the column names and one row per component: no dump of the null draws.
    assert len(text.splitlines()) == rank + 2 and len(text) < 120 * (rank + 2)
    assert "[" not in text and "..." not in text
    assert f"{int(result.significant.sum())} of {rank} components significant" in text
    for k, (p, s) in enumerate(zip(result.pvalues, result.significant, strict=True)):
        row = text.splitlines()[k + 2].split()
        assert row[0] == str(k) and row[2] == f"{p:.3g}" and row[3] == ("yes" if s else "no")


def test_untested_components_get_nan_pvalues_with_the_reason():
    """An empty exemplar and a one-neuron exemplar have no sequence to shift: NaN, not inf."""
    w = np.zeros((4, 3, 3))
    w[np.arange(3), np.arange(3), 0] = 1.0  # a sequence over neurons 0, 1, 2
    w[0, 0, 2] = 1.0  # component 2: one neuron only; component 1: empty
    x = np.zeros((4, 60))
    x[np.arange(3)[:, None], np.arange(3)[:, None] + [5, 30]] = 1
    result = bf.significance(x, (w, np.ones((60, 3))), num_null=40, key=0)
    assert 0 < result.pvalues[0] <= 1
    assert np.isnan(result.pvalues[1:]).all() and not result.significant[1:].any()
    assert result.untested == ("", "empty exemplar", "one neuron carries > 99.9 % of the power")
    text = repr(result)
    assert "not tested: empty exemplar" in text and "inf" not in text
    # Bonferroni over the one tested component: p <= alpha.
    assert "p <= 0.05 (alpha=0.05 / 1 tested" in text
