"""`steelscan`: one command, a subcommand per job, `--help` on each.

Each subcommand's module is imported only when it runs, so `steelscan users list` never loads torch.
"""

from __future__ import annotations

import importlib
import sys

from core.contract.errors import SteelScanError

# name -> (module with main(argv), one line for the overview)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "predict": ("core.cli.predict", "inspect image files and folders; one line (or JSON) per image"),
    "train": ("core.cli.train", "train a model set on a labelled dataset or synthetic strips"),
    "pretrain": ("core.cli.pretrain", "pre-train the steel backbone whole-image training starts from"),
    "evaluate": ("core.cli.evaluate", "measure a model set on labelled images; JSON + HTML report"),
    "fit-domain": ("core.cli.fit_domain", "record a model set's training domain (out-of-distribution score)"),
    "data": ("core.cli.data", "describe a dataset folder: images per split and class, sizes, problems"),
    "export": ("core.cli.export", "write the reviewed sheets as a Severstal training folder"),
    "users": ("core.cli.users", "add, reset, disable, unlock and list dashboard accounts"),
    "db": ("core.cli.db", "the review log's database: upgrade its schema, back up, restore, prune"),
    "synthetic": ("core.cli.synthetic", "write synthetic strips with exact masks"),
    "loadtest": ("core.cli.loadtest", "many reviewers deciding at once against one review log"),
    "watch": ("core.cli.watch", "inspect each new image landing in camera folders and record its verdict"),
    "api": ("core.cli.api", "serve the HTTP API for line systems (FastAPI + uvicorn)"),
    "deliver": ("core.cli.deliver", "send verdicts and decisions to MQTT, a signed webhook and OPC UA; nothing lost"),
    "keys": ("core.cli.keys", "add, revoke and list API keys (scopes score, record, read)"),
    "batch-score": ("core.cli.batch_score", "score a folder into a Parquet file, on Ray or in one process"),
    "replay": ("core.cli.replay", "replay a labelled dataset as the line: review, train, gate; a learning curve"),
    "models": ("core.cli.models", "export a model set to ONNX / OpenVINO, quantise it to INT8 behind an accuracy gate"),
}


def overview() -> str:
    width = max(map(len, SUBCOMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {summary}" for name, (_, summary) in SUBCOMMANDS.items())
    return (f"usage: steelscan SUBCOMMAND [options]\n\nSteelScan: steel strip defect inspection.\n\n"
            f"subcommands:\n{rows}\n\n`steelscan SUBCOMMAND --help` shows each one's options.")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(overview())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"steelscan: unknown subcommand {name!r}; valid: {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(SUBCOMMANDS[name][0])
        return module.main(rest)
    except SteelScanError as exc:  # e.g. a wrong setting read before the subcommand's own handling starts
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run_alias(name: str) -> None:
    """`python -m core.NAME ARGS` behaves exactly as `steelscan NAME ARGS`."""
    raise SystemExit(main([name, *sys.argv[1:]]))


if __name__ == "__main__":
    raise SystemExit(main())
