"""The result of a fit: factors on the host, convergence information, predictions."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayesfactor._data import as_data, physical_memory
from bayesfactor.likelihoods import warn_pmf_data
from bayesfactor.model import Model

__all__ = ["FitResult", "ConvergenceWarning", "RankWarning", "IdentifiabilityWarning"]


class ConvergenceWarning(UserWarning):
    """The solver stopped before meeting ``tol``: at ``max_iter``, or stalled at its precision."""


class RankWarning(UserWarning):
    """The rank exceeds what the data can identify."""


class IdentifiabilityWarning(UserWarning):
    """The model has a symmetry that the data and priors do not pin down.

    Raised by :func:`bayesfactor.fit` when a prior penalises the scale of some modes
    while the others are scale-free (``Flat``, ``NonNegative``): rescaling
    :math:`(F_k / c, F_j c)` keeps the fit and shrinks the penalty towards 0, so the
    MAP does not exist. Raised by :func:`bayesfactor.sample` and
    :func:`bayesfactor.laplace` for a matrix whose priors are all rotation invariant
    (``Flat``, ``Normal``, real ``Smooth``) with ``rank >= 2`` (single components are
    not identified, only their span), and for improper flat priors that leave the scale
    :math:`(U c, V / c)` free.
    """


def _eta(model, factors, intercepts):
    eta = model.eta(factors)
    return eta + model.intercept_eta(intercepts, eta.shape) if intercepts else eta


@jax.jit
def _pointwise(model, x, mask, factors, intercepts):
    return model.log_likelihood(x, mask, factors, eta=_eta(model, factors, intercepts))


@jax.jit
def _mean(model, factors, intercepts):
    return model.likelihood.mean(_eta(model, factors, intercepts))


@dataclasses.dataclass(frozen=True, repr=False)
class FitResult:
    """A fitted model (MAP estimate).

    Attributes
    ----------
    model : Model
        The model that was fitted.
    factors : tuple of numpy arrays, shape (X.shape[k], rank)
        One factor matrix per mode.
    objective : float
        Final negative log posterior of the kept restart.
    history : numpy array, shape (n_iter,)
        Objective after each iteration; NaN where it was not evaluated (``fit``'s
        ``check_every``: KL-NMF evaluates it every 10 iterations by default). The
        evaluated entries, with their iterations: ``objectives``.
    n_iter : int
        Number of iterations run.
    converged : bool
        Whether the fit stopped because the relative change of the objective per
        iteration fell to ``tol`` (never for ``tol=0``, ``max_iter`` or a stall).
    restart_objectives : numpy array, shape (restarts,)
        Final objective of every restart (the minimum was kept). With ``fit(...,
        compress=...)``: their objectives on the compression, before the best one was
        finished on the data.
    labels, dims : tuple
        Per-mode labels (pandas index / xarray coordinate or None) and dim names.
    kind : {"numpy", "pandas", "xarray"}
        The container type of the fitted data; ``predict`` returns the same.
    intercepts : tuple of numpy arrays, shape (X.shape[k],)
        One per mode in ``model.intercepts`` (empty without intercepts).
    """

    model: Model
    factors: tuple[np.ndarray, ...]
    objective: float
    history: np.ndarray
    n_iter: int
    converged: bool
    restart_objectives: np.ndarray
    labels: tuple = ()
    dims: tuple = ()
    kind: str = "numpy"
    intercepts: tuple = ()

    @property
    def objectives(self) -> tuple[np.ndarray, np.ndarray]:
        """The evaluated part of ``history``: (iterations, objective values).

        ``history`` has one entry per iteration, NaN where the objective was not
        evaluated (``fit``'s ``check_every``); this keeps the evaluated ones, with
        their iteration numbers counted from 1, e.g. for ``plt.plot(*fit.objectives)``.

        Examples
        --------
        >>> import numpy as np, bayesfactor as bf
        >>> X = np.random.default_rng(0).poisson(3.0, size=(8, 6)).astype(float)
        >>> model = bf.Model(bf.Poisson(link="identity"), 2, bf.NonNegative())
        >>> fit = bf.fit(model, X, max_iter=1000, tol=1e-4, check_every=10)
        >>> iterations, values = fit.objectives
        >>> iterations[:3], bool(np.all(np.diff(values) <= 0))
        (array([10, 20, 30]), True)
        """
        evaluated = np.flatnonzero(~np.isnan(self.history))
        return evaluated + 1, self.history[evaluated]

    def _history_note(self) -> str:
        """One line saying at which iterations ``history`` holds the objective."""
        iterations, _ = self.objectives
        n = self.history.size
        if iterations.size == n:
            return f"objective at every iteration ({n})"
        steps = np.unique(np.diff(iterations))
        every = f"every {steps[0]}, " if steps.size == 1 else ""
        return (
            f"objective at {iterations.size} of {n} iterations ({every}NaN between; fit.objectives)"
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the fitted data."""
        return tuple(f.shape[0] for f in self.factors)

    def eta(self) -> np.ndarray:
        """The natural parameter: CP product of the factors, plus the intercepts."""
        self._check_dense("eta")
        return np.asarray(_eta(self.model, self._factors(), self._intercepts()))

    def _check_dense(self, what: str) -> None:
        """Refuse to form a dense array of the data's shape that would not fit in memory."""
        entries = float(np.prod([float(n) for n in self.shape]))
        need = entries * self.factors[0].dtype.itemsize
        if need > physical_memory() / 2:
            raise MemoryError(
                f"{what}() would form a dense {' x '.join(map(str, self.shape))} array "
                f"({need / 2**30:,.0f} GiB), more than half of this machine's memory. Compute "
                "what you need from fit.factors instead, e.g. one block of rows at a time, or "
                "the entries you need: sum(F[0][i] * F[1][j] ...)."
            )

    def _factors(self) -> tuple:
        return tuple(jnp.asarray(f) for f in self.factors)

    def _intercepts(self) -> tuple:
        return tuple(jnp.asarray(b) for b in self.intercepts)

    def predict(self) -> Any:
        """``E[X]`` under the fitted model (the inverse link of ``eta``), shaped like ``X``.

        Returns a NumPy array, or a pandas DataFrame / xarray DataArray with the
        input's labels when the model was fitted on one.
        """
        self._check_dense("predict")
        mean = np.asarray(_mean(self.model, self._factors(), self._intercepts()))
        if self.kind == "pandas":
            import pandas as pd

            return pd.DataFrame(mean, index=self.labels[0], columns=self.labels[1])
        if self.kind == "xarray":
            import xarray as xr

            coords = {
                d: lab for d, lab in zip(self.dims, self.labels, strict=True) if lab is not None
            }
            return xr.DataArray(mean, dims=self.dims, coords=coords)
        return mean

    def log_likelihood(self, X: Any, *, mask: Any = None, pointwise: bool = False) -> Any:
        """Log-likelihood of data ``X`` (same shape as the fit) under the fitted model.

        Parameters
        ----------
        X : array_like
            Data of the fitted shape; NaN entries are missing.
        mask : array_like of bool, optional
            True where observed; only these entries count.
        pointwise : bool, default=False
            Return the per-entry values (NaN where unobserved) instead of the total.
        """
        data = as_data(X, mask)
        if data.shape != self.shape:
            raise ValueError(f"X has shape {data.shape}; the model was fitted to {self.shape}.")
        self.model.likelihood.check_data(data.x, data.mask)
        warn_pmf_data(self.model.likelihood, data.x, data.mask, "log_likelihood")
        dtype = self.factors[0].dtype
        lp = np.asarray(
            _pointwise(
                self.model,
                jnp.asarray(data.x, dtype),
                jnp.asarray(data.mask),
                self._factors(),
                self._intercepts(),
            )
        )
        if pointwise:
            return np.where(data.mask, lp, np.nan)
        return float(lp.sum())

    def save(self, path: Any) -> Any:
        """Write this fit to a netCDF file atomically; read it back with ``bf.load``.

        See :func:`bayesfactor.io.save`. Returns the path written.
        """
        from bayesfactor.io import save

        return save(self, path)

    def __repr__(self) -> str:
        status = "converged" if self.converged else "not converged"
        r = self.restart_objectives
        lines = [
            f"FitResult({self.model!r})",
            f"  shape       {self.shape}",
            f"  objective   {self.objective:.6g}   (negative log posterior)",
            f"  n_iter      {self.n_iter} ({status})",
            f"  factors     {', '.join(str(f.shape) for f in self.factors)}",
            f"  history     {self._history_note()}",
        ]
        if r.size > 1:
            lines.append(
                f"  restarts    {r.size} (objectives {np.nanmin(r):.6g} .. {np.nanmax(r):.6g})"
            )
        return "\n".join(lines)
