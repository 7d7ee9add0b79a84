"""The content-addressed image store: each image's bytes once, named by their sha256, written atomically."""

from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from core.imaging.imageio import FORMAT_EXTENSIONS
from core.review.store.db import StoreError
from core.review.store.disk import DiskGuard


def image_suffix(data: bytes, name: str) -> str:
    """The stored file's extension comes from its content, so it always matches what decoders expect."""
    try:
        fmt = Image.open(io.BytesIO(data)).format
    except (UnidentifiedImageError, OSError):
        fmt = None
    if fmt not in FORMAT_EXTENSIONS:
        raise StoreError(name, f"is not a JPEG, PNG, BMP or TIFF image ({fmt or 'unrecognised'})",
                         "inspect only images the engine accepted")
    return FORMAT_EXTENSIONS[fmt][0]


class ImageStore:
    """Files under one folder, `ab/abcdef….png`; the database keeps the relative path."""

    def __init__(self, root: str | Path, guard: DiskGuard | None = None) -> None:
        self.image_store = Path(root)
        self.disk_guard = guard or DiskGuard(0)  # 0: no minimum (ReviewLog.from_settings passes min_free_disk_mb)

    def store_image_file(self, data: bytes, name: str) -> tuple[str, str]:
        """Copy the bytes under the image store once per content; returns (sha256, relative path)."""
        sha = hashlib.sha256(data).hexdigest()
        relative = f"{sha[:2]}/{sha}{image_suffix(data, name)}"
        target = self.image_store / relative
        if not target.is_file():
            self.disk_guard.check(self.image_store, "the image store")
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write aside, then rename: a reader never sees half a file, and two writers agree.
            temporary = target.with_name(f".{target.name}.{os.getpid()}.{random.getrandbits(32):08x}")
            temporary.write_bytes(data)
            os.replace(temporary, target)
        return sha, relative
