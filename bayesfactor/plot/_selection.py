"""Model-selection figures: error against rank, and the stability of restarts."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from bayesfactor.plot._axes import _dots, _figure, _offsets

__all__ = ["error", "similarity"]


#: Axis labels of the likelihoods' errors (see :mod:`bayesfactor.selection`).
_ERROR_LABELS = {
    "mse": "mean squared error",
    "deviance": "mean Poisson deviance",
    "accuracy": "accuracy",
    "circular_error": r"mean $1 - \cos(x - \mu)$",
}
_COLORS = {"train": "C0", "test": "C1"}


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
    _check_best(best, table, labels, by_model)
    own = ax is None
    fig, axes = _figure(len(panels), ax)
    for panel, axis in zip(panels, axes, strict=True):
        rows = table if panel is None else table[table["model"] == panel]
        numeric = all(isinstance(v, numbers.Real) for v in labels)
        x, log = _error_x(axis, rows, table, labels, numeric, panel, by_model)
        shifts = {"train": -0.08, "test": 0.08} if len(splits) == 2 and not by_model else {}
        for split in splits:
            y = rows[f"{split}_{name}"].to_numpy(dtype=float)
            _dots(axis, x, y, shifts.get(split, 0.0), _COLORS[split], split, log)
        svd = table.attrs.get("svd_bound")
        if bound and svd and name == "mse" and not by_model:
            ranks = sorted(int(r) for r in svd)
            axis.plot(ranks, [svd[r] for r in ranks], "k--", lw=1, label="truncated SVD", zorder=0)
        if cv and best is not False and best is not None:
            _mark_best(axis, rows, best, labels, numeric, by_model)
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


def _check_best(best: Any, table: Any, labels: list, by_model: bool) -> None:
    """Refuse a ``best=`` that is neither True/False/None nor a rank (model) of the table."""
    if best is not True and best is not False and best is not None:
        choices = labels if by_model else sorted(table["rank"].unique().tolist())
        if best not in choices:
            raise ValueError(
                f"best={best!r} is not a {'model' if by_model else 'rank'} of the table "
                f"({choices}); pass one of them, True (the best by held-out "
                "log-likelihood) or False."
            )


def _error_x(axis, rows, table, labels: list, numeric: bool, panel: Any, by_model: bool):
    """The x values of a panel's rows (ranks, or models), its x-axis drawn; and if it is log."""
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
        return x, log
    x = rows["rank"].to_numpy(dtype=float)
    axis.set_xlabel("rank")
    axis.set_xticks(np.unique(x))
    if panel is not None:
        axis.set_title(f"model {panel}")
    return x, False


def _mark_best(axis, rows, best: Any, labels: list, numeric: bool, by_model: bool) -> None:
    """A dotted vertical line at the best rank (model) of ``rows``, or at the chosen ``best``."""
    chosen = _best(rows, "model" if by_model else "rank") if best is True else best
    at = chosen if not by_model or numeric else labels.index(chosen)
    what = f"model {chosen}" if by_model else f"rank {int(chosen)}"
    axis.axvline(
        float(at), color="0.35", ls=":", lw=1.2, zorder=0,
        label=f"{'best' if best is True else 'chosen'}: {what}",
    )  # fmt: skip


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
