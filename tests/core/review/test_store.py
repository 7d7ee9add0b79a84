"""The review log: images stored once, verdicts stored faithfully, reviews append-only, export round trip,
and two processes writing at once losing nothing."""

from __future__ import annotations

import csv
import multiprocessing
import sqlite3

import numpy as np
import pytest
from sqlalchemy import text

from core.cli import export as export_cli
from core.contract.verdict import Verdict
from core.datasets.severstal import read_severstal
from core.datasets.synthetic import CLASS_NAMES
from core.review.store import AppendOnlyError, Decision, DecisionError, ReviewLog, StoreError, export_training_set
from core.review.store.models import ReviewRow
from tests.helpers.dashboard import make_verdict, noise_png, strip_png, write_concurrently


@pytest.fixture
def log(tmp_path) -> ReviewLog:
    review_log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    yield review_log
    review_log.close()


def test_sqlite_runs_in_wal_mode(log, tmp_path):
    with sqlite3.connect(tmp_path / "log.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_image_stored_once_by_content_and_verdict_round_trips(log):
    data = strip_png(3)
    first = make_verdict(data, "sheet_a.png", (0.8, 0.2, 0.55, 0.1))
    id_a = log.record_inference(first, data)
    id_b = log.record_inference(make_verdict(data, "same_bytes_other_name.png", (0.1, 0.2, 0.3, 0.1)), data)
    assert id_a != id_b
    files = [p for p in log.image_store.rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].read_bytes() == data and files[0].suffix == ".png"
    assert log.image_path(first.image_sha256) == files[0]
    stored = log.verdict(id_a)
    assert isinstance(stored, Verdict)
    assert stored.to_dict() == first.to_dict()
    assert np.array_equal(stored.masks, first.masks)
    frame = log.images_frame()
    assert len(frame) == 1 and frame.iloc[0]["inference_id"] == id_b  # the latest verdict speaks for the image
    assert frame.iloc[0]["image_name"] == "sheet_a.png"  # the name it was first seen under


def test_record_refuses_bytes_that_are_not_the_verdicts(log):
    verdict = make_verdict(noise_png(1), "a.png", (0.9, 0.1, 0.1, 0.1))
    with pytest.raises(StoreError, match="not the bytes the verdict was made from"):
        log.record_inference(verdict, noise_png(2))


def test_reviews_are_append_only_and_the_latest_is_the_label(log):
    data = noise_png(5)
    verdict = make_verdict(data, "s.png", (0.9, 0.1, 0.1, 0.1))
    inference_id = log.record_inference(verdict, data)
    first = log.add_review(inference_id, "ann", Decision.accept(verdict), page="inspect")
    second = log.add_review(inference_id, "bob", Decision.change(verdict, ["scratches"], "it is a scratch", first))
    reviews = log.reviews_of(verdict.image_sha256)
    assert [r.id for r in reviews] == [first, second]
    assert (reviews[0].reviewer, reviews[0].decision, reviews[0].classes) == ("ann", "accept", ["pits"])
    assert (reviews[1].reviewer, reviews[1].classes, reviews[1].reason) == ("bob", ["scratches"], "it is a scratch")
    assert reviews[0].masks_rle.keys() == {"pits"}  # the model's mask travels with a kept class
    assert reviews[1].masks_rle == {}  # scratches was added by a person: no model mask for it
    assert log.latest_review(verdict.image_sha256).id == second
    assert log.images_frame().iloc[0]["final_classes"] == ["scratches"]

    from sqlalchemy.orm import Session
    with Session(log.engine) as session:  # the ORM refuses to rewrite a review...
        row = session.get(ReviewRow, first)
        row.classes = ["patches"]
        with pytest.raises(AppendOnlyError):
            session.flush()
        session.rollback()
        session.delete(session.get(ReviewRow, first))
        with pytest.raises(AppendOnlyError):
            session.flush()
    for statement in ("UPDATE reviews SET reviewer = 'mallory'", "DELETE FROM reviews"):
        with pytest.raises(Exception, match="append-only"), log.engine.begin() as connection:
            connection.execute(text(statement))  # ...and so does the database itself
    assert [(r.id, r.reviewer) for r in log.reviews_of(verdict.image_sha256)] == [(first, "ann"), (second, "bob")]


def test_decisions_need_a_name_a_reason_and_known_classes(log):
    data = noise_png(6)
    verdict = make_verdict(data, "s.png", (0.9, 0.1, 0.1, 0.1))
    inference_id = log.record_inference(verdict, data)
    with pytest.raises(DecisionError, match="needs a reason"):
        Decision.override(verdict, ["patches"], "  ")
    with pytest.raises(DecisionError, match="same classes as the model"):
        Decision.override(verdict, ["pits"], "no change")
    with pytest.raises(DecisionError, match="unknown classes"):
        Decision.override(verdict, ["rust"], "new kind")
    with pytest.raises(DecisionError, match="no signed-in user given"):
        log.add_review(inference_id, " ", Decision.accept(verdict))
    assert Decision.defect_free(verdict, "dust on the lens").classes == ()
    assert log.reviews_of(verdict.image_sha256) == []


def test_queue_query_orders_by_uncertainty_or_age_and_drops_reviewed(log):
    probabilities = {"clean_sure": (0.01, 0.02, 0.01, 0.03), "defect": (0.95, 0.1, 0.1, 0.1),
                     "borderline": (0.48, 0.1, 0.1, 0.1), "near": (0.1, 0.1, 0.6, 0.1)}
    ids = {}
    for seed, (name, probs) in enumerate(probabilities.items()):
        data = noise_png(100 + seed)
        ids[name] = log.record_inference(make_verdict(data, f"{name}.png", probs), data)
    band = 0.15
    uncertain_first = [r.verdict["image"] for r in log.flagged_unreviewed(band, "uncertain")]
    assert uncertain_first == ["borderline.png", "near.png", "defect.png"]  # margins 0.02, 0.1, 0.4
    assert [r.verdict["image"] for r in log.flagged_unreviewed(band, "oldest")] == ["defect.png", "borderline.png",
                                                                                    "near.png"]
    assert log.count_flagged_unreviewed(band) == 3
    log.add_review(ids["borderline"], "ann", Decision.accept(log.verdict(ids["borderline"])))
    assert [r.verdict["image"] for r in log.flagged_unreviewed(band)] == ["near.png", "defect.png"]
    assert log.count_flagged_unreviewed(band) == 2
    assert log.count_flagged_unreviewed(0.5) == 3  # a wider band flags the sure-clean sheet too
    with pytest.raises(ValueError, match="unknown"):
        log.flagged_unreviewed(band, "random")


def test_export_reads_back_through_the_severstal_reader(log, tmp_path):
    cases = {  # name -> (model probabilities, decision)
        "accepted_defect": ((0.9, 0.1, 0.8, 0.1), "accept"),
        "accepted_clean": ((0.1, 0.1, 0.1, 0.1), "accept"),
        "dropped_a_class": ((0.9, 0.1, 0.8, 0.1), ("scratches",)),
        "defect_free": ((0.1, 0.9, 0.1, 0.7), ()),
        "added_a_class": ((0.9, 0.1, 0.1, 0.1), ("pits", "patches")),  # patches has no mask: needs_masks.csv
    }
    expected: dict[str, dict[int, str]] = {}
    for seed, (name, (probs, decision)) in enumerate(cases.items()):
        data = strip_png(200 + seed)
        verdict = make_verdict(data, f"{name}.png", probs)
        inference_id = log.record_inference(verdict, data)
        first = log.add_review(inference_id, "ann", Decision.accept(verdict))  # changed below where overridden
        if decision != "accept":
            log.add_review(inference_id, "bob", Decision.change(verdict, decision, "looked closer", first))
        final = verdict.classes_present if decision == "accept" else decision
        rles = verdict.mask_rles()
        if name != "added_a_class":
            expected[verdict.image_sha256] = {CLASS_NAMES.index(c): rles[c] for c in final}

    summary = export_training_set(log, tmp_path / "export")
    assert (summary.images, summary.needs_masks, summary.decisions) == (4, 1, 8)
    assert summary.defective == 2 and summary.clean == 2
    dataset = read_severstal(tmp_path / "export")
    assert dataset.class_names == CLASS_NAMES
    read_back = {s.image_path.name: s.rles for s in dataset.samples}
    assert read_back == {f"{sha[:16]}.png": labels for sha, labels in expected.items()}
    for sample in dataset.samples:  # the exported files are the stored images, byte for byte
        assert sample.image_path.read_bytes() == log.image_path(
            next(sha for sha in expected if sha.startswith(sample.image_path.stem))).read_bytes()
    with (tmp_path / "export" / "decisions.csv").open() as handle:
        decisions = list(csv.DictReader(handle))
    assert len(decisions) == 8
    assert [d["decision"] for d in decisions].count("override") == 3
    assert {d["reviewer"] for d in decisions} == {"ann", "bob"}
    with (tmp_path / "export" / "needs_masks.csv").open() as handle:
        (missing,) = list(csv.DictReader(handle))
    assert (missing["original_name"], missing["classes_without_mask"]) == ("added_a_class.png", "patches")
    with pytest.raises(StoreError, match="is not empty"):
        export_training_set(log, tmp_path / "export")


def test_export_cli_and_its_errors(log, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEELSCAN_DATABASE_URL", log.url)
    monkeypatch.setenv("STEELSCAN_IMAGE_STORE", str(log.image_store))
    monkeypatch.setenv("STEELSCAN_SETTINGS", str(tmp_path / "none.toml"))
    assert export_cli.main([str(tmp_path / "empty")]) == 1
    assert "holds no reviews yet" in capsys.readouterr().err
    data = strip_png(300)
    verdict = make_verdict(data, "a.png", (0.9, 0.1, 0.1, 0.1))
    log.add_review(log.record_inference(verdict, data), "ann", Decision.accept(verdict))
    other = noise_png(301)
    neu = make_verdict(other, "b.png", (0.9, 0.1, 0.1, 0.1), model_set="neu-like")
    neu = Verdict.from_dict({**neu.to_dict(), "class_names": ["a", "b", "c", "d"], "classes": ["a"],
                             "masks_rle": {"a": neu.mask_rles()["pits"]}, "regions": []})
    log.add_review(log.record_inference(neu, other), "ann", Decision.accept(neu))
    assert export_cli.main([str(tmp_path / "out")]) == 1
    assert "2 different class lists" in capsys.readouterr().err
    assert export_cli.main([str(tmp_path / "out"), "--model-set", "tiny-test"]) == 0
    assert "exported 1 images (1 defective, 0 clean) and 2 decisions" in capsys.readouterr().out
    assert read_severstal(tmp_path / "out").samples[0].labels == (0,)


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    url, store, count = f"sqlite:///{tmp_path / 'shared.db'}", str(tmp_path / "images"), 40
    ReviewLog(url, store).close()  # schema first, so the race is about rows, not tables
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=write_concurrently, args=(url, store, w, count, barrier)) for w in (1, 2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
    assert [p.exitcode for p in workers] == [0, 0]
    log = ReviewLog(url, store)
    reviews = log.reviews_frame()
    assert len(reviews) == 2 * count
    assert reviews.groupby("reviewer").size().to_dict() == {"worker1": count, "worker2": count}
    images = log.images_frame()
    assert len(images) == 2 * count + 1  # the shared image is stored once
    with log.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM inferences")).scalar() == 4 * count
    assert len([p for p in (tmp_path / "images").rglob("*") if p.is_file()]) == 2 * count + 1
