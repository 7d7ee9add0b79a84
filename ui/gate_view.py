"""The gate's report of the latest finished job (both sets on the evaluation sheets, the sheets they disagree on),
promotion and rollback with a reason (admins), and the active set's lineage."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.contract.errors import SteelScanError
from core.retrain import jobs
from core.review.active import installed_model_sets

FEW_SHEETS = 20  # under this many sheets, training learns little and the gate's comparison says little


def gate_panel(log, settings, who: str, can_edit: bool) -> None:
    done = [r for r in jobs.jobs(log, limit=10) if r.status == "succeeded" and r.result.get("gate")]
    if not done:
        return
    row = done[0]
    gate, candidate = row.result["gate"], row.result["candidate"]
    st.markdown(f"**Gate of job {row.id}**: {candidate} vs {gate.get('active_set')} on {gate['sheets']} "
                "evaluation sheets, labelled by the inspectors' final decisions")
    if gate["sheets"] < FEW_SHEETS:
        st.warning(f"**The gate judged on only {gate['sheets']} evaluation sheet{'s' * (gate['sheets'] != 1)}**: "
                   f"with fewer than {FEW_SHEETS}, one sheet moves every figure a lot, so its advice is weak either "
                   "way. Review more sheets and train again before promoting on it.", icon=":material/warning:")
    measures = ("agreement", "image_ap", "macro_f1", "dice", "dice_positive", "dice_sheets")
    table = [{"model set": name, **{m: (scores or {}).get(m) for m in measures}}
             for name, scores in ((candidate, gate["candidate"]), (gate.get("active_set"), gate["active"]))]
    st.dataframe(table, hide_index=True)
    if gate["candidate"]:
        with st.expander("Per class (candidate)"):
            st.dataframe([{"class": k, **v} for k, v in gate["candidate"]["per_class"].items()], hide_index=True)
    advice = {"promote": "Recommended: promote", "cannot-tell": "Cannot tell: the admin decides"}.get(
        gate["recommend"], "Recommended: keep the active set")
    show = {"promote": st.success, "cannot-tell": st.info}.get(gate["recommend"], st.warning)
    show(f"**{advice}**: {gate['reason']}.")
    if gate.get("differences"):
        with st.expander("Candidate minus active, with 95% intervals (paired bootstrap over the sheets)"):
            st.dataframe([{"measure": d["measure"], "candidate": round(d["candidate"], 3),
                           "active": round(d["active"], 3), "difference": round(d["candidate"] - d["active"], 3),
                           "interval": f"[{d['low']:+.3f}, {d['high']:+.3f}]", "verdict": d["verdict"],
                           "sheets": d["sheets"]} for d in gate["differences"]], hide_index=True)
    disagreements_view(gate)
    if candidate == log.active_model_set():
        st.caption(f"{candidate} is the active set.")
    elif can_edit and Path(settings.models_dir, candidate).is_dir():
        with st.form(f"promote_{row.id}"):
            reason = st.text_input("Why promote it", key="promote_reason")
            against = gate["recommend"] == "keep" and st.checkbox(
                "Promote it against the gate's advice", key="promote_against_gate")
            kind = "primary" if gate["recommend"] == "promote" else "secondary"
            if st.form_submit_button(f"Promote {candidate}", type=kind):
                if gate["recommend"] == "keep" and not against:
                    st.error(f"{candidate} was judged no better than {gate.get('active_set')} by the gate: tick "
                             "'against the gate's advice' to promote it anyway.")
                else:
                    _switch("promote", log, settings, candidate, who, reason, gate.get("active_set") or "")


def gate_caution(card) -> str:
    """A warning for a set the gate said not to promote (its card's lineage records the gate's word), else ""."""
    gate = (card.lineage or {}).get("gate") or {} if card is not None else {}
    if gate.get("recommend") != "keep":
        return ""
    return (f"**The gate said to keep {gate.get('active_set') or 'the set that was active'} rather than "
            f"{card.name}**: {gate.get('reason')}. Activate it only if you know why the gate is wrong here.")


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
    # Back to a set that ran before, most recent first: nothing to roll back to before the first switch (a set that
    # never ran is promoted through its gate, or chosen at the top of the page with a reason).
    installed = [s.name for s in installed_model_sets(settings.models_dir) if s.card is not None]
    ran = [n for n in dict.fromkeys([*changes["to"], *changes["from"]]) if n in installed]
    earlier = [n for n in ran if n != active.name]
    st.markdown("**Promotions and rollbacks**")
    if changes.empty:
        st.caption("None yet: rolling back is offered once another set has been active.")
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
