"""Copies of the catalog, and putting one back when the catalog is damaged.

Two kinds live in the library's `backups/` folder, both whole SQLite files in rollback-journal
mode (one file each, openable anywhere):

* `catalog-vN-<stamp>.sqlite3`, made before migrating from schema vN; kept for good;
* `catalog-daily-<stamp>.sqlite3`, made when the newest one is a day old (checked at open and
  from long jobs), the newest KEEP_DAILY kept.

Each is written through a temp file, checked with `PRAGMA integrity_check` and only then
renamed into place, so the folder never holds a half-written or damaged backup.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from photoclip.core.storage import (
    free_bytes,
    fsync_dir,
    remove_stale_temps,
    replacing,
    temp_path,
)

log = logging.getLogger(__name__)

BACKUP_EVERY_S = 24 * 3600
KEEP_DAILY = 3  # three days back: enough to get behind a damage noticed late, little disk
# Room a backup must leave free on the disk: a backup must never be what fills it.
BACKUP_HEADROOM = 64 << 20
_NAME_RE = re.compile(
    r"^catalog-(?P<kind>daily|v\d+)-(?P<stamp>\d{8}-\d{6})(?:-\d+)?\.sqlite3$"
)
_STAMP = "%Y%m%d-%H%M%S"


def now() -> float:
    """The wall clock (a seam for tests: backups are due by the calendar, not by uptime)."""
    return time.time()


@dataclass(frozen=True)
class Backup:
    path: Path
    when: float  # epoch seconds, from the name (copies and syncs change mtimes)
    daily: bool

    @property
    def label(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.when))


def list_backups(folder: Path | None) -> list[Backup]:
    """Backups in `folder`, newest first."""
    if folder is None:
        return []
    out: list[Backup] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    for entry in entries:
        m = _NAME_RE.match(entry.name)
        if m is None:
            continue
        try:
            when = time.mktime(time.strptime(m.group("stamp"), _STAMP))
        except (ValueError, OverflowError):
            continue
        out.append(Backup(Path(entry.path), when, m.group("kind") == "daily"))
    out.sort(key=lambda b: (b.when, b.path.name), reverse=True)
    return out


def _target(folder: Path, kind: str, now: float) -> Path:
    stamp = time.strftime(_STAMP, time.localtime(now))
    dest = folder / f"catalog-{kind}-{stamp}.sqlite3"
    n = 1
    while dest.exists():
        dest = folder / f"catalog-{kind}-{stamp}-{n}.sqlite3"
        n += 1
    return dest


def write_backup(source: sqlite3.Connection, folder: Path, kind: str) -> Path:
    """Copy the database behind `source` to `folder` as `catalog-<kind>-<stamp>.sqlite3`.

    SQLite's backup API reads one consistent snapshot (WAL included). The copy is switched to
    a rollback journal, so it is a single self-contained file, and checked before it is named.
    Raises OSError or sqlite3.Error; nothing is left behind then.
    """
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder, lambda name: name.startswith("catalog-"))
    dest = _target(folder, kind, now())
    tmp = temp_path(dest)
    try:
        target = sqlite3.connect(tmp, isolation_level=None)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
            verdict = target.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            target.close()
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"the copy fails its integrity check: {verdict}")
        with open(tmp, "r+b") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        for leftover in (tmp, *(Path(f"{tmp}{s}") for s in ("-journal", "-wal", "-shm"))):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    fsync_dir(folder)
    return dest


def backup_due(folder: Path, at: float | None = None) -> bool:
    """True when no backup (daily or pre-migration: both are as good to restore) is younger
    than BACKUP_EVERY_S; one folder listing. One stamped in the future (the clock was wrong
    then) does not count."""
    at = now() if at is None else at
    newest = next(iter(list_backups(folder)), None)
    return newest is None or at - newest.when >= BACKUP_EVERY_S or newest.when > at + 3600


def prune(folder: Path, keep: int = KEEP_DAILY) -> list[Path]:
    """Delete daily backups beyond the newest `keep`; pre-migration ones stay."""
    removed = []
    for old in [b for b in list_backups(folder) if b.daily][keep:]:
        with contextlib.suppress(OSError):
            old.path.unlink()
            removed.append(old.path)
    return removed


def daily_backup(db: Path, folder: Path) -> Path | None:
    """Make today's backup of the catalog at `db` if one is due; None when not due, when
    there is not the room, or when it failed (logged: a backup is never worth stopping for)."""
    if not backup_due(folder):
        return None
    size = db.stat().st_size
    free = free_bytes(folder if folder.exists() else db.parent)
    if free is not None and free < size + BACKUP_HEADROOM:
        log.warning("no daily catalog backup: %d MB free on the disk of %s, the copy needs "
                    "%d MB and must leave %d MB", free >> 20, folder, size >> 20,
                    BACKUP_HEADROOM >> 20)
        return None
    try:
        source = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            made = write_backup(source, folder, "daily")
        finally:
            source.close()
    except (OSError, sqlite3.Error) as exc:
        log.warning("daily catalog backup failed (will try again later): %s", exc)
        return None
    for old in prune(folder):
        log.info("removed old catalog backup %s", old.name)
    log.info("catalog backed up to %s", made)
    return made


def check_file(path: Path) -> str | None:
    """None when the SQLite file at `path` opens and passes `PRAGMA quick_check`; else why."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
    return None if verdict == "ok" else str(verdict)


def newest_good(folder: Path | None) -> Backup | None:
    """The newest backup that passes its check (a damaged one is skipped, and logged)."""
    for backup in list_backups(folder):
        problem = check_file(backup.path)
        if problem is None:
            return backup
        log.warning("catalog backup %s is unusable (%s); trying an older one", backup.path,
                    problem)
    return None


def move_aside(db: Path, stamp: float) -> Path:
    """Rename a damaged catalog (and its -wal, -journal) to `<name>.broken-<stamp>`, never
    deleting it; its -shm, only a cache of the WAL's index, is removed. Returns the new name."""
    label = time.strftime(_STAMP, time.localtime(stamp))
    broken = db.with_name(f"{db.name}.broken-{label}")
    n = 1
    while broken.exists():
        broken = db.with_name(f"{db.name}.broken-{label}-{n}")
        n += 1
    for suffix in ("-wal", "-journal"):
        side = Path(f"{db}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{broken}{suffix}"))
    with contextlib.suppress(FileNotFoundError):
        Path(f"{db}-shm").unlink()
    if db.exists():
        os.replace(db, broken)
    fsync_dir(db.parent)
    return broken


def put_back(backup: Backup, db: Path) -> None:
    """Copy `backup` to `db` atomically (temp file, fsync, rename); the backup stays."""
    with replacing(db) as tmp:
        shutil.copyfile(backup.path, tmp)
