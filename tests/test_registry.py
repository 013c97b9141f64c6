"""The class registries: what saved files and the command line can name."""

import dataclasses

import pytest

import bayesfactor as bf
from bayesfactor import io
from bayesfactor._registry import LIKELIHOODS, PRIORS, declared_cli_names
from bayesfactor.cli.arguments import _likelihood, _prior
from bayesfactor.likelihoods import Likelihood
from bayesfactor.priors import Prior


def test_every_public_likelihood_and_prior_is_registered_for_save_and_load():
    classes = set(LIKELIHOODS.classes().values()) | set(PRIORS.classes().values())
    public = {getattr(bf, n) for n in bf.__all__ if isinstance(getattr(bf, n), type)}
    parts = {c for c in public if issubclass(c, (Likelihood, Prior))}
    assert parts and parts <= classes


@pytest.mark.parametrize("kind, registry", [("likelihoods", LIKELIHOODS), ("priors", PRIORS)])
def test_help_names_read_from_source_are_the_registered_ones(kind, registry):
    assert sorted(declared_cli_names(kind)) == sorted(registry.by_cli_name())


@pytest.mark.parametrize("name", sorted(LIKELIHOODS.by_cli_name()))
def test_each_cli_likelihood_builds_its_class_and_survives_save(name):
    cls, kwargs = LIKELIHOODS.by_cli_name()[name]
    lik = _likelihood(name)
    assert type(lik) is cls and all(getattr(lik, k) == v for k, v in kwargs.items())
    assert io.from_spec(io.to_spec(lik)) == lik


@pytest.mark.parametrize("name", sorted(PRIORS.by_cli_name()))
def test_each_cli_prior_takes_its_parameter(name):
    cls, _ = PRIORS.by_cli_name()[name]
    prior = _prior(f"{name}:0.5" if cls.parameter else name)
    assert type(prior) is cls
    if cls.parameter:
        assert getattr(prior, cls.parameter) == 0.5
    assert io.from_spec(io.to_spec(prior)) == prior


@dataclasses.dataclass(frozen=True)
class Doubled(bf.Gaussian):
    """A user's likelihood defined at module level: saved under its module path."""


def test_a_users_subclass_is_saved_under_its_module_path_not_a_builtin_name():
    spec = io.to_spec(bf.Model(Doubled(), 2, bf.Flat()))
    assert spec["likelihood"]["class"] == f"{__name__}.Doubled"
    assert io.from_spec(spec).likelihood == Doubled()
