"""Alias kept for scripts and docs: `python -m core.users` is `steelscan users`."""

from core.cli.users import main

if __name__ == "__main__":
    raise SystemExit(main())
