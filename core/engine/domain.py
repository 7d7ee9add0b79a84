"""What the model does not know: an out-of-distribution score from the training images' features.

The backbone's last stage, average-pooled over the whole image, is summarised over the training
images by a probabilistic PCA (mean, top components with their variances, one residual variance).
An image's raw score is its Mahalanobis distance under that model per feature dimension; the
score a Verdict carries is the raw score divided by the calibration threshold, the given
percentile of out-of-fold raw scores of the training images themselves. So `ood_score > 1`
means "less typical than 99% of the training images": out of domain.

The statistics live in `domain.safetensors` beside the card; the card's `domain` section holds
its sha256 and a readable summary (data fingerprint, image sizes, class counts, the threshold).
The card's fingerprint (name, version, weight hashes) does not change when a domain is fitted,
so threshold overrides set for those weights still apply.

An INT8 export's features are not torch fp32's: quantisation noise lifts every image's score (the shipped synthetic
set's own kind of strip scored about 0.2 in torch fp32 and 0.5-1.06 in OpenVINO INT8), so a domain fitted on fp32
features would call in-domain images out of domain. An export can therefore carry its own domain, fitted with that
backend's features: `exports/<backend>-<precision>/domain.safetensors`, and a `domain` section in the card's entry
for that export. The engine uses the domain of the export it runs, else the set's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from core.contract.errors import ModelSetError

DOMAIN_FILE = "domain.safetensors"
FEATURE = "backbone-last-stage-avg"
MAX_COMPONENTS = 32
FOLDS = 5


@dataclass(frozen=True)
class DomainModel:
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (k, D) orthonormal rows
    variances: np.ndarray  # (k,)
    residual_variance: float
    threshold: float = 1.0  # raw score at the calibration percentile

    def raw_scores(self, features: np.ndarray) -> np.ndarray:
        centred = np.asarray(features, dtype=np.float64) - self.mean
        projected = centred @ self.components.T
        inside = (projected**2 / self.variances).sum(1)
        residual = np.maximum((centred**2).sum(1) - (projected**2).sum(1), 0.0) / self.residual_variance
        return (inside + residual) / centred.shape[1]

    def scores(self, features: np.ndarray) -> np.ndarray:
        """1.0 = as atypical as the calibration percentile of the training images; above = out of domain."""
        return self.raw_scores(features) / self.threshold

    def tensors(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean.astype(np.float32), "components": self.components.astype(np.float32),
                "variances": self.variances.astype(np.float32),
                "residual_variance": np.array([self.residual_variance], dtype=np.float32),
                "threshold": np.array([self.threshold], dtype=np.float32)}

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray]) -> DomainModel:
        as64 = {k: v.astype(np.float64) for k, v in tensors.items()}
        return cls(as64["mean"], as64["components"], as64["variances"], float(as64["residual_variance"][0]),
                   float(as64["threshold"][0]))


def fit_ppca(features: np.ndarray, max_components: int = MAX_COMPONENTS) -> DomainModel:
    """Probabilistic PCA of (N, D) features; threshold left at 1 (see `calibrate`)."""
    features = np.asarray(features, dtype=np.float64)
    count, dims = features.shape
    mean = features.mean(0)
    centred = features - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    eigen = singular**2 / max(count - 1, 1)
    k = max(1, min(max_components, count // 2, dims - 1))
    total = float((centred**2).sum() / max(count - 1, 1))
    # What the kept components do not explain, spread over the remaining dimensions; floored so
    # a feature that never varied in training does not give an infinite score.
    residual = max((total - eigen[:k].sum()) / max(dims - k, 1), 1e-6 * total / dims, 1e-12)
    variances = np.maximum(eigen[:k], residual)
    return DomainModel(mean, vt[:k], variances, residual)


def calibrate(features: np.ndarray, percentile: float = 99.0, folds: int = FOLDS,
              seed: int = 0) -> tuple[DomainModel, np.ndarray]:
    """Fit on all features; threshold = `percentile` of out-of-fold raw scores (each image scored
    by a model fitted without it, so the threshold is not flattered by the images it was fitted on).
    Returns the model and the out-of-fold scores (already divided by the threshold)."""
    features = np.asarray(features, dtype=np.float64)
    count = len(features)
    if count < 4:
        raise ValueError(f"a domain needs at least 4 training images, got {count}")
    order = np.random.default_rng(seed).permutation(count)
    held_out = np.empty(count)
    for fold in np.array_split(order, min(folds, count)):
        rest = np.setdiff1d(order, fold)
        held_out[fold] = fit_ppca(features[rest]).raw_scores(features[fold])
    threshold = float(np.percentile(held_out, percentile))
    model = replace(fit_ppca(features), threshold=threshold)
    return model, held_out / threshold


def domain_section(card, export_key: str | None = None) -> dict:
    """The domain section that scores images run by `export_key` (e.g. "openvino-int8"): that export's own when it
    has one, else the set's; {} when neither exists."""
    own = (getattr(card, "exports", None) or {}).get(export_key or "", {}).get("domain")
    return own or getattr(card, "domain", None) or {}


def load_domain(folder: str | Path, card, export_key: str | None = None) -> DomainModel | None:
    """The domain statistics for images run by `export_key` (domain_section), hash-checked; None when there are
    none."""
    section = domain_section(card, export_key)
    if not section.get("stats_file"):
        return None
    path = Path(folder) / section["stats_file"]
    if not path.is_file():
        raise ModelSetError(path, "is missing but the card's domain section names it",
                            "re-copy the model set folder, or re-fit with `steelscan fit-domain`")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != section.get("stats_sha256"):
        raise ModelSetError(path, f"sha256 {digest[:12]}… does not match the card's domain.stats_sha256",
                            "re-copy the model set folder, or re-fit with `steelscan fit-domain`")
    return DomainModel.from_tensors(load_file(str(path)))


def class_counts(dataset, indices: Sequence[int]) -> dict[str, int]:
    counts = dict.fromkeys((*dataset.class_names, "clean"), 0)
    for i in indices:
        labels = dataset.samples[i].labels
        for k in labels:
            counts[dataset.class_names[k]] += 1
        if not labels:
            counts["clean"] += 1
    return counts


def fit_domain(folder: str | Path, dataset, indices: Sequence[int] | None = None, *, device: str = "auto",
               batch_size: int | str = 4, percentile: float = 99.0, split: str = "train", note: str = "",
               progress: Callable[[int, int], None] | None = None, backend: str = "torch",
               precision: str = "auto", data_label: str = ""):
    """Fit the training domain of the model set in `folder` on dataset.samples[indices] (the
    training split) and record it: domain.safetensors beside the card, a `domain` section in
    card.json. The weights and the card's fingerprint are untouched. Returns the updated card.

    `backend`/`precision` other than torch: the features are that export's (`precision` "auto": its INT8 when it
    has one), and the domain is the export's own (its folder, its card entry), used when it runs.
    The trainer calls this at the end of a run; `steelscan fit-domain` calls it for existing sets;
    `steelscan models quantize` for a new INT8 export."""
    from core.engine.inference import Inspector
    from core.modelsets.devices import pick_device
    from core.modelsets.export import EXPORTS_DIR, export_key
    from core.modelsets.modelset import CARD_FILE, load_model_set, read_card

    folder = Path(folder)
    indices = list(range(len(dataset.samples))) if indices is None else list(indices)
    torch_device = pick_device(device)
    model_set = load_model_set(folder, torch_device)
    # Any earlier domain is being replaced: do not load (or insist on) its statistics file.
    exports = {key: {k: v for k, v in entry.items() if k != "domain"} for key, entry in model_set.card.exports.items()}
    model_set = replace(model_set, card=replace(model_set.card, domain={}, exports=exports))
    inspector = Inspector(model_set, torch_device, batch_size=batch_size, backend=backend, precision=precision)
    run_by = export_key(inspector.backend.name, inspector.backend.precision)
    own = run_by in exports  # an export's features: its own domain
    stats_file = f"{EXPORTS_DIR}/{run_by}/{DOMAIN_FILE}" if own else DOMAIN_FILE
    features, sizes = [], []
    paths = [dataset.samples[i].image_path for i in indices]
    for done, (feature, size) in enumerate(inspector.embed_many(paths), start=1):
        features.append(feature)
        sizes.append(size)
        if progress:
            progress(done, len(paths))
    model, training_scores = calibrate(np.stack(features), percentile)
    save_file(model.tensors(), str(folder / stats_file))
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    section = {
        "feature": FEATURE if not own else f"{FEATURE} ({run_by})",
        "method": f"probabilistic PCA ({len(model.variances)} components), score / {percentile:g}th percentile "
                  f"of {FOLDS}-fold out-of-fold training scores; out of domain when > 1",
        "data": data_label or str(dataset.root),
        "data_fingerprint": dataset.fingerprint(),
        "split": split,
        "images": len(indices),
        "image_size": {"width": [min(widths), max(widths)], "height": [min(heights), max(heights)]},
        "class_counts": class_counts(dataset, indices),
        "percentile": percentile,
        "threshold_raw": model.threshold,
        "training_scores": {q: round(float(np.percentile(training_scores, p)), 4)
                            for q, p in (("median", 50), ("p95", 95), ("p99", 99), ("max", 100))},
        "stats_file": stats_file,
        "stats_sha256": hashlib.sha256((folder / stats_file).read_bytes()).hexdigest(),
        "fitted": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if note:
        section["note"] = note
    card = read_card(folder)
    if own:
        card = replace(card, exports={**card.exports, run_by: {**card.exports[run_by], "domain": section}})
    else:
        card = replace(card, domain=section)
    (folder / CARD_FILE).write_text(card.to_json() + "\n")
    return card


def domain_message(ood_score: float | None, out_of_domain: bool) -> str:
    """What an inspector reads about how familiar an image looks to the model."""
    if ood_score is None:
        return "This model set records no training domain, so it cannot tell unfamiliar images apart."
    if out_of_domain:
        return (f"This image looks unlike the images the model was trained on (unfamiliarity {ood_score:.1f}, "
                "above 1 = less typical than 99% of its training images): treat the verdict with caution.")
    return f"This image looks like the model's training images (unfamiliarity {ood_score:.2f}, 1 = limit)."
