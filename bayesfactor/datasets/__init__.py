"""Small real datasets bundled with bayesfactor, and data simulated from a model.

Each loader reads files shipped in ``bayesfactor/datasets/data/`` (no download)
and returns a :class:`Bunch` whose ``description`` gives the source, citation
and license; the full license text lies beside each data file as
``<dataset>.LICENSE.txt``. Every bundled set is MIT, BSD-3, CC BY 4.0 or
public domain.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from importlib import resources

import jax
import numpy as np
import pandas as pd
import xarray as xr
from scipy.io import loadmat

from bayesfactor._data import as_key
from bayesfactor.model import Model, cp_product

__all__ = [
    "Bunch",
    "load_stn_spikes",
    "load_songbird",
    "load_house_votes",
    "load_elnino",
    "load_wind",
    "load_serology",
    "load_il2",
    "load_pbmc68k",
    "simulate",
]

_SEPARATOR = "-" * 70  # in each LICENSE.txt: summary and citation above, license text below


class Bunch(types.SimpleNamespace):
    """A loaded dataset: its arrays and labels as attributes, plus ``description``."""

    def __repr__(self) -> str:
        fields = [
            f"{name}: {type(value).__name__}{getattr(value, 'shape', '')}"
            for name, value in vars(self).items()
            if name != "description"
        ]
        return f"Bunch({', '.join(fields)})"


def _file(name: str):
    """Locate the bundled file ``data/<name>`` (a ``Traversable``: open it with ``.open("rb")``)."""
    return resources.files(__name__) / "data" / name


def _description(dataset: str) -> str:
    """Return the summary, source, citation and license of ``data/<dataset>.LICENSE.txt``."""
    text = _file(f"{dataset}.LICENSE.txt").read_text(encoding="utf-8")
    summary = text.split(_SEPARATOR)[0].strip()
    return f"{summary}\nFull license text: bayesfactor/datasets/data/{dataset}.LICENSE.txt"


def load_stn_spikes(bin_ms: int = 50) -> Bunch:
    """Spike trains of one human subthalamic-nucleus neuron, 50 trials (MIT license).

    Kramer & Eden (2016), chapter 10: a neuron recorded during deep-brain-stimulation
    surgery while the patient moved a joystick left or right (25 trials each), from
    1000 ms before to 1000 ms after the GO cue. Counts suit a Poisson likelihood,
    the 1-ms spike indicators a Bernoulli one.

    Parameters
    ----------
    bin_ms : int, default=50
        Width of the count bins in ms; must divide 2000.

    Returns
    -------
    Bunch
        ``counts``: DataFrame (trial x time bin, int64) of spike counts summed over
        ``bin_ms``, columns = bin start in ms from the GO cue (named ``"time_ms"``);
        ``binary``: DataFrame (50 x 2000, uint8) of 0/1 spikes in 1-ms bins;
        ``direction``: categorical Series, ``"left"`` or ``"right"`` per trial;
        ``description``: source, citation and license.

    Examples
    --------
    >>> from bayesfactor.datasets import load_stn_spikes
    >>> spikes = load_stn_spikes()
    >>> spikes.counts.shape, int(spikes.counts.to_numpy().sum())
    ((50, 40), 4696)
    >>> spikes.counts.columns[:3].tolist()
    [-1000, -950, -900]
    """
    if isinstance(bin_ms, bool) or not isinstance(bin_ms, int) or bin_ms < 1 or 2000 % bin_ms:
        raise ValueError(
            f"bin_ms must be a positive int that divides 2000 (e.g. 10, 20, 50, 100); "
            f"got {bin_ms!r}."
        )
    with _file("10_spikes-1.mat").open("rb") as f:
        mat = loadmat(f)
    train, t = mat["train"], mat["t"].ravel().astype(np.int64)
    trials = pd.RangeIndex(train.shape[0], name="trial")
    counts = train.reshape(train.shape[0], -1, bin_ms).sum(axis=2, dtype=np.int64)
    direction = pd.Categorical.from_codes(mat["direction"].ravel(), ["left", "right"])
    return Bunch(
        counts=pd.DataFrame(counts, index=trials, columns=pd.Index(t[::bin_ms], name="time_ms")),
        binary=pd.DataFrame(train, index=trials, columns=pd.Index(t, name="time_ms")),
        direction=pd.Series(direction, index=trials, name="direction"),
        description=_description("stn_spikes"),
    )


def load_songbird() -> Bunch:
    """Songbird HVC calcium imaging and the aligned song spectrogram (MIT license).

    The example data of seqNMF (Mackevicius et al., eLife 2019): deconvolved
    activity of 75 neurons (non-negative, not counts: use Gaussian / NMF) and the
    song's spectrogram, both with repeated sequences (song motifs).

    Returns
    -------
    Bunch
        ``neural``: DataFrame (75 x 666, float64), index ``"neuron"``, columns
        ``"frame"`` (30 frames/s); ``song``: DataFrame (141 x 4440, float64 in
        [0, 1]), index ``"frequency_bin"``, columns ``"frame"`` (200 frames/s);
        ``fs_neural`` (30) and ``fs_song`` (200): frame rates in Hz;
        ``description``: source, citation and license.

    Examples
    --------
    >>> from bayesfactor.datasets import load_songbird
    >>> bird = load_songbird()
    >>> bird.neural.shape, bird.song.shape, bird.fs_neural, bird.fs_song
    ((75, 666), (141, 4440), 30, 200)
    """
    with _file("MackeviciusData.mat").open("rb") as f:
        mat = loadmat(f)
    neural, song = mat["NEURAL"], mat["SONG"]
    return Bunch(
        neural=pd.DataFrame(
            neural,
            index=pd.RangeIndex(neural.shape[0], name="neuron"),
            columns=pd.RangeIndex(neural.shape[1], name="frame"),
        ),
        song=pd.DataFrame(
            song,
            index=pd.RangeIndex(song.shape[0], name="frequency_bin"),
            columns=pd.RangeIndex(song.shape[1], name="frame"),
        ),
        fs_neural=int(mat["VIDEOfs"].item()),
        fs_song=int(mat["SONGfs"].item()),
        description=_description("songbird"),
    )


_ISSUES = [
    "handicapped-infants",
    "water-project-cost-sharing",
    "adoption-of-the-budget-resolution",
    "physician-fee-freeze",
    "el-salvador-aid",
    "religious-groups-in-schools",
    "anti-satellite-test-ban",
    "aid-to-nicaraguan-contras",
    "mx-missile",
    "immigration",
    "synfuels-corporation-cutback",
    "education-spending",
    "superfund-right-to-sue",
    "crime",
    "duty-free-exports",
    "export-administration-act-south-africa",
]


def load_house_votes() -> Bunch:
    """U.S. House votes of 1984: 435 representatives x 16 key votes (CC BY 4.0).

    UCI "Congressional Voting Records" (Schlimmer 1987). A binary matrix with
    missing entries (5.6 %) for a Bernoulli likelihood; party is a held-out label.

    Returns
    -------
    Bunch
        ``data``: DataFrame (435 x 16, float64): 1.0 = yea, 0.0 = nay, NaN = no
        clear yea/nay ('?' in the file); index ``"representative"``, columns =
        the 16 issues (named ``"vote"``); ``party``: categorical Series,
        ``"democrat"`` or ``"republican"``; ``description``: source, citation
        and license.

    Examples
    --------
    >>> from bayesfactor.datasets import load_house_votes
    >>> votes = load_house_votes()
    >>> votes.data.shape, int(votes.data.isna().to_numpy().sum())
    ((435, 16), 392)
    >>> votes.party.value_counts().to_dict()
    {'democrat': 267, 'republican': 168}
    """
    with _file("house-votes-84.data").open("rb") as f:
        raw = pd.read_csv(f, header=None, names=["party", *_ISSUES], dtype=str)
    answers = raw[_ISSUES].to_numpy()
    votes = np.where(answers == "y", 1.0, np.where(answers == "n", 0.0, np.nan))
    index = pd.RangeIndex(len(raw), name="representative")
    return Bunch(
        data=pd.DataFrame(votes, index=index, columns=pd.Index(_ISSUES, name="vote")),
        party=pd.Series(pd.Categorical(raw["party"]), index=index, name="party"),
        description=_description("house_votes"),
    )


def load_elnino() -> Bunch:
    """Monthly El Nino sea-surface temperatures, 1950-2010 (public domain).

    NOAA ERSST.V3B, Nino 1+2 region, in degrees Celsius (as shipped by
    statsmodels). A tiny real matrix with a strong rank-1/2 structure (seasonal
    cycle x yearly anomaly), for a Gaussian likelihood.

    Returns
    -------
    Bunch
        ``data``: DataFrame (61 x 12, float64), index ``"year"`` (1950..2010),
        columns ``"month"`` (``"JAN"`` .. ``"DEC"``); ``description``: source,
        citation and license.

    Examples
    --------
    >>> from bayesfactor.datasets import load_elnino
    >>> load_elnino().data.shape
    (61, 12)
    """
    with _file("elnino.csv").open("rb") as f:
        data = pd.read_csv(f, index_col=0).astype(np.float64)
    data.index = data.index.astype(np.int64).rename("year")
    data.columns.name = "month"
    return Bunch(data=data, description=_description("elnino"))


def load_wind() -> Bunch:
    """Hourly wind direction over one typical year at two U.S. stations (BSD-3 / NREL).

    NREL TMY3 records (as shipped by pvlib) of Greensboro, NC and Sand Point, AK.
    Angles suit a von Mises likelihood; days x hours has a diurnal structure.
    Calm hours (wind speed 0) have no direction and are NaN (missing).

    Returns
    -------
    Bunch
        ``data``: DataArray (station x day x hour = 2 x 365 x 24, float64) of
        wind directions in radians in [0, 2 pi) (0 = from the north, pi / 2 =
        from the east), NaN for calm hours; coordinates ``station`` (names),
        ``usaf`` (station ids), ``day`` (day of the year, 1..365) and ``hour``
        (0..23, local standard time; hour h is the file's hour ending at h + 1);
        ``speed``: DataArray of the same shape, wind speed in m/s;
        ``description``: source, citation and license. Each month comes from a
        different real year (TMY construction), so month boundaries can jump.

    Examples
    --------
    >>> from bayesfactor.datasets import load_wind
    >>> wind = load_wind()
    >>> wind.data.shape, wind.data.dims
    ((2, 365, 24), ('station', 'day', 'hour'))
    >>> wind.data.isnull().sum("day").sum("hour").values.tolist()  # calm hours
    [1050, 669]
    """
    columns = ["Wdir (degrees)", "Wspd (m/s)"]
    records = []
    for name in ("723170TYA.CSV", "703165TY.csv"):
        with _file(name).open("rb") as f:
            records.append(pd.read_csv(f, skiprows=1, usecols=columns)[columns].to_numpy(float))
    degrees, speed = np.stack(records).reshape(2, 365, 24, 2).transpose(3, 0, 1, 2)
    angle = np.where(speed > 0, np.mod(np.deg2rad(degrees), 2 * np.pi), np.nan)
    coords = {
        "station": ["Greensboro, NC", "Sand Point, AK"],
        "usaf": ("station", ["723170", "703165"]),
        "day": np.arange(1, 366),
        "hour": np.arange(24),
    }
    dims = ("station", "day", "hour")
    return Bunch(
        data=xr.DataArray(
            angle, dims=dims, coords=coords, name="wind_direction", attrs={"units": "rad"}
        ),
        speed=xr.DataArray(
            speed, dims=dims, coords=coords, name="wind_speed", attrs={"units": "m/s"}
        ),
        description=_description("wind"),
    )


def load_serology() -> Bunch:
    """COVID-19 systems serology: samples x antigens x receptors, 3-way (MIT license).

    Tan et al. (2021) / Zohar et al. (2020), as shipped by tensorly: antibody
    binding of 438 serum samples to 6 SARS-CoV-2 antigens, read out by 11
    isotypes / Fc receptors; standardised values, no missing entries. A real
    3-way tensor for Gaussian CP; the patients' status is a held-out label.

    Returns
    -------
    Bunch
        ``data``: DataArray (sample x antigen x receptor = 438 x 6 x 11, float64)
        with coordinates ``antigen``, ``receptor``, and ``status`` along
        ``sample`` (``"Negative"``, ``"Mild"``, ``"Moderate"``, ``"Severe"``,
        ``"Deceased"``); ``description``: source, citations and license.

    Examples
    --------
    >>> from bayesfactor.datasets import load_serology
    >>> sero = load_serology()
    >>> sero.data.shape, sero.data.dims
    ((438, 6, 11), ('sample', 'antigen', 'receptor'))
    """
    with _file("COVID19_data.npy").open("rb") as f:
        tensor = np.load(f)
    status = ["Negative", "Mild", "Moderate", "Severe", "Deceased"]
    receptors = ["IgG1", "IgG2", "IgG3", "IgA1", "IgA2", "IgM"]
    receptors += ["FcRalpha", "FcR2A", "FcR2B", "FcR3A", "FcR3B"]
    coords = {
        "sample": np.arange(tensor.shape[0]),
        "status": ("sample", np.repeat(status, [39, 7, 122, 196, 74])),
        "antigen": ["S", "RBD", "N", "S1", "S2", "S1 Trimer"],
        "receptor": receptors,
    }
    dims = ("sample", "antigen", "receptor")
    data = xr.DataArray(tensor, dims=dims, coords=coords, name="serology")
    return Bunch(data=data, description=_description("serology"))


def load_il2() -> Bunch:
    """IL-2 mutein signalling responses: a 4-way tensor with missing entries (MIT license).

    Orcutt-Jahns et al. (2021), as shipped by tensorly: responses of 8 immune
    cell types to 13 IL-2 muteins at 4 time points and 12 doses, in [0, 1], 192
    entries missing (NaN). A non-negative CP target with a missing-data mask.

    Returns
    -------
    Bunch
        ``data``: DataArray (ligand x time x dose x cell_type = 13 x 4 x 12 x 8,
        float64) labelled as in tensorly's loader; ``description``: source,
        citation and license.

    Examples
    --------
    >>> from bayesfactor.datasets import load_il2
    >>> il2 = load_il2()
    >>> il2.data.shape, int(il2.data.isnull().sum())
    ((13, 4, 12, 8), 192)
    """
    with _file("IL2_Response_Tensor.npy").open("rb") as f:
        tensor = np.load(f)
    ligands = ["IL2 (Mono)", "IL15 (Mono)", "WT N-term (Biv)", "H16N N-term (Biv)"]
    ligands += ["R38Q N-term (Biv)", "R38Q/H16N (Biv)", "WT N-term (Mono)"]
    ligands += ["H16N N-term (Mono)", "WT C-term (Mono)", "V91K C-term (Mono)"]
    ligands += ["R38Q N-term (Mono)", "F42Q N-Term (Mono)", "N88D C-term (Mono)"]
    cells = ["Treg IL2Ra_hi", "Treg", "Treg IL2Ra_lo", "Thelper IL2Ra_hi", "Thelper"]
    cells += ["Thelper IL2Ra_lo", "CD8+", "NK"]
    coords = {
        "ligand": ligands,
        "time": [4.0, 2.0, 1.0, 0.5],
        "dose": np.geomspace(84.0, 0.000474, 12),
        "cell_type": cells,
    }
    data = xr.DataArray(tensor, dims=tuple(coords), coords=coords, name="il2_response")
    return Bunch(data=data, description=_description("il2"))


def load_pbmc68k() -> Bunch:
    """UMI counts of 700 blood cells x 765 genes, with cell types (CC BY 4.0 / BSD-3).

    Zheng et al. (2017) 10x Genomics PBMCs, in scanpy's reduced subset: integer
    counts recovered exactly from scanpy's normalised ``raw.X`` (see the license
    file). 33 % of the entries are non-zero, the mean count is 0.9: Poisson
    factorization (Poisson PCA with ``bf.Poisson()``, or KL-NMF) of single-cell data,
    with the FACS-sorted cell type as a held-out label. ``n_counts`` (total UMI per
    cell) is the library size, an exposure for a log-link model.

    Returns
    -------
    Bunch
        ``counts``: DataFrame (700 x 765, int64), index ``"cell"`` (barcodes),
        columns ``"gene"`` (symbols); ``cell_type``: Series of 10 sorted-cell
        populations (e.g. ``"CD14+ Monocyte"``); ``n_counts``: Series, total UMI per
        cell; ``description``: source, citation and license.

    Examples
    --------
    >>> from bayesfactor.datasets import load_pbmc68k
    >>> pbmc = load_pbmc68k()
    >>> pbmc.counts.shape, int(pbmc.counts.to_numpy().max())
    ((700, 765), 259)
    """
    from scipy.sparse import csr_matrix

    with _file("pbmc68k_counts.npz").open("rb") as f:
        z = dict(np.load(f, allow_pickle=False))
    counts = csr_matrix((z["data"], z["indices"], z["indptr"]), shape=(700, 765)).toarray()
    cells = pd.Index(z["cells"], name="cell")
    frame = pd.DataFrame(counts.astype(np.int64), index=cells)
    frame.columns = pd.Index(z["genes"], name="gene")
    return Bunch(
        counts=frame,
        cell_type=pd.Series(z["cell_type"], index=cells, name="cell_type"),
        n_counts=pd.Series(z["n_counts"], index=cells, name="n_counts"),
        description=_description("pbmc68k"),
    )


def simulate(
    model: Model, shape: Sequence[int], key: int | jax.Array = 0
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    r"""Draw planted factors for ``model`` and data from its likelihood.

    For each mode ``k`` a factor matrix of shape ``(shape[k], model.rank)`` is drawn
    to suit its prior: ``Exponential(rate)`` and ``Laplace(scale)`` from that
    law, ``Normal(scale)`` / ``HalfNormal(scale)`` from :math:`\mathcal N(0,
    s^2)` (absolute value for the half-normal), ``NonNegative`` as
    :math:`|\mathcal N(0, 1)|`, ``Flat`` as :math:`\mathcal N(0, 1)`,
    ``Smooth(scale)`` as a Gaussian random walk (absolute value when
    ``nonnegative``) and ``OneHot`` as uniformly random indicator rows. Then
    :math:`\eta` is their CP product and ``X ~ model.likelihood.distribution(eta)``.

    Parameters
    ----------
    model : Model
        Likelihood, rank and priors.
    shape : sequence of int
        Shape of the data, at least 2 modes.
    key : int or jax.random key, default=0
        Seed; the same key gives the same factors and data.

    Returns
    -------
    X : numpy.ndarray of shape ``shape``
        The draw, with the dtype of the likelihood's samples (int for Poisson
        and Bernoulli, float otherwise).
    factors : tuple of numpy.ndarray, shapes ``(shape[k], rank)``
        The planted factors; ``model.likelihood.mean(cp_product(factors))`` is
        ``E[X]``.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> from bayesfactor.datasets import simulate
    >>> model = bf.Model(bf.Poisson(link="identity"), rank=2, priors=bf.NonNegative())
    >>> X, (U, V) = simulate(model, (20, 15), key=0)
    >>> X.shape, U.shape, V.shape
    ((20, 15), (20, 2), (15, 2))
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a bf.Model; got {model!r}.")
    shape = tuple(shape)
    if len(shape) < 2 or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in shape
    ):
        raise ValueError(f"shape must be a tuple of at least 2 positive ints; got {shape!r}.")
    priors = model.mode_priors(len(shape))
    keys = jax.random.split(as_key(key), len(shape) + 1)
    factors = tuple(
        prior.sample(k, (int(n), model.rank))
        for prior, k, n in zip(priors, keys[1:], shape, strict=True)
    )
    X = model.likelihood.distribution(cp_product(factors)).sample(keys[0])
    return np.asarray(X), tuple(np.asarray(f) for f in factors)
