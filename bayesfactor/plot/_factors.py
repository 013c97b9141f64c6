"""The factors of a fit (:func:`factors`): one column of panels per mode, one row per component."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesfactor.plot._axes import _given_axes, _new_figure

__all__ = ["factors"]


#: Modes longer than this are drawn as lines (or points), shorter ones as bars.
_BAR_MAX = 30


def _normalisation(mats: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    r"""Per-mode column multipliers and component order that normalise ``mats``.

    Each column is scaled to norm :math:`\lambda_r^{1/N}` with
    :math:`\lambda_r = \prod_k \|F_k[:, r]\|`; in every mode but one the
    largest-magnitude entry is made positive, the flips moving to the last mode
    that has negative entries (so non-negative modes are never flipped).
    Components are ordered largest :math:`\lambda_r` first.

    Returns
    -------
    multipliers : list of arrays, shape (rank,)
        ``F_k * multipliers[k]`` is the normalised mode ``k`` (before reordering).
    order : array of int, shape (rank,)
        Component order, largest first.
    weight : array, shape (rank,)
        :math:`\lambda_r`, in the original component order.
    """
    norms = np.stack([np.linalg.norm(f, axis=0) for f in mats])  # (N, rank)
    weight = np.prod(norms, axis=0)
    scale = weight ** (1.0 / len(mats))
    mult = [scale / np.where(n > 0, n, 1.0) for n in norms]
    signed = [k for k, f in enumerate(mats) if (f < 0).any()]
    absorb = signed[-1] if signed else len(mats) - 1
    for k in range(len(mats)):
        if k == absorb:
            continue
        f = mats[k] * mult[k]
        peak = f[np.argmax(np.abs(f), axis=0), np.arange(f.shape[1])]
        sign = np.where(peak < 0, -1.0, 1.0)
        mult[k] = mult[k] * sign
        mult[absorb] = mult[absorb] * sign
    order = np.argsort(-weight, kind="stable")
    return mult, order, weight


def _normalised(mats: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    r"""Components with equal norm in every mode, signs fixed, largest first.

    See :func:`_normalisation`; returns the factors and :math:`\lambda_r`, both
    in the new component order.
    """
    mult, order, weight = _normalisation(mats)
    return [(f * m)[:, order] for f, m in zip(mats, mult, strict=True)], weight[order]


def _row_order(f0: np.ndarray) -> np.ndarray:
    """Rows grouped by their largest component (in order), largest loading first."""
    n = np.linalg.norm(f0, axis=0)
    unit = f0 / np.where(n > 0, n, 1.0)
    assigned = np.argmax(np.abs(unit), axis=1)
    value = np.abs(unit)[np.arange(f0.shape[0]), assigned]
    return np.lexsort((-value, assigned))


def _posterior_draws(idata: Any, shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """The draws ``F0, F1, ...`` of ``idata``, each (chains * draws, n_k, rank), checked."""
    from bayesfactor.sampling import factor_draws

    sampled, _ = factor_draws(idata)
    names = [f"F{k}" for k in range(len(shapes))]
    if len(sampled) < len(shapes) or any(f is None for f in sampled[: len(shapes)]):
        raise ValueError(
            f"idata has no posterior draws of every factor: plot needs {', '.join(names)} "
            "(one per mode of the fit, none held fixed); pass the idata of this fit's model "
            "and data."
        )
    if len(sampled) > len(shapes):
        raise ValueError(
            f"idata has more than {len(shapes)} factor variables (F{len(shapes)} too) but "
            f"the fit has {len(shapes)} modes; pass the idata of this fit's model and data."
        )
    for name, f, shape in zip(names, sampled, shapes, strict=True):
        if f.shape[1:] != tuple(shape):
            raise ValueError(
                f"idata.posterior[{name!r}] has draws of shape {f.shape[1:]} but the fit's "
                f"factor {name[1:]} has shape {shape}; pass the idata of this fit's model "
                "and data (same rank and data shape)."
            )
    return [np.asarray(f, dtype=float) for f in sampled]


def _mode_labels(fit: Any, labels: Any, sizes: Sequence[int]) -> tuple[list, list]:
    """Per mode: the labels to draw (``labels=``, else the fit's pandas/xarray labels).

    Also per mode the dim name: the fit's, else that of a named ``labels=`` entry
    (a pandas Index or Series, an xarray coordinate).
    """
    n = len(sizes)
    own = (list(getattr(fit, "labels", ()) or ()) + [None] * n)[:n]
    out = [None if lab is None else np.asarray(lab) for lab in own]
    names = (list(getattr(fit, "dims", ()) or ()) + [None] * n)[:n]
    if labels is None:
        return out, names
    if not isinstance(labels, Mapping):
        raise ValueError(f"labels must be a dict {{mode: labels}}; got {type(labels).__name__}.")
    for k, lab in labels.items():
        if not isinstance(k, numbers.Integral) or not 0 <= k < n:
            raise ValueError(f"labels: {k!r} is not a mode index in 0..{n - 1}.")
        shape = np.shape(lab)
        if shape != (sizes[k],):
            raise ValueError(
                f"labels[{k}] has shape {shape}; give one label per index of mode {k} ({sizes[k]})."
            )
        out[int(k)] = np.asarray(lab)
        name = getattr(lab, "name", None)
        if names[k] is None and isinstance(name, str):
            names[k] = name
    return out, names


def _is_numeric(lab: np.ndarray | None) -> bool:
    """Labels that are positions on a number line (ints or floats, not bools)."""
    return lab is not None and lab.dtype.kind in "iuf" and bool(np.isfinite(lab).all())


def _is_grouped(lab: np.ndarray | None) -> bool:
    """Categorical labels (strings, categories) that repeat: groups to colour."""
    return lab is not None and not _is_numeric(lab) and len(set(lab.tolist())) < lab.size


def factors(
    fit: Any,
    *,
    idata: Any = None,
    band: float = 0.9,
    kinds: Sequence[str] | None = None,
    sort: bool = True,
    color_by: Mapping[int, Sequence[Any]] | None = None,
    labels: Mapping[int, Sequence[Any]] | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Any = None,
) -> Any:
    r"""The factors of a fit: one column of panels per mode, one row per component.

    Components are drawn largest first, each with the same norm in every mode and
    signs fixed (the largest entry positive in all modes but the last). With
    ``sort=True`` the indices of mode 0 (e.g. neurons) are reordered as in the
    tensortools tutorial: each is assigned to the component on which it loads most,
    grouped by component, largest loading first.

    The x-axis of a mode shows its labels (a fit to a pandas DataFrame or xarray
    DataArray keeps them; or give ``labels=``):

    - numeric labels (e.g. time in ms) are the x positions, so a time factor is drawn
      on its time axis (in increasing order of the labels);
    - other labels (strings, categories, dates) are drawn at positions 0, 1, ... in
      data order, named on the ticks when there are at most 30; labels that repeat
      (groups, e.g. each representative's party) colour the bars or dots, with a
      colour key (a legend), as ``color_by`` does;
    - without labels, or for mode 0 when ``sort=True``, the x-axis is the index
      (sorted by component for mode 0).

    The columns are titled by mode (``mode k``, with the dim name of labelled data);
    each row's y-axis is the loading of that component.

    With ``idata`` (posterior draws of the factors, from :func:`bayesfactor.sample`
    or :func:`bayesfactor.laplace`) each line carries a shaded equal-tailed credible
    band and each bar or dot an error bar: for every entry the
    :math:`(1 - b)/2` and :math:`(1 + b)/2` quantiles, over all chains and draws,
    of :math:`F^{(s)}_k[i, r]\, c_{k,r}`, where :math:`c_{k,r}` is the multiplier
    (scale and sign) that normalises the fit's own component :math:`r` in mode
    :math:`k`. The draws are thus on the same scale and sign as the drawn factors
    and are permuted like them (components, and the rows of mode 0); they are
    taken to be aligned to the fit's components already, as :func:`bayesfactor.sample`
    does.

    Parameters
    ----------
    fit : FitResult or sequence of arrays, shape (n_k, rank)
        The factors to draw (e.g. the MAP fit that ``idata`` was started from).
    idata : arviz.InferenceData, optional
        Posterior draws: variables ``F0``, ``F1``, ... with dims
        ``(chain, draw, <mode dim>, component)``, of shapes ``(n_k, rank)``.
    band : float in (0, 1), default=0.9
        Posterior probability :math:`b` inside each band.
    kinds : sequence of {"bar", "line", "scatter"}, optional
        One per mode; default bars for modes of at most 30 entries, else lines, or
        dots (``"scatter"``) for a mode with categorical labels or ``color_by``.
    sort : bool, default=True
        Reorder mode 0 by largest component.
    color_by : dict {mode: labels}, optional
        Colour the bars or dots of a mode by a label per index (e.g. the trials'
        condition, ``{2: directions}``); one colour per distinct label, with a legend.
        Default: the mode's own labels where they repeat (groups).
    labels : dict {mode: labels}, optional
        One label per index of a mode (e.g. ``{1: time_ms}`` for NumPy input);
        replaces the fit's labels of that mode. A named pandas Index or Series or
        xarray coordinate also names the mode.
    figsize : (float, float), optional
        Size of a new figure; default ``(3 * n_modes, 1.2 * rank + 1.1)``.
    ax : array of matplotlib Axes, shape (rank, n_modes), optional
        Draw into these axes (or a flat sequence of them, row-major) instead of a
        new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure (pyplot-managed), or the figure of ``ax``; ``rank * n_modes``
        axes, row-major (component by component).

    Raises
    ------
    ValueError
        For factors of different ranks, bad ``kinds``, ``band``, ``labels`` or
        ``ax``, or an ``idata`` whose variables do not match the fit's factors.

    Examples
    --------
    >>> import numpy as np, matplotlib.pyplot as plt
    >>> from bayesfactor import plot
    >>> rng = np.random.default_rng(0)
    >>> time = np.arange(-1000, 1000, 50)  # 40 bins
    >>> fig = plot.factors((rng.random((6, 3)), rng.random((40, 3))), labels={1: time})
    >>> len(fig.axes), fig.axes[1].lines[0].get_xdata()[[0, -1]].tolist()
    (6, [-1000.0, 950.0])
    >>> plt.close(fig)

    With posterior draws (here made up: 50 draws around the factors):

    >>> from bayesfactor.sampling.idata import _arviz
    >>> f0, f1 = rng.random((40, 3)), rng.random((6, 3))
    >>> idata = _arviz().from_dict(posterior={
    ...     "F0": f0 + 0.05 * rng.normal(size=(1, 50, 40, 3)),
    ...     "F1": f1 + 0.05 * rng.normal(size=(1, 50, 6, 3))})
    >>> fig = plot.factors((f0, f1), idata=idata, band=0.9)
    >>> len(fig.axes[0].collections), len(fig.axes[1].containers)  # band; bars + error bars
    (1, 2)
    >>> plt.close(fig)
    """
    mats = _factor_matrices(fit)
    ndim, rank = len(mats), mats[0].shape[1]
    sizes = [f.shape[0] for f in mats]
    mode_labels, names = _mode_labels(fit, labels, sizes)
    kinds = _kinds(kinds, sizes, mode_labels, color_by)
    if isinstance(band, bool) or not isinstance(band, numbers.Real) or not 0.0 < band < 1.0:
        raise ValueError(
            f"band={band!r} must be the posterior probability inside each band, a number "
            "in (0, 1) such as band=0.9."
        )
    draws = None if idata is None else _posterior_draws(idata, [f.shape for f in mats])
    colors = _colors(color_by, mode_labels, sizes, kinds)
    mats, bands = _arranged(mats, draws, band, sort, mode_labels, colors)
    fig, axes = _factor_axes(ax, mode_labels, figsize, ndim, rank)
    for k, (f, kind) in enumerate(zip(mats, kinds, strict=True)):
        band_k = None if bands is None else bands[k]
        _draw_mode(axes[:, k], k, f, kind, mode_labels[k], names[k], sort, colors.get(k), band_k)
    return fig


def _factor_matrices(fit: Any) -> list[np.ndarray]:
    """The factors of ``fit`` (a FitResult or a sequence of matrices) as float arrays, checked."""
    mats = [np.asarray(f, dtype=float) for f in getattr(fit, "factors", fit)]
    if len(mats) < 2 or any(f.ndim != 2 or f.shape[1] != mats[0].shape[1] for f in mats):
        raise ValueError(
            "factors must be a FitResult or a sequence of >= 2 matrices of shape "
            f"(n_k, rank) with one rank; got shapes {[f.shape for f in mats]}."
        )
    return mats


def _kinds(kinds, sizes: Sequence[int], mode_labels: list, color_by) -> list[str]:
    """How each mode is drawn: ``kinds``, checked, or by default from its size and labels."""
    coloured = set(color_by or {}) | {k for k, lab in enumerate(mode_labels) if _is_grouped(lab)}
    if kinds is None:
        kinds = [
            "bar"
            if n <= _BAR_MAX
            else "scatter"
            if k in coloured or not (lab is None or _is_numeric(lab))
            else "line"
            for k, (n, lab) in enumerate(zip(sizes, mode_labels, strict=True))
        ]
    kinds = list(kinds)
    if len(kinds) != len(sizes) or any(k not in ("bar", "line", "scatter") for k in kinds):
        raise ValueError(
            f"kinds={kinds!r}: give one of 'bar', 'line', 'scatter' per mode ({len(sizes)} modes)."
        )
    return kinds


def _colors(color_by, mode_labels: list, sizes, kinds) -> dict[int, tuple[np.ndarray, dict]]:
    """The colours of the coloured modes: ``color_by``, and labels that repeat (groups)."""
    by = dict(color_by or {})
    for k, lab in enumerate(mode_labels):  # groups in the labels: coloured by default
        if k not in by and _is_grouped(lab) and kinds[k] != "line":
            by[k] = lab
    return _label_colors(by if by else None, sizes, kinds)


def _arranged(mats, draws, band: float, sort: bool, mode_labels: list, colors: dict):
    """The normalised factors, largest component first, and the credible bands of the draws.

    With ``sort`` the rows of mode 0 are grouped by component; its labels and colours
    (``mode_labels[0]``, ``colors[0]``) are reordered with them, in place.
    """
    mult, order, _ = _normalisation(mats)
    mats = [(f * m)[:, order] for f, m in zip(mats, mult, strict=True)]
    rows = _row_order(mats[0]) if sort else np.arange(mats[0].shape[0])
    mats[0] = mats[0][rows]
    if mode_labels[0] is not None:
        mode_labels[0] = mode_labels[0][rows]
    if 0 in colors:
        colors[0] = (colors[0][0][rows], colors[0][1])
    if draws is None:
        return mats, None
    tail = (1.0 - float(band)) / 2.0
    # The fit's normalisation, applied to every draw: same multipliers, same order.
    scaled = [(d * m)[:, :, order] for d, m in zip(draws, mult, strict=True)]
    scaled[0] = scaled[0][:, rows]
    return mats, [np.quantile(d, [tail, 1.0 - tail], axis=0) for d in scaled]


def _factor_axes(ax: Any, mode_labels: list, figsize, ndim: int, rank: int):
    """A new figure with ``rank x ndim`` axes, or the given ``ax`` as that array; the figure."""
    if ax is None:
        # Room for the tick labels of named modes (rotated; ~0.07 in per character).
        ticks = [
            max(len(str(v)) for v in lab)
            for lab in mode_labels
            if lab is not None and not _is_numeric(lab) and lab.size <= _BAR_MAX
        ]
        fig = _new_figure(figsize or (3.0 * ndim, 1.2 * rank + 1.1 + 0.07 * max(ticks, default=0)))
        return fig, fig.subplots(rank, ndim, sharex="col", sharey="col", squeeze=False)
    what = f"plot.factors of rank {rank} with {ndim} modes (rank x modes, row-major)"
    flat = _given_axes(ax, rank * ndim, what)
    axes = np.empty((rank, ndim), dtype=object)
    axes.ravel()[:] = flat
    return flat[0].figure, axes


def _draw_mode(axes, k: int, f, kind: str, lab, name, sort: bool, colors, band) -> None:
    """Mode ``k``'s column of panels (``axes``, one per component), titled and keyed."""
    sorted_rows = sort and k == 0
    # x positions: numeric labels (unless mode 0 was reordered), else the index.
    at_labels = _is_numeric(lab) and not sorted_rows and np.unique(lab).size == lab.size
    x = lab.astype(float) if at_labels else np.arange(f.shape[0], dtype=float)
    line_order = np.argsort(x, kind="stable")
    gaps = np.diff(np.sort(x))
    width = 0.8 * (gaps.min() if gaps.size else 1.0)
    for r in range(f.shape[1]):
        axis = axes[r]
        color = colors[0] if colors is not None else "C0"
        if kind == "bar":
            axis.bar(x, f[:, r], color=color, width=width)
        elif kind == "line":
            axis.plot(x[line_order], f[line_order, r], color="C0", lw=1.2)
        elif colors is not None:
            axis.scatter(x, f[:, r], c=color, s=6)
        else:
            axis.plot(x, f[:, r], "o", color="C0", ms=2)
        if band is not None:
            _draw_band(axis, x, band[0][:, r], band[1][:, r], kind, line_order)
        axis.axhline(0.0, color="0.6", lw=0.5)
        axis.tick_params(labelsize=7)
        if lab is not None and not at_labels and f.shape[0] <= _BAR_MAX:
            axis.set_xticks(x, [str(v) for v in lab], rotation=90, fontsize=6)
        if k == 0:
            axis.set_ylabel(f"component {r + 1}\nloading", fontsize=8)
    axes[0].set_title(f"mode {k}" if name is None else f"mode {k}: {name}", fontsize=9)
    what = "index" if lab is None else str(name) if name is not None else "label"
    if sorted_rows:
        what = f"{'index' if lab is None else what}, sorted by component"
    axes[-1].set_xlabel(what, fontsize=8)
    if colors is not None:
        from matplotlib.patches import Patch

        handles = [Patch(color=c, label=str(g)) for g, c in colors[1].items()]
        axes[0].legend(handles=handles, fontsize=6, loc="best")


def _draw_band(axis, x, lo, hi, kind: str, line_order) -> None:
    """The credible band of one component: shaded about a line, else error bars."""
    if kind == "line":
        j = line_order
        axis.fill_between(x[j], lo[j], hi[j], color="C0", alpha=0.3, lw=0)
    else:
        # Centred on the interval, which need not contain the MAP value.
        mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
        axis.errorbar(x, mid, yerr=half, fmt="none", ecolor="0.3", lw=0.8)


def _label_colors(color_by, sizes, kinds) -> dict[int, tuple[np.ndarray, dict]]:
    """Per coloured mode: an array of colours per index and the legend {label: colour}."""
    if color_by is None:
        return {}
    if not isinstance(color_by, Mapping):
        raise ValueError(f"color_by must be a dict {{mode: labels}}; got {color_by!r}.")
    out = {}
    for k, labels in color_by.items():
        if not isinstance(k, numbers.Integral) or not 0 <= k < len(sizes):
            raise ValueError(f"color_by: {k!r} is not a mode index in 0..{len(sizes) - 1}.")
        labels = np.asarray(labels)
        if labels.shape != (sizes[k],):
            raise ValueError(
                f"color_by[{k}] has shape {labels.shape}; give one label per index of mode "
                f"{k} ({sizes[k]})."
            )
        if kinds[k] == "line":
            raise ValueError(
                f"color_by[{k}]: mode {k} is drawn as a line; use kinds 'bar' or 'scatter'."
            )
        unique, codes = np.unique(labels, return_inverse=True)
        palette = {lab: f"C{i % 10}" for i, lab in enumerate(unique.tolist())}
        out[int(k)] = (np.array([f"C{c % 10}" for c in codes]), palette)
    return out
