"""Ctrl-C stops a fit within about a second: the loop runs in bounded compiled chunks."""

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import bayesfactor as bf
from bayesfactor.solvers import Status, program

# A fit that would run for minutes: tol=0 runs max_iter (after a first fit that compiled
# the same programs and stopped at once, so the signal arrives during the loop).
LONG_FIT = textwrap.dedent(
    """
    import warnings, numpy as np, bayesfactor as bf
    warnings.simplefilter("ignore")
    x = np.random.default_rng(0).normal(size=(120, 100, 60))
    model = bf.Model(bf.Gaussian(), 8, bf.Flat())
    bf.fit(model, x, key=0, max_iter=100000, tol=1.0)
    print("fitting", flush=True)
    bf.fit(model, x, key=0, max_iter=100000, tol=0)
    print("finished", flush=True)
    """
)


def _interrupt(argv: list[str], ready: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``argv``, send SIGINT 1.5 s after it prints ``ready``; (result, seconds to exit)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == ready
        time.sleep(1.5)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), time.perf_counter() - sent


@pytest.mark.slow  # ~10 s: two processes import JAX and compile
def test_ctrl_c_stops_a_fit_within_a_second():
    result, seconds = _interrupt([sys.executable, "-c", LONG_FIT], "fitting")
    assert "KeyboardInterrupt" in result.stderr and "finished" not in result.stdout
    # Before chunking the compiled loop ran on for over a minute (74 s measured). Chunks
    # aim at 0.25 s each (CHUNK_SECONDS): stopped within 5 chunks, plus exiting.
    assert seconds < 5 * 0.25 + 2.0


def test_chunks_give_the_iterates_of_one_loop(monkeypatch):
    # Chunks of 1 iteration against one uninterrupted loop (the "whole" program).
    x = np.abs(np.random.default_rng(1).normal(size=(15, 9)))
    model = bf.Model(bf.Gaussian(), 3, bf.NonNegative())  # extrapolated: its carry too
    whole = bf.fit(model, x, key=2, restarts=3, max_iter=60, tol=1e-12)
    calls = []

    def one_at_a_time(fit, start, max_iter, flops):  # chunks of 1 iteration
        calls.append(None)
        state = fit(start, phase="start")
        for stop in range(1, max_iter + 1):
            calls.append(stop)
            state = fit(state, phase="advance", stop=stop)
            if not (np.asarray(state.status) == Status.RUNNING).any():
                break
        return state

    monkeypatch.setattr(program, "run_in_chunks", one_at_a_time)
    chunked = bf.fit(model, x, key=2, restarts=3, max_iter=60, tol=1e-12)
    # One start call, then one chunk per iteration until the longest restart stopped
    # (the kept restart may have stopped earlier; the others can run to max_iter).
    assert calls[:4] == [None, 1, 2, 3] and calls[1:] == list(range(1, len(calls)))
    assert chunked.n_iter < len(calls) <= 60 + 1
    assert chunked.n_iter == whole.n_iter
    for a, b in zip(chunked.factors, whole.factors, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(chunked.history, whole.history)


def test_cli_ctrl_c_exits_130_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from bayesfactor import cli

    data = tmp_path / "x.npy"
    np.save(data, np.ones((6, 5)))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # what SIGINT raises between two chunks

    monkeypatch.setattr(bf, "fit", interrupted)
    out = tmp_path / "fit.nc"
    assert cli.main(["fit", str(data), "--rank", "2", "--out", str(out)]) == 130
    assert capsys.readouterr().err.strip().endswith("bayesfactor: interrupted")
    assert not out.exists() and list(tmp_path.iterdir()) == [data]
