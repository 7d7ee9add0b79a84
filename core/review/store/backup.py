"""Backup and restore of the review log: the database, then the image store, with a manifest of hashes.

Backup order (what makes a backup taken while the app writes consistent):
1. the database, as one consistent snapshot: SQLite's online backup API (readers never block the writer under WAL,
   so inspection and decisions go on), or `pg_dump` on PostgreSQL (one repeatable-read snapshot);
2. then every image the snapshot names, copied from the image store and hashed. An image file is always written
   before the row that names it (ReviewLog.record_inference), and stored images are never changed or removed, so
   every image a snapshot row names is on disk by the time it is copied;
3. last, manifest.json (sha256 of the database file and of every image): a folder without it is an unfinished
   backup.

Restore checks every hash before it writes anything and names each mismatch; it refuses a target database or image
store that already holds data unless `force`; it writes the images first and the database last, so a restored
database never names an image that is not there yet. Stop the app (and watchers, API) before restoring.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, inspect, select
from sqlalchemy.engine import URL, make_url

from core.review.store import migrate
from core.review.store.db import StoreError
from core.review.store.models import ImageRow

MANIFEST = "manifest.json"
FORMAT = 1
IMAGES = "images"
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"
CHUNK = 1 << 20


@dataclass(frozen=True)
class BackupSummary:
    folder: Path
    database: str  # sqlite | postgresql
    revision: str | None
    images: int
    image_bytes: int


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashed(source: Path, target: Path) -> str:
    """Copy `source` to `target` (written aside, then renamed) and return the sha256 of the bytes written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{random.getrandbits(32):08x}")
    digest = hashlib.sha256()
    try:
        with source.open("rb") as src, temporary.open("wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return digest.hexdigest()


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise StoreError(url.render_as_string(hide_password=True), "is an in-memory database",
                         "back up a database kept in a file")
    return Path(url.database)


def search_path_schema(url: URL) -> str | None:
    """The schema a PostgreSQL URL's `options=-csearch_path=...` puts first, else None."""
    options = url.query.get("options")
    text = options if isinstance(options, str) else " ".join(options or ())
    for part in text.split():
        name, _, value = part.removeprefix("-c").partition("=")
        if name == "search_path" and value:
            return value.split(",")[0].strip()
    return None


def _pg_env_and_args(url: URL) -> tuple[dict[str, str], list[str]]:
    """libpq's environment for `url` (the password never on a command line) and the dump's schema option: a URL
    whose options set search_path is dumped as that schema only."""
    env = dict(os.environ)
    for key, value in (("PGHOST", url.host), ("PGPORT", url.port), ("PGUSER", url.username),
                       ("PGPASSWORD", url.password), ("PGDATABASE", url.database)):
        if value is not None:
            env[key] = str(value)
    schema = search_path_schema(url)
    return env, [f"--schema={schema}"] if schema else []


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise StoreError(command[0], "is not installed", "install the PostgreSQL client tools (Debian: "
                         "apt-get install postgresql-client) in the server's major version")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise StoreError(what, f"{command[0]} failed ({done.stderr.strip().splitlines()[-1:] or done.returncode})",
                         "check the database URL, that the server is up and that the role may read every table")


def _images_named(engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [(sha, path) for sha, path in connection.execute(
            select(ImageRow.sha256, ImageRow.stored_path).order_by(ImageRow.sha256))]


def backup(database_url: str, image_store: str | Path, out: str | Path) -> BackupSummary:
    """Back up the database and the images it names into the new folder `out` (see the module's order)."""
    out, image_store, url = Path(out), Path(image_store), make_url(database_url)
    if out.exists() and any(out.iterdir()):
        raise StoreError(out, "is not empty", "back up into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    kind = url.get_backend_name()
    if kind == "sqlite":
        database_file = out / SQLITE_FILE
        source = sqlite3.connect(_sqlite_path(url), timeout=30)
        target = sqlite3.connect(database_file)
        try:
            source.backup(target)  # one step: a consistent snapshot, taken under a read transaction
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            target.close()
            source.close()
        snapshot = create_engine(f"sqlite:///{database_file}")
    elif kind == "postgresql":
        database_file = out / PG_FILE
        env, schema = _pg_env_and_args(url)
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", *schema, f"--file={database_file}"],
             env, url.render_as_string(hide_password=True))
        # Rows added after the dump's snapshot may be listed too: their images are on disk as well (written first).
        snapshot = create_engine(url)
    else:
        raise StoreError(url.render_as_string(hide_password=True), f"is a {kind} database",
                         "back it up with its own tools; steelscan db backup knows SQLite and PostgreSQL")
    try:
        revision = migrate.current_of(snapshot)
        named = _images_named(snapshot)
    finally:
        snapshot.dispose()

    images: dict[str, str] = {}
    total = 0
    for sha, relative in named:
        source_file = image_store / relative
        if not source_file.is_file():
            raise StoreError(source_file, f"is missing from the image store (image {sha[:12]} is in the database)",
                             "restore the image store from an older backup first; this backup is unfinished")
        copied = _copy_hashed(source_file, out / IMAGES / relative)
        if copied != sha:
            raise StoreError(source_file, f"does not match its hash (sha256 {copied[:12]}…, not {sha[:12]}…): "
                             "the image store is damaged", "restore this image from an older backup")
        images[relative] = copied
        total += source_file.stat().st_size
    manifest = {
        "format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "order": "database snapshot first, then the images it names",
        "database": {"kind": kind, "file": database_file.name, "sha256": sha256_file(database_file),
                     "revision": revision},
        "images": images,
    }
    temporary = out / f".{MANIFEST}.partial"
    temporary.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(temporary, out / MANIFEST)
    return BackupSummary(out, kind, revision, len(images), total)


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise StoreError(folder, f"has no {MANIFEST}: not a SteelScan backup, or one that did not finish",
                         "choose the folder `steelscan db backup` wrote")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise StoreError(path, f"is backup format {manifest.get('format')!r}; this SteelScan reads {FORMAT}",
                         "restore it with the SteelScan release that wrote it")
    return manifest


def verify(folder: str | Path) -> dict:
    """Check every hash in the backup; raises StoreError naming each file that is missing or differs."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    expected = {manifest["database"]["file"]: manifest["database"]["sha256"]}
    expected.update({f"{IMAGES}/{relative}": sha for relative, sha in manifest["images"].items()})
    bad = []
    for relative, sha in expected.items():
        path = folder / relative
        if not path.is_file():
            bad.append(f"{relative} (missing)")
        elif (found := sha256_file(path)) != sha:
            bad.append(f"{relative} (sha256 {found[:12]}…, manifest {sha[:12]}…)")
    if bad:
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise StoreError(folder, f"{len(bad)} file(s) do not match the manifest: {shown}",
                         "nothing was restored; use another copy of this backup")
    return manifest


def _store_has_files(image_store: Path) -> bool:
    return image_store.is_dir() and any(p.is_file() for p in image_store.rglob("*"))


def _pg_target_tables(url: URL) -> list[str]:
    engine = create_engine(url)
    try:
        schema = search_path_schema(url)
        found = inspect(engine)
        if schema is not None and schema not in found.get_schema_names():
            return []
        return found.get_table_names(schema=schema)
    finally:
        engine.dispose()


def restore(folder: str | Path, database_url: str, image_store: str | Path, force: bool = False) -> BackupSummary:
    """Restore a backup into `database_url` and `image_store` after checking every hash (see the module's order)."""
    folder, image_store, url = Path(folder), Path(image_store), make_url(database_url)
    manifest = verify(folder)
    kind, shown = manifest["database"]["kind"], url.render_as_string(hide_password=True)
    if url.get_backend_name() != kind:
        raise StoreError(folder, f"holds a {kind} database; the target {shown} is {url.get_backend_name()}",
                         f"restore into a {kind} database_url")
    if kind == "sqlite":
        target = _sqlite_path(url)
        occupied = target.is_file() and target.stat().st_size > 0
    else:
        occupied = bool(_pg_target_tables(url))
    if not force and (occupied or _store_has_files(image_store)):
        where = shown if occupied else image_store
        raise StoreError(where, "already holds data", "restore into an empty database and image store, or pass "
                         "--force to overwrite them (stop the app first)")

    images, total = manifest["images"], 0
    for relative, sha in images.items():  # images first: the database restored next names only present files
        written = _copy_hashed(folder / IMAGES / relative, image_store / relative)
        if written != sha:
            raise StoreError(image_store / relative, "was not written as backed up (hash differs)",
                             "check the disk holding the image store, then restore again with --force")
        total += (image_store / relative).stat().st_size
    database_file = folder / manifest["database"]["file"]
    if kind == "sqlite":
        target.parent.mkdir(parents=True, exist_ok=True)
        source, destination = sqlite3.connect(database_file), sqlite3.connect(target, timeout=30)
        try:
            source.backup(destination)  # the whole database replaced in one step, WAL or not
            destination.execute("PRAGMA journal_mode=WAL")
        finally:
            destination.close()
            source.close()
    else:
        env, _ = _pg_env_and_args(url)  # the dump creates its own schema (search_path in the URL is not needed)
        clean = ["--clean", "--if-exists"] if force else []
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", *clean, f"--dbname={url.database}",
              str(database_file)], env, shown)
    return BackupSummary(folder, kind, manifest["database"]["revision"], len(images), total)
