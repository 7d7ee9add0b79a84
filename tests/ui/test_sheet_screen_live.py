"""A batch still being inspected: the decision screen's list grows while the inspector works on it. A decision made
on the only sheet shown so far must move on to a sheet that finished meanwhile, not stay on the decided one."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.review.store import ReviewLog
from tests.helpers.dashboard import make_verdict, noise_png


def page(url: str, store: str, live: bool) -> None:
    from core.review.store import ReviewLog
    from ui.sheet_screen import fragment

    log = ReviewLog(url, store)

    def batch_order() -> list[int]:
        return [item.inference_id for item in log.current_batch("ann").items]

    fragment(log, None, batch_order, 0.1, "ann", "inspect", live_every=1.0 if live else None)


def _finish(log: ReviewLog, batch_id: int, seed: int) -> int:
    """One more image of the batch inspected and recorded, as the background job does."""
    data = noise_png(seed)
    inference_id = log.record_inference(make_verdict(data, f"sheet_{seed}.png", (0.9, 0.1, 0.1, 0.1)), data)
    log.add_to_batch(batch_id, inference_id)
    return inference_id


def _accept(app: AppTest) -> None:
    [accept] = [b for b in app.button if b.label.startswith("Accept")]
    accept.click().run()


@pytest.mark.parametrize("live", [True, False])
def test_a_decision_moves_on_to_a_sheet_that_finished_after_the_screen_was_drawn(tmp_path, live):
    url, store = f"sqlite:///{tmp_path / 'review.db'}", str(tmp_path / "img")
    log = ReviewLog(url, store)
    batch_id = log.open_batch("ann", "upload", "3 uploads")
    first = _finish(log, batch_id, 1)
    app = AppTest.from_function(page, args=(url, store, live), default_timeout=60).run()
    assert not app.exception, [e.value for e in app.exception]
    assert any(c.value.startswith("1 sheets · 0 decided") for c in app.caption)
    second = _finish(log, batch_id, 2)  # finished while the inspector looked at the first

    _accept(app)

    assert not app.exception, [e.value for e in app.exception]
    assert log.current_label(log.verdict(first).image_sha256) is not None
    # Live (a batch running): the list as it is now, so the new sheet is next. Otherwise the list as drawn, where
    # nothing was left to decide: the screen stays (the review queue's one-sheet list works this way).
    assert app.session_state["inspect-selected"] == (second if live else first)
    assert any(c.value.startswith("2 sheets · 1 decided") for c in app.caption)
