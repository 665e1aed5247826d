"""Possible edits of tagged photos, kept for the user to judge: apply or dismiss.

An index run pairs a vanished photo carrying the user's tags with a near-identical new one in
its folder (edits.py). Between the two cosine bars it does not move the tags itself; it keeps
the pair here, with the vanished photo's tag rows (its row is deleted like any vanished
photo's), so that `photoclip edits --apply` or the window's "Review possible edits…" can carry
them over later with one click, in another process or days after.

Kept in a JSON file beside the catalog, written whole (storage.replacing): a few pairs, read
only when the user looks. Applying never merges two photos that both exist: when the vanished
photo's file is back, or a photo is catalogued at its path again, the pair is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from photoclip.core.catalog import Catalog
from photoclip.core.catalog.database import in_chunks
from photoclip.core.storage import replacing

log = logging.getLogger(__name__)

FILE_NAME = "edit_suggestions.json"
# One process writes at a time through this lock; another process (the CLI beside the window)
# re-reads the file just before each write, so only a pair found in the same instant is at risk.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class EditSuggestion:
    """A new photo that may be an edit of a vanished one, the user's tags to carry over."""

    id: int
    old_path: str
    new_path: str
    new_id: int
    similarity: float
    tags: tuple[str, ...]  # the names of the labels the user set or accepted
    old_hash: str | None = None  # the vanished photo's content (its cached thumbnail)
    new_hash: str | None = None
    found_at: float = 0.0  # time.time() when the run found it
    rows: tuple[dict[str, Any], ...] = field(default=(), repr=False)  # its tag rows
    albums: tuple[int, ...] = ()  # the vanished photo's plain albums, its stars and heart
    rating: int = 0
    favourite: bool = False

    @property
    def decisions(self) -> str:
        """What would be carried over, in words: "tags cat, beach; 2 albums; 4 stars"."""
        parts = [f"tags {', '.join(self.tags)}"] if self.tags else []
        if self.albums:
            parts.append(f"{len(self.albums)} album{'s' if len(self.albums) != 1 else ''}")
        if self.rating:
            parts.append(f"{self.rating} star{'s' if self.rating != 1 else ''}")
        if self.favourite:
            parts.append("favourite")
        return "; ".join(parts) or "nothing"


@dataclass(frozen=True)
class Refused:
    suggestion: EditSuggestion
    reason: str


def suggestions_path(catalog: Catalog) -> Path | None:
    """Where a catalog's suggestions are kept (None for a catalog in memory)."""
    path = Path(catalog.path)
    return None if str(path) == ":memory:" else path.with_name(FILE_NAME)


def load(path: Path | None) -> list[EditSuggestion]:
    if path is None or not path.exists():
        return []
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        return [EditSuggestion(**{**item, "tags": tuple(item["tags"]),
                                  "rows": tuple(item.get("rows", ())),
                                  "albums": tuple(item.get("albums", ()))}) for item in items]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("could not read %s (%s): the possible edits listed there are dropped",
                    path, exc)
        return []


def _save(path: Path, items: list[EditSuggestion]) -> None:
    if not items:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    with replacing(path) as tmp:
        tmp.write_text(json.dumps([asdict(s) for s in items], indent=1), encoding="utf-8")


def record(catalog: Catalog, pairs: Iterable[tuple[str, str, float, tuple[str, ...], int,
                                                    str | None, int]]) -> None:
    """Keep (old path, new path, cosine, tag names, old id, old hash, new id) pairs, with the
    old photo's tag rows, read now (before its row goes)."""
    pairs = list(pairs)
    path = suggestions_path(catalog)
    if not pairs or path is None:
        return
    old_ids, new_ids = [p[4] for p in pairs], [p[6] for p in pairs]
    rows = _decision_rows(catalog, old_ids)
    albums: dict[int, list[int]] = {}
    stars: dict[int, tuple[int, bool]] = {}
    hashes: dict[int, str | None] = {}
    for chunk, marks in in_chunks(old_ids):
        for album_id, pid in catalog.query(
                f"SELECT album_id, photo_id FROM album_photos WHERE photo_id IN ({marks})", chunk):
            albums.setdefault(int(pid), []).append(int(album_id))
        stars.update((int(i), (int(r), bool(f))) for i, r, f in catalog.query(
            f"SELECT id, rating, favourite FROM photos WHERE id IN ({marks})", chunk))
    for chunk, marks in in_chunks(new_ids):
        hashes.update((int(i), h) for i, h in catalog.query(
            f"SELECT id, hash FROM photos WHERE id IN ({marks})", chunk))
    with _LOCK:
        items = load(path)
        new_pairs = {(p[0], p[1]) for p in pairs}
        items = [s for s in items if (s.old_path, s.new_path) not in new_pairs]
        next_id = max((s.id for s in items), default=0) + 1
        now = time.time()
        for n, (old, new, sim, tags, old_id, old_hash, new_id) in enumerate(pairs):
            items.append(EditSuggestion(
                next_id + n, old, new, new_id, sim, tags, old_hash, hashes.get(new_id), now,
                tuple(rows.get(old_id, ())), tuple(albums.get(old_id, ())),
                *stars.get(old_id, (0, False))))
        _save(path, items)


def _decision_rows(catalog: Catalog, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The user's tags and decisions of `ids`, as column: value (photo_id left out)."""
    out: dict[int, list[dict[str, Any]]] = {}
    names = [str(r[1]) for r in catalog.query("PRAGMA table_info(tags)")]  # SELECT *'s order
    for chunk, marks in in_chunks(ids):
        for values in catalog.query(f"SELECT * FROM tags WHERE photo_id IN ({marks}) "
                                    "AND (source = 'user' OR accepted IS NOT NULL)", chunk):
            row = dict(zip(names, values, strict=True))
            out.setdefault(int(row.pop("photo_id")), []).append(row)
    return out


def current(catalog: Catalog) -> list[EditSuggestion]:
    """The suggestions still to judge: those whose new photo is still in the library (the
    rest are dropped from the file)."""
    path = suggestions_path(catalog)
    with _LOCK:
        items = load(path)
        if not items or path is None:
            return items
        alive = _alive(catalog, items)
        kept = [s for s in items if s.id in alive]
        if len(kept) != len(items):
            _save(path, kept)
        return kept


def _alive(catalog: Catalog, items: list[EditSuggestion]) -> set[int]:
    """Ids of the suggestions whose new photo is still catalogued at its path."""
    by_id = {s.new_id: s for s in items}
    found: set[int] = set()
    for chunk, marks in in_chunks(by_id):
        for pid, path in catalog.query(
                f"SELECT id, path FROM photos WHERE id IN ({marks}) AND status = 'ok'", chunk):
            if by_id[int(pid)].new_path == path:
                found.add(by_id[int(pid)].id)
    return found


def why_not(catalog: Catalog, s: EditSuggestion) -> str | None:
    """Why this pair cannot be applied now, or None."""
    new = catalog.photo(s.new_id)
    if new is None or new.path != s.new_path:
        return "the new photo is no longer in the library"
    if os.path.lexists(s.old_path) or catalog.photo_by_path(s.old_path) is not None:
        return ("the original is back on disk: both photos exist, so their tags are kept "
                "apart")
    return None


def apply(catalog: Catalog, ids: Iterable[int] | None = None,
          ) -> tuple[list[EditSuggestion], list[Refused]]:
    """Carry the user's tags of the chosen suggestions (all when `ids` is None) to their new
    photos, as an automatic carry-over would have: the user's decision beats the new photo's
    undecided auto tag of the same label. Returns those applied and those refused (with why);
    both leave the list."""
    wanted = None if ids is None else set(ids)
    path = suggestions_path(catalog)
    applied: list[EditSuggestion] = []
    refused: list[Refused] = []
    with _LOCK:
        items = load(path)
        chosen = [s for s in items if wanted is None or s.id in wanted]
        for s in chosen:
            reason = why_not(catalog, s)
            if reason is not None:
                refused.append(Refused(s, reason))
                continue
            with catalog.transaction() as conn:
                for row in s.rows:
                    conn.execute("DELETE FROM tags WHERE photo_id = ? AND label_id = ? AND "
                                 "source = 'auto' AND accepted IS NULL",
                                 (s.new_id, row["label_id"]))
                    names = ["photo_id", *row]
                    with contextlib.suppress(sqlite3.IntegrityError):  # its label is gone
                        conn.execute(
                            f"INSERT OR IGNORE INTO tags({', '.join(names)}) "
                            f"VALUES ({', '.join('?' * len(names))})", [s.new_id, *row.values()])
                for album_id in s.albums:  # an album deleted since: nothing to join
                    conn.execute("INSERT OR IGNORE INTO album_photos(album_id, photo_id) "
                                 "SELECT id, ? FROM albums WHERE id = ?", (s.new_id, album_id))
                # a rating or heart given to the new photo meanwhile is the newer decision
                conn.execute("UPDATE photos SET rating = CASE WHEN rating > 0 THEN rating "
                             "ELSE ? END, favourite = max(favourite, ?) WHERE id = ?",
                             (s.rating, int(s.favourite), s.new_id))
            applied.append(s)
        if path is not None and chosen:
            done = {s.id for s in chosen}
            _save(path, [s for s in load(path) if s.id not in done])
    return applied, refused


def dismiss(catalog: Catalog, ids: Iterable[int] | None = None) -> list[EditSuggestion]:
    """Forget the chosen suggestions (all when `ids` is None): the tags stay where they are."""
    wanted = None if ids is None else set(ids)
    path = suggestions_path(catalog)
    with _LOCK:
        items = load(path)
        gone = [s for s in items if wanted is None or s.id in wanted]
        if path is not None and gone:
            _save(path, [s for s in items if s not in gone])
    return gone
