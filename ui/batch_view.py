"""A batch (an upload or a folder) inspected in the background, and its overview.

The inspection runs in a server thread, one per inspector, not in the page's script: a decision, N/P or a reload
never stops it, and each image joins the inspector's batch in the review log (add_to_batch) as it finishes, so the
first verdict is on screen while the rest are still running, and the batch comes back after a reload or a restart.
A progress fragment follows the job while it runs: until the first result is shown each of its runs sleeps on the
job's event (at most a second), so nothing polls the server or redraws the browser while the engine has the CPU, and
the page reruns the moment the result is recorded; afterwards it polls each second. It reruns the whole page only
when the first result arrives (nothing was shown yet) and once when the job ends (a one-image batch: one rerun).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from core.contract.errors import SteelScanError
from core.engine.inference import Inspector
from core.imaging.imageio import load_image
from core.review.batch import Source, inspect_and_record
from core.review.sheets import Sheet, sheets_of
from core.review.store import Batch, ReviewLog
from core.review.store.db import not_recorded_because
from ui.engine import inference_slots
from ui.markup import plain_markdown
from ui.sheet_screen import select

OVERVIEW_PAGE = 12
FILTERS = ("All", "Undecided", "Flagged")
LIVE_EVERY_S = 1.0  # refresh of the progress bar and the sheet list's counts while a batch runs
FIRST_WAIT_S = 1.0  # one sleep of the progress fragment: a Stop click waits at most this long


@dataclass
class BatchJob:
    batch_id: int
    total: int
    done: int = 0
    recorded: int = 0  # images in the batch (done counts the refused ones too)
    errors: list[str] = field(default_factory=list)
    failure: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    # Set with the first recorded result, or at the end (after `finished`: a one-image batch is seen as done).
    first: threading.Event = field(default_factory=threading.Event)
    sources: Sequence[Source] = ()  # in order: after Stop, sources[done:] were never inspected
    again: Callable[[Sequence[Source]], BatchJob] | None = field(default=None, repr=False)  # same batch, same engine

    @property
    def remaining(self) -> Sequence[Source]:
        return self.sources[self.done:] if self.stop.is_set() and not self.running else ()

    @property
    def running(self) -> bool:
        return not self.finished.is_set()


@st.cache_resource(show_spinner=False)
def _jobs() -> dict[str, list[BatchJob]]:
    """Jobs of this server process, by inspector: a reload finds its jobs again."""
    return {}


def jobs_of(owner: str, batch_id: int | None) -> list[BatchJob]:
    return [job for job in _jobs().get(owner, []) if job.batch_id == batch_id]


def _run(job: BatchJob, inspector: Inspector, log: ReviewLog, sources: Sequence[Source], band: float,
         origin: str) -> None:
    try:
        # The first image alone, then the rest in the model's batches: its verdict is on screen in about the
        # time of one image instead of one batch.
        for chunk in (sources[:1], sources[1:]):
            for item in inspect_and_record(inspector, log, chunk, band, origin, should_stop=job.stop.is_set,
                                           slots=inference_slots()):
                if item.inference_id is not None:
                    log.add_to_batch(job.batch_id, item.inference_id)
                    job.recorded += 1
                else:
                    job.errors.append(item.error)
                job.done += 1
                if job.recorded and job.done < job.total:  # the last one: `finished` is set first (below)
                    job.first.set()
    except (SteelScanError, OSError, RuntimeError, SQLAlchemyError) as exc:  # shown by the progress fragment
        kind = not_recorded_because(exc)
        why = f"not recorded: the database is {kind} — inspect the rest again in a moment" if kind else str(exc)
        job.failure = f"The batch stopped after {job.done} of {job.total} images: {why} ({exc})"
    finally:
        job.finished.set()
        job.first.set()


def start_job(inspector: Inspector, log: ReviewLog, owner: str, batch_id: int, sources: Sequence[Source],
              band: float, origin: str) -> BatchJob:
    """Inspect `sources` into batch `batch_id` in a server thread (the inference slots still queue the work)."""
    job = BatchJob(batch_id, len(sources), sources=list(sources))
    job.again = lambda rest: start_job(inspector, log, owner, batch_id, rest, band, origin)
    kept = [j for j in _jobs().get(owner, []) if j.running and j.batch_id == batch_id]  # older batches: done with
    _jobs()[owner] = [*kept, job]
    threading.Thread(target=_run, args=(job, inspector, log, list(sources), band, origin), daemon=True,
                     name=f"batch-{batch_id}").start()
    return job


def _stop(jobs: Sequence[BatchJob]) -> None:
    for job in jobs:
        job.stop.set()


def _progress(owner: str, batch_id: int | None, shown: bool) -> None:
    jobs = jobs_of(owner, batch_id)
    if not jobs:
        return
    done, total = sum(j.done for j in jobs), sum(j.total for j in jobs)
    seen = f"jobs-seen-{id(jobs[-1])}"
    if any(j.running for j in jobs):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.progress(done / max(total, 1), text=f"Inspecting: {done} of {total} done")
        right.button("Stop", key="stop-batch", icon=":material/stop_circle:", on_click=_stop, args=(jobs,))
        if not shown:
            # Nothing on screen yet: sleep until the first result instead of polling, so the browser and the
            # server stay idle while the engine has the CPU, and the page shows the result the moment it is in.
            _await_first(jobs, FIRST_WAIT_S)
            if not any(j.running for j in jobs):  # a one-image batch: its first result was its last
                st.session_state[seen] = True  # one rerun shows it; no second one follows while the inspector works
            if any(j.first.is_set() for j in jobs):
                st.rerun(scope="app")  # the first result (or the end): show it
    elif not st.session_state.get(seen):
        st.session_state[seen] = True
        st.rerun(scope="app")  # finished: the overview and counts catch up once
    if any(j.stop.is_set() for j in jobs) and done < total:
        left = sum(len(j.remaining) for j in jobs)
        if left:
            warn, resume = st.columns([4, 1], vertical_alignment="center")
            warn.warning(f"Stopped after {done} of {total} images; the inspected ones are in the batch.")
            resume.button(f"Inspect the remaining {left}", key="resume-batch", icon=":material/play_circle:",
                          on_click=_resume, args=(jobs,), width="stretch")
        else:
            st.warning(f"Stopped after {done} of {total} images; the inspected ones are in the batch.")
    error_summary([error for job in jobs for error in job.errors], "not inspected")
    for job in jobs:
        if job.failure:
            st.error(job.failure)


def error_summary(messages: Sequence[str], what: str) -> None:
    """Files refused or not inspected, in one line whatever their number (a box per file pushed the decision row off
    the screen); each file's own message (name, reason, fix) behind Details."""
    if not messages:
        return
    if len(messages) == 1:
        st.error(messages[0], icon=":material/error:")
        return
    names = [plain_markdown(m.split(":", 1)[0]) for m in messages]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    left, right = st.columns([6, 1], vertical_alignment="center")
    left.error(f"{len(messages)} files {what}: {shown}", icon=":material/error:")
    with right.popover("Details", width="stretch"):
        for message in messages:
            st.markdown(f"- {plain_markdown(message)}")


def _resume(jobs: Sequence[BatchJob]) -> None:
    """Inspect what Stop left out, into the same batch (the stopped jobs are then done with)."""
    for job in jobs:
        rest, again = job.remaining, job.again
        if rest and again is not None:
            job.sources = job.sources[:job.done]  # its rest now belongs to the new job
            again(rest)


def _await_first(jobs: Sequence[BatchJob], seconds: float) -> None:
    """Block this fragment run (no CPU, no traffic to the browser) until a job has its first result or ends, at
    most `seconds`."""
    deadline = time.monotonic() + seconds
    while not any(j.first.is_set() for j in jobs) and (left := deadline - time.monotonic()) > 0:
        jobs[-1].first.wait(min(left, 0.05))


def progress_ui(owner: str, batch_id: int | None, shown: bool) -> None:
    """The running jobs' progress, refreshed while they run (only this fragment reruns)."""
    running = any(j.running for j in jobs_of(owner, batch_id))
    # Until the first verdict is on screen each run sleeps on the job (_await_first, up to a second) and the next
    # starts within 0.2 s; afterwards a run once a second is enough for the count.
    every = (0.2 if not shown else LIVE_EVERY_S) if running else None
    st.fragment(_progress, run_every=every)(owner, batch_id, shown)


@st.cache_data(max_entries=512, show_spinner=False)
def _thumbnail(path: str, width: int = 320) -> np.ndarray:
    pixels = load_image(path).pixels
    step = max(1, pixels.shape[1] // width)  # integer subsampling: fast and enough for a thumbnail
    return np.ascontiguousarray(pixels[::step, ::step])


def _badges(sheet: Sheet, active_set: str | None = None) -> str:
    """The model's verdict (and its set when it is not the active one) and the decision, as badges."""
    model = ":red-badge[" + ", ".join(sheet.classes) + "]" if sheet.defective else ":green-badge[clean]"
    if sheet.model_set and sheet.model_set != active_set:
        model += f" :orange-badge[set {plain_markdown(sheet.model_set)}]"
    if sheet.label is None:
        decided = ":orange-badge[undecided]" + (" :violet-badge[flagged]" if sheet.flagged else "")
    else:
        decided = f":blue-badge[✓ {', '.join(sheet.label.classes) or 'defect-free'} · {sheet.label.reviewer}]"
    return f"{model} {decided}"


def _overview(log: ReviewLog, load: Callable[[], list[int]], band: float, page: str,
              active_set: str | None = None) -> None:
    # Read afresh on every run of the sheet screen around it: decisions show at once, numbered as the sheet list.
    sheets = sheets_of(log, load(), band)
    number_of = {s.inference_id: n for n, s in enumerate(sheets, 1)}
    left, right = st.columns([2, 3], vertical_alignment="bottom")
    which = left.segmented_control("Show", FILTERS, default="All", key="overview-filter") or "All"
    classes = sorted({c for s in sheets for c in s.classes})
    wanted = right.pills("Model's classes", classes, selection_mode="multi", key="overview-classes")
    shown = [s for s in sheets if (which != "Undecided" or not s.decided)
             and (which != "Flagged" or s.flagged) and (not wanted or set(wanted) & set(s.classes))]
    pages = max(1, -(-len(shown) // OVERVIEW_PAGE))
    number = st.number_input(f"Page (of {pages})", 1, pages, 1, key="overview-page") if pages > 1 else 1
    grid = st.columns(4)
    for i, sheet in enumerate(shown[(number - 1) * OVERVIEW_PAGE: number * OVERVIEW_PAGE]):
        with grid[i % 4], st.container(key=f"overview-sheet-{sheet.inference_id}"):
            st.image(_thumbnail(str(log.image_path(sheet.image_sha256))), width="stretch")
            st.markdown(f"**{number_of[sheet.inference_id]}. {plain_markdown(sheet.name)}**  \n"
                        + _badges(sheet, active_set))
            if st.button("Open", key=f"open-{sheet.inference_id}"):
                select(page, sheet.inference_id)
                st.rerun(scope="app")  # the sheet screen above is another fragment
    if not shown:
        st.caption("No sheet matches these filters.")


def overview_ui(log: ReviewLog, batch: Batch, load: Callable[[], list[int]], band: float, page: str,
                active_set: str | None = None) -> None:
    """Thumbnails of the batch with the model's verdict and the decision, filtered; Open shows one above. Drawn by
    the sheet screen (its `below`), so a decision redraws it in the same run."""
    with st.expander(f"Batch overview: {batch.label or batch.source} ({len(load())} sheets)"):
        st.fragment(_overview)(log, load, band, page, active_set)


def batch_label(paths: Sequence[Path | str]) -> str:
    return f"{len(paths)} image{'s' * (len(paths) != 1)}"
