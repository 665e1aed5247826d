"""Bring the catalog and vector index in line with the photos on disk.

scan -> diff -> decode (thread pool, prefetching) -> embed (batches) -> store (one transaction
per batch). The whole job is one generator yielding Progress, driven alike by the CLI (tqdm) and
the GUI (a worker thread). An interrupted run loses at most the batch in flight: everything
committed is skipped by the next run's diff.

A file that cannot be indexed is recorded as failed with its reason and is not read again until
its size or mtime changes. No one file can stall a run: each decode has a time limit
(DECODE_TIMEOUT_S, see pool.py), after which the file is recorded as failed and the run moves on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from photoclip.core.catalog import Catalog
from photoclip.core.cpugate import CpuGate
from photoclip.core.encoder import Encoder
from photoclip.core.imaging import RAW_NEEDS_EXTRA, raw_supported
from photoclip.core.indexing.decode import FileTask, Prepared, prepare
from photoclip.core.indexing.diff import Diff, OnMoved, RecentAdds, finish_edits, settle
from photoclip.core.indexing.edits import Held
from photoclip.core.indexing.gpu_decode import GpuJpegs
from photoclip.core.indexing.pool import DECODE_TIMEOUT_S, MAX_STUCK_DECODES, DecodePool
from photoclip.core.indexing.report import IndexReport, record_skipped
from photoclip.core.indexing.scan import (
    NAME_NOT_UTF8,
    FileId,
    catalog_path,
    file_id,
    innermost_root,
    is_empty_dir,
    is_inside,
    is_visible,
    walk_images,
)
from photoclip.core.types import PhotoRecord, Progress, Root
from photoclip.core.vectors import VectorIndex

log = logging.getLogger(__name__)

# Save the vector cache at least this often during a long run, so a crash costs little
# re-adding at the next start (the catalog itself is committed every batch).
SAVE_EVERY_S = 60.0
# Most files one transaction records (failed or unchanged ones, which need no model call).
MAX_BATCH_ROWS = 500


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
        on_moved: OnMoved | None = None,
        before_batches: Callable[[], object] | None = None,
        after_run: Callable[[threading.Event | None], Iterator[Progress]] | None = None,
    ) -> None:
        self.catalog = catalog
        self.encoder = encoder
        self.vectors = vectors
        # Called after each committed batch with the new photos' ids and image vectors (the
        # auto-tagger uses it). It runs in the indexing thread, between batches.
        self.on_batch = on_batch
        # Called in the indexing thread before a run's first batch, outside any transaction
        # (the tagger encodes its prompts there, so on_batch only scores).
        self.before_batches = before_batches
        # A job run() goes on with once every photo is embedded (the text pass, core/ocr).
        self.after_run = after_run
        # Called once a diff's moves and removals are committed (sidecars follow their photos).
        self.on_moved = on_moved
        self.thumbnails = thumbnails
        self.batch_size = max(1, batch_size)
        self.workers = workers or (os.cpu_count() or 2)
        self.skip = tuple(skip)
        self.decode_timeout = decode_timeout
        self.max_stuck = max(0, max_stuck)
        self.report = IndexReport()
        # The paths the last run() or update() moved a row to or found new (read, perhaps
        # vanished since): what a watcher that polls may never have seen (see Watcher).
        self.placed: list[str] = []
        self._gate = CpuGate()
        self._last_save = time.monotonic()
        # Photos update() added lately: a deletion seen later may make one a move.
        self._recent = RecentAdds()
        # Vanished photos with user tags, perhaps edited and renamed (edits.py): settled once
        # this run's new photos are embedded.
        self._held = Held()
        # JPEGs decoded on the GPU in batches when the model runs on CUDA and torchvision
        # loads (gpu_decode.py; settled at the first decode). None: Pillow decodes everything.
        self.gpu_jpegs: GpuJpegs | None = GpuJpegs(encoder)

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
        self.placed = []
        roots = list(self.catalog.roots() if roots is None else roots)
        with self.catalog.job("index") as job:
            try:
                tasks: list[FileTask] = []
                yield from self._diff_roots(roots, tasks, report)
                yield Progress("index", 0, len(tasks), message=f"{len(tasks)} photos to index")
                yield from self._process(tasks, job.id, started, cancel)
                self._finish_edits(cancel)
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
        if self.after_run is not None and not (cancel is not None and cancel.is_set()):
            yield from self.after_run(cancel)

    def summary(self) -> str:
        return self.report.summary()

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
        ids: dict[str, FileId | None] = {}
        for path in sorted(path_set | known.keys()):
            root = innermost_root(path, roots)
            if root is None or not self._root_online(root, online, report):
                known.pop(path, None)  # an unplugged drive's photos are kept as they are
                continue
            if not is_visible(path, root.path, self.skip):
                continue
            try:
                st = os.stat(real.get(path, path))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                on_disk[path] = (root.id, st.st_size, st.st_mtime_ns)
                ids[path] = file_id(st)
        report.scanned = len(on_disk)
        diff = Diff(hints={catalog_path(new): catalog_path(old)
                            for new, old in (moved or {}).items()},
                     preset=dict.fromkeys(real, NAME_NOT_UTF8), ids=ids)
        diff.classify(known, on_disk, report)
        settle(diff, self.catalog, self.vectors, self._recent, report, remember=True,
               on_moved=self.on_moved)
        self.placed = diff.placed
        self._held = diff.held
        if diff.tasks:
            yield Progress("index", 0, len(diff.tasks),
                           message=f"{len(diff.tasks)} photos to index")
        try:
            yield from self._process(diff.tasks, None, started, cancel)
            self._finish_edits(cancel)
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

    def _finish_edits(self, cancel: threading.Event | None) -> None:
        finished = not self.report.stopped and (cancel is None or not cancel.is_set())
        finish_edits(self._held, self.catalog, self.vectors, self._recent,
                     self.encoder.model_id, self.report, self.on_moved, finished)

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

    def _diff_roots(
        self, roots: Sequence[Root], tasks: list[FileTask], report: IndexReport
    ) -> Iterator[Progress]:
        """Diff every root first and match moves across all of them, so a photo moved from one
        root to another keeps its id, embedding and tags."""
        everything = self.catalog.roots()
        diff = Diff()
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
            skipped: Counter[str] = Counter()  # FIFOs, devices, link loops named like photos
            ids: dict[str, FileId | None] = {}
            for path, size, mtime in walk_images(root.path, (*self.skip, *nested), skipped,
                                                 ids):
                key = catalog_path(path)
                if key != path:
                    diff.preset[key] = NAME_NOT_UTF8
                on_disk[key] = (root.id, size, mtime)
                diff.ids[key] = ids.pop(path, None)
                if len(on_disk) % 2000 == 0:
                    yield Progress("scan", len(on_disk), 0, message=f"scanning {root.path}")
            record_skipped(self.catalog, root.id, skipped)  # for `status`, in any later process
            report.skipped.update(skipped)
            if not on_disk and known and is_empty_dir(root.path):
                # An unmounted drive often leaves its mount point behind as an empty folder;
                # "every photo deleted at once, nothing else left" is treated as unplugged.
                self._mark_offline(root, report)
                continue
            if not root.online:
                self.catalog.set_root_online(root.id, True)
            report.scanned += len(on_disk)
            diff.classify(known, on_disk, report)
        settle(diff, self.catalog, self.vectors, self._recent, report, on_moved=self.on_moved)
        self.placed = diff.placed
        self._held = diff.held
        tasks.extend(diff.tasks)

    # -- decode / embed / store -------------------------------------------------------------

    def _prepare(self, task: FileTask) -> Prepared:
        """Runs in a decode thread: read once, hash, decode, preprocess, thumbnail."""
        defer = self.gpu_jpegs.defer if self.gpu_jpegs is not None else None
        return prepare(task, self.encoder, self.thumbnails, defer)

    def _process(
        self,
        tasks: list[FileTask],
        job: int | None,
        started: float,
        cancel: threading.Event | None,
    ) -> Iterator[Progress]:
        report = self.report
        total = len(tasks)
        if not total:
            return
        if self.before_batches is not None:
            self.before_batches()
        last_save = time.monotonic()
        # Bounded prefetch: decode runs ahead of the model by two batches, no more, so memory
        # holds a few batches of pixels however large the library.
        ahead = self.batch_size * 2 + self.workers
        pending: deque[tuple[Future[Prepared], FileTask]] = deque()
        todo = iter(tasks)
        batch: list[Prepared] = []
        to_embed = 0  # results in `batch` with pixels
        done = 0
        pool = DecodePool(self.workers, self.max_stuck, self.decode_timeout, self._gate)
        try:
            while True:
                while len(pending) < ahead:
                    task = next(todo, None)
                    if task is None:
                        break
                    if task.error is not None:  # failing without a read: no thread needed
                        ready: Future[Prepared] = Future()
                        ready.set_result(self._prepare(task))
                        pending.append((ready, task))
                    else:
                        pending.append((pool.submit(self._prepare, task), task))
                if not pending:
                    break
                result = pool.result(*pending.popleft())
                if result is None:
                    # The files not reached are not failures: the next run reads them.
                    report.stopped = (
                        f"{self.max_stuck + 1} files took longer than "
                        f"{self.decode_timeout:g} s to read and decode; is a drive not "
                        "responding? The rest is indexed at the next run")
                    log.warning("indexing stopped: %s", report.stopped)
                else:
                    batch.append(result)
                    to_embed += result.pixels is not None or result.later is not None
                    # A batch is `batch_size` photos for the model; files without pixels
                    # (failed, unchanged) ride along, many per transaction, so a folder of
                    # thousands of broken files is not thousands of commits.
                    if to_embed < self.batch_size and len(batch) < MAX_BATCH_ROWS and pending:
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

    def _store(self, batch: list[Prepared]) -> None:
        report = self.report
        if self.gpu_jpegs is not None:  # the batch's JPEGs left for the GPU; Pillow if refused
            self.gpu_jpegs.finish(batch, lambda r: prepare(r.task, self.encoder, self.thumbnails))
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
        idents: dict[str, FileId | None] = {}  # where the platform gives inode numbers
        with self.catalog.transaction() as conn:
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
                idents[t.path] = t.ident
                if t.known is not None and t.known.hash != r.hash:
                    # New content: every model's old embedding of it is stale, not only ours
                    # (a library switching back to an earlier model must re-embed it).
                    dropped_others.append(ids[-1])
                if t.remember and r.hash:
                    self._recent.remember(r.hash, ids[-1], t.path)
                if r.hash and (t.known is None or t.known.hash != r.hash):
                    # A deleted photo's content back under a new path, or moved over another
                    # photo; also in run(): the watcher's catch-up rescans find moved files.
                    self._recent.restore_decisions(conn, r.hash, ids[-1])
            if any(idents.values()):
                self.catalog.set_identities(idents)
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
