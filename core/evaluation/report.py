"""The HTML report of `python -m core.evaluate`: tables, PNG plots (matplotlib, offline) and a
gallery of the most confident mistakes drawn by core.imaging.render."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from core.datasets import Dataset  # noqa: E402
from core.imaging.imageio import load_image, save_image  # noqa: E402
from core.imaging.render import render_verdict  # noqa: E402


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def plot_confusion(matrix: list[list[int]], labels: list[str], path: Path) -> str:
    data = np.array(matrix)
    fig, ax = plt.subplots(figsize=(1.2 + 0.8 * len(labels), 1.0 + 0.7 * len(labels)))
    ax.imshow(data, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), value in np.ndenumerate(data):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > data.max() / 2 else "black")
    return _save(fig, path)


def plot_curves(scores: dict, names: list[str], kind: str, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    y_true, y_prob = scores["y_true"], scores["y_prob"]
    for k, name in enumerate(names):
        if y_true[:, k].min() == y_true[:, k].max():
            continue  # undefined for a class that is always or never there
        if kind == "roc":
            x, y, _ = roc_curve(y_true[:, k], y_prob[:, k])
        else:
            y, x, _ = precision_recall_curve(y_true[:, k], y_prob[:, k])
        ax.plot(x, y, label=name)
    ax.set_xlabel("false positive rate" if kind == "roc" else "recall")
    ax.set_ylabel("true positive rate" if kind == "roc" else "precision")
    ax.set_title("ROC per class" if kind == "roc" else "Precision-recall per class")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_bars(report: dict, names: list[str], path: Path) -> str:
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(names), 3.8))
    width = 0.27
    series = {
        "F1": [report["classification"]["per_class"][n]["f1"] or 0 for n in names],
        "Dice (all images)": [report["segmentation"]["per_class"][n]["dice"] or 0 for n in names],
        "Dice (images with class)": [report["segmentation"]["per_class"][n]["dice_positive"] or 0 for n in names],
    }
    for offset, (label, values) in enumerate(series.items()):
        ax.bar(np.arange(len(names)) + (offset - 1) * width, values, width, label=label)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_glare(robustness: dict, path: Path) -> str:
    conditions = ["reference"] + [k for k in robustness if k != "reference"]
    metrics = ["accuracy", "macro_f1", "macro_dice"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    width = 0.8 / len(conditions)
    for c, condition in enumerate(conditions):
        summary = robustness[condition] if condition == "reference" else robustness[condition]["summary"]
        ax.bar(np.arange(len(metrics)) + c * width, [summary.get(m) or 0 for m in metrics], width, label=condition)
    ax.set_xticks(np.arange(len(metrics)) + width * (len(conditions) - 1) / 2, metrics)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _table(rows: list[list], header: list[str]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return html.escape("—" if value is None else str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_html_report(out: Path, report: dict, scores: dict, inspector, dataset: Dataset) -> Path:
    card = inspector.card
    names = list(card.class_names)
    plots = {
        "confusion": plot_confusion(report["classification"]["confusion_matrix"],
                                    report["classification"]["confusion_labels"], out / "confusion.png"),
        "roc": plot_curves(scores, names, "roc", out / "roc.png"),
        "pr": plot_curves(scores, names, "pr", out / "pr.png"),
        "bars": plot_bars(report, names, out / "per_class.png"),
    }
    if report["glare_robustness"]:
        plots["glare"] = plot_glare(report["glare_robustness"], out / "glare.png")
    per_class = report["classification"]["per_class"]
    seg = report["segmentation"]["per_class"]
    class_rows = [[n, per_class[n]["support"], per_class[n]["precision"], per_class[n]["recall"], per_class[n]["f1"],
                   per_class[n]["threshold"], per_class[n]["false_alarm_rate"],
                   per_class[n]["roc_auc"], per_class[n]["pr_auc"], seg[n]["dice"], seg[n]["iou"],
                   seg[n]["dice_positive"]] for n in names]
    gallery = []
    colors = [c.color for c in card.classes]
    (out / "mistakes").mkdir(exist_ok=True)
    for number, mistake in enumerate(report["confident_mistakes"]):
        pixels = load_image(mistake["image"]).pixels
        verdict = inspector.inspect(pixels)
        file_name = f"mistakes/{number:02d}.png"
        save_image(render_verdict(pixels, verdict, colors), out / file_name)
        caption = (f"{Path(mistake['image']).name}: true {', '.join(mistake['true'])}; predicted "
                   f"{', '.join(mistake['predicted'])}; confidence {mistake['confidence']:.3f}")
        gallery.append(f"<figure><img src='{file_name}'><figcaption>{html.escape(caption)}</figcaption></figure>")
    glare_rows = [[name, *(entry["summary"].get(m) for m in ("accuracy", "macro_f1", "macro_dice")),
                   *(entry["drop"].get(m) for m in ("accuracy", "macro_f1", "macro_dice"))]
                  for name, entry in report["glare_robustness"].items() if name != "reference"]
    summary_rows = [[k, v] for k, v in report["summary"].items()]
    images = "".join(f"<img src='{p}'>" for p in plots.values())
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>SteelScan evaluation: {html.escape(card.name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} img{{max-width:100%;margin:4px}}
figure{{display:inline-block;max-width:100%;margin:8px}}</style></head><body>
<h1>Evaluation of {html.escape(report['model_fingerprint'])}</h1>
<p>Data: {html.escape(report['data'])} (split: {html.escape(report['split'])}, fingerprint
{html.escape(report['data_fingerprint'])}); task {html.escape(card.task)};
inference through core.engine.inference.Inspector.</p>
<p><strong>These figures come from {html.escape(report.get('figures_from', report['split']))}.</strong></p>
<h2>Summary</h2>{_table(summary_rows, ["metric", "value"])}
<h2>Per class</h2>{_table(class_rows, ["class", "support", "precision", "recall", "F1", "threshold",
                                        "false alarms", "ROC-AUC", "AP",
                                        "Dice", "IoU", "Dice (with class)"])}
<h2>Plots</h2>{images}
<h2>Glare robustness</h2>{_table(glare_rows, ["condition", "accuracy", "macro F1", "macro Dice", "accuracy drop",
                                            "F1 drop", "Dice drop"]) if glare_rows else "<p>not run</p>"}
<h2>Most confident mistakes</h2>{''.join(gallery) or '<p>none</p>'}
<h2>Rejected images</h2>{'<br>'.join(html.escape(r) for r in report['rejected']) or '<p>none</p>'}
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
