"""Inspection: images in, `Verdict`s out, the networks run in batches.

The backbone runs once per strip: the classifier's feature pyramid feeds the U-Net decoder when
the model set shares its encoder, and the segmenter runs only on strips the classifier calls
defective. Decoding overlaps with the networks in a small thread pool. What runs the networks
(torch, ONNX Runtime, OpenVINO) is a backend (core.engine.backends); the rest is the same for all.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from core.contract.errors import ImageError
from core.contract.verdict import Verdict
from core.engine.backends import Backend, open_backend
from core.engine.domain import OUT_OF_DOMAIN, DomainModel, appearance_features, load_domain
from core.engine.postprocess import apply_mask_rules, class_scores, classes_called, find_regions
from core.imaging.imageio import DEFAULT_MAX_PIXELS, LoadedImage, load_image
from core.modelsets.devices import pick_batch_size, pick_device
from core.modelsets.export import export_key
from core.modelsets.flips import mean_over_flips, unflip_mean, view_rows, with_flips
from core.modelsets.fusion import fold_for_inference
from core.modelsets.modelset import ModelSet, load_model_set
from core.modelsets.preprocess import Normaliser

ImageSource = LoadedImage | np.ndarray | str | Path | tuple[bytes, str]


def pooled(top: torch.Tensor) -> np.ndarray:
    """(N, C) float64 average of the backbone's last feature map: the domain's feature."""
    return top.float().mean(dim=(2, 3)).cpu().numpy().astype(np.float64)


def to_loaded(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Accept what callers have: a LoadedImage, an RGB/grey array, a path, or (bytes, name)."""
    if isinstance(source, LoadedImage):
        return source
    if isinstance(source, np.ndarray):
        pixels = source if source.ndim == 3 else np.repeat(source[:, :, None], 3, axis=2)
        if pixels.dtype != np.uint8 or pixels.shape[2] != 3:
            raise ImageError("array", f"has dtype {pixels.dtype} and shape {source.shape}", "pass H x W x 3 uint8")
        pixels = np.ascontiguousarray(pixels)
        return LoadedImage("array", pixels, hashlib.sha256(pixels.tobytes()).hexdigest(), "array", "RGB")
    if isinstance(source, tuple):
        data, name = source
        return load_image(data, name=name, max_pixels=max_pixels)
    return load_image(source, max_pixels=max_pixels)


class Inspector:
    """Runs one loaded model set. Thread-safe for inference: the networks are never mutated."""

    def __init__(
        self,
        model_set: ModelSet,
        device: torch.device | None = None,
        batch_size: int | str = "auto",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        precision: str = "auto",
        backend: str | Backend = "torch",
    ) -> None:
        self.model_set = model_set
        self.card = model_set.card
        self.device = device or next(model_set.classifier.parameters()).device
        self.batch_size = pick_batch_size(batch_size, self.device)
        self.max_pixels = max_pixels
        self.precision = precision
        # A Backend instance is shared as it is (an Inspector with changed thresholds reuses the loaded graphs).
        self.backend = (open_backend(backend, model_set, self.device, precision) if isinstance(backend, str)
                        else backend)
        self.device_label = self.backend.device_label
        self.normaliser = Normaliser.from_card(self.card)
        # The domain fitted on the features this backend computes (an INT8 export's own), else the set's.
        self.domain: DomainModel | None = load_domain(model_set.folder, self.card,
                                                      export_key(self.backend.name, self.backend.precision))

    @classmethod
    def load(cls, folder: str | Path, device: str = "auto", backend: str = "auto", **kwargs) -> Inspector:
        torch_device = pick_device(device)
        model_set = load_model_set(folder, torch_device)
        fold_for_inference(model_set)  # this engine owns these networks: fold BatchNorm (2-6% a strip on a CPU)
        return cls(model_set, torch_device, backend=backend, **kwargs)

    def inspect(self, image: ImageSource) -> Verdict:
        """One image, one verdict; raises ImageError for an unreadable image."""
        result = next(self.inspect_many([image]))
        if isinstance(result, ImageError):
            raise result
        return result

    def inspect_many(self, sources: Iterable[ImageSource], workers: int = 2) -> Iterator[Verdict | ImageError]:
        """Verdicts (or the ImageError of a bad input) in input order; a bad image never stops the rest."""
        pending: deque = deque()
        batch: list[tuple[LoadedImage, float]] = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for source in sources:
                pending.append(pool.submit(self._timed_load, source))
                # Keep a bounded window of decodes in flight: overlap without holding a folder in memory.
                while len(pending) > 2 * self.batch_size:
                    yield from self._collect(pending.popleft().result(), batch)
            while pending:
                yield from self._collect(pending.popleft().result(), batch)
            if batch:
                yield from self._run(batch)

    def _timed_load(self, source: ImageSource) -> tuple[LoadedImage, float] | ImageError:
        start = time.perf_counter()
        try:
            return to_loaded(source, self.max_pixels), (time.perf_counter() - start) * 1000
        except ImageError as exc:
            return exc

    def _collect(self, item, batch: list) -> Iterator[Verdict | ImageError]:
        if isinstance(item, ImageError):
            # Flush what came before so results keep their input order.
            if batch:
                yield from self._run(batch)
                batch.clear()
            yield item
            return
        if batch and batch[0][0].pixels.shape != item[0].pixels.shape:
            yield from self._run(batch)
            batch.clear()
        batch.append(item)
        if len(batch) >= self.batch_size:
            yield from self._run(batch)
            batch.clear()

    def _run(self, batch: list[tuple[LoadedImage, float]]) -> list[Verdict]:
        images = [item[0] for item in batch]
        count = len(images)
        with torch.inference_mode(), self.backend.context():
            t0 = time.perf_counter()
            x = self.to_tensor([im.pixels for im in images])
            if self.card.test_time_flips:
                x = with_flips(x)  # the images, then their mirror images (core.modelsets.flips)
            t1 = time.perf_counter()
            logits, state = self.backend.classify(x)
            # The domain was fitted on the images as they are (embed_many): their own rows come first.
            top = self.backend.top_features(state)[:count]
            ood, coordinates = [None] * count, [()] * count
            if self.domain is not None:
                features = pooled(top)
                measured = (np.stack([appearance_features(im.pixels) for im in images])
                            if self.domain.appearance is not None else None)
                ood = self.domain.scores(features, measured)
                coordinates = [tuple(round(float(c), 3) for c in row) for row in self.domain.coordinates(features)]
            probs = torch.softmax(logits, 1) if self.card.task == "single-label" else torch.sigmoid(logits)
            if self.card.test_time_flips:
                probs = mean_over_flips(probs, count)
            probs = probs.cpu().numpy()
            t2 = time.perf_counter()
            shape = (images[0].height, images[0].width)  # a batch holds images of one size (_collect)
            if self.card.class_scores == "head":
                called = [classes_called(self.card, p) for p in probs]
                to_segment = [i for i in range(count) if called[i].any()]
                pixel_probs = self._segment(x, state, to_segment, shape, count) if to_segment else {}
            else:  # the masks take part in the decision: every image is segmented before any call
                to_segment = list(range(count))
                pixel_probs = self._segment(x, state, to_segment, shape, count)
                probs = np.stack([class_scores(self.card.class_scores, probs[i], pixel_probs[i]) for i in to_segment])
                called = [classes_called(self.card, p) for p in probs]
            t3 = time.perf_counter()
        verdicts = []
        for i, image in enumerate(images):
            start = time.perf_counter()
            shape = (image.height, image.width)
            masks, present = apply_mask_rules(self.card, called[i], pixel_probs.get(i), shape)
            regions = find_regions(self.card, masks, pixel_probs.get(i))
            timings = {
                "decode": batch[i][1],
                "preprocess": (t1 - t0) * 1000 / count,
                "classify": (t2 - t1) * 1000 / count,
                "segment": (t3 - t2) * 1000 / len(to_segment) if i in pixel_probs else 0.0,
                "postprocess": (time.perf_counter() - start) * 1000,
            }
            verdict = self._verdict(image, probs[i], masks, present, regions, i in pixel_probs, timings)
            if ood[i] is not None:
                level = self.domain.level(float(ood[i]))
                verdict = replace(verdict, ood_score=float(ood[i]), out_of_domain=level == OUT_OF_DOMAIN,
                                  domain_level=level, embedding=coordinates[i])
            verdicts.append(verdict)
        return verdicts

    def embed_many(self, sources: Iterable[ImageSource]) -> Iterator[tuple[np.ndarray, tuple[int, int]]]:
        """(pooled last-stage backbone features, (width, height)) per image, as `inspect_many` sees
        them: what the training domain is fitted on. Unreadable images raise their ImageError."""
        for source in sources:
            image = to_loaded(source, self.max_pixels)
            with torch.inference_mode(), self.backend.context():
                _, state = self.backend.classify(self.to_tensor([image.pixels]))
                top = self.backend.top_features(state)
            yield pooled(top)[0], (image.width, image.height)

    def to_tensor(self, pixels: list[np.ndarray]) -> torch.Tensor:
        # N,H,W,3 uint8 permuted to N,3,H,W is channels_last in memory already: no copy, no transpose.
        batch = torch.from_numpy(np.stack(pixels)).to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        return self.normaliser(batch.float())

    def _segment(self, x: torch.Tensor, state, indices: list[int], shape: tuple[int, int],
                 count: int) -> dict[int, np.ndarray]:
        """Pixel probabilities at the image's size of images `indices` of a batch of `count` (x: with its
        mirror images when the card has test-time flips, each view's map then flipped back and averaged)."""
        if self.card.test_time_flips:
            logits = unflip_mean(self.backend.segment(x, state, view_rows(indices, count)).float(), len(indices))
        else:
            logits = self.backend.segment(x, state, indices).float()
        logits = self.normaliser.to_image(logits, shape)
        probs = torch.sigmoid(logits).cpu().numpy()
        return {i: probs[k] for k, i in enumerate(indices)}

    def _verdict(
        self,
        image: LoadedImage,
        probs: np.ndarray,
        masks: np.ndarray,
        present: np.ndarray,
        regions,
        segmenter_ran: bool,
        timings: dict[str, float],
    ) -> Verdict:
        card = self.card
        return Verdict(
            image_name=image.name,
            image_sha256=image.sha256,
            width=image.width,
            height=image.height,
            class_names=card.class_names,
            probabilities=tuple(float(p) for p in probs),
            thresholds=tuple(c.threshold for c in card.classes),
            defective=bool(present.any()),
            classes_present=tuple(n for n, p in zip(card.class_names, present, strict=True) if p),
            masks=masks,
            regions=regions,
            model_set=card.name,
            model_version=card.version,
            model_fingerprint=card.fingerprint,
            model_trained=card.trained,
            device=self.device_label,
            segmenter_ran=segmenter_ran,
            timings_ms=timings,
            created_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            backend=self.backend.name,
            precision=self.backend.precision,
        )
