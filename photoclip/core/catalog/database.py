"""The catalog's database: opening (with checks, recovery from backups, read-only and network
file systems), SQLite errors as the user's errors, transactions, queries, and the helpers every
store of the catalog shares. One connection guarded by a lock: the indexer thread writes, the UI
reads. The tables' own methods live in one store per table family (roots, photos, embeddings,
jobs; tags and models beside them in tagging/ and training/), composed into `Catalog`."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, Self, TypeVar

from photoclip.core.catalog import backup as backups
from photoclip.core.catalog.backup import Backup
from photoclip.core.catalog.migrations import migrate, schema_version
from photoclip.core.catalog.schema import LATEST_VERSION
from photoclip.core.errors import (
    CatalogError,
    DiskFullError,
    ReadOnlyLibraryError,
    StorageError,
)
from photoclip.core.storage import (
    free_bytes,
    network_filesystem,
    remove_stale_temps,
    storage_error,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# SQLite caps bound parameters per statement (32766 in modern builds); stay far below.
CHUNK = 900


def in_chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[tuple[list[T], str]]:
    """`items` in lists of at most `size`, each with its SQL placeholders ("?,?,?"), for
    statements that take a list of values (`... WHERE id IN ({marks})`)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk, ",".join("?" * len(chunk))


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


class Database:
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
        """A connection set up for this catalog. Another process opening the same new catalog
        at the same moment can hold it while it switches to WAL, which SQLite reports as
        "database is locked" without waiting: that is waited out (up to 30 s), like any lock."""
        deadline = time.monotonic() + 30
        delay = 0.01
        while True:
            try:
                return self._connect_once()
            except sqlite3.OperationalError as exc:
                busy = _error_name(exc).startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or (
                    "database is locked" in str(exc))
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def _connect_once(self) -> sqlite3.Connection:
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

    def _make_folder(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, self.path.parent) or CatalogError(
                f"Cannot create the library folder {self.path.parent}: {exc.strerror or exc}. "
                "Point --library at another folder.") from exc
        remove_stale_temps(self.path.parent, lambda target: target == self.path.name)

    def _open_writable(self) -> sqlite3.Connection:
        self._make_folder()
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
            conn = self._reopen_damaged(problem)
        assert conn is not None
        with contextlib.suppress(FileNotFoundError):
            self._check_marker.unlink()
        return self._migrated(conn)

    def _migrated(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """`conn` brought to the latest schema (closed if that fails)."""
        try:
            migrate(conn, self.backup_dir)
        except sqlite3.Error as exc:
            conn.close()
            raise self._translate(exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _reopen_damaged(self, problem: str) -> sqlite3.Connection:
        """Recover a damaged catalog from its backups (see `_recover`) and connect again."""
        if self.backup_dir is None:
            raise CatalogError(f"Cannot open the catalog {self.path}: it is damaged "
                               f"({_short(problem)}). Check the disk, or point --library "
                               "at another folder.")
        self._recover(problem)
        try:
            return self._connect()
        except sqlite3.Error as exc:
            raise CatalogError(f"Cannot open the catalog {self.path} even after restoring "
                               f"it: {exc}. Point --library at another folder.") from exc

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

    def __enter__(self) -> Self:
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

