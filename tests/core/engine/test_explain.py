import copy
import threading

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from core.datasets.synthetic import make_strip
from core.engine.explain import explain


def _image(seed=3, height=96, width=256):
    return np.ascontiguousarray(make_strip(seed, (0, 2)).pixels[:height, :width])


def _hook_count(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in module.modules())


def test_heatmap_has_the_image_size_and_range(tiny_inspector):
    result = explain(tiny_inspector, _image(), "scratches")
    assert result.heatmap.shape == (96, 256) and result.heatmap.dtype == np.float32
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0
    assert result.class_name == "scratches" and 0.0 <= result.probability <= 1.0


@pytest.fixture(scope="module")
def peak_inspector(tmp_path_factory):
    from core.engine.inference import Inspector
    from tests.conftest import make_tiny_model_set

    return Inspector.load(make_tiny_model_set(tmp_path_factory.mktemp("peak") / "tiny", classifier_pooling="peak"),
                          "cpu")


@pytest.mark.parametrize("pooling", ["avg", "peak"])
def test_last_stage_cam_equals_the_library_default(pooling, request):
    """Skipping gradients below layer4 must not change the picture, whatever the head's pooling."""
    inspector = request.getfixturevalue("tiny_inspector" if pooling == "avg" else "peak_inspector")
    image = _image()
    ours = explain(inspector, image, "pits").heatmap
    assert ours.max() > 0  # a heatmap, not an empty picture that would equal anything
    # The library's default needs weights that require gradients: a trainable copy.
    classifier = copy.deepcopy(inspector.model_set.classifier).requires_grad_(True)
    x = inspector.to_tensor([image])
    with GradCAM(model=classifier, target_layers=[classifier.layer4[-1]]) as cam:
        reference = cam(input_tensor=x, targets=[ClassifierOutputTarget(0)])[0]
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_hooks_are_released_and_the_model_is_untouched(tiny_inspector):
    classifier = tiny_inspector.model_set.classifier
    before = {k: v.clone() for k, v in classifier.state_dict().items()}
    hooks = _hook_count(classifier)
    for _ in range(3):
        explain(tiny_inspector, _image(), "crazing")
    assert _hook_count(classifier) == hooks
    assert all(p.grad is None and not p.requires_grad for p in classifier.parameters())
    assert all(torch.equal(before[k], v) for k, v in classifier.state_dict().items())


def test_concurrent_users_get_their_own_heatmaps(tiny_inspector):
    images = {seed: _image(seed) for seed in (1, 2, 3, 4)}
    expected = {seed: explain(tiny_inspector, img, "patches").heatmap for seed, img in images.items()}
    got: dict[int, np.ndarray] = {}

    def worker(seed: int) -> None:
        got[seed] = explain(tiny_inspector, images[seed], "patches").heatmap

    threads = [threading.Thread(target=worker, args=(s,)) for s in images]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in images:
        np.testing.assert_allclose(got[seed], expected[seed], atol=1e-5)


def test_unknown_class_is_refused_with_the_choices(tiny_inspector):
    with pytest.raises(ValueError, match="choose from pits, crazing"):
        explain(tiny_inspector, _image(), "rust")
