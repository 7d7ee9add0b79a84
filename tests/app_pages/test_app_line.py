"""The line on the dashboard: API keys on the Users page, watcher heartbeats and the self-refreshing queue."""

from __future__ import annotations

import pytest

from core.accounts.apikeys import ApiKeys
from core.line.heartbeat import Beat, write_beat
from core.review.store.models import utc_now
from tests.app_pages.test_app import button, open_log, start
from tests.helpers.dashboard import dashboard_env, make_verdict, models_dir, strip_png  # noqa: F401  (fixtures)
from ui.line import beat_line, needs_full_rerun

pytestmark = pytest.mark.usefixtures("dashboard_env")


def test_an_admin_makes_a_key_sees_it_once_and_revokes_it():
    app = start("app_pages/users.py")
    app.text_input(key="api_key_name").input("mes-line3")
    app.multiselect(key="api_key_scopes").set_value(["record", "read"])
    button(app, "Make key").click().run()
    assert not app.exception and any("Copy it now" in s.value for s in app.success)
    [secret] = [c.value for c in app.code if c.value.startswith("ssk_")]
    keys = ApiKeys(open_log())
    found = keys.check(secret)
    assert found.name == "mes-line3" and found.scopes == ("record", "read")
    app.run()  # shown once: gone on the next rerun
    assert not [c for c in app.code if c.value.startswith("ssk_")]
    app.selectbox(key="api_key_revoke").set_value("mes-line3")
    button(app, "Revoke key").click().run()
    assert keys.check(secret) is None
    changes = open_log().setting_changes()
    assert changes[changes["key"].str.startswith("api_key_")][["key", "changed_by"]].values.tolist() == [
        ["api_key_added", "ann"], ["api_key_revoked", "ann"]]


def test_the_queue_shows_the_watchers_heartbeat():
    log = open_log()
    data = strip_png(70)
    log.record_inference(make_verdict(data, "cam1/defect.png", (0.97, 0.1, 0.1, 0.1)), data, source="watch")
    write_beat(log, Beat("line3:watch", ["/cams/line3"], inspected=41, errors=2, backlog=5, rate_per_s=1.5,
                         last_image="/cams/line3/defect.png", last_image_at=utc_now(), last_error="x.png: is empty"))
    app = start("app_pages/review_queue.py", username="ivan", role="inspector")
    assert any("Waiting for review: 1**" in c.value for c in app.caption)
    [caption] = [c.value for c in app.caption if "Watcher" in c.value]
    assert "line3:watch** running" in caption and "defect.png" in caption and "backlog 5" in caption
    assert "**2 errors** (last: x.png: is empty)" in caption


def test_only_an_idle_queue_page_reruns_whole():
    assert needs_full_rerun(showing_sheet=False, others_hold=False, count_then=0, count_now=3)  # new sheets
    assert not needs_full_rerun(showing_sheet=True, others_hold=True, count_then=0, count_now=3)  # mid-decision
    assert not needs_full_rerun(showing_sheet=False, others_hold=False, count_then=2, count_now=2)  # skipped ones
    assert needs_full_rerun(showing_sheet=False, others_hold=True, count_then=2, count_now=2)  # claims may lapse
    assert not needs_full_rerun(showing_sheet=False, others_hold=False, count_then=2, count_now=0)


def test_a_silent_watcher_says_so():
    line = beat_line({"name": "w", "alive": False, "updated_at": utc_now(), "last_image": "", "last_image_at": None,
                      "rate_per_s": 0.0, "backlog": 0, "inspected": 0, "errors": 0, "last_error": ""})
    assert "silent since" in line and "no image yet" in line and "no errors" in line
