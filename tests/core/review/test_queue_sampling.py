"""The queue samples what teaches the model (issue 33): every flagged and uncertain sheet waits, and beyond them at most
`queue_explore_per_hour` sheets an hour that are out of domain, unusual, or unlike everything reviewed or queued;
each says why it is there, and the queue's SQL, its Python rule and the batch list agree."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from core.contract.settings import Settings
from core.review.queue import is_flagged, next_in_queue, upcoming, waiting
from core.review.sheets import domain_alarms, sheets_of
from core.review.store import Decision, ReviewLog
from core.review.store.sampling import OUT_OF_DOMAIN, UNUSUAL, ExploreSampler
from tests.helpers.dashboard import make_verdict, noise_png

BAND = 0.15
T0 = datetime(2025, 3, 1, 8, 0)
CLEAN = (0.1, 0.1, 0.1, 0.1)  # far from every threshold: only sampling can queue it


@pytest.fixture
def log(tmp_path) -> ReviewLog:
    review_log = ReviewLog(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "images")
    yield review_log
    review_log.close()


def sheet(seed: int, probabilities=CLEAN, level: str = "familiar", score: float = 0.5,
          embedding: tuple[float, ...] = (0.0,) * 8, fingerprint: str = "tiny-test@0.0.0+abc"):
    data = noise_png(seed)
    verdict = make_verdict(data, f"s{seed}.png", probabilities, fingerprint=fingerprint)
    return replace(verdict, domain_level=level, ood_score=score, out_of_domain=level == OUT_OF_DOMAIN,
                   embedding=embedding), data


def record(log: ReviewLog, seed: int, minutes: float = 0, **kwargs) -> int:
    verdict, data = sheet(seed, **kwargs)
    return log.record_inference(verdict, data, at=T0 + timedelta(minutes=minutes))


def far(k: int) -> tuple[float, ...]:
    """Embeddings 10 apart from each other: each is 'diverse' against all the others."""
    return (10.0 * k, *(0.0,) * 7)


def queued_reasons(log: ReviewLog) -> dict[str, tuple[str, ...]]:
    return {item.image_name: item.reasons for item in upcoming(log, BAND, "oldest", limit=100)}


def test_flagged_and_uncertain_sheets_all_wait_whatever_the_cap(log):
    log.explore = ExploreSampler(1, BAND)
    for seed in range(4):
        record(log, seed, minutes=seed, probabilities=(0.91, 0.1, 0.1, 0.1))  # defective: scratches 0.91
    record(log, 10, minutes=5, probabilities=(0.1, 0.45, 0.1, 0.1))  # uncertain: 0.05 from 0.5
    reasons = queued_reasons(log)
    assert waiting(log, BAND) == 5 and len(reasons) == 5
    assert reasons["s0.png"] == ("flagged: pits 0.91",)
    assert reasons["s10.png"] == ("uncertain: crazing 0.45 is within 0.15 of its threshold 0.50",)
    assert all(log.sampled_reason(i.inference_id) is None for i in upcoming(log, BAND))  # no place of the cap used


def test_at_most_the_cap_per_hour_beyond_the_flagged(log):
    log.explore = ExploreSampler(2, BAND)
    for seed in range(5):  # five out-of-domain sheets in one hour: two join the queue
        record(log, seed, minutes=10 * seed, level=OUT_OF_DOMAIN, score=4.2)
    assert waiting(log, BAND) == 2
    assert set(queued_reasons(log)) == {"s0.png", "s1.png"}
    record(log, 5, minutes=59, level=OUT_OF_DOMAIN, score=4.2)  # still within the hour of the first two
    assert waiting(log, BAND) == 2
    record(log, 6, minutes=61, level=OUT_OF_DOMAIN, score=4.2)  # the first has left the hour: one place free
    assert waiting(log, BAND) == 3 and "s6.png" in queued_reasons(log)


def test_zero_per_hour_queues_only_the_flagged(log):
    log.explore = ExploreSampler(0, BAND)
    record(log, 1, level=OUT_OF_DOMAIN, score=9.0)
    record(log, 2, embedding=far(3))
    assert waiting(log, BAND) == 0
    assert ExploreSampler.from_settings(Settings(queue_explore_per_hour=0)) is None
    assert ExploreSampler.from_settings(Settings()).per_hour == 6


def test_each_reason_says_why_the_sheet_is_there(log):
    log.explore = ExploreSampler(10, BAND)
    record(log, 1, level=OUT_OF_DOMAIN, score=4.2, embedding=far(0))
    record(log, 2, minutes=1, level=UNUSUAL, score=1.6, embedding=far(0))
    record(log, 3, minutes=2, embedding=far(1))  # familiar, far from both queued sheets
    record(log, 4, minutes=3, embedding=(10.5, *(0.0,) * 7))  # familiar, 0.5 from s3: teaches nothing new
    record(log, 5, minutes=4, embedding=far(1), fingerprint="other@1+x")  # another set's weights: its first sheet
    reasons = queued_reasons(log)
    assert reasons["s1.png"] == ("out of domain (score 4.2)",)
    assert reasons["s2.png"] == ("unusual (score 1.6)",)
    assert reasons["s3.png"] == ("diverse: unlike the 2 sheets reviewed or queued (nearest 10.0 away)",)
    assert "s4.png" not in reasons
    assert reasons["s5.png"] == ("diverse: no sheet of these weights reviewed or queued yet",)


def test_diverse_is_measured_against_reviewed_sheets_too(log):
    reviewed = record(log, 1, embedding=far(0))  # recorded before sampling was on: not queued
    assert waiting(log, BAND) == 0
    log.add_review(reviewed, "ann", Decision.accept(log.verdict(reviewed)))
    log.explore = ExploreSampler(10, BAND)
    record(log, 2, minutes=1, embedding=(1.0, *(0.0,) * 7))  # 1 from the reviewed sheet
    record(log, 3, minutes=2, embedding=far(2))
    assert queued_reasons(log) == {"s3.png": ("diverse: unlike the 1 sheet reviewed or queued (nearest 20.0 away)",)}


def test_the_sql_rule_the_python_rule_and_the_batch_list_agree(log):
    log.explore = ExploreSampler(2, BAND)
    ids = [record(log, 1, probabilities=(0.9, 0.1, 0.1, 0.1)),  # defective
           record(log, 2, minutes=1, probabilities=(0.1, 0.1, 0.55, 0.1)),  # defective and uncertain
           record(log, 3, minutes=2, probabilities=(0.1, 0.4, 0.1, 0.1)),  # uncertain
           record(log, 4, minutes=3, level=OUT_OF_DOMAIN, score=5.0),  # sampled
           record(log, 5, minutes=4, embedding=far(4)),  # sampled: diverse
           record(log, 6, minutes=5, level=OUT_OF_DOMAIN, score=5.0),  # the cap is reached: not queued
           record(log, 7, minutes=6, embedding=far(5)),  # nor this one
           record(log, 8, minutes=7)]  # familiar, near sheet 4's embedding: not queued
    python = {i for i in ids if is_flagged(log.verdict(i), BAND, log.sampled_reason(i))}
    sql = {row.id for row in log.flagged_unreviewed(BAND)}
    listed = {s.inference_id for s in sheets_of(log, ids, BAND) if s.flagged}
    status = log.status_by_sha([log.verdict(i).image_sha256 for i in ids], BAND)
    assert python == sql == listed == {s["inference_id"] for s in status.values() if s["flagged"]}
    assert sql == set(ids[:5]) and waiting(log, BAND) == 5
    assert next_in_queue(log, BAND, "oldest").inference_id == ids[0]


def test_a_batch_mostly_out_of_domain_raises_one_alarm_per_set(log):
    ids = [record(log, seed, level=OUT_OF_DOMAIN, score=7.0) for seed in range(6)]
    ids.append(record(log, 9, probabilities=(0.1, 0.1, 0.1, 0.1)))  # one familiar sheet among them
    assert domain_alarms(sheets_of(log, ids, BAND)) == [
        "6 of 7 sheets are out of domain for set tiny-test — check the camera / the active set"]
    assert domain_alarms(sheets_of(log, ids[:1] + ids[6:], BAND)) == []  # 1 of 2: not most
    assert [s.domain_level for s in sheets_of(log, ids[-2:], BAND)] == [OUT_OF_DOMAIN, "familiar"]


def test_the_level_names_are_the_engines():
    from core.engine.domain import OUT_OF_DOMAIN as ENGINE_OUT
    from core.engine.domain import UNUSUAL as ENGINE_UNUSUAL

    assert (OUT_OF_DOMAIN, UNUSUAL) == (ENGINE_OUT, ENGINE_UNUSUAL)
