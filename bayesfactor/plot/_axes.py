"""Figures and axes shared by the plots: new pyplot figures, given ``ax=``, jittered dots."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__: list[str] = []


def _new_figure(figsize: tuple[float, float]) -> Any:
    """A new pyplot-managed figure (shown by the notebook backend and ``plt.show()``)."""
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


def _given_axes(ax: Any, n: int, what: str) -> list[Any]:
    """``ax`` (one Axes, or a sequence or array of them) as a list of ``n`` Axes."""
    from matplotlib.axes import Axes

    axes = [ax] if isinstance(ax, Axes) else list(np.asarray(ax, dtype=object).ravel())
    if len(axes) != n or not all(isinstance(a, Axes) for a in axes):
        got = "one Axes" if isinstance(ax, Axes) else f"{len(axes)} objects"
        raise ValueError(
            f"{what} needs {n} Axes; ax= got {got}. Pass ax=None to get a new figure, or "
            f"{n} matplotlib Axes (e.g. plt.subplots(...)[1])."
        )
    return axes


def _figure(n_panels: int, ax: Any, what: str | None = None, width=4.0, height=3.2):
    """A new figure with ``n_panels`` axes side by side, or the given axes and their figure."""
    if ax is not None:
        what = what or "plot.error of this table (one panel per model)"
        axes = _given_axes(ax, n_panels, what)
        return axes[0].figure, axes
    fig = _new_figure((width * n_panels, height))
    axes = fig.subplots(1, n_panels, sharey=True, squeeze=False)[0]
    return fig, list(axes)


def _offsets(n: int, width: float = 0.25) -> np.ndarray:
    """Deterministic horizontal jitter for ``n`` dots at one x."""
    return np.zeros(1) if n == 1 else np.linspace(-width / 2, width / 2, n)


def _dots(
    ax, x: np.ndarray, y: np.ndarray, shift: float, color: str, label: str, log: bool = False
) -> None:
    """Every value as a dot (jittered per x) and a line through the medians.

    ``shift`` and the jitter are in units of the smallest gap between two x values
    (1 for consecutive ranks), measured in decades on a log axis (``log=True``),
    so that the dots stay beside their x whatever its scale.
    """
    t = np.log10(x) if log else x
    values = np.unique(t)
    step = np.diff(values).min() if values.size > 1 else 1.0
    xs, ys = [], []
    for value in values:
        at = y[t == value]
        pos = value + step * (shift + _offsets(at.size))
        ax.plot(10.0**pos if log else pos, at, "o", color=color, alpha=0.6, ms=4)
        xs.append(10.0**value if log else value)
        ys.append(np.median(at))
    ax.plot(xs, ys, "-", color=color, label=label)
