import io
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.contract.errors import ImageError
from core.imaging.imageio import load_image


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _strip(height=64, width=96) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt,ext", [("JPEG", ".jpg"), ("PNG", ".png"), ("BMP", ".bmp"), ("TIFF", ".tif")])
def test_supported_formats_decode_to_rgb8(fmt, ext):
    pixels = _strip()
    loaded = load_image(_encode(Image.fromarray(pixels), fmt), name=f"x{ext}")
    assert loaded.pixels.shape == (64, 96, 3) and loaded.pixels.dtype == np.uint8
    assert loaded.source_format == fmt
    if fmt != "JPEG":
        assert np.array_equal(loaded.pixels, pixels)


def test_grey_becomes_three_equal_channels():
    grey = _strip()[:, :, 0]
    loaded = load_image(_encode(Image.fromarray(grey), "PNG"), name="g.png")
    assert np.array_equal(loaded.pixels[:, :, 0], grey) and np.array_equal(loaded.pixels[:, :, 2], grey)


def test_sixteen_bit_scales_to_eight_bit():
    raw = (np.arange(64 * 96, dtype=np.uint32).reshape(64, 96) * 10).astype(np.uint16)
    loaded = load_image(_encode(Image.fromarray(raw), "PNG"), name="deep.png")
    expected = np.clip(raw / 257.0 + 0.5, 0, 255).astype(np.uint8)
    assert np.array_equal(loaded.pixels[:, :, 0], expected)


def test_sixteen_bit_tiff():
    raw = np.full((40, 50), 65535, np.uint16)
    loaded = load_image(_encode(Image.fromarray(raw), "TIFF"), name="deep.tiff")
    assert loaded.pixels.max() == 255 and loaded.pixels.shape == (40, 50, 3)


def test_exif_orientation_is_applied():
    pixels = _strip(40, 80)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 clockwise on display
    loaded = load_image(_encode(image, "JPEG", exif=exif, quality=100), name="rot.jpg")
    assert loaded.pixels.shape == (80, 40, 3)


def test_cmyk_jpeg_is_converted():
    loaded = load_image(_encode(Image.fromarray(_strip()).convert("CMYK"), "JPEG"), name="cmyk.jpg")
    assert loaded.pixels.shape == (64, 96, 3)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _multi_frame_tiff() -> bytes:
    frames = [Image.fromarray(_strip()), Image.fromarray(_strip())]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


BAD_INPUTS = {
    "empty": (b"", "x.jpg", "empty"),
    "truncated jpeg": (_encode(Image.fromarray(_strip()), "JPEG")[:400], "t.jpg", "truncated"),
    "truncated png": (_encode(Image.fromarray(_strip()), "PNG")[:300], "t.png", "truncated|decoded"),
    "html": (b"<html><body>not an image</body></html>", "page.jpg", "not an image"),
    "zip": (b"PK\x03\x04" + b"\0" * 100, "archive.jpg", "not an image"),
    "wrong extension": (_encode(Image.fromarray(_strip()), "PNG"), "looks.jpg", "does not match its content"),
    "unsupported extension": (_encode(Image.fromarray(_strip()), "PNG"), "x.exe", "not a supported image type"),
    "bomb": (_png_header_only(30000, 30000), "bomb.png", "decompression bomb"),
    "tiny": (_encode(Image.fromarray(_strip(1, 1)), "PNG"), "dot.png", "only 1x1"),
    "multi-frame": (_multi_frame_tiff(), "stack.tif", "2 frames"),
    "gif": (_encode(Image.fromarray(_strip()), "GIF"), "anim.gif", "not a supported image type"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_one_line_naming_file_and_reason(case):
    data, name, reason = BAD_INPUTS[case]
    with pytest.raises(ImageError) as info:
        load_image(data, name=name)
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message and "Traceback" not in message
    assert re.search(reason, message), message


def test_over_the_pixel_limit_is_not_called_a_bomb():
    data = _encode(Image.fromarray(_strip(200, 300)), "PNG")
    with pytest.raises(ImageError, match="over the limit of 50,000") as info:
        load_image(data, name="big.png", max_pixels=50_000)
    assert "bomb" not in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


def test_real_strips_load(severstal_dir):
    for path in sorted((severstal_dir / "train_images").iterdir()):
        loaded = load_image(path)
        assert loaded.pixels.shape == (256, 1600, 3)
        assert len(loaded.sha256) == 64
