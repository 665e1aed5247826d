"""The disk against the catalog: what is new, changed, gone, and what only moved.

A new path with the content of a vanished one is a move: the photo keeps its id, embedding and
tags. Moves are matched by an event's hint (same size and mtime: not even read), else by hash,
reading only files whose size matches a vanished photo. A move across drives arrives as a copy
and, minutes later, a deletion: RecentAdds remembers what update() added lately so the two
rows become one again.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from photoclip.core.catalog import Catalog, FileState
from photoclip.core.indexing.content import hash_path
from photoclip.core.indexing.decode import FileTask
from photoclip.core.indexing.report import IndexReport
from photoclip.core.vectors import VectorIndex

# How long a photo added by update() is remembered as a possible copy of one deleted later: a
# move across drives copies first and deletes the original when the copy is done, which for a
# large folder over USB or a network can take minutes.
MERGE_WINDOW_S = 600.0

# A move: (the catalog's state of the old path, new path, root id, size, mtime_ns)
Move = tuple[FileState, str, int, int, int]


@dataclass
class Diff:
    """Disk against catalog for some paths, before moves are matched."""

    gone: dict[str, FileState] = field(default_factory=dict)  # in the catalog, not on disk
    new: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # path: root, size, mtime
    tasks: list[FileTask] = field(default_factory=list)  # to read (and maybe embed)
    hints: dict[str, str] = field(default_factory=dict)  # new path: path an event moved it from
    preset: dict[str, str] = field(default_factory=dict)  # path: why it fails without a read
    retry: set[str] = field(default_factory=set)  # failed paths to read again though unchanged
    placed: list[str] = field(default_factory=list)  # paths given a row: moved there, or new

    def add_task(self, root_id: int, path: str, known: FileState | None, size: int, mtime: int,
                 remember: bool = False) -> None:
        # Known to fail without a read: spare the thread, the open and the decode.
        error = self.preset.get(path) or ("empty file (0 bytes)" if size == 0 else None)
        self.tasks.append(FileTask(root_id, path, known, remember, size, mtime, error))

    def classify(self, known: dict[str, FileState], on_disk: dict[str, tuple[int, int, int]],
                 report: IndexReport) -> None:
        """Sort one scan (path: root id, size, mtime) against the catalog's rows for it."""
        self.gone.update((p, st) for p, st in known.items() if p not in on_disk)
        for path, (root_id, size, mtime) in on_disk.items():
            st = known.get(path)
            if st is None:
                self.new[path] = (root_id, size, mtime)
            else:
                self.check_known(root_id, path, st, size, mtime, report)

    def check_known(self, root_id: int, path: str, st: FileState, size: int, mtime: int,
                    report: IndexReport) -> None:
        """A catalogued path found on disk: read it again if it changed (or must be retried,
        or has no embedding from this model), else count it unchanged."""
        if (st.size, st.mtime_ns) != (size, mtime) or (
                st.status == "failed" and path in self.retry):
            self.add_task(root_id, path, st, size, mtime)
        elif st.status == "ok" and not st.has_embedding:
            # e.g. the library switched model
            self.add_task(root_id, path, None, size, mtime)
        else:
            report.unchanged += 1  # failed files are retried only once they change


def match_moves(diff: Diff) -> list[Move]:
    """A new path with the content of a vanished one is a move: keep id, embedding, tags.

    A move an event reported, with the same size and mtime at the new path, is the same
    file (a rename keeps both), so it is not read. Otherwise only files whose size matches
    a vanished photo are hashed, so a plain import of new photos pays nothing extra.
    The moves are taken out of `diff`.
    """
    moves: list[Move] = []
    for dest, src in diff.hints.items():
        old, new = diff.gone.get(src), diff.new.get(dest)
        if old is not None and new is not None and (old.size, old.mtime_ns) == new[1:]:
            moves.append((diff.gone.pop(src), dest, *diff.new.pop(dest)))
    if not diff.gone or not diff.new:
        return moves
    by_size: dict[int, list[str]] = defaultdict(list)
    for path, st in diff.gone.items():
        if st.hash:
            by_size[st.size].append(path)
    for path, (root_id, size, mtime) in list(diff.new.items()):
        candidates = by_size.get(size)
        if not candidates or path in diff.preset:
            continue
        try:
            digest = hash_path(path)
        except OSError:
            continue
        match = next((p for p in candidates if diff.gone[p].hash == digest), None)
        if match is None:
            continue
        candidates.remove(match)
        del diff.new[path]
        moves.append((diff.gone.pop(match), path, root_id, size, mtime))
    return moves


class RecentAdds:
    """Photos update() added lately, by content hash, for MERGE_WINDOW_S."""

    def __init__(self, window_s: float = MERGE_WINDOW_S) -> None:
        self.window_s = window_s
        self._by_hash: dict[str, list[tuple[int, float]]] = defaultdict(list)  # (id, when)
        self._order: deque[tuple[float, str]] = deque()  # oldest first

    def remember(self, digest: str, photo_id: int) -> None:
        now = time.monotonic()
        self._by_hash[digest].append((photo_id, now))
        self._order.append((now, digest))

    def match(self, diff: Diff, catalog: Catalog) -> list[tuple[int, int]]:
        """A vanished photo whose content update() added lately under another path was moved
        by copy-then-delete, seen in two batches: (kept id, dropped copy id) per such pair,
        taken out of `diff.gone`."""
        self._forget_old()
        if not self._by_hash:
            return []
        gone_ids = {st.id for st in diff.gone.values()}
        merges: list[tuple[int, int]] = []
        for path, st in list(diff.gone.items()):
            if not st.hash or st.status != "ok" or not st.has_embedding:
                continue
            for twin, _ in self._by_hash.get(st.hash, ()):
                photo = catalog.photo(twin)
                if (twin not in gone_ids and photo is not None and photo.hash == st.hash
                        and photo.status == "ok"):
                    merges.append((st.id, twin))
                    self._by_hash[st.hash] = [e for e in self._by_hash[st.hash] if e[0] != twin]
                    del diff.gone[path]
                    break
        return merges

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - self.window_s
        while self._order and self._order[0][0] < cutoff:
            _, digest = self._order.popleft()
            kept = [e for e in self._by_hash.get(digest, ()) if e[1] >= cutoff]
            if kept:
                self._by_hash[digest] = kept
            else:
                self._by_hash.pop(digest, None)


def settle(diff: Diff, catalog: Catalog, vectors: VectorIndex, recent: RecentAdds,
           report: IndexReport, remember: bool = False) -> None:
    """Moves keep their rows, the rest of the gone leave, the rest of the new become tasks
    (`remember`: as photos a later deletion may turn out to be a move of).

    Files are read for hashing before the transaction, so the catalog is not held while
    the disk works."""
    for path in diff.gone.keys() & diff.new.keys():
        # The same path under another root (a root was nested into this one): re-home it.
        st = diff.gone.pop(path)
        root_id, size, mtime = diff.new.pop(path)
        catalog.move_photo(st.id, root_id, path, st.size, st.mtime_ns)
        diff.check_known(root_id, path, st, size, mtime, report)
    moves = match_moves(diff)
    merges = recent.match(diff, catalog)
    dropped = [drop for _, drop in merges]
    gone_ids = [st.id for st in diff.gone.values()]
    with catalog.transaction():
        for st, path, root_id, size, mtime in moves:
            catalog.move_photo(st.id, root_id, path, size, mtime)
            if st.status == "ok" and not st.has_embedding:  # still needs this model's
                diff.add_task(root_id, path, None, size, mtime)
        for keep, drop in merges:
            catalog.merge_photo(keep, drop)
        if gone_ids:
            catalog.delete_photos(gone_ids)
    if dropped or gone_ids:
        vectors.remove([*dropped, *gone_ids])
    # (A name that is not UTF-8 has a catalog key that is not its path: left out.)
    diff.placed.extend(p for _, p, *_ in moves if p not in diff.preset)
    diff.placed.extend(p for p in diff.new if p not in diff.preset)
    report.moved += len(moves) + len(merges)
    report.removed += len(gone_ids)
    diff.gone.clear()
    for p, (root_id, size, mtime) in diff.new.items():
        diff.add_task(root_id, p, None, size, mtime, remember)
    diff.new.clear()
