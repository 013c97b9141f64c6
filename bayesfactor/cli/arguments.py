"""Argument types of the command line: positive integers, ranks, likelihoods and priors.

The names are those the likelihood and prior classes declare (``cli_names``), read from
their source, so that parsing ``--help`` loads no JAX; a name is resolved to its class
through :mod:`bayesfactor._registry` only when an argument is converted.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bayesfactor._registry import LIKELIHOODS, PRIORS, declared_cli_names

__all__: list[str] = []


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


#: The names the likelihood and prior classes declare (``cli_names``), read from their
#: source so that --help does not load JAX; resolved to the classes after parsing.
_LIKELIHOODS = (*declared_cli_names("likelihoods"), "auto")
_PRIORS = declared_cli_names("priors")


def _name_and_number(text: str, names: Sequence[str], kind: str):
    name, _, number = text.partition(":")
    name = name.strip().lower()
    if name not in names:
        raise argparse.ArgumentTypeError(
            f"unknown {kind} {name!r}; choose one of {', '.join(names)}"
        )
    if not number:
        return name, None
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(
            f"{text!r}: the number after ':' must be positive and finite, e.g. '{name}:1.0'"
        )
    return name, value


def _likelihood(text: str):
    name, p = _name_and_number(text, _LIKELIHOODS, "likelihood")
    if name == "auto":
        return "auto"
    return _construct(name, p, LIKELIHOODS, needs_number=False)


def _prior(text: str):
    name, p = _name_and_number(text, _PRIORS, "prior")
    return _construct(name, p, PRIORS, needs_number=True)


def _construct(name: str, p: float | None, registry, needs_number: bool):
    """The class registered under CLI ``name``, its parameter set to ``p`` when given."""
    cls, kwargs = registry.by_cli_name()[name]
    if p is not None and cls.parameter is None:
        raise argparse.ArgumentTypeError(f"{name!r} takes no number; use just '{name}'")
    if p is None and needs_number and cls.parameter is not None:
        raise argparse.ArgumentTypeError(f"{name!r} needs a number, e.g. '{name}:1.0'")
    return cls(**kwargs, **({} if p is None else {cls.parameter: p}))


def _ranks(text: str) -> list[int]:
    try:
        if ":" in text:
            a, b = (int(t) for t in text.split(":"))
            ranks = list(range(a, b + 1))
        else:
            ranks = [int(t) for t in text.split(",")]
    except ValueError:
        ranks = []
    if not ranks or min(ranks) < 1:
        raise argparse.ArgumentTypeError(
            f"expected ranks as A:B or a list like 1,2,5 (all >= 1), got {text!r}"
        )
    return ranks
