"""Folder-per-class with mask PNGs beside the images: generated here, and the real magnetic-tile folder."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.datasets import open_dataset
from tests.conftest import SHARED
from tests.core.datasets.test_yolo import HEIGHT, WIDTH, write_image

MAGNETIC_TILE = SHARED / "magnetic-tile"


def write_mask(path: Path, mask: np.ndarray, indexed: bool = False) -> None:
    if indexed:
        image = Image.fromarray(mask.astype(np.uint8), mode="P")
        image.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    else:
        image = Image.fromarray(mask.astype(np.uint8))
    image.save(path)


@pytest.fixture
def folders(tmp_path) -> Path:
    root = tmp_path / "tiles"
    crack = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    crack[10:20, 10:30] = 255
    crack[20, 10:30] = 127  # an anti-aliased edge under half-way: not defect
    crack[9, 10:30] = 200  # over half-way: defect
    for seed, (name, folder) in enumerate((("c1", "MT_Crack"), ("c2", "MT_Crack"), ("p1", "MT_Pit"), ("f1", "MT_Free"),
                         ("nomask", "MT_Crack"), ("empty", "MT_Pit"))):
        write_image(root / folder / "Imgs" / f"{name}.jpg", seed)
    write_mask(root / "MT_Crack" / "Imgs" / "c1.png", crack)
    write_mask(root / "MT_Crack" / "Imgs" / "c2.png", crack)
    write_mask(root / "MT_Pit" / "Imgs" / "p1.png", (crack > 0).astype(np.uint8), indexed=True)
    write_mask(root / "MT_Free" / "Imgs" / "f1.png", np.zeros((HEIGHT, WIDTH)))
    write_mask(root / "MT_Pit" / "Imgs" / "empty.png", np.zeros((HEIGHT, WIDTH)))
    return root


def test_folders_name_classes_and_masks_are_thresholded(folders):
    dataset = open_dataset(folders)
    assert dataset.layout == "class-folders" and dataset.class_names == ("Crack", "Pit")
    assert dataset.task == "multi-label"
    labels = {s.image_path.stem: s.labels for s in dataset.samples}
    assert labels == {"c1": (0,), "c2": (0,), "p1": (1,), "f1": ()}
    sample = next(s for s in dataset.samples if s.image_path.stem == "c1")
    masks = sample.masks(HEIGHT, WIDTH, 2)
    assert masks[0].sum() == 11 * 20 and masks[0, 9, 15] and not masks[0, 20, 15] and not masks[1].any()
    indexed = next(s for s in dataset.samples if s.image_path.stem == "p1").masks(HEIGHT, WIDTH, 2)[1]
    assert indexed.sum() == 12 * 20  # every non-zero palette index, the 127 edge included


def test_missing_and_empty_masks_in_defect_folders_are_reported_not_clean(folders):
    dataset = open_dataset(folders)
    text = "\n".join(dataset.problems)
    assert len(dataset.problems) == 2
    assert "nomask.jpg: has no mask nomask.png" in text
    assert "empty.png: is empty but the image is in MT_Pit/" in text


@pytest.mark.skipif(not MAGNETIC_TILE.is_dir(), reason=f"{MAGNETIC_TILE} is absent")
def test_the_real_magnetic_tile_folder():
    dataset = open_dataset(MAGNETIC_TILE)
    assert dataset.layout == "class-folders" and dataset.task == "multi-label" and not dataset.own_split
    assert dataset.class_names == ("Blowhole", "Break", "Crack", "Fray", "Uneven")
    counts = np.bincount([s.labels[0] if s.labels else 5 for s in dataset.samples], minlength=6)
    # README: Blowhole 69, Break 57, Crack 38, Fray 21, Uneven 74, Free 678; two Uneven masks are empty.
    assert counts.tolist() == [69, 57, 38, 21, 72, 678]
    assert len(dataset.problems) == 2 and all("MT_Uneven" in p and "is empty" in p for p in dataset.problems)
    crack = next(s for s in dataset.samples if s.labels == (2,))
    with Image.open(crack.image_path) as image:
        width, height = image.size
    mask = crack.masks(height, width, 5)
    assert mask[2].any() and 0 < mask[2].mean() < 0.5 and not mask[[0, 1, 3, 4]].any()
