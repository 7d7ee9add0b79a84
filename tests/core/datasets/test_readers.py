import numpy as np
import pytest
from PIL import Image

from core.contract.errors import DatasetError
from core.datasets import open_dataset, read_mask_folder, read_neu_det, read_severstal
from core.datasets.neu import parse_voc


def test_neu_det_classes_boxes_and_masks(neu_dir):
    dataset = read_neu_det(neu_dir)
    assert dataset.class_names == ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")
    assert dataset.task == "single-label"
    assert len(dataset.samples) == 1440
    counts = np.bincount([s.labels[0] for s in dataset.samples])
    assert counts.tolist() == [240] * 6
    # The folder names the image's class; a few real files also box a second defect type.
    foreign = 0
    for sample in dataset.samples:
        own = [b for b in sample.boxes if b[0] == sample.labels[0]]
        assert own, sample.image_path
        foreign += len(sample.boxes) - len(own)
        for _, x0, y0, x1, y1 in sample.boxes:
            assert 0 <= x0 <= x1 < 200 and 0 <= y0 <= y1 < 200
    assert 0 < foreign < 300
    sample = dataset.samples[0]
    masks = sample.masks(200, 200, 6)
    assert masks[sample.labels[0]].any()
    assert masks.any(axis=(1, 2)).sum() == len({b[0] for b in sample.boxes})


def test_voc_corners_become_zero_based_inclusive(neu_dir):
    dataset = read_neu_det(neu_dir)
    index = {n: i for i, n in enumerate(dataset.class_names)}
    (width, height), boxes = parse_voc(neu_dir / "annotations" / "crazing_1.xml", index)
    assert (width, height) == (200, 200)
    assert boxes == ((0, 1, 1, 192, 193),)  # xmin 2 ymin 2 xmax 193 ymax 194 in the file


def test_unknown_voc_class_names_the_file(neu_dir, tmp_path):
    text = (neu_dir / "annotations" / "crazing_1.xml").read_text().replace("<name>crazing", "<name>rust")
    bad = tmp_path / "bad.xml"
    bad.write_text(text)
    with pytest.raises(DatasetError, match="bad.xml.*rust"):
        parse_voc(bad, {"crazing": 0})


def test_open_dataset_detects_each_layout(severstal_dir, neu_dir, tmp_path):
    assert open_dataset(severstal_dir).layout == "severstal"
    assert open_dataset(neu_dir).layout == "neu-det"
    assert open_dataset(neu_dir.parent).layout == "neu-det"
    with pytest.raises(DatasetError, match="no known dataset layout"):
        open_dataset(tmp_path)


def test_severstal_folder_lists_clean_strips_too(severstal_dir):
    dataset = read_severstal(severstal_dir)
    assert sum(1 for s in dataset.samples if not s.labels) == 3
    assert dataset.fingerprint() == read_severstal(severstal_dir).fingerprint()


def test_mask_folder_layout(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "classes.txt").write_text("dent\nrust\n")
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(tmp_path / "images" / "b.png")
    ids = np.zeros((40, 60), np.uint8)
    ids[5:10, 5:20] = 2
    Image.fromarray(ids).save(tmp_path / "masks" / "a.png")
    dataset = read_mask_folder(tmp_path)
    assert dataset.class_names == ("dent", "rust")
    a, b = dataset.samples
    assert a.labels == (1,) and b.labels == ()
    masks = a.masks(40, 60, 2)
    assert masks[1].sum() == 75 and masks[0].sum() == 0
    assert open_dataset(tmp_path).layout == "mask-folder"


def test_sample_images_ground_truth_matches_the_generator():
    from core.datasets.synthetic import make_strip
    from tests.conftest import SAMPLES

    dataset = read_severstal(SAMPLES)
    assert dataset.class_names == ("pits", "crazing", "scratches", "patches")
    assert 10 <= len(dataset.samples) <= 16
    assert any(not s.labels for s in dataset.samples) and any(len(s.labels) > 1 for s in dataset.samples)
    assert {i for s in dataset.samples for i in s.labels} == {0, 1, 2, 3}
    sample = dataset.samples[-1]
    seed = int(sample.image_path.stem.split("_")[1])
    strip = make_strip(seed, sample.labels)
    assert np.array_equal(strip.masks, sample.masks(256, 1600, 4))
