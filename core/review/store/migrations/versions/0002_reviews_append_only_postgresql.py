"""Reviews append-only on PostgreSQL too: a trigger refuses UPDATE, DELETE and TRUNCATE on reviews.

Revision ID: 0002_reviews_append_only_pg
Revises: 0001_release_1_2
Create Date: 2026-11-22

SQLite has had its triggers since 0001; the ORM guard (models.py) covers every backend but not a person
with psql. Other backends: the ORM guard only (say so to the operator; grant INSERT/SELECT on reviews only).
"""

from __future__ import annotations

from alembic import op

revision = "0002_reviews_append_only_pg"
down_revision = "0001_release_1_2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE OR REPLACE FUNCTION steelscan_reviews_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'reviews are append-only: record a new review instead' USING ERRCODE = 'raise_exception';
        END;
        $$ LANGUAGE plpgsql
    """)
    op.execute("CREATE TRIGGER reviews_append_only BEFORE UPDATE OR DELETE ON reviews "
               "FOR EACH ROW EXECUTE FUNCTION steelscan_reviews_append_only()")
    op.execute("CREATE TRIGGER reviews_no_truncate BEFORE TRUNCATE ON reviews "
               "FOR EACH STATEMENT EXECUTE FUNCTION steelscan_reviews_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS reviews_no_truncate ON reviews")
    op.execute("DROP TRIGGER IF EXISTS reviews_append_only ON reviews")
    op.execute("DROP FUNCTION IF EXISTS steelscan_reviews_append_only()")
