"""The README's examples run (numpyro runs ``python -m doctest README.md`` the same way)."""

import doctest
import pathlib
import warnings

import bayesfactor as bf

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        result = doctest.testfile(str(README), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
