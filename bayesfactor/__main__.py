"""``python -m bayesfactor``: the same as the ``bayesfactor`` command."""

from bayesfactor.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
