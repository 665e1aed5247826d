"""From watchdog's events to the watch loop's: filtered, stat'ed, posted to its queue.

The handler runs in watchdog's observer threads; everything it learns goes to the loop as an
Event through a thread-safe queue, so the loop's state has one owner.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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

from photoclip.core.imaging import is_image_path
from photoclip.core.indexing import innermost_root, is_inside
from photoclip.core.types import Root

log = logging.getLogger(__name__)

# Only what can change a photo. Opened/closed-without-writing would report our own reads.
EVENT_TYPES: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent, FileDeletedEvent,
    FileMovedEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]


@dataclass(frozen=True)
class Event:
    """What the handler thread (or a control call) posts to the watch loop."""

    kind: str  # "file" | "new_dir" | "gone_dir" | "rearm" | "lost" | "broken" | "roots" | "wake"
    path: str = ""
    at: float = 0.0
    stat: tuple[int, int] | None = None  # (size, mtime_ns) when the event was seen
    src: str | None = None  # where a moved file or folder came from


def file_stat(path: str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a regular file; None if it is gone or not a regular file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


class EventHandler(FileSystemEventHandler):
    """Turns each watchdog event into Events for the loop, dropping those that cannot concern
    the library. `roots` (the online watched roots) is replaced whole by the loop, never
    changed in place, so the observer threads can read it without a lock."""

    def __init__(self, post: Callable[[Event], None], skip: Sequence[str],
                 on_error: Callable[[], None]) -> None:
        self.roots: tuple[Root, ...] = ()
        self._post = post
        self._skip = tuple(skip)
        self._on_error = on_error

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self.translate(event)
        except Exception:  # an event we cannot read must not kill the observer thread
            log.exception("cannot handle %r; rescanning", event)
            self._on_error()

    def translate(self, event: FileSystemEvent) -> None:
        at = time.monotonic()
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        put = self._post
        if event.is_directory:
            if isinstance(event, DirMovedEvent):
                src_ok = self.relevant(src)
                if src_ok:
                    put(Event("gone_dir", src, at))
                if dest and self.relevant(dest):
                    put(Event("new_dir", dest, at, src=src if src_ok else None))
                if dest:
                    self._check_watched(dest, at)
            elif isinstance(event, DirDeletedEvent):
                if self.relevant(src):
                    put(Event("gone_dir", src, at))
            elif isinstance(event, DirCreatedEvent):
                if self.relevant(src):
                    put(Event("new_dir", src, at))
                self._check_watched(src, at)
            return
        if isinstance(event, FileMovedEvent):
            src_ok = self.relevant(src, file=True)
            if src_ok:
                put(Event("file", src, at))
            if dest and self.relevant(dest, file=True):
                put(Event("file", dest, at, file_stat(dest), src if src_ok else None))
        elif isinstance(event, FileDeletedEvent):
            if self.relevant(src, file=True):
                put(Event("file", src, at))
        elif self.relevant(src, file=True):
            put(Event("file", src, at, file_stat(src)))

    def _check_watched(self, folder: str, at: float) -> None:
        """A folder reported as made (or moved in) that is already gone when we hear of it:
        the backend may have failed to watch whatever lives there now. watchdog's inotify
        backend watches a new folder when it reads its creation; a folder made inside one that
        is renamed before then (a copy renamed at once) no longer has that path, is never
        watched, and every later change in it goes unheard. Ask the loop to watch the root
        again from the tree as it is (and catch it up). Hidden folders count: a hidden
        staging folder renamed into view is the usual case."""
        if innermost_root(folder, self.roots) is not None and not os.path.isdir(folder):
            self._post(Event("rearm", folder, at))

    def relevant(self, path: str, file: bool = False) -> bool:
        """Inside a watched root, not hidden, not in the library folder; an image if a file."""
        root = innermost_root(path, self.roots)
        if root is None:
            return False
        rel = os.path.relpath(path, root.path)
        if rel != "." and any(part.startswith(".") for part in rel.split(os.sep)):
            return False
        if any(is_inside(path, s) for s in self._skip):
            return False
        return not file or is_image_path(path)


class LostEvents(logging.Handler):
    """watchdog reports a kernel event-queue overflow only in its log: listen there."""

    def __init__(self, on_lost: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._on_lost = on_lost

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._on_lost()
