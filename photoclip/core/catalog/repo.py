"""Catalog access. One connection guarded by a lock: the indexer thread writes, the UI reads."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from photoclip.core.catalog.migrations import migrate
from photoclip.core.errors import CatalogError, NotFoundError
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


class Catalog:
    def __init__(self, path: Path, backup_dir: Path | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            migrate(self._conn, backup_dir)
        except sqlite3.DatabaseError as exc:
            raise CatalogError(
                f"Cannot open the catalog {self.path}: {exc}. "
                "Check the disk, or point --library at another folder."
            ) from exc

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
        """One atomic unit of work; re-entrant (an inner use joins the outer transaction)."""
        with self._lock:
            if self._conn.in_transaction:
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- roots ------------------------------------------------------------------------------

    def add_root(self, path: str) -> Root:
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO roots(path) VALUES (?)", (path,))
            c.execute("UPDATE roots SET online = 1 WHERE path = ?", (path,))
        root = self.root_by_path(path)
        assert root is not None
        return root

    def roots(self) -> list[Root]:
        rows = self._query("SELECT id, path, online FROM roots ORDER BY path")
        return [Root(int(i), str(p), bool(o)) for i, p, o in rows]

    def root_by_path(self, path: str) -> Root | None:
        rows = self._query("SELECT id, path, online FROM roots WHERE path = ?", (path,))
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
        rows = self._query(
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
            rows += self._query(sql + f"p.path IN ({','.join('?' * len(chunk))})",
                                [model, *chunk])
        for folder in folders:
            lo, hi = under(folder)
            rows += self._query(sql + "p.path >= ? AND p.path < ?", (model, lo, hi))
        return {
            str(path): FileState(int(i), int(s), int(m), h, str(st), bool(e))
            for i, path, s, m, h, st, e in rows
        }

    def photo(self, photo_id: int) -> Photo | None:
        rows = self._query(f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE id = ?", (photo_id,))
        return _photo(rows[0]) if rows else None

    def photo_by_path(self, path: str) -> Photo | None:
        rows = self._query(f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE path = ?", (path,))
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
            for row in self._query(
                f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE id IN ({marks})", chunk
            ):
                p = _photo(row)
                out[p.id] = p
        return out

    def photos_with_hash(self, digest: str) -> list[Photo]:
        rows = self._query(f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE hash = ?", (digest,))
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
            return int(self._query("SELECT count(*) FROM photos")[0][0])
        return int(self._query("SELECT count(*) FROM photos WHERE status = ?", (status,))[0][0])

    def failures(self, limit: int = 20) -> list[tuple[str, str]]:
        rows = self._query(
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
        rows = self._query(f"SELECT id FROM photos WHERE {' AND '.join(where)}", params)
        return {int(r[0]) for r in rows}

    def browse(self, limit: int = 100_000, folder: str | None = None) -> list[Photo]:
        """Indexed photos newest first (EXIF date, else file time): the library with no query."""
        where, params = ["status = 'ok'"], []
        if folder:
            lo, hi = under(folder)
            where.append("path >= ? AND path < ?")
            params += [lo, hi]
        rows = self._query(
            f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE {' AND '.join(where)} "
            f"ORDER BY {PHOTO_DATE} DESC, id DESC LIMIT ?",
            [*params, limit],
        )
        return [_photo(r) for r in rows]

    # -- embeddings -------------------------------------------------------------------------

    def put_embeddings(self, model: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO embeddings(photo_id, model, vector) VALUES (?,?,?)",
                [(int(i), model, vecs[n].tobytes()) for n, i in enumerate(ids)],
            )

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
        rows = self._query(
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
            rows = self._query(
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
        rows = self._query("SELECT model, count(*) FROM embeddings GROUP BY model")
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
        rows = self._query(
            "SELECT id, state, started_at, finished_at, done, total, failed, message "
            "FROM jobs WHERE kind = ? ORDER BY id DESC LIMIT 1",
            (kind,),
        )
        if not rows:
            return None
        keys = ("id", "state", "started_at", "finished_at", "done", "total", "failed", "message")
        return dict(zip(keys, rows[0], strict=True))
