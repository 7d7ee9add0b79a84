"""The glare check really shows the engine changed pictures: each condition alters the pixels the way its name
says, and evaluate_indices hands the engine the transformed pixels (an identity transform fails here)."""

import cv2
import numpy as np
import pytest

from core.datasets import open_dataset
from core.evaluation.evaluate import CONDITIONS, brighten, darken, evaluate_indices, glare_spot


@pytest.fixture()
def grey_image() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(80, 120, (64, 160, 3), dtype=np.uint8)


def test_brighten_and_darken_move_the_mean_the_way_they_say(grey_image):
    assert brighten(grey_image).mean() == pytest.approx(grey_image.mean() * 1.3 + 40, abs=1.0)
    assert darken(grey_image).mean() == pytest.approx(grey_image.mean() * 0.55, abs=1.0)


def test_glare_spot_brightens_its_centre_not_the_far_corner(grey_image):
    spotted = glare_spot(grey_image).astype(int)
    height, width = grey_image.shape[:2]
    centre = (int(height * 0.5), int(width * 0.4))
    assert spotted[centre].mean() - grey_image[centre].mean() > 60
    assert abs(spotted[0, -1].mean() - grey_image[0, -1].mean()) < 10


class RecordingInspector:
    """The real engine, with a record of exactly which pixels it was given."""

    def __init__(self, inspector):
        self.inner, self.card, self.seen = inspector, inspector.card, []

    def inspect_many(self, sources):
        def recorded():
            for source in sources:
                self.seen.append(source)
                yield source
        return self.inner.inspect_many(recorded())


def test_each_condition_reaches_the_engine_transformed(tiny_inspector, tmp_path, grey_image):
    (tmp_path / "images").mkdir()
    (tmp_path / "classes.txt").write_text("\n".join(tiny_inspector.card.class_names) + "\n")
    cv2.imwrite(str(tmp_path / "images" / "one.png"), grey_image[:, :, ::-1])
    dataset = open_dataset(tmp_path)
    for name, transform in CONDITIONS.items():
        recorder = RecordingInspector(tiny_inspector)
        result = evaluate_indices(recorder, dataset, [0], transform)
        assert result["summary"]["images"] == 1, name
        (given,) = recorder.seen
        assert isinstance(given, np.ndarray), name
        assert np.array_equal(given, transform(grey_image)), name
        assert not np.array_equal(given, grey_image), name
