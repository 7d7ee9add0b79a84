"""The Review queue shows each sink's state, backlog and last error next to the watcher's heartbeat, and the
dashboard's own decisions are queued for delivery like the watcher's verdicts."""

from __future__ import annotations

import pytest

from core.delivery.status import sink_states
from core.review.store import Decision
from core.review.store.models import DeliverySinkRow, utc_now
from tests.app_pages.test_app import open_log, start
from tests.helpers.dashboard import dashboard_env, make_verdict, models_dir, strip_png  # noqa: F401  (fixtures)
from ui.line import sink_line


@pytest.fixture
def webhook_env(request, monkeypatch):
    env = request.getfixturevalue("dashboard_env")
    monkeypatch.setenv("STEELSCAN_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("STEELSCAN_WEBHOOK_SECRET", "a-test-webhook-secret-0123")
    return env


def test_the_queue_page_shows_a_sink_that_is_down_with_its_backlog_and_error(webhook_env):
    log = open_log()
    for seed in (71, 72):
        data = strip_png(seed)
        log.record_inference(make_verdict(data, f"cam1/s{seed}.png", (0.97, 0.1, 0.1, 0.1)), data, source="watch")

    def down(session) -> None:
        session.add(DeliverySinkRow(sink="webhook", target="http://127.0.0.1:9/hook", state="down", delivered=0,
                                    retries=4, last_message_id="", last_error="http://127.0.0.1:9/hook cannot be "
                                    "reached (Connection refused)", last_error_at=utc_now(), started_at=utc_now(),
                                    updated_at=utc_now()))

    log._write(down)
    app = start("app_pages/review_queue.py", username="ivan", role="inspector")
    [caption] = [c.value for c in app.caption if "Delivery" in c.value]
    assert "**webhook** **down**" in caption and "backlog 2" in caption and "Connection refused" in caption


def test_a_dashboard_decision_is_queued_for_delivery(webhook_env):
    from core.contract.settings import load_settings
    from ui.state import cached_review_log

    log = cached_review_log(load_settings())  # the dashboard's own review log
    data = strip_png(73)
    verdict = make_verdict(data, "upload.png", (0.97, 0.1, 0.1, 0.1))
    log.add_review(log.record_inference(verdict, data), "ann", Decision.accept(verdict))
    assert log.outbox is not None
    (state,) = sink_states(log, load_settings())
    assert state["backlog"] == 2 and state["state"] == "never ran"


def test_a_sink_line_says_not_running_and_the_backlog():
    line = sink_line({"sink": "mqtt", "state": "not running", "running": False, "backlog": 12,
                      "oldest_waiting_s": 75.0, "last_delivered_at": None, "last_error": "", "last_error_at": None})
    assert "**not running** (start `steelscan deliver`)" in line and "backlog 12 (oldest 75 s)" in line
