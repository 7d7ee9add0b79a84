"""`steelscan`: one command, a subcommand per job, `--help` on each.

Each subcommand's module is imported only when it runs, so `steelscan users list` never loads torch.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module with main(argv), one line for the overview)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "predict": ("core.cli.predict", "inspect image files and folders; one line (or JSON) per image"),
    "train": ("core.cli.train", "train a model set on a labelled dataset or synthetic strips"),
    "evaluate": ("core.cli.evaluate", "measure a model set on labelled images; JSON + HTML report"),
    "export": ("core.cli.export", "write the reviewed sheets as a Severstal training folder"),
    "users": ("core.cli.users", "add, reset, disable and list dashboard accounts"),
    "synthetic": ("core.cli.synthetic", "write synthetic strips with exact masks"),
    "loadtest": ("core.cli.loadtest", "many reviewers deciding at once against one review log"),
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
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return module.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
