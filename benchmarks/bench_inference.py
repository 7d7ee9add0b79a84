"""Engine vs the usual per-image script, and one Grad-CAM vs one classifier forward.

    python benchmarks/bench_inference.py [--model-set NAME|DIR] [--strips 16] [--repeats 3] [--device cpu]

(a) the usual script: one image at a time, plain eager PyTorch under no_grad, PIL decode,
    classifier then a full U-Net forward on every strip;
(b) the engine: Inspector.inspect_many — batches, inference_mode, channels_last, the backbone run
    once (the U-Net decoder reads the classifier's features), the segmenter only on strips the
    classifier calls defective, decoding overlapped in threads.
Both read the same JPEG strips from disk (1600x256, about half clean). Prints images/s, ratios,
and how often the two paths agree.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.contract.settings import load_settings  # noqa: E402
from core.datasets.synthetic import CLASS_NAMES, make_strip  # noqa: E402
from core.engine.explain import explain  # noqa: E402
from core.engine.inference import Inspector  # noqa: E402
from core.engine.postprocess import classes_called  # noqa: E402
from core.modelsets.devices import pick_device  # noqa: E402
from core.modelsets.modelset import create_untrained, load_model_set  # noqa: E402
from core.modelsets.networks import build_segmenter  # noqa: E402


def write_strips(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        classes = () if i % 2 == 0 else ((i // 2) % 4,)  # half clean, the rest one class each
        strip = make_strip(700_000 + i, classes)
        path = folder / strip.image_id
        Image.fromarray(strip.pixels).save(path, quality=95)
        paths.append(path)
    return paths


def usual_script(paths: list[Path], classifier, unet, mean, std, device) -> list[tuple[np.ndarray, np.ndarray]]:
    """What per-image inference scripts typically do."""
    out = []
    with torch.no_grad():
        for path in paths:
            image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
            x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).to(device)
            x = (x - mean) / std
            probs = torch.sigmoid(classifier(x))[0].cpu().numpy()
            masks = (torch.sigmoid(unet(x))[0] > 0.5).cpu().numpy()
            out.append((probs, masks))
    return out


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-set", default=settings.model_set)
    parser.add_argument("--strips", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=settings.batch_size)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32"])
    args = parser.parse_args()
    device = pick_device(args.device)
    work = Path(tempfile.mkdtemp(prefix="steelscan-bench-"))
    folder = Path(args.model_set) if Path(args.model_set).is_dir() else settings.models_dir / args.model_set
    if not folder.is_dir():
        print(
            f"model set {folder} not found: benchmarking an untrained ResNet50 set (its clean/defective calls "
            "are arbitrary, so the segmenter-skip saving may not show)"
        )
        folder = work / "untrained"
        create_untrained(folder, "untrained-bench", CLASS_NAMES)
    model_set = load_model_set(folder, device)
    card = model_set.card
    inspector = Inspector(model_set, device, batch_size=args.batch_size, precision=args.precision)
    paths = write_strips(work, args.strips)

    # The usual script's models: plain NCHW fp32 modules, the U-Net with its own copy of the encoder.
    classifier = copy.deepcopy(model_set.classifier).to(memory_format=torch.contiguous_format)
    unet = build_segmenter(card.segmenter_encoder, len(card.classes), card.decoder_channels).eval().to(device)
    unet.load_state_dict(copy.deepcopy(model_set.segmenter).to(memory_format=torch.contiguous_format).state_dict())
    mean = torch.tensor(card.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(card.std, device=device).view(1, 3, 1, 1)

    print(
        f"model set {card.name} {card.version} ({'trained' if card.trained else 'untrained'}), "
        f"device {inspector.device_label}, "
        f"torch threads {torch.get_num_threads()}, {len(paths)} strips 1600x256, batch {args.batch_size}"
    )
    usual_script(paths[:1], classifier, unet, mean, std, device)  # warm-up both paths
    list(inspector.inspect_many(paths[:2]))
    base_t, engine_t = [], []
    for _ in range(args.repeats):  # interleaved, so background load hits both alike
        base_t.append(timed(lambda: usual_script(paths, classifier, unet, mean, std, device)))
        engine_t.append(timed(lambda: list(inspector.inspect_many(paths))))
    baseline = usual_script(paths, classifier, unet, mean, std, device)
    verdicts = list(inspector.inspect_many(paths))
    base_ips, engine_ips = len(paths) / statistics.median(base_t), len(paths) / statistics.median(engine_t)
    clean = sum(not v.segmenter_ran for v in verdicts)
    pairs = list(zip(baseline, verdicts, strict=True))
    max_diff = max(float(np.abs(b[0] - np.array(v.probabilities)).max()) for b, v in pairs)
    same_calls = np.mean([np.array_equal(classes_called(card, b[0]), classes_called(card, np.array(v.probabilities)))
                          for b, v in pairs])
    print(f"(a) usual per-image script : {base_ips:6.2f} images/s  (runs: {', '.join(f'{t:.1f}s' for t in base_t)})")
    print(
        f"(b) SteelScan engine       : {engine_ips:6.2f} images/s  (runs: {', '.join(f'{t:.1f}s' for t in engine_t)})"
    )
    print(
        f"    engine / usual         : {engine_ips / base_ips:6.2f}x   "
        f"(classifier called {clean}/{len(paths)} strips clean; classifier calls agree on {same_calls:.0%}, "
        f"max |probability difference| {max_diff:.4f})"
    )

    # Grad-CAM: one explanation vs one classifier forward on one strip.
    image = np.asarray(Image.open(paths[1]).convert("RGB"))
    x = inspector.to_tensor([image])
    trainable = copy.deepcopy(model_set.classifier).requires_grad_(True)
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    def forward() -> None:
        with torch.inference_mode():
            model_set.classifier(x)

    def library_default() -> None:
        with GradCAM(model=trainable, target_layers=[trainable.layer4[-1]]) as cam:
            cam(input_tensor=x, targets=[ClassifierOutputTarget(0)])

    forward(), explain(inspector, image, card.class_names[0]), library_default()
    fwd = statistics.median(timed(forward) for _ in range(args.repeats + 2))
    cam = statistics.median(
        timed(lambda: explain(inspector, image, card.class_names[0])) for _ in range(args.repeats + 2)
    )
    lib = statistics.median(timed(library_default) for _ in range(args.repeats))
    print(f"classifier forward         : {fwd * 1000:7.0f} ms")
    print(f"Grad-CAM (SteelScan)       : {cam * 1000:7.0f} ms  = {cam / fwd:.2f}x a forward")
    print(f"Grad-CAM (library default) : {lib * 1000:7.0f} ms  = {lib / fwd:.2f}x a forward")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
