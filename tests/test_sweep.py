"""Batched sweeps (fit_sweep): one program for many (rank, mask, key) fits, against
separate ``bf.fit`` calls (the generic path) as the reference."""

import dataclasses
import warnings

import jax
import numpy as np
import pytest
from cases import CASES, MATRIX, assert_monotone, make_data
from conftest import count_compiles

import bayesfactor as bf
from bayesfactor.selection import score
from bayesfactor.solvers import program, sweep
from bayesfactor.solvers.start import draw_start
from bayesfactor.solvers.sweep import fit_sweep

MAX_ITER = 60
RANKS = (1, 3, 2, 3)  # the largest rank is not last: padding is per member


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        return fn(*args, **kwargs)


def _members(seed=1):
    rng = np.random.default_rng(seed)
    masks = rng.random((len(RANKS), *MATRIX)) > 0.25
    keys = list(jax.random.split(jax.random.key(seed), len(RANKS)))
    return masks, keys


FAST = ["nmf", "pca", "kl_nmf", "logistic_pca"]
SLOW = ["nmf_l1", "smooth", "kl_nmf_l1", "poisson_pca", "robust_pca", "kmeans", "circular"]


@pytest.mark.parametrize(
    "name", FAST + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW]
)  # fmt: skip
@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_sweep_equals_separate_fits(name):
    # HALS (nmf), row solves (pca), MU (kl_nmf), majorized row solves (logistic_pca);
    # slow: the prior's gradient at 0 (Exponential), Smooth, coordinate Newton with a
    # line search, OneHot (one program per rank).
    model, kind = CASES[name]
    x = make_data(kind, MATRIX)
    masks, keys = _members()
    sweep = _quiet(
        fit_sweep, model, x, RANKS, masks, keys, restarts=2, max_iter=MAX_ITER, tol=1e-9
    )  # fmt: skip
    for rank, mask, key, got in zip(RANKS, masks, keys, sweep, strict=True):
        m = dataclasses.replace(model, rank=rank)
        ref = _quiet(bf.fit, m, x, mask=mask, key=key, restarts=2, max_iter=MAX_ITER, tol=1e-9)
        assert got.model.rank == rank
        if name == "robust_pca":
            # IRLS on the absolute loss (weights 1/|residual|) amplifies rounding: the
            # padded and plain fits agree to 1e-11 at first and drift apart in one restart.
            np.testing.assert_allclose(got.restart_objectives, ref.restart_objectives, rtol=1e-3)
            continue
        assert got.n_iter == ref.n_iter
        np.testing.assert_allclose(got.restart_objectives, ref.restart_objectives, rtol=1e-8)
        np.testing.assert_allclose(got.history, ref.history, rtol=1e-8)
        for a, b in zip(got.factors, ref.factors, strict=True):
            assert a.shape == b.shape == (a.shape[0], rank)
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8 * np.abs(b).max())
        test = ~mask
        for s, r in zip(score(got, x, test).values(), score(ref, x, test).values(), strict=True):
            assert s == pytest.approx(r, rel=1e-8)


@pytest.mark.parametrize("name", ["nmf", "pca", "kl_nmf", "logistic_pca", "nmf_l1"])
def test_inactive_components_stay_exactly_zero(name):
    model, kind = CASES[name]
    x = make_data(kind, MATRIX)
    masks, keys = _members()
    full = dataclasses.replace(model, rank=max(RANKS))
    starts = [draw_start(full, MATRIX, k, range(2), np.float64, 1.0) for k in keys]
    state = sweep.sweep_program(
        full,
        jax.numpy.asarray(x),
        jax.numpy.asarray(masks),
        jax.tree.map(lambda *a: np.stack(a), *starts),
        jax.numpy.asarray(RANKS),
        jax.numpy.asarray(1e-9),
        max_iter=MAX_ITER,
        dense=False,
        padded=True,
    )
    for i, rank in enumerate(RANKS):
        for f in state.factors:  # (members, restarts, n_k, R)
            assert np.all(np.asarray(f[i, :, :, rank:]) == 0.0)
        for history, step in zip(state.history[i], state.step[i], strict=True):
            assert_monotone(np.asarray(history)[: int(step)])


def test_stopped_members_do_not_change():
    # The member that stops first keeps its state while the others run on.
    model, kind = CASES["nmf"]
    x = make_data(kind, MATRIX)
    masks, keys = _members()
    fits = _quiet(fit_sweep, model, x, RANKS, masks, keys, max_iter=MAX_ITER, tol=1e-3)
    assert len({f.n_iter for f in fits}) > 1
    for fit in fits:
        assert len(fit.history) == fit.n_iter
        assert fit.objective == pytest.approx(fit.history[-1], rel=1e-12)


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_one_program_for_a_rank_fold_restart_sweep(rng, monkeypatch):
    x = rng.normal(size=(19, 11))  # a shape no other test compiles
    model = bf.Model(bf.Gaussian(), 2, bf.Flat())
    traces = []
    fit_impl = sweep.fit_impl

    def counted(*args, **kwargs):  # runs once per trace of the compiled sweep's start
        if kwargs["phase"] == "start":
            traces.append(kwargs["active"].shape)
        return fit_impl(*args, **kwargs)

    monkeypatch.setattr(sweep, "fit_impl", counted)
    with count_compiles() as compiled:
        table = _quiet(
            bf.cross_validate, model, x, ranks=[1, 2, 3], folds=2, restarts=2, max_iter=50, key=0
        )
    assert len(table) == 3 * 2 and (table.restart == "best").all()
    assert len(traces) == 1 and traces[0] == (3,)  # padded to the largest rank
    assert compiled.of(program.fit_program) == 0  # no per-rank program
    assert compiled.of(sweep.sweep_program) == 2  # one sweep: its start and its chunks
    # A prior-strength sweep of the same structure reuses the program: numbers are traced.
    strengths = {s: bf.Model(bf.Gaussian(), 2, bf.Normal(s)) for s in (0.5, 2.0)}
    _quiet(bf.cross_validate, strengths, x, ranks=[1, 2, 3], folds=2, restarts=2, max_iter=50)
    assert len(traces) == 2  # Normal's tree differs from Flat's: one more, for both scales


@pytest.mark.slow  # ~18 s
def test_cross_validate_table_equals_separate_fits(rng):
    # The sequential loop cross_validate ran before batching, as the reference.
    x = np.abs(rng.normal(size=(15, 12)))
    model = bf.Model(bf.Gaussian(), 1, bf.NonNegative())
    ranks, folds, restarts = [1, 2], 2, 2
    cv = _quiet(
        bf.cross_validate, model, x, ranks=ranks, holdout=0.2, folds=folds, restarts=restarts,
        max_iter=MAX_ITER, tol=1e-9, key=3,
    )  # fmt: skip
    per = _quiet(
        bf.cross_validate, model, x, ranks=ranks, holdout=0.2, folds=folds, restarts=restarts,
        per_restart=True, max_iter=MAX_ITER, tol=1e-9, key=3,
    )  # fmt: skip
    key_masks, key_fits = jax.random.split(jax.random.key(3))
    masks = bf.selection.holdout_masks(x, 0.2, folds=folds, key=key_masks)
    fold_keys = jax.random.split(key_fits, folds)
    i = j = 0
    for rank in ranks:
        m = dataclasses.replace(model, rank=rank)
        for f, test in enumerate(masks):
            fit = _quiet(bf.fit, m, x, mask=~test, key=fold_keys[f], restarts=restarts,
                         max_iter=MAX_ITER, tol=1e-9)  # fmt: skip
            row = cv.iloc[i]
            assert (row["rank"], row.fold) == (rank, f)
            assert row.objective == pytest.approx(fit.objective, rel=1e-8)
            assert row.test_mse == pytest.approx(score(fit, x, test)["mse"], rel=1e-8)
            i += 1
            for r, k in enumerate(jax.random.split(fold_keys[f], restarts)):
                one = _quiet(bf.fit, m, x, mask=~test, key=k, max_iter=MAX_ITER, tol=1e-9)
                row = per.iloc[j]
                assert (row["rank"], row.fold, row.restart) == (rank, f, r)
                assert row.objective == pytest.approx(one.objective, rel=1e-8)
                j += 1


@pytest.mark.slow  # ~10-30 s
def test_large_sweeps_run_in_equal_calls_of_one_program(monkeypatch):
    model, kind = CASES["pca"]
    x = make_data(kind, MATRIX)
    masks, keys = _members()
    monkeypatch.setattr(sweep, "SWEEP_ENTRIES", 3 * x.size)  # 3 members per call
    calls = []
    sweep_program = sweep.sweep_program

    def recorded(*args, **kwargs):  # a call's first chunk starts the loop
        if kwargs.get("phase") == "start":
            calls.append(args[2].shape[0])
        return sweep_program(*args, **kwargs)

    monkeypatch.setattr(sweep, "sweep_program", recorded)
    fits = _quiet(fit_sweep, model, x, RANKS, masks, keys, max_iter=MAX_ITER, tol=1e-9)
    assert calls == [3, 3]  # 4 members: the second call filled with a copy
    for rank, mask, key, got in zip(RANKS, masks, keys, fits, strict=True):
        m = dataclasses.replace(model, rank=rank)
        ref = _quiet(bf.fit, m, x, mask=mask, key=key, max_iter=MAX_ITER, tol=1e-9)
        assert got.objective == pytest.approx(ref.objective, rel=1e-8)


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
@pytest.mark.parametrize("name", ["nmf", "logistic_pca"])
def test_fully_observed_ensemble_equals_separate_fits(name):
    # Fully observed: the dense paths (Gram-form objective, one Gram for every row).
    model, kind = CASES[name]
    x = make_data(kind, MATRIX)
    ens = _quiet(
        bf.fit_ensemble, model, x, ranks=[1, 3], restarts=2, key=4, max_iter=MAX_ITER, tol=1e-9
    )  # fmt: skip
    keys = jax.random.split(jax.random.key(4), 2)
    for rank in (1, 3):
        m = dataclasses.replace(model, rank=rank)
        for got, key in zip(ens.results[rank], keys, strict=True):
            ref = _quiet(bf.fit, m, x, key=key, max_iter=MAX_ITER, tol=1e-9)
            assert got.n_iter == ref.n_iter
            np.testing.assert_allclose(got.history, ref.history, rtol=1e-8)
