"""The user's decisions about a photo, as one thing: the tags they set, accepted or rejected,
the albums they put it in, its rating and favourite flag. Whatever photoclip does to a photo's
row (a move seen late, a copy that outlives its original, an edit saved under a new name), these
follow the photo and are never lost while a photo with its content exists."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from photoclip.core.catalog.database import in_chunks

# A tag row that is a decision: the user set it, or accepted/rejected an auto tag.
DECIDED_TAG = "(source = 'user' OR accepted IS NOT NULL)"
# SQL true for a `photos` row (alias p) that carries any decision of the user's.
HAS_DECISIONS = (
    "(EXISTS(SELECT 1 FROM tags t WHERE t.photo_id = p.id "
    "AND (t.source = 'user' OR t.accepted IS NOT NULL)) "
    "OR EXISTS(SELECT 1 FROM album_photos a WHERE a.photo_id = p.id) "
    "OR p.rating > 0 OR p.favourite != 0)"
)


@dataclass
class Decisions:
    """One photo's decisions, kept while its row is gone (see RecentAdds)."""

    tags: list[dict[str, object]] = field(default_factory=list)  # tag rows, photo_id left out
    albums: list[int] = field(default_factory=list)
    rating: int = 0
    favourite: int = 0


def decided_ids(conn: sqlite3.Connection, ids: Iterable[int]) -> set[int]:
    """Those of `ids` that carry a decision of the user's."""
    out: set[int] = set()
    for chunk, marks in in_chunks(ids):
        out.update(int(r[0]) for r in conn.execute(
            f"SELECT p.id FROM photos p WHERE p.id IN ({marks}) AND {HAS_DECISIONS}", chunk))
    return out


def read(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, Decisions]:
    """The decisions of those of `ids` that have any."""
    out: dict[int, Decisions] = {}
    for chunk, marks in in_chunks(ids):
        cur = conn.execute(
            f"SELECT * FROM tags WHERE photo_id IN ({marks}) AND {DECIDED_TAG}", chunk)
        names = [d[0] for d in cur.description]
        for values in cur.fetchall():
            row = dict(zip(names, values, strict=True))
            pid = row.pop("photo_id")
            assert isinstance(pid, int)
            out.setdefault(pid, Decisions()).tags.append(row)
        for pid, album in conn.execute(
                f"SELECT photo_id, album_id FROM album_photos WHERE photo_id IN ({marks})", chunk):
            out.setdefault(int(pid), Decisions()).albums.append(int(album))
        for pid, rating, favourite in conn.execute(
                f"SELECT id, rating, favourite FROM photos WHERE id IN ({marks}) "
                "AND (rating > 0 OR favourite != 0)", chunk):
            d = out.setdefault(int(pid), Decisions())
            d.rating, d.favourite = int(rating), int(favourite)
    return out


def restore(conn: sqlite3.Connection, photo_id: int, d: Decisions) -> None:
    """Give `photo_id` the decisions `d` (a deleted photo's), keeping what it has already."""
    for row in d.tags:
        names = ["photo_id", *row]
        with contextlib.suppress(sqlite3.IntegrityError):  # its label was deleted since
            conn.execute(f"INSERT OR IGNORE INTO tags({', '.join(names)}) "
                         f"VALUES ({', '.join('?' * len(names))})", [photo_id, *row.values()])
    for album in d.albums:
        with contextlib.suppress(sqlite3.IntegrityError):  # the album was deleted since
            conn.execute("INSERT OR IGNORE INTO album_photos(album_id, photo_id) VALUES (?, ?)",
                         (album, photo_id))
    if d.rating or d.favourite:
        conn.execute("UPDATE photos SET rating = CASE WHEN rating > 0 THEN rating ELSE ? END, "
                     "favourite = max(favourite, ?) WHERE id = ?",
                     (d.rating, d.favourite, photo_id))


def follow(conn: sqlite3.Connection, keep_id: int, drop_id: int, *, all_tags: bool) -> None:
    """`drop_id`'s decisions join `keep_id`'s (the row that stays). Where both tag one label,
    a decision beats an undecided auto tag; otherwise `keep_id`'s tag wins. `all_tags`: the
    auto tags follow too (one photo under two rows), else only decided ones (an edit, whose new
    content was scored on its own). Albums join; a rating or favourite `drop_id` has wins over
    none."""
    conn.execute(
        f"""DELETE FROM tags WHERE photo_id = ? AND source = 'auto' AND accepted IS NULL
            AND label_id IN (SELECT label_id FROM tags WHERE photo_id = ? AND {DECIDED_TAG})""",
        (keep_id, drop_id))
    only = "" if all_tags else f" AND {DECIDED_TAG}"
    conn.execute(f"UPDATE OR IGNORE tags SET photo_id = ? WHERE photo_id = ?{only}",
                 (keep_id, drop_id))
    conn.execute("UPDATE OR IGNORE album_photos SET photo_id = ? WHERE photo_id = ?",
                 (keep_id, drop_id))
    conn.execute(
        """UPDATE photos SET
             rating = CASE WHEN d.rating > 0 THEN d.rating ELSE photos.rating END,
             favourite = max(photos.favourite, d.favourite)
           FROM (SELECT rating, favourite FROM photos WHERE id = ?) AS d
           WHERE photos.id = ?""", (drop_id, keep_id))


def clear(conn: sqlite3.Connection, ids: Iterable[int]) -> None:
    """Take the user's decisions off these photos (they were kept elsewhere first)."""
    for chunk, marks in in_chunks(ids):
        conn.execute(f"DELETE FROM tags WHERE photo_id IN ({marks}) AND {DECIDED_TAG}", chunk)
        conn.execute(f"DELETE FROM album_photos WHERE photo_id IN ({marks})", chunk)
        conn.execute(f"UPDATE photos SET rating = 0, favourite = 0 WHERE id IN ({marks})", chunk)
