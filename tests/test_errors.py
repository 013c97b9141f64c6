"""Bad input raises a clear error before any compilation."""

import re

import numpy as np
import pytest

import bayesfactor as bf
from bayesfactor.solvers import program

X = np.random.default_rng(0).poisson(2.0, size=(8, 6)).astype(float)


@pytest.fixture(autouse=True)
def no_compilation(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("compiled/ran before the input was checked")

    monkeypatch.setattr(program, "fit_program", forbidden)


def _fit(model, x, **kwargs):
    return bf.fit(model, x, **kwargs)


POISSON = bf.Model(bf.Poisson(), 2, bf.Flat())
GAUSS = bf.Model(bf.Gaussian(), 2, bf.Flat())


@pytest.mark.parametrize(
    "model, x, kwargs, error, message",
    [
        (POISSON, -X, {}, ValueError, "Poisson data must be non-negative counts"),
        (bf.Model(bf.Bernoulli(), 2), X, {}, ValueError, "Bernoulli data must be 0 or 1"),
        (GAUSS, np.where(X > 3, np.inf, X), {}, ValueError, "infinite entries, e.g. at index"),
        (GAUSS, np.full((3, 4), np.nan), {}, ValueError, "all entries of X are missing"),
        (
            GAUSS,
            np.arange(5.0),
            {},
            ValueError,
            "at least 2 dimensions (a matrix or a tensor); got a 1-D",
        ),
        (GAUSS, np.array([["a", "b"], ["c", "d"]]), {}, TypeError, "X must be a numeric array"),
        (GAUSS, X, {"mask": np.ones((8, 6))}, TypeError, "mask must be a boolean array"),
        (
            GAUSS,
            X,
            {"mask": np.ones((6, 8), bool)},
            ValueError,
            "mask has shape (6, 8) but X has shape (8, 6)",
        ),
        (
            bf.Model(bf.Gaussian(), 2, (bf.Flat(),) * 3),
            X,
            {},
            ValueError,
            "the model has 3 priors (one per mode) but X has 2 modes",
        ),
        (
            bf.Model(bf.Gaussian(), 9, (bf.OneHot(), bf.Flat())),
            X,
            {},
            ValueError,
            "rank=9 clusters need at least as many rows",
        ),
        (GAUSS, X, {"key": "seed"}, TypeError, "key must be an int seed or a jax.random key"),
        (GAUSS, X, {"restarts": 0}, ValueError, "restarts must be a positive int; got 0"),
        (
            GAUSS,
            X,
            {"init": (np.ones((8, 3)), np.ones((6, 3)))},
            ValueError,
            "init factor 0 has shape (8, 3); expected (8, 2)",
        ),
        ("pca", X, {}, TypeError, "model must be a bf.Model"),
    ],
)
def test_bad_fit_input(model, x, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        bf.fit(model, x, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"rank": 0}, ValueError, "rank must be a positive int; got rank=0. Use rank >= 1."),
        ({"rank": 2.0}, TypeError, "rank must be a positive int; got 2.0 (float)"),
        ({"rank": "3"}, TypeError, "rank must be a positive int; got '3' (str)"),
        ({"rank": True}, TypeError, "rank must be a positive int"),
        (
            {"rank": 2, "likelihood": "gaussian"},
            TypeError,
            "likelihood must be a bayesfactor likelihood",
        ),
        ({"rank": 2, "priors": "flat"}, TypeError, "priors must be a bayesfactor prior"),
    ],
)
def test_bad_model_declaration(kwargs, error, message):
    kwargs = {"likelihood": bf.Gaussian(), **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        bf.Model(**kwargs)


@pytest.mark.parametrize(
    "prior", [bf.Flat(), bf.Normal(1.0), bf.Laplace(1.0), bf.Smooth(1.0)], ids=repr
)
def test_identity_poisson_refuses_real_priors(prior):
    msg = "needs non-negative factors, but the prior on every mode is"
    with pytest.raises(ValueError, match=re.escape(msg)) as info:
        bf.Model(bf.Poisson(link="identity"), 2, prior)
    assert "Use NonNegative(), Exponential(rate), HalfNormal(scale)" in str(info.value)
    with pytest.raises(ValueError, match=re.escape("the prior on mode 1 is")):
        bf.Model(bf.Poisson(link="identity"), 2, (bf.NonNegative(), prior))


def test_fixed_modes_need_init_values(no_compilation):
    model = bf.Model(bf.Gaussian(), 2)
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="init gives none"):
        bf.fit(model, x, fixed=(1,))
    with pytest.raises(ValueError, match="at least one mode"):
        bf.fit(model, x, init=(np.ones((4, 2)), np.ones((3, 2))), fixed=(0, 1))
    with pytest.raises(ValueError, match="mode indices in 0..1"):
        bf.fit(model, x, init=(None, np.ones((3, 2))), fixed=(2,))


def test_bad_init_strings_raise_before_compiling(no_compilation):
    with pytest.raises(ValueError, match="'random', 'svd'"):
        bf.fit(bf.Model(bf.Gaussian(), 1), np.ones((3, 3)), init="nndsvd")
    with pytest.raises(ValueError, match="not defined for von Mises"):
        bf.fit(bf.Model(bf.VonMises(), 1), np.ones((3, 3)), init="svd")


def test_sizes_that_cannot_fit_are_refused_before_any_work():
    with pytest.raises(ValueError, match=r"rank=1000000 .* needs at least .* GiB"):
        bf.fit(bf.Model(bf.Gaussian(), 10**6, bf.Flat()), np.ones((8, 6)))
    with pytest.raises(ValueError, match="at most 24"):
        bf.fit(bf.Model(bf.Gaussian(), 1, bf.Flat()), np.ones((1,) * 26 + (2,)))


def test_a_dataframe_with_a_text_column_names_it():
    import pandas as pd

    frame = pd.DataFrame({"a": [1.0, 2.0], "name": ["x", "y"], "b": [3, 4]})
    with pytest.raises(TypeError, match=r"non-numeric columns \['name'\]"):
        bf.fit(bf.Model(bf.Gaussian(), 1, bf.Flat()), frame)


def test_sample_progress_bar_must_be_a_bool():
    with pytest.raises(TypeError, match="progress_bar must be True or False; got 'no'"):
        bf.sample(bf.Model(bf.Gaussian(), 1, bf.Normal(1.0)), np.ones((4, 3)), progress_bar="no")
