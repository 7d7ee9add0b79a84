"""The schema of release 1.2.0 (the last one made by create_all): review log and accounts, frozen.

Revision ID: 0001_release_1_2
Revises:
Create Date: 2026-11-22

A database made by release 1.2.0 has these tables but no alembic_version: each table is created only where it
is missing, so such a database upgrades in place and keeps every row. Never edit this file: add a revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_release_1_2"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> list[tuple[str, list, list[tuple[str, list[str]]]]]:
    """(name, columns and constraints, indexes) exactly as release 1.2.0's models declared them."""
    return [
        ("images", [
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("original_name", sa.String(512), nullable=False),
            sa.Column("size_bytes", sa.Integer(), nullable=False),
            sa.Column("width", sa.Integer(), nullable=False),
            sa.Column("height", sa.Integer(), nullable=False),
            sa.Column("stored_path", sa.String(512), nullable=False),
            sa.Column("first_seen_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("sha256"),
        ], []),
        ("setting_changes", [
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("key", sa.String(64), nullable=False),
            sa.Column("model_set", sa.String(128), nullable=False),
            sa.Column("model_fingerprint", sa.String(160), nullable=False),
            sa.Column("class_name", sa.String(128), nullable=False),
            sa.Column("old_value", sa.String(256), nullable=False),
            sa.Column("new_value", sa.String(256), nullable=False),
            sa.Column("changed_by", sa.String(128), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("changed_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        ], []),
        ("inferences", [
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("image_sha256", sa.String(64), nullable=False),
            sa.Column("model_set", sa.String(128), nullable=False),
            sa.Column("model_version", sa.String(64), nullable=False),
            sa.Column("model_fingerprint", sa.String(160), nullable=False),
            sa.Column("model_trained", sa.Boolean(), nullable=False),
            sa.Column("class_names", sa.JSON(), nullable=False),
            sa.Column("probabilities", sa.JSON(), nullable=False),
            sa.Column("thresholds", sa.JSON(), nullable=False),
            sa.Column("classes_present", sa.JSON(), nullable=False),
            sa.Column("regions", sa.JSON(), nullable=False),
            sa.Column("defective", sa.Boolean(), nullable=False),
            sa.Column("margin", sa.Float(), nullable=False),
            sa.Column("timings_ms", sa.JSON(), nullable=False),
            sa.Column("device", sa.String(32), nullable=False),
            sa.Column("source", sa.String(32), nullable=False),
            sa.Column("verdict", sa.JSON(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(["image_sha256"], ["images.sha256"]),
            sa.PrimaryKeyConstraint("id"),
        ], [("ix_inferences_created_at", ["created_at"]), ("ix_inferences_image_sha256", ["image_sha256"])]),
        ("reviews", [
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("image_sha256", sa.String(64), nullable=False),
            sa.Column("inference_id", sa.Integer(), nullable=False),
            sa.Column("reviewer", sa.String(128), nullable=False),
            sa.Column("decision", sa.String(16), nullable=False),
            sa.Column("model_classes", sa.JSON(), nullable=False),
            sa.Column("classes", sa.JSON(), nullable=False),
            sa.Column("masks_rle", sa.JSON(), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("page", sa.String(32), nullable=False),
            sa.Column("decided_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(["image_sha256"], ["images.sha256"]),
            sa.ForeignKeyConstraint(["inference_id"], ["inferences.id"]),
            sa.PrimaryKeyConstraint("id"),
        ], [("ix_reviews_image_id", ["image_sha256", "id"]), ("ix_reviews_decided_at", ["decided_at"])]),
        ("users", [
            sa.Column("username", sa.String(64), nullable=False),
            sa.Column("password_hash", sa.String(255), nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("active", sa.Boolean(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("created_by", sa.String(64), nullable=False),
            sa.Column("password_changed_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("username"),
        ], []),
        ("user_sessions", [
            sa.Column("token_sha256", sa.String(64), nullable=False),
            sa.Column("username", sa.String(64), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("expires_at", sa.DateTime(), nullable=False),
            sa.Column("revoked", sa.Boolean(), nullable=False),
            sa.ForeignKeyConstraint(["username"], ["users.username"]),
            sa.PrimaryKeyConstraint("token_sha256"),
        ], [("ix_user_sessions_username", ["username"])]),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns, indexes in _tables():
        if name in existing:  # made by release 1.2.0's create_all: keep it and its rows
            continue
        op.create_table(name, *columns)
        for index, index_columns in indexes:
            op.create_index(index, name, index_columns)
    if op.get_bind().dialect.name == "sqlite":  # release 1.2.0 refused review rewrites on SQLite only
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER IF NOT EXISTS reviews_no_{verb.lower()} BEFORE {verb} ON reviews "
                       "BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END")


def downgrade() -> None:
    for name, _, _ in reversed(_tables()):
        op.drop_table(name)
