"""Compilation caches: JAX's persistent cache on disk (per-user folder), and in memory.

A new Python process traces and compiles every program it runs. The persistent cache
keeps XLA's compiled programs on disk, so a second process running the same fits
skips XLA's compilation (measured in ``benchmarks/first_call.py``). bayesfactor turns
it on when its modules load, like JAX's x64 switch (``_precision``):

- folder: ``$BAYESFACTOR_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/bayesfactor/jax``
  (``~/.cache/bayesfactor/jax``; ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on
  Windows), created private to the user (0700);
- off: ``BAYESFACTOR_CACHE_DIR=off`` (or ``0``, ``false``, ``no``, or empty);
- kept as they are: a cache folder the user gave JAX (``jax.config`` or
  ``JAX_COMPILATION_CACHE_DIR``), and JAX's own size and time thresholds when set by
  their environment variables;
- bounded: at most :data:`MAX_BYTES` on disk (JAX evicts the least recently used
  entries beyond it);
- never fatal: a folder that cannot be created leaves the cache off.

JAX's cache is process-wide: it also caches the user's own JAX programs there.

In memory, every new data shape compiles new programs, which JAX keeps for the
process (about 10 MB per shape for a small NMF; 30 shapes: 195 -> 635 MB resident).
:func:`clear_caches` drops them and hands the freed memory back to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys
from pathlib import Path

import jax

__all__ = ["CACHE_DIR", "ENV", "MAX_BYTES", "cache_dir", "clear_caches", "enable_cache"]

#: Environment variable naming the cache folder, or ``off``.
ENV = "BAYESFACTOR_CACHE_DIR"

#: Disk bound of the cache folder (bytes); least recently used entries go beyond it.
MAX_BYTES = 2**30

_OFF = ("", "0", "off", "false", "no")


def cache_dir(environ: dict | None = None) -> Path | None:
    """The folder the cache uses under ``environ`` (default ``os.environ``); None when off.

    Examples
    --------
    >>> str(cache_dir({"XDG_CACHE_HOME": "/tmp/c"}))
    '/tmp/c/bayesfactor/jax'
    >>> cache_dir({"BAYESFACTOR_CACHE_DIR": "off"}) is None
    True
    """
    env = os.environ if environ is None else environ
    if ENV in env:
        value = env[ENV].strip()
        return None if value.lower() in _OFF else Path(value).expanduser()
    if sys.platform == "win32" and env.get("LOCALAPPDATA"):
        base = Path(env["LOCALAPPDATA"])
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "bayesfactor" / "jax"


def enable_cache() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir`; the folder or None."""
    if jax.config.jax_compilation_cache_dir or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return None  # the user's own choice
    folder = cache_dir()
    if folder is None:
        return None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    settings = {  # bayesfactor's programs compile in well under JAX's default 1 s
        "jax_persistent_cache_min_compile_time_secs": 0.05,
        "jax_compilation_cache_max_size": MAX_BYTES,
    }
    for name, value in settings.items():
        if name.upper() not in os.environ and hasattr(jax.config, name):  # (older JAX)
            jax.config.update(name, value)
    return folder


def clear_caches() -> None:
    """Drop the compiled programs held in memory and return the memory to the system.

    A long session that fits many data shapes (one compilation each) grows by about
    10 MB per shape; ``jax.clear_caches()`` alone frees the programs but the C
    allocator keeps the pages (30 shapes: 635 -> 618 MB resident). This calls it, then
    collects and asks glibc to trim its heap (``malloc_trim``; 618 -> 309 MB measured).
    The next fit of each shape compiles again (from the disk cache when it is on).

    Examples
    --------
    >>> import bayesfactor as bf
    >>> bf.clear_caches()
    """
    jax.clear_caches()
    gc.collect()
    libc = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    if libc:
        try:
            ctypes.CDLL(libc).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to trim
            pass


CACHE_DIR = enable_cache()  # on import (_data and _pytree import it, as _precision)
