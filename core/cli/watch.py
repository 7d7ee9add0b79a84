"""Watch camera folders and record a verdict for each new image as it lands; the review queue fills itself.

    steelscan watch [FOLDER ...] [--pattern '*.jpg' ...] [--batch-size 8] [--polling] [--settle 2]

With no folder, the folders of the watch_folders setting. Each image is inspected once per content (even
across restarts) with the dashboard's active model set; a heartbeat (last image, rate, backlog, errors) is
shown on the Review queue page. Stops cleanly on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from core.contract.errors import SteelScanError
from core.contract.settings import BATCH_SIZE_HELP, batch_size_arg, load_settings


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="steelscan watch", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, help="default: the watch_folders setting")
    parser.add_argument("--pattern", action="append", help=f"file name pattern (default {settings.watch_patterns})")
    parser.add_argument("--batch-size", type=batch_size_arg, default=settings.batch_size, help=BATCH_SIZE_HELP)
    parser.add_argument("--polling", action="store_true", help="poll file sizes (network shares without events)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds a file's size must stay unchanged when no close/rename event says it is done")
    parser.add_argument("--max-backlog", type=int, default=5000)
    parser.add_argument("--model-set", help="default: the dashboard's active model set")
    parser.add_argument("--name", help="heartbeat name (default HOST:watch)")
    args = parser.parse_args(argv)

    from core.line.watcher import Watcher, WatchOptions
    from core.review.active import ActiveEngine
    from core.review.batch import confine
    from core.review.store import ReviewLog

    try:  # the same allow-list as the dashboard's Folder mode: nothing outside image_roots is read
        folders = [confine(folder, settings.image_roots)[1] for folder in args.folders or settings.watch_folders]
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not folders:
        print("error: no folder to watch — name folders, or set watch_folders (under image_roots)", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        log = ReviewLog.from_settings(settings)
        engine = ActiveEngine(log, settings.model_copy(update={"batch_size": args.batch_size}),
                              model_set=args.model_set)
        inspector = engine.current()  # a broken model set stops here, with its one-line reason
        # A step takes at least one engine batch of files off the backlog; each verdict is recorded as it
        # comes, so a step of 8 on a CPU (engine batch 1) delays none of them and checks the backlog less often.
        options = WatchOptions(folders, args.pattern or settings.watch_patterns,
                               batch_size=max(8, inspector.batch_size), settle_s=args.settle, polling=args.polling,
                               max_backlog=args.max_backlog, roots=list(settings.image_roots),
                               max_bytes=settings.max_upload_bytes, coil_pattern=settings.coil_pattern)
        if args.name:
            options.name = args.name
        watcher = Watcher(options, engine, log, settings.uncertainty_band)
        print(f"watching {', '.join(map(str, options.folders))} for {' '.join(options.patterns)} "
              f"({'polling' if options.polling else 'events'}); Ctrl-C stops", file=sys.stderr, flush=True)
        watcher.run(stop)
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    beat = watcher.beat
    print(f"{beat.inspected} inspected, {beat.skipped} already known, {beat.errors} errors", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
