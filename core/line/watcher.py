"""Watch camera folders: inspect each new image once it is complete, once per content, and record its verdict.

A file is complete when its writer closed it or renamed it into place (inotify events), or, on shares where
events do not arrive (`polling=True`), when its size and modification time stay unchanged for `settle_s`.
Each content is inspected once, even across restarts: the review log is asked whether the image's SHA-256
already has a verdict. Memory is bounded: at most `max_backlog` files wait; past that new events are dropped
and the folders are scanned again once the backlog has halved, so nothing is lost.

Files are opened with O_NOFOLLOW and must lie inside `roots` (image_roots) once opened: a symlink, or a file
reached through a linked folder that leads outside, is refused and logged, never read. A file's size is checked
on the open descriptor before a byte is read. A database that is busy or full is logged and the files are tried
again later; the watcher keeps running.
"""

from __future__ import annotations

import collections
import fnmatch
import hashlib
import os
import socket
import stat as stat_kind
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from core.contract.coil import CoilError, CoilPattern, CoilPlace
from core.contract.errors import SteelScanError
from core.engine.slots import InferenceSlots
from core.line.heartbeat import Beat, write_beat
from core.review.active import ActiveEngine
from core.review.batch import inspect_and_record
from core.review.store import ReviewLog
from core.review.store.models import utc_now

DONE_MEMORY = 100_000  # paths remembered as handled (about 20 MB): a rescan skips them without reading them
RETRY_S = (2.0, 60.0)  # a file the database could not take is tried again after 2 s, doubling up to 60 s
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class Refused(SteelScanError):
    """A file the watcher will not read: a link, outside the image roots, not a regular file, or too big."""


def read_confined(path: Path, roots: list[Path], max_bytes: int) -> tuple[bytes, os.stat_result]:
    """The file's bytes and stat, read through one descriptor opened without following a final symlink, checked
    to lie inside `roots` (by the descriptor's own path on Linux, so a folder swapped for a link after the check
    cannot lead out) and to be at most `max_bytes` before anything is read."""
    try:
        fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        if os.path.islink(path):
            raise Refused(path, "is a symbolic link", "the watcher reads only regular files: have the camera "
                          "write the file itself into the watched folder") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        try:
            real = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # no /proc: resolve the name (the final component is no link: O_NOFOLLOW)
            real = path.resolve()
        if not any(real == root or real.is_relative_to(root) for root in roots):
            raise Refused(path, f"leads outside the image roots (to {real})",
                          "watch only folders under image_roots, without links that lead out")
        info = os.fstat(fd)
        if not stat_kind.S_ISREG(info.st_mode):
            raise Refused(path, "is not a regular file", "the watcher reads only regular image files")
        if info.st_size > max_bytes:
            raise Refused(path, f"is {info.st_size:,} bytes, over the {max_bytes:,} byte limit (max_upload_bytes)",
                          "crop or downscale it, or raise max_upload_bytes in settings")
        data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise Refused(path, "grew past the size limit while it was read", "write files whole, then rename")
    return data, info


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
    roots: list[Path] = field(default_factory=list)  # files must lie inside these (image_roots); empty: the folders
    max_bytes: int = 200 * 1024 * 1024  # larger files are refused before they are read (max_upload_bytes)
    coil_pattern: str = ""  # the coil id and position in a file's path below its folder (setting coil_pattern)


@dataclass
class _Candidate:
    signature: tuple[int, int]  # size, mtime_ns
    changed_at: float
    complete: bool  # the writer closed or renamed it: no need to wait for it to settle
    landed_at: float
    not_before: float = 0.0  # a retry after a database error waits until then


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
    def __init__(self, options: WatchOptions, engine: ActiveEngine, log: ReviewLog, band: float,
                 slots: InferenceSlots | None = None) -> None:
        """`slots`: an inference queue shared with other work in this process, where the watcher's sheets go
        first (None: its own process, nothing to share)."""
        self.options = options
        self.options.folders = check_folders(options.folders)
        self.slots = slots
        self._coils = CoilPattern(options.coil_pattern) if options.coil_pattern else None
        self._roots = [Path(r).expanduser().resolve() for r in options.roots] or list(self.options.folders)
        self._retry_s: dict[Path, float] = {}  # files the database could not take, and their next backoff
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
            backoff = RETRY_S[0]
            while not stop.is_set():
                try:
                    took = self.step()
                    backoff = RETRY_S[0]
                except (SQLAlchemyError, SteelScanError) as exc:  # the database, not a file: log, wait, go on
                    self._error(Path("review log"), f"the review log did not answer ({exc}); trying again in "
                                f"{backoff:g} s")
                    stop.wait(backoff)
                    backoff = min(RETRY_S[1], backoff * 2)
                    continue
                if not took:
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
            if candidate.not_before > now:
                continue
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
                data, stat = read_confined(path, self._roots, self.options.max_bytes)
            except Refused as exc:
                self._failed[path] = _signature(path) or (-1, -1)  # not tried again until it changes
                self._error(path, str(exc))
                continue
            except OSError as exc:
                self._error(path, f"{path}: could not be read ({exc.strerror})")
                continue
            sha = hashlib.sha256(data).hexdigest()
            signatures[str(path)] = (path, (stat.st_size, stat.st_mtime_ns))
            self._remember(path, (stat.st_size, stat.st_mtime_ns))
            if sha not in seen:
                seen.add(sha)
                sources.append((sha, data, str(path)))
        try:
            known = self.log.inspected_shas(sha for sha, _, _ in sources)
        except (SQLAlchemyError, SteelScanError) as exc:
            for path, _signature_now in signatures.values():
                self._retry_later(path, f"{path}: not recorded: the review log did not answer ({exc})")
            return
        self.beat.skipped += len(paths) - len(sources) + len(known)
        todo = [(data, name) for sha, data, name in sources if sha not in known]
        if not todo:
            return
        inspector = self.engine.current()
        places = {name: self._place(Path(name)) for _, name in todo}
        for item in inspect_and_record(inspector, self.log, todo, self.band, origin="watch", slots=self.slots,
                                       line=True, place=places.get):
            if item.retry:  # the database was busy or full: the file is fine, try it again later
                self._retry_later(signatures[item.name][0], item.error)
                continue
            self._retry_s.pop(signatures[item.name][0], None)
            if item.error:
                path, signature = signatures[item.name]
                self._failed[path] = signature
                self._error(path, item.error)
                continue
            self.beat.inspected += 1
            self.beat.last_image, self.beat.last_image_at = item.name, utc_now()
            self._recent.append(time.monotonic())

    def _place(self, path: Path) -> CoilPlace | None:
        """The coil and position the path names below its watched folder; a name the pattern matches with a bad
        id or position is recorded without a place, and the error says why."""
        if self._coils is None:
            return None
        folder = next((f for f in self.options.folders if path.is_relative_to(f)), path.parent)
        try:
            return self._coils.place(path.relative_to(folder))
        except CoilError as exc:
            self._error(path, f"{path}: recorded without a coil: {exc}")
            return None

    def _retry_later(self, path: Path, message: str) -> None:
        wait = self._retry_s.get(path, RETRY_S[0])
        self._retry_s[path] = min(RETRY_S[1], wait * 2)
        self._done.pop(path, None)
        self._error(path, f"{message}; trying again in {wait:g} s")
        now = time.monotonic()
        with self._lock:
            self._candidates[path] = _Candidate((-1, -1), now, True, now, not_before=now + wait)
        if len(self._retry_s) > self.options.max_backlog:  # bounded: forget the oldest
            self._retry_s.pop(next(iter(self._retry_s)))

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
