"""The outbox is written with each verdict and decision, in the same transaction, only when a sink is set."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.cli import deliver as deliver_cli
from core.contract.settings import load_settings
from core.delivery import outbox
from core.delivery.status import sink_states
from core.review.store import Decision, DecisionConflict, ReviewLog
from core.review.store.models import OutboxRow
from tests.core.delivery.conftest import LINE, make_log
from tests.helpers.dashboard import make_verdict, noise_png


def rows(log) -> list[OutboxRow]:
    return log._read(lambda s: list(s.scalars(select(OutboxRow).order_by(OutboxRow.id))))


def test_a_verdict_and_a_decision_each_queue_one_message_with_the_documented_fields(tmp_path):
    log = make_log(tmp_path, "mqtt", "webhook")
    data = noise_png(1)
    verdict = make_verdict(data, "cam1/strip_0001.png", (0.9, 0.1, 0.2, 0.1))
    inference_id = log.record_inference(verdict, data, source="watch")
    review_id = log.add_review(inference_id, "ann", Decision.override(verdict, (), "a water stain, not a defect"))

    first, second = rows(log)
    assert (first.kind, first.line, first.inference_id, first.sinks) == ("verdict", LINE, inference_id,
                                                                          ["mqtt", "webhook"])
    message = first.payload
    assert message["message_id"] == first.message_id and message["kind"] == "verdict" and message["line"] == LINE
    assert message["image"] == {"name": "cam1/strip_0001.png", "sha256": verdict.image_sha256, "width": 64,
                                "height": 64}
    assert message["verdict"] == "NG" and message["classes"] == ["pits"]
    assert message["probabilities"] == dict(zip(verdict.class_names, verdict.probabilities, strict=True))
    assert message["model_set"]["name"] == verdict.model_set and message["source"] == "watch"
    assert {"coil", "position_m"} <= set(message) and message["times"]["recorded_at"].endswith("Z")

    decision = second.payload
    assert (second.kind, second.line) == ("decision", LINE)
    assert decision["review_id"] == review_id and decision["verdict_message_id"] == first.message_id
    assert (decision["decision"], decision["verdict"], decision["classes"]) == ("override", "OK", [])
    assert decision["reviewer"] == "ann" and decision["model_classes"] == ["pits"]
    assert first.message_id != second.message_id


def test_a_decision_goes_to_the_line_its_verdict_went_to(tmp_path):
    log = make_log(tmp_path, "webhook")
    data = noise_png(2)
    verdict = make_verdict(data, "b.png", (0.1, 0.1, 0.1, 0.1))
    inference_id = log.record_inference(verdict, data, line="cold-mill-2")
    log.add_review(inference_id, "ann", Decision.accept(verdict))
    assert [(r.kind, r.line) for r in rows(log)] == [("verdict", "cold-mill-2"), ("decision", "cold-mill-2")]


def test_a_decision_that_is_refused_queues_nothing(tmp_path):
    log = make_log(tmp_path, "mqtt")
    data = noise_png(3)
    verdict = make_verdict(data, "c.png", (0.9, 0.1, 0.1, 0.1))
    inference_id = log.record_inference(verdict, data)
    log.add_review(inference_id, "ann", Decision.accept(verdict))
    with pytest.raises(DecisionConflict):  # a second first decision: refused inside the transaction
        log.add_review(inference_id, "bob", Decision.accept(verdict))
    assert [r.kind for r in rows(log)] == ["verdict", "decision"]


def test_with_no_sink_set_nothing_accumulates(tmp_path, monkeypatch):
    environ = {"STEELSCAN_DATABASE_URL": f"sqlite:///{tmp_path / 'log.db'}",
               "STEELSCAN_IMAGE_STORE": str(tmp_path / "images"), "STEELSCAN_SETTINGS": str(tmp_path / "none.toml")}
    settings = load_settings(environ=environ)
    log = ReviewLog.from_settings(settings)
    assert log.outbox is None
    for seed in range(3):
        data = noise_png(10 + seed)
        verdict = make_verdict(data, f"n{seed}.png", (0.9, 0.1, 0.1, 0.1))
        log.add_review(log.record_inference(verdict, data), "ann", Decision.accept(verdict))
    assert log._read(outbox.count) == 0
    assert sink_states(log, settings) == []
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert deliver_cli.main([]) == 2  # nothing to deliver to: says so, does not wait for nothing


def test_settings_that_set_a_sink_make_the_log_queue_for_it(tmp_path):
    environ = {"STEELSCAN_DATABASE_URL": f"sqlite:///{tmp_path / 'log.db'}",
               "STEELSCAN_IMAGE_STORE": str(tmp_path / "images"), "STEELSCAN_SETTINGS": str(tmp_path / "none.toml"),
               "STEELSCAN_WEBHOOK_URL": "http://127.0.0.1:9/hook", "STEELSCAN_WEBHOOK_SECRET": "x" * 20,
               "STEELSCAN_LINE_NAME": "line-7"}
    settings = load_settings(environ=environ)
    log = ReviewLog.from_settings(settings)
    data = noise_png(20)
    log.record_inference(make_verdict(data, "s.png", (0.1, 0.1, 0.1, 0.1)), data)
    (row,) = rows(log)
    assert (row.line, row.sinks) == ("line-7", ["webhook"])
    (state,) = sink_states(log, settings)
    assert (state["sink"], state["backlog"], state["running"], state["state"]) == ("webhook", 1, False, "never ran")


def test_sink_settings_are_checked(tmp_path):
    base = {"STEELSCAN_SETTINGS": str(tmp_path / "none.toml")}
    with pytest.raises(Exception, match="webhook_secret"):
        load_settings(environ={**base, "STEELSCAN_WEBHOOK_URL": "https://mes.example/hook"})
    with pytest.raises(Exception, match="mqtt_url"):
        load_settings(environ={**base, "STEELSCAN_MQTT_URL": "tcp://broker:1883"})
    with pytest.raises(Exception, match="line_name"):
        load_settings(environ={**base, "STEELSCAN_LINE_NAME": "a/b#"})



def test_on_postgresql_outbox_writes_commit_in_id_order(tmp_path):
    """PostgreSQL takes sequence ids before commit: a second writer waits for the first's commit before it queues,
    so a cursor that passed an id can never skip a message committed later with a smaller one."""
    import threading

    from sqlalchemy.orm import Session

    from tests.helpers.databases import fresh_postgres_schema

    with fresh_postgres_schema("outbox") as url:
        log = ReviewLog(url, tmp_path / "images", outbox.Outbox(LINE, ("mqtt",)))
        box = log.outbox
        try:
            first = Session(log.engine)
            first.begin()
            box._add(first, "verdict", None, 1, {})
            first.flush()
            done = threading.Event()

            def second_writer() -> None:
                with Session(log.engine) as session, session.begin():
                    box._add(session, "verdict", None, 2, {})
                done.set()

            thread = threading.Thread(target=second_writer)
            thread.start()
            try:
                assert not done.wait(1.0), "the second writer queued while the first had not committed"
                first.commit()
            finally:
                first.close()  # rolls back if still open, so the schema can be dropped
                thread.join(10)
            assert done.is_set()
            assert [r.inference_id for r in rows(log)] == [1, 2]
        finally:
            log.close()
