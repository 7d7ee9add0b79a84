"""Alias kept for scripts and docs: `python -m core.evaluate` is `steelscan evaluate`."""

from core.cli.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
