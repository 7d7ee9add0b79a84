"""Delivery (issue 35): the outbox written with each verdict and decision, per-sink cursors per line, and each
sink's state for the dashboard.

Revision ID: 0008_delivery
Revises: 0007_training_loop
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_delivery"
down_revision = "0007_training_loop"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("line", sa.String(length=64), nullable=False),
        sa.Column("inference_id", sa.Integer(), nullable=True),
        sa.Column("sinks", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("delivery_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_outbox_line_id", ["line", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_delivery_outbox_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_delivery_outbox_inference_id"), ["inference_id"], unique=False)
    op.create_table(
        "delivery_cursors",
        sa.Column("sink", sa.String(length=32), nullable=False),
        sa.Column("line", sa.String(length=64), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sink", "line"),
    )
    op.create_table(
        "delivery_sinks",
        sa.Column("sink", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("last_message_id", sa.String(length=64), nullable=False),
        sa.Column("last_delivered_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sink"),
    )


def downgrade() -> None:
    op.drop_table("delivery_sinks")
    op.drop_table("delivery_cursors")
    with op.batch_alter_table("delivery_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_outbox_inference_id"))
        batch_op.drop_index(batch_op.f("ix_delivery_outbox_created_at"))
        batch_op.drop_index("ix_delivery_outbox_line_id")
    op.drop_table("delivery_outbox")
