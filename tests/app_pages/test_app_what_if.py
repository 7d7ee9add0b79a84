"""The Threshold what-if page through AppTest: the real app.py, signed in, a review log seeded with sheets the active
(tiny, untrained) model set scored and inspectors decided; the slider moves the numbers, Apply logs the threshold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core.contract.settings import load_settings
from core.modelsets.modelset import read_card
from core.review.store import Decision, ReviewLog
from core.review.store.models import utc_now
from tests.helpers.dashboard import (  # noqa: F401  (fixtures)
    MODEL_SET,
    ROOT,
    account_token,
    dashboard_env,
    make_verdict,
    models_dir,
    noise_png,
)

TIMEOUT = 180
PAGE = "app_pages/what_if.py"
pytestmark = pytest.mark.usefixtures("dashboard_env")
# pits score, hours ago, the inspector's classes (None: not reviewed yet)
SHEETS = [(0.95, 2, ("pits",)), (0.80, 5, ()), (0.60, 9, ("pits",)), (0.40, 30, ("pits",)), (0.20, 50, ()),
          (0.30, 70, None)]


def seed(log: ReviewLog, fingerprint: str) -> None:
    """Six sheets of the last three days scored by the active set, and one by another set that must not count."""
    for seed_, (pits, hours, classes) in enumerate(SHEETS):
        data = noise_png(900 + seed_)
        verdict = make_verdict(data, f"s{seed_}.png", (pits, 0.1, 0.1, 0.1), fingerprint=fingerprint)
        inference_id = log.record_inference(verdict, data, at=utc_now() - timedelta(hours=hours))
        if classes is not None:
            decision = (Decision.accept(verdict) if classes == verdict.classes_present
                        else Decision.override(verdict, classes, "inspector's call"))
            log.add_review(inference_id, "ivan", decision)
    other = noise_png(999)
    log.record_inference(make_verdict(other, "other.png", (0.99, 0.1, 0.1, 0.1), model_set="other",
                                      fingerprint="other@1+x"), other)


def start(role: str = "admin", username: str = "ann") -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    app.session_state["auth_token"] = account_token(username, role)
    app.run()
    app.switch_page(PAGE).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric if m.label != "preload"}  # ui.warmup's hidden one


@pytest.fixture
def log(models_dir):  # noqa: F811
    review_log = ReviewLog.from_settings(load_settings())
    seed(review_log, read_card(models_dir / MODEL_SET).fingerprint)
    yield review_log
    review_log.close()


def test_the_slider_moves_the_numbers_and_apply_logs_the_threshold(log, models_dir):  # noqa: F811
    app = start()
    assert app.title[0].value == "Threshold what-if"
    # At the card's 0.50, of 6 sheets: .95 .80 .60 flagged; confirmed .95 .60 .40, the .40 one missed.
    shown = metrics(app)
    assert shown.pop("Busiest shift").endswith(" flagged")  # which shifts the sheets fall in depends on the clock
    assert shown == {"Flagged, last 7 d": "3 of 6", "Missed confirmed": "1 of 3", "Precision (reviewed)": "67%",
                     "Recall (reviewed)": "67%"}
    assert any("In force: 0.50, the card" in c.value for c in app.caption)
    assert len(app.get("plotly_chart")) >= 3  # histogram, curve, shifts (+ ui.warmup's hidden preload)
    assert app.button(key="whatif_apply").disabled  # nothing moved yet

    app.slider(key="whatif_threshold_pits").set_value(0.35).run()
    assert metrics(app)["Flagged, last 7 d"] == "4 of 6" and metrics(app)["Missed confirmed"] == "0 of 3"
    assert metrics(app)["Recall (reviewed)"] == "100%"
    assert log.setting_changes().empty  # moving the slider changes nothing

    app.button(key="whatif_apply").click().run()  # no reason yet
    assert any("Reason for the change: is empty" in e.value for e in app.error)
    assert log.setting_changes().empty

    app.text_input(key="whatif_reason").input("the 0.40 sheet was a real pit")
    app.button(key="whatif_apply").click().run()
    assert not app.exception and not app.error
    fingerprint = read_card(models_dir / MODEL_SET).fingerprint
    assert log.class_overrides(fingerprint) == {"pits": {"threshold": 0.35}}
    change = log.setting_changes().iloc[-1]
    assert (change["key"], change["class_name"], change["old_value"], change["new_value"], change["changed_by"],
            change["reason"]) == ("threshold", "pits", "0.5", "0.35", "ann", "the 0.40 sheet was a real pit")
    assert any("In force: 0.35, set by ann" in c.value for c in app.caption)
    assert app.button(key="whatif_apply").disabled  # the new threshold is the one in force now
    assert metrics(app)["Flagged, last 7 d"] == "4 of 6"


def test_a_supervisor_sees_the_what_if_but_cannot_apply(log):
    app = start("supervisor", "sam")
    app.selectbox(key="whatif_class").set_value("scratches").run()
    app.slider(key="whatif_threshold_scratches").set_value(0.05).run()
    assert metrics(app)["Flagged, last 7 d"] == "6 of 6"
    assert app.button(key="whatif_apply").disabled and app.text_input(key="whatif_reason").disabled
    assert any("Only an admin can apply" in c.value for c in app.caption)
    assert any("No reviewed sheet is confirmed scratches" in c.value for c in app.caption)


def test_without_sheets_of_the_active_set_the_page_says_what_to_do():
    app = start()
    assert any("No sheet has been inspected with" in i.value for i in app.info)
