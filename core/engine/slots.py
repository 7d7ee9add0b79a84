"""A bounded inference queue shared by every caller in one process: at most N runs at once, the rest wait.

Sessions of a Streamlit server each run their own script thread; without a bound, ten sessions inspecting at
once run ten forward passes at once, oversubscribing the cores (each torch op already uses every core) and
multiplying peak memory. `InferenceSlots.gated` wraps a results generator (Inspector.inspect_many) so each step
of it - the decode and forward pass of one batch - runs inside a slot; whatever the caller does with a result
(storing it, drawing it) happens outside, so a slot is only ever held for model work. Waiting callers are
served in arrival order (a ticket queue), so a long folder run cannot starve a single upload.

Line work first: a step asked for with `line=True` (the folder watcher's and the API's sheets, which a PLC waits
for) is served before every waiting dashboard step, in arrival order among line steps. A dashboard batch then
delays a line sheet by at most the one step already running, never by the steps of every inspector queued ahead
(benchmarks/bench_line_latency.py, docs/line.md). The line's rate is bounded by the camera, so it cannot starve
the dashboard for long; a line backlog is served first, and the dashboard waits while it drains.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class InferenceSlots:
    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"inference concurrency must be at least 1, got {concurrency}")
        self.concurrency = concurrency
        self._condition = threading.Condition()
        self._queue: deque[object] = deque()
        self._line: deque[object] = deque()  # line work: served before anything in _queue
        self._running = 0
        self.peak_running = 0  # for tests and figures: the most runs ever at once
        self.runs = 0

    @property
    def waiting(self) -> int:
        with self._condition:
            return len(self._queue) + len(self._line)

    @property
    def running(self) -> int:
        with self._condition:
            return self._running

    def resize(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"inference concurrency must be at least 1, got {concurrency}")
        with self._condition:
            self.concurrency = concurrency
            self._condition.notify_all()

    def _first(self) -> object:
        return self._line[0] if self._line else self._queue[0]

    @contextmanager
    def slot(self, line: bool = False) -> Iterator[None]:
        """One run's turn; `line`: the line's work, served before the dashboard's."""
        ticket = object()
        queue = self._line if line else self._queue
        with self._condition:
            queue.append(ticket)
            self._condition.wait_for(lambda: self._first() is ticket and self._running < self.concurrency)
            queue.popleft()
            self._running += 1
            self.runs += 1
            self.peak_running = max(self.peak_running, self._running)
            self._condition.notify_all()  # the next ticket may start too if a slot is still free
        try:
            yield
        finally:
            with self._condition:
                self._running -= 1
                self._condition.notify_all()

    def gated(self, results: Iterable[T], line: bool = False) -> Iterator[T]:
        """The same results, each step of the generator computed inside a slot (a line slot with `line`)."""
        iterator = iter(results)
        while True:
            with self.slot(line):
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item


_shared: InferenceSlots | None = None
_shared_lock = threading.Lock()


def shared_slots(concurrency: int | None = None) -> InferenceSlots:
    """The process's one inference queue, for dashboard sessions and API requests alike (setting
    inference_workers). Made on first use; a different `concurrency` resizes it in place, so every holder
    keeps waiting on the same queue. None: as it is (1 when new)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = InferenceSlots(concurrency or 1)
        elif concurrency is not None and concurrency != _shared.concurrency:
            _shared.resize(concurrency)
        return _shared
