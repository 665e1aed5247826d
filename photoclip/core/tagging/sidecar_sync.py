"""Sidecars kept in step with the catalog as tags change and photos move.

With the library setting `xmp_sync` on, every change to a photo's tags (auto-tagging, the
indexer's hook, the user's decisions) or to its stars rewrites that photo's sidecar. Whatever
the setting, a photo that moves takes photoclip's keywords (and its stars) with it: the sidecar
at the new path gets them, the old one loses them (deleted when photoclip made it and nothing
else is in it), so a renamed `a.jpg` leaves no `a.jpg.xmp` behind. A deleted photo's sidecar
loses photoclip's keywords the same way. Another app's sidecar is never touched otherwise:
with the setting off, only sidecars that already hold photoclip's keywords are rewritten.

Callers only enqueue (cheap, and safe inside a catalog write transaction: the indexer's hook
runs there); the files are written by a worker thread after DEBOUNCE_S of quiet, at most
MAX_WAIT_S after the first change, or by flush() / close(). The worker reads the catalog with
the catalog's own lock, so it waits for a batch's transaction to commit and never writes a file
inside one. The catalog is the truth: each sidecar gets the tags its photos have now, and the
best of their ratings.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from photoclip.core.catalog import Catalog
from photoclip.core.catalog.database import in_chunks
from photoclip.core.encoder import Encoder
from photoclip.core.tagging.guards import printable
from photoclip.core.tagging.store import TagStore
from photoclip.core.tagging.tagger import SetVectors, Tagger, TagReport
from photoclip.core.tagging.xmp import (
    STYLES,
    SidecarError,
    SidecarReport,
    holds_ours,
    retire,
    sidecar_path,
    write_sidecar,
)
from photoclip.core.types import Label, LabelSet

log = logging.getLogger(__name__)

# A burst of clicks in the tag panel, or of indexer batches, becomes one pass over the files.
DEBOUNCE_S = 2.0
# A long run (the first index, a full re-tag) still writes its sidecars as it goes.
MAX_WAIT_S = 30.0


class SidecarSync:
    """Brings sidecars in line with the catalog in the background (see the module's text).

    `settings` returns (xmp_sync on, sidecar style) and is asked at each step, so a change in
    the Settings dialog applies at once."""

    def __init__(self, catalog: Catalog, settings: Callable[[], tuple[bool, str]], *,
                 debounce_s: float = DEBOUNCE_S, max_wait_s: float = MAX_WAIT_S) -> None:
        self.catalog = catalog
        self.store = TagStore(catalog)
        self.settings = settings
        self.debounce_s = debounce_s
        self.max_wait_s = max_wait_s
        self.report = SidecarReport()  # everything done since this object was made
        self._cond = threading.Condition()
        self._flushing = threading.Lock()
        self._ids: set[int] = set()
        self._moves: list[tuple[str, str]] = []
        self._gone: list[str] = []
        self._first = 0.0
        self._last = 0.0
        self._worker: threading.Thread | None = None
        self._closed = False

    @property
    def enabled(self) -> bool:
        return self.settings()[0]

    # -- what callers report (any thread, inside a transaction or not) ----------------------

    def changed(self, photo_ids: Iterable[int]) -> None:
        """These photos' tags changed: rewrite their sidecars, when the setting is on."""
        if self.enabled:
            self._enqueue(ids=photo_ids)

    def moved(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Photos the catalog now has at a new path: (old path, new path) each."""
        self.on_moved(pairs, ())

    def removed(self, paths: Sequence[str]) -> None:
        """Photos the catalog dropped because their files are gone."""
        self.on_moved((), paths)

    def on_moved(self, moved: Sequence[tuple[str, str]], removed: Sequence[str]) -> None:
        """The indexer's hook, called once a diff's moves and removals are committed. With
        the setting off only photos with a sidecar beside them are kept for the worker."""
        if not self.enabled:
            moved = [m for m in moved if _has_sidecar(m[0])]
        self._enqueue(moves=moved, gone=[p for p in removed if _has_sidecar(p)])

    @property
    def pending(self) -> bool:
        with self._cond:
            return bool(self._ids or self._moves or self._gone)

    def _enqueue(self, ids: Iterable[int] = (), moves: Sequence[tuple[str, str]] = (),
                 gone: Sequence[str] = ()) -> None:
        with self._cond:
            before = len(self._ids) + len(self._moves) + len(self._gone)
            self._ids.update(map(int, ids))
            self._moves += moves
            self._gone += gone
            if len(self._ids) + len(self._moves) + len(self._gone) == before:
                return
            now = time.monotonic()
            if not before:
                self._first = now
            self._last = now
            if self._closed:
                return  # close() flushes what is left
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="photoclip-sidecars",
                                                daemon=True)
                self._worker.start()
            self._cond.notify_all()

    # -- writing ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    due = min(self._last + self.debounce_s, self._first + self.max_wait_s)
                    wait = due - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._closed:
                    return
            try:
                self.flush()
            except Exception:  # one bad pass must not lose the next changes
                log.exception("sidecar sync pass failed")
            with self._cond:
                if not (self._ids or self._moves or self._gone):
                    self._worker = None  # idle: the next change starts a new one
                    return

    def close(self, timeout: float = 60.0) -> None:
        """Stop the worker and write what is still pending, here and now."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            worker = self._worker
        if worker is not None:
            worker.join(timeout)
        try:
            self.flush()
        except Exception:  # closing the library must go on; the next `xmp` catches up
            log.exception("sidecar sync: the last pass failed")

    def flush(self) -> SidecarReport:
        """Write every pending change now, in the caller's thread (never call it inside a
        catalog transaction); returns what this pass did."""
        with self._flushing:
            with self._cond:
                ids, moves, gone = self._ids, self._moves, self._gone
                self._ids, self._moves, self._gone = set(), [], []
            enabled, style = self.settings()
            report = SidecarReport()
            started = time.monotonic()
            for side, force in self._sidecars(ids if enabled else set(), moves, gone,
                                              enabled, style).items():
                self._one(side, force, enabled, style, report)
            report.seconds = time.monotonic() - started
            self._add(report)
            return report

    def _sidecars(self, ids: set[int], moves: Sequence[tuple[str, str]],
                  gone: Sequence[str], enabled: bool, style: str) -> dict[Path, bool]:
        """sidecar -> whether to write it even when it holds none of photoclip's keywords."""
        sides: dict[Path, bool] = {}
        for chunk, marks in in_chunks(sorted(ids)):
            for (path,) in self.catalog.query(
                    f"SELECT path FROM photos WHERE status = 'ok' AND id IN ({marks})", chunk):
                sides[sidecar_path(str(path), style)] = True
        for old, new in moves:
            olds = [sidecar_path(old, s) for s in STYLES]
            if enabled or any(self._safe_holds_ours(o) for o in olds):
                for o in olds:
                    sides.setdefault(o, False)
                sides[sidecar_path(new, style)] = True
        for old in gone:
            if not os.path.lexists(old):  # not back already
                for s in STYLES:
                    sides.setdefault(sidecar_path(old, s), False)
        return sides

    def _one(self, side: Path, force: bool, enabled: bool, style: str,
             report: SidecarReport) -> None:
        try:
            ids = self.photos_of(side, style)
            if not ids:  # no photo of the library has this sidecar now
                outcome = retire(side)
                if outcome == "removed":
                    report.removed += 1
                elif outcome == "cleaned":
                    report.cleaned += 1
                return
            if not (force or enabled or self._safe_holds_ours(side)):
                return  # with the setting off, another app's file is not ours to write
            tags = self.tags_of(ids)
            # The best of its photos' stars (a RAW and its JPEG may share it); 0 takes back
            # only a rating photoclip wrote, so another app's stays.
            stars = max((r for r, _ in self.catalog.ratings(ids).values()), default=0)
            if write_sidecar(side, sorted({label for _, label in tags}),
                             sorted(f"{s}|{label}" for s, label in tags), stars):
                report.written += 1
            else:
                report.unchanged += 1
        except (OSError, SidecarError) as exc:
            reason = exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
            report.failed += 1
            report.denied += isinstance(exc, PermissionError)
            report.errors.append((str(side), reason))
            log.warning("sidecar %s left alone: %s", printable(str(side)), reason)

    @staticmethod
    def _safe_holds_ours(side: Path) -> bool:
        try:
            return holds_ours(side)
        except (OSError, SidecarError):
            return False

    def live_tags(self, side: Path, style: str) -> list[tuple[str, str]] | None:
        """The (set, label) tags of the library's photos whose sidecar (in `style`) is `side`;
        None when there are none such photos. With `photo.xmp` a RAW and its JPEG share one."""
        ids = self.photos_of(side, style)
        return self.tags_of(ids) if ids else None

    def photos_of(self, side: Path, style: str) -> list[int]:
        """The ids of the library's photos whose sidecar (in `style`) is `side`."""
        stem = str(side)[: -len(".xmp")]
        if style == "photo.xmp":
            rows = self.catalog.query(
                "SELECT id, path FROM photos WHERE status = 'ok' AND path >= ? AND path < ?",
                (stem + ".", stem + chr(ord(".") + 1)))
        else:
            rows = self.catalog.query(
                "SELECT id, path FROM photos WHERE status = 'ok' AND path = ?", (stem,))
        return [int(i) for i, p in rows if sidecar_path(str(p), style) == side]

    def tags_of(self, ids: Sequence[int]) -> list[tuple[str, str]]:
        """The (set, label) tags these photos have, each once, in the photos' order."""
        tags = self.store.effective_tags(ids)
        out: list[tuple[str, str]] = []
        for pid in ids:
            out += [t for t in tags.get(pid, []) if t not in out]
        return out

    def _add(self, r: SidecarReport) -> None:
        total = self.report
        total.written += r.written
        total.unchanged += r.unchanged
        total.removed += r.removed
        total.cleaned += r.cleaned
        total.failed += r.failed
        total.denied += r.denied
        total.errors = (total.errors + r.errors)[-100:]  # the latest reasons, bounded
        total.seconds += r.seconds


def _has_sidecar(photo: str) -> bool:
    return any(os.path.lexists(sidecar_path(photo, style)) for style in STYLES)


class SidecarTagger(Tagger):
    """A Tagger that tells a SidecarSync whose tags it changed (auto-tagging, the indexer's
    hook, the user's decisions), so their sidecars follow when the setting is on."""

    def __init__(self, catalog: Catalog, encoder: Encoder, sidecars: SidecarSync) -> None:
        super().__init__(catalog, encoder)
        self.sidecars = sidecars

    def tag_photos(self, photo_ids: Sequence[int], vectors: np.ndarray,
                   sets: Sequence[LabelSet],
                   prepared: dict[int, SetVectors] | None = None) -> TagReport:
        report = super().tag_photos(photo_ids, vectors, sets, prepared)
        self.sidecars.changed(photo_ids)
        return report

    def set_tag(self, photo_id: int, ref: str) -> tuple[LabelSet, Label]:
        out = super().set_tag(photo_id, ref)
        self.sidecars.changed([photo_id])
        return out

    def unset_tag(self, photo_id: int, ref: str) -> tuple[LabelSet, Label]:
        out = super().unset_tag(photo_id, ref)
        self.sidecars.changed([photo_id])
        return out

    def reset_tag(self, photo_id: int, ref: str) -> tuple[LabelSet, Label]:
        out = super().reset_tag(photo_id, ref)
        self.sidecars.changed([photo_id])
        return out
