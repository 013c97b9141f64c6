"""A small frozen-dataclass pytree helper (numpyro's ``__new__``-based unflatten).

Fields marked with :func:`static_field` go into the treedef (they select code
paths and trigger recompilation when changed); all other fields are leaves
(numbers traced under ``jit``: changing them does not recompile).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from bayesfactor import _cache, _precision  # noqa: F401  (first: JAX x64 and cache)

__all__ = ["pytree_dataclass", "static_field", "unchecked_replace"]


def static_field(**kwargs: Any) -> Any:
    """Declare a dataclass field that is part of the treedef (not traced)."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


def unchecked_replace(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` without ``__post_init__``: for traced values and internal copies."""
    new = object.__new__(type(obj))
    for field in dataclasses.fields(obj):
        object.__setattr__(new, field.name, changes.get(field.name, getattr(obj, field.name)))
    return new


def pytree_dataclass(cls: type) -> type:
    """Make ``cls`` a frozen dataclass registered as a JAX pytree.

    Unflattening goes through ``object.__new__`` so that constructor checks in
    ``__post_init__`` run only when a user builds the object, never on tracers.
    """
    own_repr = "__repr__" in cls.__dict__
    cls = dataclasses.dataclass(frozen=True, repr=False)(cls)
    fields = dataclasses.fields(cls)
    static = tuple(f.name for f in fields if f.metadata.get("static", False))
    leaves = tuple(f.name for f in fields if not f.metadata.get("static", False))

    def flatten(obj):
        children = tuple(getattr(obj, n) for n in leaves)
        aux = tuple(getattr(obj, n) for n in static)
        return children, aux

    def unflatten(aux, children):
        obj = object.__new__(cls)
        for name, value in zip(leaves, children, strict=True):
            object.__setattr__(obj, name, value)
        for name, value in zip(static, aux, strict=True):
            object.__setattr__(obj, name, value)
        return obj

    def __repr__(self) -> str:  # noqa: N807
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields)
        return f"{type(self).__name__}({args})"

    if not own_repr:
        cls.__repr__ = __repr__
    jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    return cls
