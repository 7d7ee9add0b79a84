"""Models: installed model sets, the active one, its per-class thresholds and minimum areas (logged)."""

import json

import streamlit as st

from core.contract.errors import SteelScanError
from core.review.active import (
    DEMO_MODEL_SET,
    NoModelSetError,
    change_class_settings,
    choose_active,
    create_demo_model_set,
    effective_card,
    installed_model_sets,
    resolve_active,
)
from core.review.glossary import TERMS
from core.training.operating_point import recorded_rules
from ui import auth, engine, gate_view, state, target_view, training_view
from ui.dataset_view import describe_expander
from ui.markup import plain_markdown, swatch_html
from ui.model_card_view import metrics_view

settings, log = state.settings(), state.review_log()
user = auth.page_header("Models", "models.view")
who, can_edit = user.username, user.can("models.edit")  # supervisors read; only admins change (logged as `who`)
READ_ONLY = "Only an admin can change this (every change is logged with the admin's name)."
st.caption(f"Model sets in {settings.models_dir} · device in use: **{engine.device_in_use()}** "
           f"(setting: {settings.device})")

installed = installed_model_sets(settings.models_dir)
if not installed:
    st.error(f"No model set is installed in {settings.models_dir}.")
    st.info(engine.how_to_get_a_model_set())
    if st.button(f"Create the untrained demo set ({DEMO_MODEL_SET})", disabled=not can_edit,
                 help=None if can_edit else READ_ONLY) and can_edit:
        folder = create_demo_model_set(settings.models_dir)
        choose_active(log, settings.models_dir, DEMO_MODEL_SET, who, "created the untrained demo set to try the app")
        st.success(f"Created {folder}: untrained, for trying the dashboard only.")
        st.rerun()
    st.stop()

try:
    active = resolve_active(log, settings.models_dir, settings.model_set)
except NoModelSetError as exc:
    st.warning(str(exc))
    active = None
names = [s.name for s in installed]
choice = st.selectbox("Active model set", names, index=names.index(active.name) if active else 0,
                      format_func=lambda n: f"{n} (active)" if active and n == active.name else n)
if active is None or choice != active.name:
    chosen_card = next((s.card for s in installed if s.name == choice), None)
    caution = gate_view.gate_caution(chosen_card)
    if caution:
        st.warning(caution)
    reason = st.text_input(f"Why should {choice} run for everyone", key="activate_reason", disabled=not can_edit,
                           placeholder="logged with the switch")
    confirmed = not caution or st.checkbox("Make it active against the gate's advice", key="activate_against_gate",
                                           disabled=not can_edit)
    if st.button(f"Make {choice} the active model set", type="primary" if not caution else "secondary",
                 disabled=not can_edit) and can_edit:
        try:
            if not confirmed:
                raise SteelScanError(choice, "was judged worse or no better by the gate",
                                     "tick 'against the gate's advice' if you mean it")
            choose_active(log, settings.models_dir, choice, who, reason, previous=active.name if active else "")
        except SteelScanError as exc:
            st.error(str(exc))
        else:
            st.rerun()
    if not can_edit:
        st.caption(READ_ONLY)

# Near the top: what a supervisor comes here for most (issue 37 item 13); the sets' details follow.
training_view.render(log, settings, active, who, can_edit)
st.subheader("Installed model sets")
for entry in installed:
    is_active = active is not None and entry.name == active.name
    with st.expander(f"{plain_markdown(entry.name)}{' · active' if is_active else ''}", expanded=is_active):
        if entry.card is None:
            st.error(entry.problem)
            continue
        card = entry.card
        if not card.trained:
            st.warning("Untrained (random weights): verdicts from this set mean nothing.")
        # Card text is shown as typed (plain_markdown): a card from outside can carry no link or image.
        st.markdown(f"**{plain_markdown(card.name)}** " + plain_markdown(
            f"{card.version} · {card.task} · classifier {card.classifier_architecture}, "
            f"U-Net encoder {card.segmenter_encoder} ({card.segmenter_encoder_source}) · "
            f"pretrained: {card.pretrained or 'no'} · created {card.created}"))
        if card.description:
            st.caption(plain_markdown(card.description))
        st.caption(plain_markdown(f"Fingerprint {card.fingerprint} · data {card.data_fingerprint or 'n/a'}"))
        if card.domain:
            domain = card.domain
            st.markdown(f"**Training domain** · {domain['images']} {plain_markdown(domain['split'])} images of "
                        f"{plain_markdown(domain['data'])} · sizes {domain['image_size']['width']} x "
                        f"{domain['image_size']['height']} px (width x height)"
                        f" · out of domain above the {domain['percentile']:g}th percentile of training images")
            st.caption(TERMS["out_of_domain"])
            if domain.get("note"):
                st.info(f"{plain_markdown(domain['note'].capitalize())}.")
        else:
            st.caption("No training domain recorded: verdicts carry no out-of-distribution score "
                       "(`steelscan fit-domain` adds one).")
        if card.metrics:
            st.markdown("**Metrics**")
            if "validation" in card.metrics:
                st.caption("Validation figures: those images chose the epoch and the thresholds, so they flatter the "
                           "model. Quote a hold-out evaluation (`steelscan evaluate --split holdout`).")
            metrics_view(card.metrics, key=f"metrics-{entry.name}")
        if card.training:
            with st.popover("Training details"):
                st.code(json.dumps(card.training, indent=2), language="json")
        if not is_active:
            continue
        problem = engine.load_problem(str(entry.folder), card.fingerprint)  # cached once loaded
        if problem:
            st.error(f"**Cannot be loaded, so nothing is inspected.** {problem}")
        current = effective_card(card, log.class_overrides(card.fingerprint))
        st.markdown("**Per-class decision settings** (card defaults in brackets)")
        if not can_edit:
            st.caption(READ_ONLY)
        rules = recorded_rules(card)
        with st.form("class_settings"):
            wanted = {}
            for spec, default in zip(current.classes, card.classes, strict=True):
                cols = st.columns([1, 2, 2])
                cols[0].markdown(swatch_html(spec.name, spec.color), unsafe_allow_html=True)  # escaped
                if rules[spec.name]:
                    cols[0].caption(f"card default set by: {rules[spec.name]}")
                threshold = cols[1].number_input(f"{spec.name} threshold [{default.threshold:g}]", 0.0, 1.0,
                                                 float(spec.threshold), 0.01, format="%.2f", key=f"t-{spec.name}",
                                                 disabled=not can_edit)
                min_area = cols[2].number_input(f"{spec.name} min area px [{default.min_area}]", 0, None,
                                                int(spec.min_area), 10, key=f"a-{spec.name}", disabled=not can_edit)
                wanted[spec.name] = {"threshold": threshold, "min_area": min_area}
            reason = st.text_input("Reason for the change", key="settings_reason", disabled=not can_edit)
            saved = st.form_submit_button("Save changes", type="primary", disabled=not can_edit)
        if saved and can_edit:
            try:
                count = change_class_settings(log, card, current, wanted, who, reason)
            except SteelScanError as exc:
                st.error(str(exc))
            else:
                st.toast(f"{count} setting{'s' * (count != 1)} changed and logged" if count else "Nothing changed")
                st.rerun()
        target_view.render(log, card, current, who, can_edit)

describe_expander()

history = log.setting_changes()
history = history[~history["key"].str.startswith("user_")]  # account changes are on the Users page
st.subheader("Change log")
if history.empty:
    st.caption("No settings changed yet.")
else:
    st.dataframe(history.drop(columns=["model_fingerprint"]).iloc[::-1], hide_index=True)
