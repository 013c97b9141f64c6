r"""Posterior sampling: the model as a numpyro program, NUTS from the MAP, Laplace.

The same declaration that :func:`bayesfactor.fit` maximises defines the posterior

.. math::
    p(F_1, \dots, F_N \mid X) \propto \prod_{i \in \Omega} p(X_i \mid \eta_i)
    \prod_k p_k(F_k), \qquad
    \eta = \textstyle\sum_r F_1[:, r] \circ \cdots \circ F_N[:, r]

:func:`numpyro_model` writes it as a numpyro program (each prior's own
``log_prob`` is the prior density; each likelihood's numpyro ``distribution`` is
the data density), :func:`sample` runs NUTS from the MAP and :func:`laplace`
draws from a Gaussian approximation at the MAP. Both return
``arviz.InferenceData`` with the same layout, after :func:`align` has aligned
the draws to the MAP (label switching, signs and scales). This is the only module
that imports ArviZ (lazily: importing ArviZ takes seconds, and ``import
bayesfactor`` should not).

Identifiability
---------------
:math:`\eta` is unchanged when components are permuted, when two modes of one
component change sign together, and when one mode is scaled by :math:`c` and
another by :math:`1/c`. Permutations and sign flips are exact symmetries of the
posterior for the priors here, so draws are aligned to the MAP before summaries
(:func:`align`, :mod:`bayesfactor.alignment`). The scale between modes is held only
by the priors (and the Jacobian of the sampler's ``log F`` scale), so the posterior
of one mode alone sits on another scale than the MAP's (for KL-NMF of spike trains,
posterior medians of :math:`\sum_t V_{tr}` at 40-50 % of the MAP's): every draw's
components are rescaled between the modes to the MAP's column norms (their product,
and so :math:`\eta`, unchanged), so that the ``posterior`` group's ``F{k}`` and any
band or interval computed from them are on the MAP's scale. For a matrix whose
priors are all rotation invariant (``Flat``, ``Normal``, real ``Smooth``) and
``rank >= 2``, :math:`(U Q, V Q)` has the same
posterior for every orthogonal :math:`Q`, whatever the likelihood: single
components are then not identified (only the subspace and :math:`\eta` are), and
:func:`sample` warns (:class:`IdentifiabilityWarning`). Improper flat priors
(``Flat``, ``NonNegative``) on every mode leave the scale :math:`(U c, V / c)`
free: the posterior is improper, and :func:`sample` warns and suggests
``Normal`` priors.

Modes held fixed (``fixed=(k,)``, at their ``init`` values, as in
:func:`bayesfactor.fit`) are constants of the program: the draws are from the
conditional posterior of the free modes, which are the only variables of the
``posterior`` group (the fixed factors are in ``constant_data``). A fixed mode
breaks the symmetries that would move it (the permutation, the rotation of a
matrix, the scale between it and another mode), so these warnings consider the
free modes only.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax import Array
from jax.flatten_util import ravel_pytree
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to
from numpyro.infer import MCMC, NUTS, init_to_uniform

from bayesfactor._data import Data, as_data, as_key, warn
from bayesfactor._precision import fit_dtype
from bayesfactor.alignment import align
from bayesfactor.likelihoods import NONNEGATIVE_SUPPORTS, warn_pmf_data
from bayesfactor.model import Model
from bayesfactor.priors import Flat, NonNegative, Normal, OneHot, Prior, Smooth
from bayesfactor.result import FitResult, IdentifiabilityWarning
from bayesfactor.solvers import fit as _fit_map
from bayesfactor.solvers._driver import _check_fixed, check_factors

__all__ = [
    "sample",
    "laplace",
    "predictive_interval",
    "factor_draws",
    "align",
    "numpyro_model",
    "IdentifiabilityWarning",
]

#: Largest number of factor entries :func:`laplace` accepts by default: the dense
#: Hessian has this many squared entries (5,000 -> 200 MB in float64) and its
#: eigendecomposition costs O(P^3).
MAX_LAPLACE_PARAMETERS = 5000

#: Draws per batch when evaluating the likelihood over draws (bounds the memory
#: of one batch to this many copies of X).
_BATCH = 256

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

#: Dim names a user's label may not take (they would clash with ArviZ's own).
_RESERVED_DIMS = {"chain", "draw", "component", "observation"}


# --- the numpyro model ----------------------------------------------------------------


def numpyro_model(
    model: Model, x: Array, mask: Array, fixed: Mapping[int, Array] | None = None
) -> None:
    r"""The posterior of ``model`` given data ``x`` as a numpyro program.

    .. math::
        F_k \sim p_k \ (\text{site } ``F{k}``), \qquad
        X_i \sim p(\,\cdot \mid \eta_i) \ \text{for } i \in \Omega \ (\text{site } ``X``)

    Each factor is an ``ImproperUniform`` site on its prior's support plus a
    ``numpyro.factor`` with the prior's ``log_prob`` (so the priors in
    :mod:`bayesfactor.priors` stay the single definition of each density); the
    data are observed through ``likelihood.distribution(eta).mask(mask)``.
    Intercepts are sites ``intercept{k}`` (flat prior, as in the fit); each
    :class:`~bayesfactor.Estimated` likelihood parameter is a positive site named by
    ``likelihood.estimate_names()`` (e.g. ``scale``, ``scale_speed``) with its
    conjugate prior, written as a density of the parameter itself.
    Up to a constant, its log density is ``-model.objective(x, mask, factors)``.
    Modes in ``fixed`` are constants: no site and no prior term, so the density is
    the conditional posterior :math:`p(F_{free} \mid F_{fixed}, X)` up to a constant.

    Parameters
    ----------
    model : Model
        Likelihood, rank and priors (all priors continuous).
    x : Array, shape (n_1, ..., n_N)
        Data with missing entries filled with a valid value (``as_data`` zeroes them).
    mask : Array of bool, same shape
        True where observed; other entries do not enter the density.
    fixed : mapping of int to Array, optional
        Mode index -> its factor matrix, shape (n_k, rank), held constant.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> from numpyro.infer.util import log_density
    >>> from bayesfactor.sampling import numpyro_model
    >>> model = bf.Model(bf.Gaussian(), rank=1, priors=bf.Normal(1.0))
    >>> x, mask = np.ones((3, 2)), np.ones((3, 2), bool)
    >>> params = {"F0": np.ones((3, 1)), "F1": np.ones((2, 1))}
    >>> lp = log_density(numpyro_model, (model, x, mask), {}, params)[0]
    >>> bool(np.isclose(lp, -model.objective(x, mask, (params["F0"], params["F1"]))))
    True
    """
    priors = model.mode_priors(jnp.ndim(x))
    fixed = {} if fixed is None else fixed
    factors = []
    for k, (n, prior) in enumerate(zip(jnp.shape(x), priors, strict=True)):
        if k in fixed:
            factors.append(jnp.asarray(fixed[k]))
            continue
        f = numpyro.sample(f"F{k}", dist.ImproperUniform(prior.support, (), (n, model.rank)))
        numpyro.factor(f"log_prior_{k}", prior.log_prob(f))
        factors.append(f)
    intercepts = tuple(
        numpyro.sample(f"intercept{k}", dist.ImproperUniform(constraints.real, (), (n,)))
        for k, n in ((k, jnp.shape(x)[k]) for k in model.intercepts)
    )
    lik = model.likelihood
    values = []
    for name, (prior, p) in zip(lik.estimate_names(), lik.estimate_priors(), strict=True):
        value = numpyro.sample(name, dist.ImproperUniform(constraints.positive, (), ()))
        # The prior is on value**p: its density in value has the Jacobian p value**(p-1).
        log_jacobian = jnp.log(p) + (p - 1.0) * jnp.log(value)
        numpyro.factor(f"log_prior_{name}", prior.log_prob(value**p) + log_jacobian)
        values.append(value)
    lik, eta = _draw_model(model, factors, (), (intercepts, tuple(values)))
    numpyro.sample("X", lik.distribution(eta).mask(mask), obs=x)


def _draw_model(model: Model, factors, constants, extras) -> tuple[Any, Array]:
    """(likelihood, eta) of one draw of ``factors`` and ``extras``.

    ``extras = (intercepts, values of the Estimated parameters)``; fixed modes come
    from ``constants``.
    """
    intercepts, values = extras
    eta = model.eta(_merge(factors, constants) if constants else factors)
    if intercepts:
        eta = eta + model.intercept_eta(intercepts, eta.shape)
    return model.likelihood.with_values(values) if values else model.likelihood, eta


# --- checks at the boundary -----------------------------------------------------------


def _check_continuous(priors: Sequence[Prior], method: str) -> None:
    for k, prior in enumerate(priors):
        if isinstance(prior, OneHot) or prior.support.is_discrete:
            raise ValueError(
                f"{method} needs continuous factors, but the prior on mode {k} is {prior!r}, "
                "which is discrete (each row is an indicator vector): NUTS and the Laplace "
                "approximation work on continuous parameters only. Use bf.fit (MAP: the "
                "hard assignment), or a continuous prior on that mode, e.g. "
                "bf.NonNegative() or bf.Exponential(rate) for soft memberships."
            )


def _is_flat(prior: Prior) -> bool:
    return isinstance(prior, (Flat, NonNegative))


def _is_rotation_invariant(prior: Prior) -> bool:
    return isinstance(prior, (Flat, Normal)) or (
        isinstance(prior, Smooth) and not prior.nonnegative
    )


def _warn_identifiability(
    model: Model, priors: Sequence[Prior], method: str, fixed: tuple[int, ...] = ()
) -> None:
    # A fixed mode breaks the symmetries that would move it: the rotation (U Q, V Q) of
    # a matrix, and the scale (F_j c, F_k / c) between it and any other mode.
    free = [k for k in range(len(priors)) if k not in fixed]
    if (
        len(priors) == 2
        and not fixed
        and model.rank >= 2
        and all(map(_is_rotation_invariant, priors))
    ):
        warn(
            f"{method}: a matrix model with rank={model.rank} and rotation-invariant priors "
            f"{tuple(priors)!r} has a rotation symmetry: (U Q, V Q) has the same posterior "
            "for every orthogonal Q (whatever the likelihood), so single components are "
            "not identified and their summaries and R-hat are not meaningful; eta, "
            "predictions and the subspace are. Use sparse or non-negative priors "
            "(bf.Laplace, bf.Exponential, bf.NonNegative, ...) to pin components down.",
            IdentifiabilityWarning,
            stacklevel=4,
        )
    flat = [k for k in free if _is_flat(priors[k])]
    if flat and len(free) >= 2:
        every = len(flat) == len(free)
        warn(
            f"{method}: the flat prior on mode(s) {flat} leaves the scale symmetry "
            "(U c, V / c) of each component "
            + (
                "unbounded: the posterior is improper, draws drift in scale and do not converge. "
                if every
                else "constrained only by the other modes' priors: the posterior may be "
                "improper (it depends on the shape). "
            )
            + "Use proper priors such as bf.Normal(scale) (or bf.HalfNormal(scale), "
            "bf.Exponential(rate) for non-negative factors) on every mode.",
            IdentifiabilityWarning,
            stacklevel=4,
        )


def _check_model(model: Any, data: Data, method: str) -> tuple[Prior, ...]:
    if not isinstance(model, Model):
        raise TypeError(f"model must be a bf.Model; got {model!r}.")
    if method == "laplace" and (model.intercepts or model.likelihood.estimates()):
        raise ValueError(
            "laplace approximates the posterior of the factors only; this model also has "
            f"intercepts {model.intercepts} or Estimated likelihood parameters "
            f"{model.likelihood.estimate_names()}. Use bf.sample (NUTS samples them too), "
            "or fix them at the MAP: bf.Offset(likelihood, intercepts) and fixed scales."
        )
    if len(model.intercepts) > 1:
        warn(
            f"{method}: intercepts on modes {model.intercepts} under flat priors can trade "
            "a constant between them (b_j + c, b_k - c) without changing eta: the "
            "posterior is improper along that direction and those draws drift. Keep one "
            "intercept, or read only eta and predictions.",
            IdentifiabilityWarning,
            stacklevel=4,
        )
    priors = model.mode_priors(len(data.shape))
    model.likelihood.check_shape(data.shape)
    _check_continuous(priors, method)
    model.likelihood.check_data(data.x, data.mask)
    # NUTS / Laplace draw from the pmf's posterior, and log_likelihood is the pmf.
    warn_pmf_data(model.likelihood, data.x, data.mask, f"bf.{method}", stacklevel=4)
    return priors


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}.")


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")


def _reference(init: Any, model: Model, shape: tuple[int, ...], name: str) -> list[np.ndarray]:
    """The MAP factors of ``init`` (FitResult or tuple of arrays), checked."""
    return list(check_factors(init, model, shape, name=name, allow_none=False))


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


# --- InferenceData --------------------------------------------------------------------


@functools.cache
def _arviz() -> Any:
    """ArviZ, imported on first use (importing it takes seconds)."""
    with warnings.catch_warnings():
        # ArviZ 0.2x warns once a day on import that its 1.0 refactor is coming;
        # bayesfactor pins arviz<1 (STYLE "Decisions"), so the notice is not actionable.
        # https://python.arviz.org/en/latest/user_guide/migration_guide.html
        warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
        import arviz
    return arviz


def _merge(draw: Sequence[Array | None], constants: Sequence[Array | None]) -> tuple[Array, ...]:
    """One draw's factors: the drawn ones, with the fixed modes' constants in their place."""
    return tuple(c if f is None else f for f, c in zip(draw, constants, strict=True))


def _num_draws(factors: Sequence[Array | None]) -> int:
    return next(f for f in factors if f is not None).shape[0]


# In the helpers below ``factors`` holds (draws, n_k, rank) arrays, None for a fixed
# mode, and ``constants`` the fixed modes' (n_k, rank) matrices, None for the others.


def _over_draws(chunk_fn: Any, draws: Any) -> Array:
    """``chunk_fn`` over the draws (leading axis of every leaf) in chunks of :data:`_BATCH`.

    The last chunk is padded with copies of the last draw, so ``chunk_fn`` (jitted)
    compiles once for any number of draws from :data:`_BATCH` up (fewer draws use the
    next power of two): a second ``bf.sample`` with other ``num_samples`` reuses it.
    """
    n = jax.tree.leaves(draws)[0].shape[0]
    size = min(_BATCH, 1 << (n - 1).bit_length())  # few draws: a few small programs
    pad = -n % size
    draws = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)]), draws)
    chunks = [
        chunk_fn(jax.tree.map(lambda a, i=i: a[i : i + size], draws))
        for i in range(0, n + pad, size)
    ]
    return jnp.concatenate(chunks)[:n]


@jax.jit
def _log_likelihood_chunk(model: Model, x: Array, index: Array, constants, draws) -> Array:
    def one(draw):
        lik, eta = _draw_model(model, draw[0], constants, draw[1])
        return lik.distribution(eta).log_prob(x).reshape(-1)[index]

    return jax.vmap(one)(draws)


def _log_likelihood_draws(
    model: Model, x: Array, index: Array, factors, constants, extras=((), ())
) -> Array:
    """Pointwise log-likelihood of the observed entries ``index`` for every draw."""
    chunk = functools.partial(_log_likelihood_chunk, model, x, index, constants)
    return _over_draws(chunk, (factors, extras))


@jax.jit
def _predictive_chunk(model: Model, index: Array, constants, draws) -> Array:
    def one(draw):
        key, fs, ex = draw
        lik, eta = _draw_model(model, fs, constants, ex)
        return lik.distribution(eta).sample(key).reshape(-1)[index].astype(eta.dtype)

    return jax.vmap(one)(draws)


def _predictive_draws(
    model: Model, key: Array, index: Array, factors, constants, extras=((), ())
) -> Array:
    """One draw of the observed entries ``index`` of ``X`` per draw of the factors."""
    keys = jax.random.split(key, _num_draws(factors))
    chunk = functools.partial(_predictive_chunk, model, index, constants)
    return _over_draws(chunk, (keys, factors, extras))


@jax.jit
def _mean_chunk(model: Model, constants, draws) -> Array:
    def one(draw):
        lik, eta = _draw_model(model, draw[0], constants, draw[1])
        return lik.mean(eta)

    return jax.vmap(one)(draws)


def _mean_draws(model: Model, factors, constants, extras=((), ())) -> Array:
    """``E[X] = link^{-1}(eta)`` for every draw."""
    return _over_draws(functools.partial(_mean_chunk, model, constants), (factors, extras))


def _dim_names(data: Data) -> list[str]:
    """Per-mode dim names: the user's (pandas/xarray) where usable, else ``mode{k}_index``."""
    names: list[str] = []
    for k, name in enumerate(data.dims):
        ok = isinstance(name, str) and name and name not in _RESERVED_DIMS and name not in names
        names.append(name if ok else f"mode{k}_index")
    if len(set(names)) != len(names):  # a user dim took a default name: use defaults
        names = [f"mode{k}_index" for k in range(len(names))]
    return names


def _inference_data(
    model: Model,
    data: Data,
    draws: Sequence[np.ndarray | None],
    stats: dict | None,
    attrs: dict,
    predictive_key: Array | None = None,
    constants: Sequence[np.ndarray | None] | None = None,
    extras: Mapping[str, np.ndarray] | None = None,
) -> Any:
    """Posterior, pointwise log-likelihood (observed entries only) and observed data.

    ``draws`` has one (chain, draw, n_k, rank) array per mode, None for a mode held
    fixed, whose (n_k, rank) matrix is in ``constants`` (the group ``constant_data``).
    ``extras`` holds the draws of the intercepts (``intercept{k}``: (chain, draw,
    n_k)) and of the Estimated parameters (by ``estimate_names()``: (chain, draw)).
    With ``predictive_key``, also ``posterior_predictive``: one draw of the observed
    entries of ``X`` from ``likelihood.distribution(eta)`` per posterior draw.
    """
    az = _arviz()
    dims = _dim_names(data)
    index = np.flatnonzero(data.mask)
    constants = [None] * len(draws) if constants is None else list(constants)
    drawn = [f for f in draws if f is not None]
    chains, samples = drawn[0].shape[:2]
    dtype = jnp.asarray(drawn[0]).dtype
    flat = tuple(
        None if f is None else jnp.asarray(f.reshape((-1, *f.shape[2:])), dtype) for f in draws
    )
    const = tuple(None if c is None else jnp.asarray(c, dtype) for c in constants)
    extras = dict(extras or {})
    per_draw = lambda name: jnp.asarray(extras[name].reshape((-1, *extras[name].shape[2:])), dtype)
    ex = (
        tuple(per_draw(f"intercept{k}") for k in model.intercepts),
        tuple(per_draw(name) for name in model.likelihood.estimate_names()),
    )
    x, where = jnp.asarray(data.x, dtype), jnp.asarray(index)
    loglik = np.asarray(_log_likelihood_draws(model, x, where, flat, const, ex))
    loglik = loglik.reshape(chains, samples, index.size)
    predictive = None
    if predictive_key is not None:
        predictive = {
            "X": np.asarray(
                _predictive_draws(model, predictive_key, where, flat, const, ex)
            ).reshape(chains, samples, index.size)
        }
    coords = {
        name: np.arange(n) if labels is None else np.asarray(labels)
        for name, n, labels in zip(dims, data.shape, data.labels, strict=True)
    }
    coords["component"] = np.arange(model.rank)
    coords["observation"] = np.arange(index.size)
    var_dims = {f"F{k}": [dims[k], "component"] for k in range(len(draws))}
    var_dims |= {f"intercept{k}": [dims[k]] for k in model.intercepts}
    var_dims["X"] = ["observation"]
    fixed = {f"F{k}": np.asarray(c) for k, c in enumerate(constants) if c is not None}
    idata = az.from_dict(
        posterior={f"F{k}": np.asarray(f) for k, f in enumerate(draws) if f is not None}
        | {name: np.asarray(v) for name, v in extras.items()},
        log_likelihood={"X": loglik},
        posterior_predictive=predictive,
        observed_data={"X": data.x.reshape(-1)[index]},
        constant_data=fixed or None,
        sample_stats=stats,
        coords=coords,
        dims=var_dims,
        attrs=attrs,
    )
    # Which entry of X each observation is: one coordinate per mode (its index or label).
    where = np.unravel_index(index, data.shape)
    groups = [idata.log_likelihood, idata.observed_data]
    if predictive is not None:
        groups.append(idata.posterior_predictive)
    for group in groups:
        for name, i in zip(dims, where, strict=True):
            group.coords[name] = ("observation", coords[name][i])
    return idata


def _attrs(method: str, alignment: str) -> dict[str, str]:
    return {
        "inference_library": "numpyro",
        "inference_library_version": numpyro.__version__,
        "method": method,
        # What bayesfactor.alignment.align did to the factor draws (eta unchanged).
        "alignment": f"to the MAP: {alignment}",
    }


# --- NUTS -----------------------------------------------------------------------------


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
    _check_count("num_samples", num_samples, 1)
    _check_count("num_warmup", num_warmup, 0)
    _check_count("num_chains", num_chains, 1)
    _check_flag("posterior_predictive", posterior_predictive)
    _check_flag("rescale", rescale)
    _check_flag("progress_bar", progress_bar)
    methods = ("sequential", "parallel", "vectorized")
    if chain_method is not None and chain_method not in methods:
        raise ValueError(f"chain_method must be one of {methods} or None; got {chain_method!r}.")
    if not (isinstance(target_accept_prob, (int, float)) and 0 < target_accept_prob < 1):
        raise ValueError(f"target_accept_prob must be in (0, 1); got {target_accept_prob!r}.")
    fit_key, mcmc_key, predictive_key = jax.random.split(as_key(key), 3)
    fixed = _check_fixed(fixed, init, len(data.shape))
    factors = init.factors if isinstance(init, FitResult) else init
    complete = init is not None and not (
        isinstance(factors, (tuple, list)) and any(f is None for f in factors)
    )
    if complete:  # checked before any warning or work
        reference = _reference(init, model, data.shape, "init")
    names = [f"intercept{k}" for k in model.intercepts] + list(model.likelihood.estimate_names())
    map_fit = init if isinstance(init, FitResult) else None
    if names and map_fit is not None and _extras(map_fit.model, map_fit) is None:
        raise ValueError(
            f"init is a fit of {map_fit.model!r}, which lacks this model's {names}; pass "
            "init=bf.fit(model, X) of this model."
        )
    _warn_identifiability(model, priors, "sample", fixed)
    if not complete or (names and map_fit is None):
        start = {} if init is None else {"init": init, "fixed": fixed}
        map_fit = _fit_map(model, X, mask=mask, key=fit_key, **start)
        reference = _reference(map_fit, model, data.shape, "init")

    dtype = fit_dtype(data.x.dtype)
    free = [k for k in range(len(priors)) if k not in fixed]
    values = {f"F{k}": jnp.asarray(_interior(reference[k], priors[k]), dtype) for k in free}
    if names:  # intercepts and Estimated parameters start at the MAP too
        start_extras = _extras(model, map_fit)
        values |= {n: jnp.asarray(v, dtype) for n, v in zip(names, start_extras, strict=True)}
    constants = {k: jnp.asarray(reference[k], dtype) for k in fixed}
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
        mcmc_key,
        model,
        jnp.asarray(data.x, dtype),
        jnp.asarray(data.mask),
        constants or None,
        extra_fields=tuple(_STATS),
    )
    samples = mcmc.get_samples(group_by_chain=True)
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
    extra = mcmc.get_extra_fields(group_by_chain=True)
    stats = {name: np.asarray(extra[field]) for field, name in _STATS.items()}
    stats["lp"] = -stats["lp"]
    return _inference_data(
        model,
        data,
        draws,
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


def _extras(model: Model, fit: FitResult) -> list[np.ndarray] | None:
    """MAP intercepts then Estimated values of ``fit``, as ``model`` declares them (or None)."""
    lik = fit.model.likelihood
    if (
        fit.model.intercepts != model.intercepts
        or lik.estimate_names() != model.likelihood.estimate_names()
    ):
        return None
    return [np.asarray(b) for b in fit.intercepts] + [np.asarray(e.value) for e in lik.estimates()]


# --- Laplace approximation ------------------------------------------------------------


@jax.jit
def _derivatives(
    model: Model, x: Array, mask: Array, z: tuple[Array | None, ...], constants
) -> tuple[Array, Array]:
    """Gradient and Hessian of the negative log posterior in the flattened unconstrained factors.

    ``z`` is None for a fixed mode, whose factor is then taken from ``constants``.
    """
    priors = model.mode_priors(x.ndim)
    flat, unravel = ravel_pytree(z)

    def objective(v):
        factors = tuple(
            c if zk is None else biject_to(p.support)(zk)
            for p, zk, c in zip(priors, unravel(v), constants, strict=True)
        )
        return model.objective(x, mask, factors)

    return jax.grad(objective)(flat), jax.hessian(objective)(flat)


def laplace(
    model: Model,
    X: Any,
    fit: FitResult | Sequence[Any],
    *,
    mask: Any = None,
    fixed: Sequence[int] = (),
    num_samples: int = 1000,
    key: int | Array = 0,
    max_parameters: int = MAX_LAPLACE_PARAMETERS,
    posterior_predictive: bool = False,
    rescale: bool = True,
) -> Any:
    r"""Draw from a Gaussian (Laplace) approximation of the posterior at the MAP.

    With :math:`z_k = T_k^{-1}(F_k)` the factors on the unconstrained scale
    (``biject_to(prior.support)``: the identity for real factors, ``log`` for
    non-negative ones), :math:`L(z)` the negative log posterior
    (``model.objective``) as a function of the flattened :math:`z`, and
    :math:`\hat z` the MAP,

    .. math::
        z \sim \mathcal N\big(\hat z, H^{-1}\big), \qquad
        H = \nabla^2 L(\hat z), \qquad F_k = T_k(z_k).

    :math:`H` is computed densely with ``jax.hessian`` and inverted through its
    eigendecomposition. Directions with eigenvalues below
    :math:`\sqrt{\epsilon}\,\lambda_{max} + \|\nabla L(\hat z)\| / \min_r \|\hat z_r\|`
    (the Hessian's rounding, plus the curvature that a MAP known only to its
    gradient :math:`\nabla L` gives a symmetry direction; :math:`\hat z_r` is
    component :math:`r` over all modes) are flat directions of the posterior
    (the rotation or scale symmetries of :func:`sample`); the draws stay at the
    MAP along them, and an :class:`IdentifiabilityWarning` says how many there
    are. Draws are independent and near the MAP, so they are not permuted or
    sign-flipped, but each component's scale is moved between the free modes to the
    MAP's column norms (:func:`align` with ``rescale=True``; eta unchanged), as in
    :func:`sample`, so that bands of the factors from both have the same meaning
    (``rescale=False`` keeps the Gaussian draws).

    Parameters
    ----------
    model : Model
        Likelihood, rank and priors (continuous; smooth at the MAP).
    X : array_like, shape (n_1, ..., n_N)
        The data ``fit`` was fitted to (NaN = missing).
    fit : FitResult or tuple of arrays
        The MAP. Fit it tightly (e.g. ``tol=1e-10``): :math:`H` is only
        meaningful at a stationary point.
    mask : array_like of bool, optional
        True where observed.
    fixed : sequence of int, default=()
        Modes held at their values in ``fit`` (as in :func:`sample`): :math:`z` and
        :math:`H` cover the free modes only, and the fixed factors are in the
        group ``constant_data``. For a Gaussian likelihood with one mode of a matrix
        fixed and ``Normal`` / ``Flat`` priors on the other, the posterior is
        Gaussian and the approximation exact.
    num_samples : int, default=1000
        Number of draws (one chain).
    key : int or jax.random key, default=0
        Seed of the draws (split between the factors and the predictive draws).
    max_parameters : int, default=5000
        Largest number of factor entries :math:`P = R \sum_k n_k` accepted: the
        Hessian takes :math:`8 P^2` bytes (200 MB at 5,000) and :math:`O(P^3)` time.
    posterior_predictive : bool, default=False
        Also draw replicated data of the observed entries, one per draw (as :func:`sample`).
    rescale : bool, default=True
        Move each draw's component scales between the free modes to the MAP's column
        norms (as :func:`sample`; eta unchanged). False keeps the draws of
        :math:`\mathcal N(\hat z, H^{-1})` themselves.

    Returns
    -------
    arviz.InferenceData
        The layout of :func:`sample` (``posterior``, ``log_likelihood``,
        ``observed_data``, ``posterior_predictive`` when asked, ``constant_data``
        with ``fixed``), with one chain and no ``sample_stats``.

    Raises
    ------
    ValueError
        For a discrete prior; more than ``max_parameters`` factor entries; a MAP
        entry exactly at a prior's kink or boundary (0 under ``Laplace``,
        ``NonNegative``, ``Exponential``, ...), where the log posterior has no
        Hessian (use :func:`sample`); or a Hessian with a negative eigenvalue
        (``fit`` is not a local minimum).

    Warns
    -----
    IdentifiabilityWarning
        Rotation or scale symmetries, flat directions of the Hessian.
    DataWarning
        Non-integer data under a Poisson likelihood (as :func:`sample`).

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> X = np.random.default_rng(0).normal(size=(6, 5))
    >>> model = bf.Model(bf.Gaussian(), rank=1, priors=bf.Normal(1.0))
    >>> fit = bf.fit(model, X, tol=1e-10)
    >>> idata = bf.laplace(model, X, fit, num_samples=200, key=1)
    >>> idata.posterior["F1"].shape
    (1, 200, 5, 1)
    """
    model = model.for_data(X) if isinstance(model, Model) else model
    data = as_data(X, mask)
    priors = _check_model(model, data, "laplace")
    _check_count("num_samples", num_samples, 1)
    _check_count("max_parameters", max_parameters, 1)
    _check_flag("posterior_predictive", posterior_predictive)
    _check_flag("rescale", rescale)
    key, predictive_key = jax.random.split(as_key(key))
    reference = _reference(fit, model, data.shape, "fit")
    fixed = _check_fixed(fixed, fit, len(data.shape))
    free = [k for k in range(len(priors)) if k not in fixed]
    size = sum(reference[k].size for k in free)
    if size > max_parameters:
        raise ValueError(
            f"laplace builds the dense Hessian of all {size} factor entries "
            f"({8 * size**2 / 1e9:.2g} GB in float64, O(P^3) to factor), above "
            f"max_parameters={max_parameters}. Use bf.sample (NUTS needs only gradients), "
            "a smaller rank, or raise max_parameters if the memory and time are there."
        )
    for k in free:
        f, p = reference[k], priors[k]
        zeros = int(np.sum(f == 0)) if p.prox is not None else 0
        if zeros:
            raise ValueError(
                f"laplace needs a MAP where the log posterior is twice differentiable, but "
                f"{zeros} entries of factor {k} are exactly 0, where its prior {p!r} has a "
                "kink or a boundary. Use bf.sample (NUTS) for this model, or a smooth prior "
                "on that mode (e.g. bf.Normal(scale))."
            )
    _warn_identifiability(model, priors, "laplace", fixed)

    dtype = fit_dtype(data.x.dtype)
    transforms = [biject_to(p.support) for p in priors]
    z_all = tuple(
        None if k in fixed else t.inv(jnp.asarray(f, dtype))
        for k, (t, f) in enumerate(zip(transforms, reference, strict=True))
    )
    constants = tuple(
        jnp.asarray(f, dtype) if k in fixed else None for k, f in enumerate(reference)
    )
    grad, hessian = (
        np.asarray(a, dtype=float)
        for a in _derivatives(
            model, jnp.asarray(data.x, dtype), jnp.asarray(data.mask), z_all, constants
        )
    )
    z0 = [z_all[k] for k in free]
    if not (np.isfinite(hessian).all() and np.isfinite(grad).all()):
        raise ValueError(
            "the Hessian of the negative log posterior at fit is not finite; check that fit "
            "is the MAP of this model on this X."
        )
    lam, vec = np.linalg.eigh(hessian)
    # An eigenvalue is known to the Hessian's rounding, sqrt(eps) * lam_max, and to the
    # accuracy of the MAP: along a symmetry (rotation, scale) the curvature is exactly 0
    # at a stationary point, but at a point with gradient g the computed one is g times
    # the second derivative of the symmetry's path, of either sign and at most
    # |g| / |z_r| for a component r of size |z_r|.
    sqrt_eps = float(np.sqrt(np.finfo(dtype).eps))
    component = np.sqrt(sum(np.sum(np.asarray(v) ** 2, axis=0) for v in z0))
    tol = sqrt_eps * max(float(np.abs(lam).max()), 1e-300) + float(np.linalg.norm(grad)) / max(
        float(component.min()), sqrt_eps
    )
    if lam[0] < -tol:
        raise ValueError(
            f"the Hessian of the negative log posterior at fit has a negative eigenvalue "
            f"({lam[0]:.3g}; largest {lam[-1]:.3g}; gradient norm "
            f"{np.linalg.norm(grad):.3g}): fit is not a local minimum. Refit "
            "with a smaller tol, a larger max_iter or more restarts."
        )
    keep = lam > tol
    flat_directions = int(size - keep.sum())
    if flat_directions:
        warn(
            f"laplace: the Hessian at the MAP has {flat_directions} of {size} eigenvalues "
            f"near zero (below {tol:.2g}, largest {lam[-1]:.3g}): the posterior is flat "
            "along those directions (a symmetry of the model, see sample). The draws "
            "stay at the MAP along them, so the spread of single components is "
            "understated; eta and predictions are unaffected to first order.",
            IdentifiabilityWarning,
        )
    noise = np.asarray(jax.random.normal(key, (num_samples, int(keep.sum())), dtype))
    z = np.concatenate([np.asarray(v).reshape(-1) for v in z0])
    z = z + (noise / np.sqrt(lam[keep])) @ vec[:, keep].T
    draws: list[np.ndarray | None] = [None] * len(priors)
    start = 0
    for k in free:  # ravel_pytree's order: the free modes in mode order
        f = reference[k]
        block = z[:, start : start + f.size].reshape((1, num_samples, *f.shape))
        draws[k] = np.asarray(transforms[k](jnp.asarray(block, dtype)))
        start += f.size
    rescaled = align(
        [draws[k] for k in free],
        [reference[k] for k in free],
        flip=[False] * len(free),
        permute=False,
        rescale=rescale,
    )
    for k, f in zip(free, rescaled, strict=True):
        draws[k] = f
    return _inference_data(
        model,
        data,
        draws,
        None,
        _attrs("laplace", "scale between modes" if rescale else "none"),
        predictive_key if posterior_predictive else None,
        [reference[k] if k in fixed else None for k in range(len(priors))],
    )


# --- summaries ------------------------------------------------------------------------


def _flat_draws(posterior: Any, name: str) -> np.ndarray:
    """``posterior[name]`` as (chains * draws, ...), refusing a variable without those dims."""
    var = posterior[name]
    if var.ndim < 2 or not {"chain", "draw"} <= set(var.dims):
        raise ValueError(
            f"idata.posterior[{name!r}] must have dims (chain, draw, ...); got dims {var.dims}."
        )
    values = var.transpose("chain", "draw", ...).values
    return values.reshape((-1, *values.shape[2:]))


def factor_draws(idata: Any) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
    """The factors of an InferenceData from :func:`sample` or :func:`laplace`, per mode.

    The one reader of ``idata`` (:func:`predictive_interval`, ``bf.plot.factors``).

    Returns
    -------
    sampled : list
        Per mode ``k``: the draws of ``F{k}`` from ``posterior``, shape ``(chains *
        draws, n_k, rank)``, or None for a mode held fixed.
    fixed : list
        Per mode: its value from ``constant_data`` (``sample(..., fixed=...)``), or None.

    Raises
    ------
    TypeError
        ``idata`` has no posterior group with ``F0`` (sampled or fixed).
    """
    posterior = getattr(idata, "posterior", None)
    constant = getattr(idata, "constant_data", None)
    constant = {} if constant is None else constant
    if posterior is None or not ("F0" in posterior or "F0" in constant):
        raise TypeError(
            "idata must be an arviz.InferenceData returned by bf.sample or bf.laplace (a "
            f"posterior group with variables F0, F1, ...); got {type(idata).__name__}"
            + ("" if posterior is None else f" with variables {list(posterior.data_vars)}")
            + "."
        )
    sampled: list[np.ndarray | None] = []
    fixed: list[np.ndarray | None] = []
    while (name := f"F{len(sampled)}") in posterior or name in constant:
        sampled.append(_flat_draws(posterior, name) if name in posterior else None)
        fixed.append(None if name in posterior else np.asarray(constant[name].values))
    return sampled, fixed


def predictive_interval(
    idata: Any, model: Model, prob: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    r"""Equal-tailed credible interval of the predicted mean :math:`E[X] = g^{-1}(\eta)`.

    For every draw :math:`s` of the factors, :math:`\mu^{(s)} = g^{-1}(\eta^{(s)})`
    (``model.likelihood.mean``); the interval of each entry is the
    :math:`(1 - p)/2` and :math:`(1 + p)/2` quantiles of :math:`\mu^{(s)}` over
    all chains and draws. It is an interval for the mean, not for a new
    observation (which adds the likelihood's noise). Memory: one copy of ``X``
    per draw. For the factors themselves use ArviZ: ``az.hdi(idata, hdi_prob=p)``.

    Parameters
    ----------
    idata : arviz.InferenceData
        From :func:`sample` or :func:`laplace` (posterior variables ``F0``, ``F1``, ...).
    model : Model
        The model that produced ``idata``.
    prob : float, default=0.9
        Probability mass :math:`p` inside the interval, in (0, 1).

    Returns
    -------
    lower, upper : numpy arrays, shape (n_1, ..., n_N)
        Interval bounds for every entry of ``X`` (missing ones included).

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> X = np.random.default_rng(0).normal(size=(6, 5))
    >>> model = bf.Model(bf.Gaussian(), rank=1, priors=bf.Normal(1.0))
    >>> idata = bf.laplace(model, X, bf.fit(model, X, tol=1e-10), num_samples=200)
    >>> lower, upper = bf.predictive_interval(idata, model, prob=0.9)
    >>> lower.shape, bool((lower <= upper).all())
    ((6, 5), True)
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a bf.Model; got {model!r}.")
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 < prob < 1:
        raise ValueError(f"prob must be a number in (0, 1); got {prob!r}. Use e.g. prob=0.9.")
    sampled, fixed = factor_draws(idata)
    posterior = idata.posterior
    factors = [None if f is None else jnp.asarray(f) for f in sampled]
    constants = [None if c is None else jnp.asarray(c) for c in fixed]
    model.mode_priors(len(factors))  # the model must have one prior per mode
    rank = next(f for f in factors + constants if f is not None).shape[-1]
    if rank != model.rank:
        raise ValueError(
            f"idata has {rank} components but model.rank={model.rank}; "
            "pass the model that produced idata."
        )
    names = [f"intercept{k}" for k in model.intercepts] + list(model.likelihood.estimate_names())
    missing = [name for name in names if name not in posterior]
    if missing:
        raise ValueError(
            f"idata has no posterior variables {missing}, which model declares; pass the "
            "model that produced idata."
        )
    draws = [jnp.asarray(_flat_draws(posterior, n)) for n in names]
    extras = (tuple(draws[: len(model.intercepts)]), tuple(draws[len(model.intercepts) :]))
    means = np.asarray(_mean_draws(model, tuple(factors), tuple(constants), extras))
    tail = (1.0 - prob) / 2.0
    lower, upper = np.quantile(means, [tail, 1.0 - tail], axis=0)
    return lower, upper
