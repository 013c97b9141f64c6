"""Doctests that compile several programs run with the slow checks (CI runs both suites).

Their examples stay tested: ``python -m pytest -m slow`` runs them, as CI does.
"""

import pytest

#: Doctests of over ~8 s each on two cores (compilation, mostly), by their pytest name.
SLOW_DOCTESTS = {
    "bayesfactor.selection.loo.compare",  # two NUTS runs
    "bayesfactor.sampling.nuts.sample",  # a NUTS run
    "bayesfactor.solvers.fit.fit",  # every kind of fit in its examples
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Mark the doctests of SLOW_DOCTESTS slow (before ``-m 'not slow'`` deselects)."""
    for item in items:
        if item.name in SLOW_DOCTESTS:
            item.add_marker(pytest.mark.slow)
