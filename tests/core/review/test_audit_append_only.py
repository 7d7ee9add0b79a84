"""inferences and setting_changes are append-only like reviews (migration 0009): the database refuses UPDATE, DELETE
(and TRUNCATE) on SQLite and PostgreSQL, the ORM refuses too; on PostgreSQL the app's own role, granted as
docs/operations.md says, records and reads everything but can neither rewrite the audit nor drop its triggers."""

from __future__ import annotations

import pytest
from alembic import command as alembic_command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.cli.db import main as db_cli
from core.review.loadtest import decide_against_latest, fake_inference
from core.review.store import AppendOnlyError, ReviewLog, migrate
from core.review.store.models import InferenceRow, SettingChangeRow
from tests.helpers.databases import fresh_postgres_schema

APP_ROLE, APP_PASSWORD = "steelscan_app", "steelscan_app"  # made by scripts/ensure_services.sh
REWRITES = ("update inferences set defective = not defective", "delete from inferences",
            "update setting_changes set new_value = '0.99'", "delete from setting_changes")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
        return
    with fresh_postgres_schema("ao") as fresh:
        yield fresh


def _filled(url: str, store) -> ReviewLog:
    log = ReviewLog(url, store)
    inference = fake_inference(log, 1)
    decide_against_latest(log, inference, "ann", "accept", ("pits",), "fine")
    log.log_setting_change("threshold", "0.6", "ann", model_set="s", class_name="pits", old_value="0.5",
                           reason="fewer false alarms")
    return log


def _audit(log: ReviewLog) -> list:
    with log.engine.connect() as connection:
        return [connection.execute(text(f"select * from {t} order by id")).all()
                for t in ("inferences", "setting_changes", "reviews")]


def test_the_database_refuses_to_rewrite_verdicts_and_setting_changes(url, tmp_path):
    log = _filled(url, tmp_path / "images")
    before = _audit(log)
    statements = REWRITES + (("truncate inferences cascade", "truncate setting_changes")
                             if log.engine.dialect.name == "postgresql" else ())
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), log.engine.begin() as connection:
            connection.execute(text(statement))
    with Session(log.engine) as session:  # the ORM refuses first, on any backend
        session.get(InferenceRow, 1).defective = False
        with pytest.raises(AppendOnlyError, match="inferences row 1 is append-only"):
            session.flush()
        session.rollback()
        session.delete(session.get(SettingChangeRow, 1))
        with pytest.raises(AppendOnlyError, match="setting_changes row 1 is append-only"):
            session.flush()
    assert _audit(log) == before
    log.close()


def test_the_revision_goes_down_and_up_again(url, tmp_path):
    log = _filled(url, tmp_path / "images")
    with log.engine.begin() as connection:
        alembic_command.downgrade(migrate._config(connection), "0008_delivery")
    with log.engine.begin() as connection:  # without 0009 a verdict could be rewritten ...
        connection.execute(text("update setting_changes set reason = 'rewritten'"))
    migrate.upgrade(log.engine)
    with pytest.raises(DBAPIError, match="append-only"), log.engine.begin() as connection:
        connection.execute(text("update setting_changes set reason = 'again'"))  # ... and with it, not
    log.close()


def test_the_app_role_only_inserts_and_reads_the_audit_on_postgresql(tmp_path, capsys):
    with fresh_postgres_schema("role") as owner_url:
        schema = make_url(owner_url).query["options"].split("=", 1)[1]
        log = _filled(owner_url, tmp_path / "images")  # the owner made the tables (steelscan db upgrade)
        assert db_cli(["app-role-sql", APP_ROLE, "--schema", schema]) == 0
        grants = capsys.readouterr().out
        with log.engine.begin() as connection:
            for statement in grants.split(";"):
                if statement.strip():
                    connection.execute(text(statement))
        app_url = make_url(owner_url).set(username=APP_ROLE, password=APP_PASSWORD)
        try:
            app = ReviewLog(app_url.render_as_string(hide_password=False), tmp_path / "images")
        except Exception as exc:  # noqa: BLE001 - say how to get the role, not just that sign-in failed
            pytest.fail(f"cannot sign in as {APP_ROLE} ({exc}): run `bash scripts/ensure_services.sh` (as root)")
        # The app's everyday work as its own role: record, decide, log a setting, read.
        inference = fake_inference(app, 2)
        decide_against_latest(app, inference, "bob", "accept", ("pits",), "as the app role")
        app.log_setting_change("threshold", "0.7", "bob", model_set="s", class_name="pits", reason="as the app")
        assert len(app.setting_changes()) == 2 and app.latest_review(app.inference_image(inference)[0]) is not None
        engine = create_engine(app_url)
        for statement in ("update reviews set reason = 'x'", "delete from inferences", "truncate setting_changes",
                          "update alembic_version set version_num = 'x'"):
            with pytest.raises(DBAPIError, match="permission denied"), engine.begin() as connection:
                connection.execute(text(statement))
        for statement in ("alter table reviews disable trigger all", "drop trigger inferences_append_only on "
                          "inferences", "drop table setting_changes"):
            with pytest.raises(DBAPIError, match="must be owner"), engine.begin() as connection:
                connection.execute(text(statement))
        with engine.begin() as connection:  # the working tables stay the app's to change (retention, claims)
            connection.execute(text("delete from api_calls"))
        engine.dispose()
        app.close()
        log.close()
