"""Bring the catalog and vector index in line with the photos on disk.

scan -> diff -> decode (thread pool, prefetching) -> embed (batches) -> store (one transaction
per batch). The whole job is one generator yielding Progress, driven alike by the CLI (tqdm) and
the GUI (a worker thread). An interrupted run loses at most the batch in flight: everything
committed is skipped by the next run's diff.

A file that cannot be indexed is recorded as failed with its reason and is not read again until
its size or mtime changes. No one file can stall a run: each decode has a time limit
(DECODE_TIMEOUT_S), after which the file is recorded as failed and the run moves on.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import re
import stat
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from photoclip.core.catalog import Catalog, FileState
from photoclip.core.types import PhotoRecord
from photoclip.core.cpugate import CpuGate
from photoclip.core.encoder import Encoder
from photoclip.core.errors import ImageError
from photoclip.core.imaging import (
    RAW_NEEDS_EXTRA,
    decode,
    is_image_path,
    open_regular,
    raw_supported,
    read_error_reason,
    save_thumbnail,
)
from photoclip.core.types import Progress, Root
from photoclip.core.vectors import VectorIndex

log = logging.getLogger(__name__)

THUMB_SIZE = 256
# Save the vector cache at least this often during a long run, so a crash costs little
# re-adding at the next start (the catalog itself is committed every batch).
SAVE_EVERY_S = 60.0
# Files read and hashed per chunk; 1 MiB keeps memory flat for huge files.
_READ_CHUNK = 1 << 20
# Files up to this size are read once into memory (hash and decode share the bytes); larger ones
# are hashed as a stream and decoded from the file, so a stray disk image named .jpg cannot
# take gigabytes per decode thread.
_READ_WHOLE_MAX = 256 << 20
# Most files one transaction records (failed or unchanged ones, which need no model call).
_MAX_BATCH_ROWS = 500
# The longest one file may take to read and decode before it is recorded as failed and the run
# moves on. A 100-MP PNG decodes in ~3 s on one slow core; 10x that is pathological.
DECODE_TIMEOUT_S = 30.0
# Decodes abandoned after the timeout that may still be running at once (each holds a thread
# and up to one image's memory). More stuck than this means the disk, not a file, has stopped
# answering (a hung network mount): the run stops instead of piling up threads.
MAX_STUCK_DECODES = 4
# The catalog stores paths as UTF-8 text, which a name with invalid UTF-8 bytes (an old camera
# card or zip in Latin-1) is not; such a file is recorded under an escaped form of its name.
NAME_NOT_UTF8 = "file name is not valid UTF-8: rename the file or its folder to index it"
# How long a photo added by update() is remembered as a possible copy of one deleted later: a
# move across drives copies first and deletes the original when the copy is done, which for a
# large folder over USB or a network can take minutes.
MERGE_WINDOW_S = 600.0


def file_hash(data: bytes) -> str:
    # blake2b is ~2x faster than sha256 in CPython and 128 bits is plenty for identity.
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def hash_path(path: str) -> str:
    with open_regular(path) as f:
        return _hash_stream(f)


def _hash_stream(f: IO[bytes]) -> str:
    h = hashlib.blake2b(digest_size=16)
    while chunk := f.read(_READ_CHUNK):
        h.update(chunk)
    return h.hexdigest()


def catalog_path(path: str) -> str:
    """`path` as the catalog stores it: itself, unless its name holds bytes that are not UTF-8
    (Python carries them as surrogate escapes, which SQLite text cannot hold); those bytes are
    written as \\xNN, a form that is valid text, readable, and the same on every scan."""
    if path.isascii():
        return path
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    return path


def thumbnail_path(thumbnails: Path, digest: str) -> Path:
    """Thumbnails are keyed by content hash: a moved photo keeps its thumbnail."""
    return thumbnails / digest[:2] / f"{digest}.jpg"


@dataclass(frozen=True)
class _Task:
    root_id: int
    path: str
    known: FileState | None  # the catalog's row for this path, if any
    remember: bool = False  # a new photo a later deletion may turn out to be a move of
    size: int = 0  # as the scan saw it: what a file that is never read is recorded with
    mtime_ns: int = 0
    error: str | None = None  # known to fail without reading it (a name the catalog can't hold)


@dataclass
class _Diff:
    """Disk against catalog for some paths, before moves are matched."""

    gone: dict[str, FileState] = field(default_factory=dict)  # in the catalog, not on disk
    new: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # path: root, size, mtime
    tasks: list[_Task] = field(default_factory=list)  # to read (and maybe embed)
    hints: dict[str, str] = field(default_factory=dict)  # new path: path an event moved it from
    preset: dict[str, str] = field(default_factory=dict)  # path: why it fails without a read
    retry: set[str] = field(default_factory=set)  # failed paths to read again though unchanged

    def add_task(self, root_id: int, path: str, known: FileState | None, size: int, mtime: int,
                 remember: bool = False) -> None:
        # Known to fail without a read: spare the thread, the open and the decode.
        error = self.preset.get(path) or ("empty file (0 bytes)" if size == 0 else None)
        self.tasks.append(_Task(root_id, path, known, remember, size, mtime, error))


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
    stopped: str | None = None  # why the run ended early, other than a cancel

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
    """(path, size, mtime_ns) of every regular image file under root.

    Hidden entries and `skip` folders (the library itself, nested roots) are left out. A
    symlinked folder is followed when it leads out of the root (a photo folder linked into
    ~/Pictures), each real folder at most once, so no symlink loop can trap the scan; one that
    leads back inside the root is not, its photos being found at their real paths. FIFOs,
    devices and sockets are never listed (nor opened). Unreadable folders are logged, not fatal.
    """
    skip_set = {os.path.normcase(s) for s in skip}
    # Folders already walked (or never to be), by identity: reaching one again through a link,
    # a bind mount or a loop must not walk it twice.
    seen: set[tuple[int, int]] = set()
    for folder in (root, *skip):
        ident = _dir_identity(folder)
        if ident is not None:
            seen.add(ident)
    # Where links may not lead: into the root, a skipped folder, or a folder already followed
    # (walked whole already; and without folder identities this alone ends any loop); nor up
    # to a folder holding the root, which is a loop, never a photo folder linked in.
    real_root = os.path.realpath(root)
    no_go = [real_root, *(os.path.realpath(p) for p in skip)]
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                # Sorted so that, of two links to one folder, the same one wins every scan.
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc)
            continue
        subfolders: list[str] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if os.path.normcase(entry.path) not in skip_set and _first_visit(
                            entry.path, seen):
                        subfolders.append(entry.path)
                    continue
                if entry.is_symlink() and entry.is_dir():
                    target = os.path.realpath(entry.path)
                    if (not is_inside(real_root, target)
                            and not any(is_inside(target, p) for p in no_go)
                            and _first_visit(entry.path, seen)):
                        no_go.append(target)
                        subfolders.append(entry.path)
                    continue
                if not is_image_path(entry.name):
                    continue
                st = entry.stat()  # follows a file symlink: we index what it points to
            except OSError as exc:
                # A dangling link or a file symlink loop: nothing to index, nothing to fear.
                log.info("cannot stat %s: %s", entry.path, exc)
                continue
            if stat.S_ISREG(st.st_mode):
                yield entry.path, st.st_size, st.st_mtime_ns
        stack.extend(reversed(subfolders))  # depth first, in name order


def _dir_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)  # os.stat, not DirEntry.stat: on Windows only it fills st_ino
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if st.st_ino else None


def _first_visit(path: str, seen: set[tuple[int, int]]) -> bool:
    ident = _dir_identity(path)
    if ident is None:
        return True  # no identity to go by (some network file systems): walk it
    if ident in seen:
        return False
    seen.add(ident)
    return True


@dataclass(frozen=True)
class FailureGroup:
    """Files that failed for one kind of reason, for `photoclip status`."""

    reason: str
    count: int
    examples: list[str]


def failure_kind(reason: str) -> str:
    """A reason without its particulars ("image too large (123 pixels)" -> "image too large"),
    so that failures group by what went wrong."""
    return re.sub(r"\s*\([^()]*\)$", "", reason) or reason


def failure_summary(catalog: Catalog, examples: int = 3) -> list[FailureGroup]:
    """Failed files grouped by kind of reason, most common first, with a few example paths."""
    counts: dict[str, int] = defaultdict(int)
    paths: dict[str, list[str]] = defaultdict(list)
    for reason, n, some in catalog.failure_groups(examples):
        kind = failure_kind(reason)
        counts[kind] += n
        paths[kind].extend(some)
    return [FailureGroup(kind, counts[kind], sorted(paths[kind])[:examples])
            for kind in sorted(counts, key=lambda k: (-counts[k], k))]


class _DecodePool:
    """Decode threads the indexer can walk away from.

    A Python thread cannot be stopped, so a decode that overruns its time is abandoned: the
    indexer records the file as failed and moves on, and a new thread takes the stuck one's
    place, so throughput holds. The stuck thread finishes its decode in the background (its
    result is dropped) and then retires. At most `max_stuck` may be out at once. The threads are
    daemons: one stuck for good (a hung network mount) cannot keep the program from exiting,
    which a concurrent.futures pool would (its threads are joined at exit).
    """

    def __init__(self, workers: int, max_stuck: int, gate: CpuGate | None = None) -> None:
        self._gate = gate or CpuGate()
        self._jobs: queue.SimpleQueue[
            tuple[Future[_Result], Callable[[_Task], _Result], _Task] | None] = (
            queue.SimpleQueue())
        self._lock = threading.Lock()
        self._max_stuck = max_stuck
        self._running: dict[Future[_Result], tuple[float, threading.Thread]] = {}
        self._stuck: set[Future[_Result]] = set()  # their threads end when they come back
        self._threads: set[threading.Thread] = set()
        for _ in range(max(1, workers)):
            self._spawn()

    def submit(self, fn: Callable[[_Task], _Result], task: _Task) -> Future[_Result]:
        fut: Future[_Result] = Future()
        self._jobs.put((fut, fn, task))
        return fut

    def started_at(self, fut: Future[_Result]) -> float | None:
        """When a thread picked `fut` up (time.monotonic), or None if it has not (yet)."""
        with self._lock:
            entry = self._running.get(fut)
        return None if entry is None else entry[0]

    def abandon(self, fut: Future[_Result]) -> bool | None:
        """Stop counting on a running `fut` and start a stand-in for its thread: True. False
        when `max_stuck` decodes were stuck already (no stand-in: time to stop); None if it
        has just finished after all."""
        with self._lock:
            if fut not in self._running:
                return None
            room = len(self._stuck) < self._max_stuck
            self._stuck.add(fut)  # either way, close() must not wait for it
        if room:
            self._spawn()
        return room

    def close(self, timeout: float) -> None:
        """Let the threads end once the queue is drained; wait (up to `timeout`) for those busy
        with a decode nobody gave up on, so no thumbnail is written after a run returns."""
        with self._lock:
            threads = list(self._threads)
            stuck = {self._running[f][1] for f in self._stuck if f in self._running}
        for _ in threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread not in stuck:
                thread.join(max(0.0, deadline - time.monotonic()))

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name="decode", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            item = self._jobs.get()
            if item is None:
                break
            fut, fn, task = item
            # The model's turn on the CPU is not this file's time: its clock starts after.
            with self._gate.shared():
                if not fut.set_running_or_notify_cancel():
                    continue  # cancelled while it waited
                with self._lock:
                    self._running[fut] = (time.monotonic(), me)
                try:
                    result = fn(task)
                except BaseException as exc:
                    fut.set_exception(exc)
                else:
                    fut.set_result(result)
            with self._lock:
                del self._running[fut]
                if fut in self._stuck:
                    self._stuck.discard(fut)
                    break  # a stand-in has taken this thread's place
        with self._lock:
            self._threads.discard(me)


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
        decode_timeout: float = DECODE_TIMEOUT_S,
        max_stuck: int = MAX_STUCK_DECODES,
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
        self.decode_timeout = decode_timeout
        self.max_stuck = max(0, max_stuck)
        self.report = IndexReport()
        self._gate = CpuGate()
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
        with self.catalog.job("index") as job:
            try:
                tasks: list[_Task] = []
                yield from self._diff_roots(roots, tasks, report)
                yield Progress("index", 0, len(tasks), message=f"{len(tasks)} photos to index")
                yield from self._process(tasks, job.id, started, cancel)
                if report.stopped:
                    job.state = "failed"
                elif cancel is None or not cancel.is_set():
                    job.state = "done"
            finally:
                self.save()
                report.seconds = time.monotonic() - started
                self.catalog.update_job(job.id, report.indexed, report.indexed + report.failed,
                                        report.failed)
                job.message = report.stopped
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
        if r.stopped:
            parts.append(f"stopped: {r.stopped}")
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
        # Catalog keys -> the real path, where they differ (a name that is not UTF-8).
        real: dict[str, str] = {}
        path_set: set[str] = set()
        for path in paths:
            key = catalog_path(path)
            path_set.add(key)
            if key != path:
                real[key] = path
        folder_list = [catalog_path(f) for f in folders]
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
                st = os.stat(real.get(path, path))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                on_disk[path] = (root.id, st.st_size, st.st_mtime_ns)
        report.scanned = len(on_disk)
        diff = _Diff(hints={catalog_path(new): catalog_path(old)
                            for new, old in (moved or {}).items()},
                     preset=dict.fromkeys(real, NAME_NOT_UTF8))
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
        if raw_supported():
            # RAW files that failed only for want of rawpy: it is here now, read them again.
            diff.retry = self.catalog.paths_failed_with(RAW_NEEDS_EXTRA)
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
                key = catalog_path(path)
                if key != path:
                    diff.preset[key] = NAME_NOT_UTF8
                on_disk[key] = (root.id, size, mtime)
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
        if (st.size, st.mtime_ns) != (size, mtime) or (
                st.status == "failed" and path in diff.retry):
            diff.add_task(root_id, path, st, size, mtime)
        elif st.status == "ok" and not st.has_embedding:
            # e.g. the library switched model
            diff.add_task(root_id, path, None, size, mtime)
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
                if st.status == "ok" and not st.has_embedding:  # still needs this model's
                    diff.add_task(root_id, path, None, size, mtime)
            for keep, drop in merges:
                self.catalog.merge_photo(keep, drop)
            if gone_ids:
                self.catalog.delete_photos(gone_ids)
        if dropped or gone_ids:
            self.vectors.remove([*dropped, *gone_ids])
        report.moved += len(moves) + len(merges)
        report.removed += len(gone_ids)
        diff.gone.clear()
        for p, (root_id, size, mtime) in diff.new.items():
            diff.add_task(root_id, p, None, size, mtime, remember)
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
        res = _Result(task, size=task.size, mtime_ns=task.mtime_ns)
        if task.error is not None:
            res.error = task.error
            return res
        try:
            f = open_regular(task.path)
        except (FileNotFoundError, NotADirectoryError):
            res.vanished = True
            return res
        except OSError as exc:
            res.error = read_error_reason(exc)
            return res
        data: bytes | None = None
        with f:
            try:
                before = os.fstat(f.fileno())
                if before.st_size > _READ_WHOLE_MAX:
                    res.hash = _hash_stream(f)
                else:
                    data = f.read()
                    res.hash = file_hash(data)
                after = os.fstat(f.fileno())
            except OSError as exc:
                res.error = f"cannot read file ({exc.strerror or exc})"
                return res
        # Recorded with the stat from before the read: if it changed, the next scan sees a
        # different size or mtime and reads it again.
        res.size, res.mtime_ns = before.st_size, before.st_mtime_ns
        if ((after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
                or (data is not None and len(data) != before.st_size)):
            res.hash = None
            res.error = "file changed while being read (it is read again once it changes)"
            return res
        known = task.known
        if known is not None and known.hash == res.hash and known.has_embedding:
            res.unchanged = True  # touched, not edited: no need to decode or embed again
            return res
        min_side = max(self.encoder.image_size, THUMB_SIZE if self.thumbnails else 0)
        try:
            if data is None:
                decoded = decode(task.path, min_side=min_side)
            else:
                decoded = decode(data, min_side=min_side, name=task.path)
        except ImageError as exc:
            res.error = exc.reason
            return res
        except Exception as exc:  # a decoder bug must cost one photo, not the job
            log.exception("unexpected error decoding %s", task.path)
            res.error = f"unexpected decoder error ({type(exc).__name__}: {exc})"
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
        pending: deque[tuple[Future[_Result], _Task]] = deque()
        todo = iter(tasks)
        batch: list[_Result] = []
        to_embed = 0  # results in `batch` with pixels
        done = 0
        pool = _DecodePool(self.workers, self.max_stuck, self._gate)
        try:
            while True:
                while len(pending) < ahead:
                    task = next(todo, None)
                    if task is None:
                        break
                    if task.error is not None:  # failing without a read: no thread needed
                        ready: Future[_Result] = Future()
                        ready.set_result(self._load(task))
                        pending.append((ready, task))
                    else:
                        pending.append((pool.submit(self._load, task), task))
                if not pending:
                    break
                result = self._result(pool, *pending.popleft())
                if result is None:
                    # The files not reached are not failures: the next run reads them.
                    report.stopped = (
                        f"{self.max_stuck + 1} files took longer than "
                        f"{self.decode_timeout:g} s to read and decode; is a drive not "
                        "responding? The rest is indexed at the next run")
                    log.warning("indexing stopped: %s", report.stopped)
                else:
                    batch.append(result)
                    to_embed += result.pixels is not None
                    # A batch is `batch_size` photos for the model; files without pixels
                    # (failed, unchanged) ride along, many per transaction, so a folder of
                    # thousands of broken files is not thousands of commits.
                    if to_embed < self.batch_size and len(batch) < _MAX_BATCH_ROWS and pending:
                        continue
                if batch:
                    self._store(batch)
                    done += len(batch)
                    batch = []
                    to_embed = 0
                elapsed = time.monotonic() - started
                if job is not None:
                    self.catalog.update_job(job, done, total, report.failed)
                self.catalog.maybe_backup()  # a day-long watch still gets its daily backup
                yield Progress("index", done, total, failed=report.failed,
                               rate=report.indexed / elapsed if elapsed > 0 else 0.0)
                if report.stopped:
                    return
                if time.monotonic() - max(last_save, self._last_save) > SAVE_EVERY_S:
                    self.save()
                    last_save = time.monotonic()
                if cancel is not None and cancel.is_set():
                    return
        finally:
            for fut, _ in pending:
                fut.cancel()
            pool.close(self.decode_timeout)

    def _result(self, pool: _DecodePool, fut: Future[_Result], task: _Task) -> _Result | None:
        """The file's result, or a failure once its decode has run DECODE_TIMEOUT_S; None when
        too many decodes are stuck to go on. The clock starts when a thread picks the file up,
        not while it waits in line, so a file never pays for the ones before it."""
        if self.decode_timeout <= 0:  # no limit
            return fut.result()
        while True:
            began = pool.started_at(fut)
            wait = self.decode_timeout if began is None else (
                began + self.decode_timeout - time.monotonic())
            try:
                return fut.result(timeout=max(wait, 0.0))
            except TimeoutError:
                pass
            began = pool.started_at(fut)
            if began is None or time.monotonic() - began < self.decode_timeout:
                continue  # it was still waiting for a thread: its own clock has not run out
            verdict = pool.abandon(fut)
            if verdict is None:
                continue  # it finished after all
            if not verdict:
                return None
            log.warning("gave up on %s: reading and decoding took longer than %g s",
                        task.path, self.decode_timeout)
            return _Result(task, size=task.size, mtime_ns=task.mtime_ns,
                           error=f"decode took longer than {self.decode_timeout:g} s")

    def _store(self, batch: list[_Result]) -> None:
        report = self.report
        good = [r for r in batch if r.pixels is not None]
        vecs = None
        if good:
            pixels = np.stack([r.pixels for r in good])  # type: ignore[misc]
            # On the CPU the model takes the cores alone (see cpugate); a GPU runs beside them.
            on_cpu = getattr(self.encoder, "device", "cpu") == "cpu"
            with self._gate.exclusive() if on_cpu else contextlib.nullcontext():
                vecs = self.encoder.encode_images(pixels)
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
            seq = None
            if vecs is not None:
                seq = self.catalog.put_embeddings(self.encoder.model_id, ids, vecs)
            if self.on_batch is not None and vecs is not None and ids:
                # In the batch's transaction: a photo is never committed without its auto tags
                # (a kill in between would leave it untagged, and unchanged for the next run).
                self.on_batch(ids, vecs)
        # The catalog is committed first: if we die before the vector file is saved, the next
        # start's sync re-adds these from the catalog (and refreshes changed ones, by seq).
        if dropped:
            self.vectors.remove(dropped)
        if vecs is not None:
            self.vectors.add(ids, vecs, seq=seq)
        report.indexed += len(ids)

