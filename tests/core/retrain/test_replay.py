"""The loop end to end from the shell: `steelscan replay` on small generated strips (one round: record, review with
masks, a training job through the job code, the gate, promotion, the hold-out measured, the plot)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from core.cli.main import main
from core.datasets import open_dataset
from core.modelsets.modelset import read_card
from core.retrain import jobs
from core.review.store import ReviewLog
from tests.conftest import write_small_strips


@pytest.mark.slow
def test_replay_trains_gates_and_promotes_from_the_review_log(tmp_path, capsys):
    data = write_small_strips(tmp_path / "strips", range(16))
    out = tmp_path / "replay"
    assert main(["replay", str(data), "--out", str(out), "--at", "10", "--preset", "tiny", "--review", "all",
                 "--holdout-share", "0.25", "--eval-share", "0.3"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["decisions"] for line in lines] == [0, 10]
    assert lines[0]["active_set"] == "replay-r0" and lines[0]["holdout"]["images"] == 4
    last = lines[1]
    assert last["status"] == "succeeded" and last["candidate"] == "replay-r1"
    # The start is untrained: the gate recommends any trained candidate, and the replay promotes it.
    assert last["promoted"] and last["active_set"] == "replay-r1"
    assert (out / "learning_curve.png").stat().st_size > 1000

    log = ReviewLog(f"sqlite:///{out / 'review.db'}", out / "images")
    row = jobs.job(log, last["job"])
    assert row.status == "succeeded" and row.progress == 1.0 and "classifier 1/1" in jobs.tail(row.log_path, 400)
    lineage = read_card(out / "models" / "replay-r1").lineage
    assert lineage["parent"] == "replay-r0" and lineage["snapshot"]["decisions"] == 10
    assert lineage["gate"]["recommend"] == "promote" and lineage["promotions"][0]["by"] == "replay-inspector"
    # The inspector's masks reached the review log, and no evaluation sheet reached training.
    reviews = log.reviews_frame()
    assert any(masks for masks in reviews["masks_rle"])
    trained = {s.image_path.name for s in open_dataset(out / "runs" / f"review-job-{row.id}" / "data").samples}
    eval_names = {s.image_path.name for s in _eval_sheets(log)}
    assert trained and not trained & eval_names
    log.close()


def _eval_sheets(log):
    from core.retrain.parts import review_data

    return review_data(log, ("pits", "crazing", "scratches", "patches"), 0.3).part("eval")


@pytest.mark.slow
def test_replay_answers_exactly_what_the_queue_holds_sampled_sheets_included(tmp_path, capsys, monkeypatch):
    """Sure, clean, familiar sheets far apart: only the queue's hourly sampling of diverse sheets queues them, so the
    pace of the stream (--line-rate) decides how many the replay's inspector answers."""
    import numpy as np

    from core.retrain import replay as replay_module
    from core.review.queue import waiting

    class Familiar:  # every sheet clean and sure, each 10 from the others in the domain's coordinates
        def __init__(self, inspector):
            self.inspector, self.count = inspector, 0

        def inspect(self, source):
            verdict = self.inspector.inspect(source)
            self.count += 1
            return replace(verdict, probabilities=(0.0,) * len(verdict.class_names), defective=False,
                           classes_present=(), regions=(), masks=np.zeros_like(verdict.masks),
                           domain_level="familiar", ood_score=0.5, embedding=(10.0 * self.count, *(0.0,) * 7))

    class Engine(replay_module.ActiveEngine):
        def current(self):
            if not hasattr(self, "_familiar"):
                self._familiar = Familiar(super().current())
            return self._familiar

    monkeypatch.setattr(replay_module, "ActiveEngine", Engine)
    data = write_small_strips(tmp_path / "strips", range(8))
    answered = {}
    for rate in (120, 1):  # 6 sheets in 3 minutes: 2 sampled; one an hour: each hour has room for it
        out = tmp_path / f"replay-{rate}"
        assert main(["replay", str(data), "--out", str(out), "--at", "100", "--max-sheets", "6", "--line-rate",
                     str(rate), "--explore-per-hour", "2", "--holdout-share", "0.25"]) == 0
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        log = ReviewLog(f"sqlite:///{out / 'review.db'}", out / "images")
        reviews = log.reviews_frame()
        assert waiting(log, 0.15) == 0 and lines[-1]["decisions"] == len(reviews)
        assert all(log.sampled_reason(i).startswith("diverse: ") for i in reviews["inference_id"])
        answered[rate] = len(reviews)
        log.close()
    assert answered == {120: 2, 1: 6}
