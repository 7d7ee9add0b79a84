"""The Models page's training loop: train a new set from the review log (a job in its own process), follow it,
read the gate's report, promote or roll back (admins), and the lineage of the active set."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.contract.errors import SteelScanError
from core.retrain import jobs
from core.retrain.parts import review_data
from core.review.active import installed_model_sets
from core.review.store.models import TrainingJobRow

PRESET_LABELS = {"quick": "quick: ResNet18, short schedule (minutes on a CPU)",
           "standard": "standard: ResNet50, 12 epochs (hours on a CPU)",
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
    gate_panel(log, settings, who, can_edit)
    rollback_panel(log, settings, active, who, can_edit)
    lineage_panel(settings, active.name)


def summary_panel(log, settings, active) -> None:
    try:
        data = review_data(log, active.card.class_names, settings.eval_share)
    except SteelScanError as exc:
        st.info(f"Nothing to train on yet: {exc.reason}. {exc.fix}.")
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
    if summary["train"]["without_masks"]:
        st.caption(f"{summary['train']['without_masks']} training sheets have a class without a mask: they stay out "
                   "of training until someone paints the mask in the review panel.")


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
        st.fragment(run_every=RUNNING_REFRESH_S)(_job_card)(log, shown.id, who, can_edit)
    else:
        _job_card(log, shown.id, who, can_edit)


def _job_card(log, job_id: int, who: str, can_edit: bool) -> None:
    jobs.reap(log)
    row: TrainingJobRow = jobs.job(log, job_id)
    st.markdown(f"**Job {row.id}** · {row.status} · requested by {row.requested_by} at "
                f"{row.requested_at:%Y-%m-%d %H:%M} UTC · preset {row.options.get('preset')}")
    if row.status == "running":
        st.progress(row.progress, text=f"{row.stage} · {row.progress:.0%} · {_eta(row.eta_s)}")
    elif row.status == "failed":
        st.error(f"Job {row.id} failed: {row.error}")
    elif row.status == "cancelled":
        st.warning(f"Job {row.id} cancelled ({row.error}).")
    elif row.status == "succeeded":
        st.success(f"Job {row.id} finished: new set **{row.result.get('candidate')}**.")
    log_tail = jobs.tail(row.log_path, 12)
    if log_tail:
        st.code(log_tail, language=None)
    if row.status in jobs.ACTIVE and can_edit and st.button(f"Cancel job {row.id}", key=f"cancel_{row.id}"):
        jobs.cancel(log, row.id, who)
        st.rerun()


def gate_panel(log, settings, who: str, can_edit: bool) -> None:
    done = [r for r in jobs.jobs(log, limit=10) if r.status == "succeeded" and r.result.get("gate")]
    if not done:
        return
    row = done[0]
    gate, candidate = row.result["gate"], row.result["candidate"]
    st.markdown(f"**Gate of job {row.id}**: {candidate} vs {gate.get('active_set')} on {gate['sheets']} "
                "evaluation sheets, labelled by the inspectors' final decisions")
    measures = ("agreement", "image_ap", "macro_f1", "dice", "dice_positive", "dice_sheets")
    table = [{"model set": name, **{m: (scores or {}).get(m) for m in measures}}
             for name, scores in ((candidate, gate["candidate"]), (gate.get("active_set"), gate["active"]))]
    st.dataframe(table, hide_index=True)
    if gate["candidate"]:
        with st.expander("Per class (candidate)"):
            st.dataframe([{"class": k, **v} for k, v in gate["candidate"]["per_class"].items()], hide_index=True)
    advice = "Recommended: promote" if gate["recommend"] == "promote" else "Recommended: keep the active set"
    (st.success if gate["recommend"] == "promote" else st.warning)(f"**{advice}**: {gate['reason']}.")
    disagreements_view(gate)
    if candidate == log.active_model_set():
        st.caption(f"{candidate} is the active set.")
    elif can_edit and Path(settings.models_dir, candidate).is_dir():
        with st.form(f"promote_{row.id}"):
            reason = st.text_input("Why promote it", key="promote_reason")
            if st.form_submit_button(f"Promote {candidate}", type="primary"):
                _switch("promote", log, settings, candidate, who, reason, gate.get("active_set") or "")


def disagreements_view(gate: dict, shown: int = 6) -> None:
    sheets = gate.get("disagreements", [])
    if not sheets:
        st.caption("The two sets call every evaluation sheet alike.")
        return
    with st.expander(f"{gate['disagreement_count']} sheets where the two sets disagree"):
        for sheet in sheets[:shown]:
            cols = st.columns([2, 1, 1, 1])
            if Path(sheet["image"]).is_file():
                cols[0].image(sheet["image"], caption=sheet["name"])
            for col, label, key in ((cols[1], "Inspector", "inspector"), (cols[2], "Active set", "active"),
                                    (cols[3], "Candidate", "candidate")):
                called = sheet.get(key)
                mark = "" if key == "inspector" else (" ✓" if sheet.get(f"{key}_right") else " ✗")
                col.markdown(f"**{label}**{mark}  \n{', '.join(called) if called else 'clean'}")


def _switch(kind: str, log, settings, name: str, who: str, reason: str, previous: str) -> None:
    from core.retrain.promotion import promote, roll_back

    try:
        (promote if kind == "promote" else roll_back)(log, settings.models_dir, name, who, reason, previous)
    except SteelScanError as exc:
        st.error(str(exc))
        return
    st.toast(f"{name} is now the active model set for everyone")
    st.rerun()


def rollback_panel(log, settings, active, who: str, can_edit: bool) -> None:
    from core.retrain.promotion import history

    changes = history(log)
    # Any installed set but the active one, those that ran most recently first.
    installed = [s.name for s in installed_model_sets(settings.models_dir) if s.card is not None]
    ran = [n for n in dict.fromkeys([*changes["new_value"], *changes["old_value"]]) if n in installed]
    earlier = [n for n in dict.fromkeys([*ran, *installed]) if n != active.name]
    st.markdown("**Promotions and rollbacks**")
    if changes.empty:
        st.caption("None yet.")
    else:
        st.dataframe(changes, hide_index=True)
    if can_edit and earlier:
        with st.form("roll_back"):
            name = st.selectbox("Roll back to", earlier, key="rollback_to")
            reason = st.text_input("Why roll back", key="rollback_reason")
            if st.form_submit_button("Roll back"):
                _switch("rollback", log, settings, name, who, reason, active.name)


def lineage_panel(settings, name: str) -> None:
    from core.retrain.promotion import chain

    links = chain(settings.models_dir, name)
    if len(links) < 2 and not links[0].get("job"):
        return
    st.markdown("**Lineage of the active set** (newest first)")
    rows = []
    for link in links:
        snap, gate = link.get("snapshot") or {}, link.get("gate") or {}
        promoted = link.get("promotions") or []
        rows.append({"set": link["name"], "job": link.get("job"), "decisions": snap.get("decisions"),
                     "decided": f"{(snap.get('first') or '')[:10]} to {(snap.get('last') or '')[:10]}" if snap else "",
                     "decision ids sha256": (snap.get("decision_ids_sha256") or "")[:16],
                     "gate": f"{gate.get('recommend')}: {gate.get('reason')}" if gate else "",
                     "promoted": "; ".join(f"{p['by']} {p['at']}: {p['reason']}" for p in promoted)})
    st.dataframe(rows, hide_index=True)
