"""The persistent compilation cache: a second process reuses the first one's programs."""

import os
import stat
import subprocess
import sys

import pytest

from bayesfactor._cache import cache_dir

# Counts JAX's cache events (its public monitoring hook) around one small fit.
FIT = (
    "import collections, jax;"
    "events = collections.Counter();"
    "jax.monitoring.register_event_listener(lambda name, **kw: events.update([name]));"
    "import numpy as np, bayesfactor as bf;"
    "bf.fit(bf.Model(bf.Gaussian(), 2, bf.NonNegative()), np.ones((6, 5)), key=0);"
    "print(events['/jax/compilation_cache/cache_hits'],"
    " events['/jax/compilation_cache/cache_misses'], jax.config.jax_compilation_cache_dir)"
)


def _fit(tmp_path, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BAYESFACTOR_", "JAX_"))}
    base |= {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")} | env
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", FIT],
        env=base,
        capture_output=True,
        text=True,
        check=True,
    )
    hits, misses, folder = out.stdout.split()
    return int(hits), int(misses), folder


def test_cache_folder_follows_the_environment(tmp_path):
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "bayesfactor" / "jax"
    assert cache_dir({"BAYESFACTOR_CACHE_DIR": str(tmp_path / "c")}) == tmp_path / "c"
    for off in ("off", "0", "", " False "):
        assert cache_dir({"BAYESFACTOR_CACHE_DIR": off, "XDG_CACHE_HOME": "/x"}) is None


@pytest.mark.slow  # four fresh processes import JAX
def test_a_second_process_reads_the_programs_of_the_first(tmp_path):
    folder = tmp_path / "xdg" / "bayesfactor" / "jax"
    hits, misses, used = _fit(tmp_path)
    assert (hits, used) == (0, str(folder)) and misses > 0
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # private to the user
    entries = sorted(p.name for p in folder.iterdir())
    assert entries
    hits, again, _ = _fit(tmp_path)
    assert (hits, again) == (misses, 0)  # every program came from the cache
    assert sorted(p.name for p in folder.iterdir()) == entries

    # Off: nothing written; a folder the user gave JAX is JAX's, not ours.
    hits, _, used = _fit(tmp_path / "off", BAYESFACTOR_CACHE_DIR="off")
    assert (hits, used) == (0, "None") and not (tmp_path / "off" / "xdg").exists()
    own = tmp_path / "own"
    _, _, used = _fit(tmp_path / "o", JAX_COMPILATION_CACHE_DIR=str(own))
    assert used == str(own) and not (tmp_path / "o" / "xdg").exists()


GROW = (
    "import warnings, numpy as np, bayesfactor as bf;"
    "warnings.simplefilter('ignore');"
    "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * 4096;"
    "model = bf.Model(bf.Gaussian(), 3, bf.NonNegative());"
    "fits = lambda n: [bf.fit(model, np.ones((40 + i, 30)), max_iter=5) for i in range(n)];"
    "fits(1); start = rss(); fits(12); grown = rss();"
    "bf.clear_caches(); print(start, grown, rss())"
)


@pytest.mark.slow  # compiles 12 shapes in a fresh process
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and glibc")
def test_clear_caches_returns_the_memory_of_compiled_shapes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    out = subprocess.run(
        [sys.executable, "-c", GROW],
        env=env | {"BAYESFACTOR_CACHE_DIR": "off"},
        capture_output=True,
        text=True,
        check=True,
    )
    start, grown, cleared = map(int, out.stdout.split())
    assert grown - start > 30 * 2**20  # the growth this is about (~10 MB per shape)
    assert cleared - start < (grown - start) / 2
