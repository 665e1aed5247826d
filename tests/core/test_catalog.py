from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from photoclip.core.catalog import Catalog
from photoclip.core.catalog.migrations import migrate, schema_version
from photoclip.core.catalog.schema import LATEST_VERSION
from photoclip.core.errors import NotFoundError, SchemaTooNewError
from photoclip.core.types import PhotoRecord


def _v1_database(path: Path) -> None:
    """A catalog as the first release left it: schema v1 with a root, a photo, an embedding."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, None, target=1)
    conn.execute("INSERT INTO roots(path) VALUES ('/photos')")
    conn.execute(
        "INSERT INTO photos(root_id, path, size, mtime_ns, hash, width, height, taken_at) "
        "VALUES (1, '/photos/a.jpg', 10, 20, 'h1', 640, 480, '2021-05-01T10:00:00')"
    )
    vec = np.arange(4, dtype=np.float32)
    conn.execute("INSERT INTO embeddings VALUES (1, 'm', ?)", (vec.tobytes(),))
    conn.close()


def test_empty_database_is_created_at_latest_version(tmp_path):
    with Catalog(tmp_path / "c.sqlite3", backup_dir=tmp_path / "b") as cat:
        assert schema_version(cat._conn) == LATEST_VERSION
        assert cat._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cat._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # nothing to back up for a brand-new catalog
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").iterdir())


def test_v1_database_migrates_keeping_data_and_backing_up_first(tmp_path):
    db = tmp_path / "c.sqlite3"
    _v1_database(db)
    with Catalog(db, backup_dir=tmp_path / "b") as cat:
        assert schema_version(cat._conn) == LATEST_VERSION
        photo = cat.photo_by_path("/photos/a.jpg")
        assert photo is not None
        assert (photo.width, photo.height, photo.hash) == (640, 480, "h1")
        vec = cat.get_embeddings("m", [photo.id], 4)
        assert vec.tolist() == [[0.0, 1.0, 2.0, 3.0]]
        tables = {r[0] for r in cat._conn.execute("SELECT name FROM sqlite_master")}
        assert {"jobs", "label_sets", "labels", "tags", "text_embeddings", "models"} <= tables
        # the v2 tables work
        job = cat.start_job("index")
        cat.finish_job(job, "done")
        assert cat.last_job("index")["state"] == "done"
    backups = list((tmp_path / "b").iterdir())
    assert len(backups) == 1
    assert "v1" in backups[0].name
    old = sqlite3.connect(backups[0])
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    assert old.execute("SELECT path FROM photos").fetchall() == [("/photos/a.jpg",)]
    old.close()


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    db = tmp_path / "c.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError, match="Update photoclip"):
        Catalog(db)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION + 1
    conn.close()


def test_not_a_database_gives_a_clear_error(tmp_path):
    db = tmp_path / "c.sqlite3"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(Exception, match="Cannot open the catalog"):
        Catalog(db)


def test_removing_a_root_forgets_its_photos_and_embeddings(tmp_path):
    with Catalog(tmp_path / "c.sqlite3") as cat:
        a = cat.add_root("/a")
        b = cat.add_root("/b")
        assert cat.add_root("/a").id == a.id  # adding twice is harmless
        pa = cat.upsert_photo(PhotoRecord(a.id, "/a/1.jpg", 1, 1, "x"))
        pb = cat.upsert_photo(PhotoRecord(b.id, "/b/1.jpg", 1, 1, "y"))
        cat.put_embeddings("m", [pa, pb], np.ones((2, 4), dtype=np.float32))
        assert cat.remove_root("/a") == [pa]
        assert [r.path for r in cat.roots()] == ["/b"]
        assert cat.photo(pa) is None
        assert cat.embedding_ids("m").tolist() == [pb]
        with pytest.raises(NotFoundError):
            cat.remove_root("/nope")


def test_upsert_keeps_the_id_of_an_existing_path(tmp_path):
    with Catalog(tmp_path / "c.sqlite3") as cat:
        r = cat.add_root("/a")
        first = cat.upsert_photo(PhotoRecord(r.id, "/a/1.jpg", 1, 1, "x"))
        again = cat.upsert_photo(PhotoRecord(r.id, "/a/1.jpg", 2, 2, "y", status="failed",
                                             error="truncated file"))
        assert first == again
        assert cat.count_photos() == 1
        assert cat.count_photos("failed") == 1
        assert cat.failures() == [("/a/1.jpg", "truncated file")]


def test_filters_by_folder_and_date(tmp_path):
    with Catalog(tmp_path / "c.sqlite3") as cat:
        r = cat.add_root("/p")
        old = cat.upsert_photo(PhotoRecord(r.id, "/p/2019/a.jpg", 1, 1, "a",
                                           taken_at="2019-06-01T12:00:00"))
        new = cat.upsert_photo(PhotoRecord(r.id, "/p/2023/b.jpg", 1, 1, "b",
                                           taken_at="2023-01-02T08:00:00"))
        # no EXIF date: the file's mtime (2024-03-01) stands in
        mtime = cat.upsert_photo(PhotoRecord(r.id, "/p/2023x/c.jpg", 1,
                                             1709251200 * 10**9, "c"))
        assert cat.filter_ids(folder="/p/2023") == {new}  # not /p/2023x
        assert cat.filter_ids(after="2020-01-01") == {new, mtime}
        assert cat.filter_ids(before="2020-01-01") == {old}
        assert cat.filter_ids(after="2024-01-01", before="2024-12-31") == {mtime}


def test_merge_keeps_the_users_decision_over_an_undecided_auto_tag(tmp_path):
    with Catalog(tmp_path / "c.sqlite3") as cat:
        r = cat.add_root("/a")
        original = cat.upsert_photo(PhotoRecord(r.id, "/a/old.jpg", 1, 1, "h"))
        copy = cat.upsert_photo(PhotoRecord(r.id, "/b/new.jpg", 1, 2, "h"))
        c = cat._conn
        c.execute("INSERT INTO label_sets(name) VALUES ('pets')")
        c.execute("INSERT INTO labels(set_id, name) VALUES (1, 'cat'), (1, 'dog')")
        # the original: an undecided auto 'cat' and an accepted 'dog'
        c.execute("INSERT INTO tags(photo_id, label_id, score, source) VALUES (?, 1, 0.6, 'auto')",
                  (original,))
        c.execute("INSERT INTO tags(photo_id, label_id, score, source, accepted) "
                  "VALUES (?, 2, 0.7, 'auto', 1)", (original,))
        # the copy: the user rejected 'cat', and has an undecided 'dog'
        c.execute("INSERT INTO tags(photo_id, label_id, score, source, accepted) "
                  "VALUES (?, 1, 0.6, 'auto', 0)", (copy,))
        c.execute("INSERT INTO tags(photo_id, label_id, score, source) VALUES (?, 2, 0.7, 'auto')",
                  (copy,))
        cat.merge_photo(original, copy)
        rows = dict(c.execute("SELECT label_id, accepted FROM tags WHERE photo_id = ?",
                              (original,)).fetchall())
        assert rows == {1: 0, 2: 1}  # the rejection survives, the acceptance too
        assert cat.photo(original).path == "/b/new.jpg"
        assert cat.photo(copy) is None


def test_a_photo_record_is_a_photo_without_its_id() -> None:
    """PhotoRecord (what the indexer writes) and Photo (what the catalog reads back) differ only
    by the id the catalog gives: same fields, same order, so neither drifts from the other."""
    from dataclasses import fields

    from photoclip.core.types import Photo

    assert [f.name for f in fields(Photo)] == ["id", *(f.name for f in fields(PhotoRecord))]
    assert [f.default for f in fields(Photo)][1:] == [f.default for f in fields(PhotoRecord)]


def test_a_read_only_catalog_lists_its_models(tmp_path: Path) -> None:
    from photoclip.core.training import registry

    db = tmp_path / "c.sqlite3"
    with Catalog(db) as cat:
        registry.ensure_base(cat, "base-model")
    with Catalog(db, read_only=True) as cat:
        assert [e.name for e in registry.list_models(cat)] == ["base-model"]
        found = registry.find(cat, "base-model")
        assert found is not None
        assert found.kind == "base"
        assert registry.by_source(cat, "base-model") == found
