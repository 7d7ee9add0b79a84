"""Inspect many images and record each verdict in the review log, stoppable between images.

Uploads arrive as (bytes, name); folder files as paths (read again for the image store, from
the OS cache). Results come back in input order; a bad image yields an error item and the
batch goes on.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from core.contract.coil import CoilPlace
from core.contract.errors import ImageError, SteelScanError
from core.engine.inference import Inspector
from core.engine.slots import InferenceSlots
from core.imaging.imageio import is_image_path
from core.review.queue import is_flagged
from core.review.store import ReviewLog
from core.review.store.db import not_recorded_because

Source = tuple[bytes, str] | Path


@dataclass(frozen=True)
class BatchItem:
    name: str
    inference_id: int | None = None
    image_sha256: str = ""
    label: str = ""  # defective | clean
    classes: tuple[str, ...] = ()
    flagged: bool = False
    error: str = ""
    retry: bool = False  # not recorded because the database was busy or full: the same file may be tried again


MAX_NAME_CHARS = 200


def upload_name(name: str) -> str:
    """The name kept for an uploaded file: its last path part, NFC, without control or direction-override
    characters (U+202E would show `gnp.exe` as `exe.png`), at most MAX_NAME_CHARS. Only ever a label:
    stored files are named by content hash, so no name can point outside the image store."""
    last = re.split(r"[/\\]", unicodedata.normalize("NFC", name or ""))[-1]
    kept = "".join(ch for ch in last if not unicodedata.category(ch).startswith("C")).strip()
    if kept in ("", ".", ".."):
        return "unnamed"
    if len(kept) <= MAX_NAME_CHARS:
        return kept
    stem, dot, suffix = kept.rpartition(".")
    if dot and len(suffix) < 10:  # keep the extension visible
        return f"{stem[:MAX_NAME_CHARS - len(suffix) - 2]}….{suffix}"
    return kept[:MAX_NAME_CHARS]


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"


def check_upload_size(name: str, size: int, limit: int) -> None:
    """Refuse an upload over the limit before decoding it (the app's own check; Streamlit's is per endpoint)."""
    if size > limit:
        raise ImageError(name, f"is {_size(size)}, over the {_size(limit)} upload limit",
                         "crop or downscale it, or raise max_upload_bytes in settings")


def inspect_and_record(inspector: Inspector, log: ReviewLog, sources: Iterable[Source], band: float,
                       origin: str = "upload", should_stop: Callable[[], bool] = lambda: False,
                       slots: InferenceSlots | None = None, place: Callable[[str], CoilPlace | None] | None = None,
                       line: bool = False) -> Iterator[BatchItem]:
    """Inspect and store each source; with `slots`, the model work waits its turn in the shared queue (ahead of
    the dashboard's with `line`: the line's sheets first). `place`: a source name's coil and position, or None."""
    pending: deque[Source] = deque()

    def feed() -> Iterator[Source]:
        for source in sources:
            if should_stop():
                return
            pending.append(source)
            yield source

    results = inspector.inspect_many(feed())
    for result in (slots.gated(results, line=line) if slots is not None else results):
        if should_stop():
            # The engine reads up to two batches ahead, so the feed alone stops many images late; what was read
            # ahead is left unrecorded and stays in the job's "remaining" list (Inspect the remaining N).
            return
        source = pending.popleft()
        name = source[1] if isinstance(source, tuple) else str(source)
        if isinstance(result, ImageError):
            yield BatchItem(name, error=str(result))
            continue
        try:
            data = source[0] if isinstance(source, tuple) else Path(source).read_bytes()
            inference_id = log.record_inference(result, data, source=origin, place=place(name) if place else None)
        except (OSError, SteelScanError, SQLAlchemyError) as exc:
            kind = not_recorded_because(exc)
            if kind is None and isinstance(exc, SQLAlchemyError):
                raise  # not a busy or full database: a fault to see, not a file to skip
            reason = f"not recorded: the database is {kind} ({exc})" if kind else f"could not be recorded ({exc})"
            yield BatchItem(name, error=f"{name}: {reason}", retry=kind is not None)
            continue
        yield BatchItem(name, inference_id, result.image_sha256, result.label, result.classes_present,
                        is_flagged(result, band, log.sampled_reason(inference_id)))


class FolderError(SteelScanError):
    """A folder outside the configured image roots, or Folder mode switched off."""


@dataclass(frozen=True)
class FolderListing:
    root: Path  # the configured root, resolved
    folder: Path  # the folder walked, resolved, inside root
    files: list[Path]  # resolved image paths, all inside root, sorted
    stopped: str = ""  # why the walk stopped early ("" when it saw everything)


def confine(folder: str | Path, roots: Iterable[str | Path]) -> tuple[Path, Path]:
    """(root, folder), both resolved (symlinks followed), when `folder` lies inside one of `roots`.

    Checked after resolving, so neither `..` nor a symlink inside a root leads outside it.
    """
    resolved_roots = [Path(r).expanduser().resolve() for r in roots]
    if not resolved_roots:
        raise FolderError("image_roots", "is empty, so Folder mode is off",
                          "an operator lists the image folders in image_roots (steelscan.toml or "
                          "STEELSCAN_IMAGE_ROOTS)")
    try:
        target = Path(folder).expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        raise FolderError(folder, "does not exist", "choose one of the configured image folders") from None
    for root in resolved_roots:
        if target == root or target.is_relative_to(root):
            if not target.is_dir():
                raise FolderError(folder, "is not a folder", "choose a folder of JPEG/PNG/BMP/TIFF images")
            return root, target
    raise FolderError(folder, "is outside the configured image folders",
                      "choose one of image_roots, or ask the operator to add this folder there")


def folder_images(folder: str | Path, roots: Iterable[str | Path], max_files: int = 5000,
                  max_seconds: float = 10.0) -> FolderListing:
    """Image files under a folder inside the image roots, walked at most `max_files` images / `max_seconds`.

    A symlinked file or folder that resolves outside the root is skipped, never read.
    """
    root, target = confine(folder, roots)
    deadline = time.monotonic() + max_seconds
    found: list[Path] = []
    stopped = ""
    for directory, subdirs, names in os.walk(target, followlinks=False):
        subdirs.sort()
        for index, name in enumerate(sorted(names)):
            if index % 256 == 255 and time.monotonic() > deadline:
                break  # a huge flat folder: the check below says why
            path = Path(directory, name)
            if not is_image_path(path):
                continue
            real = path.resolve()
            if not (real.is_relative_to(root) and real.is_file()):
                continue  # a symlink out of the root: skipped
            found.append(real)
            if len(found) >= max_files:
                stopped = (f"stopped after {max_files} images (folder_max_files): choose a smaller folder, or "
                           "raise folder_max_files")
                break
        if not stopped and time.monotonic() > deadline:
            stopped = (f"stopped after {max_seconds:g} s (folder_max_seconds) with {len(found)} images: choose a "
                       "smaller folder, or raise folder_max_seconds")
        if stopped:
            break
    return FolderListing(root, target, sorted(set(found)), stopped)


def subfolders(root: str | Path, limit: int = 500) -> list[Path]:
    """Folders directly under a root (resolved and still inside it), for the folder picker."""
    base = Path(root).resolve()
    try:
        entries = sorted(p for p in base.iterdir() if p.is_dir())[:limit]
    except OSError:
        return []
    return [p for p in entries if p.resolve().is_relative_to(base)]


def hash_files(files: Iterable[Path]) -> dict[Path, str]:
    """Content hashes: how the review log knows a file whatever its name or folder. Streamed (hashlib.file_digest):
    a folder of large files costs one buffer, not each file whole."""
    hashes = {}
    for path in files:
        with path.open("rb") as handle:
            hashes[path] = hashlib.file_digest(handle, "sha256").hexdigest()
    return hashes


def folder_status(log: ReviewLog, files: list[Path], hashes: dict[Path, str], band: float) -> pd.DataFrame:
    """Per file: inspected, flagged, reviewed, and its latest inference id (from the review log)."""
    known = log.status_by_sha(set(hashes.values()), band)
    rows = []
    for path in files:
        sha = hashes[path]
        status = known.get(sha, {})
        rows.append((path, path.name, sha, status.get("inference_id"), status.get("flagged", False),
                     status.get("reviewed", False)))
    frame = pd.DataFrame(rows, columns=["path", "name", "sha256", "inference_id", "flagged", "reviewed"])
    frame["inspected"] = frame["inference_id"].notna()
    return frame
