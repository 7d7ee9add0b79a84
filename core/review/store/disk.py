"""The free-disk guard: new records are refused, with a message, while a disk they would land on runs low.

A full disk mid-write can leave SQLite's WAL or a half-copied image behind and takes every other program on the disk
down with it; refusing early leaves room to free. Checked at most once a second per folder (shutil.disk_usage is a
statvfs call, cheap, but a batch records many sheets a second).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core.review.store.db import DatabaseFull

MB = 1024 * 1024


class DiskGuard:
    def __init__(self, min_free_mb: int, every_s: float = 1.0, usage: Callable[[Path], object] | None = None) -> None:
        self.min_free_mb = int(min_free_mb)
        self.every_s = every_s
        self._usage = usage
        self._free: dict[Path, tuple[float, int]] = {}  # folder -> (when measured, free bytes)
        self._lock = threading.Lock()

    def free_bytes(self, folder: Path) -> int:
        folder = _existing(Path(folder))
        now = time.monotonic()
        with self._lock:
            seen = self._free.get(folder)
            if seen is not None and now - seen[0] < self.every_s:
                return seen[1]
        free = int((self._usage or shutil.disk_usage)(folder).free)
        with self._lock:
            self._free[folder] = (now, free)
        return free

    def check(self, folder: Path, what: str) -> None:
        """Raise DatabaseFull when the disk holding `folder` has less than min_free_disk_mb free."""
        if self.min_free_mb <= 0:
            return
        free = self.free_bytes(folder)
        if free < self.min_free_mb * MB:
            raise DatabaseFull(f"the disk holding {what} ({folder})",
                               f"has {free // MB} MB free, below min_free_disk_mb={self.min_free_mb}",
                               "free space or move the image store; nothing was recorded")


def _existing(folder: Path) -> Path:
    """The folder itself, or its nearest existing parent (the image store is made on first write)."""
    folder = folder.absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder
