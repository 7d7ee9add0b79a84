"""Alias kept for scripts and docs: `python -m core.evaluate` is `steelscan evaluate`."""

if __name__ == "__main__":
    from core.cli.main import run_alias

    run_alias("evaluate")
