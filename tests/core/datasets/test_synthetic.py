import numpy as np

from core.datasets.synthetic import make_strip


def test_same_seed_same_strip():
    a, b = make_strip(42), make_strip(42)
    assert np.array_equal(a.pixels, b.pixels) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.pixels, make_strip(43).pixels)


def test_requested_classes_get_masks_and_clean_strips_none():
    for classes in [(), (0,), (1,), (2,), (3,), (0, 2), (1, 3)]:
        strip = make_strip(7, classes)
        assert strip.pixels.shape == (256, 1600, 3) and strip.masks.shape == (4, 256, 1600)
        assert strip.classes == classes


def test_defects_change_the_pixels_under_their_masks():
    for kind in range(4):
        with_defect = make_strip(11, (kind,))
        mask = with_defect.masks[kind].astype(bool)
        grey = with_defect.pixels[:, :, 0].astype(np.float32)
        # Compare with the strip's own texture just around the defect.
        import cv2
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~mask
        assert abs(grey[mask].mean() - grey[ring].mean()) > 8, kind


def test_dark_and_bright_variants():
    assert make_strip(5, (), "dark").pixels.mean() < make_strip(5, (), "bright").pixels.mean() - 30
