r"""Figures for model assessment: error against rank, similarity, factors.

Every function draws like seaborn's and ArviZ's: by default it makes a new figure
through pyplot, so that Jupyter's inline backend shows it at the end of the cell and a
script shows it at ``plt.show()``; and every function returns that
:class:`matplotlib.figure.Figure`, to save (``fig.savefig(path)``) or to close
(``plt.close(fig)``, in a loop that draws many). Pass ``ax=`` (an Axes, or a sequence
of Axes for the multi-panel figures) to draw into Axes of your own instead; the
function then returns ``ax.figure`` and makes no figure.

A Figure (not an Axes, as seaborn's one-panel functions return) because most of these
figures have many panels (like seaborn's figure-level functions); ``fig.axes`` lists
them in the order the docstrings give.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["error", "similarity", "factors", "seqnmf"]

#: Axis labels of the likelihoods' errors (see :mod:`bayesfactor.selection`).
_ERROR_LABELS = {
    "mse": "mean squared error",
    "deviance": "mean Poisson deviance",
    "accuracy": "accuracy",
    "circular_error": r"mean $1 - \cos(x - \mu)$",
}
_COLORS = {"train": "C0", "test": "C1"}
#: Modes longer than this are drawn as lines (or points), shorter ones as bars.
_BAR_MAX = 30


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


def _as_table(result: Any) -> Any:
    from bayesfactor.selection import Ensemble

    if isinstance(result, Ensemble):
        return result.objectives()
    if hasattr(result, "columns") and "rank" in result.columns:
        return result
    raise TypeError(
        "expected the table of bf.cross_validate, an Ensemble (bf.fit_ensemble) or its "
        f".objectives(); got {type(result).__name__}."
    )


def _metric_name(table: Any) -> str:
    name = table.attrs.get("metric")
    if name:
        return name
    names = {
        c.split("_", 1)[1]
        for c in table.columns
        if c.startswith(("train_", "test_")) and not c.endswith("log_likelihood")
    }
    if len(names) != 1:
        raise ValueError(
            f"cannot tell the error column among {list(table.columns)}; use "
            "metric='log_likelihood', or a table with one error (one likelihood)."
        )
    return names.pop()


def _split_title(table: Any, cv: bool) -> str:
    """What the table scores: the held-out fraction, scheme and folds, or the training data."""
    if not cv:
        return "training error of every restart\n(all observed entries)"
    holdout = table.attrs.get("holdout")
    folds = int(table["fold"].nunique()) if "fold" in table.columns else None
    if isinstance(holdout, numbers.Real) and not isinstance(holdout, bool):
        held = f"{float(holdout):.0%} of entries held out"
    elif holdout == "masks":
        held = "held out by the given masks"
    else:
        held = "held-out entries"
    scheme = table.attrs.get("scheme")
    if scheme and holdout != "masks":
        held += f" ({scheme})"
    head = (
        f"cross-validation, {folds} fold{'s' if folds > 1 else ''}" if folds else "cross-validation"
    )
    return f"{head}\n{held}"


def _best(rows: Any, by: str) -> Any:
    """The ``by`` value (rank or model) of the highest mean held-out log-likelihood."""
    return rows.groupby(by, sort=False)["test_log_likelihood"].mean().idxmax()


def error(
    result: Any,
    *,
    metric: str = "error",
    bound: bool = True,
    best: Any = True,
    ax: Any = None,
) -> Any:
    r"""Train (and test) error or log-likelihood against rank, one dot per run.

    Every fold and restart is a dot; lines join the medians. The title says what
    was scored: the fraction of entries held out per fold, the scheme and the
    number of folds (from the table's ``attrs``, as :func:`bayesfactor.cross_validate`
    writes them), or the training data of an ensemble. For a cross-validation table
    a dotted vertical line marks the best rank, the one of the highest mean held-out
    log-likelihood per entry :math:`\bar\ell_{\text{test}}(r)`, or a rank of your
    choice (``best=3``; the command line marks ``bf.choose_rank(table).rank``, the
    one-standard-error rule).

    For a fully observed Gaussian matrix the truncated-SVD bound is drawn as well
    (dashed): by Eckart–Young the least mean squared error of any rank-:math:`r`
    matrix, :math:`\frac{1}{|X|}\sum_{i > r}\sigma_i^2`. It bounds the training error
    of every fit to all entries (an :class:`~bayesfactor.selection.Ensemble`); a
    cross-validation fit sees only the training entries, so its training error may
    dip slightly below it.

    With a dict/list of models (a prior-strength sweep) there is one panel per
    model, or, when a single rank was fitted, one panel with the models on the
    x-axis (on a log scale when the labels are positive numbers spanning two
    decades or more); the mark is then at the best model.

    Parameters
    ----------
    result : DataFrame or Ensemble
        The table of :func:`bayesfactor.selection.cross_validate`, or an ensemble
        (:func:`bayesfactor.selection.fit_ensemble`) or its ``objectives()``.
    metric : {"error", "log_likelihood"}, default="error"
        The likelihood's error (``mse``, ``deviance``, ``accuracy``,
        ``circular_error``), or the log-likelihood per entry.
    bound : bool, default=True
        Draw the truncated-SVD bound where it applies.
    best : bool, or a rank (model label), default=True
        Mark the best rank (model) by held-out log-likelihood; or mark this one (the
        chosen rank); False: no mark. Only tables with ``test_log_likelihood``.
    ax : matplotlib Axes or sequence of Axes, optional
        Draw into these axes, one per panel (one per model for a sweep over several
        ranks), instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure (pyplot-managed: shown in Jupyter, closed by
        ``plt.close(fig)``), or the figure of ``ax``; one axes per panel.

    Examples
    --------
    >>> import numpy as np, matplotlib.pyplot as plt, bayesfactor as bf
    >>> from bayesfactor import plot
    >>> from bayesfactor.selection import cross_validate
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(10, 2)) @ rng.normal(size=(2, 8)) + 0.1 * rng.normal(size=(10, 8))
    >>> cv = cross_validate(bf.Model(bf.Gaussian(), 1, bf.Flat()), X, ranks=[1, 2],
    ...                     holdout=0.2, key=0)
    >>> fig = plot.error(cv)
    >>> [line.get_label() for line in fig.axes[0].lines if not line.get_label().startswith("_")]
    ['train', 'test', 'truncated SVD', 'best: rank 2']
    >>> print(fig.axes[0].get_title())
    cross-validation, 1 fold
    20% of entries held out (speckled)
    >>> plt.close(fig)
    """
    if metric not in ("error", "log_likelihood"):
        raise ValueError(f"metric={metric!r}; use 'error' or 'log_likelihood'.")
    table = _as_table(result)
    name = "log_likelihood" if metric == "log_likelihood" else _metric_name(table)
    splits = [s for s in ("train", "test") if f"{s}_{name}" in table.columns]
    if not splits:
        raise ValueError(f"the table has no train_{name} / test_{name} column.")
    labels = list(dict.fromkeys(table["model"])) if "model" in table.columns else [None]
    by_model = len(labels) > 1 and table["rank"].nunique() == 1
    panels = [None] if by_model or labels == [None] else labels
    cv = "test_log_likelihood" in table.columns
    if best is not True and best is not False and best is not None:
        choices = labels if by_model else sorted(table["rank"].unique().tolist())
        if best not in choices:
            raise ValueError(
                f"best={best!r} is not a {'model' if by_model else 'rank'} of the table "
                f"({choices}); pass one of them, True (the best by held-out "
                "log-likelihood) or False."
            )
    own = ax is None
    fig, axes = _figure(len(panels), ax)
    for panel, axis in zip(panels, axes, strict=True):
        rows = table if panel is None else table[table["model"] == panel]
        numeric = all(isinstance(v, numbers.Real) for v in labels)
        if by_model:
            x = np.asarray(
                rows["model"] if numeric else [labels.index(v) for v in rows["model"]],
                dtype=float,
            )
            axis.set_xlabel(f"model (rank {int(table['rank'].iloc[0])})")
            log = numeric and min(labels) > 0 and max(labels) >= 100 * min(labels)
            if log:
                axis.set_xscale("log")
            elif not numeric:
                axis.set_xticks(range(len(labels)), [str(v) for v in labels])
        else:
            log = False
            x = rows["rank"].to_numpy(dtype=float)
            axis.set_xlabel("rank")
            axis.set_xticks(np.unique(x))
            if panel is not None:
                axis.set_title(f"model {panel}")
        shifts = {"train": -0.08, "test": 0.08} if len(splits) == 2 and not by_model else {}
        for split in splits:
            y = rows[f"{split}_{name}"].to_numpy(dtype=float)
            _dots(axis, x, y, shifts.get(split, 0.0), _COLORS[split], split, log)
        svd = table.attrs.get("svd_bound")
        if bound and svd and name == "mse" and not by_model:
            ranks = sorted(int(r) for r in svd)
            axis.plot(ranks, [svd[r] for r in ranks], "k--", lw=1, label="truncated SVD", zorder=0)
        if cv and best is not False and best is not None:
            chosen = _best(rows, "model" if by_model else "rank") if best is True else best
            at = chosen if not by_model or numeric else labels.index(chosen)
            what = f"model {chosen}" if by_model else f"rank {int(chosen)}"
            axis.axvline(
                float(at), color="0.35", ls=":", lw=1.2, zorder=0,
                label=f"{'best' if best is True else 'chosen'}: {what}",
            )  # fmt: skip
        axis.set_ylabel("log-likelihood per entry" if name == "log_likelihood" else "")
        axis.legend(frameon=False)
    axes[0].set_ylabel(
        "log-likelihood per entry" if name == "log_likelihood" else _ERROR_LABELS.get(name, name)
    )
    title = _split_title(table, cv)
    if own and len(axes) > 1:
        fig.suptitle(title)
    else:  # above the first panel, over its model's name if it has one
        axes[0].set_title("\n".join(filter(None, [title, axes[0].get_title()])), fontsize=10)
    return fig


def similarity(ensemble: Any, *, ax: Any = None) -> Any:
    """Similarity of every run to the best run of its rank, against rank.

    Each restart is a dot (the best run of a rank is 1 by definition); the line
    joins the means. Values near 1 at a rank mean every restart found the same
    components (:func:`bayesfactor.similarity`), as in tensortools' ensemble plots.

    Parameters
    ----------
    ensemble : Ensemble or DataFrame
        An ensemble (:func:`bayesfactor.selection.fit_ensemble`) or its
        ``similarities()`` table (columns ``rank`` and ``similarity``).
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure (pyplot-managed), or the figure of ``ax``.

    Examples
    --------
    >>> import numpy as np, matplotlib.pyplot as plt, bayesfactor as bf
    >>> from bayesfactor import plot
    >>> from bayesfactor.selection import fit_ensemble
    >>> X = np.outer(np.arange(1.0, 11.0), np.arange(1.0, 9.0))
    >>> ens = fit_ensemble(bf.Model(bf.Gaussian(), 1, bf.Flat()), X, ranks=[1], restarts=2)
    >>> fig, ax = plt.subplots()
    >>> plot.similarity(ens, ax=ax) is fig
    True
    >>> plt.close(fig)
    """
    from bayesfactor.selection import Ensemble

    table = ensemble.similarities() if isinstance(ensemble, Ensemble) else ensemble
    if not (hasattr(table, "columns") and {"rank", "similarity"} <= set(table.columns)):
        raise TypeError(
            "expected an Ensemble (bf.fit_ensemble) or a table with columns 'rank' and "
            f"'similarity'; got {type(ensemble).__name__}."
        )
    fig, (axis,) = _figure(1, ax, "plot.similarity")
    axis.set_title("stability of the restarts")
    x = table["rank"].to_numpy(dtype=float)
    y = table["similarity"].to_numpy(dtype=float)
    for value in np.unique(x):
        at = y[x == value]
        axis.plot(value + _offsets(at.size), at, "o", color="C0", alpha=0.6, ms=4)
    means = table.groupby("rank")["similarity"].mean()
    axis.plot(means.index.to_numpy(dtype=float), means.to_numpy(), "-", color="C0")
    axis.set_xticks(np.unique(x))
    axis.set_ylim(-0.02, 1.05)
    axis.set_xlabel("rank")
    axis.set_ylabel("similarity to best fit")
    return fig


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
    mats = [np.asarray(f, dtype=float) for f in getattr(fit, "factors", fit)]
    if len(mats) < 2 or any(f.ndim != 2 or f.shape[1] != mats[0].shape[1] for f in mats):
        raise ValueError(
            "factors must be a FitResult or a sequence of >= 2 matrices of shape "
            f"(n_k, rank) with one rank; got shapes {[f.shape for f in mats]}."
        )
    ndim, rank = len(mats), mats[0].shape[1]
    sizes = [f.shape[0] for f in mats]
    mode_labels, names = _mode_labels(fit, labels, sizes)
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
    if len(kinds) != ndim or any(k not in ("bar", "line", "scatter") for k in kinds):
        raise ValueError(
            f"kinds={kinds!r}: give one of 'bar', 'line', 'scatter' per mode ({ndim} modes)."
        )
    if isinstance(band, bool) or not isinstance(band, numbers.Real) or not 0.0 < band < 1.0:
        raise ValueError(
            f"band={band!r} must be the posterior probability inside each band, a number "
            "in (0, 1) such as band=0.9."
        )
    draws = None if idata is None else _posterior_draws(idata, [f.shape for f in mats])
    by = dict(color_by or {})
    for k, lab in enumerate(mode_labels):  # groups in the labels: coloured by default
        if k not in by and _is_grouped(lab) and kinds[k] != "line":
            by[k] = lab
    colors = _label_colors(by if by else None, sizes, kinds)
    mult, order, _ = _normalisation(mats)
    mats = [(f * m)[:, order] for f, m in zip(mats, mult, strict=True)]
    rows = _row_order(mats[0]) if sort else np.arange(mats[0].shape[0])
    mats[0] = mats[0][rows]
    if mode_labels[0] is not None:
        mode_labels[0] = mode_labels[0][rows]
    if 0 in colors:
        colors[0] = (colors[0][0][rows], colors[0][1])
    bands = None
    if draws is not None:
        tail = (1.0 - float(band)) / 2.0
        # The fit's normalisation, applied to every draw: same multipliers, same order.
        scaled = [(d * m)[:, :, order] for d, m in zip(draws, mult, strict=True)]
        scaled[0] = scaled[0][:, rows]
        bands = [np.quantile(d, [tail, 1.0 - tail], axis=0) for d in scaled]
    if ax is None:
        # Room for the tick labels of named modes (rotated; ~0.07 in per character).
        ticks = [
            max(len(str(v)) for v in lab)
            for lab in mode_labels
            if lab is not None and not _is_numeric(lab) and lab.size <= _BAR_MAX
        ]
        fig = _new_figure(figsize or (3.0 * ndim, 1.2 * rank + 1.1 + 0.07 * max(ticks, default=0)))
        axes = fig.subplots(rank, ndim, sharex="col", sharey="col", squeeze=False)
    else:
        what = f"plot.factors of rank {rank} with {ndim} modes (rank x modes, row-major)"
        flat = _given_axes(ax, rank * ndim, what)
        axes = np.empty((rank, ndim), dtype=object)
        axes.ravel()[:] = flat
        fig = flat[0].figure
    for k, (f, kind) in enumerate(zip(mats, kinds, strict=True)):
        lab, name = mode_labels[k], names[k]
        sorted_rows = sort and k == 0
        # x positions: numeric labels (unless mode 0 was reordered), else the index.
        at_labels = _is_numeric(lab) and not sorted_rows and np.unique(lab).size == lab.size
        x = lab.astype(float) if at_labels else np.arange(f.shape[0], dtype=float)
        line_order = np.argsort(x, kind="stable")
        gaps = np.diff(np.sort(x))
        width = 0.8 * (gaps.min() if gaps.size else 1.0)
        for r in range(rank):
            axis = axes[r, k]
            color = colors[k][0] if k in colors else "C0"
            if kind == "bar":
                axis.bar(x, f[:, r], color=color, width=width)
            elif kind == "line":
                axis.plot(x[line_order], f[line_order, r], color="C0", lw=1.2)
            elif k in colors:
                axis.scatter(x, f[:, r], c=color, s=6)
            else:
                axis.plot(x, f[:, r], "o", color="C0", ms=2)
            if bands is not None:
                lo, hi = bands[k][0][:, r], bands[k][1][:, r]
                if kind == "line":
                    j = line_order
                    axis.fill_between(x[j], lo[j], hi[j], color="C0", alpha=0.3, lw=0)
                else:
                    # Centred on the interval, which need not contain the MAP value.
                    mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
                    axis.errorbar(x, mid, yerr=half, fmt="none", ecolor="0.3", lw=0.8)
            axis.axhline(0.0, color="0.6", lw=0.5)
            axis.tick_params(labelsize=7)
            if lab is not None and not at_labels and f.shape[0] <= _BAR_MAX:
                axis.set_xticks(x, [str(v) for v in lab], rotation=90, fontsize=6)
            if k == 0:
                axis.set_ylabel(f"component {r + 1}\nloading", fontsize=8)
        axes[0, k].set_title(f"mode {k}" if name is None else f"mode {k}: {name}", fontsize=9)
        what = "index" if lab is None else str(name) if name is not None else "label"
        if sorted_rows:
            what = f"{'index' if lab is None else what}, sorted by component"
        axes[-1, k].set_xlabel(what, fontsize=8)
        if k in colors:
            from matplotlib.patches import Patch

            handles = [Patch(color=c, label=str(g)) for g, c in colors[k][1].items()]
            axes[0, k].legend(handles=handles, fontsize=6, loc="best")
    return fig


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
    from bayesfactor.conv import _wh, conv_product, sort_factors

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
