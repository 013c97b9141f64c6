"""The documentation builds with warnings as errors, and documents every public name.

``sphinx-build -W --keep-going -b html docs OUT`` (docs/conf.py: autodoc + autosummary +
napoleon for the API reference, myst-nb for the notebooks and the markdown pages). Slow:
the build imports every module and renders eight notebooks (~15-30 s).
"""

import importlib
import pathlib
import re
import subprocess
import sys
import types

import pytest

import bayesfactor as bf

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    pytest.importorskip("jupytext")
    out = tmp_path_factory.mktemp("html")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    proc = subprocess.run(
        [*cmd, "-d", str(out / ".doctrees"), str(ROOT / "docs"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    return out


def _public(module: types.ModuleType, prefix: str) -> list[str]:
    """The public names of ``module`` (its ``__all__``) that are not submodules."""
    return [
        f"{prefix}.{name}"
        for name in module.__all__
        if not isinstance(getattr(module, name), types.ModuleType)
    ]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_docs_build_without_warnings_and_document_every_public_name(html):
    api = (html / "api.html").read_text(encoding="utf-8")
    assert "bayesfactor.fit" in api
    names = _public(bf, "bayesfactor")
    for sub in ("plot", "datasets", "sklearn"):
        module = importlib.import_module(f"bayesfactor.{sub}")
        names += _public(module, f"bayesfactor.{sub}")
    assert len(names) > 40
    missing = [n for n in names if not (html / "generated" / f"{n}.html").exists()]
    assert not missing, f"public names without an API page (add them to docs/api.rst): {missing}"
    # every page of a public name is reachable from the API reference
    unlinked = [n for n in names if f'href="generated/{n}.html' not in api]
    assert not unlinked, unlinked
    # the numpydoc sections are rendered (napoleon), not shown as raw underlined text
    fit_page = (html / "generated" / "bayesfactor.fit.html").read_text(encoding="utf-8")
    assert "Parameters" in fit_page and "----------" not in fit_page


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_docs_render_every_notebook(html):
    jupytext = pytest.importorskip("jupytext")
    for source in sorted((ROOT / "notebooks").glob("*.py")):
        page = html / "notebooks" / f"{source.stem}.html"
        assert page.exists(), source.name
        n_code = sum(c.cell_type == "code" for c in jupytext.read(source).cells)
        text = page.read_text(encoding="utf-8")
        assert text.count('class="cell_input docutils container"') == n_code > 0, source.name


@pytest.mark.slow
def test_user_guide_examples_run():
    """The ``>>>`` examples of the user guide run, as the README's do."""
    import doctest
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        result = doctest.testfile(
            str(ROOT / "docs" / "guide.md"), module_relative=False, optionflags=doctest.ELLIPSIS
        )
    assert result.attempted > 0 and result.failed == 0, result


def test_readme_lists_every_public_name():
    """STYLE C1: the README names everything in ``bayesfactor.__all__``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in bf.__all__ if f"`{name}`" not in readme]
    assert not missing, missing


def _architecture_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture\n", 1)[1]
    return section.split("```\n", 2)[1]


def test_readme_architecture_names_every_module_and_package():
    """The README's map of the package matches the tree: each module or package of
    ``bayesfactor/`` (and of each subpackage) appears in it, and nothing it names is
    missing from the tree."""
    block = _architecture_block()
    package = ROOT / "bayesfactor"
    tops = {p.name for p in package.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    tops -= {"__main__.py", "conftest.py"}
    missing = sorted(n for n in tops if (n if n.endswith(".py") else f"{n}/") not in block)
    assert not missing, f"README architecture lacks {missing}"
    for sub in ("likelihoods", "priors", "solvers", "sampling", "selection", "io", "cli"):
        lines = block[block.index(f"  {sub}/") :].splitlines()
        rest = lines[1:]
        ends = [i for i, line in enumerate(rest) if re.match(r"  \S", line)]
        entry = "\n".join(lines[: 1 + (ends[0] if ends else len(rest))])
        for p in (package / sub).glob("*.py"):
            if p.stem != "__init__" and not re.search(rf"\b{p.stem}\b", entry):
                missing.append(f"{sub}/{p.name}")
    assert not missing, f"README architecture lacks {missing}"
    for word in block.split():
        name = word.strip("(),;")
        if name.endswith(".py") and "/" not in name and name not in ("__init__.py",):
            assert any(package.rglob(name)), f"README architecture names {name}, not in the tree"
