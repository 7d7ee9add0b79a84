"""CSV injection: every CSV SteelScan writes (export's decisions.csv / train.csv / needs_masks.csv and the
Statistics download) shows formula-leading text as text, the way OWASP describes."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from core.contract.csvsafe import neutralise, neutralise_frame
from core.datasets.severstal import read_severstal_csv, write_severstal_csv
from core.review.stats import StatsFilter, compute, sheet_csv
from core.review.store import Decision, ReviewLog, export_training_set
from tests.helpers.dashboard import make_verdict, strip_png

PAYLOADS = ("=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\tTAB", "\rCR")
LEADS = ("=", "+", "-", "@", "\t", "\r")


def dangerous(cell: str) -> bool:
    return cell.startswith(LEADS)


def read_cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_neutralise_follows_owasp():
    for payload in PAYLOADS:
        assert neutralise(payload) == "'" + payload
    assert neutralise("scratch on the edge") == "scratch on the edge"
    assert neutralise(-0.5) == -0.5 and neutralise(3) == 3  # numbers stay numbers
    frame = neutralise_frame(pd.DataFrame({"text": ["=1+1", "ok"], "value": [-1.0, 2.0]}))
    assert frame["text"].tolist() == ["'=1+1", "ok"] and frame["value"].tolist() == [-1.0, 2.0]


@pytest.fixture
def log(tmp_path) -> ReviewLog:
    review_log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    yield review_log
    review_log.close()


def test_every_export_and_the_statistics_download_show_payloads_as_text(log, tmp_path):
    for seed, payload in enumerate(PAYLOADS):
        data = strip_png(300 + seed)
        verdict = make_verdict(data, f"{payload}.png", (0.9, 0.1, 0.8, 0.1))
        inference_id = log.record_inference(verdict, data)
        # Even rows override with the payload as the reason; odd rows add a class without a mask (needs_masks.csv).
        classes = ("scratches",) if seed % 2 == 0 else ("pits", "patches")
        log.add_review(inference_id, "ann", Decision.override(verdict, classes, payload))

    export_training_set(log, tmp_path / "export")
    exports = ("decisions.csv", "needs_masks.csv", "train.csv")
    written = {name: (tmp_path / "export" / name).open(newline="").read() for name in exports}
    report = compute(log.images_frame(), log.reviews_frame(), StatsFilter(), waiting=0)
    written["statistics.csv"] = sheet_csv(report.table)

    for name, text in written.items():
        cells = [cell for row in read_cells(text) for cell in row]
        assert not [c for c in cells if dangerous(c)], (name, [c for c in cells if dangerous(c)])
    decisions = list(csv.DictReader(io.StringIO(newline="", initial_value=written["decisions.csv"])))
    stored_reasons = log.reviews_frame()["reason"]  # decisions strip surrounding blanks: "\tTAB" is kept as "TAB"
    assert sorted(d["reason"] for d in decisions) == sorted(map(neutralise, stored_reasons))  # kept, made inert
    assert sum(d["reason"].startswith("'") for d in decisions) == 4
    assert sorted(d["original_name"] for d in decisions) == sorted(f"'{p}.png" for p in PAYLOADS)
    needs = list(csv.DictReader(io.StringIO(newline="", initial_value=written["needs_masks.csv"])))
    assert sorted(n["original_name"] for n in needs) == sorted(f"'{p}.png" for p in PAYLOADS[1::2])
    sheets = list(csv.DictReader(io.StringIO(newline="", initial_value=written["statistics.csv"])))
    assert sorted(s["image"] for s in sheets) == sorted(f"'{p}.png" for p in PAYLOADS)


def test_severstal_csv_neutralises_a_crafted_image_id(tmp_path):
    write_severstal_csv({"=evil.png": {0: "1 3"}, "fine.png": {1: "5 2"}}, tmp_path / "train.csv")
    labels, _ = read_severstal_csv(tmp_path / "train.csv")
    assert set(labels) == {"'=evil.png", "fine.png"}
