"""Inspect images from the command line.

    python -m core.predict PATH... [--model-set NAME] [--device auto|cpu|cuda|mps] [--backend auto|torch|onnx|openvino]
                           [--json] [--overlay-dir DIR]

Files and folders (searched recursively for JPEG/PNG/BMP/TIFF). One line per image on stdout,
bad files on stderr; exits 1 only when nothing could be inspected (2 for a usage error).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from core.contract.errors import ImageError, SteelScanError
from core.contract.settings import BATCH_SIZE_HELP, batch_size_arg, load_settings
from core.engine.inference import Inspector
from core.imaging.imageio import is_image_path, save_image
from core.imaging.render import render_verdict
from core.modelsets.modelset import list_model_sets


def expand_paths(paths: list[Path]) -> Iterator[Path]:
    """Folders expand to their image files (sorted); named files pass as they are, so a bad one
    gets its own error rather than being skipped."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and is_image_path(p))
        else:
            yield path


def resolve_model_set(name_or_path: str, models_dir: Path) -> Path:
    candidate = Path(name_or_path)
    if candidate.is_dir():
        return candidate
    folder = models_dir / name_or_path
    if not folder.is_dir():
        installed = ", ".join(list_model_sets(models_dir)) or "none"
        raise SteelScanError(folder, "no such model set", f"installed in {models_dir}: {installed}")
    return folder


def format_line(verdict) -> str:
    classes = ",".join(verdict.classes_present) or "-"
    note = "" if verdict.model_trained else "  [untrained model set]"
    return (
        f"{verdict.image_name}\t{verdict.label}\t{classes}\ttop={verdict.top_class}:{verdict.top_probability:.3f}{note}"
    )


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="steelscan predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="image files or folders")
    parser.add_argument("--model-set", default=settings.model_set, help="name under models/ or a folder")
    parser.add_argument("--device", default=settings.device, choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--precision", default=settings.precision, choices=["auto", "fp32"],
                        help="auto: fp16 on CUDA, bf16 on CPUs with AMX; fp32: full precision")
    parser.add_argument("--backend", default=settings.backend, choices=["auto", "torch", "onnx", "openvino"],
                        help="auto: torch on a GPU; on a CPU the set's OpenVINO (INT8 if it passed the gate) or "
                             "ONNX export, else torch")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--overlay-dir", type=Path, help="write <image>.overlay.png pictures here")
    parser.add_argument("--batch-size", type=batch_size_arg, default=settings.batch_size, help=BATCH_SIZE_HELP)
    parser.add_argument("--list", action="store_true", help="list installed model sets and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(list_model_sets(settings.models_dir)) or f"no model sets in {settings.models_dir}")
        return 0
    if not args.paths:
        parser.error("give at least one image file or folder")
    try:
        inspector = Inspector.load(
            resolve_model_set(args.model_set, settings.models_dir),
            args.device,
            batch_size=args.batch_size,
            max_pixels=settings.max_pixels,
            precision=args.precision,
            backend=args.backend,
        )
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    colors = [c.color for c in inspector.card.classes]
    inspected = failed = 0
    for result in inspector.inspect_many(expand_paths(args.paths)):
        if isinstance(result, ImageError):
            failed += 1
            print(f"error: {result}", file=sys.stderr)
            continue
        inspected += 1
        print(json.dumps(result.summary()) if args.json else format_line(result), flush=True)
        if args.overlay_dir:
            # The picture is drawn from the file again: the Verdict holds results, not pixels.
            from core.imaging.imageio import load_image

            pixels = load_image(result.image_name, max_pixels=settings.max_pixels).pixels
            save_image(
                render_verdict(pixels, result, colors), args.overlay_dir / f"{Path(result.image_name).name}.overlay.png"
            )
    print(f"{inspected} inspected, {failed} rejected", file=sys.stderr)
    return 0 if inspected else 1


if __name__ == "__main__":
    raise SystemExit(main())
