"""Comparison of sampled models by PSIS-LOO or WAIC: :func:`compare`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["compare"]


def compare(idatas: Mapping[str, Any], *, ic: str = "loo", **kwargs: Any) -> Any:
    r"""Rank sampled models by expected log predictive density (PSIS-LOO or WAIC).

    A thin wrapper of ``arviz.compare``: every value is an ``InferenceData`` from
    :func:`bayesfactor.sample` (or :func:`bayesfactor.laplace`) of the **same data**,
    whose pointwise ``log_likelihood`` over the observed entries gives

    .. math::
        \widehat{\mathrm{elpd}} = \sum_{i \in \Omega} \log p(X_i \mid X_{-i})

    estimated by Pareto-smoothed importance sampling (``ic="loo"``) or WAIC. Note
    that leaving out one *entry* is the speckled-holdout question of
    :func:`cross_validate`, answered from one posterior instead of refits.

    Parameters
    ----------
    idatas : dict {name: arviz.InferenceData}
        The models to compare, e.g. ``{"rank 2": idata2, "rank 3": idata3}``.
    ic : {"loo", "waic"}, default="loo"
        The information criterion.
    **kwargs
        Passed to ``arviz.compare`` (e.g. ``scale="deviance"``).

    Returns
    -------
    pandas.DataFrame
        ``arviz.compare``'s table, best model first (``elpd_loo``, ``p_loo``,
        ``elpd_diff``, ``weight``, ``se``, ``dse``, ``warning``, ...).

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> X = np.random.default_rng(0).normal(size=(8, 6))
    >>> runs = {f"rank {r}": bf.sample(bf.Model(bf.Gaussian(), r, bf.Normal(1.0)), X,
    ...         num_warmup=50, num_samples=50, num_chains=1, progress_bar=False)
    ...         for r in (1,)}
    >>> bf.compare(runs).index.tolist()
    ['rank 1']
    """
    from bayesfactor.sampling.idata import _arviz

    if not isinstance(idatas, Mapping) or not idatas:
        raise TypeError(
            "idatas must be a non-empty dict {name: InferenceData} from bf.sample; got "
            f"{type(idatas).__name__}."
        )
    if ic not in ("loo", "waic"):
        raise ValueError(f"ic must be 'loo' or 'waic'; got {ic!r}.")
    sizes = set()
    for name, idata in idatas.items():
        group = getattr(idata, "log_likelihood", None)
        if group is None or "X" not in group:
            raise ValueError(
                f"{name!r} has no pointwise log_likelihood of X: pass the InferenceData "
                "returned by bf.sample or bf.laplace."
            )
        sizes.add(group["X"].shape[-1])
    if len(sizes) > 1:
        raise ValueError(
            f"the models were fitted to different numbers of observed entries {sorted(sizes)}; "
            "compare models of the same data (same X and mask)."
        )
    az = _arviz()
    with warnings.catch_warnings():
        # ArviZ warns about pointwise Pareto k > 0.7; its table's `warning` column says so.
        warnings.filterwarnings("ignore", message=".*(Pareto|pareto|posterior variance).*")
        # arviz<1 calls pandas' deprecated sort_values(inplace=True) (pandas >= 3.1).
        warnings.filterwarnings("ignore", message="The inplace keyword")
        return az.compare(dict(idatas), ic=ic, **kwargs)
