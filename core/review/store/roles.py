"""PostgreSQL: the grants for the role the app runs as, so that it can only insert and read the audit tables.

The tables' owner (the role that runs `steelscan db upgrade`) keeps every right; the app's role gets read and write
on the working tables, but only SELECT and INSERT on reviews, inferences and setting_changes, and it owns nothing, so
it can neither rewrite the audit nor drop or disable its triggers (migrations 0002 and 0009). docs/operations.md
shows the whole set-up; `steelscan db app-role-sql ROLE` prints these statements.
"""

from __future__ import annotations

import re

from core.review.store.db import StoreError

AUDIT_TABLES = ("reviews", "inferences", "setting_changes")
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def app_role_sql(role: str, schema: str = "public") -> list[str]:
    """GRANT/REVOKE statements (run by the tables' owner after every `steelscan db upgrade`: new tables need them)."""
    for name, value in (("role", role), ("schema", schema)):
        if not IDENTIFIER.fullmatch(value):
            raise StoreError(f"{name} {value!r}", "is not a plain lower-case SQL name",
                             "use letters, digits and underscores, starting with a letter")
    audit = ", ".join(f"{schema}.{table}" for table in AUDIT_TABLES)
    return [
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {audit} FROM {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {schema}.alembic_version FROM {role}",  # upgrades: the owner's
    ]
