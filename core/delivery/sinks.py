"""Where messages go: an MQTT broker (QoS 1) and an HTTP webhook (signed POST). The OPC UA server is in opcua.py.

A sink takes a batch of outbox rows of one line, in order, and either delivers all of them or raises SinkError
saying how many it delivered first; the deliver loop moves its cursor by exactly that many, so nothing is skipped
and a repeat is always the same message with the same id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.contract.errors import SteelScanError
from core.review.store.models import OutboxRow

SIGNATURE_HEADER = "X-SteelScan-Signature"
TIMESTAMP_HEADER = "X-SteelScan-Timestamp"
MESSAGE_ID_HEADER = "X-SteelScan-Message-Id"


class SinkError(Exception):
    """A sink could not take (all of) a batch: `done` messages went out first, in order."""

    def __init__(self, reason: str, done: int = 0) -> None:
        super().__init__(reason)
        self.done = done


def body(row: OutboxRow) -> bytes:
    """The message as sent (the same bytes to every sink): the payload plus its place in the line's order."""
    return json.dumps({**row.payload, "sequence": row.id}, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, timestamp: str, data: bytes) -> str:
    """The webhook signature: HMAC-SHA256 over `<timestamp>.<body>`, as `sha256=<hex>`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + data, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, timestamp: str, data: bytes, signature: str, max_age_s: float = 300.0) -> bool:
    """What a receiver does (and the tests): the signature matches and the timestamp is recent."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age_s
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, data), signature)


def hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


# -- webhook ---------------------------------------------------------------------------------------------------


@dataclass
class WebhookSink:
    url: str
    secret: str
    timeout_s: float = 10.0
    name: str = "webhook"

    @property
    def target(self) -> str:
        return hide_password(self.url)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, rows: list[OutboxRow]) -> None:
        for done, row in enumerate(rows):
            data = body(row)
            timestamp = str(int(time.time()))
            request = urllib.request.Request(self.url, data=data, method="POST", headers={
                "Content-Type": "application/json", "User-Agent": "steelscan-deliver",
                MESSAGE_ID_HEADER: row.message_id, TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(self.secret, timestamp, data)})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                raise SinkError(f"{self.target} answered HTTP {exc.code} {exc.reason}", done) from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise SinkError(f"{self.target} cannot be reached ({reason})", done) from None

    def status(self, line: str, state: dict) -> None:
        pass  # a webhook has no status channel; the dashboard shows the sink's state


# -- MQTT ------------------------------------------------------------------------------------------------------


def topic(line: str, leaf: str) -> str:
    return f"steelscan/{line}/{leaf}"


class MqttSink:
    """paho-mqtt, QoS 1: a message counts as delivered once the broker acknowledged it (PUBACK). The client does
    not reconnect by itself: on any failure the loop drops it and starts again from its cursor, so messages go
    out in order, once more at most, with their original id."""

    name = "mqtt"

    def __init__(self, url: str, line: str, client_id: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise SteelScanError(f"mqtt_url {hide_password(url)}", "is not mqtt://host[:port] or mqtts://...",
                                 "set mqtt_url (STEELSCAN_MQTT_URL) to e.g. mqtt://broker:1883")
        self.url, self.line, self.client_id, self.timeout_s = url, line, client_id, timeout_s
        self.host, self.tls = parts.hostname, parts.scheme == "mqtts"
        self.port = parts.port or (8883 if self.tls else 1883)
        self.username, self.password = parts.username, parts.password
        self._client = None
        self._connected = threading.Event()
        self._gone = threading.Event()
        self._reason = ""

    @property
    def target(self) -> str:
        return hide_password(self.url)

    def open(self) -> None:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True,
                             reconnect_on_failure=False)
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set()
        client.max_inflight_messages_set(100)
        client.will_set(topic(self.line, "status"), json.dumps({"state": "offline", "line": self.line}),
                        qos=1, retain=True)
        self._connected.clear()
        self._gone.clear()

        def on_connect(_client, _userdata, _flags, reason_code, _properties) -> None:
            if reason_code.is_failure:
                self._reason = f"refused the connection ({reason_code})"
                self._gone.set()
            else:
                self._connected.set()

        def on_disconnect(_client, _userdata, _flags, reason_code, _properties) -> None:
            self._reason = f"closed the connection ({reason_code})"
            self._gone.set()

        client.on_connect, client.on_disconnect = on_connect, on_disconnect
        self._client = client
        try:
            client.connect(self.host, self.port, keepalive=15)
        except OSError as exc:
            self._client = None
            raise SinkError(f"{self.target} cannot be reached ({exc.strerror or exc})") from None
        client.loop_start()
        deadline = time.monotonic() + self.timeout_s
        while not self._connected.is_set():
            if self._gone.is_set() or time.monotonic() > deadline:
                self.close()
                raise SinkError(f"{self.target} {self._reason or 'did not answer the connection'}")
            self._connected.wait(0.05)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.disconnect()
            finally:
                client.loop_stop()

    def send(self, rows: list[OutboxRow]) -> None:
        if self._client is None or self._gone.is_set():
            raise SinkError(f"{self.target} {self._reason or 'is not connected'}")
        infos = [self._client.publish(topic(row.line, "verdicts" if row.kind == "verdict" else "decisions"),
                                      body(row), qos=1) for row in rows]
        for done, info in enumerate(infos):
            self._wait(info, done)

    def status(self, line: str, state: dict) -> None:
        """The line's retained status message: what a subscriber sees first, even when it connects later."""
        if self._client is not None and not self._gone.is_set():
            info = self._client.publish(topic(line, "status"), json.dumps({"line": line, **state}), qos=1,
                                        retain=True)
            self._wait(info, 0)

    def _wait(self, info, done: int) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not info.is_published():
            if self._gone.is_set():
                raise SinkError(f"{self.target} {self._reason}", done)
            if time.monotonic() > deadline:
                raise SinkError(f"{self.target} did not acknowledge within {self.timeout_s:g} s", done)
            try:
                info.wait_for_publish(0.1)
            except (RuntimeError, ValueError) as exc:
                raise SinkError(f"{self.target}: {exc}", done) from None
