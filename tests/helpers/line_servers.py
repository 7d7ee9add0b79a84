"""Real servers for the delivery tests and benchmark: Debian's mosquitto on a free loopback port (stopped and
started again on the same port and persistence file), a webhook receiver (http.server) and an MQTT subscriber
with a persistent session, so a broker restart loses nothing on its side either."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next((p for p in MOSQUITTO_PATHS if Path(p).is_file()), None)


def wait_for_port(port: int, timeout_s: float = 10.0, open_: bool = True) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            reachable = probe.connect_ex(("127.0.0.1", port)) == 0
        if reachable == open_:
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not {'open' if open_ else 'close'} within {timeout_s} s")


class Broker:
    """mosquitto with persistence in `folder`: stop() (SIGTERM, or SIGKILL) and start() keep port and sessions."""

    def __init__(self, folder: Path, binary: str) -> None:
        self.folder, self.binary, self.port = folder, binary, free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nautosave_interval 1\nautosave_on_changes true\n"
            # run as root, mosquitto drops to the user `mosquitto`, who cannot write this folder: stay who we are
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            "max_queued_messages 100000\nlog_dest none\n")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self, kill: bool = False) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=10)
            self.process = None
            wait_for_port(self.port, open_=False)


class Subscriber:
    """Collects every message under steelscan/# (QoS 1, persistent session, reconnects on its own)."""

    def __init__(self, port: int, client_id: str = "steelscan-test-subscriber") -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, dict, float, bool]] = []  # topic, payload, arrival (time.time()), retained
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.on_connect = lambda c, *_: c.subscribe("steelscan/#", qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError(f"the test subscriber could not subscribe on port {port}")

    def _on_message(self, _client, _userdata, message) -> None:
        arrived = time.time()
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload), arrived, bool(message.retain)))

    def of(self, leaf: str) -> list[dict]:
        with self._lock:
            return [payload for topic, payload, _, _ in self.messages if topic.endswith("/" + leaf)]

    def arrivals(self, leaf: str) -> list[tuple[dict, float]]:
        with self._lock:
            return [(payload, at) for topic, payload, at, _ in self.messages if topic.endswith("/" + leaf)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Receiver:
    """A webhook receiver: records (headers by lower-case name, body bytes, arrival time) of each POST, answers 204.
    stop()/start() keep the port, so the sink sees the receiver go and come back."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[tuple[dict, bytes, float]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, data,
                                              time.time()))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def payloads(self) -> list[dict]:
        with self._lock:
            return [json.loads(data) for _, data, _ in self.requests]


def wait_until(condition, timeout_s: float = 30.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.05)
