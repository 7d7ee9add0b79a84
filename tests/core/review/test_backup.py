"""steelscan db backup / restore: a backup taken while reviewers record decisions restores, on a new machine (a new
folder, a new database), every decision and every image it names, with hashes verified; a damaged backup or an
occupied target is refused, named."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from core.cli.db import main as db_cli
from core.review.loadtest import decide_against_latest, fake_inference
from core.review.store import ReviewLog
from core.review.store.backup import sha256_file
from core.review.store.models import ImageRow, ReviewRow
from tests.helpers.databases import fresh_postgres_schema, postgres_url

REVIEWERS = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request, tmp_path):
    """(the live database's URL, an empty target on 'another machine')."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live' / 'log.db'}", f"sqlite:///{tmp_path / 'new-machine' / 'log.db'}"
        return
    with fresh_postgres_schema("bk") as live:
        base = make_url(postgres_url())
        name = f"steelscan_restore_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"create database {name}"))
        try:
            yield live, make_url(live).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f"drop database if exists {name} with (force)"))
            admin.dispose()


def _reviews(url: str) -> dict[int, tuple]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = {r.id: (r.image_sha256, r.reviewer, r.decision, tuple(r.classes), r.reason, r.replaces_review_id)
                for r in connection.execute(select(ReviewRow))}
    engine.dispose()
    return rows


def _images(url: str) -> dict[str, str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = dict(connection.execute(select(ImageRow.sha256, ImageRow.stored_path)).all())
    engine.dispose()
    return rows


def test_backup_while_reviewers_decide_restores_every_decision_and_image(urls, tmp_path, capsys):
    live_url, new_url = urls
    live_store, new_store, out = tmp_path / "live" / "images", tmp_path / "new-machine" / "images", tmp_path / "bk"
    log = ReviewLog(live_url, live_store)
    stop, errors, decided = threading.Event(), [], [0] * REVIEWERS

    def reviewer(n: int) -> None:
        seed = 1000 * (n + 1)
        try:
            while not stop.is_set():
                inference = fake_inference(log, seed)  # a new image, then decisions on it
                for i in range(3):
                    decide_against_latest(log, inference, f"rev{n}", "accept", ("pits",), f"r{n}-{seed}-{i}")
                    decided[n] += 1
                seed += 1
        except Exception as exc:  # noqa: BLE001 - any failure must fail the test, from the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(REVIEWERS)]
    for thread in threads:
        thread.start()
    while sum(decided) < 40 and not errors:
        threading.Event().wait(0.05)
    before = set(_reviews(live_url))  # committed before the backup began: all must come back
    during = sum(decided)
    assert db_cli(["backup", str(out), "--database-url", live_url, "--image-store", str(live_store)]) == 0
    backed = sum(decided)
    while sum(decided) < backed + 12 and not errors:  # the reviewers go on after the backup too
        threading.Event().wait(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert "manifest.json holds every sha256" in capsys.readouterr().out
    print(f"\n{during} decisions before the backup, {backed - during} during it, {sum(decided) - backed} after")

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"] and all(sha256_file(out / "images" / rel) == sha
                                      for rel, sha in manifest["images"].items())

    assert db_cli(["restore", str(out), "--database-url", new_url, "--image-store", str(new_store)]) == 0
    restored = _reviews(new_url)
    live = _reviews(live_url)
    assert before <= set(restored)  # every decision committed before the backup began is back ...
    assert all(live[i] == row for i, row in restored.items())  # ... exactly as recorded, and nothing half-made
    images = _images(new_url)
    assert {sha for sha, *_ in restored.values()} <= set(images)
    for sha, relative in images.items():  # every image a restored row names is there, with its hash
        assert sha256_file(new_store / relative) == sha
    # The restored log works: it reads and takes new decisions.
    new_log = ReviewLog(new_url, new_store)
    some = next(iter(restored.values()))[0]
    assert new_log.image_path(some).is_file()
    assert new_log.latest_review(some) is not None
    new_log.close()
    log.close()


def test_restore_refuses_a_damaged_backup_or_an_occupied_target(tmp_path, capsys):
    live_url, store, out = f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "images", tmp_path / "bk"
    log = ReviewLog(live_url, store)
    first = fake_inference(log, 1)
    fake_inference(log, 2)
    decide_against_latest(log, first, "ann", "accept", ("pits",), "fine")
    log.close()
    assert db_cli(["backup", str(out), "--database-url", live_url, "--image-store", str(store)]) == 0
    assert db_cli(["backup", str(out), "--database-url", live_url, "--image-store", str(store)]) == 1
    assert "is not empty" in capsys.readouterr().err

    target_url, target_store = f"sqlite:///{tmp_path / 'new' / 'log.db'}", tmp_path / "new" / "images"
    # An occupied target (here: the live database itself) is refused without --force, and nothing is touched.
    assert db_cli(["restore", str(out), "--database-url", live_url, "--image-store", str(store)]) == 1
    assert "already holds data" in capsys.readouterr().err

    damaged = sorted((out / "images").rglob("*.png"))[0]
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
    assert db_cli(["restore", str(out), "--database-url", target_url, "--image-store", str(target_store)]) == 1
    err = capsys.readouterr().err
    assert "1 file(s) do not match the manifest" in err and damaged.name in err and "nothing was restored" in err
    assert not (tmp_path / "new" / "log.db").exists() and not target_store.exists()  # verified before writing

    (out / "manifest.json").unlink()
    assert db_cli(["restore", str(out), "--database-url", target_url, "--image-store", str(target_store)]) == 1
    assert "not a SteelScan backup" in capsys.readouterr().err


def test_restore_with_force_replaces_an_occupied_target(tmp_path):
    url, store, out = f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "images", tmp_path / "bk"
    log = ReviewLog(url, store)
    inference = fake_inference(log, 1)
    decide_against_latest(log, inference, "ann", "accept", ("pits",), "kept in the backup")
    assert db_cli(["backup", str(out), "--database-url", url, "--image-store", str(store)]) == 0
    decide_against_latest(log, inference, "bob", "accept", ("pits",), "after the backup")
    log.close()
    assert db_cli(["restore", str(out), "--database-url", url, "--image-store", str(store), "--force"]) == 0
    assert [r[4] for r in _reviews(url).values()] == ["kept in the backup"]
