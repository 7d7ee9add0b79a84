"""One table row per image, the same whichever engine scored it; and recording rows in the review log."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from core.contract.errors import ImageError, SteelScanError
from core.contract.verdict import Verdict

COLUMNS = ["path", "sha256", "verdict", "classes", "class_names", "probabilities", "masks_rle", "model_set",
           "model_version", "error", "verdict_json"]


def verdict_row(path: str, result: Verdict | ImageError) -> dict:
    if isinstance(result, ImageError):
        return {"path": path, "sha256": "", "verdict": "", "classes": [], "class_names": [], "probabilities": [],
                "masks_rle": "{}", "model_set": "", "model_version": "", "error": str(result), "verdict_json": ""}
    data = result.to_dict()
    return {"path": path, "sha256": result.image_sha256, "verdict": result.label,
            "classes": list(result.classes_present), "class_names": list(result.class_names),
            "probabilities": [float(p) for p in result.probabilities], "masks_rle": json.dumps(data["masks_rle"]),
            "model_set": result.model_set, "model_version": result.model_version, "error": "",
            "verdict_json": json.dumps(data)}


def score_paths(inspector, paths: Iterable[str]) -> list[dict]:
    """The engine over these files, in order; a bad file gives a row with its one-line error."""
    paths = list(paths)
    return [verdict_row(path, result) for path, result in zip(paths, inspector.inspect_many(paths), strict=True)]


def to_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS).sort_values("path", kind="stable").reset_index(drop=True)


def record_rows(log, frame: pd.DataFrame, source: str = "batch") -> list[int | None]:
    """Record each scored row in the review log (the same record_inference the app uses); None for error rows."""
    ids: list[int | None] = []
    for row in frame.itertuples(index=False):
        if row.error:
            ids.append(None)
            continue
        try:
            ids.append(log.record_inference(Verdict.from_dict(json.loads(row.verdict_json)),
                                            Path(row.path).read_bytes(), source=source))
        except (OSError, SteelScanError) as exc:
            raise SteelScanError(row.path, f"could not be recorded ({exc})",
                                 "the file changed or vanished after scoring; score it again") from None
    return ids
