"""Decode images once, at the boundary: RGB uint8, EXIF orientation applied, size checked.

Everything downstream receives `LoadedImage.pixels` (H x W x 3, uint8) and never has to guess
the channel order, bit depth or orientation.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.contract.errors import ImageError

# Pillow format name -> extensions a file of that format may carry.
FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg", ".jpe"),
    "PNG": (".png",),
    "BMP": (".bmp", ".dib"),
    "TIFF": (".tif", ".tiff"),
}
IMAGE_EXTENSIONS: frozenset[str] = frozenset(e for exts in FORMAT_EXTENSIONS.values() for e in exts)
DEFAULT_MAX_PIXELS = 40_000_000
MIN_SIDE = 32  # the networks downsample by 32; anything smaller has nothing to look at
# A header promising this many pixels per byte of file is a decompression bomb, not a photograph.
BOMB_PIXELS_PER_BYTE = 2_000


@dataclass(frozen=True)
class LoadedImage:
    name: str
    pixels: np.ndarray  # H x W x 3, uint8, RGB
    sha256: str
    source_format: str
    source_mode: str

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def load_image(
    source: str | Path | bytes, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> LoadedImage:
    """Read a file path or raw bytes (an upload) into a `LoadedImage`, or raise `ImageError`."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = name or "upload"
    else:
        path = Path(source)
        name = name or str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageError(name, "file not found", "check the path") from None
        except IsADirectoryError:
            raise ImageError(name, "is a folder, not an image file", "pass the files inside it") from None
        except OSError as exc:
            raise ImageError(name, f"cannot be read ({exc.strerror})", "check its permissions") from None
    return decode_image_bytes(data, name, max_pixels)


def decode_image_bytes(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    if not data:
        raise ImageError(name, "is empty (0 bytes)", "re-export or re-copy the image")
    suffix = Path(name).suffix.lower()
    if suffix and suffix not in IMAGE_EXTENSIONS:
        raise ImageError(
            name, f"extension {suffix!r} is not a supported image type", "use JPEG, PNG, BMP or TIFF"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError(name, "is not an image (unrecognised content)", "use JPEG, PNG, BMP or TIFF") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(name, "is a decompression bomb (header claims too many pixels)", "reject this file") from None
    except Exception as exc:  # Pillow raises many types on a corrupt header
        if "truncat" in str(exc).lower():
            raise ImageError(name, "is truncated", "re-copy the file from the camera") from None
        raise ImageError(name, f"has a corrupt header ({exc})", "re-export the image") from None

    fmt = image.format or "unknown"
    if fmt not in FORMAT_EXTENSIONS:
        raise ImageError(name, f"is a {fmt} image, which is not supported", "convert it to PNG or JPEG")
    if suffix and suffix not in FORMAT_EXTENSIONS[fmt]:
        raise ImageError(
            name,
            f"extension {suffix!r} does not match its content ({fmt})",
            f"rename it to {FORMAT_EXTENSIONS[fmt][0]} or re-export it",
        )
    width, height = image.size
    pixels = width * height
    if pixels > max_pixels:
        if pixels > BOMB_PIXELS_PER_BYTE * len(data):
            raise ImageError(
                name,
                f"is a decompression bomb: header claims {width}x{height} pixels in {len(data)} bytes",
                "reject this file",
            )
        raise ImageError(
            name,
            f"is {width}x{height} = {pixels:,} pixels, over the limit of {max_pixels:,}",
            "crop or downscale it, or raise max_pixels in settings",
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(name, f"is only {width}x{height} pixels", f"images need at least {MIN_SIDE} px a side")
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise ImageError(name, f"holds {frames} frames", "split it into single images first")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        reason = "is truncated" if "truncat" in str(exc).lower() else f"cannot be decoded ({exc})"
        raise ImageError(name, reason, "re-copy the file from the camera") from None

    mode = image.mode
    image = ImageOps.exif_transpose(image)
    return LoadedImage(
        name=name,
        pixels=to_rgb8(image),
        sha256=hashlib.sha256(data).hexdigest(),
        source_format=fmt,
        source_mode=mode,
    )


def to_rgb8(image: Image.Image) -> np.ndarray:
    """Any Pillow mode to contiguous RGB uint8; 16-bit scales linearly (65535 -> 255)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        raw = np.asarray(image, dtype=np.int64)
        grey = np.clip(raw / 257.0 + 0.5, 0, 255).astype(np.uint8) if raw.max(initial=0) > 255 else raw.astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if image.mode == "F":
        raw = np.asarray(image, dtype=np.float32)
        grey = np.clip(raw, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def save_image(pixels: np.ndarray, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
