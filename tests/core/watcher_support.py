"""Helpers for the watcher tests: real files, a watcher on a thread, and "equals the disk"."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from photoclip.core.indexing import hash_path, walk_images
from photoclip.core.library import Library
from photoclip.core.types import Progress
from photoclip.core.watching import Watcher

# Short intervals keep the suite fast; the real defaults are seconds (see watching/).
FAST = {"debounce_s": 0.1, "stable_s": 0.15, "max_delay_s": 5.0, "poll_interval_s": 0.1,
        "root_check_s": 0.1, "audit_s": None}


def jpeg(n: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small photo with content of its own: n picks the pixels."""
    pixels = np.random.default_rng(n).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def write_photo(path: Path, n: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg(n))
    return path


def wait_until(pred: Callable[[], bool], timeout: float = 20.0, what: str = "",
               detail: Callable[[], Any] | None = None) -> None:
    """Poll `pred` until true; fail after `timeout` seconds, saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    extra = f"\n{detail()}" if detail is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}{extra}")


def stays(pred: Callable[[], bool], seconds: float) -> bool:
    """`pred` holds for the whole window (for asserting that something does not happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pred():
            return False
        time.sleep(0.02)
    return True


def rows(lib: Library, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with lib.catalog.transaction() as c:
        return c.execute(sql, params).fetchall()


def catalog_files(lib: Library) -> dict[str, str]:
    return {p: h for p, h in rows(lib, "SELECT path, hash FROM photos WHERE status = 'ok'")}


def disk_files(lib: Library) -> dict[str, str]:
    out: dict[str, str] = {}
    for root in lib.catalog.roots():
        if Path(root.path).is_dir():
            for path, _, _ in walk_images(root.path, [str(lib.paths.root)]):
                with contextlib.suppress(OSError):  # deleted while we looked
                    out[path] = hash_path(path)
    return out


def mismatch(lib: Library) -> str:
    """What differs between the library and the disk; empty when they agree."""
    problems = []
    cat, disk = catalog_files(lib), disk_files(lib)
    if cat != disk:
        differs = [p for p in cat if p in disk and cat[p] != disk[p]]
        problems.append(f"catalog-only: {sorted(set(cat) - set(disk))[:5]} "
                        f"disk-only: {sorted(set(disk) - set(cat))[:5]} "
                        f"content differs: {differs[:5]}")
    failed = rows(lib, "SELECT path, error FROM photos WHERE status != 'ok'")
    if failed:
        problems.append(f"failed: {failed[:5]}")
    ok_ids = {i for (i,) in rows(lib, "SELECT id FROM photos WHERE status = 'ok'")}
    embedded = set(lib.catalog.embedding_ids(lib.encoder.model_id).tolist())
    vectors = set(lib.vectors.ids().tolist())
    if not ok_ids == embedded == vectors:
        problems.append(f"ids: photos-embedded {sorted(ok_ids ^ embedded)[:5]} "
                        f"photos-vectors {sorted(ok_ids ^ vectors)[:5]}")
    return "; ".join(problems)


def tag(lib: Library, path: Path | str, label: str = "holiday") -> None:
    """A user tag, written as the tagging code would: straight into the v3 tables."""
    with lib.catalog.transaction() as c:
        c.execute("INSERT OR IGNORE INTO label_sets(name) VALUES ('mine')")
        (set_id,) = c.execute("SELECT id FROM label_sets WHERE name = 'mine'").fetchone()
        c.execute("INSERT OR IGNORE INTO labels(set_id, name) VALUES (?, ?)", (set_id, label))
        (label_id,) = c.execute("SELECT id FROM labels WHERE set_id = ? AND name = ?",
                                (set_id, label)).fetchone()
        (photo_id,) = c.execute("SELECT id FROM photos WHERE path = ?", (str(path),)).fetchone()
        c.execute("INSERT INTO tags(photo_id, label_id, score, source, accepted) "
                  "VALUES (?, ?, NULL, 'user', 1)", (photo_id, label_id))


def tags_of(lib: Library, path: Path | str) -> set[str]:
    found = rows(lib, "SELECT l.name FROM tags t JOIN labels l ON l.id = t.label_id "
                      "JOIN photos p ON p.id = t.photo_id WHERE p.path = ?", (str(path),))
    return {name for (name,) in found}


def photo_id(lib: Library, path: Path | str) -> int | None:
    photo = lib.catalog.photo_by_path(str(path))
    return None if photo is None else photo.id


class Running:
    """A watcher driven on its own thread, as the CLI and the GUI drive it."""

    def __init__(self, lib: Library, **options: Any) -> None:
        self.lib = lib
        self.watcher: Watcher = lib.watcher(**{**FAST, **options})
        self.notes: list[Progress] = []
        self.cancel = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="watch-test", daemon=True)

    def _run(self) -> None:
        try:
            for p in self.watcher.run(self.cancel):
                if p.job == "watch":
                    self.notes.append(p)
        except BaseException as exc:
            self.error = exc

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [n.extra for n in list(self.notes) if n.extra.get("event") == kind]

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until the watcher is idle and the library equals the disk."""
        def done() -> bool:
            self._check()
            return self.watcher.idle and not mismatch(self.lib)
        wait_until(done, timeout, "the library to equal the disk",
                   detail=lambda: mismatch(self.lib))

    def totals(self, kind: str = "batch") -> dict[str, int]:
        keys = ("indexed", "failed", "moved", "removed")
        return {k: sum(int(e[k]) for e in self.events(kind)) for k in keys}

    def _check(self) -> None:
        if self.error is not None:
            raise AssertionError("the watcher failed") from self.error

    def __enter__(self) -> Running:
        self._thread.start()
        wait_until(lambda: bool(self.events("watching")) or self.error is not None, 30,
                   "the watcher to start")
        self._check()
        self.settle()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the watcher did not stop"
        self._check()
