"""The API's edge (issue 34): key and size refused from the headers before the body is read, docs closed by
default, inference through the shared slots, and no second sheet when the call log fails."""

from __future__ import annotations

import threading
import time

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from core.accounts.apikeys import ApiKeys
from core.api.app import create_app
from core.contract.settings import load_settings
from core.review.active import ActiveEngine
from core.review.store import ReviewLog
from core.review.store.models import InferenceRow
from tests.core.api.test_app import env, post_image  # noqa: F401  (env: the API tests' settings fixture)

pytestmark = pytest.mark.usefixtures("env")

BOUNDARY = "steelscanboundary"


def _app(docs: bool = False, engine=None, key_name: str = "line"):
    settings = load_settings()
    log = ReviewLog.from_settings(settings)
    keys = ApiKeys(log)
    key = keys.add(key_name, ["record", "read"], created_by="test")
    extra = {"docs": True} if docs else {}  # today's signature when no new argument is needed
    app = create_app(engine or ActiveEngine(log, settings), log, settings.uncertainty_band,
                     settings.max_upload_bytes, **extra)
    return app, log, keys, key


def _send_huge_body(app, headers: dict[str, str], total: int) -> tuple[int, int]:
    """POST a multipart body of `total` bytes, produced lazily; (status, bytes the app pulled from it)."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    filler = total - len(head) - len(tail)
    pulled, produced, status = 0, 0, []
    chunk = b"\0" * 2**20

    async def receive() -> dict:
        nonlocal pulled, produced
        if produced == 0:
            part = head
        elif produced < len(head) + filler:
            part = chunk[:min(len(chunk), len(head) + filler - produced)]
        elif produced < total:
            part = tail
        else:
            return {"type": "http.disconnect"}
        produced += len(part)
        pulled += len(part)
        return {"type": "http.request", "body": part, "more_body": produced < total}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    raw = {"content-type": f"multipart/form-data; boundary={BOUNDARY}", "content-length": str(total), **headers}
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/inspect", "raw_path": b"/v1/inspect", "query_string": b"record=true",
             "root_path": "", "headers": [(k.encode(), v.encode()) for k, v in raw.items()],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    anyio.run(app, scope, receive, send)
    return status[0], pulled


def test_a_120_mib_body_without_a_key_is_refused_before_it_is_read():
    app, *_ = _app()
    status, pulled = _send_huge_body(app, {}, 120 * 2**20)
    assert status == 401
    assert pulled == 0, f"the app read {pulled / 2**20:.0f} MiB of a body from a caller without a key"


def test_a_body_over_the_upload_limit_is_refused_from_its_content_length():
    app, _, keys, key = _app()  # max_upload_bytes is 2,000,000 in this environment
    status, pulled = _send_huge_body(app, {"x-api-key": key}, 120 * 2**20)
    assert status == 413
    assert pulled == 0, f"the app read {pulled / 2**20:.0f} MiB before refusing a body over the limit"
    assert [c["status"] for c in keys.calls("line")] == [413]  # a known key's refusal is logged


def test_docs_and_openapi_are_off_by_default():
    app, _, _, key = _app()
    with TestClient(app) as client:
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/docs").status_code == 401
        assert client.get("/openapi.json", headers={"X-API-Key": key}).status_code == 404
        assert client.get("/healthz").status_code == 200  # liveness stays open
    opened, *_ = _app(docs=True, key_name="docs")
    with TestClient(opened) as client:
        assert "/v1/inspect" in client.get("/openapi.json").json()["paths"]
        assert client.get("/docs").status_code == 200


class _Tracking:
    """The real inspector, counting how many inspections run at once (each held a little, so overlap shows)."""

    def __init__(self, engine: ActiveEngine) -> None:
        self.engine, self.running, self.peak = engine, 0, 0
        self.lock = threading.Lock()

    def current(self):
        return self

    def inspect(self, source):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(0.3)
            return self.engine.current().inspect(source)
        finally:
            with self.lock:
                self.running -= 1


def test_api_inference_waits_in_the_shared_inference_slots():
    settings = load_settings()
    log = ReviewLog.from_settings(settings)
    key = ApiKeys(log).add("line", ["record"], created_by="test")
    tracking = _Tracking(ActiveEngine(log, settings))
    # Built as `steelscan api` builds it: inference_workers is 1 by default.
    app = create_app(tracking, log, settings.uncertainty_band, settings.max_upload_bytes)
    statuses = []
    with TestClient(app) as client:
        threads = [threading.Thread(target=lambda: statuses.append(post_image(client, key).status_code))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [200] * 4
    assert tracking.peak == settings.inference_workers == 1, \
        f"{tracking.peak} API inspections ran at once, past the inference_workers bound"


def test_a_retry_after_a_failed_call_log_does_not_record_the_sheet_twice(monkeypatch):
    app, log, keys, key = _app()
    failures, log_call = iter([True]), ApiKeys.log_call

    def flaky_log_call(self, *args, **kwargs):
        if next(failures, False):
            raise OperationalError("insert into api_calls", {}, Exception("database or disk is full"))
        return log_call(self, *args, **kwargs)

    monkeypatch.setattr(ApiKeys, "log_call", flaky_log_call)
    with TestClient(app, raise_server_exceptions=False) as client:
        for _attempt in range(3):  # a line system retries a call that failed on the server's side
            response = post_image(client, key)
            if response.status_code < 500:
                break
    sheets = log._read(lambda s: s.scalar(select(func.count()).select_from(InferenceRow)))
    assert sheets == 1, f"the sheet was recorded {sheets} times"
    assert response.status_code == 200
    assert response.headers.get("X-SteelScan-Call-Log") == "not recorded"


def test_a_chunked_body_is_cut_off_at_the_limit():
    chunked_total = 3 * 2**20
    app, _, _, key = _app()
    with TestClient(app) as client:
        def chunks():
            yield f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n".encode()
            for _ in range(chunked_total // 2**16):
                yield b"\0" * 2**16
        response = client.post("/v1/inspect", headers={"X-API-Key": key,
                                                        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                               content=chunks())
    assert response.status_code == 413 and "upload limit" in response.json()["error"]
