"""The shared inference queue: never more runs at once than configured, first come first served, and a
folder run through inspect_and_record takes a slot for each step of model work."""

from __future__ import annotations

import threading
import time

import pytest

from core.engine.slots import InferenceSlots
from core.review.batch import inspect_and_record
from core.review.store import ReviewLog
from tests.helpers.dashboard import strip_png


def slow_results(count: int, active: list[int], lock: threading.Lock):
    for i in range(count):
        with lock:
            active[0] += 1
            active[1] = max(active[1], active[0])
        time.sleep(0.02)  # "a forward pass"
        with lock:
            active[0] -= 1
        yield i


@pytest.mark.parametrize("concurrency", [1, 2])
def test_ten_sessions_never_run_more_than_the_configured_number_at_once(concurrency):
    slots, lock = InferenceSlots(concurrency), threading.Lock()
    active = [0, 0]  # running now, most ever
    outputs: dict[int, list[int]] = {}

    def session(n: int) -> None:
        outputs[n] = list(slots.gated(slow_results(5, active, lock)))

    threads = [threading.Thread(target=session, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert active[1] == concurrency == slots.peak_running  # bounded, and the bound was reached
    assert outputs == {n: [0, 1, 2, 3, 4] for n in range(10)}  # every session got all its results, in order
    assert slots.running == 0 and slots.waiting == 0


def test_waiting_callers_are_served_in_arrival_order():
    slots, order = InferenceSlots(1), []
    release = threading.Event()

    def hold() -> None:
        with slots.slot():
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    while slots.running == 0:
        time.sleep(0.001)
    waiters = []
    for n in range(5):
        waiters.append(threading.Thread(target=_take, args=(slots, order, n)))
        waiters[-1].start()
        while slots.waiting < n + 1:
            time.sleep(0.001)
    release.set()
    for thread in [holder, *waiters]:
        thread.join()
    assert order == [0, 1, 2, 3, 4]


def _take(slots: InferenceSlots, order: list[int], n: int) -> None:
    with slots.slot():
        order.append(n)


def test_a_folder_run_takes_a_slot_per_step(tiny_inspector, tmp_path):
    log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    slots = InferenceSlots(1)
    sources = [(strip_png(500 + i), f"s{i}.png") for i in range(4)]
    items = list(inspect_and_record(tiny_inspector, log, sources, 0.15, slots=slots))
    assert [item.error for item in items] == [""] * 4 and all(item.inference_id for item in items)
    assert slots.runs == 5 and slots.peak_running == 1  # 4 results + the final StopIteration step
    log.close()


def test_the_shared_slots_are_one_queue_resized_in_place():
    from core.engine.slots import shared_slots

    first = shared_slots(2)
    assert shared_slots() is first and first.concurrency == 2
    assert shared_slots(1) is first and first.concurrency == 1  # holders keep waiting on the same queue


def test_line_work_is_served_before_waiting_dashboard_steps():
    """Three inspectors' batch steps wait; a watcher's sheet arriving after them runs next, then theirs in order."""
    slots, order = InferenceSlots(1), []
    release = threading.Event()

    def hold() -> None:
        with slots.slot():
            release.wait()

    def take(name: str, line: bool) -> None:
        with slots.slot(line=line):
            order.append(name)

    holder = threading.Thread(target=hold)
    holder.start()
    while slots.running == 0:
        time.sleep(0.001)
    waiters = []
    for n, (name, line) in enumerate([("ann", False), ("bob", False), ("cam-1", True), ("cat", False),
                                      ("cam-2", True)]):
        waiters.append(threading.Thread(target=take, args=(name, line)))
        waiters[-1].start()
        while slots.waiting < n + 1:
            time.sleep(0.001)
    release.set()
    for thread in [holder, *waiters]:
        thread.join()
    assert order == ["cam-1", "cam-2", "ann", "bob", "cat"]
    assert list(slots.gated(iter([1, 2]), line=True)) == [1, 2]
