"""Decoded images kept for redraws, bounded in bytes (not in entries: one 40-megapixel strip weighs as much as
a hundred small ones). Least recently used first out; arrays are shared read-only between callers."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from core.imaging.imageio import load_image


class PixelCache:
    def __init__(self, max_bytes: int, loader: Callable[[str], np.ndarray] | None = None) -> None:
        self.max_bytes = max_bytes
        self._load = loader or (lambda path: load_image(path).pixels)
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: str) -> np.ndarray:
        with self._lock:
            pixels = self._entries.get(path)
            if pixels is not None:
                self._entries.move_to_end(path)
                self.hits += 1
                return pixels
        pixels = self._load(path)  # decoded outside the lock: other sessions' hits are not held up
        pixels.setflags(write=False)  # shared by every session: nobody may draw on it in place
        with self._lock:
            self.misses += 1
            if path in self._entries or pixels.nbytes > self.max_bytes:
                return self._entries.get(path, pixels)  # too big to keep: used once, not cached
            self._entries[path] = pixels
            self.bytes += pixels.nbytes
            while self.bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= evicted.nbytes
            return pixels
