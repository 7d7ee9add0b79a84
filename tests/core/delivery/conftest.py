"""Real servers for the delivery tests: Debian's mosquitto (installed by scripts/ensure_services.sh), a webhook
receiver, a persistent MQTT subscriber; a review log that writes the outbox for the sinks a test names."""

from __future__ import annotations

import threading

import pytest

from core.delivery.loop import Deliverer, DeliverOptions
from core.delivery.outbox import Outbox
from core.review.store import ReviewLog
from tests.helpers.line_servers import Broker, Receiver, Subscriber, mosquitto_binary

LINE = "hot-strip-1"
SECRET = "a-test-webhook-secret-0123"
FAST = DeliverOptions(batch_size=50, poll_s=0.05, backoff_first_s=0.1, backoff_max_s=0.5, beat_s=0.3)


@pytest.fixture
def broker(tmp_path):
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail("mosquitto is not installed: run `bash scripts/ensure_services.sh` (as root) or "
                    "`apt-get install mosquitto`; `make test` does the former")
    server = Broker(tmp_path / "broker", binary)
    server.start()
    yield server
    server.stop(kill=True)


@pytest.fixture
def subscriber(broker):
    client = Subscriber(broker.port)
    yield client
    client.close()


@pytest.fixture
def receiver():
    server = Receiver()
    server.start()
    yield server
    server.stop()


def make_log(tmp_path, *sinks: str) -> ReviewLog:
    return ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images",
                     Outbox(LINE, sinks) if sinks else None)


class Running:
    """A Deliverer in a background thread, stopped (and joined) at the end of the test."""

    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer, self.stop = deliverer, threading.Event()
        self.thread = threading.Thread(target=deliverer.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the deliver loop did not stop within 30 s"


@pytest.fixture
def deliver():
    running: list[Running] = []

    def start(db, sinks, options: DeliverOptions = FAST) -> Running:
        running.append(Running(Deliverer(db, sinks, options)))
        return running[-1]

    yield start
    for item in running:
        item.close()
