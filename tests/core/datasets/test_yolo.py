"""The YOLO reader on a small export written here: polygons, boxes, empty = clean, splits, bad lines."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.contract.errors import DatasetError
from core.datasets import open_dataset
from core.training.data import split_dataset

WIDTH, HEIGHT = 80, 40
TRAIN_ONLY = "train: images/train\nnames: [crack, pit]\n"


def write_image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_yolo(root: Path, labels: dict[str, dict[str, str | None]], yaml_text: str | None = None) -> Path:
    """labels: split -> {image stem: label file text, or None for no label file}."""
    for seed, (split, files) in enumerate(labels.items()):
        for n, (stem, text) in enumerate(files.items()):
            write_image(root / "images" / split / f"{stem}.png", seed * 100 + n)
            if text is not None:
                (root / "labels" / split).mkdir(parents=True, exist_ok=True)
                (root / "labels" / split / f"{stem}.txt").write_text(text)
    (root / "data.yaml").write_text(yaml_text or "path: .\ntrain: images/train\nval: images/val\n"
                                    "test: images/test\nnames:\n  0: crack\n  1: pit\n")
    return root


@pytest.fixture
def export(tmp_path) -> Path:
    return write_yolo(tmp_path / "yolo", {
        "train": {"poly": "0 0.1 0.1 0.5 0.1 0.5 0.9 0.1 0.9\n", "box": "1 0.75 0.5 0.2 0.5\n", "clean": ""},
        "val": {"both": "0 0.0 0.0 0.25 0.0 0.25 1.0\n1 0.8 0.5 0.1 0.2\n"},
        "test": {"clean2": "\n"},
    })


def test_polygons_and_boxes_become_masks_and_empty_files_are_clean(export):
    dataset = open_dataset(export)
    assert dataset.layout == "yolo" and dataset.class_names == ("crack", "pit") and not dataset.problems
    by_name = {s.image_path.stem: s for s in dataset.samples}
    assert by_name["clean"].labels == () and by_name["clean2"].labels == ()
    assert by_name["both"].labels == (0, 1)
    poly = by_name["poly"].masks(HEIGHT, WIDTH, 2)
    # The polygon covers x 8..40, y 4..36 of the 80x40 image: about 32*32 pixels.
    assert abs(int(poly[0].sum()) - 33 * 33) < 80 and not poly[1].any()
    assert poly[0, 20, 20] and not poly[0, 20, 60]
    box = by_name["box"].masks(HEIGHT, WIDTH, 2)[1]
    ys, xs = np.nonzero(box)  # centre (60, 20), 16 x 20 pixels
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (52, 68, 10, 30)


def test_the_export_s_own_split_is_kept(export):
    dataset = open_dataset(export)
    assert dataset.own_split
    split = split_dataset(dataset, val_fraction=0.5, holdout_fraction=0.5, seed=0)
    names = {part: sorted(dataset.samples[i].image_path.stem for i in getattr(split, part))
             for part in ("train", "val", "holdout")}
    assert names == {"train": ["box", "clean", "poly"], "val": ["both"], "holdout": ["clean2"]}


def test_roboflow_paths_and_a_names_list(tmp_path):
    root = tmp_path / "rf"
    for split in ("train", "valid"):
        write_image(root / split / "images" / f"{split}_a.jpg", 1)
        (root / split / "labels").mkdir(parents=True)
        (root / split / "labels" / f"{split}_a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['scratch']\n")
    dataset = open_dataset(root)
    assert dataset.class_names == ("scratch",)
    assert sorted(s.split for s in dataset.samples) == ["train", "val"]


@pytest.mark.parametrize("line, words", [
    ("7 0.1 0.1 0.2 0.2", "class 7 is not in data.yaml"),
    ("0 12 40 30 50", "outside 0..1"),
    ("0 0.1 0.2 0.3", "expected 4 (box) or an even 6+"),
    ("0 0.1 0.2 0.3 0.4 0.5 0.6 0.7", "expected 4 (box) or an even 6+"),
    ("crack 0.1 0.1 0.2 0.2", "is not numbers"),
])
def test_a_bad_line_is_reported_with_file_and_line_and_the_image_left_out(tmp_path, line, words):
    root = write_yolo(tmp_path / "bad", {"train": {"good": "0 0.5 0.5 0.1 0.1\n", "bad": f"\n{line}\n"}}, TRAIN_ONLY)
    dataset = open_dataset(root)
    assert [s.image_path.stem for s in dataset.samples] == ["good"]
    (problem,) = dataset.problems
    assert "bad.txt line 2" in problem and words in problem
    with pytest.raises(DatasetError, match="bad.txt line 2"):
        open_dataset(root, on_problem="raise")


def test_an_image_without_a_label_file_is_reported_not_clean(tmp_path):
    root = write_yolo(tmp_path / "missing", {"train": {"labelled": "", "unlabelled": None}}, TRAIN_ONLY)
    dataset = open_dataset(root)
    assert [s.image_path.stem for s in dataset.samples] == ["labelled"]
    assert "unlabelled.png: has no label file" in dataset.problems[0]


def test_a_split_folder_that_does_not_exist_names_the_yaml(tmp_path):
    root = write_yolo(tmp_path / "nofolder", {"train": {"a": ""}}, "train: images/train\nval: images/val\nnames: [x]\n")
    with pytest.raises(DatasetError, match="data.yaml.*val: images/val"):
        open_dataset(root)
