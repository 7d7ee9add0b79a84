"""Alias kept for scripts and docs: `python -m core.train` is `steelscan train`."""

if __name__ == "__main__":
    from core.cli.main import run_alias

    run_alias("train")
