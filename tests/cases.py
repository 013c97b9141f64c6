"""The one case table: add a likelihood or prior here and the invariant tests cover it."""

import numpy as np

import bayesfactor as bf
from bayesfactor.likelihoods import Gamma, NegativeBinomial
from bayesfactor.priors import GroupLasso

MATRIX = (12, 10)
TENSOR = (6, 5, 4)

#: Relative objective increase tolerated between evaluations (rounding only).
OBJ_INCREASE_TOL = 1e-10


def evaluated(history: np.ndarray) -> np.ndarray:
    """The objective where the fit evaluated it (``check_every``): NaN entries dropped.

    The last iteration is always evaluated, and what was evaluated must be finite.
    """
    history = np.asarray(history)
    assert np.isfinite(history[-1]), "the last iteration must be evaluated"
    kept = history[~np.isnan(history)]
    assert np.isfinite(kept).all()
    return kept


def assert_monotone(history: np.ndarray, tol: float = OBJ_INCREASE_TOL) -> None:
    """No evaluated objective rises above the one before it (relative ``tol``, rounding)."""
    h = evaluated(history)
    increase = np.diff(h) / np.abs(h[1:])
    assert increase.max(initial=-np.inf) <= tol, increase.max()


def make_data(kind: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Data of the right support from a planted non-negative rank-2 parameter."""
    rng = np.random.default_rng(seed)
    factors = [np.abs(rng.normal(size=(n, 2))) for n in shape]
    letters = "abc"[: len(shape)]
    eta = np.einsum(",".join(f"{c}z" for c in letters) + "->" + letters, *factors)
    if kind == "real":
        return eta + 0.3 * rng.normal(size=shape)
    if kind == "count":
        return rng.poisson(eta).astype(float)
    if kind == "binary":
        return (rng.random(shape) < 1 / (1 + np.exp(-(eta - eta.mean()) * 2))).astype(float)
    if kind == "angle":
        return rng.vonmises(eta - eta.mean(), 4.0)
    if kind == "positive":  # gamma draws of shape 4 (CV 0.5) around a positive mean
        return rng.gamma(4.0, (eta + 0.1) / 4.0)
    raise ValueError(kind)


# name -> (model, data kind): every likelihood with its natural prior(s), every prior once.
CASES = {
    "pca": (bf.Model(bf.Gaussian(), 2, bf.Flat()), "real"),
    "ridge": (bf.Model(bf.Gaussian(), 2, bf.Normal(1.0)), "real"),
    "nmf": (bf.Model(bf.Gaussian(), 2, bf.NonNegative()), "real"),
    "sparse_pca": (bf.Model(bf.Gaussian(), 2, bf.Laplace(0.5)), "real"),
    "nmf_l1": (bf.Model(bf.Gaussian(), 2, bf.Exponential(1.0)), "real"),
    "nmf_l2": (bf.Model(bf.Gaussian(), 2, bf.HalfNormal(1.0)), "real"),
    "smooth": (bf.Model(bf.Gaussian(), 2, bf.Smooth(0.5)), "real"),
    "smooth_nonneg": (bf.Model(bf.Gaussian(), 2, bf.Smooth(0.5, nonnegative=True)), "real"),
    "semi_nmf": (bf.Model(bf.Gaussian(), 2, (bf.NonNegative(), bf.Flat())), "real"),
    "kmeans": (bf.Model(bf.Gaussian(), 2, (bf.OneHot(), bf.Flat())), "real"),
    "poisson_pca": (bf.Model(bf.Poisson(), 2, bf.Normal(1.0)), "count"),
    "kl_nmf": (bf.Model(bf.Poisson(link="identity"), 2, bf.NonNegative()), "count"),
    "kl_nmf_l1": (bf.Model(bf.Poisson(link="identity"), 2, bf.Exponential(0.5)), "count"),
    "kl_nmf_l2": (bf.Model(bf.Poisson(link="identity"), 2, bf.HalfNormal(1.0)), "count"),
    "logistic_pca": (bf.Model(bf.Bernoulli(), 2, bf.Normal(1.0)), "binary"),
    "robust_pca": (bf.Model(bf.LaplaceLikelihood(0.5), 2, bf.Flat()), "real"),
    "circular": (bf.Model(bf.VonMises(4.0), 2, bf.Normal(2.0)), "angle"),
    "nb_pca": (bf.Model(NegativeBinomial(2.0), 2, bf.Normal(1.0)), "count"),
    "gamma_pca": (bf.Model(Gamma(4.0), 2, bf.Normal(1.0)), "positive"),
    "group_pca": (bf.Model(bf.Gaussian(), 2, GroupLasso(1.0)), "real"),
    "nb_group_nonneg": (
        bf.Model(NegativeBinomial(2.0), 2, GroupLasso(0.5, nonnegative=True)),
        "count",
    ),
}
