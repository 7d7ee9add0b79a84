"""Alias kept for scripts and docs: `python -m core.predict` is `steelscan predict`."""

from core.cli.predict import main

if __name__ == "__main__":
    raise SystemExit(main())
