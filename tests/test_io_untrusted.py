"""Saved fits from strangers: crafted files are refused with one clear ValueError."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import bayesfactor as bf


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    x = np.random.default_rng(0).poisson(3.0, size=(20, 15)).astype(float)
    fit = bf.fit(bf.Model(bf.Poisson(link="identity"), 2, bf.NonNegative()), x, key=0)
    path = fit.save(tmp_path_factory.mktemp("saved") / "fit.nc")
    return fit, path.read_bytes()


def copy(saved, tmp_path, name="fit.nc"):
    path = tmp_path / name
    path.write_bytes(saved[1])
    return path


def replace_f0(path, **kwargs):
    """Swap F0 for another dataset, dimension scales re-attached as h5netcdf wrote them."""
    with h5py.File(path, "r+") as f:
        dims = [f[d.name] for d in (f["F0"].dims[0][0], f["F0"].dims[1][0])]
        del f["F0"]
        f.create_dataset("F0", **kwargs)
        for i, d in enumerate(dims):
            f["F0"].dims[i].attach_scale(d)


def set_attr(path, name, value):
    with h5py.File(path, "r+") as f:
        f.attrs[name] = value


def test_external_raw_storage_is_refused_before_reading_it(saved, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(np.arange(40, dtype="<f4").tobytes())
    path = copy(saved, tmp_path)
    replace_f0(path, shape=(20, 2), dtype="<f4", external=[(str(secret), 0, 160)])
    with pytest.raises(ValueError, match="outside the file"):
        bf.load(path)


@pytest.mark.parametrize("link", ["external", "soft"])
def test_links_are_refused(saved, tmp_path, link):
    other = copy(saved, tmp_path, "other.nc")
    path = copy(saved, tmp_path)
    with h5py.File(path, "r+") as f:
        f["extra"] = (
            h5py.ExternalLink(str(other), "/F0") if link == "external" else (h5py.SoftLink("/F1"))
        )
    with pytest.raises(ValueError, match=f"{link} link 'extra'"):
        bf.load(path)


def test_a_small_file_declaring_gigabytes_is_refused_from_its_metadata(saved, tmp_path):
    path = copy(saved, tmp_path)
    # 100,000,000 x 2 float64 (1.6 GB) of gzip-compressed fill: a file of a few KB.
    replace_f0(path, shape=(10**8, 2), dtype="<f8", chunks=(10**6, 2), compression="gzip")
    assert path.stat().st_size < 10**6
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="more than max_bytes"):
        bf.load(path)
    assert time.perf_counter() - t0 < 5
    with pytest.raises(ValueError, match="more than max_bytes"):
        bf.load(copy(saved, tmp_path, "small.nc"), max_bytes=100)


def test_factors_that_do_not_fit_the_model_are_refused(saved, tmp_path):
    path = copy(saved, tmp_path)
    with h5py.File(path, "r") as f:
        spec = json.loads(f.attrs["model"])
    spec["rank"] = 5
    set_attr(path, "model", json.dumps(spec))
    with pytest.raises(ValueError, match=r"factor 0 'F0' has shape \(20, 2\), expected \(20, 5\)"):
        bf.load(path)


def test_text_factors_are_refused(saved, tmp_path):
    path = copy(saved, tmp_path)
    replace_f0(path, data=np.full((20, 2), "x", dtype="S1"))
    with pytest.raises(ValueError, match="expected floating point"):
        bf.load(path)


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("converged", "no", "'converged' must be an integer"),
        ("converged", 7, "'converged' is 7"),
        ("n_iter", -1, "'n_iter' is -1"),
        ("kind", "pickle", "'kind' is 'pickle'"),
        ("labelled", "[true", "not valid JSON"),
        ("model", "[" * 100_000 + "]" * 100_000, "not valid JSON|nested"),
        ("model", json.dumps({"class": "likelihoods.Gaussian", "scale": 1.0}), "does not describe"),
        ("objective", "nan", "'objective' must be a finite number"),
    ],
)
def test_crafted_attributes_get_one_clear_error(saved, tmp_path, name, value, match):
    path = copy(saved, tmp_path)
    set_attr(path, name, value)
    with pytest.raises(ValueError, match=match) as info:
        bf.load(path)
    assert str(path) in str(info.value)


def test_a_deeply_nested_declaration_is_refused():
    nested = []
    for _ in range(100):
        nested = [nested]
    spec = {"class": "Model", "likelihood": {"class": "likelihoods.Gaussian"}, "priors": nested}
    with pytest.raises(ValueError, match="nested deeper"):
        bf.io.from_spec(spec)


def test_a_missing_attribute_is_a_value_error_not_a_key_error(saved, tmp_path):
    path = copy(saved, tmp_path)
    with h5py.File(path, "r+") as f:
        del f.attrs["labelled"]
    with pytest.raises(ValueError, match="KeyError"):
        bf.load(path)


def test_corrupted_bytes_never_load_silently(saved, tmp_path):
    fit, data = saved
    rng = np.random.default_rng(1)
    offsets = rng.choice(len(data) - 8, size=60, replace=False)
    outcomes = {"refused": 0, "same": 0}
    for offset in offsets:
        damaged = bytearray(data)
        damaged[offset : offset + 8] = b"\xff\x7f\x00\xff\x7f\x00\xff\x7f"
        path = tmp_path / "damaged.nc"
        path.write_bytes(bytes(damaged))
        try:
            loaded = bf.load(path)
        except ValueError:
            outcomes["refused"] += 1
            continue
        # Unused bytes (padding, free space): the fit must be exactly the saved one.
        for a, b in zip(loaded.factors, fit.factors, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(loaded.history, fit.history)
        outcomes["same"] += 1
    assert outcomes["refused"] > 0


def test_saved_files_follow_the_umask_keep_permissions_and_follow_symlinks(saved, tmp_path):
    fit = saved[0]
    old = os.umask(0o022)
    try:
        path = fit.save(tmp_path / "a.nc")
        assert path.stat().st_mode & 0o777 == 0o644
        os.chmod(path, 0o600)
        fit.save(path)
        assert path.stat().st_mode & 0o777 == 0o600
        link = tmp_path / "link.nc"
        link.symlink_to(path)
        fit.save(link)
        assert link.is_symlink() and bf.load(link).n_iter == fit.n_iter
    finally:
        os.umask(old)
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        fit.save(tmp_path)


def test_stale_temporaries_of_a_killed_save_are_removed(saved, tmp_path):
    stale = tmp_path / ".fit.nc.abc123.tmp"
    fresh = tmp_path / ".fit.nc.def456.tmp"  # another save may be writing it
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    saved[0].save(tmp_path / "fit.nc")
    assert not stale.exists() and fresh.exists()


@pytest.mark.slow
def test_sigterm_during_a_save_leaves_no_temporary(tmp_path):
    code = (
        "import numpy as np, bayesfactor as bf, dataclasses, sys;"
        "fit = bf.fit(bf.Model(bf.Gaussian(), 2, bf.Flat()), np.eye(6), max_iter=3);"
        "big = dataclasses.replace(fit, history=np.zeros(2 * 10**7));"
        "print('ready', flush=True);"
        f"[big.save({str(tmp_path / 'fit.nc')!r}) for _ in range(100)]"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # inside a save (each takes about a second)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=240) == 128 + signal.SIGTERM
    assert not list(tmp_path.glob(".*.tmp"))
