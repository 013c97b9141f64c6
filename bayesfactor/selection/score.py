"""Scores of a fit on a set of entries: per-entry log-likelihood and error (:func:`score`).

The error of each likelihood is in the table of :mod:`bayesfactor.selection`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from bayesfactor._data import as_data
from bayesfactor.likelihoods import DataWarning, warn_pmf_data
from bayesfactor.result import FitResult

__all__ = ["score"]


def score(fit: FitResult, X: Any, mask: Any = None) -> dict[str, float]:
    r"""Per-entry log-likelihood and error of a fit on the entries of ``X`` in ``mask``.

    .. math::
        \ell = \frac{1}{|S|} \sum_{i \in S} \log p(X_i \mid \hat\eta_i), \qquad
        \text{error} = \frac{1}{|S|} \sum_{i \in S} e(X_i, \hat\mu_i)

    with :math:`S` the observed entries in ``mask`` and :math:`e` the likelihood's
    error (see :mod:`bayesfactor.selection`: ``mse``, ``deviance``, ``accuracy`` or
    ``circular_error``).

    Parameters
    ----------
    fit : FitResult
        A fit of data with ``X``'s shape.
    X : array_like
        Data to score (NaN = missing, never scored).
    mask : array_like of bool, optional
        True where an entry is scored; default every observed entry.

    Returns
    -------
    dict
        ``{"log_likelihood": float, <error name>: float}``, both means per entry.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> from bayesfactor.selection import score
    >>> X = np.outer(np.arange(1.0, 11.0), np.arange(1.0, 9.0))
    >>> fit = bf.fit(bf.Model(bf.Gaussian(), 1, bf.Flat()), X, key=0)
    >>> s = score(fit, X)
    >>> sorted(s), s["mse"] < 1e-8
    (['log_likelihood', 'mse'], True)
    """
    if not isinstance(fit, FitResult):
        raise TypeError(f"fit must be a bf.FitResult; got {type(fit).__name__}.")
    data = as_data(X, mask)
    if data.shape != fit.shape:
        raise ValueError(f"X has shape {data.shape}; the fit is of shape {fit.shape}.")
    fit.model.likelihood.check_data(data.x, data.mask)
    warn_pmf_data(fit.model.likelihood, data.x, data.mask, "score")
    return _score(fit, data.x, data.mask)


def _score(fit: FitResult, x: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Mean log-likelihood and error over ``mask``; with Blocks, also per block.

    A block's scores are named ``log_likelihood_<block>`` and ``<error>_<block>``
    with the error of the block's own likelihood (e.g. ``accuracy_licks``).
    """
    lik = fit.model.likelihood.base
    parts = [("", lik, mask)]
    parts += [(f"_{name}", part, mask & where) for name, part, where in lik.parts(x.shape)]
    lp = mu = None
    out = {}
    for suffix, part, where in parts:
        name, error = part.error_name, part.error
        if not where.any():
            out |= {f"log_likelihood{suffix}": np.nan, f"{name}{suffix}": np.nan}
            continue
        if lp is None:
            with warnings.catch_warnings():
                # The caller warned once (warn_pmf_data) for all its fits and folds.
                warnings.simplefilter("ignore", DataWarning)
                lp = np.asarray(fit.log_likelihood(x, mask=mask, pointwise=True))
            mu = np.asarray(fit.predict(), dtype=float)
        out[f"log_likelihood{suffix}"] = float(lp[where].mean())
        out[f"{name}{suffix}"] = float(error(x[where], mu[where]).mean())
    return out
