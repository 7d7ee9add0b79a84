"""Pictures for inspectors: pure functions, numpy in and numpy out, inputs never changed."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from core.contract.verdict import Region


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    if len(color) != 6:
        raise ValueError(f"colour {color!r} is not #rrggbb")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def overlay_masks(
    image: np.ndarray,
    masks: np.ndarray,
    colors: Sequence[str],
    opacity: float = 0.45,
    outline: bool = True,
    visible: Sequence[bool] | None = None,
) -> np.ndarray:
    """Blend each visible class mask in its colour; outlines stay fully opaque so thin defects show."""
    if masks.shape[1:] != image.shape[:2]:
        raise ValueError(f"masks are {masks.shape[1:]} but the image is {image.shape[:2]}")
    out = image.astype(np.float32)
    visible = visible if visible is not None else [True] * len(masks)
    edges = []
    for mask, color, show in zip(masks, colors, visible, strict=True):
        if not show or not mask.any():
            continue
        rgb = np.array(hex_to_rgb(color), dtype=np.float32)
        m = mask.astype(bool)
        out[m] = out[m] * (1.0 - opacity) + rgb * opacity
        if outline:
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            edges.append((contours, tuple(int(v) for v in rgb)))
    result = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    for contours, rgb in edges:
        cv2.drawContours(result, contours, -1, rgb, thickness=1)
    return result


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] heatmap over the image with the JET colour map."""
    if heatmap.shape != image.shape[:2]:
        heatmap = cv2.resize(heatmap, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    colored = cv2.applyColorMap(np.uint8(np.clip(heatmap, 0, 1) * 255), cv2.COLORMAP_JET)
    colored = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB).astype(np.float32)
    blended = image.astype(np.float32) * (1.0 - opacity) + colored * opacity
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def draw_regions(image: np.ndarray, regions: Sequence[Region], colors: Sequence[str], label: bool = True) -> np.ndarray:
    """Boxes round each region, labelled with class and area."""
    out = image.copy()
    for region in regions:
        rgb = hex_to_rgb(colors[region.class_index])
        x0, y0, x1, y1 = region.bbox
        cv2.rectangle(out, (x0, y0), (x1, y1), rgb, 1)
        if label:
            text = f"{region.class_name} {region.area_px}px"
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
            ty = y0 - 3 if y0 - th - 4 >= 0 else min(y1 + th + 3, out.shape[0] - 1)
            cv2.rectangle(out, (x0, ty - th - 2), (x0 + tw + 2, ty + 2), rgb, -1)
            cv2.putText(out, text, (x0 + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def render_verdict(
    image: np.ndarray,
    verdict,
    colors: Sequence[str],
    opacity: float = 0.45,
    visible: Sequence[bool] | None = None,
    boxes: bool = True,
) -> np.ndarray:
    """The standard picture of a verdict: masks, outlines and labelled region boxes."""
    out = overlay_masks(image, verdict.masks, colors, opacity, True, visible)
    if boxes:
        shown = [r for r in verdict.regions if visible is None or visible[r.class_index]]
        out = draw_regions(out, shown, colors)
    return out
