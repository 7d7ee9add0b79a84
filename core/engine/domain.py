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

Deep features alone let other surfaces through: `neu-det` scored 40 of 96 magnetic tiles and 7 of 11 Severstal
strips as familiar, because a network trained on a few classes maps much of what it never saw near what it knows.
So a domain also keeps an *appearance* part: 15 plain measurements of the picture (its size, grey levels, colour,
dark share, gradient energy at three scales), whitened and scored by a shrunk Mahalanobis distance, calibrated the
same way. The score is the larger of the two. It is graded into LEVELS by cut-offs in the card's `levels` (issue 37):
familiar up to 1 (the training images' 99th percentile), unusual above, out of domain above a per-set cut-off
calibrated on the training images alone (OUT_OF_DOMAIN_RULE); docs/out-of-domain.md has the rates on the datasets.
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
FAMILIAR, UNUSUAL, OUT_OF_DOMAIN = LEVELS = ("familiar", "unusual", "out of domain")
# Out of domain: above both 2 and the 99.9th percentile of the training images' out-of-fold scores.
OUT_OF_DOMAIN_FLOOR, OUT_OF_DOMAIN_PERCENTILE = 2.0, 99.9
OUT_OF_DOMAIN_RULE = (f"out of domain above max({OUT_OF_DOMAIN_FLOOR:g}, {OUT_OF_DOMAIN_PERCENTILE:g}th percentile "
                      "of the training images' out-of-fold scores); unusual above 1")
APPEARANCE = ("log width", "log height", "grey mean", "grey std", "grey p5", "grey p50", "grey p95", "colour",
              "dark share", *(f"log |d{axis}| /{scale}" for scale in (1, 2, 4) for axis in "xy"))
# Spreads below these count as these: a set trained on one image size (NEU's 200x200) would otherwise call a
# 201-pixel image infinitely unusual. Sizes in log units (0.1 = 10%), grey levels in 0-1.
APPEARANCE_FLOOR = np.array([0.1, 0.1, *[0.02] * 7, *[0.1] * 6])
SHRINK = 0.2  # covariance shrinkage towards the identity: 15 measurements from as few as a few dozen images
EMBEDDING_DIMS = 8  # whitened principal coordinates a verdict carries (the queue's "far from what was reviewed")


def appearance_features(pixels: np.ndarray) -> np.ndarray:
    """The APPEARANCE measurements of one H x W x 3 uint8 image (float64, len(APPEARANCE))."""
    rgb = np.asarray(pixels)
    height, width = rgb.shape[:2]
    step = max(1, int(np.sqrt(height * width / 250_000)))  # statistics of a large strip from every step-th pixel
    sample = rgb[::step, ::step].astype(np.float32) / 255.0
    grey = sample.mean(2)
    levels = np.percentile(grey, [5, 50, 95])
    values = [np.log(width), np.log(height), grey.mean(), grey.std(), *levels,
              float(np.abs(sample - grey[:, :, None]).mean()), float((grey < 0.04).mean())]
    scaled = rgb.astype(np.float32).mean(2) / 255.0
    for _ in range(3):
        for axis in (1, 0):
            diffs = np.abs(np.diff(scaled, axis=axis)) if scaled.shape[axis] > 1 else np.zeros(1)
            values.append(float(np.log(diffs.mean() + 1e-4)))
        h, w = scaled.shape[0] // 2 * 2, scaled.shape[1] // 2 * 2
        if h >= 2 and w >= 2:
            scaled = scaled[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class AppearanceModel:
    mean: np.ndarray  # (A,)
    scale: np.ndarray  # (A,) training spread, floored at APPEARANCE_FLOOR
    precision: np.ndarray  # (A, A) inverse of the shrunk covariance of the whitened measurements
    threshold: float = 1.0

    def raw_scores(self, measurements: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(np.asarray(measurements, dtype=np.float64)) - self.mean) / self.scale
        return np.einsum("ij,jk,ik->i", z, self.precision, z) / z.shape[1]

    def scores(self, measurements: np.ndarray) -> np.ndarray:
        return self.raw_scores(measurements) / self.threshold


def fit_appearance(measurements: np.ndarray) -> AppearanceModel:
    """The appearance part of a domain from (N, A) measurements; threshold left at 1 (see `calibrate`)."""
    measurements = np.asarray(measurements, dtype=np.float64)
    mean = measurements.mean(0)
    scale = np.maximum(measurements.std(0), APPEARANCE_FLOOR[: measurements.shape[1]])
    z = (measurements - mean) / scale
    covariance = np.cov(z.T) if len(z) > 1 else np.zeros((z.shape[1], z.shape[1]))
    shrunk = (1 - SHRINK) * covariance + SHRINK * np.eye(z.shape[1])
    return AppearanceModel(mean, scale, np.linalg.inv(shrunk))


@dataclass(frozen=True)
class DomainModel:
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (k, D) orthonormal rows
    variances: np.ndarray  # (k,)
    residual_variance: float
    threshold: float = 1.0  # raw score at the calibration percentile
    appearance: AppearanceModel | None = None
    # Score cut-offs of the LEVELS (the card's `levels`); a domain fitted before levels existed has one cut-off, 1.
    unusual_above: float = 1.0
    out_of_domain_above: float = 1.0

    def raw_scores(self, features: np.ndarray) -> np.ndarray:
        centred = np.asarray(features, dtype=np.float64) - self.mean
        projected = centred @ self.components.T
        inside = (projected**2 / self.variances).sum(1)
        residual = np.maximum((centred**2).sum(1) - (projected**2).sum(1), 0.0) / self.residual_variance
        return (inside + residual) / centred.shape[1]

    def scores(self, features: np.ndarray, appearance: np.ndarray | None = None) -> np.ndarray:
        """1.0 = as atypical as the calibration percentile of the training images. With the images' appearance
        measurements (and an appearance part), the larger of the two parts' scores."""
        deep = self.raw_scores(features) / self.threshold
        if self.appearance is None or appearance is None:
            return deep
        return np.maximum(deep, self.appearance.scores(appearance))

    def level(self, score: float) -> str:
        if score > self.out_of_domain_above:
            return OUT_OF_DOMAIN
        return UNUSUAL if score > self.unusual_above else FAMILIAR

    def coordinates(self, features: np.ndarray, dims: int = EMBEDDING_DIMS) -> np.ndarray:
        """(N, dims) whitened principal coordinates: unit spread over the training images, so distances between
        sheets read the same for every set."""
        centred = np.atleast_2d(np.asarray(features, dtype=np.float64)) - self.mean
        return (centred @ self.components[:dims].T) / np.sqrt(self.variances[:dims])

    def tensors(self) -> dict[str, np.ndarray]:
        tensors = {"mean": self.mean.astype(np.float32), "components": self.components.astype(np.float32),
                   "variances": self.variances.astype(np.float32),
                   "residual_variance": np.array([self.residual_variance], dtype=np.float32),
                   "threshold": np.array([self.threshold], dtype=np.float32)}
        if self.appearance is not None:
            part = self.appearance
            tensors |= {"appearance_mean": part.mean.astype(np.float32),
                        "appearance_scale": part.scale.astype(np.float32),
                        "appearance_precision": part.precision.astype(np.float32),
                        "appearance_threshold": np.array([part.threshold], dtype=np.float32)}
        return tensors

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray]) -> DomainModel:
        as64 = {k: v.astype(np.float64) for k, v in tensors.items()}
        appearance = None
        if "appearance_mean" in as64:
            appearance = AppearanceModel(as64["appearance_mean"], as64["appearance_scale"],
                                         as64["appearance_precision"], float(as64["appearance_threshold"][0]))
        return cls(as64["mean"], as64["components"], as64["variances"], float(as64["residual_variance"][0]),
                   float(as64["threshold"][0]), appearance)


def out_of_domain_cutoff(training_scores: np.ndarray) -> float:
    """The per-set score above which an image is out of domain (OUT_OF_DOMAIN_RULE), from the training images'
    out-of-fold scores (1.0 = their 99th percentile)."""
    return round(max(OUT_OF_DOMAIN_FLOOR, float(np.percentile(training_scores, OUT_OF_DOMAIN_PERCENTILE))), 4)


def levels_section(out_of_domain_above: float) -> dict:
    return {"familiar": "score <= 1", "unusual": 1.0, "out_of_domain": out_of_domain_above,
            "rule": OUT_OF_DOMAIN_RULE}


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


def calibrate(features: np.ndarray, percentile: float = 99.0, folds: int = FOLDS, seed: int = 0,
              fit: Callable = fit_ppca) -> tuple[DomainModel, np.ndarray]:
    """Fit on all features; threshold = `percentile` of out-of-fold raw scores (each image scored
    by a model fitted without it, so the threshold is not flattered by the images it was fitted on).
    Returns the model and the out-of-fold scores (already divided by the threshold). `fit`: fit_ppca for the
    deep features, fit_appearance for the appearance measurements."""
    features = np.asarray(features, dtype=np.float64)
    count = len(features)
    if count < 4:
        raise ValueError(f"a domain needs at least 4 training images, got {count}")
    order = np.random.default_rng(seed).permutation(count)
    held_out = np.empty(count)
    for fold in np.array_split(order, min(folds, count)):
        rest = np.setdiff1d(order, fold)
        held_out[fold] = fit(features[rest]).raw_scores(features[fold])
    threshold = float(np.percentile(held_out, percentile))
    model = replace(fit(features), threshold=threshold)
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
    model = DomainModel.from_tensors(load_file(str(path)))
    levels = section.get("levels") or {}
    if levels:
        model = replace(model, unusual_above=float(levels["unusual"]),
                        out_of_domain_above=float(levels["out_of_domain"]))
    return model


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
    from core.engine.inference import to_loaded

    features, sizes, measured = [], [], []
    paths = [dataset.samples[i].image_path for i in indices]
    for done, path in enumerate(paths, start=1):
        image = to_loaded(path)
        feature, size = next(inspector.embed_many([image]))
        features.append(feature)
        sizes.append(size)
        measured.append(appearance_features(image.pixels))
        if progress:
            progress(done, len(paths))
    model, deep_scores = calibrate(np.stack(features), percentile)
    appearance, appearance_scores = calibrate(np.stack(measured), percentile, fit=fit_appearance)
    training_scores = np.maximum(deep_scores, appearance_scores)
    cutoff = out_of_domain_cutoff(training_scores)
    model = replace(model, appearance=appearance, out_of_domain_above=cutoff)
    save_file(model.tensors(), str(folder / stats_file))
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    section = {
        "feature": FEATURE if not own else f"{FEATURE} ({run_by})",
        "method": f"probabilistic PCA ({len(model.variances)} components), score / {percentile:g}th percentile "
                  f"of {FOLDS}-fold out-of-fold training scores; the larger of it and the appearance score",
        "data": data_label or str(dataset.root),
        "data_fingerprint": dataset.fingerprint(),
        "split": split,
        "images": len(indices),
        "image_size": {"width": [min(widths), max(widths)], "height": [min(heights), max(heights)]},
        "class_counts": class_counts(dataset, indices),
        "percentile": percentile,
        "threshold_raw": model.threshold,
        "training_scores": score_quantiles(training_scores),
        "appearance": appearance_section(appearance, appearance_scores),
        "levels": levels_section(cutoff),
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


def score_quantiles(scores: np.ndarray) -> dict[str, float]:
    return {q: round(float(np.percentile(scores, p)), 4)
            for q, p in (("median", 50), ("p95", 95), ("p99", 99), ("p99.9", 99.9), ("max", 100))}


def appearance_section(model: AppearanceModel, scores: np.ndarray) -> dict:
    return {"measurements": list(APPEARANCE), "threshold_raw": model.threshold,
            "method": f"whitened measurements, Mahalanobis distance with covariance shrunk {SHRINK:g} towards the "
                      "identity, / 99th percentile of out-of-fold training scores",
            "training_scores": score_quantiles(scores)}


def add_appearance(folder: str | Path, dataset, indices: Sequence[int] | None = None, *,
                   progress: Callable[[int, int], None] | None = None) -> object:
    """Give a set's existing domains (the set's and each export's own) the appearance part and graded levels,
    keeping their deep-feature statistics: decodes the training images, runs no network. The out-of-domain cut-off
    takes the deep part's recorded training maximum as its 99.9th percentile (its per-image scores were not kept).
    Returns the updated card; weights and fingerprint untouched."""
    from core.engine.inference import to_loaded
    from core.modelsets.modelset import CARD_FILE, read_card

    folder = Path(folder)
    card = read_card(folder)
    indices = list(range(len(dataset.samples))) if indices is None else list(indices)
    measured = []
    for done, i in enumerate(indices, start=1):
        measured.append(appearance_features(to_loaded(dataset.samples[i].image_path).pixels))
        if progress:
            progress(done, len(indices))
    appearance, scores = calibrate(np.stack(measured), fit=fit_appearance)

    def upgraded(section: dict, export: str | None) -> dict:
        if not section.get("stats_file"):
            raise ModelSetError(folder / CARD_FILE, "records no domain to add the appearance part to",
                                f"fit one first: `steelscan fit-domain {folder}`")
        deep = load_domain(folder, card, export)
        cutoff = out_of_domain_cutoff(np.maximum(scores, float(section["training_scores"]["max"])))
        path = folder / section["stats_file"]
        save_file(replace(deep, appearance=appearance).tensors(), str(path))
        return {**section, "stats_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "appearance": {**appearance_section(appearance, scores), "images": len(indices)},
                "levels": {**levels_section(cutoff), "deep_training_max": section["training_scores"]["max"]},
                "method": section["method"].replace("; out of domain when > 1",
                                                    "; the larger of it and the appearance score")}

    exports = {key: {**entry, "domain": upgraded(entry["domain"], key)} if entry.get("domain") else entry
               for key, entry in card.exports.items()}
    card = replace(card, domain=upgraded(card.domain, None), exports=exports)
    (folder / CARD_FILE).write_text(card.to_json() + "\n")
    return card


def domain_message(ood_score: float | None, out_of_domain: bool, level: str = "") -> str:
    """What an inspector reads about how familiar an image looks to the model (`level`: one of LEVELS)."""
    if ood_score is None:
        return "This model set records no training domain, so it cannot tell unfamiliar images apart."
    # Callers without the level (a verdict's flag alone): above 1 is at least unusual.
    level = level or (OUT_OF_DOMAIN if out_of_domain else UNUSUAL if ood_score > 1 else FAMILIAR)
    if level == OUT_OF_DOMAIN:
        return (f"Out of domain: this image looks unlike the images the model was trained on (unfamiliarity "
                f"{ood_score:.1f}; above 1 = less typical than 99% of its training images). The verdict is a guess: "
                "check the sheet yourself before accepting it.")
    if level == UNUSUAL:
        return (f"Unusual: this image is less typical than 99% of the model's training images (unfamiliarity "
                f"{ood_score:.2f}): look closer before accepting.")
    return f"Familiar: this image looks like the model's training images (unfamiliarity {ood_score:.2f}, 1 = limit)."
