"""Alias kept for scripts and docs: `python -m core.synthetic` is `steelscan synthetic`."""

from core.cli.synthetic import main

if __name__ == "__main__":
    raise SystemExit(main())
