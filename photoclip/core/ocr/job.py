"""The text pass: read the words in every photo that has none recorded yet.

One generator yielding Progress("ocr", ...), driven by the CLI's bar or the GUI's JobRunner.
- After embedding, never in front of it: only photos that already have an embedding are
  read, so a new photo is searchable by CLIP first, and a run started alongside indexing
  simply finds fewer photos to read.
- Resumable: each photo's result is committed on its own, keyed to its content hash; a
  photo whose content already has a row is not read again (`force` reads them all again).
- Cancellable between photos (`cancel`, or closing the generator).
- A photo that cannot be decoded or read is recorded once with its reason (state 'failed');
  the pass goes on. Reading goes through a reader (worker.py): in the app a child process, so
  a crash or hang of the native runtime on one hostile photo costs that photo only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from photoclip.core.catalog import Catalog
from photoclip.core.catalog.database import under
from photoclip.core.errors import ImageError
from photoclip.core.ocr.engine import OcrError
from photoclip.core.ocr.store import TextStore
from photoclip.core.ocr.worker import DECODE_MIN_SIDE as DECODE_MIN_SIDE  # bench_ocr reads it
from photoclip.core.ocr.worker import ReaderClosed, reader_for
from photoclip.core.types import Progress

log = logging.getLogger(__name__)


@dataclass
class OcrReport:
    read: int = 0  # photos the recogniser ran on
    with_text: int = 0
    skipped: int = 0  # the detector saw no text at reduced size
    failed: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.read + self.skipped + self.failed


class OcrJob:
    def __init__(self, catalog: Catalog, engine: Any, *, folder: str | None = None,
                 force: bool = False, skip: bool = True) -> None:
        """`engine`: a reader (worker.py: `read_photo(path, skip)`), or an engine read with in
        this process (fakes in tests)."""
        self.catalog = catalog
        self.reader = reader_for(engine)
        self.store = TextStore(catalog)
        self.folder = folder
        self.force = force
        self.skip = skip
        self.report = OcrReport()

    def pending(self) -> list[tuple[str, str]]:
        """(hash, path) of each content to read: one path per content, in path order."""
        where = ["p.status = 'ok'", "p.hash IS NOT NULL",
                 "EXISTS (SELECT 1 FROM embeddings e WHERE e.photo_id = p.id)"]
        params: list[object] = []
        if self.folder:
            lo, hi = under(self.folder)
            where.append("p.path >= ? AND p.path < ?")
            params += [lo, hi]
        if not self.force:
            where.append("NOT EXISTS (SELECT 1 FROM photo_text t WHERE t.hash = p.hash)")
        rows = self.catalog.query(
            f"SELECT p.hash, min(p.path) FROM photos p WHERE {' AND '.join(where)} "
            "GROUP BY p.hash ORDER BY min(p.path)", params)
        return [(str(h), str(p)) for h, p in rows]

    def run(self, cancel: threading.Event | None = None) -> Iterator[Progress]:
        start = time.monotonic()
        self.store.prune()
        todo = self.pending()
        total = len(todo)
        r = self.report
        yield Progress("ocr", 0, total, message=_message(0, total))
        for i, (digest, path) in enumerate(todo, 1):
            if cancel is not None and cancel.is_set():
                break
            try:
                self._one(digest, path)
            except ReaderClosed:  # the library is closing: this photo is read next time
                break
            elapsed = time.monotonic() - start
            r.seconds = elapsed
            yield Progress("ocr", i, total, failed=r.failed, message=_message(i, total),
                           rate=i / elapsed if elapsed > 0 else 0.0,
                           extra={"with_text": r.with_text, "skipped": r.skipped})
        r.seconds = time.monotonic() - start
        yield Progress("ocr", r.done, total, failed=r.failed, finished=True,
                       message=self.summary(),
                       extra={"with_text": r.with_text, "skipped": r.skipped})

    def _one(self, digest: str, path: str) -> None:
        r = self.report
        try:
            state, lines = self.reader.read_photo(path, self.skip)
            if state == "skipped":
                r.skipped += 1
                self.store.put(digest, "skipped")
                return
        except (ImageError, OcrError) as exc:
            reason = exc.reason if isinstance(exc, ImageError) else str(exc)
            r.failed += 1
            r.reasons[reason] = r.reasons.get(reason, 0) + 1
            log.info("text of %s not read: %s", path, reason)
            self.store.put(digest, "failed", error=reason)
            return
        r.read += 1
        if lines:
            r.with_text += 1
        self.store.put(digest, "text" if lines else "none", lines)

    def summary(self) -> str:
        r = self.report
        looked = r.done
        share = f" ({100 * r.skipped / looked:.0f}% skipped: no text seen)" if looked else ""
        return (f"read text in {looked} photo(s): {r.with_text} with text, {r.skipped} "
                f"skipped{share}, {r.failed} failed, {r.seconds:.1f} s")


def _message(done: int, total: int) -> str:
    return f"reading text {done:,}/{total:,}"
