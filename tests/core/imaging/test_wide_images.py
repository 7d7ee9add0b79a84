"""16-bit and float images decode in bounded memory (issue 34): a 117 KB compressed 16-bit 8000x5000 TIFF once
passed the bomb check and took 918 MB to decode through whole-image int64 and float64 copies."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from core.contract.errors import ImageError
from core.imaging.imageio import decode_image_bytes


def _tiff(raw: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(raw, mode).save(buffer, format="TIFF", compression="tiff_deflate")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def big_16_bit_tiff() -> bytes:
    raw = np.empty((5000, 8000), np.uint16)
    raw[...] = (np.arange(8000, dtype=np.uint32) * 8).astype(np.uint16)  # values over 255: the scaling path
    return _tiff(raw)


def test_a_16_bit_8000x5000_tiff_decodes_within_twice_its_8_bit_size(big_16_bit_tiff):
    eight_bit_rgb = 8000 * 5000 * 3  # what the same strip costs decoded from an 8-bit file
    tracemalloc.start()
    try:
        loaded = decode_image_bytes(big_16_bit_tiff, "deep.tiff", max_pixels=40_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded.pixels.shape == (5000, 8000, 3) and loaded.pixels.dtype == np.uint8
    expected = np.clip((np.arange(8000) * 8 % 65536) / 257.0 + 0.5, 0, 255).astype(np.uint8)
    assert np.array_equal(loaded.pixels[4999, :, 1], expected)
    assert peak <= 2 * eight_bit_rgb, f"decoding took {peak / 1e6:.0f} MB of arrays, over 2x {eight_bit_rgb / 1e6:.0f} MB"


@pytest.mark.parametrize("mode,dtype", [("I", np.int32), ("F", np.float32)])
def test_32_bit_and_float_images_keep_their_8_bit_values(mode, dtype):
    raw = (np.arange(300 * 70).reshape(70, 300) % 700 - 100).astype(dtype)
    loaded = decode_image_bytes(_tiff(raw, mode), "wide.tif")
    expected = (np.clip(raw.astype(np.float64) / 257.0 + 0.5, 0, 255) if mode == "I"
                else np.clip(raw, 0, 255)).astype(np.uint8)
    assert np.array_equal(loaded.pixels[:, :, 0], expected) and np.array_equal(loaded.pixels[:, :, 2], expected)


def test_a_mode_that_decodes_past_the_budget_is_refused_from_its_header():
    raw = np.zeros((100, 100), np.float32)
    # 10,000 float pixels, within max_pixels, take (4 + 1 + 3) bytes each decoded: over the 8-bit RGB budget
    with pytest.raises(ImageError, match="would take 0 MB to decode .* over the 0 MB that max_pixels allows"):
        decode_image_bytes(_tiff(raw, "F"), "wide.tif", max_pixels=10_000)
    assert decode_image_bytes(_tiff(raw, "F"), "wide.tif", max_pixels=14_000).width == 100
