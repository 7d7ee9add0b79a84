"""Masks painted by inspectors (issue 12): reviews record, per class, whether its mask came from the inspector
or the model.

Revision ID: 0006_inspector_masks
Revises: 0004_line_integration
Create Date: 2026-11-22

A plain ADD COLUMN, never a batch (copy-and-rename) alter: on SQLite a batch alter would rebuild `reviews` and
drop its append-only triggers. Old rows are not backfilled (the triggers refuse UPDATE, as they should); they
read '{}', which means every mask in them is the model's (ReviewRow.mask_source).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_inspector_masks"
down_revision = "0005_shift"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reviews", sa.Column("mask_sources", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place; the triggers on reviews stay.
    op.drop_column("reviews", "mask_sources")
