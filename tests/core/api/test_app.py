"""Every API route with good, bad and unauthorised requests (TestClient), and one real uvicorn process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from core.accounts.apikeys import ApiKeys
from core.api.app import create_app
from core.contract.settings import load_settings
from core.contract.verdict import Verdict
from core.review.active import ActiveEngine
from core.review.store import Decision, ReviewLog
from tests.conftest import PROJECT, SAMPLES

STRIP = sorted((SAMPLES / "train_images").glob("*.jpg"))[0]


@pytest.fixture
def env(tiny_set, tmp_path, monkeypatch):
    values = {"STEELSCAN_MODELS_DIR": str(tiny_set.parent), "STEELSCAN_MODEL_SET": tiny_set.name,
              "STEELSCAN_DEVICE": "cpu", "STEELSCAN_DATABASE_URL": f"sqlite:///{tmp_path / 'log.db'}",
              "STEELSCAN_IMAGE_STORE": str(tmp_path / "images"), "STEELSCAN_MAX_UPLOAD_BYTES": "2000000",
              "STEELSCAN_SETTINGS": str(tmp_path / "none.toml")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def api(env):
    settings = load_settings()
    log = ReviewLog.from_settings(settings)
    keys = ApiKeys(log)
    made = {scope: keys.add(f"line-{scope}", [scope], created_by="test") for scope in ("score", "record", "read")}
    app = create_app(ActiveEngine(log, settings), log, settings.uncertainty_band, settings.max_upload_bytes)
    with TestClient(app) as client:
        yield client, log, keys, made


def post_image(client, key, data=None, name="strip.jpg", record=True):
    return client.post(f"/v1/inspect?record={'true' if record else 'false'}", headers={"X-API-Key": key},
                       files={"file": (name, STRIP.read_bytes() if data is None else data, "image/jpeg")})


def test_inspect_records_and_returns_the_verdict_with_rle_masks(api, tiny_inspector):
    client, log, keys, made = api
    response = post_image(client, made["record"])
    assert response.status_code == 200, response.text
    body = response.json()
    verdict = Verdict.from_dict(body["verdict"])
    expected = tiny_inspector.inspect(STRIP)  # the same engine the CLI uses gives the same verdict
    assert verdict.probabilities == pytest.approx(expected.probabilities, abs=1e-5)
    assert np.array_equal(verdict.masks, expected.masks)
    assert isinstance(body["verdict"]["masks_rle"], dict) and body["recorded"] is True
    assert log.verdict(body["sheet_id"]).image_sha256 == expected.image_sha256
    calls = keys.calls("line-record")
    assert [(c["path"], c["status"], c["inference_id"]) for c in calls] == [("/v1/inspect", 200, body["sheet_id"])]


def test_score_only_records_nothing_and_scopes_are_enforced(api):
    client, log, keys, made = api
    scored = post_image(client, made["score"], record=False)
    assert scored.status_code == 200 and scored.json()["sheet_id"] is None
    assert log.reviews_frame().empty and log.flagged_unreviewed(1.0) == []
    refused = post_image(client, made["score"])  # recording needs the record scope
    assert refused.status_code == 403 and "lacks the 'record' scope" in refused.json()["error"]
    assert post_image(client, made["read"], record=False).status_code == 403
    assert post_image(client, made["record"], record=False).status_code == 200  # record implies score
    assert [c["status"] for c in keys.calls("line-score")] == [200, 403]


def test_unauthorised_and_revoked_keys_are_refused(api):
    client, _, keys, made = api
    assert post_image(client, "ssk_not-a-key").status_code == 401
    no_key = client.post("/v1/inspect", files={"file": ("a.jpg", STRIP.read_bytes(), "image/jpeg")})
    assert no_key.status_code == 401 and "steelscan keys add" in no_key.json()["error"]
    assert client.get("/v1/queue", headers={"Authorization": f"Bearer {made['read']}"}).status_code == 200
    keys.revoke("line-read", revoked_by="test")
    for path in ("/v1/queue", "/v1/sheets/1", "/metrics"):
        assert client.get(path, headers={"X-API-Key": made["read"]}).status_code == 401


def test_bad_images_get_one_line_errors(api):
    client, log, _, made = api
    empty = post_image(client, made["record"], data=b"", name="empty.jpg")
    assert empty.status_code == 422 and empty.json()["error"].startswith("empty.jpg: is empty")
    html = post_image(client, made["record"], data=b"<html></html>" * 10, name="../../etc/page.png")
    assert html.status_code == 422 and html.json()["error"].startswith("page.png: is not an image")
    big = post_image(client, made["record"], data=b"\xff" * 2_000_001, name="big.jpg")
    assert big.status_code == 413 and "over the 2.0 MB upload limit" in big.json()["error"]
    missing = client.post("/v1/inspect", headers={"X-API-Key": made["record"]})
    assert missing.status_code == 422 and "file" in missing.json()["error"]
    assert log.flagged_unreviewed(1.0) == []  # nothing recorded for a refused file


def test_sheet_queue_health_metrics_and_docs(api):
    client, log, _, made = api
    read = {"X-API-Key": made["read"]}
    sheet_id = post_image(client, made["record"]).json()["sheet_id"]
    sheet = client.get(f"/v1/sheets/{sheet_id}", headers=read).json()
    assert sheet["label"]["source"] == "model"
    log.add_review(sheet_id, "ann", Decision("override", ("scratches",), "seen on the line"), page="queue")
    sheet = client.get(f"/v1/sheets/{sheet_id}", headers=read).json()
    assert sheet["label"] == {"source": "review", "classes": ["scratches"], "reviewer": "ann",
                              "decided_at": sheet["label"]["decided_at"], "decision": "override"}
    assert client.get("/v1/sheets/99999", headers=read).status_code == 404
    assert client.get("/v1/sheets/abc", headers=read).status_code == 422
    assert client.get(f"/v1/sheets/{sheet_id}", headers={"X-API-Key": made["score"]}).status_code == 403
    queue = client.get("/v1/queue?order=oldest&limit=5", headers=read).json()
    assert queue["waiting"] == len(queue["sheets"]) == 0  # the only sheet has been reviewed
    assert client.get("/v1/queue?order=random", headers=read).status_code == 422
    assert client.get("/v1/queue").status_code == 401
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["model_set"] == "tiny"
    metrics = client.get("/metrics", headers=read)
    assert metrics.status_code == 200
    assert 'steelscan_api_images_total{result=' in metrics.text and "steelscan_queue_waiting 0.0" in metrics.text
    assert "steelscan_api_inspect_seconds_count 1.0" in metrics.text
    assert client.get("/metrics").status_code == 401
    assert client.get("/openapi.json").status_code == 401  # off unless api_docs (tests/core/api/test_edge.py)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_uvicorn_process_serves_the_api(env, tmp_path):
    port = _free_port()
    subprocess.run([sys.executable, "-m", "core.cli.main", "keys", "add", "gateway", "--scope", "record",
                    "--scope", "read"], cwd=PROJECT, env=os.environ, check=True, capture_output=True, text=True)
    listed = subprocess.run([sys.executable, "-m", "core.cli.main", "keys", "list"], cwd=PROJECT, env=os.environ,
                            capture_output=True, text=True, check=True).stdout
    assert listed.startswith("gateway\trecord,read")
    database = ReviewLog(env["STEELSCAN_DATABASE_URL"], Path(env["STEELSCAN_IMAGE_STORE"]))
    key = ApiKeys(database).add("uvicorn-test", ["record", "read"], created_by="test")
    server = subprocess.Popen([sys.executable, "-m", "core.cli.main", "api", "--port", str(port),
                               "--log-level", "warning"], cwd=PROJECT, env=os.environ,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
            assert server.poll() is None, server.stdout.read()
        response = httpx.post(f"{base}/v1/inspect", headers={"X-API-Key": key}, timeout=60,
                              files={"file": (STRIP.name, STRIP.read_bytes(), "image/jpeg")})
        assert response.status_code == 200, response.text
        sheet_id = response.json()["sheet_id"]
        got = httpx.get(f"{base}/v1/sheets/{sheet_id}", headers={"X-API-Key": key}, timeout=10).json()
        assert got["verdict"]["sha256"] == response.json()["verdict"]["sha256"]
    finally:
        server.terminate()
        server.wait(timeout=30)
