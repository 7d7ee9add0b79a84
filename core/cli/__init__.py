"""Command-line entry points: `steelscan SUBCOMMAND` (core.cli.main) and the `python -m core.X` aliases."""
