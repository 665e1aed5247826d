"""Coalescing: events gathered per path until their burst is over and the files stopped
changing, then handed over as one Batch (a camera import of 2,000 files is one batch; a renamed
folder is a move of all its photos, not a re-embedding). Used by the loop thread alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from photoclip.core.indexing import is_inside, walk_images
from photoclip.core.watching.events import Event, file_stat


@dataclass
class Pending:
    first: float  # first event of this burst for the path (bounds the wait: max_delay_s)
    last: float  # last event, or last time its size/mtime was seen to change
    stat: tuple[int, int] | None


@dataclass
class Batch:
    """One coalesced burst, as handed to Indexer.update."""

    files: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    moved: dict[str, str] = field(default_factory=dict)


class Burst:
    """The events not yet indexed. `relevant(path, file)` is the handler's filter, asked again
    for folders that appeared (the roots may have changed since); `skip` is the indexer's."""

    def __init__(self, *, debounce_s: float, stable_s: float, max_delay_s: float,
                 relevant: Callable[[str, bool], bool], skip: Sequence[str]) -> None:
        self.debounce_s = debounce_s
        self.stable_s = stable_s
        self.max_delay_s = max(max_delay_s, debounce_s)
        self._relevant = relevant
        self._skip = tuple(skip)
        self._files: dict[str, Pending] = {}
        self._new_dirs: dict[str, float] = {}
        self._gone_dirs: dict[str, float] = {}
        self._hints: dict[str, str] = {}  # file: the path it was moved from
        self._dir_hints: dict[str, str] = {}  # folder: the folder it was moved from
        self._last_event = 0.0
        self._not_before = 0.0  # no file can be ready before this

    @property
    def pending(self) -> int:
        """Paths and folders waiting for their burst to end or their files to settle."""
        return len(self._files) + len(self._new_dirs) + len(self._gone_dirs)

    def add(self, ev: Event) -> None:
        """A "file", "new_dir" or "gone_dir" event."""
        self._last_event = max(self._last_event, ev.at)
        self._not_before = 0.0
        if ev.kind == "file":
            pending = self._files.get(ev.path)
            if pending is None:
                self._files[ev.path] = Pending(ev.at, ev.at, ev.stat)
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

    def take(self, now: float) -> Batch | None:
        """The burst, once it is over and its files stopped changing; None while waiting.

        After max_delay_s the files that are ready go without the rest. A vanished path an
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
            st = file_stat(path)
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
        for path in batch.files:
            del self._files[path]
            src = self._hints.pop(path, None)
            if src is not None:
                batch.moved[path] = src
        for folder in batch.folders:
            del self._gone_dirs[folder]
        for path in waiting:
            self._files[path].first = now  # the rest get a fresh max_delay_s
        return batch

    def drop(self, root: str) -> None:
        """An offline or removed root, or one a full diff covers: its events mean nothing."""
        for d in (self._files, self._new_dirs, self._gone_dirs, self._hints, self._dir_hints):
            for path in [p for p in d if is_inside(p, root)]:
                del d[path]

    def _expand_new_dirs(self, now: float) -> None:
        """A folder that appeared stands for every photo in it; a moved folder's photos get
        move hints from the folder's old path."""
        for folder in list(self._new_dirs):
            del self._new_dirs[folder]
            src = self._dir_hints.pop(folder, None)
            if not self._relevant(folder, False):
                continue
            if not os.path.isdir(folder):
                # gone again, or a file where the event said folder (polling and inode reuse)
                if folder not in self._files and self._relevant(folder, True):
                    self._files[folder] = Pending(now, now, file_stat(folder))
                continue
            for path, size, mtime in walk_images(folder, self._skip):
                if path not in self._files:
                    # first seen now: it waits stable_s, as it may still be copying
                    self._files[path] = Pending(now, now, (size, mtime))
                if src is not None:
                    self._hints.setdefault(path, src + path[len(folder):])
