"""The COCO reader on small exports written here: polygons, RLE (compressed and iscrowd), bbox-only,
several JSON files for several splits, clean images, and bad annotations."""

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from core.datasets import open_dataset
from tests.core.datasets.test_yolo import HEIGHT, WIDTH, write_image


def rect(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


def compressed_rle(mask: np.ndarray) -> dict:
    rle = coco_mask.encode(np.asfortranarray(mask))
    return {"size": rle["size"], "counts": rle["counts"].decode()}


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's iscrowd form: run lengths over the column-major pixels, starting with background."""
    flat = mask.flatten(order="F")
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    return {"size": [HEIGHT, WIDTH], "counts": counts}


def write_coco(root: Path, split: str, images: list[str], annotations: list[dict],
               categories=({"id": 1, "name": "crack"}, {"id": 2, "name": "pit"})) -> Path:
    for n, name in enumerate(images):
        write_image(root / "images" / split / name, n)
    data = {"images": [{"id": i + 1, "file_name": name, "width": WIDTH, "height": HEIGHT}
                       for i, name in enumerate(images)],
            "annotations": [{"id": k + 1, "iscrowd": 0, **a} for k, a in enumerate(annotations)],
            "categories": list(categories)}
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    path = root / "annotations" / f"instances_{split}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def export(tmp_path) -> Path:
    root = tmp_path / "coco"
    write_coco(root, "train", ["poly.png", "rle.png", "clean.png"], [
        {"image_id": 1, "category_id": 1, "segmentation": [[8, 4, 40, 4, 40, 36, 8, 36]], "bbox": [8, 4, 32, 32]},
        {"image_id": 2, "category_id": 2, "segmentation": compressed_rle(rect(50, 10, 70, 30))},
        {"image_id": 2, "category_id": 1, "iscrowd": 1, "segmentation": uncompressed_rle(rect(0, 0, 10, 40))},
    ])
    write_coco(root, "val", ["box.png"], [{"image_id": 1, "category_id": 2, "bbox": [60, 20, 10, 10]}])
    return root


def test_polygons_rle_crowds_and_boxes_become_masks(export):
    dataset = open_dataset(export)
    assert dataset.layout == "coco" and dataset.class_names == ("crack", "pit") and not dataset.problems
    by_name = {s.image_path.name: s for s in dataset.samples}
    assert by_name["clean.png"].labels == ()
    assert by_name["rle.png"].labels == (0, 1)
    rle = by_name["rle.png"].masks(HEIGHT, WIDTH, 2)
    assert np.array_equal(rle[1], rect(50, 10, 70, 30))
    assert np.array_equal(rle[0], rect(0, 0, 10, 40))  # the iscrowd region, from its uncompressed RLE
    poly = by_name["poly.png"].masks(HEIGHT, WIDTH, 2)[0]
    assert poly[20, 20] and not poly[20, 45] and abs(int(poly.sum()) - 33 * 33) < 80
    box = by_name["box.png"].masks(HEIGHT, WIDTH, 2)[1]
    ys, xs = np.nonzero(box)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (60, 70, 20, 30)


def test_one_json_per_split_is_kept_as_the_split(export):
    dataset = open_dataset(export)
    assert {s.image_path.name: s.split for s in dataset.samples} == {
        "poly.png": "train", "rle.png": "train", "clean.png": "train", "box.png": "val"}


def test_bad_annotations_and_unlisted_images_are_reported(tmp_path):
    root = tmp_path / "bad"
    write_coco(root, "train", ["good.png", "odd.png", "unknown.png"], [
        {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
        {"image_id": 2, "category_id": 1, "segmentation": [[1, 1, 5, 5]]},
        {"image_id": 3, "category_id": 9, "bbox": [1, 1, 5, 5]},
        {"image_id": 42, "category_id": 1, "bbox": [1, 1, 5, 5]},
    ])
    write_image(root / "images" / "train" / "stray.png", 7)
    dataset = open_dataset(root)
    assert [s.image_path.name for s in dataset.samples] == ["good.png"]
    text = "\n".join(dataset.problems)
    assert "instances_train.json: annotation 2 (odd.png) has a polygon with fewer than 3 points" in text
    assert "annotation 3 names category 9" in text
    assert "annotation 4 names image id 42" in text
    assert "stray.png: is in no COCO JSON" in text
    assert "odd.png: is in no COCO JSON" not in text  # reported once, for its annotation


def test_roboflow_s_parent_category_is_dropped(tmp_path):
    root = tmp_path / "rf"
    write_coco(root, "train", ["a.png"], [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
               categories=({"id": 0, "name": "defects", "supercategory": "none"},
                           {"id": 1, "name": "dent", "supercategory": "defects"}))
    assert open_dataset(root).class_names == ("dent",)
