"""What Library hands out for OCR, kept here so library.py stays small."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photoclip.core.catalog import Catalog
from photoclip.core.errors import PhotoclipError
from photoclip.core.ocr.engine import ENABLE_HINT, available
from photoclip.core.ocr.follow import TextFollower
from photoclip.core.ocr.job import OcrJob
from photoclip.core.ocr.matching import TextMatch, text_match, with_text_filter
from photoclip.core.ocr.store import PhotoText, TextStore
from photoclip.core.ocr.worker import DEFAULT_FACTORY, TIMEOUT_S, IsolatedReader
from photoclip.core.types import Progress

if TYPE_CHECKING:
    import numpy as np

    from photoclip.core.indexing import Indexer
    from photoclip.core.library import Library
    from photoclip.core.query import ParsedQuery
    from photoclip.core.watching import Watcher

log = logging.getLogger(__name__)


def new_job(catalog: Catalog, engine: Any, *, enabled: bool, folder: str | None,
            force: bool) -> OcrJob:
    """The text pass, or the reason it cannot run (setting off, the extra missing)."""
    if not enabled:
        raise PhotoclipError("Reading text in photos is turned off for this library: "
                             "`photoclip ocr --on` turns it on.")
    if not available():
        raise PhotoclipError(f"Reading text in photos needs the OCR package: {ENABLE_HINT}")
    where = str(Path(folder).expanduser().resolve()) if folder else None
    return OcrJob(catalog, engine, folder=where, force=force)


def status(catalog: Catalog, enabled: bool) -> dict[str, Any]:
    """Photos read (skipped ones count: the detector looked) of those indexed, with text,
    skipped, failed; whether OCR is on and installed."""
    counts = TextStore(catalog).counts()
    return {"enabled": enabled, "installed": available(),
            "photos": catalog.count_photos("ok"), "read": sum(counts.values()),
            "with_text": counts.get("text", 0), "skipped": counts.get("skipped", 0),
            "failed": counts.get("failed", 0)}


class LibraryOcr:
    """`Library.ocr`: what a front end asks of the text pass. One reader per library: a child
    process (worker.py) started on the first photo, so a crash in the OCR runtime costs one
    photo, never the app."""

    def __init__(self, library: Library) -> None:
        self.library = library
        # The engine the reader's child makes ("module:function"; tests pass a fake one).
        self.factory = DEFAULT_FACTORY
        self.timeout_s: float | None = None  # per photo; None: worker.TIMEOUT_S
        self._reader: IsolatedReader | None = None
        self._follower: TextFollower | None = None
        self._lock = threading.Lock()

    @property
    def reader(self) -> IsolatedReader:
        with self._lock:
            if self._reader is None:
                self._reader = IsolatedReader(self.factory, timeout_s=self.timeout_s or TIMEOUT_S)
            return self._reader

    @property
    def wanted(self) -> bool:
        """Whether text is read by itself (after indexing, while watching): the setting is
        on, the package installed and the catalog writable."""
        lib = self.library
        return bool(lib.settings.ocr) and not lib.catalog.read_only and available()

    def job(self, folder: str | None = None, force: bool = False) -> OcrJob:
        """The text pass (run() it): photos with an embedding and no text read yet (`force`:
        again), or one folder's; refused when the setting is off or the `ocr` extra missing."""
        lib = self.library
        return new_job(lib.catalog, self.reader, enabled=bool(lib.settings.ocr),
                       folder=folder, force=force)

    def after_indexing(self, cancel: threading.Event | None = None) -> Iterator[Progress]:
        """The text pass for what indexing left unread, when text is read by itself; nothing
        when OCR is off or not installed (`add`/`index` run it after embedding)."""
        if not self.wanted:
            return
        job = OcrJob(self.library.catalog, self.reader)
        if not job.pending():
            return
        yield from job.run(cancel)

    def watched(self, indexer: Indexer, **options: Any) -> Watcher:
        """A Watcher over `indexer` with the text pass following it: after each catch-up and
        each batch its indexer wakes the follower, which reads while the watcher is idle."""
        from photoclip.core.watching import Watcher

        tag = indexer.on_batch

        def on_batch(ids: list[int], vectors: np.ndarray) -> None:
            if tag is not None:
                tag(ids, vectors)
            self.indexed()

        indexer.on_batch = on_batch
        indexer.after_run = self._caught_up
        watcher = Watcher(indexer, **options)
        self.follow(watcher)
        return watcher

    def _caught_up(self, _cancel: threading.Event | None = None) -> Iterator[Progress]:
        self.indexed()  # photos embedded earlier may still be unread
        yield from ()

    def follow(self, watcher: Watcher) -> TextFollower:
        """Keep the text pass going beside `watcher` (see follow.py): the follower waits while
        the watcher works or is paused; the watcher's indexer wakes it after each batch."""
        with self._lock:
            if self._follower is None:
                self._follower = TextFollower(self._pending_job,
                                              enabled=lambda: bool(self.library.settings.ocr))
            follower = self._follower
        follower.busy = lambda: watcher.paused or not watcher.idle
        return follower

    @property
    def follower(self) -> TextFollower | None:
        """The follower of the library's watcher, once one was made (the window listens)."""
        return self._follower

    def indexed(self, *_args: object) -> None:
        """An indexer committed a batch: wake the follower, if text is being followed."""
        if self._follower is not None and self.wanted:
            self._follower.poke()

    def _pending_job(self) -> OcrJob | None:
        if not self.wanted:
            return None
        job = OcrJob(self.library.catalog, self.reader)
        return job if job.pending() else None

    def status(self) -> dict[str, Any]:
        return status(self.library.catalog, bool(self.library.settings.ocr))

    def set_enabled(self, on: bool) -> None:
        """Turn reading text in photos on or off for this library (saved)."""
        self.library.settings.ocr = on
        self.library.save_settings()
        if on and self._follower is not None:
            self._follower.poke()

    def text(self, digest: str) -> PhotoText | None:
        """What was read in the photo with content hash `digest` (text, lines, boxes)."""
        return TextStore(self.library.catalog).get(digest)

    def match(self, digest: str, query: str) -> TextMatch | None:
        """The photo's text (None: none read) and where `query` matched it (the preview)."""
        return text_match(TextStore(self.library.catalog).get(digest), query)

    @staticmethod
    def with_text_filter(query: str, phrase: str) -> ParsedQuery:
        """`query` plus `--text PHRASE` (the same as `text:"PHRASE"`), for Searcher.plan."""
        return with_text_filter(query, phrase)

    def close(self) -> None:
        """Stop the follower and the reader's child process (the library is closing)."""
        if self._follower is not None:
            if self._reader is not None:
                self._reader.close()  # a photo being read is dropped, read next time
            self._follower.stop()
        if self._reader is not None:
            self._reader.close()
