"""The result of a fit: factors on the host, convergence information, predictions."""

from __future__ import annotations

import dataclasses
import enum
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from bayesfactor._data import as_data, physical_memory
from bayesfactor.io import MAX_BYTES, read, save
from bayesfactor.likelihoods import warn_pmf_data
from bayesfactor.model import Model

__all__ = [
    "load",
    "FitResult",
    "Status",
    "MESSAGES",
    "ConvergenceWarning",
    "RankWarning",
    "IdentifiabilityWarning",
]


class Status(enum.IntEnum):
    """Why the solver stopped."""

    RUNNING = -1  # internal only: never leaves the solver
    CONVERGED = 0
    MAX_ITER = 1
    NONFINITE = 2
    STALLED = 3  # no progress: a line search rejected every step, or a rise beyond rounding
    SEPARATED = 4  # the objective fell to rounding where no finite parameters reach it


MESSAGES = {
    Status.MAX_ITER: (
        "stopped after max_iter={max_iter} iterations without meeting tol={tol} "
        "(last relative change {change:.2g}); raise max_iter or loosen tol."
    ),
    Status.STALLED: (
        "stopped at iteration {n_iter} without meeting tol={tol}: the block updates stopped "
        "making progress (a line search rejected every step of a Newton update, or a "
        "monotone update raised the objective beyond rounding; last relative change "
        "{change:.2g}), so this is not an optimum. Bring the data (or an Offset's offsets) "
        "to the model's scale, e.g. with intercepts=(...) for a constant level, give every "
        "mode a proper prior (bf.Normal(1.0)), try init='svd' or another key, or fit "
        "float64 data."
    ),
    Status.SEPARATED: (
        "stopped at iteration {n_iter}: the objective fell to the rounding level, which "
        "{likelihood!r} reaches only as |eta| grows without bound (separable data: no "
        "finite MAP under these priors; the factors were still growing). Give every mode "
        "a proper prior, e.g. bf.Normal(1.0), so that the MAP exists."
    ),
    Status.NONFINITE: (
        "the objective or the factors became non-finite at iteration {n_iter} in every "
        "restart; "
        "check the data scaling, the prior scales (a very small scale or a large "
        "rate), or try another key."
    ),
}


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

    def eta(self, *, entries: Any = None, block: Any = None) -> np.ndarray:
        """The natural parameter: CP product of the factors, plus the intercepts.

        ``entries`` and ``block`` select part of it, as for :meth:`predict`.
        """
        return np.asarray(self._at("eta", entries, block)[0])

    def _check_dense(self, what: str, shape: tuple[int, ...] | None = None, work=1) -> None:
        """Refuse to form a dense array (of the data's shape) that would not fit in memory.

        ``work``: bytes of working space per entry, in units of the factors' itemsize.
        """
        shape = self.shape if shape is None else shape
        entries = float(np.prod([float(n) for n in shape]))
        need = entries * self.factors[0].dtype.itemsize * work
        if need > physical_memory() / 2:
            raise MemoryError(
                f"{what}() would form a dense {' x '.join(map(str, shape))} array "
                f"({need / 2**30:,.0f} GiB), more than half of this machine's memory. "
                f"Ask for part of it: {what}(block=(slice(0, 1000), ...)) for a block of "
                f"rows, or {what}(entries=(rows, cols, ...)) for the entries you need."
            )

    def _factors(self) -> tuple:
        return tuple(jnp.asarray(f) for f in self.factors)

    def _intercepts(self) -> tuple:
        return tuple(jnp.asarray(b) for b in self.intercepts)

    def _selection(self, what: str, entries: Any, block: Any) -> tuple | None:
        """Per-mode integer indices (1-D) of ``entries`` or ``block``; None for everything."""
        if entries is None and block is None:
            return None
        if entries is not None and block is not None:
            raise ValueError(f"{what}(): give entries= or block=, not both.")
        if not isinstance(self.model, Model):
            raise TypeError(f"{what}(entries=/block=) supports CP models, not {self.model!r}.")
        arg, given = ("entries", entries) if entries is not None else ("block", block)
        if not isinstance(given, (tuple, list)) or len(given) != len(self.shape):
            raise ValueError(
                f"{what}({arg}=...) needs one index per mode ({len(self.shape)}), e.g. "
                f"{arg}=(rows, cols) for a matrix; got {type(given).__name__}."
            )
        out = []
        for k, (sel, n) in enumerate(zip(given, self.shape, strict=True)):
            if isinstance(sel, slice) or (sel is None and block is not None):
                idx = np.arange(n)[sel if isinstance(sel, slice) else slice(None)]
            else:
                idx = np.asarray(sel)
                if idx.ndim != 1 or not (
                    np.issubdtype(idx.dtype, np.integer) or (idx.size == 0 and idx.dtype == float)
                ):
                    raise ValueError(
                        f"{what}({arg}=...): mode {k} needs a 1-D array of integer indices"
                        f"{' or a slice' if block is not None else ''}; got shape "
                        f"{idx.shape} of {idx.dtype}."
                    )
                idx = idx.astype(np.int64)
                if idx.size and (idx.min() < -n or idx.max() >= n):
                    raise IndexError(
                        f"{what}({arg}=...): mode {k} has {n} entries; got indices from "
                        f"{idx.min()} to {idx.max()}."
                    )
                idx = np.where(idx < 0, idx + n, idx)
            out.append(idx)
        if entries is not None and len({i.size for i in out}) > 1:
            raise ValueError(
                f"{what}(entries=...) needs index arrays of one length (one entry each), "
                f"as np.nonzero gives; got lengths {[i.size for i in out]}."
            )
        return tuple(out)

    def _at(self, what: str, entries: Any, block: Any) -> tuple[Array, tuple | None]:
        """``eta`` (``what="eta"``) or the mean, whole or at ``entries`` / ``block``.

        Also the per-mode indices it took (None: everything).
        """
        index = self._selection(what, entries, block)
        if index is None:
            self._check_dense(what)
            fn = _eta if what == "eta" else _mean
            return fn(self.model, self._factors(), self._intercepts()), None
        pointwise = entries is not None
        if pointwise:  # the (modes, n, rank) stack of factor rows
            self._check_dense(what, index[0].shape, work=len(index) * self.model.rank + 1)
        else:
            self._check_dense(what, tuple(i.size for i in index))
        factors = tuple(jnp.asarray(f[i]) for f, i in zip(self.factors, index, strict=True))
        parts = [
            jnp.asarray(b[index[k]])
            for k, b in zip(self.model.intercepts, self.intercepts, strict=True)
        ]
        if pointwise:  # sum_r prod_k F_k[i_k, r] + sum_k b_k[i_k], entry by entry
            eta = jnp.prod(jnp.stack(factors), axis=0).sum(-1) + sum(parts, 0.0)
        else:
            eta = _eta(self.model, factors, tuple(parts))
        if what == "eta":
            return eta, index
        return self.model.likelihood.restrict(index, pointwise).mean(eta), index

    def predict(self, *, entries: Any = None, block: Any = None) -> Any:
        """``E[X]`` under the fitted model (the inverse link of ``eta``), shaped like ``X``.

        Parameters
        ----------
        entries : tuple of int arrays, optional
            One array of indices per mode, all of one length ``n`` (as ``np.nonzero``
            or a sparse matrix's ``.row`` / ``.col`` give): the means of those ``n``
            entries only, as a 1-D NumPy array. Never forms the whole array, so it
            works for fits of any size.
        block : tuple of slices or int arrays, optional
            One selector per mode (``None`` or ``slice(None)`` for all): the dense
            block ``X[np.ix_(...)]``, labelled as the fitted data (e.g. one chunk of
            rows at a time of a fit too large to predict whole).

        Returns
        -------
        array, DataFrame or DataArray
            The whole mean, or the block, as a NumPy array or, when the model was
            fitted on one, a pandas DataFrame / xarray DataArray with the input's
            labels; the entries as a 1-D NumPy array.

        Examples
        --------
        >>> import numpy as np, bayesfactor as bf
        >>> X = np.random.default_rng(0).poisson(3.0, size=(30, 20))
        >>> fit = bf.fit(bf.Model(bf.Poisson(), 2, bf.Normal(1.0)), X, key=0)
        >>> rows, cols = np.array([0, 5, 29]), np.array([1, 1, 19])
        >>> bool(np.allclose(fit.predict(entries=(rows, cols)), fit.predict()[rows, cols]))
        True
        >>> fit.predict(block=(slice(0, 10), None)).shape
        (10, 20)
        """
        mean, index = self._at("predict", entries, block)
        mean = np.asarray(mean)
        if entries is not None:
            return mean
        index = index or (slice(None),) * mean.ndim
        labels = tuple(
            None if lab is None else lab[i] for lab, i in zip(self.labels, index, strict=False)
        )
        if self.kind == "pandas":
            import pandas as pd

            return pd.DataFrame(mean, index=labels[0], columns=labels[1])
        if self.kind == "xarray":
            import xarray as xr

            coords = {d: lab for d, lab in zip(self.dims, labels, strict=True) if lab is not None}
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


def load(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> FitResult:
    """Read a fit written by ``FitResult.save``, refusing anything else.

    The file is treated as untrusted (see :mod:`bayesfactor.io`): links and external
    storage, sizes beyond ``max_bytes``, shapes that do not fit the declared model,
    non-finite or non-floating factors, inconsistent attributes and a digest that
    does not match are each refused with one ``ValueError`` naming the file and the
    problem, before the data are read where the metadata suffice.

    Parameters
    ----------
    path : str or path-like
        A file written by ``FitResult.save``.
    max_bytes : int, default=MAX_BYTES (1 GiB)
        Most bytes of data to read, checked against the file's metadata first.

    Returns
    -------
    FitResult
        Factors, model, history and settings as saved: ``predict()`` equals the
        original fit's.

    Examples
    --------
    >>> import tempfile, numpy as np, bayesfactor as bf
    >>> fit = bf.fit(bf.Model(bf.Gaussian(), 2, bf.NonNegative()), np.eye(5) + 1, max_iter=50)
    >>> path = fit.save(tempfile.mkdtemp() + "/fit.nc")
    >>> bool(np.array_equal(bf.load(path).factors[0], fit.factors[0]))
    True
    """
    return FitResult(**read(path, max_bytes=max_bytes))
