"""Paint, erase or box-fill one class's mask on a strip at full resolution, starting from the model's mask.

Which component, and why: streamlit-drawable-canvas is the usual choice. Its 0.9 line broke on Streamlit 1.39+
(`streamlit.elements.image.image_to_url` moved: andfanilo/streamlit-drawable-canvas issue #157; that repository is
archived). A revived 0.10-0.13 line (2026, components v2, Streamlit >= 1.53, "best effort" by its own README)
exists; read at 0.13.0 it is a Fabric.js vector canvas: no eraser, the model's mask could only be a background
picture (not erasable), what comes back is the canvas rendered as an anti-aliased RGBA PNG, and it has no zoom
(the canvas shows at its pixel size). None of that edits a mask pixel for pixel. The others looked at
(streamlit-image-annotation, streamlit-image-coordinates) take boxes, points or clicks, not painted pixels.
So this is a small one of our own on Streamlit
1.67's components v2 API (`st.components.v2.component`): plain HTML/CSS/JS in ui/components/mask_editor/, no
npm build, no iframe (the canvas sits in the page, in a shadow root), two-way through a state value. The browser
keeps the mask as one byte per image pixel and sends it back as Severstal RLE (core.imaging.rle's code) when a
stroke ends; it is decoded and re-encoded here, so a malformed or wrong-sized mask never leaves this module.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from core.imaging.rle import rle_area, rle_decode, rle_encode
from ui.markup import HEX_COLOUR

FRONTEND = Path(__file__).parent / "components" / "mask_editor"
_component = st.components.v2.component(
    "steelscan_mask_editor",
    html=(FRONTEND / "editor.html").read_text(),
    css=(FRONTEND / "editor.css").read_text(),
    js=(FRONTEND / "editor.js").read_text(),
)


def _data_url(image: np.ndarray) -> str:
    """The strip as a PNG data URL: lossless, so the inspector paints on the pixels the model saw; one channel
    when the three are equal (steel strips are grey), which makes it about a third smaller."""
    if image.ndim == 3 and (image == image[..., :1]).all():
        image = image[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _canonical(rle: str, shape: tuple[int, int]) -> str:
    return rle_encode(rle_decode(rle, shape))


def take_stroke(sent, token: str, class_name: str, model_rle: str, shape: tuple[int, int],
                painted: dict[str, str]) -> None:
    """Fold what the browser sent into `painted` (class -> canonical RLE). Ignores a value from another sheet,
    class or reset (its token differs); drops the class again when its mask is back to the model's; raises
    ValueError when the RLE does not fit `shape`."""
    if not isinstance(sent, dict) or sent.get("token") != token:
        return
    rle = _canonical(str(sent.get("rle", "")), shape)
    if rle == _canonical(model_rle, shape):
        painted.pop(class_name, None)  # back to the model's mask: nothing of the inspector's to record
    else:
        painted[class_name] = rle


def painted_so_far(key: str) -> dict[str, str] | None:
    """What mask_editor(key=key) returned last, without showing it (e.g. while its expander is closed)."""
    return dict(st.session_state.get(f"{key}-painted", {})) or None


def mask_editor(image: np.ndarray, model_masks_rle: Mapping[str, str], class_names: Sequence[str],
                colours: Sequence[str], key: str) -> dict[str, str] | None:
    """The editor for one sheet. Returns {class: RLE at the image's size} for the classes whose mask the
    inspector changed from the model's (an emptied mask stays in, as ''), or None when nothing was changed.
    `key` must be unique per sheet (e.g. the inference id): painted masks live in session state under it."""
    height, width = image.shape[:2]
    names = list(class_names)
    painted: dict[str, str] = st.session_state.setdefault(f"{key}-painted", {})
    resets: int = st.session_state.setdefault(f"{key}-resets", 0)
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    class_name = left.selectbox("Class to paint", names, key=f"{key}-class")
    right.caption("Brush paints, Eraser erases, Box fills a rectangle; zoom in to paint fine detail.")
    colour = colours[names.index(class_name)] if len(colours) == len(names) else ""
    model_rle = model_masks_rle.get(class_name, "")
    token = f"{key}:{class_name}:{resets}"
    # Encoded once per sheet (every stroke reruns the page; the strip does not change), one sheet per session.
    held = st.session_state.get("mask_editor_picture")
    if held is None or held[0] != key:
        held = st.session_state["mask_editor_picture"] = (key, _data_url(image))
    picture = held[1]
    result = _component(key=f"{key}-canvas", on_mask_change=lambda: None, data={
        "token": token, "width": width, "height": height, "class_name": class_name,
        "color": colour if HEX_COLOUR.fullmatch(colour or "") else "#ff0000",
        "image": picture, "model_rle": model_rle, "start_rle": painted.get(class_name, model_rle)})
    try:
        take_stroke(getattr(result, "mask", None), token, class_name, model_rle, (height, width), painted)
    except ValueError as exc:
        st.error(f"Mask editor: the painted {class_name} mask does not fit this {width}x{height} sheet ({exc}) "
                 "— reload the page and paint it again.")
    # What was painted goes below the canvas: a status that grows above it would move the canvas under the
    # inspector's brush while the stroke's rerun lands.
    status, discard = st.columns([4, 1], vertical_alignment="center")
    if painted:
        listing = ", ".join(f"{n} ({rle_area(painted[n]):,} px)" for n in names if n in painted)
        status.caption(f"Painted: **{listing}**. They go with your decision; other classes keep the model's mask.")
        if discard.button("Discard painted masks", key=f"{key}-discard"):
            painted.clear()
            st.session_state[f"{key}-resets"] = resets + 1
            st.rerun()
    else:
        status.caption("Nothing painted yet: the decision keeps the model's masks.")
    return dict(painted) or None


def masks_expander(image: np.ndarray, model_masks_rle: Callable[[], Mapping[str, str]], class_names: Sequence[str],
                   colours: Sequence[str], key: str) -> None:
    """The editor in an "Edit masks" expander, outside any form (a custom component cannot live in an st.form).
    Its open state is tracked, so it stays open across the reruns painting causes and sends the strip only when
    open; what was painted is read with painted_so_far(key) when the decision is made. The model's masks are
    RLE-encoded only when the expander is open (every sheet shown would otherwise pay for it on each rerun)."""
    panel = st.expander("Edit masks (brush, eraser, box)", key=f"{key}-open", on_change="rerun",
                        icon=":material/brush:")
    if panel.open:
        with panel:
            mask_editor(image, model_masks_rle(), class_names, colours, key)

