"""The watch loop: Watcher, which keeps the library equal to the disk while the app runs.

watchdog observer threads -> EventHandler (filters, stats) -> queue.Queue -> this loop, which
coalesces events per path (Burst), waits for a quiet moment and for files to stop changing,
then hands the whole burst to `Indexer.update` as one batch.

A root is caught up with a full diff (`Indexer.run`: size/mtime first, hash only where needed)
when watching starts, when it comes back online, and whenever events may have been lost: an
event-queue overflow, a watch that died, and, as a safety net for changes a backend never
reports, every AUDIT_S. Watches are scheduled before a catch-up, so nothing changed during it
is missed.

The loop is one generator yielding Progress (driven by `photoclip watch` and the GUI's worker);
everything else talks to it through thread-safe calls that post to its queue.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Generator, Iterator

from watchdog.observers.api import BaseObserver
from watchdog.utils import BaseThread

from photoclip.core.indexing import Indexer, IndexReport, is_inside
from photoclip.core.types import Progress, Root
from photoclip.core.watching.backends import POLL_INTERVAL_S, Observers, Watched
from photoclip.core.watching.burst import Batch, Burst
from photoclip.core.watching.events import Event, EventHandler, LostEvents, file_stat

log = logging.getLogger(__name__)

DEBOUNCE_S = 1.0  # a copy or camera import arrives as a burst of events; a quiet second ends it
STABLE_S = 2.0  # a file unchanged this long is no longer being written (USB/network copies stall)
MAX_DELAY_S = 30.0  # a stream that never goes quiet (a long import) is still indexed this often
ROOT_CHECK_S = 2.0  # how soon an unplugged or returned drive, or a root added elsewhere, is seen
AUDIT_S = 3600.0  # a full size/mtime rescan catches what a backend never reported, within the hour
# Polling compares snapshots, so it never names a photo that a scan (a catch-up, a new folder's
# walk) indexed between two of them and that went away (deleted, renamed to a hidden name)
# before the next: such photos are looked at again after this many poll intervals, when a
# snapshot that saw them has been taken (twice: a snapshot of a big tree takes a while).
RECHECK_POLLS = (2, 6)


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
        self.root_check_s = root_check_s
        self.audit_s = audit_s
        self._tick = max(0.02, min(debounce_s, stable_s, root_check_s) / 4)

        self._inbox: queue.Queue[Event] = queue.Queue()
        self._handler = EventHandler(self._inbox.put, indexer.skip, self.rescan)
        self._observers = Observers(self._handler, force_polling=polling,
                                    poll_interval_s=poll_interval_s, watch_limit=watch_limit,
                                    observer_factory=observer_factory)
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._stop = threading.Event()

        # Loop-thread state.
        self._burst = Burst(debounce_s=debounce_s, stable_s=stable_s, max_delay_s=max_delay_s,
                            relevant=self._handler.relevant, skip=indexer.skip)
        self._watched: dict[str, Watched] = {}
        self._lost: set[str] = set()  # roots to catch up; "" means all
        self._rearm: set[str] = set()  # folders in roots whose native watch must be made again
        self._roots_dirty = False
        self._busy = False
        self._broken = False  # a watchdog thread died: restart the observers, catch up
        self._rechecks: list[tuple[float, list[str]]] = []  # (when, paths): see RECHECK_POLLS
        self._previous_hook = threading.excepthook

    # -- control, from any thread ----------------------------------------------------------

    def pause(self) -> None:
        """Stop indexing between batches; events keep being collected meanwhile."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()
        self._inbox.put(Event("wake"))

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def roots_changed(self) -> None:
        """Roots were added or removed in the catalog: watch them now (else within
        ROOT_CHECK_S)."""
        self._inbox.put(Event("roots"))

    def rescan(self, root: str | None = None) -> None:
        """Catch up `root` (default: every root) with a full diff: events were lost."""
        self._inbox.put(Event("lost", root or ""))

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._inbox.put(Event("wake"))

    @property
    def pending(self) -> int:
        """Paths and folders waiting for their burst to end or their files to settle."""
        return self._burst.pending

    @property
    def idle(self) -> bool:
        """Nothing queued, waiting or being indexed: the catalog is as the events left it."""
        return (not self._busy and self._inbox.empty() and not self.pending and not self._lost
                and not self._rearm and not self._rechecks)

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
        listener = LostEvents(self.rescan)
        watchdog_log = logging.getLogger("watchdog.observers")
        watchdog_log.addHandler(listener)
        previous_hook = threading.excepthook
        threading.excepthook = self._thread_died
        self._previous_hook = previous_hook
        try:
            self._observers.start_native()
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
                    self._observers.restart(self._watched.values())
                    self._roots_dirty = True
                if self._roots_dirty or now >= next_check:
                    self._roots_dirty = False
                    next_check = now + self.root_check_s
                    returned, notes = self._sync_roots()
                    yield from notes
                    self._lost.update(r.path for r in returned)
                if self.paused:
                    continue
                if self._rearm:
                    self._rearm_watches()
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
                self._recheck(now)
                if self._burst.pending:
                    self._busy = True  # before the burst empties, so `idle` never flickers
                    batch = self._burst.take(now)
                    if batch is None:
                        self._busy = False
                    else:
                        yield from self._run_batch(batch, stop)
        finally:
            watchdog_log.removeHandler(listener)
            if threading.excepthook == self._thread_died:
                threading.excepthook = previous_hook
            self._observers.stop(self._watched.values())
            self.indexer.save()

    # -- events ------------------------------------------------------------------------------

    def _thread_died(self, args: threading.ExceptHookArgs) -> None:
        """watchdog's threads end on an unexpected error, and with them every event of the
        observer, without a word to its user: hear it here, restart and catch up."""
        if isinstance(args.thread, BaseThread):
            log.error("the file watcher failed (%s: %s); restarting it and rescanning, since "
                      "changes may have been missed", args.exc_type.__name__, args.exc_value,
                      exc_info=args.exc_value)
            self._inbox.put(Event("broken"))
            return
        self._previous_hook(args)

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

    def _absorb(self, ev: Event) -> None:
        if ev.kind == "lost":
            self._lost.add(ev.path)
        elif ev.kind == "roots":
            self._roots_dirty = True
        elif ev.kind == "broken":
            self._broken = True
        elif ev.kind == "rearm":
            self._rearm.add(ev.path)
        elif ev.kind != "wake":
            self._burst.add(ev)

    def _rearm_watches(self) -> None:
        """Watch again, from the tree as it is now, the natively watched roots where a folder
        may have been left unwatched (see EventHandler._check_watched), then catch them up:
        changes made meanwhile, or in the unwatched folder, would otherwise be missed until
        the next audit. Watches first, then the diff, so nothing is missed in between."""
        paths, self._rearm = self._rearm, set()
        for w in list(self._watched.values()):
            if not w.online or w.polling or not any(is_inside(p, w.root.path) for p in paths):
                continue
            log.info("a folder in %s moved before it could be watched; watching it again and "
                     "catching up", w.root.path)
            self._observers.unschedule(w)
            if self._observers.schedule(w):
                self._lost.add(w.root.path)
            # else: dead() is true for it now; the next root check schedules and catches up

    # -- indexing ----------------------------------------------------------------------------

    def _run_batch(self, batch: Batch, stop: threading.Event) -> Iterator[Progress]:
        log.debug("batch: %d files, %d folders, %d moves", len(batch.files),
                  len(batch.folders), len(batch.moved))
        job = self.indexer.update(batch.files, batch.folders, batch.moved, stop)
        if (yield from self._guarded(job, stop)):
            self._recheck_later(self.indexer.placed)
            yield self._note("batch", self.indexer.report, self.indexer.summary())

    def _catch_up(self, roots: list[Root], stop: threading.Event, why: str
                  ) -> Iterator[Progress]:
        for root in roots:
            self._burst.drop(root.path)  # the full diff covers them
        if not (yield from self._guarded(self.indexer.run(roots, stop), stop)):
            return
        self._recheck_later(self.indexer.placed)
        report = self.indexer.report
        for path in report.offline_roots:
            w = self._watched.get(path)
            if w is not None and w.online:
                self._go_offline(w)
        names = ", ".join(r.path for r in roots)
        yield self._note("catch-up", report, f"caught up {names}: {self.indexer.summary()}",
                         reason=why, roots=[r.path for r in roots])

    def _recheck_later(self, paths: list[str]) -> None:
        """The photos a scan gave a row in a polled root: see RECHECK_POLLS."""
        polled = [w.root.path for w in self._watched.values() if w.online and w.polling]
        if not polled:
            return
        paths = [p for p in paths if any(is_inside(p, r) for r in polled)]
        if paths:
            now, interval = time.monotonic(), self._observers.poll_interval_s
            self._rechecks.extend((now + n * interval, paths) for n in RECHECK_POLLS)

    def _recheck(self, now: float) -> None:
        """Those of the photos due for a second look that are gone leave like deleted ones."""
        due = [paths for when, paths in self._rechecks if when <= now]
        if not due:
            return
        self._rechecks = [(when, paths) for when, paths in self._rechecks if when > now]
        for paths in due:
            for path in paths:
                if file_stat(path) is None:
                    self._burst.add(Event("file", path, now))

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
            msg += f" ({len(polled)} by polling every {self._observers.poll_interval_s:g}s)"
        if offline:
            msg += f"; offline: {', '.join(offline)}"
        return Progress("watch", message=msg, extra={
            "event": "watching", "roots": sorted(modes), "polling": polled, "offline": offline})

    # -- roots -------------------------------------------------------------------------------

    def _sync_roots(self) -> tuple[list[Root], list[Progress]]:
        """Match the watches to the catalog's roots and to which of them are on disk.

        Returns the roots to catch up (new, back online, or whose watch died) and notes."""
        catalog_roots = {r.path: r for r in self.catalog.roots()}
        catch_up: list[Root] = []
        notes: list[Progress] = []
        for path in [p for p in self._watched if p not in catalog_roots]:
            self._observers.unschedule(self._watched.pop(path))  # removed (`photoclip remove`)
            self._burst.drop(path)
        self._observers.ensure_alive(self._watched.values())
        for path, root in catalog_roots.items():
            w = self._watched.get(path)
            first_sight = w is None
            if w is None:
                w = self._watched[path] = Watched(root, polling=self._observers.force_polling)
            w.root = root
            present = os.path.isdir(path)
            if present and not w.online:
                w.online = True
                self._refresh_snapshot()  # before scheduling: its first events must pass
                if self._observers.schedule(w):
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
            elif present and self._observers.dead(w):
                log.warning("watching %s stopped unexpectedly; rescanning it, since changes "
                            "may have been missed", path)
                self._observers.unschedule(w)
                if self._observers.schedule(w):
                    catch_up.append(root)
        self._refresh_snapshot()
        return catch_up, notes

    def _go_offline(self, w: Watched) -> None:
        log.warning("library folder %s is offline; its photos are kept", w.root.path)
        self._observers.unschedule(w)
        w.online = False
        self.catalog.set_root_online(w.root.id, False)
        self._burst.drop(w.root.path)
        self._refresh_snapshot()

    def _refresh_snapshot(self) -> None:
        """What the handler's threads filter events by: the online watched roots."""
        self._handler.roots = tuple(w.root for w in self._watched.values() if w.online)

    def _roots_to_catch_up(self) -> list[Root]:
        online = [w for w in self._watched.values() if w.online]
        if "" in self._lost:
            return [w.root for w in online]
        return [w.root for w in online if any(is_inside(w.root.path, p) or is_inside(p, w.root.path)
                                              for p in self._lost)]
