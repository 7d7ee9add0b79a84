"""The joint trainer learns: its pixel loss is not held up by empty mask channels, and it overfits
a handful of generated images (near-zero loss, Dice near 1 on the whole images, clean vs defective
told apart). A trainer that cannot overfit 8 images has a bug, whatever its schedule."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from core.datasets import open_dataset
from core.modelsets.modelset import build_networks, new_card
from core.modelsets.preprocess import Normaliser
from core.training.data import CropDataset, ImageCache, make_sampler
from core.training.joint import any_defect_loss, init_mask_prior, train_joint
from core.training.loops import dice_bce_loss, whole_image_outputs
from tests.core.training.test_pipeline import write_mask_folder


def _perfect_logits(masks: torch.Tensor, margin: float = 12.0) -> torch.Tensor:
    return (masks * 2 - 1) * margin


def test_a_perfect_prediction_scores_near_zero_even_with_empty_channels():
    # 3 classes on 128 px crops, only one channel of one crop holds a defect: the usual batch.
    masks = torch.zeros(4, 3, 128, 128)
    masks[0, 1, 40:60, 40:60] = 1
    assert dice_bce_loss(_perfect_logits(masks), masks).item() < 0.01
    # all-clean batch: BCE only, also near zero when predicted empty
    clean = torch.zeros(4, 3, 128, 128)
    assert dice_bce_loss(_perfect_logits(clean), clean).item() < 0.01


def test_missing_the_defect_costs_more_than_a_faint_background():
    masks = torch.zeros(2, 2, 64, 64)
    masks[0, 0, 10:30, 10:30] = 1
    missed = torch.full_like(masks, -8.0)  # predicts nothing anywhere
    faint = _perfect_logits(masks)
    faint[masks == 0] = -3.0  # finds the defect, background at p~0.05
    assert dice_bce_loss(faint, masks) < dice_bce_loss(missed, masks)


@pytest.mark.parametrize("per_image", [False, True])
def test_a_perfect_prediction_scores_near_zero_per_batch_and_per_image(per_image):
    masks = torch.zeros(3, 2, 64, 64)
    masks[0, 0, 10:13, 10:13] = 1
    masks[1, 1, :, :40] = 1  # image 2 is clean
    assert dice_bce_loss(_perfect_logits(masks), masks, per_image=per_image).item() < 0.01


def test_per_image_dice_pulls_harder_on_a_small_defect_beside_a_large_one():
    # A 3x3 blowhole in image 0 and a large unevenness of the same class in image 1, nothing predicted yet
    # (logits at the trained background's ~0.001): the gradient on the blowhole's pixels is what lets the
    # network start finding it. Scored per image it is far larger than when the large defect shares its Dice.
    masks = torch.zeros(4, 1, 160, 160)  # images 2 and 3 are clean
    masks[0, 0, 30:33, 30:33] = 1
    masks[1, 0, :, :80] = 1
    pulls = {}
    for per_image in (False, True):
        logits = torch.full_like(masks, -7.0, requires_grad=True)
        dice_bce_loss(logits, masks, per_image=per_image).backward()
        pulls[per_image] = -logits.grad[0, 0, 30:33, 30:33].mean().item()
    assert pulls[False] > 0 and pulls[True] > 3 * pulls[False]


def test_any_defect_loss_asks_every_class_to_stay_low_on_clean_images():
    target = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    right = torch.tensor([[-6.0, -6.0, -6.0], [-6.0, 6.0, -6.0]])
    assert any_defect_loss(right, target).item() < 0.01
    # one class firing on the clean image costs as much as missing the defect
    fired = torch.tensor([[-6.0, 6.0, -6.0], [-6.0, 6.0, -6.0]])
    missed = torch.tensor([[-6.0, -6.0, -6.0], [-6.0, -6.0, -6.0]])
    assert any_defect_loss(fired, target).item() > 2.5 and any_defect_loss(missed, target).item() > 2.5
    # a defect found by another class's head still counts as found: it is the image's question
    assert any_defect_loss(torch.tensor([[-6.0, -6.0, -6.0], [6.0, -6.0, -6.0]]), target).item() < 0.01


@pytest.mark.slow
def test_joint_training_overfits_a_few_images(tmp_path):
    dataset = open_dataset(write_mask_folder(tmp_path / "data"))
    indices = tuple(range(8))  # blobs, stripes and clean images
    torch.manual_seed(0)
    card = new_card("t", dataset.class_names, classifier_architecture="resnet18", segmenter_encoder="resnet18",
                    classifier_pooling="peak", decoder_channels=(32, 16, 8, 8, 8))
    classifier, segmenter = build_networks(card)
    init_mask_prior(segmenter)
    normaliser = Normaliser.from_card(card)
    cache = ImageCache(dataset)
    crops = CropDataset(cache, indices, "tile", (64, 64), dataset.task, normaliser, augment=False,
                        defect_bias=0.6, seed=0)
    steps = 150
    loader = DataLoader(crops, batch_size=8, sampler=make_sampler(dataset, indices, 8 * steps, True, 0))
    history, seg_history = train_joint(classifier, segmenter, loader, dataset.task, steps, 3e-3, 1e-4,
                                       torch.device("cpu"), lambda model: {"score": 0.0}, "score", amp=False,
                                       smoothing=0.0, validations=1)
    assert np.mean(seg_history.losses[-10:]) < 0.15, seg_history.losses[-10:]
    dices, scores, defective = [], [], []
    for i in indices:
        probs, pixel_probs = whole_image_outputs(classifier, segmenter, True, cache.pixels(i), normaliser,
                                                 torch.device("cpu"), dataset.task, amp=False)
        truth = cache.masks(i).astype(bool)
        predicted = pixel_probs >= 0.5
        if truth.any():
            dices.append(2 * (predicted & truth).sum() / (predicted.sum() + truth.sum()))
        scores.append(probs.max())
        defective.append(bool(dataset.samples[i].labels))
    assert np.mean(dices) > 0.85, dices
    scores, defective = np.array(scores), np.array(defective)
    assert scores[defective].min() > scores[~defective].max(), (scores, defective)


def test_mask_head_starts_at_the_defect_prior():
    card = new_card("t", ("a", "b"), classifier_architecture="resnet18", segmenter_encoder="resnet18",
                    decoder_channels=(32, 16, 8, 8, 8))
    classifier, segmenter = build_networks(card)
    x = torch.randn(2, 3, 64, 64)

    def background_loss() -> float:
        from core.modelsets.networks import backbone_features, decode_masks

        with torch.no_grad():
            logits = decode_masks(segmenter.eval(), backbone_features(classifier.eval(), x))
        return dice_bce_loss(logits, torch.zeros_like(logits)).item()

    before = background_loss()  # every pixel starts near p = 0.5: BCE ~0.69
    init_mask_prior(segmenter, 0.01)
    assert before > 0.5 and background_loss() < 0.1
