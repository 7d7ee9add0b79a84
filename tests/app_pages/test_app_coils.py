"""The Coils page draws a coil from sheets the folder watcher recorded (coil and position from their file names):
its defect map along the length, counts and grade, a sheet opened from the map's chooser, the CSV/JSON report; an
inspector's correction changes the grade. (Inspectors are refused: tests/app_pages/test_app_auth.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.contract.settings import load_settings
from core.line.watcher import Watcher, WatchOptions
from core.review.active import ActiveEngine
from core.review.store import Decision
from tests.app_pages.test_app import open_log, start
from tests.helpers.dashboard import KNOWN_SET, dashboard_env, models_dir, strip_png  # noqa: F401  (fixtures)

PATTERN = r"(?P<coil>[A-Z0-9]+)_(?P<position>\d+(\.\d+)?)m"
POSITIONS = (0.0, 12.5, 25.0, 37.5, 50.0)


def feed_the_watcher(folder: Path, names: list[str], seed0: int = 600) -> None:
    """Synthetic strips dropped into a watched folder, inspected and recorded by the watcher's own code path (each
    content once: give later calls other seeds)."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names, start=seed0):
        (folder / name).write_bytes(strip_png(seed))
    settings = load_settings()
    log = open_log()
    watcher = Watcher(WatchOptions([folder], ["*.png"], settle_s=0.0, heartbeat_s=60, name="coils-test",
                                   coil_pattern=PATTERN), ActiveEngine(log, settings), log, settings.uncertainty_band)
    watcher.scan()
    for _ in range(50):
        watcher.step()
        if watcher.beat.inspected == len(names):
            break
    assert watcher.beat.inspected == len(names) and watcher.beat.errors == 0, watcher.beat.last_error


@pytest.fixture
def coil_sheets(dashboard_env, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("STEELSCAN_MODEL_SET", KNOWN_SET)  # every sheet "pits" at 0.9: a defect at each position
    monkeypatch.setenv("STEELSCAN_COIL_GRADE_RULE", "A: 0 defects; B: <= 3 defects; C: otherwise")
    feed_the_watcher(tmp_path / "cam", [f"H24A017_{m:g}m.png" for m in POSITIONS] + ["C2_5m.png"])
    return tmp_path


def map_traces(app) -> dict[str, list[float]]:
    [chart] = [c for c in app.get("plotly_chart") if "coil_map_" in c.proto.id]
    return {trace["name"]: trace["x"] for trace in json.loads(chart.proto.spec)["data"]}


def test_a_supervisor_sees_a_watched_coil_along_its_length_and_its_grade(coil_sheets):
    app = start("app_pages/coils.py", username="sam", role="supervisor")
    picker = app.selectbox(key="coil_pick")
    assert {o.split(" · ")[0] for o in picker.options} == {"H24A017", "C2"}
    picker.set_value("H24A017").run()
    assert not app.exception, [e.value for e in app.exception]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Grade"] == "C" and metrics["Sheets"] == "5" and metrics["Defective"] == "5"
    assert metrics["pits"] == "5" and metrics["scratches"] == "0"
    assert any("Grade C: otherwise (5 defects)" in c.value.replace("\\", "") for c in app.caption)
    traces = map_traces(app)
    assert traces["pits"] == list(POSITIONS) and traces["scratches"] == []  # x = metres along the coil
    assert traces["all sheets"] == list(POSITIONS)

    app.selectbox(key="coil_sheet_H24A017").set_value(open_log().coil_sheets("H24A017")[2].inference_id).run()
    assert not app.exception
    opened = " ".join(m.value for m in app.markdown)
    assert r"H24A017\_25m.png" in opened and "25 m from the head end" in opened and "Label: pits" in opened
    assert len(app.get("image")) == 1  # the stored strip, its label's masks drawn over it

    csv_button, json_button = app.get("download_button")
    assert "Coil report CSV" in str(csv_button.proto) and "Coil report JSON" in str(json_button.proto)

    # Two inspectors' corrections: three defective sheets left, grade B.
    log = open_log()
    for sheet in log.coil_sheets("H24A017")[:2]:
        log.add_review(sheet.inference_id, "ivan", Decision.override(log.verdict(sheet.inference_id), (),
                                                                    "roll mark, not a pit"))
    app.run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Grade"] == "B" and metrics["Defective"] == "3" and metrics["pits"] == "3"
    assert any("Grade B: <= 3 defects (3)" in c.value.replace("\\", "") for c in app.caption)
    assert map_traces(app)["pits"] == list(POSITIONS[2:])

