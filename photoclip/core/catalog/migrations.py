"""Bring a catalog file up to the current schema, safely."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from photoclip.core.catalog.backup import write_backup
from photoclip.core.catalog.schema import LATEST_VERSION, MIGRATIONS
from photoclip.core.errors import SchemaTooNewError

log = logging.getLogger(__name__)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def backup_copy(conn: sqlite3.Connection, dest_dir: Path, version: int) -> Path:
    """A consistent, checked copy via SQLite's backup API (a plain file copy would miss the
    WAL), written through a temp file so a crash never leaves a half-made backup."""
    return write_backup(conn, dest_dir, f"v{version}")


def migrate(
    conn: sqlite3.Connection,
    backup_dir: Path | None,
    target: int = LATEST_VERSION,
) -> int:
    """Apply the missing steps up to `target`; returns the version reached.

    A non-empty catalog is copied first, so a failed or regretted upgrade loses nothing.
    A catalog newer than this code is refused, never downgraded.
    """
    current = schema_version(conn)
    _refuse_too_new(current)
    if current >= target:
        return current
    if current > 0 and backup_dir is not None:
        copy = backup_copy(conn, backup_dir, current)
        log.info("catalog v%d backed up to %s before migrating", current, copy)
    while True:
        # Another process may be creating or migrating the same catalog right now (two `add`
        # started together on a fresh library): take the write lock first, waiting for the
        # other one (the connection's busy timeout), then read the version again inside it, so
        # a step is applied once, by whoever holds the lock. executescript would COMMIT
        # implicitly; run the statements one by one so a step applies whole or not at all,
        # together with its version bump.
        conn.execute("BEGIN EXCLUSIVE")
        try:
            version = schema_version(conn)
            _refuse_too_new(version)
            if version >= target:
                conn.execute("COMMIT")
                return version
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        log.info("catalog migrated to schema v%d", version + 1)


def _refuse_too_new(version: int) -> None:
    if version > LATEST_VERSION:
        raise SchemaTooNewError(
            f"The catalog has schema version {version}, newer than this photoclip understands "
            f"({LATEST_VERSION}). Update photoclip, or open another library with --library."
        )


def _statements(script: str) -> list[str]:
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
