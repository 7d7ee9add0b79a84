"""The watcher reads each sheet's coil and position from its path (setting coil_pattern) and records them beside the
verdict; a name the pattern matches with an id that cannot be stored is recorded without a coil, and said so.
With a shared inference queue, the watcher's model work takes line slots."""

from __future__ import annotations

import threading

from core.contract.coil import CoilPlace
from core.contract.settings import load_settings
from core.engine.slots import InferenceSlots
from core.line.watcher import Watcher, WatchOptions
from core.review.active import ActiveEngine
from core.review.store import ReviewLog
from tests.core.line.test_watcher import env, strip_png, wait_for  # noqa: F401  (fixture)

PATTERN = r"(?P<coil>[A-Z0-9]+)_(?P<position>\d+(\.\d+)?)m"


class LineSlots(InferenceSlots):
    """Counts the steps asked for as line work."""

    line_steps = 0

    def slot(self, line: bool = False):
        self.line_steps += line
        return super().slot(line)


def test_watched_sheets_carry_the_coil_and_position_their_path_names(env):  # noqa: F811
    settings = load_settings()
    log = ReviewLog.from_settings(settings)
    (env / "cam" / "C88").mkdir()
    names = {"H24A017_12.5m.png": CoilPlace("H24A017", 12.5), "C88/C88_3m.png": CoilPlace("C88", 3.0),
             "strip_0001.png": None, ("X" * 70) + "_4m.png": None}
    for seed, name in enumerate(names):
        (env / "cam" / name).write_bytes(strip_png(300 + seed))
    slots = LineSlots(1)
    watcher = Watcher(WatchOptions([env / "cam"], ["*.png"], batch_size=4, settle_s=0.5, heartbeat_s=0.5,
                                   name="coils", coil_pattern=PATTERN),
                      ActiveEngine(log, settings), log, settings.uncertainty_band, slots=slots)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: watcher.beat.inspected == 4, timeout=120)
    finally:
        stop.set()
        thread.join(timeout=30)
    recorded = {}
    for sheet in [s for c in log.recent_coils() for s in log.coil_sheets(c.coil)]:
        recorded[sheet.image_name] = log.place_of(sheet.inference_id)
    expected = {str(env / "cam" / name): place for name, place in names.items() if place is not None}
    assert recorded == expected
    assert watcher.beat.errors == 1 and "recorded without a coil" in watcher.beat.last_error
    assert "X" * 70 in watcher.beat.last_error  # the file is named
    assert slots.line_steps >= 4  # every sheet's model work waited as line work, ahead of dashboard batches
    log.close()
