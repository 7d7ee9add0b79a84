"""Alembic's environment for the review log and the accounts (run through core.review.store.migrate).

target_metadata covers every table SteelScan owns: the review store's Base and the accounts' _Base. A new
module with its own DeclarativeBase adds its metadata to `target_metadata()` below, then gets a revision
(`steelscan db revision -m "..."`, see migrate.py).
"""

from __future__ import annotations

from alembic import context


def target_metadata():
    from core.accounts.rows import _Base  # imported here: the accounts module itself opens databases via migrate
    from core.review.store.models import Base

    return [Base.metadata, _Base.metadata]


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through core.review.store.migrate (steelscan db upgrade), not bare alembic")
context.configure(connection=connection, target_metadata=target_metadata(),
                  render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
