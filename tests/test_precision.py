"""Precision follows the data: float64 in float64, float32 in float32, x64 on at import."""

import os
import subprocess
import sys

import numpy as np
import pytest

import bayesfactor as bf
from bayesfactor.sklearn import NMF

MODEL = bf.Model(bf.Gaussian(), 2, bf.NonNegative())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_fit_computes_and_returns_in_the_data_precision(dtype, tmp_path):
    x = np.random.default_rng(0).poisson(3.0, size=(20, 15)).astype(dtype)
    expected = np.float32 if dtype == np.float32 else np.float64
    result = bf.fit(MODEL, x, key=0)
    assert all(f.dtype == expected for f in result.factors)
    assert result.history.dtype == expected
    bf.io.save(result, tmp_path / "fit.nc")
    assert bf.load(tmp_path / "fit.nc").factors[0].dtype == expected
    est = NMF(2).fit(x.astype(expected))
    assert est.components_.dtype == expected and est.transform(x).dtype == expected


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_exact_data_are_recovered_to_each_precision():
    # Exact rank-3 data: float64 recovers it to ~1e-8; float32, whose stopping
    # objective is summed from the residuals (the Gram form would cancel), to ~1e-7.
    rng = np.random.RandomState(1)
    x = rng.rand(60, 3) @ rng.rand(3, 50)
    errors = {}
    for dtype in (np.float32, np.float64):
        result = bf.fit(bf.Model(bf.Gaussian(), 3, bf.NonNegative()), x.astype(dtype))
        u, v = (np.asarray(f, np.float64) for f in result.factors)
        errors[dtype] = np.linalg.norm(x - u @ v.T) / np.linalg.norm(x)
    assert errors[np.float64] < 1e-6 and errors[np.float32] < 1e-5
    assert errors[np.float64] < errors[np.float32]


@pytest.mark.slow  # three fresh processes
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "True float64"),
        ({"BAYESFACTOR_X64": "0"}, "False float32"),
        ({"JAX_ENABLE_X64": "0"}, "False float32"),  # JAX's own switch is respected
    ],
)
def test_x64_is_on_at_import_unless_opted_out(extra, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_ENABLE_X64", "BAYESFACTOR_X64")}
    code = (
        "import warnings, numpy as np, bayesfactor as bf, jax;"
        "warnings.simplefilter('ignore');"
        "r = bf.fit(bf.Model(bf.Gaussian(), 1, bf.Flat()), np.ones((4, 3)), max_iter=5);"
        "print(jax.config.jax_enable_x64, r.factors[0].dtype)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env | extra, capture_output=True, text=True, check=True
    )
    assert out.stdout.split("\n")[-2] == expected


def test_a_key_gives_the_same_start_in_float32_and_float64():
    x = np.random.default_rng(0).random((50, 40))
    model = bf.Model(bf.Gaussian(), 3, bf.NonNegative())
    with pytest.warns(bf.ConvergenceWarning):
        a = bf.fit(model, x, key=1, max_iter=1, tol=0)
    with pytest.warns(bf.ConvergenceWarning):
        b = bf.fit(model, x.astype(np.float32), key=1, max_iter=1, tol=0)
    np.testing.assert_allclose(a.factors[0], b.factors[0], rtol=1e-4, atol=1e-5)
