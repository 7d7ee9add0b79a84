"""The Models page's training loop: train a new set from the review log (a job in its own process) and follow it;
the gate, promotion, rollback and lineage are in ui.gate_view."""

from __future__ import annotations

import streamlit as st

from core.contract.errors import SteelScanError
from core.retrain import jobs
from core.retrain.joblog import readable_tail
from core.retrain.parts import review_data
from core.review.store.models import TrainingJobRow
from ui import gate_view
from ui.gate_view import FEW_SHEETS
from ui.markup import plain_markdown

PRESET_LABELS = {"quick": "quick: a short schedule (minutes on a CPU)",
                 "thorough": "thorough: the trainer's full schedule for the data (tens of minutes on a CPU)",
                 "tiny": "tiny: plumbing check only (seconds; the set learns nothing)"}
RUNNING_REFRESH_S = 3


def render(log, settings, active, who: str, can_edit: bool) -> None:
    """The whole section; `active` is the active InstalledSet (None when none resolves)."""
    st.subheader("Train a new model set from the review log")
    try:
        jobs.start_next(log, settings)  # reattach after a restart: dead jobs are marked failed, queued ones start
    except SteelScanError as exc:
        st.error(str(exc))
    if active is None or active.card is None:
        st.info("Choose an active model set first: a new set starts from it and is compared with it.")
        return
    summary_panel(log, settings, active)
    if can_edit:
        start_form(log, settings, who)
    job_panel(log, settings, who, can_edit)
    gate_view.gate_panel(log, settings, who, can_edit)
    gate_view.rollback_panel(log, settings, active, who, can_edit)
    gate_view.lineage_panel(settings, active.name)


def summary_panel(log, settings, active) -> None:
    try:
        data = review_data(log, active.card.class_names, settings.eval_share)
    except SteelScanError as exc:  # the reason's subject is the review log; the fix a sentence of its own
        st.info(f"Nothing to train on yet: the review log {exc.reason}. {exc.fix[:1].upper()}{exc.fix[1:]}.")
        return
    summary = data.summary()
    snap = summary["snapshot"]
    st.markdown(f"**Dataset** · {snap['decisions']} reviewed sheets (latest decision each), decided "
                f"{snap['first'][:10]} to {snap['last'][:10]} · evaluation share {settings.eval_share:.0%}, "
                "drawn once per sheet by image hash, never trained on")
    rows = [{"part": part, "sheets": summary[part]["sheets"], "clean": summary[part]["clean"],
             "defective": summary[part]["defective"], "without masks": summary[part]["without_masks"],
             **summary[part]["per_class"]} for part in ("train", "eval")]
    st.dataframe(rows, hide_index=True)
    usable = summary["train"]["usable"]
    if usable < FEW_SHEETS:
        st.warning(f"**Only {usable} usable training sheet{'s' * (usable != 1)}** (reviewed, masks complete): a set "
                   f"trained on fewer than {FEW_SHEETS} learns little, and the gate that judges it has fewer still to "
                   "judge on. Review and paint more sheets before training, or treat the result as a trial.",
                   icon=":material/warning:")
    if summary["train"]["without_masks"]:
        count = summary["train"]["without_masks"]
        st.caption(f"{count} training sheet{'s have' if count != 1 else ' has'} a class without a mask: "
                   f"{'they stay' if count != 1 else 'it stays'} out of training until someone paints the mask in the "
                   "review panel.")


def start_form(log, settings, who: str) -> None:
    with st.form("train_from_log"):
        cols = st.columns([3, 1])
        preset = cols[0].selectbox("Preset", list(PRESET_LABELS), format_func=PRESET_LABELS.get, key="train_preset")
        seed = cols[1].number_input("Seed", 0, 10_000, 0, key="train_seed")
        started = st.form_submit_button("Start training", type="primary")
    if started:
        job_id = jobs.submit(log, who, {"preset": preset, "seed": int(seed)})
        running = jobs.start_next(log, settings)
        st.toast(f"Job {job_id} {'started' if running == job_id else 'queued: another job runs first'}")


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA: estimating"
    minutes, secs = divmod(int(seconds), 60)
    return f"ETA {minutes} min {secs:02d} s" if minutes else f"ETA {secs} s"


def job_panel(log, settings, who: str, can_edit: bool) -> None:
    current = jobs.active_job(log)
    recent = jobs.jobs(log, limit=1)
    shown = current or (recent[0] if recent else None)
    if shown is None:
        return
    if shown.status in jobs.ACTIVE:
        st.fragment(run_every=RUNNING_REFRESH_S)(_job_card)(log, shown.id, who, can_edit, live=True)
    else:
        _job_card(log, shown.id, who, can_edit)


def _job_card(log, job_id: int, who: str, can_edit: bool, live: bool = False) -> None:
    jobs.reap(log)
    row: TrainingJobRow = jobs.job(log, job_id)
    if live and row.status in jobs.FINISHED:
        st.rerun()  # the whole page: the gate's report and the lineage appear with the finished job
    st.markdown(f"**Job {row.id}** · {row.status} · requested by {row.requested_by} at "
                f"{row.requested_at:%Y-%m-%d %H:%M} UTC · preset {row.options.get('preset')}")
    if row.status == "running":
        st.progress(row.progress, text=f"{row.stage} · {row.progress:.0%} · {_eta(row.eta_s)}")
    elif row.status == "failed":
        st.error(f"Job {row.id} failed: {plain_markdown(row.error)}")  # names files: shown as written
    elif row.status == "cancelled":
        st.warning(f"Job {row.id} cancelled ({plain_markdown(row.error)}).")
    elif row.status == "succeeded":
        st.success(f"Job {row.id} finished: new set **{plain_markdown(str(row.result.get('candidate')))}**.")
    lines = readable_tail(row.log_path, 12)  # stages and numbers: no progress bars, no Python dicts
    if lines:
        with st.expander(f"Job {row.id}'s log (last {len(lines)} lines)", expanded=row.status in jobs.ACTIVE):
            st.code("\n".join(lines), language=None, wrap_lines=True)
    if row.status in jobs.ACTIVE and can_edit and st.button(f"Cancel job {row.id}", key=f"cancel_{row.id}"):
        jobs.cancel(log, row.id, who)
        st.rerun()
