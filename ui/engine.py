"""The engine as the pages see it: the cached model set, its banner, stored pixels, the Grad-CAM lock.

Imported by the pages that inspect, never by the router: torch loads with the first such page.
"""

from __future__ import annotations

import threading

import numpy as np
import streamlit as st

from core.contract.errors import SteelScanError
from core.engine.inference import Inspector
from core.engine.slots import InferenceSlots, shared_slots
from core.imaging.pixelcache import PixelCache
from core.modelsets.devices import pick_device
from core.review.active import HOW_TO_GET_A_MODEL_SET, NoModelSetError, resolve_active, with_overrides
from ui.markup import plain_markdown
from ui.state import review_log, settings

GRADCAM_LOCK = threading.Lock()  # Grad-CAM hooks on a shared network: one explanation at a time


@st.cache_resource(show_spinner="Loading the model set (once per server process)…", max_entries=4)
def _inspector(folder: str, fingerprint: str, device: str, batch_size: int | str, max_pixels: int,
               precision: str, backend: str = "auto") -> Inspector:
    # `fingerprint` is only a cache key: new weights in the same folder load afresh.
    return Inspector.load(folder, device, batch_size=batch_size, max_pixels=max_pixels, precision=precision,
                          backend=backend)


def active_inspector() -> Inspector | None:
    """The active model set with its logged threshold changes; shows what to do when there is none."""
    current, log = settings(), review_log()
    try:
        chosen = resolve_active(log, current.models_dir, current.model_set)
        # A newly fitted training domain changes no weights (nor the fingerprint): key on it too.
        key = f"{chosen.card.fingerprint}+domain:{chosen.card.domain.get('stats_sha256', '')[:12]}"
        base = _inspector(str(chosen.folder), key, current.device, current.batch_size,
                          current.max_pixels, current.precision, current.backend)
    except NoModelSetError as exc:
        st.error(f"**No model set to run.** {exc.source}: {exc.reason}.")
        st.info(exc.fix)
        return None
    except SteelScanError as exc:  # a missing, truncated or tampered weight file: name it, no traceback
        st.error(f"**The active model set cannot be loaded.** {exc}")
        st.info("The other installed model sets are not affected: a supervisor can see them and an admin can "
                "make one of them active on the Models page.")
        return None
    return with_overrides(base, log.class_overrides(chosen.card.fingerprint))


def load_problem(folder: str, fingerprint: str) -> str:
    """Why a model set cannot be loaded ('' when it loads): the Models page shows it on the active set."""
    current = settings()
    try:
        _inspector(folder, fingerprint, current.device, current.batch_size, current.max_pixels, current.precision,
                   current.backend)
    except SteelScanError as exc:
        return str(exc)
    return ""


def how_to_get_a_model_set() -> str:
    return HOW_TO_GET_A_MODEL_SET.format(models_dir=settings().models_dir)


def device_in_use() -> str:
    try:
        return str(pick_device(settings().device))
    except SteelScanError as exc:
        return f"unavailable ({exc.reason})"


@st.cache_resource(show_spinner=False)
def _pixel_cache(max_bytes: int) -> PixelCache:
    return PixelCache(max_bytes)


def stored_pixels(path: str) -> np.ndarray:
    """Pixels of a stored image (content-addressed, so the path alone is a safe cache key), read-only and shared
    by every session; the cache holds at most pixel_cache_mb."""
    return _pixel_cache(settings().pixel_cache_mb * 2**20).get(path)


def inference_slots() -> InferenceSlots:
    """The one inference queue of this server process, shared by all sessions and by an API served from the
    same process (setting inference_workers)."""
    return shared_slots(settings().inference_workers)


def model_banner(inspector: Inspector) -> None:
    card = inspector.card
    state = "trained" if card.trained else "UNTRAINED"
    name = plain_markdown(card.name)  # card text is shown as typed: no link or image can ride in on it
    st.caption(f"Model set **{name}** {plain_markdown(card.version)} · {state} · device {inspector.device} · "
               f"{plain_markdown(card.fingerprint)}")
    if card.domain.get("note"):
        st.info(f"Model set **{name}**: {plain_markdown(card.domain['note'])}.", icon=":material/info:")
    if not card.trained:
        st.warning(f"Model set **{name}** is untrained (random weights): its verdicts mean nothing. "
                   "Ask an admin to install a trained set and make it active on the Models page.", icon="⚠️")
