"""Graded out-of-domain (issue 37 item 2): familiar / unusual / out of domain by per-set cut-offs in the card, an
appearance part that catches other surfaces the deep features let through, and the shipped sets flagging the other
datasets while their own images stay familiar."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from core.contract.verdict import Verdict
from core.datasets import open_dataset
from core.datasets.synthetic import make_strip
from core.engine.domain import (
    FAMILIAR,
    OUT_OF_DOMAIN,
    UNUSUAL,
    appearance_features,
    calibrate,
    fit_appearance,
    fit_domain,
    load_domain,
    out_of_domain_cutoff,
)
from core.engine.inference import Inspector
from core.evaluation.evaluate import select_indices
from core.modelsets.modelset import read_card
from tests.conftest import PROJECT, SHARED, make_tiny_model_set
from tests.core.engine.test_domain import write_strips

NEU_SET, SYNTHETIC_SET = PROJECT / "models" / "neu-det", PROJECT / "models" / "severstal-synthetic"
MAGNETIC, CR7 = SHARED / "magnetic-tile", SHARED / "cr7-det"


def spaced(items: list, count: int) -> list:
    return [items[int(i * len(items) / count)] for i in range(count)]


def test_levels_follow_the_cut_offs_and_the_appearance_part_catches_a_new_surface():
    rng = np.random.default_rng(0)
    strips = [make_strip(seed, classes=(), height=64, width=320).pixels for seed in range(40)]
    appearance, training = calibrate(np.stack([appearance_features(p) for p in strips]), fit=fit_appearance)
    cutoff = out_of_domain_cutoff(training)
    assert cutoff >= 2.0 and np.mean(training > cutoff) <= 0.002
    fresh = [make_strip(seed, classes=(), height=64, width=320).pixels for seed in range(500, 510)]
    square_patch = rng.integers(90, 110, (200, 200, 3), dtype=np.uint8)  # another size, another texture
    assert all(s <= cutoff for s in appearance.scores(np.stack([appearance_features(p) for p in fresh])))
    assert appearance.scores(appearance_features(square_patch))[0] > 3 * cutoff
    # The level of a score: one cut-off per level, the score itself is the larger of the deep and appearance parts.
    deep = rng.standard_normal((60, 16))
    model, _ = calibrate(deep)
    model = replace(model, appearance=appearance, out_of_domain_above=cutoff)
    assert [model.level(s) for s in (0.5, 1.0, 1.01, cutoff, cutoff + 0.01)] == [
        FAMILIAR, FAMILIAR, UNUSUAL, UNUSUAL, OUT_OF_DOMAIN]
    both = model.scores(deep[:1], appearance_features(square_patch)[None])
    assert both[0] == pytest.approx(appearance.scores(appearance_features(square_patch))[0])


def test_fit_domain_writes_levels_and_verdicts_carry_the_level(tmp_path):
    folder = make_tiny_model_set(tmp_path / "tiny")
    write_strips(tmp_path / "strips", range(24))
    card = fit_domain(folder, open_dataset(tmp_path / "strips"), device="cpu")
    levels = card.domain["levels"]
    assert levels["unusual"] == 1.0 and levels["out_of_domain"] >= 2.0 and "rule" in levels
    assert card.domain["appearance"]["measurements"][0] == "log width"
    inspector = Inspector.load(folder, "cpu", batch_size=4)
    assert inspector.domain.out_of_domain_above == levels["out_of_domain"]
    familiar = list(inspector.inspect_many([make_strip(s, classes=(), height=64, width=320).pixels
                                            for s in range(200, 204)]))
    patch = inspector.inspect(np.full((200, 200, 3), 200, dtype=np.uint8))
    assert [v.domain_level for v in familiar].count(OUT_OF_DOMAIN) == 0
    assert patch.domain_level == OUT_OF_DOMAIN and patch.out_of_domain
    assert len(patch.embedding) == 8
    back = Verdict.from_dict(json.loads(json.dumps(patch.to_dict())))
    assert back.domain_level == OUT_OF_DOMAIN and back.embedding == patch.embedding


def test_a_domain_without_levels_keeps_its_one_cut_off_and_old_verdicts_read_a_level(tiny_inspector):
    verdict = tiny_inspector.inspect(make_strip(3, height=64, width=320).pixels)
    stored = {k: v for k, v in verdict.to_dict().items() if k not in ("domain_level", "embedding")}
    assert Verdict.from_dict({**stored, "ood_score": 3.0, "out_of_domain": True}).domain_level == OUT_OF_DOMAIN
    assert Verdict.from_dict({**stored, "ood_score": 0.4, "out_of_domain": False}).domain_level == FAMILIAR
    assert Verdict.from_dict({**stored, "ood_score": None}).domain_level == ""


def _levels(inspector: Inspector, sources) -> list[str]:
    return [v.domain_level for v in inspector.inspect_many(sources)]


@pytest.mark.slow
def test_neu_det_calls_the_other_datasets_out_of_domain_and_its_hold_out_familiar(neu_dir, severstal_dir):
    """Before the levels, neu-det called a magnetic tile familiar (0.80) and 7 of 11 Severstal strips too."""
    if not MAGNETIC.is_dir():
        pytest.skip(f"{MAGNETIC} is absent")
    card = read_card(NEU_SET)
    assert card.domain.get("levels"), "models/neu-det has no levels: `steelscan fit-domain ... --appearance-only`"
    inspector = Inspector.load(NEU_SET, "cpu", batch_size=2, backend="torch")
    neu = open_dataset(neu_dir.parent)
    holdout = spaced([neu.samples[i].image_path for i in select_indices(neu, "holdout", card.training)], 12)
    strips = sorted((severstal_dir / "train_images").glob("*.jpg"))[:4]
    tiles = spaced([s.image_path for s in open_dataset(MAGNETIC).samples], 8)
    assert _levels(inspector, holdout).count(OUT_OF_DOMAIN) == 0
    assert _levels(inspector, strips) == [OUT_OF_DOMAIN] * 4
    assert _levels(inspector, tiles).count(OUT_OF_DOMAIN) >= 6


@pytest.mark.slow
def test_the_synthetic_set_calls_neu_patches_and_magnetic_tiles_out_of_domain(neu_dir):
    if not MAGNETIC.is_dir():
        pytest.skip(f"{MAGNETIC} is absent")
    assert load_domain(SYNTHETIC_SET, read_card(SYNTHETIC_SET)).appearance is not None
    inspector = Inspector.load(SYNTHETIC_SET, "cpu", batch_size=2)  # auto: the INT8 export's own domain on a CPU
    patches = spaced([s.image_path for s in open_dataset(neu_dir.parent).samples], 4)
    tiles = spaced([s.image_path for s in open_dataset(MAGNETIC).samples], 4)
    own = [make_strip(seed).pixels for seed in range(5000, 5004)]  # seeds training never drew
    assert _levels(inspector, patches + tiles) == [OUT_OF_DOMAIN] * 8
    assert OUT_OF_DOMAIN not in _levels(inspector, own)
