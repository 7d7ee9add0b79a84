import numpy as np
import pytest

from core.datasets.severstal import read_severstal_csv, write_severstal_csv
from core.imaging.rle import rle_area, rle_decode, rle_encode


def test_every_real_rle_string_round_trips_byte_for_byte(severstal_dir):
    labels, fmt = read_severstal_csv(severstal_dir / "train.csv")
    assert fmt == "current"
    strings = [rle for per_image in labels.values() for rle in per_image.values()]
    assert len(strings) == 10
    for rle in strings:
        mask = rle_decode(rle)
        assert mask.shape == (256, 1600)
        assert int(mask.sum()) == rle_area(rle) > 0
        assert rle_encode(mask) == rle


def test_both_csv_formats_give_the_same_labels(severstal_dir):
    current, _ = read_severstal_csv(severstal_dir / "train.csv")
    original, fmt = read_severstal_csv(severstal_dir / "train_oldformat.csv")
    assert fmt == "original"
    assert len(original) == 11  # every image listed, 3 of them with no defect
    assert {k: v for k, v in original.items() if v} == current
    assert sum(1 for v in original.values() if not v) == 3


def test_decode_is_column_major_and_one_indexed():
    mask = rle_decode("1 3 258 2", (256, 1600))
    assert mask[0:3, 0].tolist() == [1, 1, 1] and mask[3, 0] == 0
    assert mask[1, 1] == 1 and mask[2, 1] == 1 and mask[0, 1] == 0
    assert mask.sum() == 5


def test_encode_handles_empty_full_and_edge_runs():
    assert rle_encode(np.zeros((4, 5), np.uint8)) == ""
    assert rle_encode(np.ones((4, 5), np.uint8)) == "1 20"
    last = np.zeros((4, 5), np.uint8)
    last[3, 4] = 1
    assert rle_encode(last) == "20 1"
    assert rle_decode("20 1", (4, 5)).tolist() == last.tolist()


def test_bad_rle_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="odd"):
        rle_decode("1 2 3", (4, 5))
    with pytest.raises(ValueError, match="outside"):
        rle_decode("19 5", (4, 5))


def test_csv_write_then_read_round_trips_in_both_formats(severstal_dir, tmp_path):
    labels, _ = read_severstal_csv(severstal_dir / "train_oldformat.csv")
    for fmt in ("current", "original"):
        write_severstal_csv(labels, tmp_path / f"{fmt}.csv", fmt=fmt)
        back, detected = read_severstal_csv(tmp_path / f"{fmt}.csv")
        assert detected == fmt
        assert {k: v for k, v in back.items() if v} == {k: v for k, v in labels.items() if v}


def test_masks_drawn_on_real_strips_match_their_images(severstal_dir):
    from core.datasets import read_severstal
    from core.imaging.imageio import load_image

    dataset = read_severstal(severstal_dir)
    assert len(dataset.samples) == 11
    for sample in dataset.samples:
        image = load_image(sample.image_path)
        masks = sample.masks(image.height, image.width, 4)
        assert masks.shape == (4, 256, 1600)
        assert sorted(np.flatnonzero(masks.reshape(4, -1).any(1))) == list(sample.labels)
        for index, rle in sample.rles.items():
            assert masks[index].sum() == rle_area(rle)
