"""The Review queue says why each sheet is there, sampled ones included (issue 33); the Inspect page's batch says
loudly when most of its sheets are out of domain for the set (issue 37 item 2)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.review.queue import waiting
from tests.app_pages.test_app import open_log, start
from tests.helpers.dashboard import MODEL_SET, dashboard_env, make_verdict, models_dir, noise_png  # noqa: F401

pytestmark = pytest.mark.usefixtures("dashboard_env")
CLEAN = (0.1, 0.1, 0.1, 0.1)


def _record(log, seed: int, probabilities=CLEAN, **domain) -> int:
    data = noise_png(seed)
    return log.record_inference(replace(make_verdict(data, f"s{seed}.png", probabilities), **domain), data)


def test_the_queue_page_says_why_each_sheet_is_there():
    log = open_log()  # the dashboard's settings: up to 6 sheets an hour sampled beyond the flagged ones
    _record(log, 1, (0.1, 0.1, 0.1, 0.91))  # defective: patches 0.91
    _record(log, 2, domain_level="familiar", ood_score=0.4, embedding=(9.0,) * 8)  # nothing reviewed yet: diverse
    _record(log, 3, domain_level="out of domain", ood_score=4.2, out_of_domain=True, embedding=(0.0,) * 8)
    _record(log, 4, domain_level="familiar", ood_score=0.3, embedding=(0.1,) * 8)  # next to s3: teaches nothing
    assert waiting(log, 0.15) == 3
    app = start("app_pages/review_queue.py")
    assert not app.exception, [e.value for e in app.exception]
    assert any(c.value.startswith("Why it is here: flagged: patches 0.91") for c in app.caption)
    table = app.dataframe[-1].value
    why = dict(zip(table["sheet"], table["why it is here"], strict=True))
    assert why == {"s1.png": "flagged: patches 0.91",
                   "s2.png": "diverse: no sheet of these weights reviewed or queued yet",
                   "s3.png": "out of domain (score 4.2)"}


def test_a_batch_mostly_out_of_domain_shows_a_banner():
    log = open_log()
    batch = log.open_batch("ann", "upload", "7 images")
    for seed in range(6):
        log.add_to_batch(batch, _record(log, 10 + seed, domain_level="out of domain", ood_score=8.0,
                                        out_of_domain=True))
    app = start("app_pages/inspect.py")
    assert not app.exception, [e.value for e in app.exception]
    banner = f"6 of 6 sheets are out of domain for set {MODEL_SET} — check the camera / the active set"
    assert [e.value for e in app.error if "out of domain for set" in e.value] == [banner]
    log.add_to_batch(batch, _record(log, 20, domain_level="familiar", ood_score=0.5))
    for seed in range(6):  # 6 of 13 is no longer most: the banner goes
        log.add_to_batch(batch, _record(log, 30 + seed, domain_level="familiar", ood_score=0.5))
    app.run()
    assert not [e.value for e in app.error if "out of domain" in e.value]
