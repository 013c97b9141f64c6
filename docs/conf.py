"""Sphinx configuration: the API reference from the docstrings, the notebooks, the guides.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(``tests/test_docs.py`` runs this as a slow test). The notebooks are jupytext percent
scripts in ``notebooks/``; this file converts them to ``docs/notebooks/*.ipynb`` (not
tracked) before the build, and they are rendered without being run (their own slow test,
``tests/test_notebooks.py``, executes them).
"""

import pathlib
import sys

import jupytext

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the bayesfactor of this checkout, not another installed one

import bayesfactor  # noqa: E402

project = "bayesfactor"
author = "the bayesfactor authors"
copyright = "the bayesfactor authors, MIT license"
version = release = bayesfactor.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
]

# -- API reference ------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    # scikit-learn's metadata-routing setters (made per class; their docstrings link into
    # scikit-learn's own docs)
    "exclude-members": "set_fit_request, set_inverse_transform_request, set_score_request",
}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc "Parameters" sections say the types
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True

# -- Markdown (MyST) and notebooks (myst-nb) ----------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # executed by tests/test_notebooks.py, not by the docs build
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

exclude_patterns = ["_build", "**.ipynb_checkpoints"]
templates_path = ["_templates"]

html_theme = "furo"
html_title = f"bayesfactor {release}"


def _convert_notebooks() -> None:
    """``notebooks/*.py`` (jupytext percent) -> ``docs/notebooks/*.ipynb``, when changed."""
    out = DOCS / "notebooks"
    out.mkdir(exist_ok=True)
    for source in sorted((ROOT / "notebooks").glob("*.py")):
        nb = jupytext.read(source)
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.metadata["language_info"] = {"name": "python"}  # the code cells' highlighting
        text = jupytext.writes(nb, fmt="ipynb")
        target = out / f"{source.stem}.ipynb"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")


_convert_notebooks()
