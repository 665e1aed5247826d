"""Catalog backups: made daily, pruned, and restored by themselves when the catalog is damaged."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoclip.cli import main
from photoclip.core.catalog import Catalog, database
from photoclip.core.catalog import backup as backups
from photoclip.core.errors import CatalogError
from photoclip.core.library import Library
from photoclip.core.types import PhotoRecord

DAY = 24 * 3600


def corrupt(db: Path, page: int | None = None, pages: int = 1) -> None:
    """Overwrite database pages with garbage, as a failing disk or a bad copy does. Page 1 holds
    the header; by default every page after it goes."""
    size = 4096
    with open(db, "r+b") as f:
        total = f.seek(0, 2) // size
        first = 2 if page is None else page
        count = total - 1 if page is None else pages
        rng = np.random.default_rng(7)
        for n in range(first, first + count):
            f.seek((n - 1) * size)
            f.write(rng.integers(0, 256, size, dtype=np.uint8).tobytes())


def backup_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("catalog-*.sqlite3"))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backups' calendar, moved by hand: clock[0] is 'now'."""
    now = [backups.now()]
    monkeypatch.setattr(backups, "now", lambda: now[0])
    return now


def test_a_damaged_catalog_is_restored_from_the_newest_backup_and_kept_aside(
    tmp_path: Path, clock: list[float]
) -> None:
    db, folder = tmp_path / "catalog.sqlite3", tmp_path / "backups"
    with Catalog(db, backup_dir=folder) as cat:
        cat.add_root("/photos/2023")
    with Catalog(db, backup_dir=folder) as cat:  # a later start: the daily backup is made
        assert len(backup_files(folder)) == 1
        cat.add_root("/photos/2024")  # after the backup: lost with the damage
    clock[0] += 3600
    corrupt(db)

    with Catalog(db, backup_dir=folder) as cat:
        assert [r.path for r in cat.roots()] == ["/photos/2023"]
        assert cat._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert cat.restored_from is not None
        assert len(cat.notices) == 1
        notice = cat.notices[0]
        assert "damaged" in notice
        assert cat.restored_from.label in notice
        assert str(cat.broken_copy) in notice
        cat.add_root("/photos/2025")  # a working catalog again
    broken = list(tmp_path.glob("catalog.sqlite3.broken-*"))
    assert broken == [cat.broken_copy]
    assert broken[0].stat().st_size > 0  # kept, not deleted
    with Catalog(db, backup_dir=folder) as cat:  # and only once
        assert cat.notices == []
        assert [r.path for r in cat.roots()] == ["/photos/2023", "/photos/2025"]


def test_a_damaged_backup_is_skipped_for_an_older_good_one(
    tmp_path: Path, clock: list[float]
) -> None:
    db, folder = tmp_path / "catalog.sqlite3", tmp_path / "backups"
    with Catalog(db, backup_dir=folder) as cat:
        cat.add_root("/a")
    with Catalog(db, backup_dir=folder) as cat:
        cat.add_root("/b")
    clock[0] += DAY
    with Catalog(db, backup_dir=folder):
        pass
    older, newer = backup_files(folder)
    corrupt(folder / newer)
    corrupt(db)
    with Catalog(db, backup_dir=folder) as cat:
        assert cat.restored_from is not None
        assert cat.restored_from.path.name == older
        assert [r.path for r in cat.roots()] == ["/a"]


def test_without_any_backup_the_damaged_catalog_is_kept_and_a_new_one_started(
    tmp_path: Path,
) -> None:
    db = tmp_path / "catalog.sqlite3"
    db.write_bytes(b"SQLite format 3\x00" + b"\xde\xad" * 3000)
    with Catalog(db, backup_dir=tmp_path / "backups") as cat:
        assert cat.roots() == []
        assert "no backup" in cat.notices[0]
    assert len(list(tmp_path.glob("catalog.sqlite3.broken-*"))) == 1


def test_damage_seen_while_running_is_repaired_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: list[float]
) -> None:
    """A big catalog is not checked at every start; damage noticed by a query asks for the
    check, and the next start finds it and restores."""
    monkeypatch.setattr(database, "CHECK_ALWAYS_BYTES", 0)
    db, folder = tmp_path / "catalog.sqlite3", tmp_path / "backups"
    with Catalog(db, backup_dir=folder) as cat:
        root = cat.add_root("/p")
        for i in range(200):
            cat.upsert_photo(PhotoRecord(root.id, f"/p/{i:04d}.jpg", i, i, f"h{i}"))
    with Catalog(db, backup_dir=folder):
        pass  # the backup
    conn = sqlite3.connect(db)
    photos_root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'photos'"
                               ).fetchone()[0]
    conn.close()
    corrupt(db, page=photos_root)

    with Catalog(db, backup_dir=folder) as cat:  # the probe reads only the schema: opens
        assert cat.restored_from is None
        with pytest.raises(CatalogError, match=r"damaged.*restart photoclip"):
            cat.browse()
    with Catalog(db, backup_dir=folder) as cat:
        assert cat.restored_from is not None
        assert cat.count_photos() == 200


def test_a_daily_backup_is_made_when_the_last_is_a_day_old_and_old_ones_pruned(
    tmp_path: Path, clock: list[float]
) -> None:
    db, folder = tmp_path / "catalog.sqlite3", tmp_path / "backups"
    with Catalog(db, backup_dir=folder) as cat:
        assert backup_files(folder) == []  # nothing worth keeping yet
        cat.add_root("/photos")
    made = []
    for day in range(6):
        with Catalog(db, backup_dir=folder) as cat:
            assert cat.maybe_backup() is None  # checked at open; not again within the hour
        made.append(backup_files(folder))
        clock[0] += DAY / 2
        with Catalog(db, backup_dir=folder):
            pass  # half a day later: not due
        assert backup_files(folder) == made[-1], f"day {day}"
        clock[0] += DAY / 2
    assert [len(m) for m in made] == [1, 2, 3, 3, 3, 3]
    # The newest three are kept.
    assert backup_files(folder) == sorted({n for m in made for n in m})[-3:]


def test_pre_migration_backups_are_kept_and_count_as_recent(
    tmp_path: Path, clock: list[float]
) -> None:
    db, folder = tmp_path / "catalog.sqlite3", tmp_path / "backups"
    conn = sqlite3.connect(db, isolation_level=None)
    from photoclip.core.catalog.migrations import migrate

    migrate(conn, None, target=1)
    conn.execute("INSERT INTO roots(path) VALUES ('/old')")
    conn.close()
    with Catalog(db, backup_dir=folder):
        pass
    assert [n.startswith("catalog-v1-") for n in backup_files(folder)] == [True]
    for _ in range(5):
        clock[0] += DAY
        with Catalog(db, backup_dir=folder):
            pass
    names = backup_files(folder)
    assert sum(n.startswith("catalog-daily-") for n in names) == 3
    assert sum(n.startswith("catalog-v1-") for n in names) == 1


def test_a_long_job_makes_the_daily_backup_while_running(
    tmp_path: Path, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, folder = tmp_path / "catalog.sqlite3", tmp_path / "backups"
    with Catalog(db, backup_dir=folder) as cat:
        cat.add_root("/photos")
    with Catalog(db, backup_dir=folder) as cat:
        assert len(backup_files(folder)) == 1
        clock[0] += DAY + 1
        assert cat.maybe_backup() is None  # looked an instant ago: cheap no-op
        monkeypatch.setattr(database, "BACKUP_CHECK_EVERY_S", 0.0)
        cat._next_backup_check = 0.5  # as if the hour had passed
        assert cat.maybe_backup() is not None
    assert len(backup_files(folder)) == 2


def test_backups_are_whole_databases_in_rollback_mode(tmp_path: Path) -> None:
    db, folder = tmp_path / "catalog.sqlite3", tmp_path / "backups"
    with Catalog(db, backup_dir=folder) as cat:
        cat.add_root("/x")
    with Catalog(db, backup_dir=folder):
        pass
    [name] = backup_files(folder)
    assert sorted(p.name for p in folder.iterdir()) == [name]  # one file, no -wal, no temp
    conn = sqlite3.connect(f"{(folder / name).as_uri()}?mode=ro", uri=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("SELECT path FROM roots").fetchall() == [("/x",)]
    conn.close()


# -- through the library and the command line ---------------------------------------------------


def _photos(folder: Path, n: int, start: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    for i in range(start, start + n):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(
            folder / f"p{i:03d}.jpg")


@pytest.mark.slow
def test_after_a_restore_the_vector_cache_is_rebuilt_and_indexing_catches_up(
    tmp_path: Path, tiny_encoder, clock: list[float]
) -> None:
    root, photos = tmp_path / "lib", tmp_path / "photos"
    _photos(photos, 6)
    with Library(root, encoder=tiny_encoder) as lib:
        lib.add_roots([str(photos)])
        list(lib.indexer().run())
    with Library(root, encoder=tiny_encoder) as lib:  # the daily backup, of 6 photos
        assert len(backup_files(lib.paths.backups)) == 1
    _photos(photos, 4, start=6)
    with Library(root, encoder=tiny_encoder) as lib:
        list(lib.indexer().run())
        assert lib.catalog.count_photos() == 10
        assert len(lib.vectors) == 10
    corrupt(root / "catalog.sqlite3")

    with Library(root, encoder=tiny_encoder) as lib:
        assert lib.catalog.count_photos() == 6
        assert len(lib.notices) == 1
        assert "backup of" in lib.notices[0]
        assert len(lib.vectors) == 6  # rebuilt from the restored catalog
        hits = lib.searcher().search("a photo", top=20, cutoff=None)
        assert len(hits) == 6
        list(lib.indexer().run())  # the photos added since the backup come back
        assert lib.catalog.count_photos() == 10
        assert len(lib.vectors) == 10


def test_the_cli_says_once_that_the_catalog_was_restored(
    tmp_path: Path, clock: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    lib = ["--library", str(tmp_path / "lib")]
    assert main([*lib, "labels", "add", "pets", "--labels", "cat,dog"]) == 0
    assert main([*lib, "labels", "list"]) == 0  # opens: the daily backup
    assert main([*lib, "labels", "add", "later", "--labels", "x"]) == 0
    corrupt(tmp_path / "lib" / "catalog.sqlite3")
    capsys.readouterr()

    assert main([*lib, "labels", "list", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [s["name"] for s in json.loads(out)["sets"]] == ["pets"]
    notes = [line for line in err.splitlines() if line.startswith("photoclip: note:")]
    assert len(notes) == 1
    assert "backup of" in notes[0]
    assert "broken-" in notes[0]
    assert main([*lib, "labels", "list"]) == 0
    assert "note:" not in capsys.readouterr().err
