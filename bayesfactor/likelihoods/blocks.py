"""Blocks: one likelihood per block of indices along a mode (mixed data types).

Also the choice of likelihoods from data types (:meth:`Blocks.infer` for the columns
of a DataFrame, :func:`infer` for any array); pandas is imported only there.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import Array
from numpyro.distributions import constraints

from bayesfactor._pytree import pytree_dataclass, static_field, unchecked_replace
from bayesfactor.likelihoods._base import Likelihood
from bayesfactor.likelihoods.bernoulli import Bernoulli
from bayesfactor.likelihoods.gaussian import Gaussian
from bayesfactor.likelihoods.poisson import Poisson

__all__ = ["Blocks", "infer"]


@pytree_dataclass
class Blocks(Likelihood):
    r"""One likelihood per block of indices along a mode: mixed data types in one table.

    .. math::
        X_{ij} \sim p_{b(j)}(\,\cdot \mid \eta_{ij}), \qquad
        \eta = \textstyle\sum_r U_{:r} \circ V_{:r}

    Column ``j`` (index ``j`` along ``mode``) belongs to block :math:`b(j)`: spike
    counts (Poisson), licks (Bernoulli), running speed (Gaussian) and head direction
    (von Mises) of the same time bins share the row factors (Udell et al. 2016,
    generalized low-rank models). Each block keeps its own parameters (a Gaussian's
    scale, a von Mises concentration): they set how much its entries weigh.

    Parameters
    ----------
    likelihoods : dict {name: (indices, Likelihood)} or tuple of Likelihood
        Each block's indices along ``mode`` (a ``slice`` with explicit bounds, or a
        sequence of ints) and its likelihood. Every index belongs to exactly one block.
        Or the stored form (the fields below): one likelihood per block, with
        ``assignment`` and ``names``.
    assignment : array_like of int, optional
        With a tuple of likelihoods only: the block of each index along ``mode``.
    mode : int, default=1
        The mode whose indices the blocks split (1: columns of a matrix).
    names : tuple of str, optional
        With a tuple of likelihoods only: the blocks' names (default ``block0``, ...).
    labels : tuple, optional
        A name per index along ``mode`` (:meth:`infer`: the DataFrame's columns).

    Notes
    -----
    After construction the fields hold the stored form (``likelihoods`` a tuple,
    ``assignment``, ``names``), which the constructor also takes:
    ``Blocks(b.likelihoods, b.assignment, b.mode, b.names, b.labels) == b``.

    Examples
    --------
    >>> import numpy as np, bayesfactor as bf
    >>> lik = bf.Blocks({"spikes": (slice(0, 3), bf.Poisson()),
    ...                  "speed": (slice(3, 4), bf.Gaussian(0.5))}, mode=1)
    >>> lik
    Blocks(spikes: Poisson(link='log') [3], speed: Gaussian(scale=0.5) [1]; mode=1)
    >>> X = np.column_stack([np.random.default_rng(0).poisson(2.0, size=(20, 3)),
    ...                      np.random.default_rng(1).normal(size=20)])
    >>> fit = bf.fit(bf.Model(lik, 1, bf.Normal(1.0)), X)
    >>> fit.predict().shape
    (20, 4)

    See Also
    --------
    Blocks.infer : the blocks of a DataFrame from its column dtypes.
    """

    likelihoods: Any = ()
    assignment: Any = None  # (n,) ints: the block of each index along `mode`
    mode: int = static_field(default=1)
    names: tuple = static_field(default=())
    labels: tuple = static_field(default=())  # the DataFrame's column names (infer)

    def __post_init__(self):
        if isinstance(self.mode, bool) or not isinstance(self.mode, int) or self.mode < 0:
            raise ValueError(f"Blocks: mode must be an int >= 0; got {self.mode!r}.")
        spec = self.likelihoods
        if not isinstance(spec, dict):  # the stored fields: likelihoods, assignment, names
            spec = _spec_of_fields(spec, self.assignment, self.names)
        elif self.assignment is not None:
            raise TypeError("Blocks: give the blocks' indices in the dict, not an assignment.")
        liks, assignment, names = _parse_spec(spec, self.mode)
        object.__setattr__(self, "likelihoods", liks)
        object.__setattr__(self, "assignment", assignment)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "labels", tuple(self.labels))

    @classmethod
    def infer(cls, frame: Any, overrides: dict | None = None) -> Blocks:
        """Blocks for the columns of a DataFrame, chosen by dtype.

        ``bool`` -> ``Bernoulli()``, non-negative integers -> ``Poisson()`` (log
        link), other numbers -> ``Gaussian(scale)`` with the column's standard
        deviation as the scale. ``overrides`` maps column names to likelihoods
        (e.g. ``{"heading": bf.VonMises(2.0)}``); each distinct likelihood is one
        block. ``repr`` (and ``table()``) report the choice per column.

        Examples
        --------
        >>> import pandas as pd, bayesfactor as bf
        >>> df = pd.DataFrame({"lick": [True, False, True, True], "spikes": [0, 3, 1, 2],
        ...                    "speed": [0.5, 1.5, 0.5, 1.5]})
        >>> bf.Blocks.infer(df).table()  # doctest: +NORMALIZE_WHITESPACE
                 block           likelihood
        column
        lick    binary          Bernoulli()
        spikes  counts  Poisson(link='log')
        speed    speed  Gaussian(scale=0.5)
        """
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"Blocks.infer needs a pandas DataFrame; got {type(frame).__name__}.")
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(frame.columns)
        if unknown:
            raise ValueError(f"Blocks.infer: overrides name unknown columns {sorted(unknown)}.")
        groups: dict[str, tuple[list[int], Likelihood]] = {}
        for j, (column, series) in enumerate(frame.items()):
            lik = overrides[column] if column in overrides else _infer_one(series, column)
            kind = getattr(lik, "block_name", None) or str(column)  # None: not a likelihood
            key = kind if kind not in groups or groups[kind][1] == lik else str(column)
            groups.setdefault(key, ([], lik))[0].append(j)
        spec = {key: (index, lik) for key, (index, lik) in groups.items()}
        return cls(spec, mode=1, labels=tuple(frame.columns))

    @classmethod
    def from_fields(cls, likelihoods, assignment, mode=1, names=(), labels=()) -> Blocks:
        """Rebuild from the stored fields (the same as ``Blocks(likelihoods, assignment, ...)``)."""
        return cls(tuple(likelihoods), assignment, mode, tuple(names), tuple(labels))

    def table(self) -> Any:
        """The block and likelihood of every index along ``mode``, as a DataFrame."""
        import pandas as pd

        return pd.DataFrame(
            {
                "block": [self.names[b] for b in self.assignment],
                "likelihood": [repr(self.likelihoods[b]) for b in self.assignment],
            },
            index=pd.Index(self.labels, name="column") if self.labels else None,
        )

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Blocks
            and (self.likelihoods, self.mode, self.names, self.labels)
            == (other.likelihoods, other.mode, other.names, other.labels)
            and bool(np.array_equal(self.assignment, other.assignment))
        )

    def __repr__(self) -> str:
        counts = np.bincount(np.asarray(self.assignment), minlength=len(self.likelihoods))
        parts = [
            f"{name}: {lik!r} [{c}]"
            for name, lik, c in zip(self.names, self.likelihoods, counts, strict=True)
        ]
        return f"Blocks({', '.join(parts)}; mode={self.mode})"

    support = property(lambda self: constraints.real)
    exact_quadratic = property(lambda self: all(lik.exact_quadratic for lik in self.likelihoods))
    majorizes = property(lambda self: all(lik.majorizes for lik in self.likelihoods))
    exact_fit = property(lambda self: all(lik.exact_fit for lik in self.likelihoods))

    def restrict(self, index, pointwise):  # noqa: D102
        return unchecked_replace(  # entries: their blocks along the one axis they have
            self,
            assignment=np.asarray(self.assignment)[index[self.mode]],
            mode=0 if pointwise else self.mode,
        )

    def _in_block(self, b: int, shape) -> Array:
        axes = tuple(-1 if j == self.mode else 1 for j in range(len(shape)))
        return jnp.broadcast_to((jnp.asarray(self.assignment) == b).reshape(axes), shape)

    def parts(self, shape):  # noqa: D102
        return tuple(
            (name, lik, np.asarray(self._in_block(b, shape)))
            for b, (name, lik) in enumerate(zip(self.names, self.likelihoods, strict=True))
        )

    def _combine(self, fn, x, eta):
        """``fn(lik, x, eta)`` of each block where it applies (0 stands in for others' x)."""
        out = jnp.zeros(jnp.shape(eta), jnp.result_type(eta))
        for b, lik in enumerate(self.likelihoods):
            inside = self._in_block(b, jnp.shape(eta))
            out = jnp.where(inside, fn(lik, jnp.where(inside, x, 0.0), eta), out)
        return out

    def log_prob(self, x, eta):  # noqa: D102
        return self._combine(lambda lik, x, e: lik.log_prob(x, e), x, eta)

    def energy(self, x, eta):  # noqa: D102
        return self._combine(lambda lik, x, e: lik.energy(x, e), x, eta)

    def weight(self, x, eta):  # noqa: D102
        return self._combine(lambda lik, x, e: lik.weight(x, e), x, eta)

    def saturated_energy(self, x):  # noqa: D102
        return self._combine(lambda lik, x, e: lik.saturated_energy(x), x, x)

    def mean(self, eta):  # noqa: D102
        return self._combine(lambda lik, x, e: lik.mean(e), jnp.zeros_like(eta), eta)

    def distribution(self, eta):  # noqa: D102
        return _BlockDistribution(self, eta)

    def accepts_factor_support(self, support):  # noqa: D102
        return all(lik.accepts_factor_support(support) for lik in self.likelihoods)

    def estimates(self):  # noqa: D102
        return tuple(e for lik in self.likelihoods for e in lik.estimates())

    def estimate_names(self):  # noqa: D102
        return tuple(
            f"{name}_{block}"
            for block, lik in zip(self.names, self.likelihoods, strict=True)
            for name in lik.estimate_names()
        )

    def with_estimates(self, estimates):  # noqa: D102
        if not self.estimates():
            return self
        liks, i = [], 0
        for lik in self.likelihoods:
            n = len(lik.estimates())
            liks.append(lik.with_estimates(tuple(estimates[i : i + n])))
            i += n
        return unchecked_replace(self, likelihoods=tuple(liks))

    def update_estimates(self, x, mask, eta):  # noqa: D102
        out = []
        for b, lik in enumerate(self.likelihoods):
            if lik.estimates():
                inside = self._in_block(b, jnp.shape(eta))
                out.extend(lik.update_estimates(jnp.where(inside, x, 0.0), mask & inside, eta))
        return tuple(out)

    def estimate_priors(self):  # noqa: D102
        return tuple(p for lik in self.likelihoods for p in lik.estimate_priors())

    def check_shape(self, shape):  # noqa: D102
        if len(shape) <= self.mode or shape[self.mode] != len(self.assignment):
            raise ValueError(
                f"Blocks: the blocks cover {len(self.assignment)} indices along mode "
                f"{self.mode}, but the data have shape {tuple(shape)}."
            )

    def eta_of_mean(self, mean):  # noqa: D102
        if jnp.shape(mean)[self.mode] != len(self.assignment):
            return jnp.zeros_like(mean)  # a mean over several blocks has no one scale
        return self._combine(lambda lik, m, e: lik.eta_of_mean(m), mean, mean)

    def _split(self, x: np.ndarray, b: int) -> np.ndarray:
        return np.compress(np.asarray(self.assignment) == b, x, axis=self.mode)

    def check_data(self, x, mask):  # noqa: D102
        for b, (name, lik) in enumerate(zip(self.names, self.likelihoods, strict=True)):
            try:
                lik.check_data(self._split(x, b), self._split(mask, b))
            except ValueError as err:
                raise ValueError(f"block {name!r}: {err}") from None

    def pmf_problem(self, x, mask):  # noqa: D102
        problems = [
            f"block {name!r}: {problem}"
            for b, (name, lik) in enumerate(zip(self.names, self.likelihoods, strict=True))
            if (problem := lik.pmf_problem(self._split(x, b), self._split(mask, b)))
        ]
        return " ".join(problems) or None

    def data_scale(self, x, mask):  # noqa: D102
        scales = [
            lik.data_scale(self._split(x, b), self._split(mask, b))
            for b, lik in enumerate(self.likelihoods)
            if self._split(mask, b).any()
        ]
        return float(np.mean(scales)) if scales else 1.0

    def init_target(self, x):  # noqa: D102
        if np.ndim(x) <= self.mode or np.shape(x)[self.mode] != len(self.assignment):
            for lik in self.likelihoods:  # a check only: raises where undefined
                lik.init_target(x)
            return x
        out = np.array(x, dtype=float)
        for b, lik in enumerate(self.likelihoods):
            where = np.flatnonzero(np.asarray(self.assignment) == b)
            part = np.take(out, where, axis=self.mode)
            np.put_along_axis(
                out,
                where.reshape([-1 if j == self.mode else 1 for j in range(out.ndim)])
                + np.zeros_like(part, dtype=int),
                np.asarray(lik.init_target(part), dtype=float),
                axis=self.mode,
            )
        return out


def _spec_of_fields(likelihoods: Any, assignment: Any, names: Any) -> dict:
    """The ``{name: (indices, likelihood)}`` of stored fields (``assignment``: block per index)."""
    if not isinstance(likelihoods, (tuple, list)) or assignment is None:
        raise TypeError(
            "Blocks: give a dict {name: (indices, likelihood)}, e.g. "
            "{'counts': (slice(0, 80), bf.Poisson()), 'speed': (slice(80, 81), "
            f"bf.Gaussian(0.5))}}; got {likelihoods!r}."
        )
    names = tuple(names) or tuple(f"block{b}" for b in range(len(likelihoods)))
    if len(names) != len(likelihoods):
        raise ValueError(f"Blocks: {len(names)} names for {len(likelihoods)} likelihoods.")
    assignment = np.asarray(assignment, dtype=int)
    if assignment.ndim != 1 or not ((0 <= assignment) & (assignment < len(names))).all():
        raise ValueError(
            f"Blocks: assignment must be a 1-D array of block numbers 0..{len(names) - 1}, "
            "one per index along mode."
        )
    return {
        name: (np.flatnonzero(assignment == b), lik)
        for b, (name, lik) in enumerate(zip(names, likelihoods, strict=True))
    }


def _parse_spec(spec: dict, mode: int) -> tuple[tuple, np.ndarray, tuple]:
    """(likelihoods, assignment, names) of a ``{name: (indices, likelihood)}`` dict, checked."""
    if not spec:
        raise TypeError(
            "Blocks: give a dict {name: (indices, likelihood)}, e.g. "
            "{'counts': (slice(0, 80), bf.Poisson()), 'speed': (slice(80, 81), "
            f"bf.Gaussian(0.5))}}; got {spec!r}."
        )
    owner: dict[int, str] = {}
    liks = []
    for name, value in spec.items():
        if not (isinstance(value, tuple) and len(value) == 2):
            raise TypeError(f"Blocks: block {name!r} must be (indices, likelihood).")
        index, lik = value
        if not isinstance(lik, Likelihood) or isinstance(lik, Blocks) or lik.base is not lik:
            raise TypeError(
                f"Blocks: block {name!r} needs a likelihood such as bf.Poisson(); got {lik!r}."
            )
        for i in _indices(name, index):
            if i < 0 or i in owner:
                problem = "negative" if i < 0 else f"also in block {owner[i]!r}"
                raise ValueError(f"Blocks: index {i} of block {name!r} is {problem}.")
            owner[int(i)] = name
        liks.append(lik)
    n = max(owner) + 1 if owner else 0
    missing = sorted(set(range(n)) - set(owner))
    if not owner or missing:
        raise ValueError(
            f"Blocks: indices {missing[:5]} along mode {mode} belong to no block; "
            "every index needs exactly one likelihood."
        )
    names = list(spec)
    assignment = np.array([names.index(owner[i]) for i in range(n)])
    return tuple(liks), assignment, tuple(str(k) for k in names)


def _indices(name: Any, index: Any) -> np.ndarray:
    """A block's indices (a slice with an end, or ints) as a 1-D int array."""
    if isinstance(index, slice):
        if index.stop is None:
            raise ValueError(f"Blocks: block {name!r}: give the slice's end, e.g. slice(0, 80).")
        index = range(*index.indices(index.stop))
    return np.asarray(list(index), dtype=int).ravel()


def _infer_one(values: Any, name: Any = "X") -> Likelihood:
    """The likelihood a column (or a whole array) of this dtype gets (see Blocks.infer)."""
    import pandas as pd

    values = values if isinstance(values, pd.Series) else pd.Series(np.ravel(values))
    if pd.api.types.is_bool_dtype(values):
        return Bernoulli()
    if pd.api.types.is_integer_dtype(values) and values.min() >= 0:
        return Poisson()
    if pd.api.types.is_numeric_dtype(values):
        std = float(np.nanstd(values.to_numpy(dtype=float)))
        return Gaussian(std if std > 0 else 1.0)
    raise TypeError(
        f"cannot choose a likelihood for {name!r} of dtype {values.dtype}: only bool, "
        "integer and float data are modelled. Drop or encode it, or give a likelihood."
    )


def infer(X: Any) -> Likelihood:
    """The likelihood for data ``X`` chosen from its dtypes (``Model(likelihood="auto")``).

    A DataFrame gets :meth:`Blocks.infer` (one likelihood per kind of column; a
    single kind collapses to that likelihood), any other array one likelihood for
    its dtype: ``bool`` -> ``Bernoulli()``, non-negative integers -> ``Poisson()``,
    other numbers -> ``Gaussian(std)``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesfactor.likelihoods import infer
    >>> infer(np.array([[0, 3], [1, 2]]))
    Poisson(link='log')
    """
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        blocks = Blocks.infer(X)
        return blocks.likelihoods[0] if len(blocks.likelihoods) == 1 else blocks
    return _infer_one(X.values if hasattr(X, "dims") else X)


class _BlockDistribution(dist.Distribution):
    """The numpyro distribution of a :class:`Blocks` likelihood (one block per index)."""

    support = constraints.real

    def __init__(self, blocks: Blocks, eta: Array):
        self.blocks, self.eta = blocks, eta
        super().__init__(batch_shape=jnp.shape(eta))

    def log_prob(self, value):  # noqa: D102
        return self.blocks.log_prob(value, self.eta)

    def sample(self, key, sample_shape=()):  # noqa: D102
        import jax

        shape = tuple(sample_shape) + jnp.shape(self.eta)
        out = jnp.zeros(shape, jnp.result_type(self.eta))
        keys = jax.random.split(key, len(self.blocks.likelihoods))
        for b, lik in enumerate(self.blocks.likelihoods):
            draw = lik.distribution(self.eta).sample(keys[b], sample_shape)
            inside = jnp.broadcast_to(self.blocks._in_block(b, jnp.shape(self.eta)), shape)
            out = jnp.where(inside, draw.astype(out.dtype), out)
        return out
