"""Issue 11's store: decisions never overwrite a colleague's unseen (DecisionConflict, nothing recorded), current
labels, changes that name the review they replace, and inspectors' batches kept in the review log."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.exc import IntegrityError

from core.review.store import Decision, DecisionConflict, DecisionError, ReviewLog, StoreError
from core.review.store.models import ReviewRow
from tests.helpers.dashboard import make_verdict, noise_png
from tests.helpers.databases import fresh_postgres_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request, tmp_path):
    if request.param == "sqlite":
        review_log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
        yield review_log
        review_log.close()
        return
    with fresh_postgres_schema() as url:
        review_log = ReviewLog(url, tmp_path / "images")
        yield review_log
        review_log.close()


def _sheet(log: ReviewLog, seed: int, probabilities=(0.9, 0.1, 0.1, 0.1), name: str | None = None):
    data = noise_png(seed)
    verdict = make_verdict(data, name or f"sheet_{seed}.png", probabilities)
    return verdict, log.record_inference(verdict, data)


def test_a_first_decision_on_a_reviewed_sheet_is_refused_and_names_who_decided(log):
    verdict, inference_id = _sheet(log, 1, name="coil_7.png")
    assert log.current_label(verdict.image_sha256) is None
    first = log.add_review(inference_id, "admin", Decision.defect_free(verdict, "glare"), page="inspect")
    with pytest.raises(DecisionConflict) as caught:
        log.add_review(inference_id, "ann", Decision.accept(verdict), page="inspect")
    conflict = caught.value
    assert conflict.current.review_id == first and conflict.current.reviewer == "admin"
    assert conflict.current.classes == () and conflict.current.kind == "override"
    assert "coil_7.png" in str(conflict) and "admin decided defect-free" in str(conflict)
    assert isinstance(conflict, DecisionError)  # pages that show DecisionError show this too
    assert [r.id for r in log.reviews_of(verdict.image_sha256)] == [first]  # nothing recorded


def test_a_change_must_name_the_latest_review(log):
    verdict, inference_id = _sheet(log, 2)
    first = log.add_review(inference_id, "ann", Decision.accept(verdict))
    second = log.add_review(inference_id, "bob", Decision.change(verdict, ["scratches"], "a scratch", first))
    # Carol saw ann's label and changes it, but bob decided meanwhile: refused, bob's label stays.
    with pytest.raises(DecisionConflict, match="changed since you looked: bob decided scratches") as caught:
        log.add_review(inference_id, "carol", Decision.change(verdict, [], "clean", first))
    assert caught.value.current.review_id == second and caught.value.expected == first
    # She confirms against the label now shown: it lands and names what it replaced.
    third = log.add_review(inference_id, "carol", Decision.change(verdict, [], "clean", first).replacing(second))
    reviews = log.reviews_of(verdict.image_sha256)
    assert [(r.id, r.replaces_review_id) for r in reviews] == [(first, None), (second, first), (third, second)]
    label = log.current_label(verdict.image_sha256)
    assert (label.review_id, label.classes, label.kind, label.reviewer, label.reason) == (
        third, (), "override", "carol", "clean")
    # A change naming a review of nothing at all is refused too.
    other, other_id = _sheet(log, 3)
    with pytest.raises(DecisionConflict, match="has no review"):
        log.add_review(other_id, "ann", Decision.change(other, [], "clean", third))
    assert log.reviews_of(other.image_sha256) == []


def test_change_requires_a_reason_and_takes_its_kind_from_the_model(log):
    verdict, _ = _sheet(log, 4)  # the model says pits
    with pytest.raises(DecisionError, match="needs a reason"):
        Decision.change(verdict, ["pits"], "  ", 1)
    with pytest.raises(DecisionError, match="unknown classes"):
        Decision.change(verdict, ["rust"], "why", 1)
    back = Decision.change(verdict, ["pits"], " back to the model ", 7)
    assert (back.kind, back.classes, back.reason, back.replaces) == ("accept", ("pits",), "back to the model", 7)
    assert Decision.change(verdict, ["patches", "pits"], "both", 7).classes == ("pits", "patches")
    assert Decision.change(verdict, [], "clean", 7).kind == "override"


def test_current_labels_for_a_list(log):
    a, a_id = _sheet(log, 5)
    b, b_id = _sheet(log, 6)
    c, _ = _sheet(log, 7)
    first = log.add_review(a_id, "ann", Decision.accept(a))
    log.add_review(a_id, "bob", Decision.change(a, ["crazing"], "crazing, not pits", first))
    log.add_review(b_id, "ann", Decision.defect_free(b, "dust"))
    labels = log.current_labels([a.image_sha256, b.image_sha256, c.image_sha256])
    assert set(labels) == {a.image_sha256, b.image_sha256}  # c has no review
    assert labels[a.image_sha256].classes == ("crazing",) and labels[a.image_sha256].reviewer == "bob"
    assert labels[b.image_sha256].classes == () and labels[b.image_sha256].reason == "dust"
    assert log.current_labels([]) == {}


def _decide_at_once(log: ReviewLog, inference_id: int, decisions: dict[str, Decision]) -> dict[str, object]:
    """Each named person records their decision from another "app server" (own connections), all released at once;
    returns name -> review id, or the DecisionConflict they got."""
    barrier = threading.Barrier(len(decisions))
    outcomes: dict[str, object] = {}

    def decide(name: str, decision: Decision) -> None:
        other = ReviewLog(log.url, log.image_store)
        barrier.wait()
        try:
            outcomes[name] = other.add_review(inference_id, name, decision)
        except DecisionConflict as exc:
            outcomes[name] = exc
        finally:
            other.close()

    threads = [threading.Thread(target=decide, args=item) for item in decisions.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("change", [False, True], ids=["first-decision", "change"])
def test_two_decisions_at_once_on_one_sheet_exactly_one_lands(log, change):
    for round_ in range(6):
        verdict, inference_id = _sheet(log, 100 + round_ + 50 * change)
        if change:
            replaces = log.add_review(inference_id, "setup", Decision.accept(verdict))
            decisions = {"ann": Decision.change(verdict, [], "clean", replaces),
                         "bob": Decision.change(verdict, ["scratches"], "a scratch", replaces)}
        else:
            decisions = {"ann": Decision.defect_free(verdict, "clean"),
                         "bob": Decision.override(verdict, ["scratches"], "a scratch")}
        outcomes = _decide_at_once(log, inference_id, decisions)
        landed = [(n, o) for n, o in outcomes.items() if isinstance(o, int)]
        refused = [o for o in outcomes.values() if isinstance(o, DecisionConflict)]
        assert len(landed) == 1 and len(refused) == 1, outcomes
        (winner, review_id), conflict = landed[0], refused[0]
        assert conflict.current.review_id == review_id and conflict.current.reviewer == winner
        reviews = log.reviews_of(verdict.image_sha256)
        assert [r.reviewer for r in reviews] == (["setup"] if change else []) + [winner]


def test_the_database_itself_refuses_a_second_change_of_one_label(log):
    verdict, inference_id = _sheet(log, 8)
    first = log.add_review(inference_id, "ann", Decision.accept(verdict))
    log.add_review(inference_id, "bob", Decision.change(verdict, [], "clean", first))

    def sneak(session):  # a writer that skips add_review's check
        session.add(ReviewRow(image_sha256=verdict.image_sha256, inference_id=inference_id, reviewer="eve",
                              decision="override", model_classes=["pits"], classes=["patches"], masks_rle={},
                              reason="x", page="", replaces_review_id=first))

    with pytest.raises(IntegrityError):
        log._write(sneak)


def test_a_batch_keeps_its_images_in_order_until_closed(log):
    sheets = [_sheet(log, 20 + i, name=f"strip_{i}.png") for i in range(3)]
    assert log.current_batch("ann") is None
    older = log.open_batch("ann", "folder", "/line/cam1")
    batch_id = log.open_batch("ann", "upload", "3 uploads")
    other = log.open_batch("bob", "queue", "queue")
    for _, inference_id in reversed(sheets):  # in the order they finished
        log.add_to_batch(batch_id, inference_id)
    log.add_to_batch(batch_id, sheets[0][1])  # again (a rerun): nothing changes
    log.add_to_batch(other, sheets[1][1])
    batch = log.current_batch("ann")
    assert (batch.id, batch.owner, batch.source, batch.label) == (batch_id, "ann", "upload", "3 uploads")
    assert [(i.position, i.inference_id, i.image_sha256, i.image_name) for i in batch.items] == [
        (p, inference_id, verdict.image_sha256, verdict.image_name)
        for p, (verdict, inference_id) in enumerate(reversed(sheets))]
    assert [i.inference_id for i in log.current_batch("bob").items] == [sheets[1][1]]
    log.close_batch(batch_id)
    assert log.current_batch("ann").id == older  # the latest open one
    with pytest.raises(StoreError, match="is closed"):
        log.add_to_batch(batch_id, sheets[0][1])
    log.close_batch(older)
    assert log.current_batch("ann") is None
    with pytest.raises(StoreError, match="unknown"):
        log.open_batch("ann", "camera")
    with pytest.raises(StoreError, match="has no inference"):
        log.add_to_batch(other, 99_999)
