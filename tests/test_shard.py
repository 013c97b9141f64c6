"""Sharded fits (``bf.fit(..., devices=...)``) equal single-device fits.

Several CPU devices exist only if ``XLA_FLAGS`` is set before jax is imported, so
the comparison runs in a subprocess with four forced host devices.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import bayesfactor as bf

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import warnings
    import jax, numpy as np, bayesfactor as bf
    from bayesfactor.solvers._shard import as_mesh

    assert len(jax.devices()) == 4, jax.devices()
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, size=(20, 7)).astype(float)      # 20 = 4 * 5 rows
    uneven = rng.poisson(3.0, size=(7, 18)).astype(float)      # 18: 2 padding columns
    tensor = rng.normal(size=(6, 5, 9))                        # 9: 3 padding slices
    mask = rng.random(uneven.shape) > 0.2
    kl = bf.Model(bf.Poisson(link="identity"), 2, bf.NonNegative())
    cases = {
        "nmf": (bf.Model(bf.Gaussian(), 2, bf.NonNegative()), counts, {}),
        "kl_nmf": (kl, counts, {"restarts": 2}),
        "nmf_uneven": (bf.Model(bf.Gaussian(), 2, bf.NonNegative()), uneven, {}),
        "kl_nmf_uneven_mask": (bf.Model(bf.Poisson(link="identity"), 2,
                                        bf.Exponential(1.0)), uneven, {"mask": mask}),
        "cp_uneven": (bf.Model(bf.Gaussian(), 2, bf.Normal(1.0)), tensor, {}),
        "line_search_uneven": (bf.Model(bf.Poisson(), 2, bf.Normal(1.0)), uneven, {}),
        "svd_uneven": (bf.Model(bf.Gaussian(), 2, bf.NonNegative()), uneven, {"init": "svd"}),
        "kl_nmf_mesh": (kl, counts, {}),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: fixed iteration counts
        for name, (model, x, kw) in cases.items():
            one = bf.fit(model, x, key=1, max_iter=60, tol=1e-10, **kw)
            devices = jax.sharding.Mesh(jax.devices(), ("rows",)) if name.endswith(
                "mesh") else 4
            many = bf.fit(model, x, key=1, max_iter=60, tol=1e-10, devices=devices, **kw)
            rel = abs(one.objective - many.objective) / abs(one.objective)
            # (NaN where the objective is not evaluated: check_every, the same in both)
            assert (np.isnan(one.history) == np.isnan(many.history)).all(), name
            hist = np.nanmax(np.abs(one.history - many.history) / np.abs(one.history))
            shapes = [f.shape for f in many.factors] == [f.shape for f in one.factors]
            print(name, rel, hist, shapes)
            assert rel < 1e-6 and hist < 1e-6 and shapes, name
    offset = bf.Offset(bf.Poisson(), np.zeros((1, 18)))
    for model in [bf.Model(bf.Gaussian(), 2, bf.Smooth(1.0)), bf.Model(offset, 2)]:
        try:
            bf.fit(model, uneven, devices=4)
        except ValueError as e:
            assert "padding" in str(e), e
        else:
            raise AssertionError(f"{model} on a padded mode was accepted")
    print("OK")
    """
)


@pytest.mark.slow  # ~40 s: a subprocess with 4 forced CPU devices
def test_sharded_fit_equals_single_device():
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_ENABLE_X64": "1",
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("OK"), out.stdout


def test_one_device_is_the_same_fit(rng):
    X = rng.poisson(3.0, size=(9, 6)).astype(float)
    model = bf.Model(bf.Poisson(link="identity"), 2, bf.NonNegative())
    one = bf.fit(model, X, key=0, max_iter=300, tol=1e-5)
    mesh = bf.fit(model, X, key=0, max_iter=300, tol=1e-5, devices=1)
    listed = bf.fit(model, X, key=0, max_iter=300, tol=1e-5, devices=jax.devices()[:1])
    np.testing.assert_allclose(mesh.objective, one.objective, rtol=1e-12)
    np.testing.assert_allclose(listed.factors[0], one.factors[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("devices", "error", "match"),
    [
        (10_000, ValueError, "JAX sees"),
        (0, ValueError, "1 <= devices"),
        (True, TypeError, "devices must be"),
        ("gpu", TypeError, "devices must be"),
        (2.0, TypeError, "devices must be"),
        ([], TypeError, "non-empty sequence"),
        ([0, 1], TypeError, "sequence of jax.Device"),
    ],
    ids=["too_many", "zero", "bool", "str", "float", "empty", "ints"],
)
def test_bad_devices(rng, devices, error, match):
    X = rng.normal(size=(6, 4))
    with pytest.raises(error, match=match):
        bf.fit(bf.Model(bf.Gaussian(), 1), X, devices=devices)


def test_bad_mesh_and_repeated_device(rng):
    X = rng.normal(size=(6, 4))
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("a", "b"))
    with pytest.raises(ValueError, match="one axis"):
        bf.fit(bf.Model(bf.Gaussian(), 1), X, devices=mesh)
    with pytest.raises(ValueError, match="more than once"):
        bf.fit(bf.Model(bf.Gaussian(), 1), X, devices=jax.devices()[:1] * 2)
