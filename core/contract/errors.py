"""Errors a user can act on: each names the file, the reason and the fix."""

from __future__ import annotations


class SteelScanError(Exception):
    """Base error; `str()` is one line fit for a user, never a traceback."""

    def __init__(self, source: str, reason: str, fix: str = "") -> None:
        self.source = str(source)
        self.reason = reason
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"{self.source}: {self.reason}"
        return f"{text} — {self.fix}" if self.fix else text


class ImageError(SteelScanError):
    """An input image could not be read or is not acceptable."""


class ModelSetError(SteelScanError):
    """A model set folder is missing, incomplete, tampered with or inconsistent."""


class DatasetError(SteelScanError):
    """A dataset folder or annotation file cannot be read."""
