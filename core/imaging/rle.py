"""Severstal run-length codes: 1-indexed `start length` pairs over the column-major flattening.

Pure functions; `rle_encode(rle_decode(s)) == s` for every string in the competition's CSV.
"""

from __future__ import annotations

import numpy as np

SEVERSTAL_SHAPE = (256, 1600)  # (height, width)


def rle_decode(rle: str, shape: tuple[int, int] = SEVERSTAL_SHAPE) -> np.ndarray:
    """Decode one RLE string into a (height, width) uint8 mask of 0/1."""
    height, width = shape
    flat = np.zeros(height * width, dtype=np.uint8)
    numbers = np.asarray(rle.split(), dtype=np.int64) if rle and rle.strip() else np.empty(0, np.int64)
    if numbers.size % 2:
        raise ValueError(f"RLE has an odd count of numbers ({numbers.size}); it must be start/length pairs")
    starts, lengths = numbers[0::2] - 1, numbers[1::2]
    if numbers.size and (starts.min() < 0 or (starts + lengths).max() > flat.size):
        raise ValueError(f"RLE runs fall outside a {height}x{width} mask")
    # Mark run boundaries with +1/-1 and integrate: one pass, no Python loop over runs.
    edges = np.zeros(flat.size + 1, dtype=np.int32)
    np.add.at(edges, starts, 1)
    np.add.at(edges, starts + lengths, -1)
    flat[:] = np.cumsum(edges[:-1]) > 0
    return flat.reshape((width, height)).T


def rle_encode(mask: np.ndarray) -> str:
    """Encode a (height, width) mask (any dtype, nonzero = set) as an RLE string; '' when empty."""
    flat = (np.asarray(mask).T.reshape(-1) != 0).astype(np.int8)
    padded = np.concatenate(([0], flat, [0]))
    changes = np.flatnonzero(padded[1:] != padded[:-1]) + 1
    changes[1::2] -= changes[0::2]
    return " ".join(map(str, changes))


def rle_area(rle: str) -> int:
    numbers = rle.split()
    return int(sum(int(n) for n in numbers[1::2]))
