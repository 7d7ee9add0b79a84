"""Score a folder of images into one Parquet file: one row per image (verdict, classes, probabilities, RLE masks,
errors), on Ray (local by default, or a cluster by --address) or in this process.

    steelscan batch-score FOLDER --out verdicts.parquet [--engine ray|local] [--workers 2] [--address ADDR]
                          [--record]

--record also records every verdict in the review log (flagged sheets then wait in the review queue).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.contract.errors import SteelScanError
from core.contract.settings import BATCH_SIZE_HELP, batch_size_arg, load_settings


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="steelscan batch-score", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the Parquet file to write")
    parser.add_argument("--engine", choices=["ray", "local"], default="ray")
    parser.add_argument("--address", help="an existing Ray cluster (default: a local Ray instance)")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors, one CPU each")
    parser.add_argument("--model-set", default=settings.model_set, help="name under models/ or a folder")
    parser.add_argument("--batch-size", type=batch_size_arg, default=settings.batch_size, help=BATCH_SIZE_HELP)
    parser.add_argument("--record", action="store_true", help="also record the verdicts in the review log")
    args = parser.parse_args(argv)

    from core.batchscore.engines import score_local, score_ray
    from core.batchscore.rows import record_rows
    from core.cli.predict import expand_paths, resolve_model_set

    try:
        model_set = resolve_model_set(args.model_set, settings.models_dir)
        # The operator names the folder on the server's shell, as for `steelscan predict` (the same walk);
        # image_roots confine what browser users may pick, not the shell.
        paths = [str(p) for p in expand_paths([args.folder])]
        if not paths:
            raise SteelScanError(args.folder, "holds no JPEG/PNG/BMP/TIFF image", "give a folder of images")
        start = time.perf_counter()
        from core.modelsets.devices import pick_batch_size, pick_device

        # Ray cuts the folder into blocks of one batch each, so "auto" becomes a number here.
        batch_size = pick_batch_size(args.batch_size, pick_device(settings.device))
        common = dict(device=settings.device, batch_size=batch_size, max_pixels=settings.max_pixels,
                      precision=settings.precision)
        if args.engine == "ray":
            frame = score_ray(model_set, paths, workers=args.workers, address=args.address, **common)
        else:
            frame = score_local(model_set, paths, **common)
        elapsed = time.perf_counter() - start
        if args.record:
            from core.review.store import ReviewLog

            frame["inference_id"] = record_rows(ReviewLog.from_settings(settings), frame)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(args.out, index=False)
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failed = int((frame["error"] != "").sum())
    for error in frame.loc[frame["error"] != "", "error"]:
        print(f"error: {error}", file=sys.stderr)
    print(f"{len(frame) - failed} scored, {failed} rejected in {elapsed:.1f} s "
          f"({len(frame) / elapsed:.2f} images/s, engine {args.engine}) -> {args.out}", file=sys.stderr)
    return 0 if failed < len(frame) else 1


if __name__ == "__main__":
    raise SystemExit(main())
