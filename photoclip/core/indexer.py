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
from collections.abc import Iterator, Sequence
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
    ) -> None:
        self.catalog = catalog
        self.encoder = encoder
        self.vectors = vectors
        self.thumbnails = thumbnails
        self.batch_size = max(1, batch_size)
        self.workers = workers or (os.cpu_count() or 2)
        self.skip = tuple(skip)
        self.report = IndexReport()

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
            for root in roots:
                yield from self._diff_root(root, tasks, report)
            yield Progress("index", 0, len(tasks), message=f"{len(tasks)} photos to index")
            yield from self._process(tasks, job, started, cancel)
            if cancel is None or not cancel.is_set():
                state = "done"
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit | KeyboardInterrupt):
                state = "failed"
            raise
        finally:
            self.vectors.save()
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
        parts = [f"{r.indexed} indexed"]
        if r.failed:
            parts.append(f"{r.failed} failed")
        if r.moved:
            parts.append(f"{r.moved} moved")
        if r.removed:
            parts.append(f"{r.removed} removed")
        if r.unchanged:
            parts.append(f"{r.unchanged} unchanged")
        if r.offline_roots:
            parts.append(f"offline: {', '.join(r.offline_roots)}")
        if r.indexed:
            parts.append(f"{r.rate:.1f} photos/s")
        return ", ".join(parts)

    def _diff_root(self, root: Root, tasks: list[_Task], report: IndexReport) -> Iterator[Progress]:
        if not os.path.isdir(root.path):
            # An unplugged drive must not look like "every photo deleted": keep them all.
            log.warning("library folder %s is offline; its photos are kept", root.path)
            self.catalog.set_root_online(root.id, False)
            report.offline_roots.append(root.path)
            return
        if not root.online:
            self.catalog.set_root_online(root.id, True)
        known = self.catalog.file_states(root.id, self.encoder.model_id)
        on_disk: dict[str, tuple[int, int]] = {}
        for path, size, mtime in walk_images(root.path, self.skip):
            on_disk[path] = (size, mtime)
            if len(on_disk) % 2000 == 0:
                yield Progress("scan", len(on_disk), 0, message=f"scanning {root.path}")
        report.scanned += len(on_disk)

        gone = {p: s for p, s in known.items() if p not in on_disk}
        new: list[str] = []
        for path, (size, mtime) in on_disk.items():
            st = known.get(path)
            if st is None:
                new.append(path)
            elif (st.size, st.mtime_ns) != (size, mtime):
                tasks.append(_Task(root.id, path, st))
            elif st.status == "ok" and not st.has_embedding:
                tasks.append(_Task(root.id, path, None))  # e.g. the library switched model
            else:
                report.unchanged += 1  # failed files are retried only once they change

        new = self._match_moves(root, new, gone, on_disk, report)
        tasks.extend(_Task(root.id, p, None) for p in new)
        if gone:
            ids = [s.id for s in gone.values()]
            self.catalog.delete_photos(ids)
            self.vectors.remove(ids)
            report.removed += len(ids)

    def _match_moves(
        self,
        root: Root,
        new: list[str],
        gone: dict[str, FileState],
        on_disk: dict[str, tuple[int, int]],
        report: IndexReport,
    ) -> list[str]:
        """A new path with the content of a vanished one is a move: keep id, embedding, tags.

        Only files whose size matches a vanished photo are hashed here, so a plain import of
        new photos pays nothing extra.
        """
        if not gone or not new:
            return new
        by_size: dict[int, list[str]] = defaultdict(list)
        for path, st in gone.items():
            if st.hash:
                by_size[st.size].append(path)
        still_new: list[str] = []
        for path in new:
            size, mtime = on_disk[path]
            candidates = by_size.get(size)
            if not candidates:
                still_new.append(path)
                continue
            try:
                digest = hash_path(path)
            except OSError:
                still_new.append(path)
                continue
            match = next((p for p in candidates if gone[p].hash == digest), None)
            if match is None:
                still_new.append(path)
                continue
            candidates.remove(match)
            st = gone.pop(match)
            self.catalog.move_photo(st.id, root.id, path, size, mtime)
            report.moved += 1
            if st.status == "ok" and not st.has_embedding:
                still_new.append(path)  # moved, but still needs this model's embedding
        return still_new

    # -- decode / embed / store -------------------------------------------------------------

    def _load(self, task: _Task) -> _Result:
        """Runs in a worker thread: read once, hash, decode, preprocess, thumbnail."""
        res = _Result(task)
        try:
            with open(task.path, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
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
        job: int,
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
                    self.catalog.update_job(job, done, total, report.failed)
                    yield Progress("index", done, total, failed=report.failed,
                                   rate=report.indexed / elapsed if elapsed > 0 else 0.0)
                    if time.monotonic() - last_save > SAVE_EVERY_S:
                        self.vectors.save()
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
        with self.catalog.transaction():
            for r in batch:
                t = r.task
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
            if dropped:
                self.catalog.delete_embeddings(dropped)
            if vecs is not None:
                self.catalog.put_embeddings(self.encoder.model_id, ids, vecs)
        # The catalog is committed first: if we die before the vector file is saved, the next
        # start's sync re-adds these from the catalog.
        if dropped:
            self.vectors.remove(dropped)
        if vecs is not None:
            self.vectors.add(ids, vecs)
        report.indexed += len(ids)

