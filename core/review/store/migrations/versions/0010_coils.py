"""Coils (issue 35): each inference may carry the coil (or part) id and the position along it that the line gave.

Revision ID: 0010_coils
Revises: 0009_hardening
Create Date: 2026-12-09

Plain ADD COLUMNs, never a batch (copy-and-rename) alter: on SQLite a batch alter would rebuild `inferences` and
drop its append-only triggers (0009_hardening). Old rows are not backfilled (the triggers refuse UPDATE, as they
should): they read NULL, no coil known.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_coils"
down_revision = "0009_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inferences", sa.Column("coil", sa.String(length=64), nullable=True))
    op.add_column("inferences", sa.Column("position", sa.Float(), nullable=True))
    op.create_index("ix_inferences_coil_position", "inferences", ["coil", "position"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inferences_coil_position", table_name="inferences")
    # SQLite >= 3.35 drops a column in place; the triggers on inferences stay.
    op.drop_column("inferences", "position")
    op.drop_column("inferences", "coil")
