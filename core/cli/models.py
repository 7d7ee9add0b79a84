"""Export and quantise a model set for fast CPU inference.

    steelscan models export SET [--format onnx openvino]
    steelscan models quantize SET --calibration DATA [--validation DATA] [--samples 64] [--report-split holdout]

`export` writes the fp32 ONNX and OpenVINO graphs into SET/exports/ with their sha256 in the card.
`quantize` calibrates INT8 (NNCF) on the set's own training images in DATA (the split its card
records) and writes it only if it passes the accuracy gate against fp32 on the validation images;
otherwise it says what failed and the set keeps running fp32 (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from core.contract.errors import SteelScanError
from core.contract.settings import BATCH_SIZE_HELP, batch_size_arg, load_settings


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def export(args: argparse.Namespace, folder: Path) -> int:
    from core.modelsets.export import export_model_set

    start = time.perf_counter()
    card = export_model_set(folder, tuple(args.format))
    for key, entry in card.exports.items():
        size = sum((folder / name).stat().st_size for name in entry["files"]) / 1e6
        print(f"{key}: {', '.join(entry['files'])} ({size:.1f} MB)")
    _log(f"exported {card.name} in {time.perf_counter() - start:.0f} s; hashes are in {folder / 'card.json'}")
    return 0


def quantize(args: argparse.Namespace, folder: Path) -> int:
    from core.modelsets.quantize import GATE, quantize_model_set

    result = quantize_model_set(folder, args.calibration, args.validation, args.samples, tuple(args.report_split),
                                args.batch_size, log=_log)
    report = {"written": result.written, "gate": result.gate, "limits": GATE, "failures": result.failures,
              "reports": result.reports, "calibration": result.calibration}
    print(json.dumps(report, indent=2))
    if not result.written:
        _log(f"INT8 refused, fp32 kept: {'; '.join(result.failures)}")
        return 1
    _log(f"INT8 written to {folder / 'exports' / 'openvino-int8'}: it passed the gate")
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="steelscan models", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_export = commands.add_parser("export", help="write fp32 ONNX and OpenVINO graphs into the set's folder")
    p_export.add_argument("set", help="name under models/ or a folder")
    p_export.add_argument("--format", nargs="+", default=["onnx", "openvino"], choices=["onnx", "openvino"])
    p_quant = commands.add_parser("quantize", help="INT8 (NNCF), written only if it passes the accuracy gate")
    p_quant.add_argument("set", help="name under models/ or a folder")
    p_quant.add_argument("--calibration", required=True, type=Path,
                         help="the set's training data (its card's split picks the training images)")
    p_quant.add_argument("--validation", type=Path, help="data for the gate (default: the validation split of "
                                                          "--calibration)")
    p_quant.add_argument("--samples", type=int, default=64, help="calibration images (evenly spaced)")
    p_quant.add_argument("--report-split", nargs="*", default=[], choices=["holdout", "train"],
                         help="also report INT8 vs fp32 on these splits (not gated)")
    p_quant.add_argument("--batch-size", type=batch_size_arg, default=settings.batch_size, help=BATCH_SIZE_HELP)
    args = parser.parse_args(argv)
    from core.cli.predict import resolve_model_set

    try:
        folder = resolve_model_set(args.set, settings.models_dir)
        return export(args, folder) if args.command == "export" else quantize(args, folder)
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
