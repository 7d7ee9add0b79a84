"""Watch camera folders: inspect each new image once it is complete, once per content, and record its verdict.

A file is complete when its writer closed it or renamed it into place (inotify events), or, on shares where
events do not arrive (`polling=True`), when its size and modification time stay unchanged for `settle_s`.
Each content is inspected once, even across restarts: the review log is asked whether the image's SHA-256
already has a verdict. Memory is bounded: at most `max_backlog` files wait; past that new events are dropped
and the folders are scanned again once the backlog has halved, so nothing is lost.
"""

from __future__ import annotations

import collections
import fnmatch
import hashlib
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from core.contract.errors import SteelScanError
from core.line.heartbeat import Beat, write_beat
from core.review.active import ActiveEngine
from core.review.batch import inspect_and_record
from core.review.store import ReviewLog
from core.review.store.models import utc_now

DONE_MEMORY = 100_000  # paths remembered as handled (about 20 MB): a rescan skips them without reading them


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


@dataclass
class WatchOptions:
    folders: list[Path]
    patterns: list[str]
    batch_size: int = 8
    settle_s: float = 2.0  # unchanged this long = complete, for files whose writer sent no close/rename event
    tick_s: float = 0.2
    polling: bool = False  # stat-polling instead of inotify (network shares)
    max_backlog: int = 5000
    heartbeat_s: float = 5.0
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:watch")


@dataclass
class _Candidate:
    signature: tuple[int, int]  # size, mtime_ns
    changed_at: float
    complete: bool  # the writer closed or renamed it: no need to wait for it to settle
    landed_at: float


def check_folders(folders: list[Path]) -> list[Path]:
    if not folders:
        raise SteelScanError("watch", "no folder given and watch_folders is empty",
                             "name folders on the command line or set watch_folders in steelscan.toml")
    resolved = []
    for folder in folders:
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise SteelScanError(path, "is not a folder", "create it, or fix watch_folders / the command line")
        resolved.append(path)
    return resolved


class _Events(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def on_created(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.watcher.offer(Path(os.fsdecode(event.src_path)))

    on_modified = on_created

    def on_closed(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.watcher.offer(Path(os.fsdecode(event.src_path)), complete=True)

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory:  # a rename into place is atomic: the file is whole
            self.watcher.offer(Path(os.fsdecode(event.dest_path)), complete=True)


class Watcher:
    def __init__(self, options: WatchOptions, engine: ActiveEngine, log: ReviewLog, band: float) -> None:
        self.options = options
        self.options.folders = check_folders(options.folders)
        self.engine, self.log, self.band = engine, log, band
        self._patterns = [p.lower() for p in options.patterns]
        self._candidates: dict[Path, _Candidate] = {}
        self._failed: dict[Path, tuple[int, int]] = {}  # bad images, not retried until they change
        # Files handled in this run (path -> size, mtime), so a rescan after an overflow moves on past them.
        self._done: collections.OrderedDict[Path, tuple[int, int]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._overflow = False
        self._recent: collections.deque[float] = collections.deque(maxlen=10_000)
        self.beat = Beat(options.name, [str(f) for f in options.folders])
        self._last_beat = float("-inf")
        self._started = time.monotonic()
        self._observer = None

    # -- what arrives --------------------------------------------------------------------------------------

    def wanted(self, path: Path) -> bool:
        name = path.name.lower()
        return not name.startswith(".") and any(fnmatch.fnmatch(name, p) for p in self._patterns)

    def offer(self, path: Path, complete: bool = False) -> None:
        if not self.wanted(path):
            return
        now = time.monotonic()
        with self._lock:
            known = self._candidates.get(path)
            if known is not None:
                known.complete = known.complete or complete
                return
            if len(self._candidates) >= self.options.max_backlog:
                self._overflow = True  # dropped for now; the rescan below finds it again
                return
            self._candidates[path] = _Candidate((-1, -1), now, complete, now)

    def scan(self) -> None:
        """Offer every matching file already in the folders (at start, and after an overflow), but those this
        run has handled and that have not changed since."""
        for folder in self.options.folders:
            for root, _dirs, files in os.walk(folder):
                for name in files:
                    path = Path(root) / name
                    if not self.wanted(path) or self._done.get(path) == _signature(path):
                        continue
                    self.offer(path)
                    if self._overflow:
                        return

    # -- the loop ------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._observer = PollingObserver(timeout=1.0) if self.options.polling else Observer()
        for folder in self.options.folders:
            self._observer.schedule(_Events(self), str(folder), recursive=True)
        self._observer.start()
        self.scan()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None
        self.heartbeat(force=True)

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            while not stop.is_set():
                if not self.step():
                    stop.wait(self.options.tick_s)
        finally:
            self.stop()

    def step(self) -> int:
        """Inspect one batch of complete files; returns how many files it took off the backlog."""
        if self._overflow and len(self._candidates) < self.options.max_backlog // 2:
            self._overflow = False
            self.scan()
        ready = self._ready()
        if ready:
            self._inspect(ready)
        self.heartbeat()
        return len(ready)

    def _ready(self) -> list[Path]:
        now = time.monotonic()
        ready: list[Path] = []
        with self._lock:
            items = list(self._candidates.items())
        for path, candidate in items:
            try:
                stat = path.stat()
            except OSError:  # renamed away or deleted before we got to it
                self._forget(path)
                continue
            signature = (stat.st_size, stat.st_mtime_ns)
            if signature != candidate.signature:
                candidate.signature, candidate.changed_at = signature, now
                if not candidate.complete:
                    continue
            if self._failed.get(path) == signature:
                self._forget(path)
                continue
            settled = now - candidate.changed_at >= self.options.settle_s
            if stat.st_size > 0 and (candidate.complete or settled):
                ready.append(path)
                if len(ready) >= self.options.batch_size:
                    break
        return ready

    def _forget(self, path: Path) -> None:
        with self._lock:
            self._candidates.pop(path, None)

    def _inspect(self, paths: list[Path]) -> None:
        sources, signatures, seen = [], {}, set()
        for path in paths:
            self._forget(path)
            try:
                stat = path.stat()
                data = path.read_bytes()
            except OSError as exc:
                self._error(path, f"{path}: could not be read ({exc.strerror})")
                continue
            sha = hashlib.sha256(data).hexdigest()
            signatures[str(path)] = (path, (stat.st_size, stat.st_mtime_ns))
            self._remember(path, (stat.st_size, stat.st_mtime_ns))
            if sha not in seen:
                seen.add(sha)
                sources.append((sha, data, str(path)))
        known = self.log.inspected_shas(sha for sha, _, _ in sources)
        self.beat.skipped += len(paths) - len(sources) + len(known)
        todo = [(data, name) for sha, data, name in sources if sha not in known]
        if not todo:
            return
        inspector = self.engine.current()
        for item in inspect_and_record(inspector, self.log, todo, self.band, origin="watch"):
            if item.error:
                path, signature = signatures[item.name]
                self._failed[path] = signature
                self._error(path, item.error)
                continue
            self.beat.inspected += 1
            self.beat.last_image, self.beat.last_image_at = item.name, utc_now()
            self._recent.append(time.monotonic())

    def _remember(self, path: Path, signature: tuple[int, int]) -> None:
        self._done[path] = signature
        self._done.move_to_end(path)
        if len(self._done) > DONE_MEMORY:
            self._done.popitem(last=False)

    def _error(self, path: Path, message: str) -> None:
        self.beat.errors += 1
        self.beat.last_error = message
        print(f"error: {message}", file=sys.stderr, flush=True)
        if len(self._failed) > self.options.max_backlog:  # bounded: forget the oldest failures
            self._failed.pop(next(iter(self._failed)))

    def heartbeat(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_beat < self.options.heartbeat_s:
            return
        self._last_beat = now
        while self._recent and now - self._recent[0] > 60:
            self._recent.popleft()
        self.beat.rate_per_s = len(self._recent) / max(1.0, min(60.0, now - self._started))
        self.beat.backlog = len(self._candidates)
        write_beat(self.log, self.beat)

    @property
    def backlog(self) -> int:
        return len(self._candidates)
