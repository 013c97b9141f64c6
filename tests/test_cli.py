"""The `bayesfactor` command line."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bayesfactor.cli import main


def test_demo_quick_writes_the_figure_and_factors(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--rank", "2", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "FitResult(" in stdout and "constant-rate" in stdout and str(out) in stdout
    assert (out / "factors.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    trial = pd.read_csv(out / "trial_factors.csv", index_col="trial")
    time_ = pd.read_csv(out / "time_factors.csv", index_col="time_ms")
    assert trial.shape == (50, 2) and time_.shape == (40, 2)
    assert trial.columns.tolist() == ["component_1", "component_2"]
    assert time_.index[[0, -1]].tolist() == [-1000, 950]
    assert (trial.to_numpy() >= 0).all() and (time_.to_numpy() >= 0).all()
    np.testing.assert_allclose(time_.max(), 1.0)  # time profiles scaled to a peak of 1


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["demo", "--bogus"], "--bogus"),
        (["demo", "--rank", "0"], "--rank"),
        (["demo", "--rank", "three"], "--rank"),
        (["fit"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(argv, word, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "error:" in err and word in err


def test_failure_is_one_line_unless_debug(tmp_path, capsys):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert main(["demo", "--quick", "--out", str(not_a_folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayesfactor: error:") and "Traceback" not in err
    with pytest.raises(FileExistsError):
        main(["demo", "--quick", "--debug", "--out", str(not_a_folder)])


def test_help(capsys):
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: bayesfactor demo") and "--quick" in out and "--rank R" in out


def test_python_dash_m(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bayesfactor", "demo", "--no-such-option"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "--no-such-option" in proc.stderr
