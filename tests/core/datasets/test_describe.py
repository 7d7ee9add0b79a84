"""`steelscan data describe` and the summary behind it, on a generated YOLO export."""

import json

from core.cli.main import main
from core.datasets import open_dataset
from core.datasets.describe import describe
from tests.core.datasets.test_yolo import write_yolo


def test_summary_counts_splits_classes_sizes_areas_and_problems(tmp_path, capsys):
    root = write_yolo(tmp_path / "yolo", {
        "train": {"a": "0 0.0 0.0 0.5 0.0 0.5 0.5 0.0 0.5\n", "b": "1 0.5 0.5 1.0 1.0\n", "c": "", "bad": "0 1 2\n"},
        "val": {"d": "0 0.5 0.5 0.5 0.5\n1 0.5 0.5 0.1 0.1\n"},
    }, "train: images/train\nval: images/val\nnames: [crack, pit]\n")
    summary = describe(open_dataset(root))
    assert (summary.images, summary.defective, summary.clean) == (4, 3, 1)
    assert summary.per_split == {"train": {"images": 3, "defective": 2, "clean": 1, "crack": 1, "pit": 1},
                                 "val": {"images": 1, "defective": 1, "crack": 1, "pit": 1}}
    assert summary.width_range == (80, 80) and summary.height_range == (40, 40) and summary.own_split
    # a: a quarter of the image; b: the whole image; d: a quarter (its pit lies inside the crack box).
    assert abs(summary.mask_area_quantiles["min"] - 0.25) < 0.03 and summary.mask_area_quantiles["max"] == 1.0
    assert len(summary.problems) == 1 and "bad.txt line 1" in summary.problems[0]

    assert main(["data", "describe", str(root)]) == 0
    text = capsys.readouterr().out
    assert "4 images read: 3 defective, 1 clean" in text and "bad.txt line 1" in text
    assert "split: the dataset's own" in text
    assert main(["data", "describe", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["per_split"]["val"]["images"] == 1


def test_describe_names_a_folder_it_cannot_read(tmp_path, capsys):
    assert main(["data", "describe", str(tmp_path)]) == 1
    assert "matches no known dataset layout" in capsys.readouterr().err
