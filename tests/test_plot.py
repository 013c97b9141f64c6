"""Figures: what is drawn, checked against the tables and factors it was drawn from."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import made_up_fit
from matplotlib.collections import PolyCollection
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

import bayesfactor as bf
from bayesfactor import plot
from bayesfactor.sampling.idata import _arviz


def _dots(axis, color):
    """All dot markers of one color: (x, y) of every point."""
    pts = [
        np.column_stack([line.get_xdata(), line.get_ydata()])
        for line in axis.lines
        if line.get_marker() == "o" and line.get_color() == color
    ]
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def _labels(axis):
    return [line.get_label() for line in axis.lines if not line.get_label().startswith("_")]


def _cv_table(rng, metric="mse", ranks=(1, 2, 3), runs=4, svd_bound=None, models=None):
    rows = []
    for label in models or [None]:
        for r in ranks:
            for i in range(runs):
                row = {} if label is None else {"model": label}
                row |= {"rank": r, "fold": i // 2, "restart": i % 2}
                row |= {
                    "train_log_likelihood": -rng.random(),
                    "test_log_likelihood": -1 - rng.random(),
                    f"train_{metric}": rng.random() / r,
                    f"test_{metric}": 1 + rng.random() / r,
                }
                rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs.update(metric=metric, svd_bound=svd_bound)
    return table


def _best_rank(table):
    """The rank of the highest mean held-out log-likelihood, by a plain loop."""
    ranks = sorted(set(table["rank"].tolist()))
    means = [np.mean(table["test_log_likelihood"].to_numpy()[table["rank"] == r]) for r in ranks]
    return ranks[int(np.argmax(means))]


@pytest.fixture(autouse=True)
def _close_figures():
    """The figures are pyplot's (as they must be, to show in Jupyter): close them all."""
    yield
    plt.close("all")


@pytest.fixture
def x(rng):
    return rng.normal(size=(12, 10))


# --- error against rank --------------------------------------------------------------------


def test_error_draws_one_dot_per_run_medians_and_the_svd_bound(rng, x):
    s2 = np.linalg.svd(x, compute_uv=False) ** 2
    bound = {r: s2[r:].sum() / x.size for r in (1, 2, 3)}  # Eckart–Young
    table = _cv_table(rng, svd_bound=bound)
    fig = plot.error(table)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    (axis,) = fig.axes
    assert _labels(axis) == ["train", "test", "truncated SVD", f"best: rank {_best_rank(table)}"]
    for split, color in (("train", "C0"), ("test", "C1")):
        dots = _dots(axis, color)
        assert len(dots) == len(table)  # one dot per fold and restart
        np.testing.assert_allclose(np.sort(dots[:, 1]), np.sort(table[f"{split}_mse"]))
        assert np.allclose(np.round(dots[:, 0]), table["rank"].to_numpy()[np.argsort(dots[:, 0])])
        (median,) = [line for line in axis.lines if line.get_label() == split]
        np.testing.assert_allclose(
            median.get_ydata(), table.groupby("rank")[f"{split}_mse"].median()
        )
    (svd,) = [line for line in axis.lines if line.get_label() == "truncated SVD"]
    np.testing.assert_allclose(svd.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(svd.get_ydata(), [bound[1], bound[2], bound[3]])
    assert axis.get_ylabel() == "mean squared error"


def test_error_has_no_svd_bound_for_poisson_log_likelihood_or_bound_false(rng, x):
    poisson = _cv_table(rng, metric="deviance")
    (axis,) = plot.error(poisson, best=False).axes
    assert _labels(axis) == ["train", "test"]
    assert axis.get_ylabel() == "mean Poisson deviance"
    gaussian = _cv_table(rng, svd_bound={1: 1.0, 2: 0.5, 3: 0.1})
    (axis,) = plot.error(gaussian, metric="log_likelihood", best=False).axes
    assert _labels(axis) == ["train", "test"] and axis.get_ylabel() == "log-likelihood per entry"
    np.testing.assert_allclose(
        np.sort(_dots(axis, "C1")[:, 1]), np.sort(gaussian.test_log_likelihood)
    )
    assert _labels(plot.error(gaussian, bound=False).axes[0])[:2] == ["train", "test"]


def test_error_of_a_prior_sweep(rng):
    # Several ranks: one panel per model.
    table = _cv_table(rng, models=["weak", "strong"])
    fig = plot.error(table)
    assert len(fig.axes) == 2
    assert [a.get_title() for a in fig.axes] == ["model weak", "model strong"]
    # One rank: the models on the x-axis, log scale over >= 2 decades.
    sweep = _cv_table(rng, ranks=(3,), models=[0.01, 1.0, 100.0])
    (axis,) = plot.error(sweep).axes
    assert axis.get_xscale() == "log"
    dots = _dots(axis, "C1")
    assert len(dots) == 12 and (dots[:, 0] > 0).all()  # jittered beside each label
    np.testing.assert_array_equal(np.unique(np.round(np.log10(dots[:, 0]))), [-2, 0, 2])
    sweep = _cv_table(rng, ranks=(3,), models=[0.1, 0.2, 0.3])  # linear: jitter < the gaps
    dots = _dots(plot.error(sweep).axes[0], "C1")
    np.testing.assert_array_equal(np.unique(np.round(dots[:, 0], 1)), [0.1, 0.2, 0.3])
    named = _cv_table(rng, ranks=(3,), models=["a", "b"])
    (axis,) = plot.error(named).axes
    assert [t.get_text() for t in axis.get_xticklabels()] == ["a", "b"]


def test_error_into_given_axes(rng):
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.error(_cv_table(rng), ax=ax) is fig
    assert len(_dots(ax, "C0")) == 12
    with pytest.raises(ValueError, match=re.escape("(one panel per model) needs 2 Axes; ax= got")):
        plot.error(_cv_table(rng, models=["a", "b"]), ax=ax)


def test_error_bad_input(rng):
    with pytest.raises(ValueError, match=re.escape("metric='rmse'; use 'error' or")):
        plot.error(_cv_table(rng), metric="rmse")
    with pytest.raises(TypeError, match="expected the table of bf.cross_validate"):
        plot.error([1, 2, 3])
    with pytest.raises(ValueError, match="no train_mse / test_mse column"):
        plot.error(_cv_table(rng).drop(columns=["train_mse", "test_mse"]))


# --- ensembles: error and similarity --------------------------------------------------------


@pytest.fixture
def ensemble(rng, x):
    """Three runs at ranks 1 and 2 (made-up factors; only the drawing is tested)."""
    results = {}
    for rank in (1, 2):
        results[rank] = [
            made_up_fit(
                bf.Model(bf.Gaussian(), rank, bf.Flat()),
                (rng.normal(size=(12, rank)), rng.normal(size=(10, rank))),
                objective=float(rng.random()),
            )
            for _ in range(3)
        ]
    return bf.Ensemble(results=results, x=x, mask=np.ones(x.shape, bool))


def test_error_of_an_ensemble_draws_training_error_only(ensemble, x):
    (axis,) = plot.error(ensemble).axes
    assert _labels(axis) == ["train", "truncated SVD"]
    dots = _dots(axis, "C0")
    assert len(dots) == 6
    mse = [np.mean((x - r.predict()) ** 2) for rank in (1, 2) for r in ensemble.results[rank]]
    np.testing.assert_allclose(np.sort(dots[:, 1]), np.sort(mse))


def test_similarity_plot_one_dot_per_run(ensemble):
    sims = ensemble.similarities()
    fig = plot.similarity(ensemble)
    (axis,) = fig.axes
    dots = _dots(axis, "C0")
    assert len(dots) == 6
    np.testing.assert_allclose(np.sort(dots[:, 1]), np.sort(sims.similarity))
    assert (dots[:, 1] <= 1 + 1e-12).all() and np.isclose(dots[:, 1], 1.0).sum() >= 2  # the best
    (means,) = [line for line in axis.lines if line.get_marker() != "o"]
    np.testing.assert_allclose(means.get_ydata(), sims.groupby("rank").similarity.mean())
    # The table works too.
    assert len(_dots(plot.similarity(sims).axes[0], "C0")) == 6
    with pytest.raises(TypeError, match="columns 'rank' and 'similarity'"):
        plot.similarity(pd.DataFrame({"rank": [1]}))


# --- factors -------------------------------------------------------------------------------


@pytest.fixture
def cp(rng):
    """Components of very different norms, some with negative peaks in mode 0."""
    f0 = rng.normal(size=(40, 3)) * [5.0, 0.2, 1.0]
    f0[:, 1] -= 3.0  # negative peak: the sign moves to the last mode
    return f0, rng.normal(size=(6, 3)), rng.normal(size=(5, 3))


def _drawn(fig, rank, ndim, kinds):
    """The drawn values, one (n_k, rank) matrix per mode."""
    axes = np.array(fig.axes).reshape(rank, ndim)
    out = []
    for k, kind in enumerate(kinds):
        cols = []
        for r in range(rank):
            axis = axes[r, k]
            if kind == "bar":
                (bars,) = [c for c in axis.containers if isinstance(c, BarContainer)]
                cols.append([p.get_height() for p in bars.patches])
            else:
                (line,) = [ln for ln in axis.lines if ln.get_color() == "C0"]
                cols.append(line.get_ydata())
        out.append(np.array(cols).T)
    return out


def test_factors_draw_every_component_normalised(cp):
    fig = plot.factors(cp, sort=False, kinds=["line", "bar", "scatter"])
    assert isinstance(fig, Figure) and len(fig.axes) == 3 * 3
    drawn = _drawn(fig, 3, 3, ["line", "bar", "scatter"])
    # The CP product (the data the factors explain) is unchanged ...
    eta = np.einsum("ir,jr,kr->ijk", *cp)
    np.testing.assert_allclose(np.einsum("ir,jr,kr->ijk", *drawn), eta, atol=1e-10)
    # ... every mode of a component has the same norm, largest component first ...
    weight = np.prod([np.linalg.norm(f, axis=0) for f in cp], axis=0)
    for f in drawn:
        np.testing.assert_allclose(np.linalg.norm(f, axis=0), np.sort(weight)[::-1] ** (1 / 3))
    # ... and the largest entry is positive in all modes but the last.
    for f in drawn[:2]:
        assert (f[np.argmax(np.abs(f), axis=0), range(3)] > 0).all()
    assert [a.get_title() for a in fig.axes[:3]] == ["mode 0", "mode 1", "mode 2"]


def test_factors_sorted_and_default_kinds(cp):
    fig = plot.factors(cp[:2])
    drawn = _drawn(fig, 3, 2, ["line", "bar"])  # 40 entries: a line; 6: bars
    unsorted = _drawn(plot.factors(cp[:2], sort=False), 3, 2, ["line", "bar"])
    # Sorting only permutes the rows of mode 0.
    np.testing.assert_allclose(np.sort(drawn[0], axis=0), np.sort(unsorted[0], axis=0))
    assert fig.axes[0].get_title() == "mode 0"
    assert fig.axes[-2].get_xlabel() == "index, sorted by component"  # bottom row, mode 0
    assert fig.axes[-1].get_xlabel() == "index"
    ylabels = [a.get_ylabel() for a in np.array(fig.axes).reshape(3, 2)[:, 0]]
    assert ylabels == [f"component {r}\nloading" for r in (1, 2, 3)]
    groups = np.argmax(np.abs(drawn[0] / np.linalg.norm(drawn[0], axis=0)), axis=1)
    assert (np.diff(groups) >= 0).all()  # rows grouped by their largest component


def _idata(draws):
    return _arviz().from_dict(posterior={f"F{k}": d for k, d in enumerate(draws)})


def _noisy_draws(rng, factors, sd, n=200):
    return [
        f + sd * np.abs(f).max(axis=0) * rng.normal(size=(2, n // 2, *f.shape)) for f in factors
    ]


def test_factors_band_brackets_the_drawn_factors(rng, cp):
    idata = _idata(_noisy_draws(rng, cp[:2], 0.02))
    fig = plot.factors(cp[:2], idata=idata)
    drawn = _drawn(fig, 3, 2, ["line", "bar"])
    axes = np.array(fig.axes).reshape(3, 2)
    widths = []
    for r in range(3):
        # Line mode: a shaded band whose edges bracket the line.
        (band,) = [c for c in axes[r, 0].collections if isinstance(c, PolyCollection)]
        v = band.get_paths()[0].vertices
        for i, value in enumerate(drawn[0][:, r]):
            at = v[np.isclose(v[:, 0], i), 1]
            assert at.min() <= value <= at.max()
        # Bar mode: error bars whose ends bracket the bars.
        (errors,) = [c for c in axes[r, 1].containers if isinstance(c, ErrorbarContainer)]
        ends = np.stack(errors.lines[2][0].get_segments())[:, :, 1]
        lo, hi = ends.min(axis=1), ends.max(axis=1)
        assert (lo <= drawn[1][:, r]).all() and (drawn[1][:, r] <= hi).all()
        widths.append(hi - lo)
    # A narrower probability gives narrower bars.
    fig50 = plot.factors(cp[:2], idata=idata, band=0.5)
    axes50 = np.array(fig50.axes).reshape(3, 2)
    for r in range(3):
        (errors,) = [c for c in axes50[r, 1].containers if isinstance(c, ErrorbarContainer)]
        width = np.ptp(np.stack(errors.lines[2][0].get_segments())[:, :, 1], axis=1)
        assert (width < widths[r]).all()


def test_factors_band_is_on_the_scale_of_the_drawn_factors(rng, cp):
    # Draws that are exactly the fit: the band collapses onto the drawn values,
    # whatever normalisation (scale, sign, order, sorted rows) the fit needed.
    exact = [np.broadcast_to(f, (1, 4, *f.shape)) for f in cp]
    fig = plot.factors(cp, idata=_idata(exact), kinds=["scatter", "bar", "line"])
    drawn = _drawn(fig, 3, 3, ["scatter", "bar", "line"])
    axes = np.array(fig.axes).reshape(3, 3)
    for r in range(3):
        for k in (0, 1):
            (errors,) = [c for c in axes[r, k].containers if isinstance(c, ErrorbarContainer)]
            seg = np.stack(errors.lines[2][0].get_segments())
            np.testing.assert_allclose(seg[:, 0, 1], drawn[k][:, r], atol=1e-10)
            np.testing.assert_allclose(seg[:, 1, 1], drawn[k][:, r], atol=1e-10)
        (band,) = [c for c in axes[r, 2].collections if isinstance(c, PolyCollection)]
        v = band.get_paths()[0].vertices
        for i, value in enumerate(drawn[2][:, r]):
            np.testing.assert_allclose(v[np.isclose(v[:, 0], i), 1], value, atol=1e-10)


def test_factors_bad_input(rng, cp):
    good = _noisy_draws(rng, cp[:2], 0.1, n=4)
    cases = [
        (
            _idata([good[0][..., :2, :], good[1]]),
            "has draws of shape (2, 3) but the fit's factor 0",
        ),
        (_idata([good[0]]), "plot needs F0, F1"),
        (_idata([*good, good[1]]), "more than 2 factor variables (F2 too)"),
        (_idata([good[0][..., :2], good[1][..., :2]]), "has draws of shape (40, 2)"),
    ]
    for idata, match in cases:
        with pytest.raises(ValueError, match=re.escape(match)):
            plot.factors(cp[:2], idata=idata)
    with pytest.raises(TypeError, match=re.escape("idata must be an arviz.InferenceData")):
        plot.factors(cp[:2], idata={"F0": good[0]})
    with pytest.raises(ValueError, match=re.escape("band=1.5 must be the posterior probability")):
        plot.factors(cp[:2], idata=_idata(good), band=1.5)
    with pytest.raises(ValueError, match="give one of 'bar', 'line', 'scatter' per mode"):
        plot.factors(cp[:2], kinds=["bar"])
    with pytest.raises(ValueError, match="with one rank"):
        plot.factors((cp[0], cp[1][:, :2]))


@pytest.mark.slow
def test_factors_band_of_a_laplace_posterior_contains_the_map(rng):
    # Laplace draws are centred at the MAP, so every 90 % band must contain it.
    x = rng.random((12, 1)) @ rng.random((1, 10)) + 0.3 * rng.normal(size=(12, 10))
    model = bf.Model(bf.Gaussian(scale=0.3), 1, bf.Normal(1.0))
    fit = bf.fit(model, x, key=0, tol=1e-10, max_iter=300)
    idata = bf.laplace(model, x, fit, num_samples=400)
    fig = plot.factors(fit, idata=idata, kinds=["bar", "line"])
    drawn = _drawn(fig, 1, 2, ["bar", "line"])
    (errors,) = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    ends = np.stack(errors.lines[2][0].get_segments())[:, :, 1]
    assert (ends.min(axis=1) <= drawn[0][:, 0]).all() and (drawn[0][:, 0] <= ends.max(axis=1)).all()
    (band,) = [c for c in fig.axes[1].collections if isinstance(c, PolyCollection)]
    v = band.get_paths()[0].vertices
    for i, value in enumerate(drawn[1][:, 0]):
        at = v[np.isclose(v[:, 0], i), 1]
        assert at.min() <= value <= at.max()


def test_factors_colour_a_mode_by_label(rng):
    from matplotlib.colors import to_rgba

    f = (rng.random((6, 2)), rng.random((20, 2)), rng.random((8, 2)))
    labels = np.array(["left", "right"] * 4)
    fig = plot.factors(f, kinds=["bar", "line", "scatter"], color_by={2: labels})
    dots = fig.axes[2].collections[0]  # first component, trial mode
    colours = [tuple(c) for c in dots.get_facecolors()]
    assert colours[0::2] == [to_rgba("C0")] * 4 and colours[1::2] == [to_rgba("C1")] * 4
    legend = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert legend == ["left", "right"]
    with pytest.raises(ValueError, match="one label per index of mode 2"):
        plot.factors(f, kinds=["bar", "line", "scatter"], color_by={2: labels[:3]})
    with pytest.raises(ValueError, match="drawn as a line"):
        plot.factors(f, kinds=["bar", "line", "scatter"], color_by={1: np.zeros(20)})


# --- display: pyplot figures, ax= -----------------------------------------------------------


def _artists(axis):
    return len(axis.lines) + len(axis.patches) + len(axis.collections) + len(axis.images)


def _all_plots(rng, ensemble):
    """One call of every plot function, as (name, call(ax=...), number of panels)."""
    f = (rng.random((8, 2)), rng.random((6, 2)))
    w, h = rng.random((8, 4, 2)), rng.random((30, 2))
    return [
        ("error", lambda ax: plot.error(_cv_table(rng), ax=ax), 1),
        ("error by model", lambda ax: plot.error(_cv_table(rng, models=["a", "b"]), ax=ax), 2),
        ("similarity", lambda ax: plot.similarity(ensemble, ax=ax), 1),
        ("factors", lambda ax: plot.factors(f, ax=ax), 4),
        ("seqnmf", lambda ax: plot.seqnmf((w, h), ax=ax), 3),
    ]


def test_every_plot_makes_a_pyplot_figure_that_plt_show_displays(rng, ensemble):
    # pyplot-managed: the notebook backend shows it at the end of the cell and
    # plt.show() finds it (a bare matplotlib.figure.Figure is neither).
    for name, call, _ in _all_plots(rng, ensemble):
        before = set(plt.get_fignums())
        fig = call(None)
        assert isinstance(fig, Figure), name
        assert set(plt.get_fignums()) - before == {fig.number}, name
        assert fig.canvas.manager is not None and plt.figure(fig.number) is fig, name
        plt.close(fig)


def test_inline_backend_displays_the_figure(rng, monkeypatch):
    # What Jupyter does at the end of a cell: matplotlib-inline shows every open
    # pyplot figure (flush_figures -> display(fig)).
    backend_inline = pytest.importorskip("matplotlib_inline.backend_inline")
    shown = []
    monkeypatch.setattr(backend_inline, "display", lambda fig, **kw: shown.append(fig))
    fig = plot.error(_cv_table(rng))
    backend_inline.show(close=True)
    assert shown == [fig] and plt.get_fignums() == []


def test_every_plot_draws_into_the_given_axes(rng, ensemble):
    for name, call, n in _all_plots(rng, ensemble):
        fig, axes = plt.subplots(1, n, squeeze=False)
        axes = list(axes[0])
        before = set(plt.get_fignums())
        counts = [_artists(a) for a in axes]
        assert call(axes[0] if n == 1 else axes) is fig, name
        assert set(plt.get_fignums()) == before, name  # no new figure
        assert all(_artists(a) > c for a, c in zip(axes, counts, strict=True)), name
        assert fig.axes == axes, name
    with pytest.raises(ValueError, match=re.escape("plot.seqnmf (timecourses, exemplars, data) ")):
        plot.seqnmf((rng.random((8, 4, 2)), rng.random((30, 2))), ax=plt.subplots(1, 2)[1])


def test_cli_closes_the_error_figure(rng, tmp_path, capsys):
    from bayesfactor.cli.commands import _report_cv

    before = plt.get_fignums()
    table = _cv_table(rng)
    assert _report_cv(table, tmp_path) == bf.choose_rank(table, warn=False).rank
    assert plt.get_fignums() == before
    assert (tmp_path / "error.png").read_bytes()[:4] == b"\x89PNG"
    chosen = bf.choose_rank(table, warn=False).rank
    assert f"Chosen rank {chosen}: " in capsys.readouterr().out


# --- axes that read -------------------------------------------------------------------------


def test_error_title_says_what_was_held_out_and_marks_the_best_rank(rng):
    table = _cv_table(rng, ranks=(1, 2, 3, 4), runs=6)
    table.loc[table["rank"] == 3, "test_log_likelihood"] += 0.8  # planted best rank
    table.attrs.update(holdout=0.2, scheme="speckled")
    assert _best_rank(table) == 3
    (axis,) = plot.error(table).axes
    assert axis.get_title() == "cross-validation, 3 folds\n20% of entries held out (speckled)"
    (mark,) = [line for line in axis.lines if line.get_label().startswith("best")]
    assert mark.get_label() == "best: rank 3"
    np.testing.assert_array_equal(mark.get_xdata(), [3, 3])
    # A chosen rank instead, and no mark at all.
    (mark,) = [ln for ln in plot.error(table, best=2).axes[0].lines if "rank" in ln.get_label()]
    assert mark.get_label() == "chosen: rank 2" and list(mark.get_xdata()) == [2, 2]
    assert "best: rank 3" not in _labels(plot.error(table, best=False).axes[0])
    with pytest.raises(ValueError, match=re.escape("best=7 is not a rank of the table")):
        plot.error(table, best=7)


def test_error_of_a_sweep_marks_the_best_model_and_titles_the_figure(rng):
    sweep = _cv_table(rng, ranks=(3,), models=[0.01, 1.0, 100.0])
    sweep.loc[sweep["model"] == 1.0, "test_log_likelihood"] += 1.0
    sweep.attrs.update(holdout=0.1, scheme="rows")
    (axis,) = plot.error(sweep).axes
    (mark,) = [line for line in axis.lines if line.get_label().startswith("best")]
    assert mark.get_label() == "best: model 1.0" and list(mark.get_xdata()) == [1.0, 1.0]
    assert axis.get_title() == "cross-validation, 2 folds\n10% of entries held out (rows)"
    fig = plot.error(_cv_table(rng, models=["weak", "strong"]))
    assert fig.get_suptitle().startswith("cross-validation")
    assert [a.get_title() for a in fig.axes] == ["model weak", "model strong"]


def test_error_of_an_ensemble_says_training_and_marks_nothing(ensemble):
    (axis,) = plot.error(ensemble).axes
    assert axis.get_title() == "training error of every restart\n(all observed entries)"
    assert not [line for line in axis.lines if "rank" in line.get_label()]


@pytest.fixture(scope="module")
def stn_fit():
    spikes = bf.datasets.load_stn_spikes()
    model = bf.Model(bf.Poisson(link="identity"), 2, bf.NonNegative())
    return spikes, bf.fit(model, spikes.counts, key=0, max_iter=200, tol=1e-4)


def test_factors_of_a_dataframe_are_drawn_at_its_labels(stn_fit):
    spikes, fit = stn_fit
    fig = plot.factors(fit)  # trials: 50 (a line, sorted); time bins: 40 (a line)
    axes = np.array(fig.axes).reshape(2, 2)
    time_ms = spikes.counts.columns.to_numpy()  # -1000, -950, ..., 950
    for r in range(2):
        (line,) = [ln for ln in axes[r, 1].lines if ln.get_color() == "C0"]
        np.testing.assert_array_equal(line.get_xdata(), time_ms)
    assert axes[0, 1].get_title() == "mode 1: time_ms" and axes[1, 1].get_xlabel() == "time_ms"
    assert axes[1, 0].get_xlabel() == "trial, sorted by component"
    assert axes[1, 1].get_xlim()[0] < -900 and axes[1, 1].get_xlim()[1] > 900
    # The same drawn at the index when the labels are withheld (NumPy input).
    (line,) = [ln for ln in plot.factors(fit.factors).axes[1].lines if ln.get_color() == "C0"]
    np.testing.assert_array_equal(line.get_xdata(), np.arange(40))


def test_factors_bars_at_numeric_labels_and_labels_for_numpy(rng):
    years = np.arange(1950, 2011, 5)  # 13 bars 5 years apart
    f = (rng.random((13, 2)), rng.random((6, 2)))
    fig = plot.factors(f, labels={0: years}, sort=False)
    (bars,) = [c for c in fig.axes[0].containers if isinstance(c, BarContainer)]
    centres = [p.get_x() + p.get_width() / 2 for p in bars.patches]
    np.testing.assert_allclose(centres, years)
    np.testing.assert_allclose([p.get_width() for p in bars.patches], 0.8 * 5)
    assert fig.axes[-2].get_xlabel() == "label"
    named = plot.factors(f, labels={0: pd.Index(years, name="year")}, sort=False)
    assert named.axes[0].get_title() == "mode 0: year" and named.axes[-2].get_xlabel() == "year"
    with pytest.raises(ValueError, match=re.escape("labels[0] has shape (3,)")):
        plot.factors(f, labels={0: years[:3]})


def test_factors_colour_categorical_groups_with_a_legend():
    votes = bf.datasets.load_house_votes()
    party = votes.party.astype(str).to_numpy()
    rng = np.random.default_rng(1)
    u, v = rng.random((party.size, 2)), rng.random((16, 2))
    fit = made_up_fit(
        bf.Model(bf.Bernoulli(), 2, bf.Normal(1.0)),
        (u, v),
        labels=(pd.Index(party, name="party"), votes.data.columns),
        dims=("party", "vote"),
        kind="pandas",
    )
    from matplotlib.colors import to_rgba

    fig = plot.factors(fit, sort=False)
    axes = np.array(fig.axes).reshape(2, 2)
    # Representatives: dots (not a line joining unordered labels), coloured by party.
    assert not [ln for ln in axes[0, 0].lines if ln.get_color() == "C0"]
    (dots,) = axes[0, 0].collections
    legend = {t.get_text() for t in axes[0, 0].get_legend().get_texts()}
    assert legend == {"democrat", "republican"}
    handles = {h.get_label(): h.get_facecolor() for h in axes[0, 0].get_legend().legend_handles}
    colours = [tuple(c) for c in dots.get_facecolors()]
    assert colours == [tuple(handles[p]) for p in party]
    assert colours.count(to_rgba(handles["democrat"])) == (party == "democrat").sum()
    # Votes: 16 bars named on the ticks by the DataFrame's own columns.
    ticks = [t.get_text() for t in axes[1, 1].get_xticklabels()]
    assert ticks == votes.data.columns.tolist()
    # Sorted by component: still one colour per party, with the legend.
    fig = plot.factors(fit)
    colours = [tuple(c) for c in fig.axes[0].collections[0].get_facecolors()]
    assert sorted(set(colours)) == sorted(set(tuple(c) for c in handles.values()))
    assert fig.axes[0].get_legend() is not None
