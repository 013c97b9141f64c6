"""The registries of likelihood and prior classes: filled by subclassing, read by name.

A class joins its registry by being defined (``Likelihood.__init_subclass__`` and
``Prior.__init_subclass__`` call :meth:`Registry.add`), so a new likelihood or prior
is one class: saved files name it (:mod:`bayesfactor.io` reads only registered
classes), the command line offers it under the names it declares in ``cli_names``
(``{"poisson": {"link": "identity"}, "poisson-log": {}}``: name -> constructor
arguments) with its ``parameter`` (the constructor argument a ``NAME:P`` sets).

:func:`declared_cli_names` reads those names from the source files without importing
them, so that ``bayesfactor --help`` lists them without loading JAX, and
:func:`declared_classes` finds the classes that declare them, so that ``bf.NAME`` and
``bf.likelihoods.NAME`` reach a new class without a line in any ``__init__``.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import pathlib
import pkgutil
from typing import Any

__all__ = ["Registry", "LIKELIHOODS", "PRIORS", "declared_cli_names", "declared_classes"]


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


def _source_files(kind: str) -> list[pathlib.Path]:
    spec = importlib.util.find_spec(f"bayesfactor.{kind}")
    folders = spec.submodule_search_locations
    if not folders:
        return [pathlib.Path(spec.origin)]
    return sorted(p for d in folders for p in pathlib.Path(d).glob("*.py"))


def _cli_names(node: ast.AST) -> list[str]:
    """The keys of a literal ``cli_names = {...}`` statement, else ``[]``."""
    target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
    if (
        isinstance(node, (ast.Assign, ast.AnnAssign))
        and isinstance(target, ast.Name)
        and target.id == "cli_names"
        and isinstance(node.value, ast.Dict)
    ):
        return [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    return []


@functools.cache  # parsed once per process (bf, the package __init__ and lookups ask)
def _declared(kind: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """``(module, class name, cli names)`` for each top-level class of ``bayesfactor.<kind>``."""
    found = []
    for path in _source_files(kind):
        module = f"bayesfactor.{kind}" + ("" if path.stem == "__init__" else f".{path.stem}")
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                names = [n for statement in node.body for n in _cli_names(statement)]
                found.append((module, node.name, tuple(names)))
    return tuple(found)


def declared_cli_names(kind: str) -> tuple[str, ...]:
    """The CLI names that the classes of ``bayesfactor.<kind>`` declare, read from source.

    Only literal ``cli_names = {...}`` class attributes count (as the registry reads
    them at run time); nothing is imported.

    Examples
    --------
    >>> "poisson-log" in declared_cli_names("likelihoods")
    True
    """
    return tuple(name for _, _, names in _declared(kind) for name in names)


def declared_classes(kind: str) -> dict[str, str]:
    """``{class name: module}`` of the public classes of ``bayesfactor.<kind>``, from source.

    A public class is one that names itself on the command line (a literal
    ``cli_names``). The package ``__init__`` and ``bayesfactor`` serve these names on
    first use (PEP 562), so a new likelihood or prior module is public without an edit
    elsewhere.

    Examples
    --------
    >>> declared_classes("priors")["Normal"]
    'bayesfactor.priors.normal'
    """
    return {
        cls: module for module, cls, names in _declared(kind) if names and not cls.startswith("_")
    }


def serve(kind: str, name: str) -> Any:
    """The declared class ``name`` of ``bayesfactor.<kind>`` (for a package ``__getattr__``)."""
    module = declared_classes(kind).get(name)
    if module is None:
        raise AttributeError(f"module 'bayesfactor.{kind}' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
