"""The engine on each backend vs the usual per-image script, on the same strips in one run.

    python benchmarks/bench_backends.py [--model-set NAME|DIR] [--strips 16] [--repeats 3] [--batch-size 8]

Prints the CPU (model name, AVX2 / AVX-512 / AMX), then for each way of running the same JPEG strips
(1600x256, half clean): strips/s, the ratio to the usual script, peak memory (the peak resident set of
a fresh process that ran only that row, imports and model included) and how often its class calls
agree with the torch fp32 engine. Rows:

- usual script: one image at a time, eager PyTorch fp32 under no_grad, PIL decode, classifier then a
  full U-Net on every strip (benchmarks/bench_inference.py's baseline);
- engine torch fp32, and torch bf16 where the CPU has AMX;
- engine ONNX Runtime fp32, OpenVINO fp32 and OpenVINO INT8, where the set has those exports
  (`steelscan models export SET`, `steelscan models quantize SET --calibration DATA`).

Each row runs in its own process so its peak memory is its own; rows run one after another, so load
from other work on the machine can favour one row over another (run it on a quiet machine). With a
CUDA GPU it also prints batched network throughput on the GPU (torch fp16 channels_last, and ONNX
Runtime's CUDA provider when installed): classify every strip, segment the flagged ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

ROWS = ("usual", "torch-fp32", "torch-bf16", "onnx-fp32", "openvino-fp32", "openvino-int8")


def cpu_description() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))

    def has(flag: str) -> str:
        return "yes" if flag in flags else "no"

    return (f"{model}, {os.cpu_count()} logical cores; AVX2 {has('avx2')}, AVX-512 {has('avx512f')} "
            f"(VNNI {has('avx512_vnni')}), AVX-VNNI {has('avx_vnni')}, AMX {has('amx_tile')}")


def run_row(row: str, folder: Path, strips: list[Path], repeats: int, batch_size: int) -> dict:
    """One row, in this process: median strips/s over `repeats` runs after a warm-up, and the class calls."""
    import numpy as np
    import torch

    from core.engine.inference import Inspector

    if row == "usual":
        import copy

        from bench_inference import usual_script

        from core.engine.postprocess import classes_called
        from core.modelsets.modelset import load_model_set
        from core.modelsets.networks import build_segmenter

        model_set = load_model_set(folder, "cpu")
        card = model_set.card
        classifier = copy.deepcopy(model_set.classifier).to(memory_format=torch.contiguous_format)
        unet = build_segmenter(card.segmenter_encoder, len(card.classes), card.decoder_channels).eval()
        unet.load_state_dict(copy.deepcopy(model_set.segmenter).to(memory_format=torch.contiguous_format).state_dict())
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (card.mean, card.std))

        def once(chosen: list[Path] = strips) -> list[list[bool]]:
            return [classes_called(card, probs).tolist()
                    for probs, _ in usual_script(chosen, classifier, unet, mean, std, torch.device("cpu"))]
    else:
        backend, precision = row.split("-")
        inspector = Inspector.load(folder, "cpu", backend=backend, batch_size=batch_size,
                                   precision="fp32" if precision == "fp32" else "auto")
        if (inspector.backend.name, inspector.backend.precision) != (backend, precision):
            return {"row": row, "skipped": f"ran as {inspector.backend.name} {inspector.backend.precision}"}

        def once(chosen: list[Path] = strips) -> list[list[bool]]:
            return [[name in v.classes_present for name in v.class_names] for v in inspector.inspect_many(chosen)]

    once(strips[:2])  # warm-up (one clean, one defective strip): first-call allocations, OpenVINO's shape compilation
    times, calls = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        calls = once()
        times.append(time.perf_counter() - start)
    return {"row": row, "strips_per_s": len(strips) / statistics.median(times), "runs_s": times,
            "calls": calls, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": torch.get_num_threads(), "clean": int(np.sum([not any(c) for c in calls]))}


def cuda_section(folder: Path, strips: list[Path], batch_size: int) -> None:
    """Network throughput on the GPU: batches of strips already on the device, fp16 channels_last."""
    import numpy as np
    import torch
    from PIL import Image

    from core.engine.postprocess import classes_called
    from core.modelsets.modelset import load_model_set
    from core.modelsets.networks import backbone_features, classifier_head, decode_masks

    device = torch.device("cuda")
    model_set = load_model_set(folder, device)
    card = model_set.card
    if not card.shared_encoder:
        print("CUDA: this set has its own segmenter encoder; the GPU section measures shared-encoder sets only")
        return
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in strips])
    reps = max(1, 256 // len(strips))  # enough strips for a steady GPU figure
    x_all = torch.from_numpy(np.concatenate([pixels] * reps)).to(device).permute(0, 3, 1, 2).float()
    x_all = ((x_all / 255 - torch.tensor(card.mean, device=device).view(1, 3, 1, 1))
             / torch.tensor(card.std, device=device).view(1, 3, 1, 1)).contiguous(memory_format=torch.channels_last)
    print(f"\nCUDA: {torch.cuda.get_device_name(0)}, {len(x_all)} strips per pass, batch {batch_size}")

    def torch_pass() -> int:
        flagged = 0
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
            for start in range(0, len(x_all), batch_size):
                x = x_all[start:start + batch_size]
                features = backbone_features(model_set.classifier, x)
                probs = torch.sigmoid(classifier_head(model_set.classifier, features[-1]).float()).cpu().numpy()
                keep = [i for i, p in enumerate(probs) if classes_called(card, p).any()]
                flagged += len(keep)
                if keep:
                    index = torch.tensor(keep, device=device)
                    (decode_masks(model_set.segmenter, [f.index_select(0, index) for f in features]) > 0).cpu()
        torch.cuda.synchronize()
        return flagged

    torch_pass()
    start = time.perf_counter()
    flagged = torch_pass()
    seconds = time.perf_counter() - start
    print(f"torch fp16 channels_last : {len(x_all) / seconds:8.1f} strips/s  ({flagged}/{len(x_all)} segmented)")
    try:
        import onnxruntime as ort
    except ImportError:
        return
    if "CUDAExecutionProvider" not in ort.get_available_providers() or "onnx-fp32" not in card.exports:
        print("ONNX Runtime CUDA provider: not available (needs onnxruntime-gpu and `steelscan models export`)")
        return
    from core.modelsets.export import FEATURES, graph_paths

    paths = graph_paths(folder, "onnx-fp32")
    sessions = {k: ort.InferenceSession(str(p), providers=["CUDAExecutionProvider"]) for k, p in paths.items()}
    x_host = x_all.float().contiguous().cpu().numpy()

    def ort_pass() -> None:
        for start in range(0, len(x_host), batch_size):
            x = x_host[start:start + batch_size]
            outputs = sessions["classifier"].run(None, {"x": x})
            probs = 1 / (1 + np.exp(-outputs[0]))
            keep = [i for i, p in enumerate(probs) if classes_called(card, p).any()]
            if keep:
                sessions["segmenter"].run(None, {"x": x[keep], **{n: f[keep] for n, f in zip(FEATURES, outputs[1:],
                                                                                             strict=True)}})

    ort_pass()
    start = time.perf_counter()
    ort_pass()
    print(f"ONNX Runtime CUDA fp32   : {len(x_host) / (time.perf_counter() - start):8.1f} strips/s (host copies "
          "included)")


def main() -> int:
    from core.contract.settings import load_settings

    settings = load_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-set", default=settings.model_set)
    parser.add_argument("--strips", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=settings.batch_size)
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: run one row, print its JSON
    parser.add_argument("--strip-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = Path(args.model_set) if Path(args.model_set).is_dir() else settings.models_dir / args.model_set
    if args.row:
        strips = sorted(args.strip_dir.glob("*.jpg"))
        print(json.dumps(run_row(args.row, folder, strips, args.repeats, args.batch_size)))
        return 0

    from bench_inference import write_strips

    from core.modelsets.devices import cpu_bf16_supported
    from core.modelsets.modelset import read_card

    card = read_card(folder)  # read again before each row: an export finished meanwhile is measured too
    work = Path(tempfile.mkdtemp(prefix="steelscan-bench-"))
    strips = write_strips(work, args.strips)
    print(f"CPU: {cpu_description()}")
    print(f"model set {card.name} {card.version} at {folder}; {len(strips)} JPEG strips 1600x256 (half clean), "
          f"batch {args.batch_size}, median of {args.repeats} runs after a 2-strip warm-up")
    results = {}
    for row in args.rows:
        card = read_card(folder)
        if row == "torch-bf16" and not cpu_bf16_supported():
            print(f"{row:<14} skipped: this CPU has no AMX")
            continue
        if row in ("onnx-fp32", "openvino-fp32", "openvino-int8") and row not in card.exports:
            how = "quantize SET --calibration DATA" if row.endswith("int8") else "export SET"
            print(f"{row:<14} skipped: the set has no {row} export (`steelscan models {how}`)")
            continue
        command = [sys.executable, __file__, "--model-set", str(folder), "--row", row, "--strip-dir", str(work),
                   "--repeats", str(args.repeats), "--batch-size", str(args.batch_size)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{row:<14} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else '?'}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if "skipped" in result:
            print(f"{row:<14} skipped: {result['skipped']}")
            continue
        results[row] = result
        print(f"{row:<14} done: {result['strips_per_s']:.2f} strips/s", file=sys.stderr, flush=True)

    base = results.get("usual", {}).get("strips_per_s")
    reference = results.get("torch-fp32", {}).get("calls")
    print(f"\n| {'path':<32} | strips/s | vs usual | peak MB | class calls = torch fp32 |")
    print(f"|{'-' * 34}|---------:|---------:|--------:|-------------------------:|")
    names = {"usual": "usual per-image script (fp32)", "torch-fp32": "engine, torch fp32",
             "torch-bf16": "engine, torch bf16 (AMX)", "onnx-fp32": "engine, ONNX Runtime fp32",
             "openvino-fp32": "engine, OpenVINO fp32", "openvino-int8": "engine, OpenVINO INT8"}
    for row, result in results.items():
        ratio = f"{result['strips_per_s'] / base:.2f}x" if base else "-"
        agree = "-"
        if reference:
            same = sum(a == b for a, b in zip(result["calls"], reference, strict=True))
            agree = f"{same}/{len(reference)}"
        print(f"| {names[row]:<32} | {result['strips_per_s']:8.2f} | {ratio:>8} | {result['peak_mb']:7.0f} | "
              f"{agree:>24} |")
    print("\nruns (s): " + "; ".join(f"{row} {', '.join(f'{t:.1f}' for t in r['runs_s'])}"
                                    for row, r in results.items()))

    import torch

    if torch.cuda.is_available():
        cuda_section(folder, strips, max(args.batch_size, 32))
    else:
        print("CUDA: no GPU visible, GPU figures not taken")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
