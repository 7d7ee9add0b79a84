"""Delivery against real servers: Debian's mosquitto and a local HTTP receiver. Messages arrive whole, signed and
in order; a broker killed mid-stream or a receiver that is down loses nothing, and repeats keep their id."""

from __future__ import annotations

import json
import threading
import time

from sqlalchemy import select

from core.delivery.sinks import MESSAGE_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, MqttSink, WebhookSink, verify
from core.delivery.status import sink_states
from core.review.store import Decision
from core.review.store.models import OutboxRow
from tests.core.delivery.conftest import LINE, SECRET, make_log
from tests.helpers.dashboard import make_verdict, noise_png
from tests.helpers.line_servers import wait_until


def record(log, seeds, line: str | None = None, every_s: float = 0.0) -> list[int]:
    ids = []
    for seed in seeds:
        data = noise_png(seed)
        probabilities = (0.9, 0.1, 0.1, 0.1) if seed % 2 else (0.1, 0.1, 0.1, 0.1)
        ids.append(log.record_inference(make_verdict(data, f"strip_{seed:04d}.png", probabilities), data, line=line))
        time.sleep(every_s)
    return ids


def message_ids(log, kind: str = "verdict", line: str = LINE) -> list[str]:
    return log._read(lambda s: list(s.scalars(select(OutboxRow.message_id).where(
        OutboxRow.kind == kind, OutboxRow.line == line).order_by(OutboxRow.id))))


def first_arrivals(ids: list[str]) -> tuple[list[str], int]:
    """(ids in order of first arrival, how many arrivals were repeats)."""
    seen: dict[str, None] = {}
    for message_id in ids:
        seen.setdefault(message_id, None)
    return list(seen), len(ids) - len(seen)


def test_mqtt_and_webhook_receive_every_verdict_and_decision_whole_signed_and_in_order(
        tmp_path, broker, subscriber, receiver, deliver):
    log = make_log(tmp_path, "mqtt", "webhook")
    inference_ids = record(log, range(12))
    record(log, range(100, 104), line="cold-mill-2")
    verdict = log.verdict(inference_ids[0])
    log.add_review(inference_ids[0], "ann", Decision.accept(verdict))
    sinks = [MqttSink(broker.url, LINE, "deliver-test"), WebhookSink(receiver.url, SECRET)]
    deliver(log, sinks)

    wait_until(lambda: len(subscriber.of("verdicts")) == 16 and len(receiver.requests) == 17,
               what="16 verdicts at the subscriber and 17 messages at the webhook")
    wait_until(lambda: len(subscriber.of("decisions")) == 1, what="the decision at the subscriber")
    expected = message_ids(log)
    by_topic = [p["message_id"] for t, p, _, _ in subscriber.messages if t == f"steelscan/{LINE}/verdicts"]
    assert by_topic == expected  # every one, once, in the order written
    other = [p["message_id"] for t, p, _, _ in subscriber.messages if t == "steelscan/cold-mill-2/verdicts"]
    assert other == message_ids(log, line="cold-mill-2")
    first, second = (next(p for p in subscriber.of("verdicts") if p["message_id"] == expected[i]) for i in (0, 1))
    assert first["image"]["sha256"] == verdict.image_sha256 and first["image"]["name"] == "strip_0000.png"
    assert (first["verdict"], second["verdict"], second["classes"]) == ("OK", "NG", ["pits"])
    assert first["probabilities"]["pits"] == verdict.probabilities[0]
    assert subscriber.of("decisions")[0]["verdict_message_id"] == expected[0]

    for headers, data, _ in receiver.requests:  # each POST is signed over its timestamp and exact body
        timestamp, signature = headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()]
        assert verify(SECRET, timestamp, data, signature) and signature.startswith("sha256=")
        assert not verify("another-secret-0123456", timestamp, data, signature)
        assert not verify(SECRET, timestamp, data.replace(b'"line"', b'"lime"'), signature)
        assert json.loads(data)["message_id"] == headers[MESSAGE_ID_HEADER.lower()]
    assert [p["message_id"] for p in receiver.payloads() if p["kind"] == "verdict" and p["line"] == LINE] == expected
    for line in (LINE, "cold-mill-2"):  # in order per line (lines do not wait for each other)
        sequences = [p["sequence"] for p in receiver.payloads() if p["line"] == line]
        assert sequences == sorted(sequences)

    status = [p for t, p, _, retained in subscriber.messages if t == f"steelscan/{LINE}/status"]
    assert status and status[-1]["state"] == "online"
    wait_until(lambda: all(s["backlog"] == 0 and s["running"] for s in sink_states(log)), what="backlog 0")
    states = {s["sink"]: s for s in sink_states(log)}
    assert states["mqtt"]["delivered"] == 17 and states["webhook"]["delivered"] == 17


def test_broker_killed_and_restarted_mid_stream_loses_nothing_and_repeats_keep_their_id(
        tmp_path, broker, subscriber, deliver):
    log = make_log(tmp_path, "mqtt")
    deliver(log, [MqttSink(broker.url, LINE, "deliver-test", timeout_s=2.0)])
    writer = threading.Thread(target=record, args=(log, range(60)), kwargs={"every_s": 0.05})
    writer.start()
    wait_until(lambda: len(subscriber.of("verdicts")) >= 15, what="the first 15 verdicts")
    broker.stop(kill=True)  # the broker dies mid-stream: messages it had not persisted die with it
    time.sleep(1.5)
    (state,) = sink_states(log)
    assert state["state"] == "down" and str(broker.port) in state["last_error"] and state["backlog"] > 0
    broker.start()
    writer.join()
    expected = message_ids(log)
    assert len(expected) == 60

    def everything_arrived() -> bool:
        return set(expected) <= {p["message_id"] for p in subscriber.of("verdicts")}

    wait_until(everything_arrived, timeout_s=60, what="all 60 verdicts after the restart")
    order, repeats = first_arrivals([p["message_id"] for p in subscriber.of("verdicts")])
    assert order == expected  # nothing lost, first arrivals in the order written
    payloads = {p["message_id"]: p for p in subscriber.of("verdicts")}
    for message_id, payload in payloads.items():  # a repeat is the same message: same id, same body
        assert all(p == payload for p in subscriber.of("verdicts") if p["message_id"] == message_id)
    print(f"broker killed mid-stream: 0 lost, {repeats} repeats")


def test_webhook_receiver_down_then_up_gets_everything(tmp_path, receiver, deliver):
    receiver.stop()
    log = make_log(tmp_path, "webhook")
    record(log, range(10))
    deliver(log, [WebhookSink(receiver.url, SECRET, timeout_s=2.0)])
    wait_until(lambda: [s["state"] for s in sink_states(log)] == ["down"], what="the sink reporting it down")
    (state,) = sink_states(log)
    assert state["backlog"] == 10 and receiver.url in state["last_error"] and state["oldest_waiting_s"] >= 0
    record(log, range(10, 15))
    receiver.start()
    wait_until(lambda: len({p["message_id"] for p in receiver.payloads()}) == 15, what="15 messages after restart")
    order, _ = first_arrivals([p["message_id"] for p in receiver.payloads()])
    assert order == message_ids(log)
    wait_until(lambda: sink_states(log)[0]["backlog"] == 0, what="the backlog to drain")
    assert sink_states(log)[0]["state"] == "ok"


def test_steelscan_deliver_runs_from_the_settings_and_stops_cleanly_on_sigterm(tmp_path, broker, subscriber,
                                                                                receiver):
    import os
    import signal
    import subprocess
    import sys

    from tests.helpers.dashboard import ROOT

    log = make_log(tmp_path, "mqtt", "webhook")
    record(log, range(4))
    env = {**os.environ, "STEELSCAN_DATABASE_URL": log.url, "STEELSCAN_IMAGE_STORE": str(tmp_path / "images"),
           "STEELSCAN_SETTINGS": str(tmp_path / "none.toml"), "STEELSCAN_LINE_NAME": LINE,
           "STEELSCAN_MQTT_URL": broker.url, "STEELSCAN_WEBHOOK_URL": receiver.url, "STEELSCAN_WEBHOOK_SECRET": SECRET}
    process = subprocess.Popen([sys.executable, "-m", "core.cli.main", "deliver", "--poll", "0.05"], cwd=ROOT,
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(subscriber.of("verdicts")) == 4 and len(receiver.requests) == 4, timeout_s=60,
                   what="4 verdicts through `steelscan deliver`")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "mqtt: 4 delivered" in stderr and "webhook: 4 delivered" in stderr
    status = [p for t, p, _, _ in subscriber.messages if t == f"steelscan/{LINE}/status"]
    assert status[-1]["state"] == "offline"  # said goodbye on the retained status topic
