"""Notebooks (jupytext percent scripts) run end to end at their small CI size."""

import os
import pathlib
import runpy
import warnings

import pytest

import bayesfactor as bf

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("BAYESFACTOR_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bf.ConvergenceWarning)
        runpy.run_path(str(path), run_name="__main__")
    assert os.environ["BAYESFACTOR_FAST"] == "1"
