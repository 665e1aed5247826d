"""Two processes at once on the same library (issue 17): creating and migrating the catalog's
schema, and a trained model whose registration was cut short."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from photoclip.core.catalog.migrations import migrate, schema_version
from photoclip.core.catalog.schema import LATEST_VERSION

PROCESSES = 6


def _open_catalog(path: str, start, results) -> None:  # runs in a child process
    try:
        from photoclip.core.catalog import Catalog

        start.wait(30)
        with Catalog(Path(path), backup_dir=Path(path).parent / "backups") as cat:
            cat.query("SELECT count(*) FROM roots")
        results.put("ok")
    except BaseException as exc:  # reported to the parent, which asserts on it
        results.put(f"{type(exc).__name__}: {exc}")


def _race(path: Path) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=_open_catalog, args=(str(path), start, results))
             for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    start.set()
    out = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    return out


@pytest.mark.parametrize("round_", range(5))
def test_processes_creating_a_fresh_catalog_at_once_all_succeed(tmp_path, round_):
    db = tmp_path / "lib" / "catalog.sqlite3"
    assert _race(db) == ["ok"] * PROCESSES
    conn = sqlite3.connect(db)
    assert schema_version(conn) == LATEST_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_processes_migrating_an_old_catalog_at_once_all_succeed(tmp_path):
    db = tmp_path / "lib" / "catalog.sqlite3"
    db.parent.mkdir()
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, None, target=1)
    conn.execute("INSERT INTO roots(path) VALUES ('/photos')")
    conn.close()
    assert _race(db) == ["ok"] * PROCESSES
    conn = sqlite3.connect(db)
    assert schema_version(conn) == LATEST_VERSION
    assert conn.execute("SELECT path FROM roots").fetchall() == [("/photos",)]
    conn.close()


def test_migrate_rechecks_the_version_inside_its_lock(tmp_path, monkeypatch):
    """A connection that read version 0 just before another one created the schema does not
    try to create it again ("table roots already exists")."""
    from photoclip.core.catalog import migrations

    db = tmp_path / "c.sqlite3"
    first = sqlite3.connect(db, isolation_level=None, timeout=5)
    second = sqlite3.connect(db, isolation_level=None, timeout=5)
    real = migrations.schema_version
    calls = []

    def version_then_other_process_migrates(conn):
        version = real(conn)
        if conn is second and not calls:
            calls.append(version)
            migrate(first, None)  # the other process wins the race right after our read
        return version

    monkeypatch.setattr(migrations, "schema_version", version_then_other_process_migrates)
    assert migrations.migrate(second, None) == LATEST_VERSION
    assert calls == [0]
    assert real(second) == LATEST_VERSION
    first.close()
    second.close()


def test_a_catalog_held_by_another_opener_is_waited_for(tmp_path, monkeypatch):
    """SQLite answers "database is locked" at once (no busy wait) when another process holds a
    new catalog while switching it to WAL: opening waits that out instead of failing."""
    import sqlite3

    from photoclip.core.catalog import Catalog
    from photoclip.core.catalog.database import Database

    real = Database._connect_once
    refusals = [sqlite3.OperationalError("database is locked")] * 3

    def held_then_free(self):
        if refusals:
            raise refusals.pop()
        return real(self)

    monkeypatch.setattr(Database, "_connect_once", held_then_free)
    with Catalog(tmp_path / "lib" / "catalog.sqlite3") as cat:
        assert cat.roots() == []
    assert refusals == []
