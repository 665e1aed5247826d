"""Bring the catalog and vector index in line with the photos on disk.

scan -> diff -> decode (thread pool, prefetching) -> embed (batches) -> store (one transaction
per batch). The whole job is one generator yielding Progress, driven alike by the CLI (tqdm) and
the GUI (a worker thread). An interrupted run loses at most the batch in flight: everything
committed is skipped by the next run's diff.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photoclip.core.catalog.repo import Catalog, FileState, PhotoRecord
from photoclip.core.encoder import Encoder
from photoclip.core.errors import ImageError
from photoclip.core.imaging import decode, is_image_path, save_thumbnail
from photoclip.core.types import Progress, Root
from photoclip.core.vectors import VectorIndex

log = logging.getLogger(__name__)

THUMB_SIZE = 256
# Save the vector cache at least this often during a long run, so a crash costs little
# re-adding at the next start (the catalog itself is committed every batch).
SAVE_EVERY_S = 60.0
# Files read and hashed per chunk; 1 MiB keeps memory flat for huge files.
_READ_CHUNK = 1 << 20
# How long a photo added by update() is remembered as a possible copy of one deleted later: a
# move across drives copies first and deletes the original when the copy is done, which for a
# large folder over USB or a network can take minutes.
MERGE_WINDOW_S = 600.0


def file_hash(data: bytes) -> str:
    # blake2b is ~2x faster than sha256 in CPython and 128 bits is plenty for identity.
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def hash_path(path: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(_READ_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def thumbnail_path(thumbnails: Path, digest: str) -> Path:
    """Thumbnails are keyed by content hash: a moved photo keeps its thumbnail."""
    return thumbnails / digest[:2] / f"{digest}.jpg"


@dataclass(frozen=True)
class _Task:
    root_id: int
    path: str
    known: FileState | None  # the catalog's row for this path, if any
    remember: bool = False  # a new photo a later deletion may turn out to be a move of


@dataclass
class _Diff:
    """Disk against catalog for some paths, before moves are matched."""

    gone: dict[str, FileState] = field(default_factory=dict)  # in the catalog, not on disk
    new: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # path: root, size, mtime
    tasks: list[_Task] = field(default_factory=list)  # to read (and maybe embed)
    hints: dict[str, str] = field(default_factory=dict)  # new path: path an event moved it from


@dataclass
class _Result:
    task: _Task
    size: int = 0
    mtime_ns: int = 0
    hash: str | None = None
    pixels: np.ndarray | None = None  # model input (3,S,S)
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    error: str | None = None
    unchanged: bool = False  # same content as the catalog already has
    vanished: bool = False  # deleted or moved away since the scan: its own event or scan follows


@dataclass
class IndexReport:
    """Totals of one run, for the CLI's closing line and the GUI's status bar."""

    scanned: int = 0
    indexed: int = 0
    failed: int = 0
    removed: int = 0
    moved: int = 0
    unchanged: int = 0
    offline_roots: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0


def is_inside(path: str, folder: str) -> bool:
    """`path` is `folder` or lies below it (no symlinks resolved)."""
    folder = folder.rstrip(os.sep)
    return path == folder or path.startswith(folder + os.sep)


def innermost_root(path: str, roots: Iterable[Root]) -> Root | None:
    """The root a path belongs to; with nested roots, the deepest one."""
    best: Root | None = None
    for root in roots:
        if is_inside(path, root.path) and (best is None or len(root.path) > len(best.path)):
            best = root
    return best


def _is_empty_dir(path: str) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


def walk_images(root: str, skip: Sequence[str] = ()) -> Iterator[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every image file under root.

    Hidden entries and `skip` folders (the library itself) are left out; symlinked folders are
    not followed, so a symlink loop cannot trap the scan. Unreadable folders are logged, not fatal.
    """
    skip_set = {os.path.normcase(s) for s in skip}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if os.path.normcase(entry.path) not in skip_set:
                        stack.append(entry.path)
                    continue
                if not is_image_path(entry.name):
                    continue
                st = entry.stat()  # follows a file symlink: we index what it points to
            except OSError as exc:
                log.warning("cannot stat %s: %s", entry.path, exc)
                continue
            if stat.S_ISREG(st.st_mode):
                yield entry.path, st.st_size, st.st_mtime_ns


class Indexer:
    def __init__(
        self,
        catalog: Catalog,
        encoder: Encoder,
        vectors: VectorIndex,
        *,
        thumbnails: Path | None = None,
        batch_size: int = 32,
        workers: int = 0,
        skip: Sequence[str] = (),
        on_batch: Callable[[list[int], np.ndarray], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.encoder = encoder
        self.vectors = vectors
        # Called after each committed batch with the new photos' ids and image vectors (the
        # auto-tagger uses it). It runs in the indexing thread, between batches.
        self.on_batch = on_batch
        self.thumbnails = thumbnails
        self.batch_size = max(1, batch_size)
        self.workers = workers or (os.cpu_count() or 2)
        self.skip = tuple(skip)
        self.report = IndexReport()
        self._last_save = time.monotonic()
        # Photos update() added lately, by content hash: (photo id, when), oldest first.
        self._recent: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self._recent_order: deque[tuple[float, str]] = deque()

    def thumbnail_path(self, digest: str) -> Path | None:
        return None if self.thumbnails is None else thumbnail_path(self.thumbnails, digest)

    # -- the job ----------------------------------------------------------------------------

    def run(
        self,
        roots: Sequence[Root] | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Progress]:
        """Index `roots` (default: all). Closing the generator or setting `cancel` stops it
        between batches with everything done so far kept."""
        started = time.monotonic()
        report = self.report = IndexReport()
        roots = list(self.catalog.roots() if roots is None else roots)
        job = self.catalog.start_job("index")
        state = "cancelled"
        try:
            tasks: list[_Task] = []
            yield from self._diff_roots(roots, tasks, report)
            yield Progress("index", 0, len(tasks), message=f"{len(tasks)} photos to index")
            yield from self._process(tasks, job, started, cancel)
            if cancel is None or not cancel.is_set():
                state = "done"
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit | KeyboardInterrupt):
                state = "failed"
            raise
        finally:
            self.save()
            report.seconds = time.monotonic() - started
            self.catalog.update_job(job, report.indexed, report.indexed + report.failed,
                                    report.failed)
            self.catalog.finish_job(job, state)
        yield Progress(
            "index", report.indexed + report.failed, report.indexed + report.failed,
            failed=report.failed, rate=report.rate, finished=True,
            message=self.summary(),
        )

    def summary(self) -> str:
        r = self.report
        counts = (("failed", r.failed), ("moved", r.moved), ("removed", r.removed),
                  ("unchanged", r.unchanged))
        parts = [f"{r.indexed} indexed", *(f"{n} {what}" for what, n in counts if n)]
        if r.offline_roots:
            parts.append(f"offline: {', '.join(r.offline_roots)}")
        if r.indexed:
            parts.append(f"{r.rate:.1f} photos/s")
        return ", ".join(parts)

    def update(
        self,
        paths: Iterable[str],
        folders: Iterable[str] = (),
        moved: Mapping[str, str] | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Progress]:
        """Bring only these paths in line with the disk, in any root: files that may have been
        created, changed, deleted or moved, and folders whose catalogued photos may be gone (a
        folder deleted or moved away). `moved` maps a new path to the path an event says it
        came from; such a pair with unchanged size and mtime is taken as a move without reading
        the file. New files inside a folder are not searched for: the caller names them.

        The live counterpart of run(): no job row, and the vector cache is saved at most every
        SAVE_EVERY_S (the catalog is committed per batch; a crash costs a resync, not data)."""
        started = time.monotonic()
        report = self.report = IndexReport()
        path_set = set(paths)
        folder_list = list(folders)
        roots = self.catalog.roots()
        online: dict[int, bool] = {}
        known = self.catalog.file_states_at(self.encoder.model_id, path_set, folder_list)
        on_disk: dict[str, tuple[int, int, int]] = {}
        for path in sorted(path_set | known.keys()):
            root = innermost_root(path, roots)
            if root is None or not self._root_online(root, online, report):
                known.pop(path, None)  # an unplugged drive's photos are kept as they are
                continue
            if not self._visible(path, root.path):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                on_disk[path] = (root.id, st.st_size, st.st_mtime_ns)
        report.scanned = len(on_disk)
        diff = _Diff(hints=dict(moved or {}))
        self._classify(diff, known, on_disk, report)
        self._settle(diff, report, remember=True)
        if diff.tasks:
            yield Progress("index", 0, len(diff.tasks),
                           message=f"{len(diff.tasks)} photos to index")
        try:
            yield from self._process(diff.tasks, None, started, cancel)
        finally:
            if time.monotonic() - self._last_save > SAVE_EVERY_S:
                self.save()
            report.seconds = time.monotonic() - started
        yield Progress(
            "index", report.indexed + report.failed, report.indexed + report.failed,
            failed=report.failed, rate=report.rate, finished=True, message=self.summary(),
        )

    def save(self) -> None:
        """Write the vector cache now (the watcher calls this when it stops)."""
        self.vectors.save()
        self._last_save = time.monotonic()

    def _root_online(self, root: Root, seen: dict[int, bool], report: IndexReport) -> bool:
        if root.id not in seen:
            seen[root.id] = os.path.isdir(root.path)
            if not seen[root.id]:
                self._mark_offline(root, report)
            elif not root.online:
                self.catalog.set_root_online(root.id, True)
        return seen[root.id]

    def _mark_offline(self, root: Root, report: IndexReport) -> None:
        log.warning("library folder %s is offline (unplugged?); its photos are kept. If you "
                    "deleted them, remove the folder from the library.", root.path)
        if root.online:
            self.catalog.set_root_online(root.id, False)
        report.offline_roots.append(root.path)

    def _visible(self, path: str, root: str) -> bool:
        """What walk_images would list: an image, not hidden, not in a skipped folder."""
        rel = os.path.relpath(path, root)
        if any(part.startswith(".") for part in rel.split(os.sep)):
            return False
        if any(is_inside(path, s) for s in self.skip):
            return False
        return is_image_path(path)

    def _diff_roots(
        self, roots: Sequence[Root], tasks: list[_Task], report: IndexReport
    ) -> Iterator[Progress]:
        """Diff every root first and match moves across all of them, so a photo moved from one
        root to another keeps its id, embedding and tags."""
        everything = self.catalog.roots()
        diff = _Diff()
        for root in roots:
            if not os.path.isdir(root.path):
                # An unplugged drive must not look like "every photo deleted": keep them all.
                self._mark_offline(root, report)
                continue
            # A root nested in this one is scanned as itself; walking it twice would hand its
            # photos back and forth between the two roots on every run.
            nested = [r.path for r in everything
                      if r.id != root.id and is_inside(r.path, root.path)]
            known = self.catalog.file_states(root.id, self.encoder.model_id)
            on_disk: dict[str, tuple[int, int, int]] = {}
            for path, size, mtime in walk_images(root.path, (*self.skip, *nested)):
                on_disk[path] = (root.id, size, mtime)
                if len(on_disk) % 2000 == 0:
                    yield Progress("scan", len(on_disk), 0, message=f"scanning {root.path}")
            if not on_disk and known and _is_empty_dir(root.path):
                # An unmounted drive often leaves its mount point behind as an empty folder;
                # "every photo deleted at once, nothing else left" is treated as unplugged.
                self._mark_offline(root, report)
                continue
            if not root.online:
                self.catalog.set_root_online(root.id, True)
            report.scanned += len(on_disk)
            self._classify(diff, known, on_disk, report)
        self._settle(diff, report)
        tasks.extend(diff.tasks)

    def _classify(
        self,
        diff: _Diff,
        known: dict[str, FileState],
        on_disk: dict[str, tuple[int, int, int]],
        report: IndexReport,
    ) -> None:
        diff.gone.update((p, st) for p, st in known.items() if p not in on_disk)
        for path, (root_id, size, mtime) in on_disk.items():
            st = known.get(path)
            if st is None:
                diff.new[path] = (root_id, size, mtime)
            else:
                self._check_known(diff, root_id, path, st, size, mtime, report)

    @staticmethod
    def _check_known(diff: _Diff, root_id: int, path: str, st: FileState, size: int,
                     mtime: int, report: IndexReport) -> None:
        if (st.size, st.mtime_ns) != (size, mtime):
            diff.tasks.append(_Task(root_id, path, st))
        elif st.status == "ok" and not st.has_embedding:
            diff.tasks.append(_Task(root_id, path, None))  # e.g. the library switched model
        else:
            report.unchanged += 1  # failed files are retried only once they change

    def _settle(self, diff: _Diff, report: IndexReport, remember: bool = False) -> None:
        """Moves keep their rows, the rest of the gone leave, the rest of the new become tasks.

        Files are read for hashing before the transaction, so the catalog is not held while
        the disk works."""
        for path in diff.gone.keys() & diff.new.keys():
            # The same path under another root (a root was nested into this one): re-home it.
            st = diff.gone.pop(path)
            root_id, size, mtime = diff.new.pop(path)
            self.catalog.move_photo(st.id, root_id, path, st.size, st.mtime_ns)
            self._check_known(diff, root_id, path, st, size, mtime, report)
        moves = self._match_moves(diff)
        merges = self._match_recent(diff)
        dropped = [drop for _, drop in merges]
        gone_ids = [st.id for st in diff.gone.values()]
        with self.catalog.transaction():
            for st, path, root_id, size, mtime in moves:
                self.catalog.move_photo(st.id, root_id, path, size, mtime)
                if st.status == "ok" and not st.has_embedding:
                    diff.tasks.append(_Task(root_id, path, None))  # still needs this model's
            for keep, drop in merges:
                self.catalog.merge_photo(keep, drop)
            if gone_ids:
                self.catalog.delete_photos(gone_ids)
        if dropped or gone_ids:
            self.vectors.remove([*dropped, *gone_ids])
        report.moved += len(moves) + len(merges)
        report.removed += len(gone_ids)
        diff.gone.clear()
        diff.tasks.extend(_Task(root_id, p, None, remember=remember)
                          for p, (root_id, _, _) in diff.new.items())
        diff.new.clear()

    def _match_moves(
        self, diff: _Diff
    ) -> list[tuple[FileState, str, int, int, int]]:
        """A new path with the content of a vanished one is a move: keep id, embedding, tags.

        A move an event reported, with the same size and mtime at the new path, is the same
        file (a rename keeps both), so it is not read. Otherwise only files whose size matches
        a vanished photo are hashed, so a plain import of new photos pays nothing extra.
        Returns (old state, new path, root id, size, mtime) per move, taken out of `diff`.
        """
        moves: list[tuple[FileState, str, int, int, int]] = []
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
            if not candidates:
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

    def _match_recent(self, diff: _Diff) -> list[tuple[int, int]]:
        """A vanished photo whose content update() added lately under another path was moved
        by copy-then-delete, seen in two batches: (kept id, dropped copy id) per such pair."""
        self._forget_old()
        if not self._recent:
            return []
        gone_ids = {st.id for st in diff.gone.values()}
        merges: list[tuple[int, int]] = []
        for path, st in list(diff.gone.items()):
            if not st.hash or st.status != "ok" or not st.has_embedding:
                continue
            for twin, _ in self._recent.get(st.hash, ()):
                photo = self.catalog.photo(twin)
                if (twin not in gone_ids and photo is not None and photo.hash == st.hash
                        and photo.status == "ok"):
                    merges.append((st.id, twin))
                    self._recent[st.hash] = [e for e in self._recent[st.hash] if e[0] != twin]
                    del diff.gone[path]
                    break
        return merges

    def _remember(self, digest: str, photo_id: int) -> None:
        now = time.monotonic()
        self._recent[digest].append((photo_id, now))
        self._recent_order.append((now, digest))

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - MERGE_WINDOW_S
        while self._recent_order and self._recent_order[0][0] < cutoff:
            _, digest = self._recent_order.popleft()
            kept = [e for e in self._recent.get(digest, ()) if e[1] >= cutoff]
            if kept:
                self._recent[digest] = kept
            else:
                self._recent.pop(digest, None)

    # -- decode / embed / store -------------------------------------------------------------

    def _load(self, task: _Task) -> _Result:
        """Runs in a worker thread: read once, hash, decode, preprocess, thumbnail."""
        res = _Result(task)
        try:
            with open(task.path, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
        except FileNotFoundError:
            res.vanished = True
            return res
        except OSError as exc:
            res.error = f"cannot read file: {exc.strerror or exc}"
            return res
        res.size, res.mtime_ns = st.st_size, st.st_mtime_ns
        res.hash = file_hash(data)
        known = task.known
        if known is not None and known.hash == res.hash and known.has_embedding:
            res.unchanged = True  # touched, not edited: no need to decode or embed again
            return res
        min_side = max(self.encoder.image_size, THUMB_SIZE if self.thumbnails else 0)
        try:
            decoded = decode(data, min_side=min_side, name=task.path)
        except ImageError as exc:
            res.error = exc.reason
            return res
        except Exception as exc:  # a decoder bug must cost one photo, not the job
            log.exception("unexpected error decoding %s", task.path)
            res.error = f"unexpected decoder error: {exc}"
            return res
        res.width, res.height, res.taken_at = decoded.width, decoded.height, decoded.taken_at
        res.pixels = self.encoder.preprocess(decoded.image)
        thumb = self.thumbnail_path(res.hash)
        if thumb is not None and not thumb.exists():
            try:
                save_thumbnail(decoded.image, thumb, THUMB_SIZE)
            except OSError as exc:
                log.warning("cannot write thumbnail for %s: %s", task.path, exc)
        return res

    def _process(
        self,
        tasks: list[_Task],
        job: int | None,
        started: float,
        cancel: threading.Event | None,
    ) -> Iterator[Progress]:
        report = self.report
        total = len(tasks)
        if not total:
            return
        last_save = time.monotonic()
        # Bounded prefetch: decode runs ahead of the model by two batches, no more, so memory
        # holds a few batches of pixels however large the library.
        ahead = self.batch_size * 2 + self.workers
        queue: deque[Future[_Result]] = deque()
        todo = iter(tasks)
        batch: list[_Result] = []
        done = 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="decode") as pool:
            try:
                while True:
                    while len(queue) < ahead:
                        task = next(todo, None)
                        if task is None:
                            break
                        queue.append(pool.submit(self._load, task))
                    if not queue:
                        break
                    batch.append(queue.popleft().result())
                    if len(batch) < self.batch_size and queue:
                        continue
                    self._store(batch)
                    done += len(batch)
                    batch = []
                    elapsed = time.monotonic() - started
                    if job is not None:
                        self.catalog.update_job(job, done, total, report.failed)
                    yield Progress("index", done, total, failed=report.failed,
                                   rate=report.indexed / elapsed if elapsed > 0 else 0.0)
                    if time.monotonic() - max(last_save, self._last_save) > SAVE_EVERY_S:
                        self.save()
                        last_save = time.monotonic()
                    if cancel is not None and cancel.is_set():
                        return
            finally:
                for fut in queue:
                    fut.cancel()

    def _store(self, batch: list[_Result]) -> None:
        report = self.report
        good = [r for r in batch if r.pixels is not None]
        vecs = (self.encoder.encode_images(np.stack([r.pixels for r in good]))  # type: ignore[misc]
                if good else None)
        ids: list[int] = []
        dropped: list[int] = []
        dropped_others: list[int] = []
        with self.catalog.transaction():
            for r in batch:
                t = r.task
                if r.vanished:
                    continue  # not a failure to record: nothing is there any more
                if r.unchanged:
                    assert t.known is not None
                    self.catalog.touch_photo(t.known.id, r.size, r.mtime_ns)
                    report.unchanged += 1
                    continue
                if r.error is not None:
                    pid = self.catalog.upsert_photo(PhotoRecord(
                        t.root_id, t.path, r.size, r.mtime_ns, r.hash,
                        status="failed", error=r.error))
                    dropped.append(pid)
                    report.failed += 1
                    log.info("skipped %s: %s", t.path, r.error)
                    continue
                ids.append(self.catalog.upsert_photo(PhotoRecord(
                    t.root_id, t.path, r.size, r.mtime_ns, r.hash,
                    r.width, r.height, r.taken_at)))
                if t.known is not None and t.known.hash != r.hash:
                    # New content: every model's old embedding of it is stale, not only ours
                    # (a library switching back to an earlier model must re-embed it).
                    dropped_others.append(ids[-1])
                if t.remember and r.hash:
                    self._remember(r.hash, ids[-1])
            if dropped or dropped_others:
                self.catalog.delete_embeddings(dropped + dropped_others)
            if vecs is not None:
                self.catalog.put_embeddings(self.encoder.model_id, ids, vecs)
        # The catalog is committed first: if we die before the vector file is saved, the next
        # start's sync re-adds these from the catalog.
        if dropped:
            self.vectors.remove(dropped)
        if vecs is not None:
            self.vectors.add(ids, vecs)
        report.indexed += len(ids)
        if self.on_batch is not None and vecs is not None and ids:
            self.on_batch(ids, vecs)

