import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from core.contract.errors import ModelSetError
from core.modelsets.card_schema import CARD_SCHEMA_VERSION, upgrade_card
from core.modelsets.modelset import (
    CARD_FILE,
    CLASSIFIER_FILE,
    SEGMENTER_FILE,
    build_networks,
    load_model_set,
    new_card,
    read_card,
    save_model_set,
)
from tests.conftest import make_tiny_model_set
from tests.helpers.hostile_corpus import HOSTILE_CARD_EDITS


def test_card_holds_what_an_engineer_needs(tiny_set):
    card = json.loads((tiny_set / CARD_FILE).read_text())
    for key in (
        "name",
        "version",
        "task",
        "classes",
        "classifier_architecture",
        "segmenter_encoder",
        "mean",
        "std",
        "trained",
        "pretrained",
        "created",
        "data_fingerprint",
        "metrics",
        "sha256",
    ):
        assert key in card
    assert {"name", "color", "threshold", "min_area", "pixel_threshold"} <= set(card["classes"][0])
    assert set(card["sha256"]) == {CLASSIFIER_FILE, SEGMENTER_FILE}
    assert card["trained"] is False


def test_saved_and_reloaded_networks_give_the_original_outputs(tmp_path):
    """Compare with the networks as they were before saving, not a second load of the same file."""
    torch.manual_seed(3)
    card = new_card("round-trip", ("a", "b", "c"), classifier_architecture="resnet18", segmenter_encoder="resnet18",
                    decoder_channels=(32, 16, 8, 8, 8))
    classifier, segmenter = build_networks(card)
    for module in (classifier, segmenter):  # non-trivial BatchNorm statistics travel too
        for bn in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
    classifier.eval(), segmenter.eval()
    save_model_set(tmp_path / "set", card, classifier, segmenter)
    loaded = load_model_set(tmp_path / "set")

    for name, original in classifier.state_dict().items():  # fp16 on disk: equal to the original rounded once
        reloaded = loaded.classifier.state_dict()[name]
        expected = original.half().to(reloaded.dtype) if original.is_floating_point() else original
        assert torch.equal(reloaded, expected), name
    x = torch.rand(2, 3, 64, 128)
    with torch.inference_mode():
        before_logits, after_logits = classifier(x), loaded.classifier(x)
        before_masks, after_masks = segmenter(x), loaded.segmenter(x)
    assert before_logits.shape == after_logits.shape == (2, 3)
    assert torch.allclose(before_logits, after_logits, rtol=2e-2, atol=2e-2)
    assert torch.allclose(before_masks, after_masks, rtol=2e-2, atol=2e-2)
    assert not torch.allclose(after_logits[0], after_logits[1])  # outputs depend on the input, not constants
    assert all(not p.requires_grad for p in loaded.classifier.parameters())
    # The shared encoder really is the classifier's backbone, not a copy.
    assert loaded.segmenter.encoder.conv1.weight.data_ptr() == loaded.classifier.conv1.weight.data_ptr()


@pytest.fixture()
def copy_of(tiny_set, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_set, folder)
    return folder


def test_tampered_weights_are_refused_naming_the_file(copy_of):
    path = copy_of / SEGMENTER_FILE
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelSetError, match=f"{SEGMENTER_FILE}.*does not match"):
        load_model_set(copy_of)


def test_truncated_weights_are_refused(copy_of):
    path = copy_of / CLASSIFIER_FILE
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelSetError, match=f"{CLASSIFIER_FILE}.*truncated"):
        load_model_set(copy_of)


def test_missing_weights_and_card_are_named(copy_of):
    (copy_of / SEGMENTER_FILE).unlink()
    with pytest.raises(ModelSetError, match=f"{SEGMENTER_FILE}: is missing"):
        load_model_set(copy_of)
    (copy_of / CARD_FILE).unlink()
    with pytest.raises(ModelSetError, match=f"{CARD_FILE}: is missing"):
        load_model_set(copy_of)


def test_broken_card_is_refused(copy_of):
    (copy_of / CARD_FILE).write_text("{not json")
    with pytest.raises(ModelSetError, match="not valid JSON"):
        read_card(copy_of)
    (copy_of / CARD_FILE).write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelSetError, match="not a valid model card"):
        read_card(copy_of)


def test_weights_that_fit_another_architecture_are_refused(tmp_path):
    make_tiny_model_set(tmp_path / "a")
    card = json.loads((tmp_path / "a" / CARD_FILE).read_text())
    card["classifier_architecture"] = card["segmenter_encoder"] = "resnet34"
    (tmp_path / "a" / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelSetError, match="does not match the card's architecture"):
        load_model_set(tmp_path / "a")


# -- the card schema -------------------------------------------------------------------------------

SHIPPED = Path(__file__).resolve().parents[3] / "models"


@pytest.mark.parametrize("name", ["severstal-synthetic", "neu-det"])
def test_the_shipped_cards_load_as_written_and_as_the_previous_release_wrote_them(name, tmp_path):
    card = read_card(SHIPPED / name)
    assert card.schema_version == CARD_SCHEMA_VERSION and card.name == name
    assert len(card.classes) >= 4 and all(c.color.startswith("#") for c in card.classes)
    raw = json.loads((SHIPPED / name / CARD_FILE).read_text())
    raw.pop("schema_version", None)  # the previous release wrote no version: upgraded on load
    (tmp_path / CARD_FILE).write_text(json.dumps(raw))
    assert read_card(tmp_path) == card


def test_upgrade_is_pure_and_fills_what_old_cards_meant():
    old = {"name": "x", "version": "1", "task": "multi-label", "classes": []}
    new = upgrade_card(old)
    assert old == {"name": "x", "version": "1", "task": "multi-label", "classes": []}  # input untouched
    assert new["schema_version"] == 2 and new["classifier_pooling"] == "avg" and new["normalisation"] == "fixed"
    assert upgrade_card(new) == new


HOSTILE_CARDS = HOSTILE_CARD_EDITS  # tests/helpers/hostile_corpus.py


@pytest.mark.parametrize("where, value, expected", HOSTILE_CARDS)
def test_a_bad_card_gets_one_line_naming_the_field(copy_of, where, value, expected):
    card = json.loads((copy_of / CARD_FILE).read_text())
    target = card
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = value
    (copy_of / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelSetError) as caught:
        read_card(copy_of)
    message = str(caught.value)
    assert re.search(expected, message), message
    assert "\n" not in message and message.startswith(str(copy_of / CARD_FILE))
