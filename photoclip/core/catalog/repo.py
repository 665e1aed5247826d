"""Catalog access. One connection guarded by a lock: the indexer thread writes, the UI reads."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from photoclip.core.catalog import backup as backups
from photoclip.core.catalog.backup import Backup
from photoclip.core.catalog.migrations import migrate, schema_version
from photoclip.core.catalog.schema import LATEST_VERSION
from photoclip.core.storage import (
    free_bytes,
    network_filesystem,
    remove_stale_temps,
    storage_error,
)
from photoclip.core.errors import (
    CatalogError,
    DiskFullError,
    NotFoundError,
    ReadOnlyLibraryError,
    StorageError,
)
from photoclip.core.types import Photo, Root

log = logging.getLogger(__name__)

_PHOTO_COLUMNS = "id, root_id, path, size, mtime_ns, hash, width, height, taken_at, status, error"
# A photo's date: EXIF date when known, else the file's mtime, both as ISO 8601 text.
PHOTO_DATE = (
    "coalesce(taken_at, strftime('%Y-%m-%dT%H:%M:%S', mtime_ns / 1000000000, 'unixepoch'))"
)
# SQLite caps bound parameters per statement (32766 in modern builds); stay far below.
_CHUNK = 900


@dataclass(frozen=True)
class FileState:
    """What the catalog knows of one path, enough to diff it against the disk."""

    id: int
    size: int
    mtime_ns: int
    hash: str | None
    status: str
    has_embedding: bool


@dataclass
class JobRow:
    """A running job's row (see `Catalog.job`): how it ends unless the job says otherwise."""

    id: int
    state: str = "cancelled"
    message: str | None = None


@dataclass(frozen=True)
class PhotoRecord:
    """A photo's facts as the indexer writes them."""

    root_id: int
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    status: str = "ok"
    error: str | None = None


def _photo(row: tuple[Any, ...]) -> Photo:
    return Photo(*row)


def under(folder: str) -> tuple[str, str]:
    """SQL range bounds matching every path strictly inside `folder` (prefix + separator)."""
    prefix = folder.rstrip(os.sep) + os.sep
    return prefix, prefix[:-1] + chr(ord(os.sep) + 1)


# Catalogs up to this size are checked (PRAGMA integrity_check) at every open: ~0.07 s per
# 100 MB here with a warm cache, about what quick_check costs. Larger ones are checked when the
# last session did not end cleanly (a -wal or -journal file is left) or when damage was seen
# while running.
CHECK_ALWAYS_BYTES = 256 << 20
BACKUP_CHECK_EVERY_S = 3600.0  # how often a long job looks whether the daily backup is due
_NEARLY_FULL = 1 << 20  # an I/O error with less free than this is a full disk


def _error_name(exc: sqlite3.Error) -> str:
    return str(getattr(exc, "sqlite_errorname", "") or "")


def _is_damage(exc: sqlite3.Error) -> bool:
    """SQLite says the file is not a database or its structure is broken."""
    name = _error_name(exc)
    if name:
        return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
    text = str(exc)
    return "malformed" in text or "not a database" in text


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _writable(path: Path) -> bool:
    """Whether the catalog can be written: the file (if any) and its folder. As root only a
    read-only file system says no, which is the case that matters (a mounted archive disk)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if path.exists() and not os.access(path, os.W_OK):
        return False
    return os.access(folder, os.W_OK)


class Catalog:
    """The SQLite catalog. Opening it checks it and, when it is damaged, puts the newest good
    backup in its place (the damaged file is kept beside it); `notices` then says what
    happened, for the user. On a read-only disk or folder it opens read-only: reading works,
    every write raises ReadOnlyLibraryError. A full disk makes a write raise DiskFullError,
    with nothing half-written, and the catalog stays usable for reading."""

    def __init__(
        self,
        path: Path,
        backup_dir: Path | None = None,
        *,
        read_only: bool | None = None,
    ) -> None:
        self.path = Path(path)
        self.backup_dir = Path(backup_dir) if backup_dir is not None else None
        self._lock = threading.RLock()
        self.notices: list[str] = []  # what the user should hear about this open, once
        self.restored_from: Backup | None = None
        self.broken_copy: Path | None = None  # where a damaged catalog was moved aside
        self.journal_mode = "wal"
        self.read_only = False
        self._refusal: StorageError = ReadOnlyLibraryError(self.path.parent)
        self._next_backup_check = 0.0
        if read_only is None:
            read_only = not _writable(self.path)
        self._conn = self._open_read_only() if read_only else self._open_writable()
        if not self.read_only:
            self.maybe_backup()

    # -- opening ----------------------------------------------------------------------------

    @property
    def _check_marker(self) -> Path:
        """Asks the next open for a full check (left when damage was seen while running)."""
        return self.path.with_name(self.path.name + ".check")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=30)
        try:
            network = network_filesystem(self.path.parent)
            if network:
                # WAL needs shared memory (an mmap'ed -shm file) and locks every client sees;
                # network and FUSE file systems give neither, and a catalog there corrupts.
                log.info("catalog %s is on %s, a network or FUSE file system: using "
                         "journal_mode=DELETE instead of WAL", self.path, network)
            wanted = "delete" if network else "wal"
            self.journal_mode = str(
                conn.execute(f"PRAGMA journal_mode = {wanted.upper()}").fetchone()[0]).lower()
            conn.execute("PRAGMA foreign_keys = ON")
            # NORMAL is corruption-safe with WAL (a power cut may lose the last commits, never
            # the file); a rollback journal needs FULL for that.
            sync = "NORMAL" if self.journal_mode == "wal" else "FULL"
            conn.execute(f"PRAGMA synchronous = {sync}")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_writable(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, self.path.parent) or CatalogError(
                f"Cannot create the library folder {self.path.parent}: {exc.strerror or exc}. "
                "Point --library at another folder.") from exc
        remove_stale_temps(self.path.parent, lambda target: target == self.path.name)
        existed = self.path.exists() and self.path.stat().st_size > 0
        unclean = any(Path(f"{self.path}{s}").exists() for s in ("-wal", "-journal"))
        conn: sqlite3.Connection | None = None
        problem: str | None = None
        try:
            conn = self._connect()
            if existed and (unclean or self._check_marker.exists()
                            or self.path.stat().st_size <= CHECK_ALWAYS_BYTES):
                verdict = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
                if verdict != "ok":
                    problem = verdict
        except sqlite3.Error as exc:
            if _error_name(exc).startswith("SQLITE_READONLY"):
                return self._open_read_only()
            mapped = self._translate(exc)
            if isinstance(mapped, DiskFullError):
                # A full disk cannot even hold WAL's shared-memory file: read what is there.
                return self._open_read_only(mapped)
            if not _is_damage(exc):
                raise CatalogError(f"Cannot open the catalog {self.path}: {exc}. Check the "
                                   "disk, or point --library at another folder.") from exc
            problem = str(exc)
        if problem is not None:
            if conn is not None:
                conn.close()
            if self.backup_dir is None:
                raise CatalogError(f"Cannot open the catalog {self.path}: it is damaged "
                                   f"({_short(problem)}). Check the disk, or point --library "
                                   "at another folder.")
            self._recover(problem)
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                raise CatalogError(f"Cannot open the catalog {self.path} even after restoring "
                                   f"it: {exc}. Point --library at another folder.") from exc
        assert conn is not None
        with contextlib.suppress(FileNotFoundError):
            self._check_marker.unlink()
        try:
            migrate(conn, self.backup_dir)
        except sqlite3.Error as exc:
            conn.close()
            raise self._translate(exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _recover(self, problem: str) -> None:
        """Move the damaged catalog aside and put the newest good backup in its place."""
        good = backups.newest_good(self.backup_dir)
        self.broken_copy = backups.move_aside(self.path, backups.now())
        why = _short(problem)
        if good is not None:
            backups.put_back(good, self.path)
            self.restored_from = good
            message = (f"The catalog was damaged ({why}). It was moved aside to "
                       f"{self.broken_copy} and the backup of {good.label} was restored: "
                       "changes made since then (folders added, tags, label sets) are lost; "
                       "indexing catches up with the photos on disk.")
        else:
            message = (f"The catalog was damaged ({why}) and there is no backup of it. It was "
                       f"moved aside to {self.broken_copy} and a new, empty catalog started: "
                       "add your folders again (photoclip add FOLDER).")
        log.warning("catalog %s damaged (%s): moved aside to %s; %s", self.path, why,
                    self.broken_copy.name, f"restored the backup of {good.label}" if good
                    else "no backup: started empty")
        self.notices.append(message)

    def _open_read_only(self, why: StorageError | None = None) -> sqlite3.Connection:
        """Read-only disk or folder, or a full disk (`why`): open with SQLite's mode=ro
        (immutable=1 when even the WAL index cannot be made, as on a read-only medium), never
        migrate, refuse every write with `why`'s message."""
        self.read_only = True
        self._refusal = why or ReadOnlyLibraryError(self.path.parent)
        if not self.path.exists():
            raise self._refusal
        uri = self.path.resolve().as_uri()
        last: sqlite3.Error | None = None
        for params in ("?mode=ro", "?mode=ro&immutable=1"):
            conn = sqlite3.connect(uri + params, uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=30)
            try:
                version = schema_version(conn)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                self.journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
            except sqlite3.Error as exc:
                conn.close()
                last = exc
                continue
            break
        else:
            raise CatalogError(f"Cannot open the catalog {self.path} (read-only): {last}. "
                               "Check the disk, or point --library at another folder.")
        if version != LATEST_VERSION:
            conn.close()
            migrate_check = "newer" if version > LATEST_VERSION else "older"
            raise CatalogError(
                f"The catalog {self.path} is read-only and from a {migrate_check} photoclip "
                f"(schema v{version}, this one uses v{LATEST_VERSION}): open it once where "
                "it can be written, or point --library at another folder.")
        message = str(self._refusal)
        if why is not None:
            message += " (the catalog is open read-only: search works, changes are refused)"
        log.warning(message)
        self.notices.append(message)
        return conn

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work; re-entrant (an inner use joins the outer transaction).

        A full disk raises DiskFullError, a read-only one ReadOnlyLibraryError, after rolling
        back: the catalog keeps what it had and stays readable."""
        with self._lock:
            if self._conn.in_transaction:
                yield self._conn
                return
            if self.read_only:
                raise type(self._refusal)(self.path.parent)
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._translate(exc) from exc
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                # SQLite may already have rolled back on its own (a full disk does that).
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    mapped = self._translate(exc)
                    if mapped is not exc:
                        raise mapped from exc
                raise

    def _translate(self, exc: sqlite3.Error) -> Exception:
        """The user-facing error for a storage failure; other errors pass through as they are."""
        name = _error_name(exc)
        if name.startswith("SQLITE_FULL"):
            return DiskFullError(self.path.parent)
        if name.startswith("SQLITE_READONLY"):
            return ReadOnlyLibraryError(self.path.parent)
        if _is_damage(exc):
            with contextlib.suppress(OSError):
                self._check_marker.touch()
            log.error("catalog %s is damaged: %s", self.path, exc)
            return CatalogError(f"The catalog {self.path} is damaged ({exc}): restart photoclip "
                                "to check it and restore it from its latest backup.")
        if name.startswith("SQLITE_IOERR"):
            free = free_bytes(self.path.parent)
            if free is not None and free < _NEARLY_FULL:
                return DiskFullError(self.path.parent)
            return CatalogError(f"Cannot read or write the catalog {self.path}: {exc}. Check "
                                "the disk.")
        return exc

    # -- backups ----------------------------------------------------------------------------

    def maybe_backup(self) -> Path | None:
        """Make the daily backup if one is due. Cheap enough to call between batches: it looks
        at the backups folder at most every BACKUP_CHECK_EVERY_S."""
        if self.backup_dir is None or self.read_only:
            return None
        now = time.monotonic()
        if now < self._next_backup_check:
            return None
        if self._next_backup_check == 0.0:  # first look in this session: debris of a kill
            remove_stale_temps(self.backup_dir, lambda name: name.startswith("catalog-"))
        if not self.query("SELECT EXISTS(SELECT 1 FROM roots) OR "
                           "EXISTS(SELECT 1 FROM label_sets)")[0][0]:
            self._next_backup_check = -1.0  # nothing worth keeping yet: look again next call
            return None
        self._next_backup_check = now + BACKUP_CHECK_EVERY_S
        return backups.daily_backup(self.path, self.backup_dir)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                mapped = self._translate(exc)
                if mapped is exc:
                    raise
                raise mapped from exc

    # -- roots ------------------------------------------------------------------------------

    def add_root(self, path: str) -> Root:
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO roots(path) VALUES (?)", (path,))
            c.execute("UPDATE roots SET online = 1 WHERE path = ?", (path,))
        root = self.root_by_path(path)
        assert root is not None
        return root

    def roots(self) -> list[Root]:
        rows = self.query("SELECT id, path, online FROM roots ORDER BY path")
        return [Root(int(i), str(p), bool(o)) for i, p, o in rows]

    def root_by_path(self, path: str) -> Root | None:
        rows = self.query("SELECT id, path, online FROM roots WHERE path = ?", (path,))
        if not rows:
            return None
        i, p, o = rows[0]
        return Root(int(i), str(p), bool(o))

    def set_root_online(self, root_id: int, online: bool) -> None:
        with self.transaction() as c:
            c.execute("UPDATE roots SET online = ? WHERE id = ?", (int(online), root_id))

    def remove_root(self, path: str) -> list[int]:
        """Forget a root and its photos (files untouched); returns the photo ids that left."""
        root = self.root_by_path(path)
        if root is None:
            raise NotFoundError(f"{path} is not a library folder (see `photoclip status`).")
        with self.transaction() as c:
            ids = [int(r[0]) for r in c.execute("SELECT id FROM photos WHERE root_id = ?",
                                                (root.id,))]
            c.execute("DELETE FROM roots WHERE id = ?", (root.id,))
        return ids

    # -- photos -----------------------------------------------------------------------------

    def file_states(self, root_id: int, model: str) -> dict[str, FileState]:
        rows = self.query(
            """SELECT p.id, p.path, p.size, p.mtime_ns, p.hash, p.status,
                      e.photo_id IS NOT NULL
               FROM photos p LEFT JOIN embeddings e ON e.photo_id = p.id AND e.model = ?
               WHERE p.root_id = ?""",
            (model, root_id),
        )
        return {
            str(path): FileState(int(i), int(s), int(m), h, str(st), bool(e))
            for i, path, s, m, h, st, e in rows
        }

    def file_states_at(
        self, model: str, paths: Iterable[str] = (), folders: Iterable[str] = ()
    ) -> dict[str, FileState]:
        """States of the given paths and of every photo inside the given folders (any root):
        the catalog side of an incremental update."""
        sql = """SELECT p.id, p.path, p.size, p.mtime_ns, p.hash, p.status,
                        e.photo_id IS NOT NULL
                 FROM photos p LEFT JOIN embeddings e ON e.photo_id = p.id AND e.model = ?
                 WHERE """
        rows: list[tuple[Any, ...]] = []
        path_list = list(paths)
        for start in range(0, len(path_list), _CHUNK):
            chunk = path_list[start : start + _CHUNK]
            rows += self.query(sql + f"p.path IN ({','.join('?' * len(chunk))})",
                                [model, *chunk])
        for folder in folders:
            lo, hi = under(folder)
            rows += self.query(sql + "p.path >= ? AND p.path < ?", (model, lo, hi))
        return {
            str(path): FileState(int(i), int(s), int(m), h, str(st), bool(e))
            for i, path, s, m, h, st, e in rows
        }

    def photo(self, photo_id: int) -> Photo | None:
        rows = self.query(f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE id = ?", (photo_id,))
        return _photo(rows[0]) if rows else None

    def photo_by_path(self, path: str) -> Photo | None:
        rows = self.query(f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE path = ?", (path,))
        return _photo(rows[0]) if rows else None

    def find_photo(self, path: str) -> Photo:
        """The photo a user names by path: relative, with ~, or through a symlinked folder
        (roots are stored resolved; the file name itself is kept as it appears)."""
        full = os.path.abspath(os.path.expanduser(path))
        resolved = os.path.join(os.path.realpath(os.path.dirname(full)), os.path.basename(full))
        photo = self.photo_by_path(full) or self.photo_by_path(resolved)
        if photo is None:
            raise NotFoundError(
                f"{path} is not in the library: add its folder with `photoclip add FOLDER`.")
        return photo

    def photos_by_ids(self, ids: Iterable[int]) -> dict[int, Photo]:
        out: dict[int, Photo] = {}
        id_list = list(ids)
        for start in range(0, len(id_list), _CHUNK):
            chunk = id_list[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in self.query(
                f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE id IN ({marks})", chunk
            ):
                p = _photo(row)
                out[p.id] = p
        return out

    def photos_with_hash(self, digest: str) -> list[Photo]:
        rows = self.query(f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE hash = ?", (digest,))
        return [_photo(r) for r in rows]

    def upsert_photo(self, rec: PhotoRecord) -> int:
        """Insert or update the photo at rec.path; keeps its id (and so its tags) on update."""
        with self.transaction() as c:
            row = c.execute(
                """INSERT INTO photos(root_id, path, size, mtime_ns, hash, width, height,
                                      taken_at, status, error)
                   VALUES (?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(path) DO UPDATE SET
                     root_id = excluded.root_id, size = excluded.size,
                     mtime_ns = excluded.mtime_ns, hash = excluded.hash,
                     width = excluded.width, height = excluded.height,
                     taken_at = excluded.taken_at, status = excluded.status,
                     error = excluded.error,
                     indexed_at = strftime('%Y-%m-%dT%H:%M:%S', 'now')
                   RETURNING id""",
                (rec.root_id, rec.path, rec.size, rec.mtime_ns, rec.hash, rec.width,
                 rec.height, rec.taken_at, rec.status, rec.error),
            ).fetchone()
        return int(row[0])

    def touch_photo(self, photo_id: int, size: int, mtime_ns: int) -> None:
        """The file's stat changed but its content did not (same hash)."""
        with self.transaction() as c:
            c.execute("UPDATE photos SET size = ?, mtime_ns = ? WHERE id = ?",
                      (size, mtime_ns, photo_id))

    def move_photo(self, photo_id: int, root_id: int, path: str, size: int,
                   mtime_ns: int) -> None:
        """Same content at a new path: the photo keeps its id, embedding and tags."""
        with self.transaction() as c:
            c.execute(
                "UPDATE photos SET root_id = ?, path = ?, size = ?, mtime_ns = ? WHERE id = ?",
                (root_id, path, size, mtime_ns, photo_id),
            )

    def merge_photo(self, keep_id: int, drop_id: int) -> None:
        """One photo under two rows: a copy appeared (drop_id), then the original (keep_id) was
        deleted, which is how a move across drives looks. The original's row takes the copy's
        place so its id, tags and the user's decisions survive; tags only the copy had move
        over."""
        with self.transaction() as c:
            row = c.execute("SELECT root_id, path, size, mtime_ns FROM photos WHERE id = ?",
                            (drop_id,)).fetchone()
            if row is None:
                return
            # Where both rows tag the same label, a decision the user made on the copy beats an
            # undecided auto tag on the original; otherwise the original's row wins.
            c.execute(
                """DELETE FROM tags WHERE photo_id = ? AND source = 'auto' AND accepted IS NULL
                   AND label_id IN (SELECT label_id FROM tags WHERE photo_id = ?
                                    AND (source = 'user' OR accepted IS NOT NULL))""",
                (keep_id, drop_id))
            c.execute("UPDATE OR IGNORE tags SET photo_id = ? WHERE photo_id = ?",
                      (keep_id, drop_id))
            c.execute("DELETE FROM photos WHERE id = ?", (drop_id,))
            c.execute("UPDATE photos SET root_id = ?, path = ?, size = ?, mtime_ns = ? "
                      "WHERE id = ?", (*row, keep_id))

    def delete_photos(self, ids: Iterable[int]) -> None:
        id_list = list(ids)
        with self.transaction() as c:
            for start in range(0, len(id_list), _CHUNK):
                chunk = id_list[start : start + _CHUNK]
                c.execute(f"DELETE FROM photos WHERE id IN ({','.join('?' * len(chunk))})",
                          chunk)

    def count_photos(self, status: str | None = None) -> int:
        if status is None:
            return int(self.query("SELECT count(*) FROM photos")[0][0])
        return int(self.query("SELECT count(*) FROM photos WHERE status = ?", (status,))[0][0])

    def failures(self, limit: int = 20) -> list[tuple[str, str]]:
        rows = self.query(
            "SELECT path, error FROM photos WHERE status = 'failed' ORDER BY path LIMIT ?",
            (limit,),
        )
        return [(str(p), str(e)) for p, e in rows]

    def filter_ids(
        self,
        folder: str | None = None,
        after: str | None = None,
        before: str | None = None,
        tag: str | None = None,
        *,
        types: Sequence[str] = (),
        orientation: str | None = None,
        min_side: int | None = None,
        min_pixels: int | None = None,
    ) -> set[int]:
        """Ids of indexed photos matching metadata filters (date: EXIF date, else file mtime;
        tag: LABEL or SET|LABEL, a tag the user has not rejected; types: extensions with the
        dot; orientation: portrait | landscape | square, as the user sees the photo)."""
        where = ["status = 'ok'"]
        params: list[object] = []
        if folder:
            lo, hi = under(folder)
            where.append("path >= ? AND path < ?")
            params += [lo, hi]
        date = PHOTO_DATE
        if after:
            where.append(f"{date} >= ?")
            params.append(after)
        if before:
            where.append(f"{date} < ?")
            params.append(before)
        if tag:
            where.append(
                "id IN (SELECT t.photo_id FROM tags t JOIN labels l ON l.id = t.label_id "
                "JOIN label_sets s ON s.id = l.set_id "
                "WHERE (t.accepted IS NULL OR t.accepted = 1) AND lower(?) IN "
                "(lower(l.name), lower(s.name || '|' || l.name), lower(s.name || '/' || l.name)))")
            params.append(" ".join(tag.split()))
        if types:
            where.append("(" + " OR ".join("lower(path) LIKE ?" for _ in types) + ")")
            params += [f"%{t.lower()}" for t in types]
        if orientation:
            where.append({"portrait": "height > width", "landscape": "width > height",
                          "square": "width = height"}[orientation])
        if min_side:
            where.append("min(width, height) >= ?")
            params.append(min_side)
        if min_pixels:
            where.append("width * height >= ?")
            params.append(min_pixels)
        rows = self.query(f"SELECT id FROM photos WHERE {' AND '.join(where)}", params)
        return {int(r[0]) for r in rows}

    def browse(self, limit: int = 100_000, folder: str | None = None) -> list[Photo]:
        """Indexed photos newest first (EXIF date, else file time): the library with no query."""
        where, params = ["status = 'ok'"], []
        if folder:
            lo, hi = under(folder)
            where.append("path >= ? AND path < ?")
            params += [lo, hi]
        rows = self.query(
            f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE {' AND '.join(where)} "
            f"ORDER BY {PHOTO_DATE} DESC, id DESC LIMIT ?",
            [*params, limit],
        )
        return [_photo(r) for r in rows]

    # -- embeddings -------------------------------------------------------------------------

    def put_embeddings(self, model: str, ids: Sequence[int], vectors: np.ndarray) -> int:
        """Store vectors; returns the change number they got (see `embedding_seq`)."""
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.transaction() as c:
            seq = int(c.execute("UPDATE counters SET value = value + 1 "
                                "WHERE name = 'embedding_seq' RETURNING value").fetchone()[0])
            c.executemany(
                "INSERT OR REPLACE INTO embeddings(photo_id, model, vector, seq) "
                "VALUES (?,?,?,?)",
                [(int(i), model, vecs[n].tobytes(), seq) for n, i in enumerate(ids)],
            )
        return seq

    def embedding_seq(self) -> int:
        """The change number of the latest stored embeddings: it only ever grows, so a cache
        that caught up with number N needs only the rows numbered above N."""
        return int(self.query(
            "SELECT value FROM counters WHERE name = 'embedding_seq'")[0][0])

    def embedding_ids_since(self, model: str, seq: int) -> np.ndarray:
        """Ids of indexed photos whose `model` embedding was stored after change `seq`."""
        rows = self.query(
            """SELECT e.photo_id FROM embeddings e JOIN photos p ON p.id = e.photo_id
               WHERE e.model = ? AND e.seq > ? AND p.status = 'ok'""",
            (model, seq),
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def delete_embeddings(self, ids: Iterable[int]) -> None:
        id_list = list(ids)
        with self.transaction() as c:
            for start in range(0, len(id_list), _CHUNK):
                chunk = id_list[start : start + _CHUNK]
                c.execute(
                    f"DELETE FROM embeddings WHERE photo_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )

    def embedding_ids(self, model: str) -> np.ndarray:
        rows = self.query(
            """SELECT e.photo_id FROM embeddings e JOIN photos p ON p.id = e.photo_id
               WHERE e.model = ? AND p.status = 'ok'""",
            (model,),
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def get_embeddings(self, model: str, ids: Sequence[int] | np.ndarray, dim: int) -> np.ndarray:
        """Vectors in the order of `ids`; a missing one is an error (the caller asked for it)."""
        id_list = [int(i) for i in ids]
        found: dict[int, bytes] = {}
        for start in range(0, len(id_list), _CHUNK):
            chunk = id_list[start : start + _CHUNK]
            rows = self.query(
                f"SELECT photo_id, vector FROM embeddings WHERE model = ? "
                f"AND photo_id IN ({','.join('?' * len(chunk))})",
                [model, *chunk],
            )
            found.update((int(i), bytes(v)) for i, v in rows)
        out = np.empty((len(id_list), dim), dtype=np.float32)
        for n, i in enumerate(id_list):
            if i not in found:
                raise NotFoundError(f"photo {i} has no embedding for model {model}")
            out[n] = np.frombuffer(found[i], dtype=np.float32)
        return out

    def models_in_use(self) -> list[tuple[str, int]]:
        rows = self.query("SELECT model, count(*) FROM embeddings GROUP BY model")
        return [(str(m), int(n)) for m, n in rows]

    def drop_embeddings_except(self, model: str) -> int:
        """Forget embeddings of other models (after the library switched model)."""
        with self.transaction() as c:
            return c.execute("DELETE FROM embeddings WHERE model != ?", (model,)).rowcount

    # -- jobs -------------------------------------------------------------------------------

    def start_job(self, kind: str, total: int = 0) -> int:
        with self.transaction() as c:
            # A job still 'running' from an earlier process was cut short (crash, kill).
            c.execute("UPDATE jobs SET state = 'interrupted' WHERE state = 'running' AND kind = ?",
                      (kind,))
            row = c.execute("INSERT INTO jobs(kind, state, total) VALUES (?, 'running', ?) "
                            "RETURNING id", (kind, total)).fetchone()
        return int(row[0])

    @contextmanager
    def job(self, kind: str, total: int = 0) -> Iterator[JobRow]:
        """A `jobs` row for the duration of a long job. It ends as the job sets `row.state`
        ("done"...); stopped early (cancel, a closed generator, Ctrl-C) it stays "cancelled";
        an error makes it "failed"."""
        row = JobRow(self.start_job(kind, total))
        try:
            yield row
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit | KeyboardInterrupt):
                row.state = "failed"
            raise
        finally:
            self.finish_job(row.id, row.state, row.message)

    def update_job(self, job_id: int, done: int, total: int, failed: int) -> None:
        with self.transaction() as c:
            c.execute("UPDATE jobs SET done = ?, total = ?, failed = ? WHERE id = ?",
                      (done, total, failed, job_id))

    def finish_job(self, job_id: int, state: str, message: str | None = None) -> None:
        with self.transaction() as c:
            c.execute(
                """UPDATE jobs SET state = ?, message = ?,
                   finished_at = strftime('%Y-%m-%dT%H:%M:%S', 'now') WHERE id = ?""",
                (state, message, job_id),
            )

    def last_job(self, kind: str) -> dict[str, object] | None:
        rows = self.query(
            "SELECT id, state, started_at, finished_at, done, total, failed, message "
            "FROM jobs WHERE kind = ? ORDER BY id DESC LIMIT 1",
            (kind,),
        )
        if not rows:
            return None
        keys = ("id", "state", "started_at", "finished_at", "done", "total", "failed", "message")
        return dict(zip(keys, rows[0], strict=True))

    # -- failures (issue 8: the indexer's bookkeeping of files it could not read) -----------

    def failure_groups(self, examples: int = 3) -> list[tuple[str, int, list[str]]]:
        """Failed files per distinct reason: (reason, how many, the first `examples` paths)."""
        counts = self.query(
            "SELECT coalesce(error, 'unknown'), count(*) FROM photos WHERE status = 'failed' "
            "GROUP BY 1")
        rows = self.query(
            """SELECT error, path FROM (
                   SELECT coalesce(error, 'unknown') AS error, path,
                          row_number() OVER (PARTITION BY error ORDER BY path) AS n
                   FROM photos WHERE status = 'failed')
               WHERE n <= ? ORDER BY path""",
            (examples,),
        )
        paths: dict[str, list[str]] = {}
        for error, path in rows:
            paths.setdefault(str(error), []).append(str(path))
        return [(str(e), int(n), paths.get(str(e), [])) for e, n in counts]

    def paths_failed_with(self, error: str) -> set[str]:
        rows = self.query(
            "SELECT path FROM photos WHERE status = 'failed' AND error = ?", (error,))
        return {str(r[0]) for r in rows}
