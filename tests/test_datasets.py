"""Bundled datasets (shapes, labels, missing values, licenses) and `simulate`."""

from importlib import resources

import jax
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesfactor as bf
from bayesfactor import datasets
from bayesfactor.model import cp_product

# dataset -> (its data files, a word its license text must contain)
BUNDLED = {
    "stn_spikes": (["10_spikes-1.mat"], "MIT"),
    "songbird": (["MackeviciusData.mat"], "MIT"),
    "house_votes": (["house-votes-84.data"], "CC BY 4.0"),
    "elnino": (["elnino.csv"], "public domain"),
    "wind": (["723170TYA.CSV", "703165TY.csv"], "BSD-3-Clause"),
    "serology": (["COVID19_data.npy"], "MIT"),
    "il2": (["IL2_Response_Tensor.npy"], "MIT"),
    "pbmc68k": (["pbmc68k_counts.npz"], "CC BY 4.0"),
}
DATA = resources.files("bayesfactor.datasets") / "data"


def test_every_bundled_file_has_its_license_beside_it():
    names = {p.name for p in DATA.iterdir()}
    data_files = {f for files, _ in BUNDLED.values() for f in files}
    licenses = {f"{name}.LICENSE.txt" for name in BUNDLED}
    assert names == data_files | licenses  # nothing unlicensed, nothing missing
    for name, (_, word) in BUNDLED.items():
        text = (DATA / f"{name}.LICENSE.txt").read_text(encoding="utf-8")
        assert word in text and "Citation:" in text and "License:" in text
        assert "GPL" not in text
        loader = getattr(datasets, f"load_{name}")
        assert word in loader().description
    assert sum((DATA / f).stat().st_size for f in names) < 6.5e6


def test_stn_spikes():
    spikes = datasets.load_stn_spikes()
    counts, binary = spikes.counts, spikes.binary
    assert counts.shape == (50, 40) and counts.dtypes.unique().tolist() == [np.int64]
    assert binary.shape == (50, 2000) and binary.dtypes.unique().tolist() == [np.uint8]
    assert set(np.unique(binary.to_numpy())) == {0, 1}
    assert (counts.index.name, counts.columns.name) == ("trial", "time_ms")
    assert (binary.index.name, binary.columns.name) == ("trial", "time_ms")
    assert counts.columns.tolist() == list(range(-1000, 1000, 50))
    assert binary.columns[[0, -1]].tolist() == [-1000, 999]
    np.testing.assert_array_equal(counts, binary.to_numpy().reshape(50, 40, 50).sum(axis=2))
    assert counts.to_numpy().sum() == 4696
    assert spikes.direction.value_counts().to_dict() == {"left": 25, "right": 25}
    assert spikes.direction.index.equals(counts.index)
    assert "Kramer" in spikes.description


def test_stn_spikes_bin_width():
    counts = datasets.load_stn_spikes(bin_ms=100).counts
    assert counts.shape == (50, 20) and counts.columns[1] == -900
    for bad in (30, 0, -50, 2.5, True):
        with pytest.raises(ValueError, match="bin_ms"):
            datasets.load_stn_spikes(bin_ms=bad)


def test_songbird():
    bird = datasets.load_songbird()
    assert bird.neural.shape == (75, 666) and bird.song.shape == (141, 4440)
    assert (bird.neural.index.name, bird.neural.columns.name) == ("neuron", "frame")
    assert bird.song.columns.name == "frame"
    assert bird.neural.to_numpy().dtype == np.float64
    assert (bird.neural.to_numpy() >= 0).all() and (bird.song.to_numpy() >= 0).all()
    assert bird.song.to_numpy().max() <= 1
    assert (bird.fs_neural, bird.fs_song) == (30, 200)
    # Both streams cover the same time: 666 / 30 s = 4440 / 200 s.
    assert bird.neural.shape[1] / bird.fs_neural == pytest.approx(bird.song.shape[1] / bird.fs_song)


def test_house_votes():
    votes = datasets.load_house_votes()
    y = votes.data.to_numpy()
    assert votes.data.shape == (435, 16) and y.dtype == np.float64
    assert set(np.unique(y[~np.isnan(y)])) == {0.0, 1.0}
    assert np.isnan(y).sum() == 392
    assert np.nanmean(y) == pytest.approx(0.52, abs=0.01)
    assert votes.data.index.name == "representative"
    assert votes.data.columns[[0, -1]].tolist() == [
        "handicapped-infants",
        "export-administration-act-south-africa",
    ]
    assert votes.party.value_counts().to_dict() == {"democrat": 267, "republican": 168}
    # First row of the file: republican,n,y,n,y,y,y,n,n,n,y,?,y,y,y,n,y
    assert votes.party.iloc[0] == "republican"
    np.testing.assert_array_equal(y[0, :11], [0, 1, 0, 1, 1, 1, 0, 0, 0, 1, np.nan])


def test_elnino():
    sst = datasets.load_elnino().data
    assert sst.shape == (61, 12) and sst.to_numpy().dtype == np.float64
    assert sst.index.tolist() == list(range(1950, 2011)) and sst.index.name == "year"
    assert sst.columns[[0, -1]].tolist() == ["JAN", "DEC"] and sst.columns.name == "month"
    assert not sst.isna().to_numpy().any()
    assert 18.9 < sst.to_numpy().min() and sst.to_numpy().max() < 29.3
    assert sst.loc[1950, "JAN"] == pytest.approx(23.11)


def test_wind():
    wind = datasets.load_wind()
    angle, speed = wind.data, wind.speed
    assert isinstance(angle, xr.DataArray) and angle.dims == ("station", "day", "hour")
    assert angle.shape == (2, 365, 24) == speed.shape and angle.dtype == np.float64
    assert angle.coords["usaf"].values.tolist() == ["723170", "703165"]
    assert angle.coords["day"].values[[0, -1]].tolist() == [1, 365]
    a = angle.to_numpy()
    np.testing.assert_array_equal(np.isnan(a), speed.to_numpy() == 0)  # calm = missing
    assert np.isnan(a).sum(axis=(1, 2)).tolist() == [1050, 669]
    assert np.nanmin(a) >= 0 and np.nanmax(a) < 2 * np.pi
    # Greensboro, Jan 1 01:00 (first row of its file): 200 degrees at 6.2 m/s.
    assert a[0, 0, 0] == pytest.approx(np.deg2rad(200))
    assert float(speed[0, 0, 0]) == pytest.approx(6.2)


def test_serology():
    sero = datasets.load_serology().data
    assert sero.shape == (438, 6, 11) and sero.dims == ("sample", "antigen", "receptor")
    assert not np.isnan(sero.to_numpy()).any()
    assert sero.coords["antigen"].values.tolist()[:3] == ["S", "RBD", "N"]
    assert sero.coords["receptor"].values[[0, -1]].tolist() == ["IgG1", "FcR3B"]
    status = pd.Series(sero.coords["status"].values).value_counts().to_dict()
    assert status == {"Severe": 196, "Moderate": 122, "Deceased": 74, "Negative": 39, "Mild": 7}


def test_il2():
    il2 = datasets.load_il2().data
    assert il2.shape == (13, 4, 12, 8) and il2.dims == ("ligand", "time", "dose", "cell_type")
    x = il2.to_numpy()
    assert np.isnan(x).sum() == 192 and np.nanmin(x) >= 0 and np.nanmax(x) <= 1
    assert il2.coords["dose"].values[[0, -1]].tolist() == pytest.approx([84.0, 0.000474])


# --- simulate -------------------------------------------------------------------------
# Shapes reuse (20, 15) and rank 2: JAX compiles its samplers once per shape (seconds).

KL_NMF = bf.Model(bf.Poisson(link="identity"), rank=2, priors=bf.NonNegative())


def test_pbmc68k():
    pbmc = datasets.load_pbmc68k()
    counts = pbmc.counts
    assert counts.shape == (700, 765) and counts.index.name == "cell"
    assert counts.columns.name == "gene" and counts.columns.is_unique
    x = counts.to_numpy()
    assert x.dtype == np.int64 and x.min() == 0 and 0.3 < (x > 0).mean() < 0.35
    # The 765 genes are a subset of those behind each cell's library size.
    assert (x.sum(axis=1) <= pbmc.n_counts.to_numpy()).all()
    assert pbmc.cell_type.nunique() == 10 and "CD14+ Monocyte" in set(pbmc.cell_type)
    assert "Zheng" in pbmc.description


def test_simulate_is_deterministic():
    X, factors = datasets.simulate(KL_NMF, (20, 15), key=0)
    X2, factors2 = datasets.simulate(KL_NMF, (20, 15), key=jax.random.key(0))
    X3, _ = datasets.simulate(KL_NMF, (20, 15), key=1)
    assert isinstance(X, np.ndarray) and X.shape == (20, 15)
    assert [f.shape for f in factors] == [(20, 2), (15, 2)]
    assert all(isinstance(f, np.ndarray) and (f >= 0).all() for f in factors)
    np.testing.assert_array_equal(X, X2)
    for f, f2 in zip(factors, factors2, strict=True):
        np.testing.assert_array_equal(f, f2)
    assert not np.array_equal(X, X3)


@pytest.mark.parametrize(
    ("model", "inverse_link"),
    [
        (KL_NMF, lambda eta: eta),
        (bf.Model(bf.Poisson(link="log"), rank=2, priors=bf.Normal(0.7)), np.exp),
    ],
    ids=["identity", "log"],
)
def test_simulate_poisson_matches_the_planted_mean(model, inverse_link):
    # Pool 40 draws: within groups of similar planted mean, the average count must match
    # that mean (and the spread must be Poisson's) up to sampling error.
    xs, mus = [], []
    for key in range(40):
        X, (U, V) = datasets.simulate(model, (20, 15), key=key)
        mu = inverse_link(np.einsum("ir,jr->ij", U.astype(float), V.astype(float)))
        np.testing.assert_allclose(model.likelihood.mean(cp_product((U, V))), mu, rtol=1e-5)
        assert np.issubdtype(X.dtype, np.integer) and (X >= 0).all()
        xs.append(X.ravel())
        mus.append(mu.ravel())
    x, mu = np.concatenate(xs), np.concatenate(mus)
    for group in np.array_split(np.argsort(mu), 8):
        xg, mg = x[group], mu[group]
        assert abs(xg.sum() - mg.sum()) / np.sqrt(mg.sum()) < 4.5  # mean: z-score
    # Variance: E[(X - mu)^2] = mu, with Var[(X - mu)^2] = mu + 2 mu^2 for a Poisson.
    z = np.sum((x - mu) ** 2 - mu) / np.sqrt(np.sum(mu + 2 * mu**2))
    assert abs(z) < 4.5


def test_simulate_draws_factors_within_each_prior_support():
    model = bf.Model(bf.Gaussian(0.1), rank=2, priors=(bf.OneHot(), bf.Exponential(2.0)))
    X, (Z, V) = datasets.simulate(model, (20, 15), key=3)
    assert X.dtype.kind == "f"
    assert set(np.unique(Z)) == {0.0, 1.0} and (Z.sum(axis=1) == 1).all()
    assert (V >= 0).all() and 0.2 < V.mean() < 1.0  # Exponential(rate 2): mean 0.5
    np.testing.assert_allclose(X, Z @ V.T, atol=0.6)  # Gaussian noise, sd 0.1

    priors = (bf.Laplace(0.5), bf.Smooth(0.05, nonnegative=True), bf.HalfNormal(2.0))
    model = bf.Model(bf.Bernoulli(), rank=2, priors=priors)
    X, (A, B, C) = datasets.simulate(model, (20, 15, 4), key=0)
    assert X.shape == (20, 15, 4) and set(np.unique(X)) <= {0, 1}
    assert (B >= 0).all() and (C >= 0).all() and (A < 0).any()
    assert np.abs(np.diff(B, axis=0)).max() < 0.3  # a random walk with steps of sd 0.05


def test_simulate_rejects_bad_input():
    with pytest.raises(TypeError, match="bf.Model"):
        datasets.simulate("nmf", (4, 3))
    for shape in [(5,), (5, 0), (4, 2.5)]:
        with pytest.raises(ValueError, match="shape"):
            datasets.simulate(KL_NMF, shape)
    two_priors = bf.Model(bf.Gaussian(), rank=1, priors=(bf.Flat(), bf.Flat()))
    with pytest.raises(ValueError, match="priors"):
        datasets.simulate(two_priors, (3, 4, 5))
