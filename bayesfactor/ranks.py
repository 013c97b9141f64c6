"""Choosing the rank from a cross-validation table: the one-standard-error rule."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np

from bayesfactor.result import RankWarning

__all__ = ["RankChoice", "choose_rank"]


@dataclasses.dataclass(frozen=True)
class RankChoice:
    """The rank :func:`choose_rank` picked, the rule's numbers and what the sweep can tell.

    Attributes
    ----------
    rank : int
        The chosen rank.
    best : int
        The rank of the highest mean held-out log-likelihood.
    rule : str
        The rule in words, with its numbers.
    summary : pandas.DataFrame
        Per rank: ``mean`` and ``se`` of the held-out log-likelihood per entry over
        the folds, and ``within_one_se`` of the best.
    caveats : tuple of str
        Why the choice may be weak (also warned as :class:`RankWarning`).
    """

    rank: int
    best: int
    rule: str
    summary: Any
    caveats: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "\n".join([f"rank {self.rank}: {self.rule}", *self.caveats])


def choose_rank(table: Any, *, warn: bool = True) -> RankChoice:
    r"""The smallest rank whose held-out score is within one standard error of the best.

    With :math:`\bar\ell_r` the mean over folds of the held-out log-likelihood per
    entry at rank :math:`r` (each fold's best restart) and :math:`s_r` its standard
    error over the :math:`F` folds (sample standard deviation :math:`/ \sqrt F`),
    the best rank is :math:`r^* = \arg\max_r \bar\ell_r` and the chosen one

    .. math::
        \hat r = \min \{ r : \bar\ell_r \ge \bar\ell_{r^*} - s_{r^*} \}

    (the one-standard-error rule of Breiman et al. 1984 and Hastie, Tibshirani &
    Friedman, *Elements of Statistical Learning*, sec. 7.10): a larger rank must beat
    the smaller ones by more than the noise of the held-out estimate. With one fold
    there is no standard error and the best rank is chosen.

    How much data a held-out choice needs: :math:`s_r` shrinks as
    :math:`1/\sqrt{|H|}` with the number of held-out entries, and a component gains
    the held-out score only where it is estimated better than the noise. A planted
    rank-3 Poisson matrix of 40 x 30 (120 held-out entries per fold at 10 %) cannot
    be told from rank 1 or 2; 60 x 400 (2400 entries) gives 3. The choice warns when
    the sweep cannot tell (every rank within one standard error of the best) and
    when the best rank is the largest one tried (try larger ranks).

    Parameters
    ----------
    table : pandas.DataFrame
        The table of :func:`bayesfactor.cross_validate` for one model.
    warn : bool, default=True
        Warn (:class:`RankWarning`) with the caveats.

    Returns
    -------
    RankChoice
        ``rank``, ``best``, the ``rule`` in words, the per-rank ``summary`` and the
        ``caveats``.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(rng.gamma(1.0, size=(60, 3)) @ rng.gamma(1.0, size=(3, 200)))
    >>> model = bf.Model(bf.Poisson(link="identity"), 1, bf.NonNegative())
    >>> table = bf.cross_validate(model, X, ranks=[1, 2, 3, 4, 5], folds=3, key=0,
    ...                           tol=1e-4)  # the choice needs the scores, not every digit
    >>> bf.choose_rank(table).rank
    3
    """
    if "model" in getattr(table, "columns", ()):
        raise ValueError(
            "choose_rank needs the table of one model; select its rows first, e.g. "
            "table[table.model == label]."
        )
    if "test_log_likelihood" not in getattr(table, "columns", ()):
        raise TypeError("choose_rank needs the DataFrame that bf.cross_validate returns.")
    per_fold = table.groupby(["rank", "fold"])["test_log_likelihood"].max()
    grouped = per_fold.groupby(level="rank")
    summary = grouped.mean().to_frame("mean")
    folds = int(grouped.size().min())
    summary["se"] = grouped.std(ddof=1) / math.sqrt(folds) if folds > 1 else np.nan
    if not np.isfinite(summary["mean"]).any():
        raise ValueError("choose_rank: no rank has a finite held-out log-likelihood.")
    best = int(summary["mean"].idxmax())
    ranks = [int(r) for r in summary.index]
    caveats = []
    if folds > 1:
        floor = summary.loc[best, "mean"] - summary.loc[best, "se"]
        summary["within_one_se"] = summary["mean"] >= floor
        rank = min(r for r in ranks if summary.loc[r, "within_one_se"])
        rule = (
            f"the smallest rank whose mean held-out log-likelihood per entry is within one "
            f"standard error of the best (rank {best}: {summary.loc[best, 'mean']:.5g} ± "
            f"{summary.loc[best, 'se']:.2g} over {folds} folds)"
        )
        if len(ranks) > 1 and summary["within_one_se"].all():
            caveats.append(
                f"every rank tried ({ranks[0]}..{ranks[-1]}) is within one standard error "
                "of the best: these data (or this holdout) cannot tell the ranks apart; "
                "hold out more entries, use more folds, or more data."
            )
    else:
        summary["within_one_se"] = summary.index == best
        rank = best
        rule = "the best mean held-out log-likelihood per entry (one fold: no standard error)"
        caveats.append("one fold: use folds >= 3 for the one-standard-error rule.")
    if best == ranks[-1] and len(ranks) > 1:
        caveats.append(
            f"the held-out score is highest at the largest rank tried ({best}): try larger ranks."
        )
    if warn:
        for caveat in caveats:
            warnings.warn(f"choose_rank: {caveat}", RankWarning, stacklevel=2)
    return RankChoice(rank, best, rule, summary, tuple(caveats))
