"""The ``bayesfactor`` command line: ``demo``, ``fit`` and ``cv``.

Errors are reported as one line on stderr with exit status 2 (``--debug`` shows
the traceback instead); ``main`` returns the exit status rather than exiting.

The parser (:mod:`~bayesfactor.cli.parser`, over the argument types of
:mod:`~bayesfactor.cli.arguments`) loads no JAX; the commands
(:mod:`~bayesfactor.cli.commands`, :mod:`~bayesfactor.cli.demo`) import it when they run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bayesfactor.cli.parser import _parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bayesfactor`` command line with ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments, without the program name.

    Returns
    -------
    int
        The exit status: 0 on success, 2 on a usage error or a failure.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already reported)
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("bayesfactor: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"bayesfactor: error: {message} (--debug shows the traceback)", file=sys.stderr)
        return 2
