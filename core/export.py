"""Alias kept for scripts and docs: `python -m core.export` is `steelscan export`."""

from core.cli.export import main

if __name__ == "__main__":
    raise SystemExit(main())
