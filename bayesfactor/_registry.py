"""The registries of likelihood and prior classes: filled by subclassing, read by name.

A class joins its registry by being defined (``Likelihood.__init_subclass__`` and
``Prior.__init_subclass__`` call :meth:`Registry.add`), so a new likelihood or prior
is one class: saved files name it (:mod:`bayesfactor.io` reads only registered
classes), the command line offers it under the names it declares in ``cli_names``
(``{"poisson": {"link": "identity"}, "poisson-log": {}}``: name -> constructor
arguments) with its ``parameter`` (the constructor argument a ``NAME:P`` sets).

:func:`declared_cli_names` reads those names from the source files without importing
them, so that ``bayesfactor --help`` lists them without loading JAX.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pathlib
import pkgutil
from typing import Any

__all__ = ["Registry", "LIKELIHOODS", "PRIORS", "declared_cli_names"]


class Registry:
    """Classes of one kind (likelihoods or priors) by saved name and by CLI name.

    Parameters
    ----------
    kind : str
        The kind, also the package that defines the built-in classes
        (``"likelihoods"``: saved as ``"likelihoods.Poisson"``).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._classes: dict[str, type] = {}

    def add(self, cls: type) -> None:
        """Register ``cls`` under its saved name (a class defined elsewhere: module-qualified)."""
        ours = cls.__module__.split(".")[:2] == ["bayesfactor", self.kind]
        key = f"{self.kind}.{cls.__name__}" if ours else f"{cls.__module__}.{cls.__qualname__}"
        if "<locals>" not in key:  # a class made inside a function cannot be loaded again
            self._classes[key] = cls

    def classes(self) -> dict[str, type]:
        """Every registered class by saved name (the package's own modules imported first)."""
        _import_all(f"bayesfactor.{self.kind}")
        return dict(self._classes)

    def by_cli_name(self) -> dict[str, tuple[type, dict[str, Any]]]:
        """``{cli name: (class, constructor arguments)}`` over the registered classes."""
        found = {}
        for cls in self.classes().values():
            for name, kwargs in cls.__dict__.get("cli_names", {}).items():
                found[name] = (cls, dict(kwargs))
        return found


def _import_all(package: str) -> None:
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        importlib.import_module(f"{package}.{info.name}")


LIKELIHOODS = Registry("likelihoods")
PRIORS = Registry("priors")


def declared_cli_names(kind: str) -> tuple[str, ...]:
    """The CLI names that the classes of ``bayesfactor.<kind>`` declare, read from source.

    Only literal ``cli_names = {...}`` class attributes count (as the registry reads
    them at run time); nothing is imported.

    Examples
    --------
    >>> "poisson-log" in declared_cli_names("likelihoods")
    True
    """
    spec = importlib.util.find_spec(f"bayesfactor.{kind}")
    folders = spec.submodule_search_locations
    files = (
        sorted(p for d in folders for p in pathlib.Path(d).glob("*.py"))
        if folders
        else [pathlib.Path(spec.origin)]
    )
    names: list[str] = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
            if (
                isinstance(node, (ast.Assign, ast.AnnAssign))
                and isinstance(target, ast.Name)
                and target.id == "cli_names"
                and isinstance(node.value, ast.Dict)
            ):
                names += [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    return tuple(names)
