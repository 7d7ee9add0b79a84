"""The dashboard's pages through Streamlit's AppTest: real app.py, real (tiny, untrained) model set,
a fresh review log per test."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.contract.settings import load_settings
from core.datasets.synthetic import CLASS_NAMES
from core.engine.inference import Inspector
from core.modelsets.modelset import create_untrained
from core.review.queue import waiting
from core.review.store import Decision, ReviewLog
from tests.helpers.apptest import settle, sheet_picker
from tests.helpers.dashboard import (  # noqa: F401  (fixtures)
    KNOWN_SET,
    MODEL_SET,
    ROOT,
    account_token,
    dashboard_env,
    make_verdict,
    models_dir,
    start_app,
    strip_png,
)

TIMEOUT = 180
pytestmark = pytest.mark.usefixtures("dashboard_env")


start = start_app


def open_log() -> ReviewLog:
    return ReviewLog.from_settings(load_settings())


def button(app: AppTest, prefix: str):
    matches = [b for b in app.button if b.label.startswith(prefix)]
    assert matches, f"no button starting {prefix!r} in {[b.label for b in app.button]}"
    return matches[0]


def badges(app: AppTest) -> list[str]:
    return [m.value for m in app.markdown if "-badge[" in m.value]


def sheet_names(app: AppTest) -> list[str]:
    return [o.split(". ", 1)[1] for o in sheet_picker(app).options]  # AppTest lists the labels, numbered


def test_upload_shows_the_verdict_and_accept_is_logged():
    data = strip_png(11)
    expected = Inspector.load(load_settings().models_dir / MODEL_SET, "cpu").inspect((data, "sheet.png"))
    app = start(username="ivan", role="inspector")
    app.file_uploader[0].upload("sheet.png", data, "image/png").run()
    settle(app)
    assert not app.error
    headline = "Defective: " + ", ".join(expected.classes_present) if expected.defective else "Clean"
    assert any(f"Model: {headline} · undecided" in b for b in badges(app))
    assert any("untrained" in w.value for w in app.warning)  # the model set is untrained and the page says so
    probabilities = app.dataframe[0].value
    assert list(probabilities["class"]) == list(CLASS_NAMES)
    assert list(probabilities["probability"]) == pytest.approx(expected.probabilities, abs=1e-3)
    assert [b.label for b in app.button if b.label == "Defect-free"] == (["Defect-free"] if expected.defective else [])

    button(app, "Accept").click().run()
    assert not app.exception
    (review,) = open_log().reviews_of(expected.image_sha256)
    assert (review.reviewer, review.decision, review.page) == ("ivan", "accept", "inspect")
    assert tuple(review.classes) == expected.classes_present
    assert any("Decided:" in b and "ivan" in b for b in badges(app))  # the label now, not the model's
    assert not [b for b in app.button if b.label.startswith("Accept")]  # a decided sheet is changed, not accepted
    assert sheet_names(app)[0].startswith("✓ sheet.png")


def test_a_refused_override_keeps_its_classes_and_reason_then_is_logged(monkeypatch):
    monkeypatch.setenv("STEELSCAN_MODEL_SET", KNOWN_SET)  # every sheet is called "pits": no branch on chance
    data = strip_png(12)
    app = settle(start().file_uploader[0].upload("sheet.png", data, "image/png").run())
    log = open_log()
    sha = log.images_frame().iloc[0]["image_sha256"]
    button(app, "Override").click().run()
    button(app, "patches").click().run()  # toggles patches on (pits stays: the model's classes are the start)
    button(app, "pits").click().run()
    button(app, "Record").click().run()  # no reason: refused, nothing recorded, nothing lost
    assert any("needs a reason" in e.value for e in app.error)
    assert log.reviews_of(sha) == []
    assert [b.label for b in app.button if b.label in CLASS_NAMES and b.proto.type == "primary"] == ["patches"]
    button(app, "wrong class").click().run()
    assert not app.exception and not app.error
    (review,) = log.reviews_of(sha)
    assert (review.decision, review.classes, review.reason) == ("override", ["patches"], "wrong class")


def test_defect_free_is_one_action_and_a_change_needs_its_own_reason(monkeypatch):
    monkeypatch.setenv("STEELSCAN_MODEL_SET", KNOWN_SET)
    data = strip_png(13)
    app = settle(start().file_uploader[0].upload("sheet.png", data, "image/png").run())
    button(app, "Defect-free").click().run()
    log = open_log()
    (first,) = log.reviews_of(log.images_frame().iloc[0]["image_sha256"])
    assert (first.decision, first.classes, first.reason) == ("override", [], "false alarm")
    button(app, "Change decision").click().run()
    button(app, "pits").click().run()
    reason = [t for t in app.text_input if t.key and t.key.startswith("reason-")][0]
    reason.input("looked again: pits after all")
    button(app, "Record").click().run()
    reviews = log.reviews_of(first.image_sha256)
    assert [(r.decision, r.classes) for r in reviews] == [("override", []), ("accept", ["pits"])]
    assert reviews[1].replaces_review_id == first.id and reviews[1].reason == "looked again: pits after all"


def test_a_colleagues_decision_meanwhile_is_shown_not_overwritten(monkeypatch):
    monkeypatch.setenv("STEELSCAN_MODEL_SET", KNOWN_SET)
    data = strip_png(14)
    app = settle(start(username="ivan", role="inspector").file_uploader[0].upload("sheet.png", data,
                                                                                   "image/png").run())
    log = open_log()
    iid = int(log.images_frame().iloc[0]["inference_id"])
    log.add_review(iid, "ann", Decision.defect_free(log.verdict(iid), "edge glare"))  # while ivan looks
    button(app, "Accept").click().run()
    assert [r.reviewer for r in log.reviews_of(log.verdict(iid).image_sha256)] == ["ann"]  # nothing recorded
    assert any("ann decided defect-free" in w.value for w in app.warning)
    button(app, "Replace it with pits").click().run()
    reviews = log.reviews_of(log.verdict(iid).image_sha256)
    assert [(r.reviewer, r.classes) for r in reviews] == [("ann", []), ("ivan", ["pits"])]
    assert reviews[1].replaces_review_id == reviews[0].id


def test_batch_upload_reports_bad_files_and_advances_after_each_decision():
    app = start()
    uploader = app.file_uploader[0]
    uploader.upload("one.png", strip_png(21), "image/png").upload("broken.png", b"not an image", "image/png")
    uploader.upload("two.png", strip_png(22), "image/png").upload("three.png", strip_png(23), "image/png").run()
    settle(app)
    assert any("broken.png" in e.value and "not an image" in e.value for e in app.error)
    assert [n.split(" — ")[0] for n in sheet_names(app)] == ["• one.png", "• two.png", "• three.png"]
    ids = [item.inference_id for item in open_log().current_batch("ann").items]
    button(app, "Next").click().run()
    assert app.session_state["inspect-selected"] == ids[1]
    button(app, "Accept").click().run()  # the next undecided after two.png is three.png, not the first one
    assert app.session_state["inspect-selected"] == ids[2]
    button(app, "Skip").click().run()
    assert app.session_state["inspect-selected"] == ids[0]
    button(app, "Accept").click().run()
    assert len(open_log().reviews_frame()) == 2
    app2 = start()  # a new session (a reload, another browser) of the same inspector: the batch is back
    assert [n.split(" — ")[0] for n in sheet_names(app2)] == ["✓ one.png", "✓ two.png", "• three.png"]


def test_folder_opens_as_a_batch_inspects_new_images_and_filters(tmp_path, monkeypatch):
    folder = tmp_path / "plant-images" / "line3"
    folder.mkdir(parents=True)
    for seed in range(3):
        (folder / f"strip_{seed}.png").write_bytes(strip_png(40 + seed))
    (tmp_path / "plant-images" / "elsewhere.png").write_bytes(strip_png(49))
    monkeypatch.setenv("STEELSCAN_IMAGE_ROOTS", str(tmp_path / "plant-images"))
    app = start()
    app.segmented_control(key="inspect_mode").set_value("Folder").run()
    assert not [t for t in app.text_input if t.key == "folder_path"]  # a root and a subfolder are picked, not typed
    assert app.selectbox(key="folder_root").options == [str(tmp_path / "plant-images")]
    app.selectbox(key="folder_sub").set_value("line3").run()
    button(app, "Open as my batch (3 to inspect)").click().run()
    settle(app)
    log = open_log()
    assert len(log.images_frame()) == 3
    assert any("3 images · 3 inspected" in c.value for c in app.caption)
    assert len(sheet_names(app)) == 3
    button(app, "Accept").click().run()
    app.segmented_control(key="overview-filter").set_value("Undecided").run()
    assert len([b for b in app.button if b.label == "Open"]) == 2


def test_folder_mode_is_off_without_image_roots():
    app = start()
    app.segmented_control(key="inspect_mode").set_value("Folder").run()
    assert not app.exception
    assert any("Folder mode is off" in i.value for i in app.info)
    assert not [s for s in app.selectbox if s.key == "folder_root"]


def _queue_with(log: ReviewLog) -> dict[str, int]:
    cases = {"sure_clean.png": (0.02, 0.01, 0.03, 0.02), "defect.png": (0.97, 0.1, 0.1, 0.1),
             "borderline.png": (0.46, 0.1, 0.1, 0.1), "near.png": (0.1, 0.1, 0.61, 0.1)}
    ids = {}
    for seed, (name, probs) in enumerate(cases.items()):
        data = strip_png(60 + seed)
        ids[name] = log.record_inference(make_verdict(data, name, probs), data)
    return ids


def showing(app: AppTest) -> str | None:
    """The name of the queue sheet on screen, or None."""
    picker = sheet_picker(app, "queue")
    return picker.options[0].split(" — ")[0][5:] if picker else None  # "1. • name — …"  # one sheet at a time


def waiting_shown(app: AppTest) -> int:
    """The Review queue's one waiting counter (beside the sheet, or instead of it)."""
    [line] = [c.value for c in app.caption if "Waiting for review: " in c.value]
    return int(line.split("Waiting for review: ")[1].split("*")[0])


def test_review_queue_shows_most_uncertain_first_and_advances():
    log = open_log()
    _queue_with(log)
    app = start("app_pages/review_queue.py")
    assert waiting_shown(app) == 3
    assert showing(app) == "borderline.png"
    button(app, "Accept").click().run()
    assert waiting_shown(app) == 2 and showing(app) == "near.png"
    button(app, "Skip").click().run()
    assert showing(app) == "defect.png"
    button(app, "Override").click().run()
    button(app, "patches").click().run()
    [reason] = [t for t in app.text_input if t.key and t.key.startswith("reason-")]
    reason.input("patch next to the pits")
    button(app, "Record").click().run()
    assert waiting_shown(app) == 1
    assert any("You skipped" in i.value for i in app.info)
    button(app, "Show skipped sheets again").click().run()
    assert showing(app) == "near.png"
    app.segmented_control(key="queue_order").set_value("oldest").run()
    assert showing(app) == "near.png"
    reviews = log.reviews_frame()
    assert reviews["page"].tolist() == ["queue", "queue"]
    assert reviews["decision"].tolist() == ["accept", "override"]
    assert waiting(log, load_settings().uncertainty_band) == 1


def test_statistics_reflect_the_decisions():
    log = open_log()
    ids = _queue_with(log)
    app = start("app_pages/statistics.py")
    values = {m.label: m.value for m in app.metric}
    assert values == {"Sheets inspected": "4", "Defective": "2", "Reviewed": "0", "Override rate": "0%",
                      "Waiting for review": "3"}
    assert len(app.get("plotly_chart")) >= 3
    log.add_review(ids["defect.png"], "Ann", Decision.accept(log.verdict(ids["defect.png"])))
    near = log.verdict(ids["near.png"])
    log.add_review(ids["near.png"], "Bob", Decision.defect_free(near, "reflection"))
    app.run()
    values = {m.label: m.value for m in app.metric}
    assert values["Reviewed"] == "2" and values["Override rate"] == "50%" and values["Waiting for review"] == "1"
    assert values["Defective"] == "1"  # near.png is clean now: its latest review says so
    table = app.dataframe[-1].value
    assert sorted(table["reviewer"].tolist()) == ["", "", "Ann", "Bob"]
    assert table.columns[0] == "image" and "sha256" not in table.columns  # the CSV keeps the hash; the page not
    app.multiselect(key="stats_classes").set_value(["patches"]).run()
    assert {m.label: m.value for m in app.metric}["Defective"] == "0"
    assert [c for c in app.dataframe[-1].value.columns if c.startswith("p_")] == ["p_patches"]


def test_statistics_page_without_data_says_what_to_do():
    app = start("app_pages/statistics.py")
    assert any("No sheets inspected yet" in i.value for i in app.info)


def test_models_page_logs_threshold_changes_that_inspection_then_uses():
    app = start("app_pages/models.py")
    assert any("device in use: **cpu**" in c.value for c in app.caption)
    app.number_input(key="t-pits").set_value(0.99)
    app.number_input(key="a-scratches").set_value(250)
    app.text_input(key="settings_reason").input("too many false pits")
    button(app, "Save changes").click().run()
    assert not app.exception
    changes = open_log().setting_changes()
    assert sorted(zip(changes["key"], changes["class_name"], changes["new_value"], changes["changed_by"],
                      strict=True)) == [("min_area", "scratches", "250", "ann"), ("threshold", "pits", "0.99", "ann")]
    app.switch_page("app_pages/inspect.py").run()
    settle(app.file_uploader[0].upload("sheet.png", strip_png(70), "image/png").run())
    thresholds = app.dataframe[0].value["threshold"].tolist()
    assert thresholds == [0.99, 0.5, 0.5, 0.5]


def test_models_page_switches_the_active_set_and_logs_it(tmp_path, monkeypatch):
    models = tmp_path / "models"
    for name in ("set-a", "set-b"):
        create_untrained(models / name, name, CLASS_NAMES, classifier_architecture="resnet18",
                         segmenter_encoder="resnet18")
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(models))
    monkeypatch.setenv("STEELSCAN_MODEL_SET", "set-a")
    app = start("app_pages/models.py")
    app.selectbox[0].set_value("set-b").run()
    button(app, "Make set-b the active model set").click().run()
    assert open_log().active_model_set() is None  # without a reason: refused, and the page says why
    assert any("Reason for the change" in e.value for e in app.error)
    app.text_input(key="activate_reason").input("set-b has the new coil grades")
    button(app, "Make set-b the active model set").click().run()
    assert open_log().active_model_set() == "set-b"
    assert open_log().setting_changes()["reason"].tolist() == ["set-b has the new coil grades"]
    app.switch_page("app_pages/inspect.py").run()
    assert any("Model set **set-b**" in c.value for c in app.caption)


def test_without_a_model_set_the_app_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(tmp_path / "empty_models"))
    app = start()
    assert any("holds no model set" in e.value for e in app.error)
    assert any("python -m core.train" in i.value and "Models page" in i.value for i in app.info)
    app.switch_page("app_pages/models.py").run()
    button(app, "Create the untrained demo set").click().run()
    assert not app.exception
    app.switch_page("app_pages/inspect.py").run()
    assert any("demo-untrained" in c.value for c in app.caption) and not app.error


def test_two_reviewers_on_the_queue_are_shown_different_sheets():
    log = open_log()
    _queue_with(log)  # three flagged: borderline, near, defect (most uncertain first)
    ann = start("app_pages/review_queue.py", username="ann", role="inspector")
    bob = start("app_pages/review_queue.py", username="bob", role="inspector")
    assert showing(ann) == "borderline.png" and showing(bob) == "near.png"
    cara = start("app_pages/review_queue.py", username="cara", role="inspector")
    assert showing(cara) == "defect.png"
    dan = start("app_pages/review_queue.py", username="dan", role="inspector")
    assert showing(dan) is None and any("3 waiting sheets are open with another reviewer" in i.value for i in dan.info)
    button(ann, "Accept").click().run()  # ann decides and moves on; her claim ends with the decision
    assert showing(ann) is None and any("2 waiting sheets are open" in i.value for i in ann.info)
    button(bob, "Skip").click().run()  # a skip frees the sheet for the others
    dan.run()
    assert showing(dan) == "near.png"
    reviews = log.reviews_frame()
    assert reviews[["reviewer", "image_name"]].values.tolist() == [["ann", "borderline.png"]]
