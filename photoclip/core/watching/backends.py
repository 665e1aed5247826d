"""The watchdog observers behind the watches: native (inotify, FSEvents, ReadDirectoryChanges)
where the system allows it, polling where it does not (or where the user asked for it).

One native observer serves every root; a root it cannot take (the inotify watch limit, a file
system without notifications) falls back to one shared polling observer. An observer thread
that dies takes its watches with it: it is replaced and its roots are rescheduled.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from photoclip.core.types import Root
from photoclip.core.watching.events import EVENT_TYPES

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 5.0  # each poll stats every file under the root: more often costs disk and CPU
INOTIFY_LIMIT_FILE = "/proc/sys/fs/inotify/max_user_watches"

# Benign: a folder moved inside a watched tree gets its inotify watch back from the kernel under
# its new path, and watchdog warns that it re-registers it. Not worth a line on the user's screen.
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning,
                        module="watchdog")


@dataclass
class Watched:
    """One library root and how it is watched."""

    root: Root
    online: bool = False
    polling: bool = False  # chosen for this root: on request, or native watching failed
    watch: ObservedWatch | None = None
    observer: BaseObserver | None = None


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


class Observers:
    """Schedules roots on the native or the polling observer, and restarts dead ones.

    `watch_limit` overrides the inotify limit read from the system; `observer_factory` makes
    the native observer (tests pass their own: then the system's limit is not consulted)."""

    def __init__(
        self,
        handler: FileSystemEventHandler,
        *,
        force_polling: bool = False,
        poll_interval_s: float = POLL_INTERVAL_S,
        watch_limit: int | None = None,
        observer_factory: Callable[[], BaseObserver] | None = None,
    ) -> None:
        self.handler = handler
        self.force_polling = force_polling
        self.poll_interval_s = poll_interval_s
        self._custom_observer = observer_factory is not None
        self._observer_factory: Callable[[], BaseObserver] = observer_factory or Observer
        # Checked before scheduling a native watch: newer watchdogs skip, without a word, the
        # folders the kernel refuses once the limit is reached.
        self._watch_limit = watch_limit
        self._native: BaseObserver | None = None
        self._polling: BaseObserver | None = None
        self._native_folders: dict[str, int] = {}  # root: inotify watches it was counted for

    def start_native(self) -> None:
        if self.force_polling:
            return
        try:
            observer = self._observer_factory()
            observer.start()
        except OSError as exc:
            log.warning(self.fallback_message("the library folders", exc))
            return
        self._native = observer

    def schedule(self, w: Watched) -> bool:
        """Watch a root natively, else by polling. False if it cannot be watched at all."""
        path = w.root.path
        if not w.polling and self._native is not None:
            try:
                self._check_watch_budget(path)
                w.watch = self._native.schedule(self.handler, path, recursive=True,
                                                event_filter=EVENT_TYPES)
                w.observer = self._native
                return True
            except OSError as exc:
                self._native_folders.pop(path, None)
                log.warning(self.fallback_message(path, exc))
                w.polling = True
        try:
            observer = self._polling_observer()
            w.watch = observer.schedule(self.handler, path, recursive=True,
                                        event_filter=EVENT_TYPES)
            w.observer = observer
            return True
        except OSError as exc:
            log.warning("cannot watch %s: %s; will retry", path, exc)
            return False

    def unschedule(self, w: Watched) -> None:
        if w.observer is not None and w.watch is not None:
            try:
                w.observer.unschedule(w.watch)
            except (KeyError, OSError, RuntimeError):
                log.debug("unschedule %s", w.root.path, exc_info=True)
        if w.observer is self._native:
            self._native_folders.pop(w.root.path, None)
        w.watch = w.observer = None

    @staticmethod
    def dead(w: Watched) -> bool:
        """The root's watch ended on its own: an error in the backend, events lost."""
        if w.observer is None or w.watch is None:
            return w.online
        if not w.observer.is_alive():
            return True
        return not any(e.watch == w.watch and e.is_alive() for e in w.observer.emitters)

    def ensure_alive(self, watched: Iterable[Watched]) -> None:
        """An observer thread that died takes its watches with it: start a fresh one; its
        roots' watches are dropped, so dead() is true for them: rescheduled, caught up."""
        for attr in ("_native", "_polling"):
            observer: BaseObserver | None = getattr(self, attr)
            if observer is None or observer.is_alive():
                continue
            log.warning("the file watcher stopped unexpectedly; restarting it")
            stop_observer(observer)
            setattr(self, attr, None)
            if attr == "_native":
                self.start_native()
            for w in watched:
                if w.observer is observer:
                    w.watch = w.observer = None

    def restart(self, watched: Iterable[Watched]) -> None:
        """Fresh observers; every watch is dropped (dead() is now true: rescheduled and
        caught up)."""
        self._stop_all(watched)
        self.start_native()

    def stop(self, watched: Iterable[Watched]) -> None:
        """Stop every observer; every root counts as unwatched and offline."""
        watched = list(watched)
        self._stop_all(watched)
        for w in watched:
            w.online = False

    def fallback_message(self, path: str, exc: OSError) -> str:
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

    def _stop_all(self, watched: Iterable[Watched]) -> None:
        for observer in (self._native, self._polling):
            if observer is not None:
                stop_observer(observer)
        self._native = self._polling = None
        self._native_folders.clear()
        for w in watched:
            w.watch = w.observer = None

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

    def _polling_observer(self) -> BaseObserver:
        if self._polling is None:
            observer = PollingObserver(timeout=self.poll_interval_s)
            observer.start()
            self._polling = observer
        return self._polling


def stop_observer(observer: BaseObserver) -> None:
    try:
        observer.stop()
        if observer.ident is not None:
            observer.join(timeout=10)
    except Exception:  # stopping must not mask why we are stopping
        log.debug("stopping the observer failed", exc_info=True)
