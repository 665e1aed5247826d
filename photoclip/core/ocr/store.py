"""The words in photos, in the catalog: table `photo_text` (schema v6), keyed to content hash.

Matching runs on the compact normalised text (`norm`). Where this SQLite has FTS5's trigram
tokenizer (3.34+; Python 3.11 builds carry 3.40+) a trigram index `photo_text_fts` over `norm`
narrows candidates for query words of 3+ characters, sub-strings included ("re16" finds
"re16tgk"). A trigram index cannot answer anything shorter than a trigram: with 3.40.1 `发票`
finds nothing by MATCH, LIKE or GLOB. Words of 1-2 characters (most Chinese words), and every
word where the tokenizer is missing (or the catalog is read-only and the index was never made),
go through a scan with instr() on `norm` instead: linear, but over short strings, ~10 ms per
10,000 photos with text. Only photos whose state is 'text' take part either way.

The FTS table is a cache of `photo_text`, created and filled here on first need (not in a
migration, since whether it can exist depends on the SQLite the catalog is opened with).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from photoclip.core.catalog import Catalog
from photoclip.core.catalog.database import in_chunks
from photoclip.core.ocr.engine import Line
from photoclip.core.ocr.normalise import compact

log = logging.getLogger(__name__)

FTS_TABLE = "photo_text_fts"
# Shorter query words cannot use a trigram index.
TRIGRAM = 3


@dataclass(frozen=True)
class PhotoText:
    """What was read in one photo's content."""

    hash: str
    state: str  # text | none | skipped | failed
    text: str
    lines: tuple[Line, ...]
    error: str | None = None


class TextStore:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._fts: bool | None = None

    # -- writing ---------------------------------------------------------------------------

    def put(self, digest: str, state: str, lines: Sequence[Line] = (),
            error: str | None = None) -> None:
        """Record what reading one content gave (replacing what was there)."""
        text = "\n".join(line.text for line in lines)
        norm = compact(" ".join(line.text for line in lines))
        payload = json.dumps([[ln.text, ln.confidence, [list(p) for p in ln.box]]
                              for ln in lines], ensure_ascii=False) if lines else None
        fts = self.has_fts()
        with self.catalog.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO photo_text(hash, state, text, norm, lines, error, read_at) "
                "VALUES (?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%S', 'now'))",
                (digest, state, text, norm, payload, error))
            if fts:
                conn.execute(f"DELETE FROM {FTS_TABLE} WHERE hash = ?", (digest,))
                if state == "text":
                    conn.execute(f"INSERT INTO {FTS_TABLE}(hash, norm) VALUES (?, ?)",
                                 (digest, norm))

    def forget(self, digests: Iterable[str]) -> None:
        items = list(digests)
        fts = self.has_fts()
        with self.catalog.transaction() as conn:
            for chunk, marks in in_chunks(items):
                conn.execute(f"DELETE FROM photo_text WHERE hash IN ({marks})", chunk)
                if fts:
                    conn.execute(f"DELETE FROM {FTS_TABLE} WHERE hash IN ({marks})", chunk)

    def prune(self) -> int:
        """Forget the text of contents no photo has any more (deleted, or changed: a rotated
        photo has a new hash and is read again)."""
        gone = [str(h) for (h,) in self.catalog.query(
            "SELECT t.hash FROM photo_text t WHERE NOT EXISTS "
            "(SELECT 1 FROM photos p WHERE p.hash = t.hash)")]
        if gone and not self.catalog.read_only:
            self.forget(gone)
        return len(gone)

    # -- the trigram index -----------------------------------------------------------------

    def has_fts(self) -> bool:
        """Whether the trigram index exists (made and filled now if it can be)."""
        if self._fts is None:
            self._fts = self._ensure_fts()
        return self._fts

    def _ensure_fts(self) -> bool:
        if self.catalog.query("SELECT 1 FROM sqlite_master WHERE name = ?", (FTS_TABLE,)):
            return True
        if self.catalog.read_only:
            return False
        try:
            with self.catalog.transaction() as conn:
                conn.execute(f"CREATE VIRTUAL TABLE {FTS_TABLE} USING "
                             "fts5(hash UNINDEXED, norm, tokenize = 'trigram')")
                conn.execute(f"INSERT INTO {FTS_TABLE}(hash, norm) "
                             "SELECT hash, norm FROM photo_text WHERE state = 'text'")
        except sqlite3.Error as exc:  # no FTS5, or no trigram tokenizer (SQLite < 3.34)
            log.info("no trigram index for photo text (%s, SQLite %s): substring scan instead",
                     exc, sqlite3.sqlite_version)
            return False
        return True

    # -- reading ---------------------------------------------------------------------------

    def get(self, digest: str) -> PhotoText | None:
        rows = self.catalog.query(
            "SELECT hash, state, text, lines, error FROM photo_text WHERE hash = ?", (digest,))
        if not rows:
            return None
        h, state, text, payload, error = rows[0]
        lines: list[Line] = []
        for item in json.loads(payload) if payload else ():
            lines.append(Line(str(item[0]), float(item[1]),
                              tuple((int(x), int(y)) for x, y in item[2])))
        return PhotoText(str(h), str(state), str(text), tuple(lines), error)

    def candidates(self, parts: Sequence[str]) -> dict[str, str]:
        """hash -> compact text of every photo with text containing every part (compact
        strings) as a sub-string."""
        parts = [p for p in parts if p]
        if not parts:
            return {}
        long = [p for p in parts if len(p) >= TRIGRAM]
        short = [p for p in parts if len(p) < TRIGRAM]
        if long and self.has_fts():
            match = " AND ".join('"' + p.replace('"', '""') + '"' for p in long)
            sql = (f"SELECT hash, norm FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?"
                   + "".join(" AND instr(norm, ?) > 0" for _ in short))
            rows = self.catalog.query(sql, (match, *short))
        else:
            sql = ("SELECT hash, norm FROM photo_text WHERE state = 'text'"
                   + "".join(" AND instr(norm, ?) > 0" for _ in parts))
            rows = self.catalog.query(sql, tuple(parts))
        # FTS5's trigram matching folds case by itself; instr() on the stored compact form
        # checks again exactly (compact is already casefolded).
        return {str(h): str(n) for h, n in rows if all(p in str(n) for p in parts)}

    def texts(self, digests: Iterable[str]) -> dict[str, str]:
        """hash -> the recognised text as spaced lines, for the contents that have text."""
        out: dict[str, str] = {}
        for chunk, marks in in_chunks(list(digests)):
            for h, text in self.catalog.query(
                    f"SELECT hash, text FROM photo_text WHERE state = 'text' AND hash IN "
                    f"({marks})", chunk):
                out[str(h)] = str(text)
        return out

    def counts(self) -> dict[str, int]:
        """How many of the library's photo contents are read, with text, skipped, failed."""
        rows = self.catalog.query(
            "SELECT t.state, count(*) FROM photo_text t WHERE EXISTS "
            "(SELECT 1 FROM photos p WHERE p.hash = t.hash AND p.status = 'ok') "
            "GROUP BY t.state")
        return {str(s): int(n) for s, n in rows}
