r"""scikit-learn estimators: a bayesfactor model as a transformer in a pipeline.

:class:`FactorModel` fits a matrix model :math:`X \approx g^{-1}(W H^\top)`
(samples × features) by :func:`bayesfactor.fit`; ``transform`` fits the row
factors :math:`W` of new samples with the components :math:`H` held fixed (the
same MAP problem in :math:`W` alone), so it works for every likelihood and prior,
with missing entries (NaN). ``score`` is the held-out log-likelihood per entry of
new samples by bi-cross-validation (their row factors fitted on part of each row,
the rest scored), so ``GridSearchCV`` over ``n_components`` picks a rank that
predicts new data rather than the largest one. ``get_params``/``set_params`` come from
``sklearn.base.BaseEstimator``, so ``clone``, ``Pipeline`` and ``GridSearchCV``
work. :class:`NMF`, :class:`PCA`, :class:`PoissonNMF` and :class:`LogisticPCA`
are presets.

This module needs scikit-learn (``pip install scikit-learn``); the rest of
bayesfactor does not.

Examples
--------
>>> import numpy as np
>>> from bayesfactor.sklearn import PoissonNMF
>>> X = np.random.default_rng(0).poisson(4.0, size=(30, 12))
>>> est = PoissonNMF(n_components=2, max_iter=1000).fit(X)
>>> est.components_.shape, est.transform(X[:5]).shape
((2, 12), (5, 2))
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from bayesfactor._data import as_key
from bayesfactor._precision import fit_dtype
from bayesfactor.likelihoods import Bernoulli, Gaussian, Likelihood, Poisson
from bayesfactor.model import Model
from bayesfactor.priors import Flat, NonNegative, Normal, Prior
from bayesfactor.result import FitResult
from bayesfactor.selection import score as _score
from bayesfactor.solvers import fit as _fit

__all__ = ["FactorModel", "NMF", "PCA", "PoissonNMF", "LogisticPCA"]


def _as_matrix(X: Any) -> np.ndarray:
    """A float matrix (NaN = missing; inf, complex, sparse, empty rejected) or a clear error."""
    return check_array(X, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan")


def _row_holdout(observed: np.ndarray, fraction: float, key: Any) -> np.ndarray:
    r"""Speckled held-out entries drawn within each row (True = held out).

    A row with :math:`n_i \ge 2` observed entries holds out
    :math:`\min(n_i - 1, \max(1, \mathrm{round}(h\, n_i)))` of them, drawn uniformly
    (the smallest of i.i.d. uniforms from ``key``); a row with fewer holds out none.
    Unlike ``selection.holdout_masks(scheme="speckled")``, every row holds out the same
    fraction and keeps training entries however few the rows are, and a column may be
    held out in every row (its factor is fixed, not fitted).
    """
    n = observed.sum(axis=1)
    k = np.where(n >= 2, np.clip(np.rint(fraction * n), 1, n - 1), 0)
    u = np.where(observed, np.asarray(jax.random.uniform(as_key(key), observed.shape)), np.inf)
    rank = np.argsort(np.argsort(u, axis=1, kind="stable"), axis=1, kind="stable")
    return rank < k[:, None]


class FactorModel(TransformerMixin, BaseEstimator):
    r"""A matrix factorization model as a scikit-learn transformer.

    .. math::
        X_{ij} \sim p(\,\cdot \mid \eta_{ij}), \qquad \eta = W H^\top, \qquad
        W \sim p_0, \quad H \sim p_1

    ``fit`` finds the MAP of :math:`(W, H)` on the training samples;
    ``components_`` is :math:`H^\top`. ``transform`` returns the MAP of :math:`W`
    for new samples with :math:`H` fixed.

    Parameters
    ----------
    likelihood : Likelihood, default=Gaussian()
        Observation model (``bf.Gaussian``, ``bf.Poisson``, ``bf.Bernoulli``, ...).
    n_components : int, default=2
        Rank :math:`R`.
    priors : Prior or (Prior, Prior), default=Flat()
        Prior on both factors, or one for :math:`W` (samples) and one for :math:`H`.
    restarts : int, default=1
        Random initializations of ``fit`` (the best is kept).
    max_iter : int, default=500
        Iteration limit of each fit.
    tol : float, default=1e-6
        Relative objective change at which a fit stops.
    random_state : int, default=0
        Seed of the initializations.
    init : {"random", "svd", "nndsvd", "nndsvda"}, default="random"
        Start of the training fit: random factors, or the truncated SVD of the data
        (``"svd"``; for non-negative factors it is NNDSVD, NNDSVDa for the
        multiplicative updates, so scikit-learn's ``"nndsvd"`` and ``"nndsvda"`` name
        it too).
    holdout : float in (0, 1), default=0.2
        Fraction of each row's observed entries that ``score`` holds out (see
        ``score``).
    holdout_seed : int, default=0
        Seed of ``score``'s held-out entries; the same seed and the same ``X`` (shape
        and missing entries) hold out the same entries.

    Attributes
    ----------
    components_ : ndarray, shape (n_components, n_features)
        :math:`H^\top`.
    result_ : FitResult
        The fit of the training data.
    n_features_in_ : int
        Number of features seen by ``fit``.
    n_iter_ : int
        Iterations of the training fit.
    """

    def __init__(
        self,
        likelihood: Likelihood | None = None,
        n_components: int = 2,
        priors: Prior | tuple[Prior, Prior] | None = None,
        restarts: int = 1,
        max_iter: int = 500,
        tol: float = 1e-6,
        random_state: int = 0,
        init: str = "random",
        holdout: float = 0.2,
        holdout_seed: int = 0,
    ):
        self.likelihood = likelihood
        self.n_components = n_components
        self.priors = priors
        self.restarts = restarts
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.init = init
        self.holdout = holdout
        self.holdout_seed = holdout_seed

    def _start(self) -> str:
        """``bf.fit``'s ``init`` for ``self.init`` (scikit-learn's names accepted)."""
        starts = {"random": "random", "svd": "svd", "nndsvd": "svd", "nndsvda": "svd"}
        if self.init not in starts:
            raise ValueError(
                f"init must be one of {sorted(starts)}; got {self.init!r}. (scikit-learn's "
                "'nndsvdar' and 'custom' are not supported: use 'nndsvda', or bf.fit with "
                "init=(W, H) for a custom start.)"
            )
        return starts[self.init]

    def _model(self) -> Model:
        likelihood = Gaussian() if self.likelihood is None else self.likelihood
        priors = Flat() if self.priors is None else self.priors
        return Model(likelihood, self.n_components, priors)

    def _fit(self, X: Any, **kwargs: Any) -> FitResult:
        return _fit(
            self._model(),
            X,
            key=self.random_state,
            max_iter=self.max_iter,
            tol=self.tol,
            **kwargs,
        )

    def fit(self, X: Any, y: Any = None) -> FactorModel:
        """Fit :math:`W` and :math:`H` to ``X`` (samples × features; NaN = missing)."""
        x = _as_matrix(X)
        self.result_ = self._fit(x, restarts=self.restarts, init=self._start())
        self.components_ = self.result_.factors[1].T
        self.n_features_in_ = x.shape[1]
        self.n_iter_ = self.result_.n_iter
        return self

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN entries are missing data
        # Precision follows the data (float32 stays float32; float64 when x64 is on).
        tags.transformer_tags.preserves_dtype = sorted(
            {fit_dtype(np.float64).name, fit_dtype(np.float32).name}, reverse=True
        )
        return tags

    def fit_transform(self, X: Any, y: Any = None, **params: Any) -> np.ndarray:
        """Fit, and return :math:`W` of the training samples."""
        return self.fit(X).result_.factors[0]

    def _check(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "components_")
        x = _as_matrix(X)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {x.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return x

    def transform(self, X: Any) -> np.ndarray:
        """MAP row factors :math:`W` of new samples, components held fixed.

        Returns
        -------
        ndarray, shape (n_samples, n_components)
        """
        x = self._check(X)
        result = self._fit(x, init=(None, self.components_.T), fixed=(1,))
        return result.factors[0]

    def inverse_transform(self, W: Any) -> np.ndarray:
        r"""The predicted mean :math:`g^{-1}(W H^\top)` of samples with row factors ``W``."""
        check_is_fitted(self, "components_")
        w = np.asarray(W, dtype=float)
        model = self.result_.model
        return np.asarray(model.likelihood.mean(w @ self.components_))

    def score(self, X: Any, y: Any = None) -> float:
        r"""Held-out log-likelihood per entry of new samples (bi-cross-validation).

        Each row :math:`i` of ``X`` (a new sample) is split into training entries
        :math:`T_i` and held-out entries :math:`S_i`: a random
        :math:`\mathrm{round}(h\, n_i)` of its :math:`n_i` observed entries
        (:math:`h` = ``holdout``; at least 1 and at most :math:`n_i - 1`; a row
        with fewer than 2 observed entries is not scored), drawn from
        ``holdout_seed``. Its row factor is fitted on the training entries alone,
        with the components :math:`H` of ``fit`` held fixed (``transform`` on
        ``X`` with the held-out entries missing), and the held-out entries are
        scored:

        .. math::
            \hat w_i = \arg\max_{w} \sum_{j \in T_i}
            \log p(X_{ij} \mid w^\top h_j) + \log p_0(w), \qquad
            \text{score} = \frac{1}{\sum_i |S_i|} \sum_i \sum_{j \in S_i}
            \log p(X_{ij} \mid \hat w_i^\top h_j)

        No held-out entry reaches its row's fit, so extra components that fit
        noise lower the score instead of raising it (the log-likelihood of the
        entries a row factor was fitted on rises with the rank). This is
        bi-cross-validation [1]_ with the held-out block made of the CV fold's
        rows and, within each row, speckled columns as in [2]_. It is
        a mean per scored entry, so folds of different sizes compare, and higher
        is better (scikit-learn's convention): ``GridSearchCV`` over
        ``n_components`` picks the rank that predicts held-out samples best. The
        held-out sets are fixed by ``holdout_seed``, so two estimators scored on
        the same ``X`` are scored on the same entries.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            New samples (NaN = missing: neither fitted nor scored).
        y : None
            Ignored.

        Returns
        -------
        float
            Mean log-likelihood of the held-out entries.

        References
        ----------
        .. [1] Owen & Perry (2009), "Bi-cross-validation of the SVD and the
           nonnegative matrix factorization", Annals of Applied Statistics 3(2).
        .. [2] Wold (1978), "Cross-validatory estimation of the number of
           components in factor and principal components models",
           Technometrics 20(4).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesfactor.sklearn import PCA
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(60, 2)) @ rng.normal(size=(2, 20)) + rng.normal(size=(60, 20))
        >>> est = PCA(2, max_iter=1000).fit(X[:40])
        >>> round(est.score(X[40:]), 2)  # unit Gaussian noise alone: -(1 + log 2 pi) / 2 = -1.42
        -1.51
        """
        x = self._check(X)
        if (
            isinstance(self.holdout, bool)
            or not isinstance(self.holdout, numbers.Real)
            or not 0.0 < float(self.holdout) < 1.0
        ):
            raise ValueError(
                f"holdout={self.holdout!r} must be the fraction of each row's entries "
                "that score holds out, a number in (0, 1) such as holdout=0.2."
            )
        heldout = _row_holdout(~np.isnan(x), float(self.holdout), self.holdout_seed)
        if not heldout.any():
            raise ValueError(
                "score holds out entries within rows, and no row of X has 2 observed "
                "entries: score rows with at least 2 observed features."
            )
        result = self._fit(x, mask=~heldout, init=(None, self.components_.T), fixed=(1,))
        return _score(result, x, mask=heldout)["log_likelihood"]


class _Preset(FactorModel):
    """A FactorModel whose likelihood and priors are fixed by the class."""

    _likelihood: Likelihood
    _priors: Prior | tuple[Prior, Prior]

    def __init__(
        self,
        n_components: int = 2,
        restarts: int = 1,
        max_iter: int = 500,
        tol: float = 1e-6,
        random_state: int = 0,
        init: str = "random",
        holdout: float = 0.2,
        holdout_seed: int = 0,
    ):
        self.n_components = n_components
        self.restarts = restarts
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.init = init
        self.holdout = holdout
        self.holdout_seed = holdout_seed

    def _model(self) -> Model:
        return Model(self._likelihood, self.n_components, self._priors)


class NMF(_Preset):
    r"""Non-negative matrix factorization: Gaussian likelihood, non-negative priors.

    :math:`\min_{W, H \ge 0} \tfrac12 \|X - W H^\top\|_F^2` (scikit-learn's ``NMF``
    objective with ``beta_loss="frobenius"``).
    """

    _likelihood = Gaussian()
    _priors = NonNegative()


class PCA(_Preset):
    r"""Probabilistic PCA at the MAP: Gaussian likelihood, flat priors.

    :math:`\min_{W, H} \tfrac12 \|X - W H^\top\|_F^2`: the span of the top
    principal components (not centred; centre X first, or add an intercept).
    """

    _likelihood = Gaussian()
    _priors = Flat()


class PoissonNMF(_Preset):
    r"""KL-NMF: Poisson likelihood with identity link, non-negative priors.

    :math:`\min_{W, H \ge 0} \sum_{ij} \eta_{ij} - X_{ij}\log\eta_{ij}`, the
    generalized KL divergence of scikit-learn's ``beta_loss="kullback-leibler"``.
    """

    _likelihood = Poisson(link="identity")
    _priors = NonNegative()


class LogisticPCA(_Preset):
    r"""Logistic PCA: Bernoulli likelihood with logit link, Normal(2) priors.

    :math:`X_{ij} \sim \mathrm{Bernoulli}(\sigma(\eta_{ij}))`, :math:`\eta = W H^\top`,
    :math:`W, H \sim \mathcal N(0, 2^2)`: the priors keep the MAP finite when
    a column is perfectly separable (a flat prior would send its logits to infinity).
    """

    _likelihood = Bernoulli()
    _priors = Normal(2.0)
