"""A convolutional fit in seqNMF's layout (:func:`seqnmf`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesfactor.plot._axes import _given_axes, _new_figure

__all__ = ["seqnmf"]


def seqnmf(
    fit: Any,
    X: Any = None,
    *,
    sort: bool = True,
    fs: float | None = None,
    figsize: tuple[float, float] = (9.0, 6.0),
    ax: Any = None,
) -> Any:
    r"""A convolutional fit in seqNMF's layout: exemplars left of the data, timecourses above.

    The data :math:`X` (neurons × time) is drawn in the centre; to its left, the
    exemplars :math:`W_{:, :, k}` (neurons × lags) of the components side by side,
    each in its colour; above it, the timecourses :math:`H_{:, k}`, stacked, on the
    data's time axis (seqNMF's ``SimpleWHPlot``).

    Parameters
    ----------
    fit : FitResult of a ConvModel, or (W, H)
        ``W`` of shape ``(N, lags, rank)``, ``H`` of shape ``(T, rank)``.
    X : array_like, shape (N, T), optional
        The data; default the reconstruction :math:`\sum_l W_l H_{\cdot - l}`.
    sort : bool, default=True
        Order components by explained power and neurons by component and lag of their
        peak (:func:`bayesfactor.sort_factors`).
    fs : float, optional
        Frame rate in Hz: label time in seconds instead of frames.
    figsize : (float, float), default=(9, 6)
        Size of a new figure.
    ax : sequence of 3 matplotlib Axes, optional
        Draw into these axes, ``(timecourses, exemplars, data)``, instead of a new
        figure; their limits are then matched (time with time, neurons with neurons).

    Returns
    -------
    matplotlib.figure.Figure
        The new figure (pyplot-managed), or the figure of ``ax``. Three axes:
        timecourses (top), exemplars (left), data (centre).

    Examples
    --------
    >>> import numpy as np, matplotlib.pyplot as plt
    >>> from bayesfactor import plot
    >>> rng = np.random.default_rng(0)
    >>> fig = plot.seqnmf((rng.random((8, 4, 2)), rng.random((50, 2))))
    >>> [a.get_xlabel() for a in fig.axes]
    ['', 'exemplars (4 lags)', 'time (frames)']
    >>> plt.close(fig)
    """
    from bayesfactor.conv import conv_product, sort_factors
    from bayesfactor.conv.tooling import _wh

    w, h = _wh(fit)
    x = np.asarray(conv_product(w, h)) if X is None else np.asarray(X, dtype=float)
    if x.shape != (w.shape[0], h.shape[0]):
        raise ValueError(
            f"X has shape {x.shape}; the factors describe data of shape "
            f"{(w.shape[0], h.shape[0])} (N, T)."
        )
    order = np.arange(w.shape[0])
    if sort:
        w, h, order = sort_factors((w, h), None if X is None else np.nan_to_num(x))
    n, lags, rank = w.shape
    scale = 1.0 / fs if fs else 1.0
    unit = "s" if fs else "frames"
    if ax is None:
        fig = _new_figure(figsize)
        grid = fig.add_gridspec(2, 2, width_ratios=[1, 4], height_ratios=[1, 3])
        ax_h = fig.add_subplot(grid[0, 1])
        ax_w = fig.add_subplot(grid[1, 0])
        ax_x = fig.add_subplot(grid[1, 1], sharex=ax_h, sharey=ax_w)
    else:
        ax_h, ax_w, ax_x = _given_axes(ax, 3, "plot.seqnmf (timecourses, exemplars, data)")
        fig = ax_h.figure
    time = np.arange(h.shape[0]) * scale
    peak = np.maximum(h.max(axis=0), np.finfo(float).tiny)
    for k in range(rank):
        ax_h.plot(time, rank - 1 - k + 0.9 * h[:, k] / peak[k], color=f"C{k}", lw=1)
    ax_h.set_yticks(rank - 1 - np.arange(rank) + 0.45, [f"{k + 1}" for k in range(rank)])
    ax_h.set_ylabel("component")
    ax_h.tick_params(labelbottom=False)
    ax_x.imshow(
        x[order],
        aspect="auto",
        cmap="gray_r",
        interpolation="nearest",
        extent=(-0.5 * scale, (h.shape[0] - 0.5) * scale, n - 0.5, -0.5),
    )
    ax_x.set_xlabel(f"time ({unit})")
    gap = max(1, lags // 5)
    for k in range(rank):
        left = k * (lags + gap)
        for row, i in enumerate(order):
            ax_w.fill_between(
                left + np.arange(lags),
                row + 0.45,
                row + 0.45 - 0.9 * w[i, :, k] / max(w[:, :, k].max(), np.finfo(float).tiny),
                color=f"C{k}",
                lw=0,
            )
    ax_w.set_xlim(-0.5, rank * (lags + gap) - gap - 0.5)
    ax_w.set_xticks([k * (lags + gap) + lags / 2 for k in range(rank)], range(1, rank + 1))
    ax_w.set_xlabel(f"exemplars ({lags} lags)")
    ax_w.set_ylabel("neuron (sorted)" if sort else "neuron")
    ax_w.set_ylim(n - 0.5, -0.5)
    if ax is not None:  # not shared: match the limits by hand
        ax_x.set_ylim(n - 0.5, -0.5)
        ax_h.set_xlim(ax_x.get_xlim())
    return fig
