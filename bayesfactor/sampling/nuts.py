"""NUTS from the MAP: :func:`sample`."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to
from numpyro.infer import MCMC, NUTS, init_to_uniform

from bayesfactor._data import as_data, as_key
from bayesfactor._precision import fit_dtype
from bayesfactor.alignment import align
from bayesfactor.likelihoods import NONNEGATIVE_SUPPORTS
from bayesfactor.model import Model
from bayesfactor.priors import Prior
from bayesfactor.result import FitResult
from bayesfactor.sampling.checks import (
    _check_count,
    _check_flag,
    _check_model,
    _reference,
    _warn_identifiability,
)
from bayesfactor.sampling.idata import _attrs, _inference_data
from bayesfactor.sampling.program import numpyro_model
from bayesfactor.solvers import fit as _fit_map
from bayesfactor.solvers.checks import check_fixed as _check_fixed

__all__ = ["sample", "INIT_RADIUS"]

#: NUTS statistics kept in ``sample_stats``: numpyro's field -> ArviZ's name
#: (the names ``arviz.from_numpyro`` uses).
_STATS = {
    "diverging": "diverging",
    "accept_prob": "acceptance_rate",
    "num_steps": "n_steps",
    "energy": "energy",
    "potential_energy": "lp",  # negated below: lp = -potential energy
    "adapt_state.step_size": "step_size",
}


def _interior(f: np.ndarray, prior: Prior) -> np.ndarray:
    """Move entries on the boundary of a non-negative support just inside it.

    NUTS works on the unconstrained scale (``log f`` for a non-negative factor),
    where an exact zero of the MAP is at minus infinity. Zeros become 1e-3 of the
    factor's typical entry: far enough inside for finite gradients, close enough
    not to change the fit.
    """
    if prior.support not in NONNEGATIVE_SUPPORTS:
        return f
    positive = f[f > 0]
    floor = 1e-3 * (float(np.sqrt(np.mean(positive**2))) if positive.size else 1.0)
    return np.maximum(f, floor)


#: Half-width of the uniform jitter added to the MAP (unconstrained scale) per chain.
INIT_RADIUS = 2.0


def _init_near(site: dict, values: Mapping[str, Array], radius: float) -> Any:
    """Init strategy (numpyro): ``values`` plus Uniform(-radius, radius), unconstrained.

    Every chain starts in the MAP's basin (so chains agree on the components) but at
    its own point (numpyro's ``init_to_uniform`` draws around 0 with the same
    radius), so that R-hat compares chains that did not start together. Measured
    (benchmarks/sampling.py problems, 4 keys): minimum bulk ESS of the rates at
    least that of starting exactly at the MAP, e.g. 1572 vs 1247 for the Gaussian
    case with 300 warm-up draws, 1105 vs 1128 for Poisson.
    """
    if site["type"] != "sample" or site["is_observed"]:
        return None
    if site["name"] not in values:
        return init_to_uniform(site, radius=radius)
    transform = biject_to(site["fn"].support)
    center = transform.inv(values[site["name"]])
    noise = jax.random.uniform(
        site["kwargs"]["rng_key"],
        site["kwargs"].get("sample_shape", ()) + jnp.shape(center),
        minval=-radius,
        maxval=radius,
    )
    return transform(center + noise)


def sample(
    model: Model,
    X: Any,
    *,
    mask: Any = None,
    init: FitResult | Sequence[Any] | None = None,
    fixed: Sequence[int] = (),
    num_samples: int = 1000,
    num_warmup: int = 1000,
    num_chains: int = 2,
    key: int | Array = 0,
    progress_bar: bool = True,
    posterior_predictive: bool = False,
    chain_method: str | None = None,
    target_accept_prob: float = 0.8,
    rescale: bool = True,
) -> Any:
    r"""Draw from the posterior of the factors with NUTS, started near the MAP.

    .. math::
        p(F_1, \dots, F_N \mid X) \propto \prod_{i \in \Omega} p(X_i \mid \eta_i)
        \prod_k p_k(F_k), \qquad
        \eta = \textstyle\sum_r F_1[:, r] \circ \cdots \circ F_N[:, r]

    The model is :func:`numpyro_model`; numpyro's NUTS samples it on the
    unconstrained scale (``log F`` for non-negative factors) with every chain
    started near the MAP (``init``, or ``bf.fit(model, X)`` when omitted; exact
    zeros of non-negative factors are moved to 1e-3 of the factor's typical
    entry), each at its own point: the MAP plus Uniform(-2, 2) on the
    unconstrained scale (:data:`INIT_RADIUS`), as Stan and numpyro jitter their
    starts, so that R-hat compares chains that did not start together. Draws are
    then aligned to the MAP (:func:`align`: best permutation of components, sign
    flips in pairs of real-valued modes, then each component's scale moved between
    the free modes to the MAP's column norms, the product unchanged), so that
    per-component summaries such as ``az.summary``, R-hat and credible bands of the
    factors are meaningful and on the MAP's scale. ``eta``, the ``log_likelihood``
    group and :func:`predictive_interval` do not depend on the alignment.

    Identifiability: permutations and paired sign flips are removed by the
    alignment. A matrix with rotation-invariant priors on both modes (``Flat``,
    ``Normal``, real ``Smooth``) and ``rank >= 2`` keeps a rotation symmetry
    :math:`(U Q, V Q)` for any likelihood: single components are not identified
    (only :math:`\eta` and the subspace) and an :class:`IdentifiabilityWarning`
    is raised; so it is for ``Flat`` / ``NonNegative`` priors, which leave the
    scale :math:`(U c, V / c)` improper. Since every chain starts at the MAP,
    R-hat checks mixing within that mode, not whether other modes exist.

    Parameters
    ----------
    model : Model
        Likelihood, rank and priors. Priors must be continuous (not ``OneHot``).
    X : array_like, shape (n_1, ..., n_N)
        Data: NumPy, JAX, pandas or xarray (labels become the factor coordinates).
        NaN entries are missing.
    mask : array_like of bool, optional
        True where observed; combined with NaN-as-missing.
    init : FitResult or tuple of arrays, optional
        The MAP to start from and align to. Default: ``bf.fit(model, X, mask=mask)``.
        A tuple with ``None`` for some modes (e.g. ``(None, V)``) is completed by
        ``bf.fit(model, X, mask=mask, init=init, fixed=fixed)``.
    fixed : sequence of int, default=()
        Modes held at their ``init`` values (``init`` must give them, as in
        :func:`bayesfactor.fit`): they are constants of the numpyro program, not
        sampled, so the draws are from the conditional posterior
        :math:`p(F_{free} \mid F_{fixed}, X)`. E.g. ``init=(None, V), fixed=(1,)``
        gives the uncertainty of the row factors of new data against known
        components. A fixed mode breaks the permutation symmetry (draws are not
        re-ordered, only paired sign flips of free real modes are aligned) and the
        symmetries that would move it (no rotation warning for a matrix).
    num_samples, num_warmup, num_chains : int, default=1000, 1000, 2
        numpyro's MCMC settings (draws kept per chain, adaptation steps, chains).
        Two chains or more give R-hat (``az.rhat``, ``az.summary``).
    key : int or jax.random key, default=0
        Seed (split between the MAP fit, when needed, NUTS and the predictive draws).
    progress_bar : bool, default=True
        Show numpyro's progress bar.
    posterior_predictive : bool, default=False
        Also draw replicated data: for every posterior draw :math:`s`, the observed
        entries of :math:`X^{(s)} \sim p(\,\cdot \mid \eta^{(s)})`
        (``likelihood.distribution``), in the group ``posterior_predictive`` (for
        ``az.plot_ppc``, ``az.loo_pit``).
    chain_method : {"sequential", "parallel", "vectorized"}, optional
        How chains run. Default: ``"parallel"`` when there are at least
        ``num_chains`` JAX devices, else ``"sequential"`` (JAX's configuration is
        never changed; for parallel CPU chains set
        ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before importing JAX).
    target_accept_prob : float, default=0.8
        NUTS step-size adaptation target; raise it (e.g. 0.95) if there are divergences.
    rescale : bool, default=True
        Move each draw's component scales between the free modes to the MAP's column
        norms (:func:`align`; eta unchanged), so that bands of the factors are on the
        MAP's scale. False keeps numpyro's draws of the factors as they are (only
        permuted and sign-flipped), e.g. to check the sampler itself.

    Returns
    -------
    arviz.InferenceData
        ``posterior``: one variable per mode, ``F0``, ``F1``, ..., with dims
        ``(chain, draw, <mode dim>, component)``, the mode dim being the input's
        dim name and labels (pandas/xarray) or ``mode{k}_index``; only the free
        modes. ``constant_data`` (only with ``fixed``): the fixed modes' ``F{k}``,
        dims ``(<mode dim>, component)``.
        ``log_likelihood`` and ``observed_data``: ``X`` over the observed entries
        only (dim ``observation``, with per-mode coordinates saying which entry),
        so ``az.loo`` and ``az.waic`` work. ``sample_stats``: ``diverging``,
        ``acceptance_rate``, ``n_steps``, ``energy``, ``lp``, ``step_size``.
        With ``posterior_predictive=True``, ``posterior_predictive``: ``X`` with
        the dims of ``log_likelihood``.

    Raises
    ------
    ValueError
        For a discrete prior (``OneHot``), bad data or settings, ``fixed`` modes
        that ``init`` does not give; before any work.

    Warns
    -----
    IdentifiabilityWarning
        Rotation symmetry or an improper posterior (see above).
    DataWarning
        Non-integer data under a Poisson likelihood: the posterior and the
        ``log_likelihood`` group use its pmf, which needs counts.

    See Also
    --------
    laplace : a Gaussian approximation at the MAP, in the same layout.
    predictive_interval : credible intervals of ``E[X]``.

    Notes
    -----
    Credible intervals of the factors come from ArviZ:
    ``az.hdi(idata, var_names=["F0"], hdi_prob=0.9)`` (highest density) or
    ``idata.posterior["F0"].quantile([0.05, 0.95], dim=("chain", "draw"))``
    (equal-tailed); ``az.summary(idata)`` gives means, ESS and R-hat per entry.

    Warm-up: started at the MAP, chains need fewer warm-up draws than from a
    random start; on the benchmark problems (benchmarks/SAMPLING.md) 300 gave the
    effective samples per second of the rates 1.2x that of a hand-written numpyro
    model at numpyro's default 1000 (equal settings: parity within noise).

    Each call compiles a new program (numpyro builds a new MCMC each time; ~3 s
    for a small model), and the process keeps its code: about 30 MB and 900
    memory maps per call, for numpyro's own ``MCMC`` as well. Under Linux's default
    limit (``vm.max_map_count`` = 65530) a process that samples ~70 times fails to
    compile ("LLVM compilation error: Cannot allocate memory"): sample in several
    processes, or raise the limit.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> X = np.random.default_rng(0).normal(size=(6, 5))
    >>> model = bf.Model(bf.Gaussian(), rank=1, priors=bf.Normal(1.0))
    >>> idata = bf.sample(model, X, num_warmup=50, num_samples=50, num_chains=1,
    ...                   progress_bar=False)
    >>> idata.posterior["F0"].dims
    ('chain', 'draw', 'mode0_index', 'component')
    >>> idata.log_likelihood["X"].shape
    (1, 50, 30)
    """
    model = model.for_data(X) if isinstance(model, Model) else model
    data = as_data(X, mask)
    priors = _check_model(model, data, "sample")
    _check_settings(
        num_samples,
        num_warmup,
        num_chains,
        chain_method,
        target_accept_prob,
        posterior_predictive=posterior_predictive,
        rescale=rescale,
        progress_bar=progress_bar,
    )
    fit_key, mcmc_key, predictive_key = jax.random.split(as_key(key), 3)
    fixed = _check_fixed(fixed, init, len(data.shape))
    names = [f"intercept{k}" for k in model.intercepts] + list(model.likelihood.estimate_names())
    reference, map_fit = _check_init(init, model, data.shape, names)  # before any work
    _warn_identifiability(model, priors, "sample", fixed)
    if reference is None or (names and map_fit is None):
        start = {} if init is None else {"init": init, "fixed": fixed}
        map_fit = _fit_map(model, X, mask=mask, key=fit_key, **start)
        reference = _reference(map_fit, model, data.shape, "init")

    dtype = fit_dtype(data.x.dtype)
    free = [k for k in range(len(priors)) if k not in fixed]
    values = _start_values(model, map_fit, reference, priors, free, names, dtype)
    constants = {k: jnp.asarray(reference[k], dtype) for k in fixed}
    samples, stats = _run_nuts(
        model,
        data,
        values,
        constants,
        dtype,
        mcmc_key,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method=chain_method,
        progress_bar=progress_bar,
        target_accept_prob=target_accept_prob,
    )
    return _inference_data(
        model,
        data,
        _aligned(samples, reference, priors, fixed, rescale),
        stats,
        _attrs(
            "nuts",
            ("" if fixed else "permutation, ")
            + "paired sign flips"
            + (", scale between modes" if rescale else ""),
        ),
        predictive_key if posterior_predictive else None,
        [reference[k] if k in fixed else None for k in range(len(priors))],
        {name: np.asarray(samples[name]) for name in names},
    )


def _aligned(
    samples: Mapping[str, Array],
    reference: Sequence[np.ndarray],
    priors: Sequence[Prior],
    fixed: tuple[int, ...],
    rescale: bool,
) -> list[np.ndarray | None]:
    """The draws of the free factors aligned to the MAP (:func:`align`), None for fixed modes.

    Components are permuted (unless a mode is fixed), real modes sign-flipped in
    pairs and, with ``rescale``, each component's scale moved between the free modes.
    """
    free = [k for k in range(len(priors)) if k not in fixed]
    aligned = align(
        [np.asarray(samples[f"F{k}"]) for k in free],
        [reference[k] for k in free],
        flip=[priors[k].support is constraints.real for k in free],
        permute=not fixed,
        rescale=rescale,
    )
    draws: list[np.ndarray | None] = [None] * len(priors)
    for k, f in zip(free, aligned, strict=True):
        draws[k] = f
    return draws


def _check_settings(
    num_samples: Any,
    num_warmup: Any,
    num_chains: Any,
    chain_method: Any,
    target_accept_prob: Any,
    **flags: Any,
) -> None:
    """The MCMC settings of :func:`sample` (``flags``: name -> a value that must be a bool)."""
    _check_count("num_samples", num_samples, 1)
    _check_count("num_warmup", num_warmup, 0)
    _check_count("num_chains", num_chains, 1)
    for name, value in flags.items():
        _check_flag(name, value)
    methods = ("sequential", "parallel", "vectorized")
    if chain_method is not None and chain_method not in methods:
        raise ValueError(f"chain_method must be one of {methods} or None; got {chain_method!r}.")
    if not (isinstance(target_accept_prob, (int, float)) and 0 < target_accept_prob < 1):
        raise ValueError(f"target_accept_prob must be in (0, 1); got {target_accept_prob!r}.")


def _check_init(
    init: Any, model: Model, shape: tuple[int, ...], names: list[str]
) -> tuple[list[np.ndarray] | None, FitResult | None]:
    """The MAP factors of a complete ``init`` (None when it must be fitted) and its fit.

    ``init`` is complete when it gives every mode; a fit of another model than
    ``model`` (``names``: its intercepts and Estimated parameters) is refused.
    """
    factors = init.factors if isinstance(init, FitResult) else init
    complete = init is not None and not (
        isinstance(factors, (tuple, list)) and any(f is None for f in factors)
    )
    reference = _reference(init, model, shape, "init") if complete else None
    map_fit = init if isinstance(init, FitResult) else None
    if names and map_fit is not None and _extras(map_fit.model, map_fit) is None:
        raise ValueError(
            f"init is a fit of {map_fit.model!r}, which lacks this model's {names}; pass "
            "init=bf.fit(model, X) of this model."
        )
    return reference, map_fit


def _start_values(
    model: Model,
    map_fit: FitResult | None,
    reference: Sequence[np.ndarray],
    priors: Sequence[Prior],
    free: Sequence[int],
    names: Sequence[str],
    dtype: Any,
) -> dict[str, Array]:
    """The MAP of every site: free factors (moved inside their support), then ``names``."""
    values = {f"F{k}": jnp.asarray(_interior(reference[k], priors[k]), dtype) for k in free}
    if names:  # intercepts and Estimated parameters start at the MAP too
        start_extras = _extras(model, map_fit)
        values |= {n: jnp.asarray(v, dtype) for n, v in zip(names, start_extras, strict=True)}
    return values


def _run_nuts(
    model: Model,
    data: Any,
    values: dict[str, Array],
    constants: dict[int, Array],
    dtype: Any,
    key: Array,
    *,
    num_warmup: int,
    num_samples: int,
    num_chains: int,
    chain_method: str | None,
    progress_bar: bool,
    target_accept_prob: float,
) -> tuple[dict[str, Array], dict[str, np.ndarray]]:
    """NUTS (numpyro) on :func:`numpyro_model` from near ``values``: draws and statistics.

    Returns the draws grouped by chain (site name -> (chain, draw, ...)) and the
    statistics of :data:`_STATS` under ArviZ's names (``lp`` = -potential energy).
    """
    if chain_method is None:
        parallel = num_chains > 1 and jax.local_device_count() >= num_chains
        chain_method = "parallel" if parallel else "sequential"
    kernel = NUTS(
        numpyro_model,
        init_strategy=functools.partial(_init_near, values=values, radius=INIT_RADIUS),
        target_accept_prob=float(target_accept_prob),
    )
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method=chain_method,
        progress_bar=progress_bar,
    )
    mcmc.run(
        key,
        model,
        jnp.asarray(data.x, dtype),
        jnp.asarray(data.mask),
        constants or None,
        extra_fields=tuple(_STATS),
    )
    samples = mcmc.get_samples(group_by_chain=True)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    stats = {name: np.asarray(extra[field]) for field, name in _STATS.items()}
    stats["lp"] = -stats["lp"]
    return samples, stats


def _extras(model: Model, fit: FitResult) -> list[np.ndarray] | None:
    """MAP intercepts then Estimated values of ``fit``, as ``model`` declares them (or None)."""
    lik = fit.model.likelihood
    if (
        fit.model.intercepts != model.intercepts
        or lik.estimate_names() != model.likelihood.estimate_names()
    ):
        return None
    return [np.asarray(b) for b in fit.intercepts] + [np.asarray(e.value) for e in lik.estimates()]
