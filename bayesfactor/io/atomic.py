"""Atomic writes: a temporary file in the target folder, renamed over the target.

An interrupted write (an exception, Ctrl-C, SIGTERM) leaves any old file intact and no
partial file behind; the temporaries of a killed write are removed by the next one.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["atomic_write", "STALE_S"]

#: A temporary file of a save left this long untouched is stale (its save was killed).
STALE_S = 600.0


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file onto ``path``.

    The temporary file lives in ``path``'s folder (so the rename is atomic on one
    file system) and is removed if ``write`` fails or the process is interrupted
    (Ctrl-C; SIGTERM, handled while the write runs in the main thread): ``path`` is
    either the old file or the complete new one, never a partial file. Temporaries
    of an earlier save to ``path`` that was killed (SIGKILL) and left them untouched
    for :data:`STALE_S` seconds are removed first. A symlink ``path`` is followed;
    the file gets the existing file's permissions, or those of the umask.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot save to {str(path)!r}: the folder {str(path.parent)!r} does not exist."
        )
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {str(path)!r}: it is a folder; name a file.")
    prefix = f".{path.name}."
    for stale in path.parent.glob(f"{prefix}*.tmp"):
        try:
            if time.time() - stale.stat().st_mtime > STALE_S:
                stale.unlink()
        except OSError:
            pass  # removed by another process, or not ours to remove
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    os.close(fd)
    with _terminate_as_exception() as terminate:
        try:
            write(tmp)
            terminate.check()  # SIGTERM during the write: no rename
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _Terminated(SystemExit):
    """SIGTERM during a save, raised so that the temporary file is removed."""


class _terminate_as_exception:
    """While active (main thread only), SIGTERM raises :class:`_Terminated` (exit 143).

    The signal is also recorded: an exception raised where Python ignores it (in a
    finalizer that a library's write happens to run) is raised again on exit, before
    a temporary file could be renamed into place.
    """

    def __enter__(self):
        self.previous, self.signum = None, None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    def _raise(self, signum, frame):
        self.signum = signum
        raise _Terminated(128 + signum)

    def check(self) -> None:
        """Raise :class:`_Terminated` if SIGTERM arrived (even if it was swallowed)."""
        if self.signum is not None:
            raise _Terminated(128 + self.signum)

    def __exit__(self, kind, value, traceback):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        if kind is None:
            self.check()
        return False
