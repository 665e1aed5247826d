"""Keep the library equal to the disk while the app runs.

watchdog observer threads -> a handler that filters and stats -> queue.Queue -> the watch loop,
which coalesces events per path, waits for a quiet moment and for files to stop changing, then
hands the whole burst to `Indexer.update` as one batch (a camera import of 2,000 files is one
batch; a renamed folder is a move of all its photos, not a re-embedding).

A root is caught up with a full diff (`Indexer.run`: size/mtime first, hash only where needed)
when watching starts, when it comes back online, and whenever events may have been lost: an
event-queue overflow, a watch that died, and, as a safety net for changes a backend never
reports, every AUDIT_S. Watches are scheduled before a catch-up, so nothing changed during it
is missed.

The loop is one generator yielding Progress (driven by `photoclip watch` and the GUI's worker);
everything else talks to it through thread-safe calls that post to its queue.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import sqlite3
import stat
import sys
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver
from watchdog.utils import BaseThread

from photoclip.core.imaging import is_image_path
from photoclip.core.indexing import Indexer, IndexReport, innermost_root, is_inside, walk_images
from photoclip.core.types import Progress, Root

log = logging.getLogger(__name__)

DEBOUNCE_S = 1.0  # a copy or camera import arrives as a burst of events; a quiet second ends it
STABLE_S = 2.0  # a file unchanged this long is no longer being written (USB/network copies stall)
MAX_DELAY_S = 30.0  # a stream that never goes quiet (a long import) is still indexed this often
POLL_INTERVAL_S = 5.0  # each poll stats every file under the root: more often costs disk and CPU
ROOT_CHECK_S = 2.0  # how soon an unplugged or returned drive, or a root added elsewhere, is seen
AUDIT_S = 3600.0  # a full size/mtime rescan catches what a backend never reported, within the hour
INOTIFY_LIMIT_FILE = "/proc/sys/fs/inotify/max_user_watches"

# Benign: a folder moved inside a watched tree gets its inotify watch back from the kernel under
# its new path, and watchdog warns that it re-registers it. Not worth a line on the user's screen.
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning,
                        module="watchdog")

# Only what can change a photo. Opened/closed-without-writing would report our own reads.
EVENT_TYPES: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent, FileDeletedEvent,
    FileMovedEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]


@dataclass(frozen=True)
class _Event:
    """What the handler thread posts to the watch loop."""

    kind: str  # "file" | "new_dir" | "gone_dir" | "lost" | "broken" | "roots" | "wake"
    path: str = ""
    at: float = 0.0
    stat: tuple[int, int] | None = None  # (size, mtime_ns) when the event was seen
    src: str | None = None  # where a moved file or folder came from


@dataclass
class _Pending:
    first: float  # first event of this burst for the path (bounds the wait: MAX_DELAY_S)
    last: float  # last event, or last time its size/mtime was seen to change
    stat: tuple[int, int] | None


@dataclass
class Batch:
    """One coalesced burst, as handed to Indexer.update."""

    files: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    moved: dict[str, str] = field(default_factory=dict)


@dataclass
class _Watched:
    root: Root
    online: bool = False
    polling: bool = False  # chosen for this root: on request, or native watching failed
    watch: ObservedWatch | None = None
    observer: BaseObserver | None = None


class _Handler(FileSystemEventHandler):
    def __init__(self, on_event: Callable[[FileSystemEvent], None]) -> None:
        self._on_event = on_event

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._on_event(event)


class _LostEvents(logging.Handler):
    """watchdog reports a kernel event-queue overflow only in its log: listen there."""

    def __init__(self, on_lost: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._on_lost = on_lost

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._on_lost()


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def inotify_watch_limit() -> int | None:
    """The per-user inotify watch limit, where this is Linux and it can be read."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return int(Path(INOTIFY_LIMIT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def count_folders(root: str) -> int:
    """Folders a recursive inotify watch of `root` needs, one each (hidden ones too)."""
    count, stack = 0, [root]
    while stack:
        folder = stack.pop()
        count += 1
        try:
            with os.scandir(folder) as it:
                stack.extend(e.path for e in it if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
    return count


class Watcher:
    """Watches every library root and keeps the catalog and vectors equal to the disk.

    `run()` is the job; `pause()`, `resume()`, `roots_changed()`, `rescan()` and `stop()` may
    be called from any thread while it runs.
    """

    def __init__(
        self,
        indexer: Indexer,
        *,
        polling: bool = False,
        debounce_s: float = DEBOUNCE_S,
        stable_s: float = STABLE_S,
        max_delay_s: float = MAX_DELAY_S,
        poll_interval_s: float = POLL_INTERVAL_S,
        root_check_s: float = ROOT_CHECK_S,
        audit_s: float | None = AUDIT_S,
        watch_limit: int | None = None,
        observer_factory: Callable[[], BaseObserver] | None = None,
    ) -> None:
        self.indexer = indexer
        self.catalog = indexer.catalog
        self.force_polling = polling
        self.debounce_s = debounce_s
        self.stable_s = stable_s
        self.max_delay_s = max(max_delay_s, debounce_s)
        self.poll_interval_s = poll_interval_s
        self.root_check_s = root_check_s
        self.audit_s = audit_s
        self._custom_observer = observer_factory is not None
        self._observer_factory: Callable[[], BaseObserver] = observer_factory or Observer
        # Checked before scheduling a native watch: newer watchdogs skip, without a word, the
        # folders the kernel refuses once the limit is reached.
        self._watch_limit = watch_limit
        self._tick = max(0.02, min(debounce_s, stable_s, root_check_s) / 4)

        self._inbox: queue.Queue[_Event] = queue.Queue()
        self._handler = _Handler(self._on_event)
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._stop = threading.Event()
        self._roots_snapshot: tuple[Root, ...] = ()  # online watched roots, read by the handler

        # Loop-thread state.
        self._native: BaseObserver | None = None
        self._polling: BaseObserver | None = None
        self._watched: dict[str, _Watched] = {}
        self._native_folders: dict[str, int] = {}  # root: inotify watches it was counted for
        self._files: dict[str, _Pending] = {}
        self._new_dirs: dict[str, float] = {}
        self._gone_dirs: dict[str, float] = {}
        self._hints: dict[str, str] = {}  # file: the path it was moved from
        self._dir_hints: dict[str, str] = {}  # folder: the folder it was moved from
        self._last_event = 0.0
        self._not_before = 0.0  # no file can be ready before this
        self._lost: set[str] = set()  # roots to catch up; "" means all
        self._roots_dirty = False
        self._busy = False
        self._broken = False  # a watchdog thread died: restart the observers, catch up
        self._previous_hook = threading.excepthook

    # -- control, from any thread ----------------------------------------------------------

    def pause(self) -> None:
        """Stop indexing between batches; events keep being collected meanwhile."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()
        self._inbox.put(_Event("wake"))

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def roots_changed(self) -> None:
        """Roots were added or removed in the catalog: watch them now (else within
        ROOT_CHECK_S)."""
        self._inbox.put(_Event("roots"))

    def rescan(self, root: str | None = None) -> None:
        """Catch up `root` (default: every root) with a full diff: events were lost."""
        self._inbox.put(_Event("lost", root or ""))

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._inbox.put(_Event("wake"))

    @property
    def pending(self) -> int:
        """Paths and folders waiting for their burst to end or their files to settle."""
        return len(self._files) + len(self._new_dirs) + len(self._gone_dirs)

    @property
    def idle(self) -> bool:
        """Nothing queued, waiting or being indexed: the catalog is as the events left it."""
        return not self._busy and self._inbox.empty() and not self.pending and not self._lost

    @property
    def modes(self) -> dict[str, str]:
        """How each online root is watched: "native" or "polling"."""
        return {p: ("polling" if w.polling else "native")
                for p, w in list(self._watched.items()) if w.online}

    # -- the job -----------------------------------------------------------------------------

    def run(self, cancel: threading.Event | None = None) -> Iterator[Progress]:
        """Watch until `cancel` is set, `stop()` is called or the generator is closed.

        Yields the indexer's Progress while it works and one Progress("watch") per batch,
        catch-up and root going offline or coming back; its `extra` says what happened."""
        stop = cancel if cancel is not None else threading.Event()
        listener = _LostEvents(self.rescan)
        watchdog_log = logging.getLogger("watchdog.observers")
        watchdog_log.addHandler(listener)
        previous_hook = threading.excepthook
        threading.excepthook = self._thread_died
        self._previous_hook = previous_hook
        try:
            self._start_native()
            caught_up, notes = self._sync_roots()
            yield from notes
            yield self._watching_note()
            next_check = time.monotonic() + self.root_check_s
            next_audit = None if self.audit_s is None else time.monotonic() + self.audit_s
            if caught_up:
                yield from self._catch_up(caught_up, stop, "start")
            while not (stop.is_set() or self._stop.is_set()):
                self._drain()
                now = time.monotonic()
                if self._broken:
                    self._broken = False
                    self._restart_observers()
                if self._roots_dirty or now >= next_check:
                    self._roots_dirty = False
                    next_check = now + self.root_check_s
                    returned, notes = self._sync_roots()
                    yield from notes
                    self._lost.update(r.path for r in returned)
                if self.paused:
                    continue
                if next_audit is not None and now >= next_audit:
                    next_audit = now + (self.audit_s or 0.0)
                    self._lost.add("")
                if self._lost:
                    self._busy = True  # before _lost empties, so `idle` never flickers
                    roots = self._roots_to_catch_up()
                    self._lost.clear()
                    if roots:
                        yield from self._catch_up(roots, stop, "rescan")
                    self._busy = False
                    continue
                batch = self._take_batch(now)
                if batch is not None:
                    yield from self._run_batch(batch, stop)
        finally:
            watchdog_log.removeHandler(listener)
            if threading.excepthook == self._thread_died:
                threading.excepthook = previous_hook
            self._stop_observers()
            self.indexer.save()

    # -- events (observer threads) -----------------------------------------------------------

    def _thread_died(self, args: threading.ExceptHookArgs) -> None:
        """watchdog's threads end on an unexpected error, and with them every event of the
        observer, without a word to its user: hear it here, restart and catch up."""
        if isinstance(args.thread, BaseThread):
            log.error("the file watcher failed (%s: %s); restarting it and rescanning, since "
                      "changes may have been missed", args.exc_type.__name__, args.exc_value,
                      exc_info=args.exc_value)
            self._inbox.put(_Event("broken"))
            return
        self._previous_hook(args)

    def _on_event(self, event: FileSystemEvent) -> None:
        try:
            self._translate(event)
        except Exception:  # an event we cannot read must not kill the observer thread
            log.exception("cannot handle %r; rescanning", event)
            self.rescan()

    def _translate(self, event: FileSystemEvent) -> None:
        at = time.monotonic()
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        put = self._inbox.put
        if event.is_directory:
            if isinstance(event, DirMovedEvent):
                src_ok = self._relevant(src)
                if src_ok:
                    put(_Event("gone_dir", src, at))
                if dest and self._relevant(dest):
                    put(_Event("new_dir", dest, at, src=src if src_ok else None))
            elif isinstance(event, DirDeletedEvent):
                if self._relevant(src):
                    put(_Event("gone_dir", src, at))
            elif isinstance(event, DirCreatedEvent) and self._relevant(src):
                put(_Event("new_dir", src, at))
            return
        if isinstance(event, FileMovedEvent):
            src_ok = self._relevant(src, file=True)
            if src_ok:
                put(_Event("file", src, at))
            if dest and self._relevant(dest, file=True):
                put(_Event("file", dest, at, _stat(dest), src if src_ok else None))
        elif isinstance(event, FileDeletedEvent):
            if self._relevant(src, file=True):
                put(_Event("file", src, at))
        elif self._relevant(src, file=True):
            put(_Event("file", src, at, _stat(src)))

    def _relevant(self, path: str, file: bool = False) -> bool:
        """Inside a watched root, not hidden, not in the library folder; an image if a file."""
        root = innermost_root(path, self._roots_snapshot)
        if root is None:
            return False
        rel = os.path.relpath(path, root.path)
        if rel != "." and any(part.startswith(".") for part in rel.split(os.sep)):
            return False
        if any(is_inside(path, s) for s in self.indexer.skip):
            return False
        return not file or is_image_path(path)

    # -- coalescing (loop thread) ------------------------------------------------------------

    def _drain(self) -> None:
        try:
            event = self._inbox.get(timeout=self._tick)
        except queue.Empty:
            return
        while True:
            self._absorb(event)
            try:
                event = self._inbox.get_nowait()
            except queue.Empty:
                return

    def _absorb(self, ev: _Event) -> None:
        if ev.kind == "lost":
            self._lost.add(ev.path)
            return
        if ev.kind == "roots":
            self._roots_dirty = True
            return
        if ev.kind == "broken":
            self._broken = True
            return
        if ev.kind == "wake":
            return
        self._last_event = max(self._last_event, ev.at)
        self._not_before = 0.0
        if ev.kind == "file":
            pending = self._files.get(ev.path)
            if pending is None:
                self._files[ev.path] = _Pending(ev.at, ev.at, ev.stat)
            else:
                pending.last, pending.stat = ev.at, ev.stat
            if ev.src is not None:
                # a -> b -> c in one burst is a move a -> c (b never reached the catalog)
                self._hints[ev.path] = self._hints.pop(ev.src, ev.src)
        elif ev.kind == "new_dir":
            self._new_dirs.setdefault(ev.path, ev.at)
            if ev.src is not None:
                self._dir_hints[ev.path] = self._dir_hints.pop(ev.src, ev.src)
        elif ev.kind == "gone_dir":
            self._gone_dirs.setdefault(ev.path, ev.at)

    def _take_batch(self, now: float) -> Batch | None:
        """The burst, once it is over and its files stopped changing; None while waiting.

        After MAX_DELAY_S the files that are ready go without the rest. A vanished path an
        event says moved to a file still being written waits with it, so a move never turns
        into delete-then-add (which would lose the photo's tags)."""
        if not (self._files or self._new_dirs or self._gone_dirs) or now < self._not_before:
            return None
        firsts = [p.first for p in self._files.values()]
        firsts += [*self._new_dirs.values(), *self._gone_dirs.values()]
        overdue = now - min(firsts) >= self.max_delay_s
        if now - self._last_event < self.debounce_s and not overdue:
            return None
        self._expand_new_dirs(now)
        ready: list[str] = []
        waiting: list[str] = []
        for path, p in self._files.items():
            if os.path.isdir(path):
                # A folder now where a file was (polling can mistake one for the other when
                # the file system reuses an inode): the file is gone, the folder is new.
                self._new_dirs.setdefault(path, now)
            st = _stat(path)
            if st is None:
                ready.append(path)  # gone (deleted or moved away)
            elif st != p.stat:
                p.stat, p.last = st, now
                waiting.append(path)
            elif now - p.last < self.stable_s:
                waiting.append(path)
            else:
                ready.append(path)
        if waiting and not overdue:
            self._not_before = min(self._files[w].last for w in waiting) + self.stable_s
            return None
        held = {self._hints[w] for w in waiting if w in self._hints}
        batch = Batch()
        batch.files = [p for p in ready if p not in held]
        batch.folders = [d for d in self._gone_dirs if not any(is_inside(h, d) for h in held)]
        if not batch.files and not batch.folders:
            self._not_before = now + self.stable_s
            return None
        self._busy = True  # before the pending set empties, so `idle` never flickers
        for path in batch.files:
            del self._files[path]
            src = self._hints.pop(path, None)
            if src is not None:
                batch.moved[path] = src
        for folder in batch.folders:
            del self._gone_dirs[folder]
        for path in waiting:
            self._files[path].first = now  # the rest get a fresh MAX_DELAY_S
        return batch

    def _expand_new_dirs(self, now: float) -> None:
        """A folder that appeared stands for every photo in it; a moved folder's photos get
        move hints from the folder's old path."""
        for folder in list(self._new_dirs):
            del self._new_dirs[folder]
            src = self._dir_hints.pop(folder, None)
            if not self._relevant(folder):
                continue
            if not os.path.isdir(folder):
                # gone again, or a file where the event said folder (polling and inode reuse)
                if folder not in self._files and self._relevant(folder, file=True):
                    self._files[folder] = _Pending(now, now, _stat(folder))
                continue
            for path, size, mtime in walk_images(folder, self.indexer.skip):
                if path not in self._files:
                    # first seen now: it waits STABLE_S, as it may still be copying
                    self._files[path] = _Pending(now, now, (size, mtime))
                if src is not None:
                    self._hints.setdefault(path, src + path[len(folder):])

    def _drop_pending(self, root: str) -> None:
        """An offline or removed root: its events mean nothing any more."""
        for d in (self._files, self._new_dirs, self._gone_dirs, self._hints, self._dir_hints):
            for path in [p for p in d if is_inside(p, root)]:
                del d[path]

    # -- indexing ----------------------------------------------------------------------------

    def _run_batch(self, batch: Batch, stop: threading.Event) -> Iterator[Progress]:
        log.debug("batch: %d files, %d folders, %d moves", len(batch.files),
                  len(batch.folders), len(batch.moved))
        job = self.indexer.update(batch.files, batch.folders, batch.moved, stop)
        if (yield from self._guarded(job, stop)):
            yield self._note("batch", self.indexer.report, self.indexer.summary())

    def _catch_up(self, roots: list[Root], stop: threading.Event, why: str
                  ) -> Iterator[Progress]:
        for root in roots:
            self._drop_pending(root.path)  # the full diff covers them
        if not (yield from self._guarded(self.indexer.run(roots, stop), stop)):
            return
        report = self.indexer.report
        for path in report.offline_roots:
            w = self._watched.get(path)
            if w is not None and w.online:
                self._go_offline(w)
        names = ", ".join(r.path for r in roots)
        yield self._note("catch-up", report, f"caught up {names}: {self.indexer.summary()}",
                         reason=why, roots=[r.path for r in roots])

    def _guarded(self, job: Iterator[Progress], stop: threading.Event
                 ) -> Generator[Progress, None, bool]:
        """Run a job; False if a root was removed under it (`photoclip remove` elsewhere): its
        rows refer to a root that is gone. Everything committed stays; the rest is rescanned."""
        try:
            yield from self._paced(job, stop)
        except sqlite3.IntegrityError as exc:
            log.warning("a library folder was removed while indexing (%s); rescanning", exc)
            self._roots_dirty = True
            self._lost.add("")
            return False
        return True

    def _paced(self, job: Iterator[Progress], stop: threading.Event) -> Iterator[Progress]:
        """Forward a job's progress, holding it between batches while paused."""
        self._busy = True
        try:
            for p in job:
                yield p
                while not self._running.is_set() and not stop.is_set():
                    self._running.wait(0.1)
        finally:
            self._busy = False
            close = getattr(job, "close", None)
            if close is not None:
                close()

    @staticmethod
    def _note(event: str, report: IndexReport, message: str, **extra: object) -> Progress:
        return Progress(
            "watch", report.indexed + report.failed, report.indexed + report.failed,
            failed=report.failed, rate=report.rate, message=message,
            extra={"event": event, "indexed": report.indexed, "failed": report.failed,
                   "moved": report.moved, "removed": report.removed,
                   "unchanged": report.unchanged, "offline_roots": list(report.offline_roots),
                   "seconds": round(report.seconds, 3), **extra},
        )

    def _watching_note(self) -> Progress:
        modes = self.modes
        polled = sorted(p for p, m in modes.items() if m == "polling")
        offline = sorted(p for p, w in self._watched.items() if not w.online)
        n = len(modes)
        msg = ("no folders to watch yet: add one" if not n
               else f"watching {n} folder" + ("s" if n > 1 else ""))
        if polled:
            msg += f" ({len(polled)} by polling every {self.poll_interval_s:g}s)"
        if offline:
            msg += f"; offline: {', '.join(offline)}"
        return Progress("watch", message=msg, extra={
            "event": "watching", "roots": sorted(modes), "polling": polled, "offline": offline})

    # -- roots and observers -----------------------------------------------------------------

    def _sync_roots(self) -> tuple[list[Root], list[Progress]]:
        """Match the watches to the catalog's roots and to which of them are on disk.

        Returns the roots to catch up (new, back online, or whose watch died) and notes."""
        catalog_roots = {r.path: r for r in self.catalog.roots()}
        catch_up: list[Root] = []
        notes: list[Progress] = []
        for path in [p for p in self._watched if p not in catalog_roots]:
            self._unschedule(self._watched.pop(path))  # removed (`photoclip remove`)
            self._drop_pending(path)
        self._ensure_observers_alive()
        for path, root in catalog_roots.items():
            w = self._watched.get(path)
            first_sight = w is None
            if w is None:
                w = self._watched[path] = _Watched(root, polling=self.force_polling)
            w.root = root
            present = os.path.isdir(path)
            if present and not w.online:
                w.online = True
                self._refresh_snapshot()  # before scheduling: its first events must pass
                if self._schedule(w):
                    catch_up.append(root)
                    if not first_sight:
                        notes.append(Progress("watch", message=f"{path} is back; catching up",
                                              extra={"event": "online", "root": path}))
                else:
                    w.online = False
            elif not present and (w.online or first_sight):
                self._go_offline(w)
                notes.append(Progress(
                    "watch", message=f"{path} is offline; its photos are kept until it returns",
                    extra={"event": "offline", "root": path}))
            elif present and self._dead(w):
                log.warning("watching %s stopped unexpectedly; rescanning it, since changes "
                            "may have been missed", path)
                self._unschedule(w)
                if self._schedule(w):
                    catch_up.append(root)
        self._refresh_snapshot()
        return catch_up, notes

    def _go_offline(self, w: _Watched) -> None:
        log.warning("library folder %s is offline; its photos are kept", w.root.path)
        self._unschedule(w)
        w.online = False
        self.catalog.set_root_online(w.root.id, False)
        self._drop_pending(w.root.path)
        self._refresh_snapshot()

    def _refresh_snapshot(self) -> None:
        self._roots_snapshot = tuple(w.root for w in self._watched.values() if w.online)

    def _roots_to_catch_up(self) -> list[Root]:
        online = [w for w in self._watched.values() if w.online]
        if "" in self._lost:
            return [w.root for w in online]
        return [w.root for w in online if any(is_inside(w.root.path, p) or is_inside(p, w.root.path)
                                              for p in self._lost)]

    def _schedule(self, w: _Watched) -> bool:
        """Watch a root natively, else by polling. False if it cannot be watched at all."""
        path = w.root.path
        if not w.polling and self._native is not None:
            try:
                self._check_watch_budget(path)
                w.watch = self._native.schedule(self._handler, path, recursive=True,
                                                event_filter=EVENT_TYPES)
                w.observer = self._native
                return True
            except OSError as exc:
                self._native_folders.pop(path, None)
                log.warning(self._fallback_message(path, exc))
                w.polling = True
        try:
            observer = self._polling_observer()
            w.watch = observer.schedule(self._handler, path, recursive=True,
                                        event_filter=EVENT_TYPES)
            w.observer = observer
            return True
        except OSError as exc:
            log.warning("cannot watch %s: %s; will retry", path, exc)
            return False

    def _fallback_message(self, path: str, exc: OSError) -> str:
        how = f"watching it by polling every {self.poll_interval_s:g}s instead"
        if exc.errno == errno.ENOSPC:
            return (f"Cannot watch {path} for changes: the inotify watch limit is reached "
                    f"(fs.inotify.max_user_watches = {inotify_watch_limit() or '?'}); {how}. "
                    "For instant updates raise it, e.g. `sudo sysctl "
                    "fs.inotify.max_user_watches=524288` (and in /etc/sysctl.conf to keep it).")
        if exc.errno == errno.EMFILE:
            return (f"Cannot watch {path} for changes: too many inotify instances "
                    f"(fs.inotify.max_user_instances); {how}.")
        return f"Cannot watch {path} for changes natively ({exc}); {how}."

    def _check_watch_budget(self, path: str) -> None:
        """Refuse (as the kernel would, ENOSPC) a native watch the inotify limit cannot hold."""
        limit = self._watch_limit
        if limit is None and not self._custom_observer:
            limit = inotify_watch_limit()
        if limit is None:
            return
        self._native_folders.pop(path, None)
        needed = count_folders(path)
        used = sum(self._native_folders.values())
        if used + needed > limit:
            raise OSError(errno.ENOSPC, f"inotify watch limit reached ({used + needed} > {limit})")
        self._native_folders[path] = needed

    def _unschedule(self, w: _Watched) -> None:
        if w.observer is not None and w.watch is not None:
            try:
                w.observer.unschedule(w.watch)
            except (KeyError, OSError, RuntimeError):
                log.debug("unschedule %s", w.root.path, exc_info=True)
        if w.observer is self._native:
            self._native_folders.pop(w.root.path, None)
        w.watch = w.observer = None

    def _dead(self, w: _Watched) -> bool:
        """The root's watch ended on its own: an error in the backend, events lost."""
        if w.observer is None or w.watch is None:
            return w.online
        if not w.observer.is_alive():
            return True
        return not any(e.watch == w.watch and e.is_alive() for e in w.observer.emitters)

    def _ensure_observers_alive(self) -> None:
        """An observer thread that died takes its watches with it: start a fresh one."""
        for attr in ("_native", "_polling"):
            observer: BaseObserver | None = getattr(self, attr)
            if observer is None or observer.is_alive():
                continue
            log.warning("the file watcher stopped unexpectedly; restarting it")
            _stop_observer(observer)
            setattr(self, attr, None)
            if attr == "_native":
                self._start_native()
            for w in self._watched.values():
                if w.observer is observer:
                    w.watch = w.observer = None  # _dead() is now true: rescheduled, caught up

    def _restart_observers(self) -> None:
        for observer in (self._native, self._polling):
            if observer is not None:
                _stop_observer(observer)
        self._native = self._polling = None
        self._native_folders.clear()
        for w in self._watched.values():
            w.watch = w.observer = None  # _dead() is now true: rescheduled and caught up
        self._start_native()
        self._roots_dirty = True

    def _start_native(self) -> None:
        if self.force_polling:
            return
        try:
            observer = self._observer_factory()
            observer.start()
        except OSError as exc:
            log.warning(self._fallback_message("the library folders", exc))
            return
        self._native = observer

    def _polling_observer(self) -> BaseObserver:
        if self._polling is None:
            observer = PollingObserver(timeout=self.poll_interval_s)
            observer.start()
            self._polling = observer
        return self._polling

    def _stop_observers(self) -> None:
        for observer in (self._native, self._polling):
            if observer is not None:
                _stop_observer(observer)
        self._native = self._polling = None
        for w in self._watched.values():
            w.watch = w.observer = None
            w.online = False
        self._native_folders.clear()


def _stop_observer(observer: BaseObserver) -> None:
    try:
        observer.stop()
        if observer.ident is not None:
            observer.join(timeout=10)
    except Exception:  # stopping must not mask why we are stopping
        log.debug("stopping the observer failed", exc_info=True)

