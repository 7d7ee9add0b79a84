"""The pixel cache is bounded in bytes, keeps the most recently used images, and shares them read-only."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.imaging.pixelcache import PixelCache


@pytest.fixture
def images(tmp_path):
    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((100, 200, 3), i * 40, np.uint8)).save(path)  # 60,000 bytes decoded
        paths.append(str(path))
    return paths


def test_bounded_in_bytes_least_recently_used_out(images):
    cache = PixelCache(max_bytes=150_000)  # room for two 60 kB images, not three
    for path in images[:3]:
        cache.get(path)
    assert len(cache) == 2 and cache.bytes == 120_000 <= cache.max_bytes
    cache.get(images[1])  # a hit: now the most recent
    cache.get(images[3])  # evicts images[2], the least recently used
    assert (cache.hits, cache.misses) == (1, 4)
    cache.get(images[1])
    assert cache.hits == 2
    cache.get(images[2])
    assert cache.misses == 5 and cache.bytes <= cache.max_bytes


def test_pixels_are_right_shared_and_read_only(images):
    cache = PixelCache(max_bytes=10**6)
    first = cache.get(images[2])
    assert first.shape == (100, 200, 3) and int(first[0, 0, 0]) == 80
    assert cache.get(images[2]) is first
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0, 0] = 1  # no session can draw on another session's picture


def test_an_image_bigger_than_the_cache_is_served_but_not_kept(images):
    cache = PixelCache(max_bytes=1000)
    assert cache.get(images[0]).shape == (100, 200, 3)
    assert len(cache) == 0 and cache.bytes == 0
