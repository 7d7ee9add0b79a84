"""POST /v1/inspect takes the sheet's coil and position as form fields, records them beside the verdict (and in its
message), returns them, and GET /v1/sheets/{id} shows them; a position without a coil is refused."""

from __future__ import annotations

import hashlib

from tests.conftest import SAMPLES
from tests.core.api.test_app import api, env  # noqa: F401  (fixtures)

STRIPS = sorted((SAMPLES / "train_images").glob("*.jpg"))


def post(client, key, strip, **fields):
    return client.post("/v1/inspect", headers={"X-API-Key": key}, data=fields,
                       files={"file": (strip.name, strip.read_bytes(), "image/jpeg")})


def test_coil_and_position_travel_from_the_request_to_the_log(api):  # noqa: F811
    client, log, _keys, made = api
    reply = post(client, made["record"], STRIPS[0], coil="H24A017", position="12.5")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["coil"], body["position"]) == ("H24A017", 12.5)
    assert [(s.inference_id, s.position) for s in log.coil_sheets("H24A017")] == [(body["sheet_id"], 12.5)]
    sheet = client.get(f"/v1/sheets/{body['sheet_id']}", headers={"X-API-Key": made["read"]}).json()
    assert (sheet["coil"], sheet["position"]) == ("H24A017", 12.5)

    plain = post(client, made["record"], STRIPS[1]).json()  # no fields: no coil, as before
    assert (plain["coil"], plain["position"]) == (None, None) and log.place_of(plain["sheet_id"]) is None


def test_a_bad_coil_or_a_position_alone_is_refused_before_inspecting(api):  # noqa: F811
    client, log, _keys, made = api
    for fields, says in (({"position": "3"}, "without a coil id"), ({"coil": "has space"}, "is not valid"),
                         ({"coil": "C1", "position": "-4"}, "out of range")):
        reply = post(client, made["record"], STRIPS[0], **fields)
        assert reply.status_code == 422 and says in reply.text, reply.text
    sha = hashlib.sha256(STRIPS[0].read_bytes()).hexdigest()
    assert log.recent_coils() == [] and log.inspected_shas([sha]) == set()  # nothing inspected, nothing recorded
