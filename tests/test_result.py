"""Printed results: short tables, the computed numbers, no array dumps."""

import numpy as np
import pytest

import bayesfactor as bf


@pytest.fixture(scope="module")
def kl_fit():
    X = np.random.default_rng(0).poisson(3.0, size=(12, 10)).astype(float)
    model = bf.Model(bf.Poisson(link="identity"), 2, bf.NonNegative())
    return bf.fit(model, X, max_iter=1000, tol=1e-6, check_every=10)


def test_fit_repr_says_where_the_objective_was_evaluated(kl_fit):
    text = repr(kl_fit)
    assert len(text.splitlines()) <= 8 and len(text) < 800
    assert "nan" not in text  # numpy prints nan; the note says "NaN between"
    # The history holds the objective every 10 iterations, NaN between: the repr says so.
    evaluated = np.flatnonzero(~np.isnan(kl_fit.history)) + 1
    assert np.all(evaluated % 10 == 0) and evaluated.size < kl_fit.n_iter
    assert f"objective at {evaluated.size} of {kl_fit.n_iter} iterations (every 10" in text
    assert f"{kl_fit.objective:.6g}" in text


def test_objectives_are_the_evaluated_history(kl_fit):
    iterations, values = kl_fit.objectives
    np.testing.assert_array_equal(iterations, np.flatnonzero(~np.isnan(kl_fit.history)) + 1)
    np.testing.assert_array_equal(values, kl_fit.history[iterations - 1])
    assert not np.isnan(values).any()


def test_fit_repr_every_iteration():
    X = np.random.default_rng(1).normal(size=(8, 6))
    fit = bf.fit(bf.Model(bf.Gaussian(), 1, bf.Flat()), X, check_every=1)
    assert not np.isnan(fit.history).any()
    assert f"objective at every iteration ({fit.n_iter})" in repr(fit)
