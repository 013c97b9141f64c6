import json
import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesfactor as bf
from bayesfactor.io import atomic_write, from_spec, to_spec

MODELS = [
    bf.Model(bf.Poisson(link="identity"), 2, bf.Exponential(0.5)),
    bf.Model(bf.Gaussian(0.7), 2, (bf.Laplace(0.3), bf.Smooth(2.0, nonnegative=True))),
    bf.Model(bf.VonMises(2.0), 1, bf.Normal(1.5)),
    bf.Model(bf.Bernoulli(), 2, (bf.Flat(), bf.HalfNormal(1.0))),
    bf.Model(bf.LaplaceLikelihood(0.5), 2, (bf.OneHot(), bf.Flat())),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m.likelihood).__name__)
def test_declaration_round_trips_through_json(model):
    assert from_spec(json.loads(json.dumps(to_spec(model)))) == model


@pytest.fixture
def counts(rng):
    return rng.poisson(3.0, size=(12, 9)).astype(float)


def test_save_load_predicts_exactly_as_the_original(tmp_path, counts):
    counts[0, 0] = np.nan
    fit = bf.fit(MODELS[0], counts, restarts=2, max_iter=3000)
    loaded = bf.load(fit.save(tmp_path / "fit.nc"))
    assert loaded.model == fit.model
    np.testing.assert_array_equal(loaded.predict(), fit.predict())
    for a, b in zip(loaded.factors, fit.factors, strict=True):
        assert a.dtype == b.dtype
    np.testing.assert_array_equal(loaded.history, fit.history)
    np.testing.assert_array_equal(loaded.restart_objectives, fit.restart_objectives)
    assert (loaded.objective, loaded.n_iter, loaded.converged) == (
        fit.objective,
        fit.n_iter,
        fit.converged,
    )
    assert loaded.log_likelihood(counts) == fit.log_likelihood(counts)


def test_labels_survive_for_pandas_and_xarray(tmp_path, counts):
    frame = pd.DataFrame(
        counts,
        index=pd.Index([f"n{i}" for i in range(12)], name="neuron"),
        columns=pd.Index(np.arange(9) * 50, name="time_ms"),
    )
    fit = bf.fit(MODELS[0], frame, max_iter=3000)
    loaded = bf.load(fit.save(tmp_path / "frame.nc"))
    pd.testing.assert_frame_equal(loaded.predict(), fit.predict())

    array = xr.DataArray(counts, dims=("cell", "gene"), coords={"gene": list("abcdefghi")})
    fit = bf.fit(MODELS[0], array, max_iter=3000)
    loaded = bf.load(fit.save(tmp_path / "array.nc"))
    xr.testing.assert_identical(loaded.predict(), fit.predict())


def test_interrupted_save_keeps_the_old_file_and_leaves_no_partial_file(
    tmp_path, counts, monkeypatch
):
    fit = bf.fit(MODELS[0], counts, max_iter=3000)
    path = fit.save(tmp_path / "fit.nc")
    before = path.read_bytes()

    def interrupted(self, tmp, **kwargs):
        with open(tmp, "wb") as f:
            f.write(b"\x89HDF half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_netcdf", interrupted)
    other = bf.fit(MODELS[0], counts * 2, max_iter=3000)
    with pytest.raises(KeyboardInterrupt):
        other.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["fit.nc"]
    monkeypatch.undo()
    np.testing.assert_array_equal(bf.load(path).predict(), fit.predict())


def test_atomic_write_needs_an_existing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write(tmp_path / "missing" / "f.nc", lambda tmp: None)


def test_load_refuses_files_it_did_not_write(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved fit"):
        bf.load(tmp_path / "nothing.nc")
    (tmp_path / "text.nc").write_text("not netcdf")
    with pytest.raises(ValueError, match="not an HDF5 / netCDF4 file"):
        bf.load(tmp_path / "text.nc")
    xr.Dataset({"a": ("x", np.arange(3))}).to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
    with pytest.raises(ValueError, match="not a saved bayesfactor fit"):
        bf.load(tmp_path / "other.nc")
    with pytest.raises(ValueError, match="unknown model part"):
        from_spec({"class": "os.system", "command": "true"})


def test_posterior_saves_with_arviz_netcdf(tmp_path, rng):
    from bayesfactor.sampling.idata import _arviz

    x = rng.normal(size=(6, 5))
    model = bf.Model(bf.Gaussian(), 1, bf.Normal(1.0))
    idata = bf.laplace(model, x, bf.fit(model, x, tol=1e-10, max_iter=3000), num_samples=20)
    path = tmp_path / "posterior.nc"
    idata.to_netcdf(str(path), engine="h5netcdf")
    back = _arviz().from_netcdf(str(path), engine="h5netcdf")
    np.testing.assert_array_equal(back.posterior["F0"].values, idata.posterior["F0"].values)
    np.testing.assert_array_equal(back.log_likelihood["X"].values, idata.log_likelihood["X"].values)


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_offset_blocks_and_estimated_models_save_and_load(tmp_path, counts):
    frame = pd.DataFrame(
        {
            "spikes": counts[:, 0].astype(int),
            "more": counts[:, 1].astype(int),
            "lick": counts[:, 2] > 3,
            "speed": counts[:, 3] + 0.5,
        }
    )
    blocks = bf.Blocks.infer(frame, {"speed": bf.Gaussian(bf.Estimated())})
    offset = np.log(np.arange(1.0, 13.0))[:, None]
    model = bf.Model(bf.Offset(blocks, offset), 1, bf.Normal(1.0), intercepts=("columns",))
    fit = bf.fit(model, frame, max_iter=3000)
    loaded = bf.load(fit.save(tmp_path / "mixed.nc"))
    lik = loaded.model.likelihood
    np.testing.assert_array_equal(lik.offset, offset)
    assert lik.base.table().equals(fit.model.likelihood.base.table())
    assert lik.base.likelihoods[-1].scale == fit.model.likelihood.base.likelihoods[-1].scale
    np.testing.assert_array_equal(np.asarray(loaded.predict()), np.asarray(fit.predict()))
    assert loaded.log_likelihood(frame) == fit.log_likelihood(frame)
    # Without an array list, arrays are written inline (pure JSON).
    spec = json.loads(json.dumps(to_spec(fit.model)))
    np.testing.assert_array_equal(from_spec(spec).likelihood.offset, offset)
