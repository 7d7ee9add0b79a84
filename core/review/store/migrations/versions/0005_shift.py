"""The inspector's shift (issue 11): batches kept in the review log, and reviews that name the review they
change (unique: a label is replaced at most once, so of two changes made at once only one lands).

The column is added with a plain ALTER TABLE (no batch copy): copying `reviews` on SQLite would drop its
append-only triggers (0001).

Revision ID: 0005_shift
Revises: 0004_line_integration
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_shift"
down_revision = "0004_line_integration"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reviews", sa.Column("replaces_review_id", sa.Integer(), nullable=True))
    op.create_index("ux_reviews_replaces", "reviews", ["replaces_review_id"], unique=True)
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_batches_owner", "batches", ["owner"], unique=False)
    op.create_table(
        "batch_items",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("inference_id", sa.Integer(), nullable=False),
        sa.Column("image_name", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"]),
        sa.ForeignKeyConstraint(["inference_id"], ["inferences.id"]),
        sa.PrimaryKeyConstraint("batch_id", "position"),
    )
    op.create_index("ux_batch_items_inference", "batch_items", ["batch_id", "inference_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_batch_items_inference", table_name="batch_items")
    op.drop_table("batch_items")
    op.drop_index("ix_batches_owner", table_name="batches")
    op.drop_table("batches")
    op.drop_index("ux_reviews_replaces", table_name="reviews")
    op.drop_column("reviews", "replaces_review_id")  # SQLite >= 3.35 drops a column in place
