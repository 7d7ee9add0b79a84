"""Alias kept for scripts and docs: `python -m core.synthetic` is `steelscan synthetic`."""

if __name__ == "__main__":
    from core.cli.main import run_alias

    run_alias("synthetic")
