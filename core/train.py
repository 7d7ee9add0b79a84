"""Alias kept for scripts and docs: `python -m core.train` is `steelscan train`."""

from core.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
