"""Schema migrations: a database made by release 1.2 upgrades with nothing lost, the models and the
migrations agree, several processes starting together upgrade once, reviews are append-only in the
database itself on SQLite and PostgreSQL, and a new revision can be written for new tables."""

from __future__ import annotations

import multiprocessing as mp
import shutil
from pathlib import Path

import pytest
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, String, Table, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from core.accounts.auth import Accounts
from core.accounts.rows import _Base
from core.cli.db import main as db_cli
from core.review.store import ReviewLog, migrate
from core.review.store.models import Base
from tests.helpers.databases import fresh_postgres_schema

HELPERS = Path(__file__).resolve().parents[2] / "helpers"
OLD_TOKEN = "an-old-session-token"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
        return
    with fresh_postgres_schema("m") as url:
        yield url


def build_release_1_2(url: str) -> None:
    """The database exactly as release 1.2 left it: its frozen DDL, and rows of every kind."""
    import hashlib

    engine = create_engine(url)
    dialect = engine.dialect.name
    ddl = "\n".join(line for line in (HELPERS / f"release_1_2_{dialect}.sql").read_text().splitlines()
                    if not line.startswith("--"))
    statements = [s.strip() for s in ddl.split(";\n") if s.strip()]
    token_hash = hashlib.sha256(OLD_TOKEN.encode()).hexdigest()
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
        connection.execute(text(
            "insert into images values ('aa' || :pad, 'old.png', 10, 64, 32, 'aa/old.png', '2025-06-01 10:00:00')"),
            {"pad": "0" * 62})
        connection.execute(text(
            "insert into inferences (image_sha256, model_set, model_version, model_fingerprint, model_trained, "
            "class_names, probabilities, thresholds, classes_present, regions, defective, margin, timings_ms, "
            "device, source, verdict, created_at) values ('aa' || :pad, 'old-set', '1.0', 'old-set@1.0+abc', "
            ":t, '[\"pits\"]', '[0.9]', '[0.5]', '[\"pits\"]', '[]', :t, 0.4, '{}', 'cpu', 'upload', "
            "'{\"old\": true}', '2025-06-01 10:00:01')"), {"pad": "0" * 62, "t": True})
        for i, reason in enumerate(("", "scratch, not pits")):
            connection.execute(text(
                "insert into reviews (image_sha256, inference_id, reviewer, decision, model_classes, classes, "
                "masks_rle, reason, page, decided_at) values ('aa' || :pad, 1, 'olga', :d, '[\"pits\"]', :c, '{}', "
                ":r, 'queue', :at)"), {"pad": "0" * 62, "d": "override" if i else "accept",
                                        "c": '["scratches"]' if i else '["pits"]', "r": reason,
                                        "at": f"2025-06-01 11:00:0{i}"})
        connection.execute(text(
            "insert into setting_changes (key, model_set, model_fingerprint, class_name, old_value, new_value, "
            "changed_by, reason, changed_at) values ('threshold', 'old-set', 'old-set@1.0+abc', 'pits', '0.5', "
            "'0.6', 'ann', 'fewer false alarms', '2025-06-01 09:00:00')"))
        connection.execute(text(
            "insert into users values ('olga', :hash, 'inspector', :t, '2025-05-01 08:00:00', 'ann', "
            "'2025-05-01 08:00:00')"), {"hash": "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaA", "t": True})
        connection.execute(text(
            "insert into user_sessions values (:token, 'olga', '2025-06-01 08:00:00', '2999-01-01 00:00:00', :f)"),
            {"token": token_hash, "f": False})
    engine.dispose()


def dump(url: str) -> dict[str, list[dict]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = {table: [dict(row._mapping) for row in connection.execute(text(f"select * from {table} order by 1"))]
                 for table in ("images", "inferences", "reviews", "setting_changes", "users", "user_sessions")}
    engine.dispose()
    return found


def old_columns(now: dict[str, list[dict]], before: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Today's rows cut to the columns release 1.2 had: later revisions may add columns, never change old ones."""
    return {table: [{column: row[column] for column in before[table][0]} for row in rows]
            for table, rows in now.items()}


def test_a_release_1_2_database_upgrades_at_start_up_with_nothing_lost(empty_url, tmp_path):
    build_release_1_2(empty_url)
    before = dump(empty_url)
    assert [len(before[t]) for t in before] == [1, 1, 2, 1, 1, 1]
    log = ReviewLog(empty_url, tmp_path / "images")  # start-up: upgrades
    accounts = Accounts(empty_url)
    assert migrate.current_of(log.engine) == migrate.head()
    after = dump(empty_url)
    assert old_columns(after, before) == before  # every old row, every old column, unchanged
    # Old reviews gain no claim that an inspector drew their masks (0006): '{}' reads as the model's masks.
    assert [r["mask_sources"] in ({}, "{}") for r in after["reviews"]] == [True, True]
    assert {r.mask_source("pits") for r in log.reviews_of("aa" + "0" * 62)} == {"model"}
    assert [r["replaces_review_id"] for r in after["reviews"]] == [None, None]  # 0005: first decisions
    assert [r.reason for r in log.reviews_of("aa" + "0" * 62)] == ["", "scratch, not pits"]
    assert log.setting_changes()["new_value"].tolist() == ["0.6"]
    assert accounts.user_for(OLD_TOKEN).username == "olga"  # signed-in sessions survive the upgrade
    # The new tables work on the upgraded database.
    with pytest.raises(Exception, match="wrong user name or password"):
        accounts.sign_in("olga", "not-her-password")
    assert [f["reason"] for f in accounts.sign_in_failures()] == ["wrong_password"]
    # Reviews stay append-only in the database itself, on PostgreSQL as on SQLite.
    for statement in ("update reviews set reason = 'rewritten'", "delete from reviews"):
        with pytest.raises(DBAPIError, match="append-only"), log.engine.begin() as connection:
            connection.execute(text(statement))
    assert old_columns(dump(empty_url), before)["reviews"] == before["reviews"]
    log.close()
    accounts.close()


def test_the_migrations_build_exactly_what_the_models_declare(empty_url):
    engine = create_engine(empty_url)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, [Base.metadata, _Base.metadata])
    engine.dispose()
    assert differences == []


def _start(url: str, store: str, barrier) -> str:
    barrier.wait()
    log = ReviewLog(url, store)
    accounts = Accounts(url)
    revision = migrate.current_of(log.engine)
    log.close()
    accounts.close()
    return revision


def test_several_processes_starting_together_upgrade_once(empty_url, tmp_path):
    context = mp.get_context("spawn")
    barrier = context.Manager().Barrier(6)
    with context.Pool(6) as pool:
        revisions = pool.starmap(_start, [(empty_url, str(tmp_path / "images"), barrier)] * 6)
    assert revisions == [migrate.head()] * 6
    engine = create_engine(empty_url)
    with engine.connect() as connection:
        assert connection.execute(text("select count(*) from alembic_version")).scalar_one() == 1
    engine.dispose()


def test_db_cli_reports_and_upgrades(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    build_release_1_2(url)
    assert db_cli(["current", "--database-url", url]) == 0
    assert "no version" in capsys.readouterr().out
    assert db_cli(["upgrade", "--database-url", url]) == 0
    assert f"-> {migrate.head()}" in capsys.readouterr().out
    assert db_cli(["upgrade", "--database-url", url]) == 0
    assert f"already at {migrate.head()}" in capsys.readouterr().out


def test_a_new_table_gets_its_revision_the_documented_way(tmp_path, monkeypatch):
    """What the lead does at merge time for another module's tables: declare, `steelscan db revision`, upgrade."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS", copy)
    migrate.head.cache_clear()
    table = Table("api_keys_example", Base.metadata, Column("id", Integer, primary_key=True),
                  Column("owner", String(64), nullable=False))
    try:
        path = migrate.new_revision("api keys example")
        written = path.read_text()
        assert path.parent == copy / "versions" and path.name.startswith(f"{len(migrate.revisions()):04d}_")
        assert "op.create_table('api_keys_example'" in written and written.count("op.") == 2  # create + drop
        engine = create_engine(f"sqlite:///{tmp_path / 'new.db'}")
        migrate.upgrade(engine)
        with engine.connect() as connection:
            assert connection.execute(text("select count(*) from api_keys_example")).scalar_one() == 0
        engine.dispose()
    finally:
        Base.metadata.remove(table)
        migrate.head.cache_clear()


def test_inspector_masks_revision_adds_mask_sources_and_keeps_reviews_append_only(empty_url, tmp_path):
    """0006 is a plain ADD COLUMN: on SQLite a table rebuild would have dropped the append-only triggers."""
    build_release_1_2(empty_url)
    engine = create_engine(empty_url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        alembic_command.downgrade(migrate._config(connection), "0004_line_integration")
        assert "mask_sources" not in {c["name"] for c in inspect(connection).get_columns("reviews")}
        alembic_command.upgrade(migrate._config(connection), "head")
        assert "mask_sources" in {c["name"] for c in inspect(connection).get_columns("reviews")}
    for statement in ("update reviews set mask_sources = '{\"pits\": \"inspector\"}'", "delete from reviews"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    engine.dispose()
