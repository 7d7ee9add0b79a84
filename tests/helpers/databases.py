"""The test PostgreSQL server (started by scripts/ensure_services.sh) and a fresh schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PROJECT = Path(__file__).resolve().parents[2]


def postgres_url() -> str:
    url = os.environ.get("STEELSCAN_TEST_POSTGRES_URL")
    url_file = PROJECT / ".venv" / "test-postgres-url"
    if not url and url_file.is_file():
        url = url_file.read_text().strip()
    if not url:
        pytest.fail(
            "no PostgreSQL for the tests: run `bash scripts/ensure_services.sh` (as root) or set "
            "STEELSCAN_TEST_POSTGRES_URL; `make test` does the former"
        )
    return url


@contextmanager
def fresh_postgres_schema(prefix: str = "t") -> Iterator[str]:
    """A URL whose search_path is a new, empty schema, dropped afterwards: runs never see each other's rows."""
    base, schema = postgres_url(), f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = create_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f"create schema {schema}"))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"drop schema {schema} cascade"))
        engine.dispose()
