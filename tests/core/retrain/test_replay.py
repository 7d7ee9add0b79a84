"""The loop end to end from the shell: `steelscan replay` on small generated strips (one round: record, review with
masks, a training job through the job code, the gate, promotion, the hold-out measured, the plot)."""

from __future__ import annotations

import json

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
