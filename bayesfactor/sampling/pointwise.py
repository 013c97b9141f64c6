"""Functions of every posterior draw, in fixed-size batches of draws.

The pointwise log-likelihood, replicated data and the mean :math:`E[X]` of each draw
of the factors (and of the intercepts and Estimated parameters): jitted over a batch
of :data:`_BATCH` draws, so memory is bounded and one compile serves any number of
draws.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from bayesfactor.model import Model
from bayesfactor.sampling.program import _draw_model

__all__: list[str] = []

#: Draws per batch when evaluating the likelihood over draws (bounds the memory
#: of one batch to this many copies of X).
_BATCH = 256


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
