"""Alias kept for scripts and docs: `python -m core.loadtest` is `steelscan loadtest`."""

from core.cli.loadtest import main

if __name__ == "__main__":
    raise SystemExit(main())
