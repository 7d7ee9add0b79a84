"""A folder per class of images, no masks (ImageFolder, Keras, Roboflow classification, NEU-CLS), built here
from a few real NEU-DET images; and that it takes no other layout's folder."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.contract.errors import DatasetError
from core.datasets import open_dataset
from core.datasets.class_folders import read_image_folders
from core.datasets.describe import describe
from core.datasets.detect import detect_layout
from core.training.data import split_dataset
from tests.conftest import NEU, PROJECT

NEU_IMAGES = NEU / "images"


@pytest.fixture(scope="module", autouse=True)
def real_images():
    if not NEU_IMAGES.is_dir():
        pytest.skip(f"{NEU_IMAGES} is absent")


def copy_images(source_class: str, folder: Path, count: int, start: int = 0) -> list[str]:
    """`count` NEU-DET images of a class into `folder`; returns their stems."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((NEU_IMAGES / source_class).glob("*.jpg"))[start : start + count]
    return [Path(shutil.copy(source, folder / source.name)).stem for source in sources]


def labels_by_stem(dataset) -> dict[str, tuple[int, ...]]:
    return {sample.image_path.stem: sample.labels for sample in dataset.samples}


def test_flat_folders_label_each_image_by_its_folder_and_skip_the_rest(tmp_path):
    crazing = copy_images("crazing", tmp_path / "crazing", 3)
    scratches = copy_images("scratches", tmp_path / "scratches", 2)
    copy_images("patches", tmp_path / "crazing" / "deeper", 1)  # deeper than the class folder: not read
    copy_images("patches", tmp_path / ".thumbnails", 2)  # hidden: not a class
    shutil.copy(tmp_path / "crazing" / f"{crazing[0]}.jpg", tmp_path / "crazing" / "._resource_fork.jpg")
    (tmp_path / "crazing" / "notes.txt").write_text("not an image")
    (tmp_path / "README.txt").write_text("exported by hand")

    assert detect_layout(tmp_path) == "image-folders"
    dataset = open_dataset(tmp_path)
    assert dataset.layout == "image-folders" and dataset.task == "single-label"
    assert dataset.class_names == ("crazing", "scratches")
    assert labels_by_stem(dataset) == {**dict.fromkeys(crazing, (0,)), **dict.fromkeys(scratches, (1,))}
    assert not dataset.problems and not dataset.own_split
    assert not dataset.samples[0].masks(200, 200, 2).any()  # image labels only: nothing to draw


def test_a_clean_folder_makes_it_multi_label_with_clean_images_unlabelled(tmp_path):
    cracks = copy_images("crazing", tmp_path / "MT_Crack", 2)
    clean = copy_images("patches", tmp_path / "MT_OK", 3)  # one class and a clean folder: two folders suffice

    dataset = open_dataset(tmp_path)
    assert dataset.layout == "image-folders" and dataset.task == "multi-label"
    assert dataset.class_names == ("Crack",)  # the shared MT_ prefix is dropped, OK is a clean word
    assert labels_by_stem(dataset) == {**dict.fromkeys(cracks, (0,)), **dict.fromkeys(clean, ())}


def test_roboflow_split_folders_become_the_datasets_own_split(tmp_path):
    copy_images("crazing", tmp_path / "train" / "crazing", 4)
    copy_images("scratches", tmp_path / "train" / "scratches", 3)
    copy_images("crazing", tmp_path / "valid" / "crazing", 2, start=10)
    copy_images("patches", tmp_path / "valid" / "patches", 1)  # a class only one split has
    copy_images("scratches", tmp_path / "test" / "scratches", 2, start=10)
    copy_images("inclusion", tmp_path / "extra" / "inclusion", 1)  # beside the splits: reported, not read

    dataset = open_dataset(tmp_path)
    assert dataset.layout == "image-folders" and dataset.task == "single-label"
    assert dataset.class_names == ("crazing", "patches", "scratches")  # the union, one order for every split
    assert dataset.own_split
    by_split = {split: sorted(dataset.samples[i].labels[0] for i in dataset.split_indices(split))
                for split in ("train", "val", "test")}
    assert by_split == {"train": [0, 0, 0, 0, 2, 2, 2], "val": [0, 0, 1], "test": [2, 2]}
    assert len(dataset.problems) == 1 and "extra/: sits beside the split folders" in dataset.problems[0]

    split = split_dataset(dataset, val_fraction=0.5, holdout_fraction=0.5)
    assert set(split.val) == set(dataset.split_indices("val"))
    assert set(split.holdout) == set(dataset.split_indices("test"))

    summary = describe(dataset)
    assert summary.layout == "image-folders" and summary.own_split
    assert summary.per_split == {"train": {"images": 7, "defective": 7, "crazing": 4, "scratches": 3},
                                 "val": {"images": 3, "defective": 3, "crazing": 2, "patches": 1},
                                 "test": {"images": 2, "defective": 2, "scratches": 2}}
    assert summary.mask_area_quantiles == {}  # no masks: no 0% areas pretending to be measured
    text = "\n".join(summary.lines())
    assert "image-folders layout, single-label, 3 classes: crazing, patches, scratches" in text
    assert "image labels only" in text


def test_keras_class_names_keep_their_spaces_and_capitals(tmp_path):
    iron = copy_images("rolled-in_scale", tmp_path / "red iron", 2)
    slag = copy_images("inclusion", tmp_path / "Slag Inclusion", 2)

    dataset = open_dataset(tmp_path)
    assert dataset.class_names == ("Slag Inclusion", "red iron")  # sorted as Keras and torchvision number them
    assert labels_by_stem(dataset) == {**dict.fromkeys(slag, (0,)), **dict.fromkeys(iron, (1,))}


def test_images_in_an_imgs_subfolder_are_read(tmp_path):
    pits = copy_images("pitted_surface", tmp_path / "pit" / "Imgs", 2)
    scratches = copy_images("scratches", tmp_path / "scratch" / "Imgs", 2)

    dataset = open_dataset(tmp_path)
    assert dataset.layout == "image-folders" and dataset.class_names == ("pit", "scratch")
    assert labels_by_stem(dataset) == {**dict.fromkeys(pits, (0,)), **dict.fromkeys(scratches, (1,))}


def test_neu_det_images_read_as_image_folders_while_its_root_stays_neu_det():
    dataset = open_dataset(NEU_IMAGES)
    assert dataset.layout == "image-folders" and dataset.task == "single-label"
    assert dataset.class_names == ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale",
                                   "scratches")
    assert len(dataset.samples) == 1440 and not dataset.problems
    assert np.bincount([s.labels[0] for s in dataset.samples]).tolist() == [240] * 6
    with_boxes = open_dataset(NEU)
    assert with_boxes.class_names == dataset.class_names
    assert {s.image_path: s.labels for s in with_boxes.samples} == {s.image_path: s.labels for s in dataset.samples}
    assert detect_layout(NEU.parent) == "neu-det-parent" and open_dataset(NEU.parent).layout == "neu-det"
    assert detect_layout(NEU) == "neu-det"


def test_an_empty_class_folder_is_a_problem_not_an_error(tmp_path):
    copy_images("crazing", tmp_path / "crazing", 2)
    copy_images("scratches", tmp_path / "scratches", 2)
    (tmp_path / "patches").mkdir()

    dataset = open_dataset(tmp_path)
    assert dataset.class_names == ("crazing", "patches", "scratches") and len(dataset.samples) == 4
    assert len(dataset.problems) == 1
    assert f"{tmp_path / 'patches'}/: holds no images" in dataset.problems[0]
    assert "add images of patches or remove the folder" in dataset.problems[0]


def test_one_class_folder_is_not_a_dataset(tmp_path):
    copy_images("crazing", tmp_path / "crazing", 2)
    with pytest.raises(DatasetError, match="no known dataset layout"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="1 class folder.*two or more.*a folder per class"):
        read_image_folders(tmp_path)


@pytest.mark.parametrize("folders", [("images",), ("images", "masks"), ("images", "labels")])
def test_other_layouts_missing_their_index_file_are_not_class_folders(tmp_path, folders):
    for name in folders:
        copy_images("crazing", tmp_path / name, 2)
    assert detect_layout(tmp_path) == ""


def test_a_mask_beside_an_image_makes_it_the_mask_variant(tmp_path):
    with_mask, without = copy_images("crazing", tmp_path / "crazing", 2)
    copy_images("scratches", tmp_path / "scratches", 1)
    mask = np.zeros((200, 200), np.uint8)
    mask[50:60, 20:40] = 255
    Image.fromarray(mask).save(tmp_path / "crazing" / f"{with_mask}.png")

    dataset = open_dataset(tmp_path)
    assert dataset.layout == "class-folders"
    assert labels_by_stem(dataset) == {with_mask: (0,)}  # images without a mask are problems, never clean
    assert sum(f"{without}.jpg: has no mask" in p for p in dataset.problems) == 1


def test_the_mask_variant_keeps_split_folders_too(tmp_path):
    mask = np.zeros((200, 200), np.uint8)
    mask[:10, :10] = 255
    for split, start in (("train", 0), ("val", 5)):
        for name in ("crazing", "scratches"):
            (stem,) = copy_images(name, tmp_path / split / f"MT_{name}" / "Imgs", 1, start=start)
            Image.fromarray(mask).save(tmp_path / split / f"MT_{name}" / "Imgs" / f"{stem}.png")
        copy_images("patches", tmp_path / split / "MT_Free" / "Imgs", 1, start=start)

    dataset = open_dataset(tmp_path)
    assert dataset.layout == "class-folders" and dataset.task == "multi-label" and not dataset.problems
    assert dataset.class_names == ("crazing", "scratches")
    assert {split: sorted(dataset.samples[i].labels for i in dataset.split_indices(split))
            for split in ("train", "val")} == {"train": [(), (0,), (1,)], "val": [(), (0,), (1,)]}


def test_data_describe_on_the_command_line(tmp_path):
    copy_images("crazing", tmp_path / "crazing", 2)
    copy_images("scratches", tmp_path / "scratches", 1)
    done = subprocess.run([sys.executable, "-m", "core.cli.main", "data", "describe", str(tmp_path)], cwd=PROJECT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "image-folders layout, single-label, 2 classes: crazing, scratches" in done.stdout
    assert "3 images read: 3 defective, 0 clean" in done.stdout
