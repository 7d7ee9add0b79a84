"""Hardening (issue 34): inferences and setting_changes append-only in the database, like reviews.

Revision ID: 0009_hardening
Revises: 0008_delivery
Create Date: 2026-12-08

A verdict (inferences) is what the model said when the inspector decided, and setting_changes is the audit of
thresholds, minimum areas, the active set and accounts: neither is ever rewritten by SteelScan (the ORM guard in
models.py refuses it too), so the database refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL). Triggers stop a
mistake and anyone with SQL but not the tables' owner: on PostgreSQL run the app as a role that does not own them
(docs/operations.md, `core.review.store.roles`), so it cannot drop the triggers either.
"""

from __future__ import annotations

from alembic import op

revision = "0009_hardening"
down_revision = "0008_delivery"
branch_labels = None
depends_on = None

TABLES = ("inferences", "setting_changes")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END")
        return
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE OR REPLACE FUNCTION steelscan_audit_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '% are append-only: record a new row instead', TG_TABLE_NAME
                USING ERRCODE = 'raise_exception';
        END;
        $$ LANGUAGE plpgsql
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION steelscan_audit_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION steelscan_audit_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        return
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS steelscan_audit_append_only()")
