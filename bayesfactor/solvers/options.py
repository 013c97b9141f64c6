"""The controls of a fit, checked once: :class:`FitOptions`.

``fit``, ``fit_sweep`` and what builds on them pass one frozen :class:`FitOptions`
around instead of a list of keyword arguments; :meth:`FitOptions.checked` refuses a
bad value (named, with the fix) before any work.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["FitOptions", "check_controls"]


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """How a fit runs (not what it fits): see :func:`bayesfactor.fit` for each field.

    Parameters
    ----------
    restarts : int, default=1
        Random initializations, run in parallel.
    max_iter : int, default=500
        Most alternating iterations.
    tol : float, default=1e-6
        Relative change of the objective per iteration that counts as converged.
    accelerate : bool, optional
        Extrapolate the block updates; None: where it was measured to pay.
    check_every : int, optional
        Iterations between evaluations of the objective; None: the plan's default.
    compress : bool or int, optional
        Fit the restarts on a Tucker compression first (Gaussian, fully observed).
    devices : int, sequence of jax.Device or jax.sharding.Mesh, optional
        Shard the fit across devices.

    Examples
    --------
    >>> from bayesfactor.solvers.options import FitOptions
    >>> FitOptions.checked(restarts=3, max_iter=100).restarts
    3
    """

    restarts: int = 1
    max_iter: int = 500
    tol: float = 1e-6
    accelerate: bool | None = None
    check_every: int | None = None
    compress: bool | int | None = None
    devices: Any = None

    @classmethod
    def checked(
        cls,
        *,
        restarts: Any = 1,
        max_iter: Any = 500,
        tol: Any = 1e-6,
        accelerate: Any = None,
        check_every: Any = None,
        compress: Any = None,
        devices: Any = None,
    ) -> FitOptions:
        """The options from user values: checked, NumPy scalars made Python numbers."""
        check_controls(restarts, max_iter, tol)
        if accelerate is not None and not isinstance(accelerate, bool):
            raise TypeError(f"accelerate must be True, False or None; got {accelerate!r}.")
        if check_every is not None:
            check_every = _checked_interval(check_every, accelerate)
        if compress is not None and not isinstance(compress, (bool, int, np.integer)):
            raise TypeError(f"compress must be True, False, None or an int; got {compress!r}.")
        return cls(
            int(restarts), int(max_iter), float(tol), accelerate, check_every, compress, devices
        )


def _checked_interval(check_every: Any, accelerate: bool | None) -> int:
    """``check_every`` as an int, refused where it is not a positive int or clashes."""
    if isinstance(check_every, bool) or not isinstance(check_every, (int, np.integer)):
        raise TypeError(f"check_every must be a positive int or None; got {check_every!r}.")
    if check_every < 1:
        raise ValueError(f"check_every must be at least 1; got {check_every}.")
    if accelerate and check_every > 1:
        raise ValueError(
            "accelerate=True compares the objective every iteration: leave check_every "
            f"at 1 or None (got {check_every}), or pass accelerate=False."
        )
    return int(check_every)


def check_controls(restarts: Any, max_iter: Any, tol: Any) -> None:
    """Raise for a bad ``restarts``, ``max_iter`` or ``tol`` (NumPy scalars are accepted)."""
    for name, value in (("restarts", restarts), ("max_iter", max_iter)):
        if (
            isinstance(value, (bool, np.bool_))
            or not isinstance(value, (int, np.integer))
            or value < 1
        ):
            raise ValueError(f"{name} must be a positive int; got {value!r}.")
    number = isinstance(tol, (int, float, np.integer, np.floating)) and not isinstance(tol, bool)
    if not (number and np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0; got {tol!r}.")
