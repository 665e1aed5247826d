"""The catalog's photos (table `photos`): what the indexer knows of each file, the metadata
filters search uses, and the files it could not read."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from photoclip.core.catalog import decisions
from photoclip.core.catalog.database import Database, in_chunks, under
from photoclip.core.errors import NotFoundError
from photoclip.core.types import Photo, PhotoRecord

# The columns of a Photo, in its fields' order (so `Photo(*row)` builds one).
_PHOTO_COLUMNS = ", ".join(f.name for f in fields(Photo))
# A photo's date: EXIF date when known, else the file's mtime, both as ISO 8601 text.
PHOTO_DATE = (
    "coalesce(taken_at, strftime('%Y-%m-%dT%H:%M:%S', mtime_ns / 1000000000, 'unixepoch'))"
)
# A photo's file name (the path after its last / or \\), for sorting by name.
_NAME = "substr(path, length(rtrim(path, replace(replace(path, '/', ''), '\\', ''))) + 1)"
# The orders the window's grid can show a list of photos in (ORDER BY clauses): date taken
# (newest first), date added to the library (its id: newest first), file name (A-Z), file
# size (largest first), rating (most stars first); ties newest first.
ORDERS = {
    "taken": f"{PHOTO_DATE} DESC, id DESC",
    "added": "id DESC",
    "name": f"{_NAME} COLLATE NOCASE, path, id",
    "size": f"size DESC, {PHOTO_DATE} DESC, id DESC",
    "rating": f"rating DESC, {PHOTO_DATE} DESC, id DESC",
}


@dataclass(frozen=True)
class FileState:
    """What the catalog knows of one path, enough to diff it against the disk."""

    id: int
    size: int
    mtime_ns: int
    hash: str | None
    status: str
    has_embedding: bool
    # (device, inode) as last recorded, where the platform has them: a move keeps them
    ident: tuple[int, int] | None = None


# The columns file_states reads, and the FileState one of its rows makes.
_STATE_COLUMNS = ("p.id, p.path, p.size, p.mtime_ns, p.hash, p.status, "
                  "e.photo_id IS NOT NULL, p.dev, p.ino")


def _states(rows: Iterable[tuple[Any, ...]]) -> dict[str, FileState]:
    return {
        str(path): FileState(int(i), int(s), int(m), h, str(st), bool(e),
                             (int(dev), int(ino)) if dev is not None and ino else None)
        for i, path, s, m, h, st, e, dev, ino in rows
    }


def order_by(order: str) -> str:
    """The ORDER BY clause of one of ORDERS (ValueError for another name)."""
    if order not in ORDERS:
        raise ValueError(f"sort by {' | '.join(ORDERS)}, not {order!r}")
    return ORDERS[order]


def _photo(row: tuple[Any, ...]) -> Photo:
    return Photo(*row)


class Photos(Database):
    """Photo rows: written by the indexer (`upsert_photo`, moves, merges), read by everyone."""

    def file_states(self, root_id: int, model: str) -> dict[str, FileState]:
        rows = self.query(
            f"""SELECT {_STATE_COLUMNS}
               FROM photos p LEFT JOIN embeddings e ON e.photo_id = p.id AND e.model = ?
               WHERE p.root_id = ?""",
            (model, root_id),
        )
        return _states(rows)

    def file_states_at(
        self, model: str, paths: Iterable[str] = (), folders: Iterable[str] = ()
    ) -> dict[str, FileState]:
        """States of the given paths and of every photo inside the given folders (any root):
        the catalog side of an incremental update."""
        sql = f"""SELECT {_STATE_COLUMNS}
                 FROM photos p LEFT JOIN embeddings e ON e.photo_id = p.id AND e.model = ?
                 WHERE """
        rows: list[tuple[Any, ...]] = []
        for chunk, marks in in_chunks(paths):
            rows += self.query(sql + f"p.path IN ({marks})", [model, *chunk])
        for folder in folders:
            lo, hi = under(folder)
            rows += self.query(sql + "p.path >= ? AND p.path < ?", (model, lo, hi))
        return _states(rows)

    def set_identities(self, idents: Mapping[str, tuple[int, int] | None]) -> None:
        """Record each path's (device, inode) as the scan saw it (None: the platform has none)."""
        with self.transaction() as c:
            c.executemany("UPDATE photos SET dev = ?, ino = ? WHERE path = ?",
                          [(*(ident or (None, None)), path) for path, ident in idents.items()])

    def identities_of(self, paths: Iterable[str]) -> dict[str, tuple[int, int] | None]:
        """Path: the (device, inode) recorded for it, of the catalogued ones among `paths`."""
        out: dict[str, tuple[int, int] | None] = {}
        for chunk, marks in in_chunks(paths):
            out.update((str(p), (int(d), int(i)) if d is not None and i else None)
                       for p, d, i in self.query(
                           f"SELECT path, dev, ino FROM photos WHERE path IN ({marks})", chunk))
        return out

    def photo_ids_at(self, paths: Iterable[str]) -> dict[str, int]:
        """Path: id of the catalogued ones among `paths`."""
        out: dict[str, int] = {}
        for chunk, marks in in_chunks(paths):
            out.update((str(p), int(i)) for i, p in self.query(
                f"SELECT id, path FROM photos WHERE path IN ({marks})", chunk))
        return out

    def decided_photo_ids(self, ids: Iterable[int]) -> set[int]:
        """Those of `ids` with a decision of the user's: a tag set, accepted or rejected, an
        album, a rating or the favourite flag."""
        with self.transaction() as c:
            return decisions.decided_ids(c, ids)

    def user_tag_names(self, photo_id: int) -> tuple[str, ...]:
        """Names of the labels the user set or accepted on a photo."""
        return tuple(str(r[0]) for r in self.query(
            "SELECT l.name FROM tags t JOIN labels l ON l.id = t.label_id WHERE t.photo_id = ? "
            "AND (t.source = 'user' OR t.accepted = 1) AND coalesce(t.accepted, 1) = 1 "
            "ORDER BY l.name", (photo_id,)))

    def carry_decisions(self, from_id: int, to_id: int) -> None:
        """An edited photo under a new name (to_id) takes over the user's decisions (tags,
        albums, rating) of its vanished original (from_id), whose row then goes. Auto tags of
        the original are not carried (the new content was scored on its own)."""
        with self.transaction() as c:
            decisions.follow(c, to_id, from_id, all_tags=False)
            c.execute("DELETE FROM photos WHERE id = ?", (from_id,))

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
        for chunk, marks in in_chunks(ids):
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
        place so its id, tags, albums and the user's decisions survive; tags and albums only
        the copy had move over."""
        with self.transaction() as c:
            row = c.execute("SELECT root_id, path, size, mtime_ns FROM photos WHERE id = ?",
                            (drop_id,)).fetchone()
            if row is None:
                return
            # The copy's decisions join the original's: where both tag one label, the user's
            # decision beats an undecided auto tag; a rating given to the copy wins over none.
            decisions.follow(c, keep_id, drop_id, all_tags=True)
            c.execute("DELETE FROM photos WHERE id = ?", (drop_id,))
            c.execute("UPDATE photos SET root_id = ?, path = ?, size = ?, mtime_ns = ? "
                      "WHERE id = ?", (*row, keep_id))

    def delete_photos(self, ids: Iterable[int]) -> None:
        with self.transaction() as c:
            for chunk, marks in in_chunks(ids):
                c.execute(f"DELETE FROM photos WHERE id IN ({marks})", chunk)

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
        min_rating: int | None = None,
        max_rating: int | None = None,
        favourite: bool | None = None,
    ) -> set[int]:
        """Ids of indexed photos matching metadata filters (date: EXIF date, else file mtime;
        tag: LABEL or SET|LABEL, a tag the user has not rejected; types: extensions with the
        dot; orientation: portrait | landscape | square, as the user sees the photo; ratings: stars
        within min_rating..max_rating, both inclusive; favourite: flagged or not)."""
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
        if min_rating:
            where.append("rating >= ?")
            params.append(min_rating)
        if max_rating is not None:
            where.append("rating <= ?")
            params.append(max_rating)
        if favourite is not None:
            where.append("favourite = ?")
            params.append(int(favourite))
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

    def browse_rows(self, folder: str | None = None, after: str | None = None,
                    before: str | None = None, order: str = "taken") -> list[tuple[Any, ...]]:
        """(id, path, content hash) of every indexed photo in `folder` taken in [after, before)
        (ISO dates; EXIF date, else file time), in `order` (ORDERS; newest taken first by
        default): what the window's grid lists with no query. Three columns and no Photo
        objects, so 100,000 rows take ~0.15 s."""
        where, params = ["status = 'ok'"], []
        if folder:
            lo, hi = under(folder)
            where.append("path >= ? AND path < ?")
            params += [lo, hi]
        if after:
            where.append(f"{PHOTO_DATE} >= ?")
            params.append(after)
        if before:
            where.append(f"{PHOTO_DATE} < ?")
            params.append(before)
        # The rows as SQLite hands them over: no Python loop over 100,000 of them, which would
        # hold the interpreter lock against the window's UI thread.
        return self.query(
            f"SELECT id, path, hash FROM photos WHERE {' AND '.join(where)} "
            f"ORDER BY {order_by(order)}", params)

    def ordered_ids(self, photo_ids: Iterable[int], order: str) -> list[int]:
        """These photos' ids in `order` (ORDERS): an album's or a search's photos sorted as
        the grid shows the library. Ids the catalog has no indexed photo for are left out."""
        ids = json.dumps([int(i) for i in photo_ids])
        return [int(r[0]) for r in self.query(
            "SELECT id FROM photos WHERE status = 'ok' AND id IN (SELECT value FROM "
            f"json_each(?)) ORDER BY {order_by(order)}", (ids,))]

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
