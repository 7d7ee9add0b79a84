"""The classifier's pooling: peak pooling scores each class at its strongest position."""

import json

import numpy as np
import pytest
import torch

from core.contract.errors import ModelSetError
from core.datasets.synthetic import make_strip
from core.engine.inference import Inspector
from core.modelsets.modelset import CARD_FILE, read_card
from core.modelsets.networks import PeakResNet, backbone_features, build_classifier, classifier_head
from tests.conftest import make_tiny_model_set


def _per_position_scores(classifier: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(N, H, W, K): the linear head applied by hand at every position of the last feature map."""
    top = backbone_features(classifier, x)[-1]
    return top.permute(0, 2, 3, 1) @ classifier.fc.weight.T + classifier.fc.bias


def test_peak_pooling_is_the_strongest_positions_linear_score():
    torch.manual_seed(0)
    classifier = build_classifier("resnet18", 4, "peak").eval()
    x = torch.randn(2, 3, 96, 320)
    with torch.no_grad():
        expected = _per_position_scores(classifier, x).amax(dim=(1, 2))
        average = build_classifier("resnet18", 4, "avg").eval()
        average.load_state_dict(classifier.state_dict())  # same keys, same weights
        averaged = _per_position_scores(average, x).mean(dim=(1, 2))
        torch.testing.assert_close(classifier(x), expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(classifier_head(classifier, backbone_features(classifier, x)[-1]), expected)
        torch.testing.assert_close(average(x), averaged, rtol=1e-4, atol=1e-4)
    assert isinstance(classifier, PeakResNet) and not isinstance(average, PeakResNet)
    assert (expected > averaged).all()  # the peak of several positions exceeds their mean


def test_peak_model_set_round_trips_through_the_engine(tmp_path):
    folder = make_tiny_model_set(tmp_path / "peak", classifier_pooling="peak")
    assert read_card(folder).classifier_pooling == "peak"
    inspector = Inspector.load(folder, "cpu", precision="fp32")
    assert isinstance(inspector.model_set.classifier, PeakResNet)
    pixels = np.ascontiguousarray(make_strip(4, (2,)).pixels[:128, :512])
    verdict = inspector.inspect(pixels)
    with torch.inference_mode():
        logits = _per_position_scores(inspector.model_set.classifier, inspector.to_tensor([pixels])).amax(dim=(1, 2))
    np.testing.assert_allclose(verdict.probabilities, torch.sigmoid(logits)[0].numpy(), atol=1e-5)


def test_unknown_pooling_is_refused_naming_the_card(tmp_path):
    folder = make_tiny_model_set(tmp_path / "bad")
    card = json.loads((folder / CARD_FILE).read_text())
    card["classifier_pooling"] = "median"
    (folder / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelSetError, match="classifier_pooling 'median' is unknown"):
        read_card(folder)


def test_cards_written_before_pooling_existed_load_as_average(tmp_path):
    folder = make_tiny_model_set(tmp_path / "old")
    card = json.loads((folder / CARD_FILE).read_text())
    del card["classifier_pooling"]
    (folder / CARD_FILE).write_text(json.dumps(card))
    assert read_card(folder).classifier_pooling == "avg"
