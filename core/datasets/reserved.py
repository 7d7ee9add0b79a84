"""The fixed rule that keeps images out of the steel backbone's pre-training, so figures measured on them are fair.

An image is reserved when the SHA-256 of its file name (not its path: the same file read through another layout
stays reserved) falls in the first RESERVED_SHARE of the hash space. Pre-training (core.training.pretrain) never
reads a reserved image; `steelscan train --holdout reserved` holds out exactly these images, so a hold-out figure
of a set that started from the steel backbone is measured on images the backbone never saw.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

RESERVED_SHARE = 0.2


def is_reserved(path: str | Path) -> bool:
    digest = hashlib.sha256(Path(path).name.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") < RESERVED_SHARE * 2**32
