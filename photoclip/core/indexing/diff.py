"""The disk against the catalog: what is new, changed, gone, and what only moved.

A new path with the content of a vanished one is a move: the photo keeps its id, embedding and
tags. Moves are matched by an event's hint (same size and mtime: not even read), else by hash,
reading only files whose size matches a vanished photo; of several files with its content, the
one with the vanished photo's (device, inode) is the moved original, the others are copies. A
move across drives arrives as a copy and, minutes later, a deletion: RecentAdds remembers what
update() added lately so the two rows become one again. A vanished photo with the user's tags
in a folder where new photos appeared may have been edited: edits.py.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from photoclip.core.catalog import Catalog, FileState, decisions
from photoclip.core.indexing.content import hash_path
from photoclip.core.indexing.decode import FileTask
from photoclip.core.indexing.edits import Held, hold_for_edits, resolve_edits
from photoclip.core.indexing.report import IndexReport
from photoclip.core.indexing.scan import FileId
from photoclip.core.vectors import VectorIndex

# How long a photo added by update() is remembered as a possible copy of one deleted later: a
# move across drives copies first and deletes the original when the copy is done, which for a
# large folder over USB or a network can take minutes.
MERGE_WINDOW_S = 600.0

# A move: (the catalog's state of the old path, new path, root id, size, mtime_ns)
Move = tuple[FileState, str, int, int, int]
# Told once a diff's moves and removals are committed: [(old path, new path)], [removed path].
OnMoved = Callable[[list[tuple[str, str]], list[str]], None]


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
    ids: dict[str, FileId | None] = field(default_factory=dict)  # path: (dev, ino) on disk
    reidentified: dict[str, FileId | None] = field(default_factory=dict)  # unchanged, new id
    held: Held = field(default_factory=Held)  # vanished, perhaps edited: see edits.py
    # rows whose file now lies at another path of this diff (names swapped): see follow_files
    left: list[FileState] = field(default_factory=list)

    def add_task(self, root_id: int, path: str, known: FileState | None, size: int, mtime: int,
                 remember: bool = False) -> None:
        # Known to fail without a read: spare the thread, the open and the decode.
        error = self.preset.get(path) or ("empty file (0 bytes)" if size == 0 else None)
        self.tasks.append(FileTask(root_id, path, known, remember, size, mtime, error,
                                   self.ids.get(path)))

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
        self.follow_files(known)

    def follow_files(self, known: dict[str, FileState]) -> None:
        """A changed path whose recorded file (device, inode) now lies at another path of this
        diff: the file moved away and another took its place (two photos swapped names: a ->
        tmp, b -> a, tmp -> b). The row stays with its path, but the user's decisions follow
        the file: they are kept by content and go to whichever path is read with it."""
        here = set(self.ids.values())
        for task in self.tasks:
            st = task.known
            if (st is not None and st.ident is not None and st.hash
                    and self.ids.get(task.path) not in (None, st.ident) and st.ident in here):
                self.left.append(st)

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
            if path in self.ids and self.ids[path] != st.ident:
                self.reidentified[path] = self.ids[path]  # e.g. first seen before v6, or copied


def match_moves(diff: Diff) -> list[Move]:
    """A new path with the content of a vanished one is a move: keep id, embedding, tags.

    A move an event reported, with the same size and mtime at the new path, is the same
    file (a rename keeps both), so it is not read. Otherwise only files whose size matches
    a vanished photo are hashed, so a plain import of new photos pays nothing extra. Of the
    files with a vanished photo's content, the one with its (device, inode) is the file that
    was moved and gets the photo (a copy made beside it stays a new photo); where there is
    none (no inode numbers, a move across drives) the first by path does.
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
    same: list[tuple[str, str]] = []  # (new path, vanished path) with the same content
    for path, (_, size, _) in diff.new.items():
        candidates = by_size.get(size)
        if not candidates or path in diff.preset:
            continue
        try:
            digest = hash_path(path)
        except OSError:
            continue
        same += [(path, p) for p in candidates if diff.gone[p].hash == digest]

    def not_the_moved_file(pair: tuple[str, str]) -> bool:
        ident = diff.ids.get(pair[0])
        return ident is None or ident != diff.gone[pair[1]].ident

    for path, was in sorted(same, key=not_the_moved_file):  # stable: else in scan order
        if path in diff.new and was in diff.gone:
            moves.append((diff.gone.pop(was), path, *diff.new.pop(path)))
    return moves


class RecentAdds:
    """Photos update() added lately, by content hash, for MERGE_WINDOW_S; and the user's tags
    and decisions of photos deleted lately, by content hash, so that a photo with that content
    added later (the moved original, seen only after its deletion in a storm of events) gets
    them back: a user tag never disappears while a photo with its content exists."""

    def __init__(self, window_s: float = MERGE_WINDOW_S) -> None:
        self.window_s = window_s
        self._by_hash: dict[str, list[tuple[int, float]]] = defaultdict(list)  # (id, when)
        self._order: deque[tuple[float, str]] = deque()  # oldest first
        # folder: (when, path) of the photos added there, oldest first; and every add's (when,
        # folder) in order, so old ones leave in O(1) however many folders there are
        self._paths: dict[str, deque[tuple[float, str]]] = {}
        self._path_order: deque[tuple[float, str]] = deque()
        # hash: (when, the deleted photo's decisions)
        self._decisions: dict[str, tuple[float, decisions.Decisions]] = {}

    def keep_decisions(self, conn: sqlite3.Connection, gone: list[FileState]) -> None:
        """Remember the user's decisions (tags, albums, rating) of `gone` photos, about to be
        deleted."""
        by_id = {st.id: st.hash for st in gone if st.hash}
        now = time.monotonic()
        for pid, kept in decisions.read(conn, by_id).items():
            digest = by_id[pid]
            if digest in self._decisions:  # two rows with one content: both sets are kept
                old = self._decisions[digest][1]
                kept.tags += old.tags
                kept.albums += old.albums
                kept.rating, kept.favourite = (max(kept.rating, old.rating),
                                               max(kept.favourite, old.favourite))
            self._decisions[digest] = (now, kept)

    def restore_decisions(self, conn: sqlite3.Connection, digest: str, photo_id: int) -> None:
        """Give a photo just added the decisions a deleted photo with its content had."""
        if not self._decisions:
            return
        cutoff = time.monotonic() - self.window_s
        self._decisions = {h: e for h, e in self._decisions.items() if e[0] >= cutoff}
        if (entry := self._decisions.pop(digest, None)) is not None:
            decisions.restore(conn, photo_id, entry[1])

    def remember(self, digest: str, photo_id: int, path: str) -> None:
        now = time.monotonic()
        self._by_hash[digest].append((photo_id, now))
        self._order.append((now, digest))
        folder = os.path.dirname(path)
        self._paths.setdefault(folder, deque()).append((now, path))
        self._path_order.append((now, folder))
        self._forget_old_paths()

    def paths_in(self, folders: set[str]) -> set[str]:
        """Photos update() added lately in `folders`: an edit saved under a new name is often
        heard a batch before its original's deletion, and must still take over its tags."""
        self._forget_old_paths()
        return {p for f in folders for _, p in self._paths.get(f, ())}

    def _forget_old_paths(self) -> None:
        cutoff = time.monotonic() - self.window_s
        while self._path_order and self._path_order[0][0] < cutoff:
            _, folder = self._path_order.popleft()
            added = self._paths.get(folder)
            if added:
                added.popleft()  # the oldest there is this very add
                if not added:
                    del self._paths[folder]

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


def merge_into_twins(diff: Diff, catalog: Catalog, taken: set[int]) -> list[tuple[int, int]]:
    """A vanished photo carrying the user's tags or decisions whose content is still in the
    library under another row (a copy made earlier, or the moved original indexed as new when
    a storm of events hid the move) is merged into it rather than deleted: a user tag never
    disappears while a photo with its content exists. (kept id, dropped twin id) per pair,
    taken out of `diff.gone`; `taken` are ids already kept or moved."""
    gone = {st.id: (path, st) for path, st in diff.gone.items()
            if st.hash and st.status == "ok" and st.has_embedding}
    if not gone:
        return []
    decided = catalog.decided_photo_ids(gone)
    if not decided:
        return []
    gone_ids = {st.id for st in diff.gone.values()}
    merges: list[tuple[int, int]] = []
    for pid in sorted(decided):
        path, st = gone[pid]
        # The twin most likely to be this very file moved: the one with its (device, inode),
        # then one without decisions of its own, then the newest row.
        twins = catalog.query(
            "SELECT p.id FROM photos p WHERE p.hash = ? AND p.status = 'ok' ORDER BY "
            "(p.dev = ? AND p.ino = ?) DESC, "
            "EXISTS(SELECT 1 FROM tags t WHERE t.photo_id = p.id AND (t.source = 'user' "
            "OR t.accepted IS NOT NULL)), p.id DESC", (st.hash, *(st.ident or (None, None))))
        twin = next((t for (t,) in twins if t not in gone_ids and t not in taken), None)
        if twin is None:
            continue
        taken.update((pid, twin))
        merges.append((pid, twin))
        del diff.gone[path]
    return merges


def settle(diff: Diff, catalog: Catalog, vectors: VectorIndex, recent: RecentAdds,
           report: IndexReport, remember: bool = False, on_moved: OnMoved | None = None) -> None:
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
    was = {st.id: path for path, st in diff.gone.items()}
    moves = match_moves(diff)
    merges = recent.match(diff, catalog)
    merges += merge_into_twins(diff, catalog, {st.id for st, *_ in moves} | {k for k, _ in merges})
    copies = {drop: photo.path for _, drop in merges
              if (photo := catalog.photo(drop)) is not None}
    dropped = [drop for _, drop in merges]
    new_paths = diff.new.keys() - diff.preset.keys()
    if remember:  # live: the edit may have been added a batch earlier
        new_paths |= recent.paths_in({os.path.dirname(p) for p in diff.gone}) - diff.gone.keys()
    diff.held = hold_for_edits(diff.gone, new_paths, catalog)
    gone_ids = [st.id for st in diff.gone.values()]
    # Where a row now stands, the identity of the file there: a merged row takes its copy's.
    idents = {**diff.reidentified, **{p: diff.ids.get(p) for _, p, *_ in moves}}
    idents.update(catalog.identities_of(copies.values()))
    with catalog.transaction() as conn:
        for st, path, root_id, size, mtime in moves:
            catalog.move_photo(st.id, root_id, path, size, mtime)
            if st.status == "ok" and not st.has_embedding:  # still needs this model's
                diff.add_task(root_id, path, None, size, mtime)
        for keep, drop in merges:
            catalog.merge_photo(keep, drop)
        if diff.left:
            recent.keep_decisions(conn, diff.left)
            decisions.clear(conn, [st.id for st in diff.left])
        # A changed photo keeps its decisions, and a copy of them waits for its old content
        # to turn up elsewhere (moved to the trash and back, then over another photo).
        left = {st.id for st in diff.left}
        recent.keep_decisions(conn, [t.known for t in diff.tasks
                                     if t.known is not None and t.known.id not in left])
        if idents:
            catalog.set_identities(idents)
        if gone_ids:
            recent.keep_decisions(conn, list(diff.gone.values()))
            catalog.delete_photos(gone_ids)
    if dropped or gone_ids:
        vectors.remove([*dropped, *gone_ids])
    if on_moved is not None and (moves or merges or gone_ids):
        on_moved([(was[st.id], path) for st, path, *_ in moves]
                 + [(was[keep], copies[drop]) for keep, drop in merges if drop in copies],
                 list(diff.gone))
    # (A name that is not UTF-8 has a catalog key that is not its path: left out.)
    diff.placed.extend(p for _, p, *_ in moves if p not in diff.preset)
    diff.placed.extend(p for p in diff.new if p not in diff.preset)
    report.moved += len(moves) + len(merges)
    report.removed += len(gone_ids)
    diff.gone.clear()
    for p, (root_id, size, mtime) in diff.new.items():
        diff.add_task(root_id, p, None, size, mtime, remember)
    diff.new.clear()


def finish_edits(held: Held, catalog: Catalog, vectors: VectorIndex, recent: RecentAdds,
                 model: str, report: IndexReport, on_moved: OnMoved | None = None,
                 finished: bool = True) -> None:
    """After the run's new photos are embedded: the held vanished photos' tags follow their
    edits, or the photos leave as settle() would have removed them (see edits.py)."""
    if not held.gone:
        return
    carried, removed = resolve_edits(catalog, vectors, model, held, report, finished)
    if removed:
        # Their content may have turned up meanwhile, in this run's new or changed photos.
        left = Diff(gone=dict(removed))
        merges = merge_into_twins(left, catalog, set())
        for keep, drop in merges:
            catalog.merge_photo(keep, drop)
        if merges:
            vectors.remove([drop for _, drop in merges])
            report.moved += len(merges)
            kept = {keep for keep, _ in merges}
            for path, st in removed.items():
                if st.id in kept and (photo := catalog.photo(st.id)) is not None:
                    carried.append((path, photo.path))  # the row now stands at its twin's path
        removed = left.gone
    if removed:
        with catalog.transaction() as conn:
            recent.keep_decisions(conn, list(removed.values()))
            catalog.delete_photos([st.id for st in removed.values()])
        vectors.remove([st.id for st in removed.values()])
        report.removed += len(removed)
    if on_moved is not None and (carried or removed):
        on_moved(carried, list(removed))
