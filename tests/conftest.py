"""Test configuration: float64 for tight comparisons, strict rank promotion."""

import contextlib
import os

# No persistent compilation cache in tests (test_cache.py checks it in subprocesses): a
# clean run compiles everything once anyway, and writing entries costs time.
os.environ.setdefault("BAYESFACTOR_CACHE_DIR", "off")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

from cases import OBJ_INCREASE_TOL  # noqa: E402, F401  (re-exported for the tests)

#: The event JAX records once per program it compiles (no event on a cache hit; the
#: persistent cache is off in tests, so every new program is compiled and counted).
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class Compiles(list):
    """The names (``"jit(f)"``) of the programs compiled inside :func:`count_compiles`."""

    def of(self, jitted) -> int:
        """How many of them are programs of the jitted function ``jitted``."""
        return self.count(f"jit({jitted.__name__})")


@contextlib.contextmanager
def count_compiles():
    """Record every program JAX compiles in the block, through ``jax.monitoring``."""
    compiled = Compiles()

    def listen(event, duration, **kwargs):
        if event == COMPILE_EVENT:
            compiled.append(kwargs.get("fun_name", ""))

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield compiled
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def planted(rng, shape, rank, nonnegative=False, scale=1.0):
    """Planted factors (one (n_k, rank) matrix per mode) and their CP product."""
    factors = []
    for n in shape:
        f = rng.normal(size=(n, rank)) * scale
        factors.append(np.abs(f) if nonnegative else f)
    letters = "abcdefg"[: len(shape)]
    eta = np.einsum(",".join(f"{c}z" for c in letters) + "->" + letters, *factors)
    return factors, eta


def made_up_fit(model, factors, **fields):
    """A FitResult of given factors, no fit run: for tests of what is drawn or scored."""
    import bayesfactor as bf

    defaults = dict(
        objective=0.0,
        history=np.zeros(1),
        n_iter=1,
        converged=True,
        restart_objectives=np.zeros(1),
    )
    return bf.FitResult(model=model, factors=tuple(factors), **(defaults | fields))
