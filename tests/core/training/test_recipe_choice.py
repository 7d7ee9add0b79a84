"""`auto` picks the recipe from real data in every layout: magnetic-tile photographs outlined by YOLO or COCO
polygons (one in 2.5:1, not a strip), the same defects as YOLO boxes, Severstal strips, NEU-DET class folders."""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.cli.train import build_parser
from core.datasets import open_dataset
from core.datasets.base import is_box_shape
from core.training.data import ImageCache, split_dataset
from core.training.recipe import has_boxes, has_pixel_masks, is_strip, pick_recipe
from tests.conftest import NEU, SEVERSTAL, SHARED

MAGNETIC_TILE = SHARED / "magnetic-tile"
CLASSES = ("Crack", "Blowhole")
TALL = (500, 1247)  # width x height: a 2.5:1 photograph, far from a 6.25:1 Severstal strip


def needs(folder: Path) -> Path:
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return folder


def tile_items() -> list[tuple[str, str, np.ndarray, np.ndarray, int | None]]:
    """(split, name, grey image, 0/1 mask, class) for 12 magnetic-tile images: 4 clean, 4 cracks, 4 blowholes.
    Two of each kind's three training images are stretched to 500 x 1247, so the median training image is too."""
    items = []
    for cls, folder in ((None, "MT_Free"), (0, "MT_Crack"), (1, "MT_Blowhole")):
        paths = sorted((needs(MAGNETIC_TILE) / folder / "Imgs").glob("*.jpg"))[:4]
        for n, path in enumerate(paths):
            grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            mask = (cv2.imread(str(path.with_suffix(".png")), cv2.IMREAD_GRAYSCALE) >= 128).astype(np.uint8)
            if n < 2:
                grey = cv2.resize(grey, TALL, interpolation=cv2.INTER_AREA)
                mask = cv2.resize(mask, TALL, interpolation=cv2.INTER_NEAREST)
            assert (cls is None) == (not mask.any()), path
            items.append(("val" if n == 3 else "train", path.stem, grey, mask, cls))
    return items


def polygons(mask: np.ndarray) -> list[np.ndarray]:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2) for c in contours if len(c) >= 3]


def write_yolo(root: Path, boxes_only: bool = False) -> Path:
    root.mkdir(parents=True)
    (root / "data.yaml").write_text(f"names: {list(CLASSES)}\ntrain: images/train\nval: images/val\n")
    for split, name, grey, mask, cls in tile_items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), grey)
        height, width = grey.shape
        lines = []
        for points in polygons(mask) if cls is not None else []:
            if boxes_only:
                x, y, w, h = cv2.boundingRect(points)
                values = ((x + w / 2) / width, (y + h / 2) / height, w / width, h / height)
            else:
                values = (points / (width, height)).ravel()
            lines.append(f"{cls} " + " ".join(f"{v:.6f}" for v in values))
        (root / "labels" / split / f"{name}.txt").write_text("\n".join(lines))
    return root


def write_coco(root: Path) -> Path:
    exports = {split: {"images": [], "annotations": [],
                       "categories": [{"id": k + 1, "name": name} for k, name in enumerate(CLASSES)]}
               for split in ("train", "val")}
    for split, name, grey, mask, cls in tile_items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), grey)
        export = exports[split]
        image_id = len(export["images"]) + 1
        export["images"].append({"id": image_id, "file_name": f"{name}.jpg", "width": grey.shape[1],
                                 "height": grey.shape[0]})
        for points in polygons(mask) if cls is not None else []:
            export["annotations"].append({"id": len(export["annotations"]) + 1, "image_id": image_id,
                                          "category_id": cls + 1, "iscrowd": 0,
                                          "segmentation": [points.ravel().astype(float).tolist()]})
    (root / "annotations").mkdir()
    for split, export in exports.items():
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(export))
    return root


def write_neu_class_folders(root: Path) -> Path:
    for name in ("crazing", "patches", "scratches"):
        (root / name).mkdir(parents=True)
        for path in sorted((needs(NEU) / "images" / name).glob("*.jpg"))[:8]:
            shutil.copy(path, root / name / path.name)
    return root


def recipe_for(folder: Path):
    dataset = open_dataset(folder)
    assert not dataset.problems, dataset.problems
    args = build_parser().parse_args([str(folder), "--out", "x"])
    split = split_dataset(dataset, args.val_fraction, args.holdout_fraction, args.seed)
    return dataset, pick_recipe(args, dataset, ImageCache(dataset), split.train)


def test_only_axis_aligned_four_corner_polygons_are_boxes():
    assert is_box_shape((0, "polygon", (0.1, 0.2, 0.5, 0.2, 0.5, 0.6, 0.1, 0.6)))
    assert not is_box_shape((0, "polygon", (0.3, 0.1, 0.5, 0.3, 0.3, 0.5, 0.1, 0.3)))  # a diamond: 4 points
    assert not is_box_shape((0, "polygon", (0.1, 0.2, 0.5, 0.2, 0.5, 0.6)))  # a triangle
    assert not is_box_shape((0, "polygon", (0.1, 0.2, 0.5, 0.2, 0.5, 0.6, 0.1, 0.6, 0.05, 0.4)))
    assert not is_box_shape((0, "coco-rle", '{"size": [4, 4], "counts": "04"}'))


def test_strips_start_at_four_to_one_either_way():
    assert is_strip(4.0) and is_strip(0.25) and is_strip(6.25)
    assert not is_strip(3.99) and not is_strip(1 / 2.5) and not is_strip(1.0)


@pytest.mark.parametrize("writer", [write_yolo, write_coco], ids=["yolo-polygons", "coco-polygons"])
def test_polygon_outlined_photographs_train_jointly_on_whole_images_even_at_2_5_to_1(tmp_path, writer):
    dataset, recipe = recipe_for(writer(tmp_path / "tiles"))
    assert dataset.layout == writer.__name__.removeprefix("write_")
    assert has_pixel_masks(dataset) and not has_boxes(dataset)
    assert (recipe.trainer, recipe.geometry, recipe.arch, recipe.seg_weight) == ("joint", "whole", "resnet-slim", 1.0)
    # median of the training images is 500 / 1247 wide: about 224 x 224 pixels in that shape, multiples of 32
    assert recipe.input_size == (352, 128)
    assert recipe.class_scores == "head+mask"
    assert "pixel masks" in recipe.why and "2.5:1" in recipe.why and "strip" not in recipe.why


def test_yolo_boxes_of_the_same_defects_go_to_the_staged_trainer(tmp_path):
    dataset, recipe = recipe_for(write_yolo(tmp_path / "boxes", boxes_only=True))
    assert has_boxes(dataset) and not has_pixel_masks(dataset)
    assert (recipe.trainer, recipe.geometry, recipe.input_size, recipe.arch) == ("staged", "patch", None, "resnet50")
    assert recipe.seg_weight == 1.0  # the staged trainer's segmenter keeps the command line's weight
    assert "boxes only" in recipe.why


def test_severstal_strips_stay_at_native_scale_staged():
    dataset, recipe = recipe_for(needs(SEVERSTAL))
    assert has_pixel_masks(dataset) and not has_boxes(dataset)
    assert (recipe.trainer, recipe.geometry, recipe.input_size, recipe.arch) == ("staged", "strip", None, "resnet50")
    assert recipe.seg_weight == 1.0
    assert "long strips" in recipe.why and "6.2:1" in recipe.why


def test_image_labels_only_train_the_whole_image_classifier_without_a_pixel_loss(tmp_path):
    dataset, recipe = recipe_for(write_neu_class_folders(tmp_path / "neu"))
    assert dataset.layout == "image-folders" and not has_pixel_masks(dataset) and not has_boxes(dataset)
    assert (recipe.trainer, recipe.geometry, recipe.input_size, recipe.arch) == ("joint", "whole", (224, 224),
                                                                               "resnet-slim")
    assert recipe.seg_weight == 0.0 and recipe.class_scores == "head"
    assert "image labels only" in recipe.why
