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
# Bytes a pixel takes once Pillow has decoded it, by mode; unknown modes count as 8. A decode also makes the
# 3-byte RGB copy (and a 1-byte grey one for wide modes); the budget is what an 8-bit RGB image of max_pixels
# costs, (3 + 3) bytes a pixel: a 16-bit greyscale image of max_pixels fits (2 + 1 + 3), 32-bit and float
# images and RGBA/CMYK ones are refused from the header above 3/4 and 6/7 of max_pixels.
DECODED_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "I;16": 2, "I;16B": 2, "I;16L": 2,
                           "I;16N": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBa": 4, "RGBX": 4,
                           "CMYK": 4, "I": 4, "F": 4}
DECODE_BUDGET_BYTES_PER_PIXEL = 3 + 3
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # more than 8 bits a sample: scaled in strips
STRIP_ROWS = 256


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
    decoded = pixels * (DECODED_BYTES_PER_PIXEL.get(image.mode, 8) + (image.mode in WIDE_MODES) + 3)
    if decoded > max_pixels * DECODE_BUDGET_BYTES_PER_PIXEL:  # refused from the header, before decoding
        raise ImageError(
            name,
            f"would take {decoded / 1e6:,.0f} MB to decode ({width}x{height} {image.mode} pixels), over the "
            f"{max_pixels * DECODE_BUDGET_BYTES_PER_PIXEL / 1e6:,.0f} MB that max_pixels allows",
            "convert it to 8-bit RGB or greyscale, crop it, or raise max_pixels in settings",
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


def _wide_to_grey8(image: Image.Image) -> np.ndarray:
    """A 16/32-bit or float greyscale image to uint8, a strip of rows at a time: never a whole-image 64-bit
    copy (a 40 MP 16-bit TIFF once took 918 MB this way). Integers over 255 scale linearly, 65535 -> 255,
    rounded half up; floats clip to 0..255."""
    width, height = image.size
    grey = np.empty((height, width), np.uint8)
    scale = image.mode != "F" and image.getextrema()[1] > 255
    for top in range(0, height, STRIP_ROWS):
        raw = np.asarray(image.crop((0, top, width, min(height, top + STRIP_ROWS))))
        if image.mode == "F":
            grey[top:top + len(raw)] = np.clip(raw, 0, 255)
        elif scale:  # floor(raw / 257 + 0.5) in integers
            grey[top:top + len(raw)] = np.clip((raw.astype(np.int64) * 2 + 257) // 514, 0, 255)
        else:
            grey[top:top + len(raw)] = raw.astype(np.uint8)
    return grey


def to_rgb8(image: Image.Image) -> np.ndarray:
    """Any Pillow mode to contiguous RGB uint8; 16-bit scales linearly (65535 -> 255)."""
    if image.mode in WIDE_MODES:
        grey = _wide_to_grey8(image)
        rgb = np.empty((*grey.shape, 3), np.uint8)
        rgb[...] = grey[:, :, None]
        return rgb
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def save_image(pixels: np.ndarray, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
