"""Model declarations: a model, likelihood or prior as nested JSON-ready dicts, and back.

Only the classes of :mod:`bayesfactor._registry` (and the models) can be named, so
reading a declaration runs no code from a file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from bayesfactor import likelihoods
from bayesfactor._registry import LIKELIHOODS, PRIORS
from bayesfactor.conv import ConvModel
from bayesfactor.model import Model

__all__ = ["to_spec", "from_spec", "MAX_DEPTH"]

#: Deepest nesting of a saved model declaration (a real one is 4-5 levels deep).
MAX_DEPTH = 32


def _classes() -> dict[str, type]:
    """Classes a saved declaration may name (``"likelihoods.Poisson"``, ...).

    The models, estimated parameters and the registered likelihoods and priors
    (:mod:`bayesfactor._registry`).
    """
    return {
        "Model": Model,
        "ConvModel": ConvModel,
        "likelihoods.Estimated": likelihoods.Estimated,
        **LIKELIHOODS.classes(),
        **PRIORS.classes(),
    }


def to_spec(obj: Any, arrays: list | None = None) -> Any:
    """A JSON-ready declaration of a model, likelihood or prior (nested dicts).

    Arrays held by the model (the offset of :class:`~bayesfactor.Offset`, the
    block assignment of :class:`~bayesfactor.Blocks`) are appended to ``arrays``
    and declared as ``{"array": i}``; without ``arrays`` they are written inline
    as nested lists.

    Examples
    --------
    >>> import bayesfactor as bf
    >>> from bayesfactor.io import from_spec, to_spec
    >>> model = bf.Model(bf.Poisson(link="identity"), 3, bf.Exponential(0.5))
    >>> to_spec(model)["likelihood"]
    {'class': 'likelihoods.Poisson', 'link': 'identity'}
    >>> from_spec(to_spec(model)) == model
    True
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = next((k for k, c in _classes().items() if c is type(obj)), None)
        if name is None:
            raise TypeError(f"cannot save {type(obj).__name__}: not a bayesfactor model part.")
        spec = {"class": name}
        for field in dataclasses.fields(obj):
            spec[field.name] = to_spec(getattr(obj, field.name), arrays)
        return spec
    if isinstance(obj, (tuple, list)):
        return [to_spec(o, arrays) for o in obj]
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    value = np.asarray(obj)
    if value.ndim == 0:  # a JAX or NumPy scalar
        return value.item()
    if not np.issubdtype(value.dtype, np.number):
        raise TypeError(f"cannot save a model that holds a {value.dtype} array.")
    if arrays is None:
        return {"array": value.tolist(), "dtype": value.dtype.str}
    arrays.append(value)
    return {"array": len(arrays) - 1}


def from_spec(spec: Any, arrays: Sequence[np.ndarray] = (), depth: int = 0) -> Any:
    """Rebuild a model, likelihood or prior from :func:`to_spec`'s declaration.

    Raises ``ValueError`` for a declaration nested deeper than :data:`MAX_DEPTH` or
    naming an array that is not there.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"the model declaration is nested deeper than {MAX_DEPTH} levels.")
    if isinstance(spec, dict) and "array" in spec:
        index = spec["array"]
        if isinstance(index, int) and not isinstance(index, bool):
            if not 0 <= index < len(arrays):
                raise ValueError(f"the model declaration refers to a missing array {index}.")
            return np.asarray(arrays[index])
        return np.asarray(spec["array"], dtype=np.dtype(spec["dtype"]))
    if isinstance(spec, dict):
        name = spec.get("class")
        classes = _classes()
        if name not in classes:
            raise ValueError(
                f"the file declares an unknown model part {name!r}; it was written by "
                "another version of bayesfactor, or is not a bayesfactor file."
            )
        kwargs = {k: from_spec(v, arrays, depth + 1) for k, v in spec.items() if k != "class"}
        for key in ("priors", "names", "labels"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        cls = classes[name]
        return getattr(cls, "from_fields", cls)(**kwargs)
    if isinstance(spec, list):
        return [from_spec(s, arrays, depth + 1) for s in spec]
    return spec
