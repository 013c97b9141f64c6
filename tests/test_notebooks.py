"""Notebooks (jupytext percent scripts) executed in a Jupyter kernel at their small CI size.

Each ``notebooks/*.py`` is converted to a notebook (jupytext) and run cell by cell in an
IPython kernel (nbclient), with the kernel's default (inline) matplotlib backend, as a
reader's Jupyter would. Every cell that calls a ``bf.plot`` function must then show an
image: a figure that only exists as ``<Figure size ... with 1 Axes>`` text is a failure.
"""

import os
import pathlib
import re

import pytest

import bayesfactor as bf

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
#: A cell that calls a figure function of bf.plot (``bf.plot.error(...)`` etc.).
PLOT_CALL = re.compile(r"\bbf\.plot\.\w+\(")
#: What a figure prints when no backend displays it.
FIGURE_TEXT = re.compile(r"<Figure size \d+x\d+ with \d+ Axes>")


def _images(cell) -> int:
    return sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


def _texts(cell) -> str:
    """The text of a cell's outputs, but for the text/plain twin of a drawn image."""
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        data = out.get("data", {})
        if "image/png" not in data:
            parts.append(data.get("text/plain", ""))
    return "".join(parts)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_shows_every_bf_plot_figure(path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("BAYESFACTOR_FAST", "1")
    # The kernel picks its own backend (matplotlib-inline), as in Jupyter.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    # The kernel imports the bayesfactor under test, not another installed copy.
    package_root = str(pathlib.Path(bf.__file__).resolve().parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([package_root, *filter(None, [os.getenv("PYTHONPATH")])])
    )
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()  # raises CellExecutionError on any error in a cell
    code = [c for c in nb.cells if c.cell_type == "code"]
    plot_cells = [c for c in code if PLOT_CALL.search(c.source)]
    shown = {i: _images(c) for i, c in enumerate(plot_cells)}
    missing = [plot_cells[i].source.splitlines()[0] for i, n in shown.items() if n == 0]
    assert not missing, f"{path.name}: bf.plot cells without an image: {missing}"
    # No figure anywhere printed as text instead of drawn, and none drawn twice in a cell.
    undrawn = [c.source.splitlines()[0] for c in code if FIGURE_TEXT.search(_texts(c))]
    assert not undrawn, f"{path.name}: figures printed as text: {undrawn}"
    for cell in code:
        pngs = [o["data"]["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(set(pngs)) == len(pngs), f"{path.name}: shown twice: {cell.source[:60]!r}"
