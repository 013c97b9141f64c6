r"""Sharded fits: the data split along its largest mode across a one-axis device mesh.

With :math:`D` devices the data :math:`X` (and its mask) are split along their
largest mode :math:`s` into :math:`D` contiguous blocks of rows, and the factor
:math:`F_s` is split the same way; the other factors are replicated. The block
updates are unchanged: every contraction over mode :math:`s` (the Gram matrix
:math:`F_s^\top F_s`, the MTTKRP of another mode, the objective's sum) becomes a
per-device partial sum followed by an all-reduce, which ``jit`` (GSPMD) inserts
from the sharding annotations made here. ``_fit`` is the same compiled program
for one device or many; :class:`Layout` with no mesh makes every helper a no-op.

When :math:`n_s` is not a multiple of :math:`D`, mode :math:`s` is padded with
missing (masked) rows and the matching rows of :math:`F_s` start at 0. Every
separable block update keeps those rows at 0 (no data and a prior whose
minimum is at 0); the objective counts the prior only on the real rows, and the
padding is cut off before the result leaves the device.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["Layout", "ONE_DEVICE", "as_mesh", "layout_for"]


def as_mesh(devices: Any) -> Mesh | None:
    """A one-axis :class:`~jax.sharding.Mesh` from ``fit``'s ``devices`` argument.

    Parameters
    ----------
    devices : None, int, sequence of jax.Device, or jax.sharding.Mesh
        ``None``: no sharding. An int ``n``: the first ``n`` of ``jax.devices()``.
        A sequence: those devices. A mesh: used as is (it must have one axis).

    Returns
    -------
    Mesh or None

    Raises
    ------
    TypeError, ValueError
        For any other value, an empty or repeated device list, a mesh with more
        than one axis, or more devices than JAX sees.
    """
    if devices is None:
        return None
    if isinstance(devices, Mesh):
        if len(devices.axis_names) != 1:
            raise ValueError(
                f"devices: a Mesh with one axis is needed; got axes {devices.axis_names}. "
                "Use e.g. jax.sharding.Mesh(jax.devices(), ('data',))."
            )
        return devices
    available = jax.devices()
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise ValueError(
                f"devices={devices} but JAX sees {len(available)} device(s) "
                f"({available[0].platform}); use 1 <= devices <= {len(available)}. For "
                "CPU testing, set XLA_FLAGS=--xla_force_host_platform_device_count=N "
                "before importing jax."
            )
        return Mesh(np.array(available[:devices]), ("data",))
    if isinstance(devices, Sequence) and not isinstance(devices, str):
        devices = list(devices)
        bad = [d for d in devices if not isinstance(d, jax.Device)]
        if not devices or bad:
            raise TypeError(
                "devices must be None, an int, a non-empty sequence of jax.Device (e.g. "
                f"jax.devices()[:2]) or a one-axis jax.sharding.Mesh; got {devices!r}."
            )
        if len(set(devices)) != len(devices):
            raise ValueError(f"devices lists a device more than once: {devices!r}.")
        return Mesh(np.array(devices), ("data",))
    raise TypeError(
        "devices must be None, an int, a sequence of jax.Device (e.g. jax.devices()[:2]) "
        f"or a one-axis jax.sharding.Mesh; got {type(devices).__name__}."
    )


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the data and factors live: a static argument of ``_fit`` (hashable).

    ``mesh=None`` is the single-device layout: every method returns its input.
    """

    mesh: Mesh | None = None
    mode: int = 0  # the sharded mode
    pad: int = 0  # rows of padding at the end of that mode

    def _spec(self, ndim: int, k: int) -> NamedSharding:
        axis = self.mesh.axis_names[0]
        spec = PartitionSpec(*(axis if j == k else None for j in range(ndim)))
        return NamedSharding(self.mesh, spec)

    def unpadded(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The data's shape before padding."""
        return tuple(n - self.pad if k == self.mode else n for k, n in enumerate(shape))

    def padding_prior(self, model, factors: tuple[Array, ...]) -> Array:
        """The log-prior of the padding rows, which the recorded objective must not count.

        A constant while those rows stay 0, so block updates and line searches compare
        objectives that include it; only the objective reported per iteration (history,
        convergence test) adds this correction.
        """
        if not self.pad:
            return jnp.zeros((), factors[0].dtype)
        real = self.trim(factors, range(len(factors)))
        return model.log_prior(factors) - model.log_prior(real)

    def place(self, x: np.ndarray, dtype, fill=0) -> Array:
        """``x`` padded along the sharded mode with ``fill`` and split across the mesh.

        Each device (each process, on several hosts) receives only its own block.
        """
        if self.mesh is None:
            return jnp.asarray(x, dtype)
        widths = [(0, self.pad if j == self.mode else 0) for j in range(x.ndim)]
        x = np.pad(x, widths, constant_values=fill) if self.pad else x
        return jax.make_array_from_callback(
            x.shape, self._spec(x.ndim, self.mode), lambda idx: np.asarray(x[idx], dtype)
        )

    def constrain(self, factors: tuple[Array, ...]) -> tuple[Array, ...]:
        """Keep the sharded mode's factor split by rows and the others replicated."""
        if self.mesh is None:
            return factors
        rows = self._spec(2, 0)  # (n_k, rank): split the rows
        everywhere = NamedSharding(self.mesh, PartitionSpec())
        return tuple(
            jax.lax.with_sharding_constraint(f, rows if k == self.mode else everywhere)
            for k, f in enumerate(factors)
        )

    def pad_factors(self, factors: tuple[Array, ...], axis: int = 0) -> tuple[Array, ...]:
        """Zero rows appended to the sharded mode's factor (``axis``: its row axis)."""
        if not self.pad:
            return factors
        widths = lambda f: [(0, self.pad if a == axis else 0) for a in range(f.ndim)]
        return tuple(jnp.pad(f, widths(f)) if k == self.mode else f for k, f in enumerate(factors))

    def trim(self, arrays: tuple[Array, ...], modes: Sequence[int], axis: int = 0) -> tuple:
        """The padding cut off the arrays whose mode (``modes[i]``) is the sharded one."""
        if not self.pad:
            return arrays
        return tuple(
            jax.lax.slice_in_dim(a, 0, a.shape[axis] - self.pad, axis=axis) if m == self.mode else a
            for a, m in zip(arrays, modes, strict=True)
        )

    def replicate(self, tree: Any) -> Any:
        """Every array of ``tree`` gathered onto every device (host-readable everywhere)."""
        if self.mesh is None:
            return tree
        everywhere = NamedSharding(self.mesh, PartitionSpec())
        return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, everywhere), tree)


#: The single-device layout (no mesh): the default of ``_fit``.
ONE_DEVICE = Layout()


def layout_for(mesh: Mesh | None, shape: tuple[int, ...], model) -> Layout:
    """The layout sharding the largest mode of ``shape`` over ``mesh`` (padded if needed).

    Raises ``ValueError`` when padding is needed but would change the model: the
    prior on that mode couples neighbouring rows (``Smooth``), or the likelihood
    holds arrays along it (an ``Offset`` or ``Blocks`` over that mode).
    """
    if mesh is None:
        return ONE_DEVICE
    mode = int(np.argmax(shape))
    n, size = shape[mode], mesh.devices.size
    pad = -n % size
    prior = model.mode_priors(len(shape))[mode]
    along = [np.shape(a) for a in jax.tree.leaves(model.likelihood) if n in np.shape(a)]
    if pad and (prior.couples_rows or along):
        why = (
            f"its prior {prior!r} couples neighbouring rows"
            if prior.couples_rows
            else f"the likelihood holds arrays of shape {along[0]} along it"
        )
        raise ValueError(
            f"mode {mode} (size {n}) is split across {size} devices and needs {pad} "
            f"padding rows, but {why}, so padding would change the fit. Use a number of "
            f"devices that divides {n}, or trim the data to {n - n % size} rows."
        )
    return Layout(mesh, mode, pad)
