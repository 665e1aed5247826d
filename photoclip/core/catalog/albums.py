"""The catalog's albums (tables `albums`, `album_photos`) and the user's ratings and favourites
(columns `photos.rating`, `photos.favourite`).

An album holds photo ids, so it follows a photo through moves and renames (its row keeps its
id) and through a move across drives (`Photos.merge_photo` carries the membership over); a
photo that leaves the library leaves its albums. A smart album holds a query instead, which the
searcher re-runs (core/library_albums.py), so it is always as the library is now.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from photoclip.core.catalog.database import Database, in_chunks
from photoclip.core.errors import NotFoundError, PhotoclipError

MAX_RATING = 5


@dataclass(frozen=True)
class Album:
    id: int
    name: str
    query: str | None  # a smart album's saved query; None for a plain album
    created_at: str
    count: int  # photos in a plain album; 0 for a smart one (its query decides)

    @property
    def smart(self) -> bool:
        return self.query is not None


def _clean_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean:
        raise PhotoclipError("An album needs a name, e.g. Holiday.")
    try:
        clean.encode("utf-8")
    except UnicodeEncodeError:
        raise PhotoclipError(f"The album name {name!a} holds bytes that are not UTF-8 "
                             "text: set the terminal to UTF-8 and type it again.") from None
    return clean


class AlbumStore(Database):
    """Albums, their photos, and ratings and favourites."""

    _ALBUM_SQL = """SELECT a.id, a.name, a.query, a.created_at,
                           (SELECT count(*) FROM album_photos ap JOIN photos p
                              ON p.id = ap.photo_id AND p.status = 'ok'
                            WHERE ap.album_id = a.id)
                    FROM albums a"""

    # -- albums -----------------------------------------------------------------------------

    def albums(self) -> list[Album]:
        rows = self.query(self._ALBUM_SQL + " ORDER BY a.name COLLATE NOCASE")
        return [Album(int(i), str(n), q, str(c), int(k)) for i, n, q, c, k in rows]

    def album(self, name: str) -> Album | None:
        """The album called `name` (case does not matter), or None."""
        rows = self.query(self._ALBUM_SQL + " WHERE a.name = ? COLLATE NOCASE",
                          (" ".join(name.split()),))
        if not rows:
            return None
        i, n, q, c, k = rows[0]
        return Album(int(i), str(n), q, str(c), int(k))

    def find_album(self, name: str) -> Album:
        album = self.album(name)
        if album is None:
            raise NotFoundError(f"No album named {name!r}: see `photoclip albums list`.")
        return album

    def create_album(self, name: str, query: str | None = None) -> Album:
        """A new album; with `query`, a smart album (the query is checked by the caller)."""
        clean = _clean_name(name)
        try:
            with self.transaction() as c:
                c.execute("INSERT INTO albums(name, query) VALUES (?, ?)", (clean, query))
        except sqlite3.IntegrityError:
            raise PhotoclipError(f"There is already an album named {clean!r}: pick another "
                                 "name, or add to that one.") from None
        return self.find_album(clean)

    def rename_album(self, name: str, new_name: str) -> Album:
        album = self.find_album(name)
        clean = _clean_name(new_name)
        try:
            with self.transaction() as c:
                c.execute("UPDATE albums SET name = ? WHERE id = ?", (clean, album.id))
        except sqlite3.IntegrityError:
            raise PhotoclipError(f"There is already an album named {clean!r}.") from None
        return self.find_album(clean)

    def set_album_query(self, name: str, query: str) -> Album:
        """Change a smart album's saved query."""
        album = self.find_album(name)
        if not album.smart:
            raise PhotoclipError(f"{album.name} is not a smart album: it holds photos, not a "
                                 "query.")
        with self.transaction() as c:
            c.execute("UPDATE albums SET query = ? WHERE id = ?", (query, album.id))
        return self.find_album(album.name)

    def delete_album(self, name: str) -> Album:
        """Forget an album (its photos stay in the library)."""
        album = self.find_album(name)
        with self.transaction() as c:
            c.execute("DELETE FROM albums WHERE id = ?", (album.id,))
        return album

    def _plain(self, name: str) -> Album:
        album = self.find_album(name)
        if album.smart:
            raise PhotoclipError(
                f"{album.name} is a smart album: its query ({album.query}) chooses its photos; "
                "make a plain album to pick photos by hand.")
        return album

    def add_to_album(self, name: str, photo_ids: Iterable[int]) -> int:
        """Put photos in a plain album; returns how many were not in it already."""
        album = self._plain(name)
        added = 0
        with self.transaction() as c:
            for pid in dict.fromkeys(photo_ids):
                cur = c.execute(
                    "INSERT OR IGNORE INTO album_photos(album_id, photo_id) VALUES (?, ?)",
                    (album.id, int(pid)))
                added += cur.rowcount
        return added

    def remove_from_album(self, name: str, photo_ids: Iterable[int]) -> int:
        """Take photos out of a plain album (they stay in the library); returns how many."""
        album = self._plain(name)
        removed = 0
        with self.transaction() as c:
            for chunk, marks in in_chunks(dict.fromkeys(photo_ids)):
                cur = c.execute(f"DELETE FROM album_photos WHERE album_id = ? "
                                f"AND photo_id IN ({marks})", [album.id, *chunk])
                removed += cur.rowcount
        return removed

    def album_photo_ids(self, album_id: int) -> list[int]:
        """A plain album's indexed photos, in the order they were added."""
        rows = self.query(
            "SELECT ap.photo_id FROM album_photos ap JOIN photos p ON p.id = ap.photo_id "
            "WHERE ap.album_id = ? AND p.status = 'ok' ORDER BY ap.added_at, p.path",
            (album_id,))
        return [int(r[0]) for r in rows]

    def albums_of(self, photo_ids: Sequence[int]) -> dict[int, list[str]]:
        """photo id -> the names of the plain albums it is in (the viewer, the tag panel)."""
        out: dict[int, list[str]] = {}
        for chunk, marks in in_chunks(photo_ids):
            for pid, name in self.query(
                    f"SELECT ap.photo_id, a.name FROM album_photos ap JOIN albums a "
                    f"ON a.id = ap.album_id WHERE ap.photo_id IN ({marks}) "
                    "ORDER BY a.name COLLATE NOCASE", chunk):
                out.setdefault(int(pid), []).append(str(name))
        return out

    # -- ratings and favourites -------------------------------------------------------------

    def set_rating(self, photo_ids: Iterable[int], rating: int) -> list[int]:
        """Give photos `rating` stars (0 = unrated); returns the ids whose rating changed."""
        if not 0 <= rating <= MAX_RATING:
            raise PhotoclipError(f"A rating is 0 to {MAX_RATING} stars, not {rating}.")
        return self._set_column("rating", photo_ids, rating)

    def set_favourite(self, photo_ids: Iterable[int], on: bool = True) -> list[int]:
        """Mark photos favourite (or not); returns the ids that changed."""
        return self._set_column("favourite", photo_ids, int(on))

    def _set_column(self, column: str, photo_ids: Iterable[int], value: int) -> list[int]:
        changed: list[int] = []
        with self.transaction() as c:
            for chunk, marks in in_chunks(dict.fromkeys(photo_ids)):
                changed += [int(r[0]) for r in c.execute(
                    f"UPDATE photos SET {column} = ? WHERE id IN ({marks}) AND {column} != ? "
                    "RETURNING id", [value, *chunk, value])]
        return changed

    def ratings(self, photo_ids: Iterable[int]) -> dict[int, tuple[int, bool]]:
        """photo id -> (stars, favourite)."""
        out: dict[int, tuple[int, bool]] = {}
        for chunk, marks in in_chunks(photo_ids):
            for pid, rating, fav in self.query(
                    f"SELECT id, rating, favourite FROM photos WHERE id IN ({marks})", chunk):
                out[int(pid)] = (int(rating), bool(fav))
        return out
