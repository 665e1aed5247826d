"""`photoclip bench --gui`: how the window copes with a large library, measured offscreen.

A temporary library gets N photo rows and their vectors straight through the catalog (no files,
no thumbnails, a fake 32-d model), then the real window opens on it and does what a user does:
browse, filter by folder and by date, load the model, type a search, receive a watcher batch,
scroll to the end. A 10-ms QTimer heartbeat runs on the UI thread the whole time; a gap between
two beats is a time the window could not repaint or take a click. Each action reports the
largest gap while it ran (`*_stall_ms`), the run its largest of all (`ui_worst_stall_ms`).

The model load is real when a model is named (`photoclip bench --gui --model DIR`): it is
loaded in a worker as the window loads its model (importing torch and transformers there, which
is what stalls a window), then the vector cache is built from the catalog. Without one it is
fake: 0.8 s of Python work in a worker, then the vector cache.
"""

from __future__ import annotations

import hashlib
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image

from photoclip.core.library import Library
from photoclip.core.types import PhotoRecord

HEARTBEAT_MS = 10
DIM = 32  # the fake model's vectors: small, so building the catalog stays cheap
FAKE_LOAD_S = 0.8
WATCHER_BATCH = 500
TYPED = "a red car on a beach"
TYPING_GAP_MS = 70  # a brisk typist


class FakeEncoder:
    """A model that answers at once: texts map to fixed random unit vectors."""

    model_id = "bench-fake"
    dim = DIM
    image_size = 32
    device = "cpu"

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return np.zeros((3, 32, 32), dtype=np.float32)

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        return unit(np.random.default_rng(len(batch)).normal(size=(len(batch), DIM)))

    def encode_texts(self, texts: Any) -> np.ndarray:
        seeds = [int(hashlib.sha1(t.encode()).hexdigest()[:8], 16) for t in texts]
        return unit(np.stack([np.random.default_rng(s).normal(size=DIM) for s in seeds]))


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def add_rows(lib: Library, roots: list[tuple[int, str]], start: int, count: int,
             year: int = 2005) -> None:
    """`count` photo rows (and vectors) spread over `roots` and twenty years, in one
    transaction: what an indexer would have written, without the files."""
    rng = np.random.default_rng(start)
    ids: list[int] = []
    with lib.catalog.transaction():
        for i in range(start, start + count):
            root_id, root = roots[i % len(roots)]
            y = year + i % 20
            taken = None if i % 7 == 0 else f"{y}-{1 + i % 12:02d}-{1 + i % 28:02d}T12:00:00"
            ids.append(lib.catalog.upsert_photo(PhotoRecord(
                root_id, f"{root}/{y}/IMG_{i:07d}.jpg", 3_000_000, (y - 1970) * 31_536 * 10**12,
                hashlib.sha1(str(i).encode()).hexdigest(), 4000, 3000, taken)))
        for n in range(0, len(ids), 20_000):
            chunk = ids[n:n + 20_000]
            lib.catalog.put_embeddings(FakeEncoder.model_id, chunk,
                                       unit(rng.normal(size=(len(chunk), DIM))))


class Heartbeat:
    """A UI-thread timer's beats, and the phases of the run they are judged over."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.beats: list[float] = []
        self.phases: dict[str, tuple[float, float]] = {}
        self.timer = QTimer()
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(lambda: self.beats.append(time.perf_counter()))

    def start(self) -> None:
        self.beats.append(time.perf_counter())
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self.beats.append(time.perf_counter())

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.phases[name] = (start, time.perf_counter())

    def worst(self, start: float = 0.0, end: float = float("inf")) -> float:
        """The longest gap between beats (ms) that overlaps [start, end]."""
        b = self.beats
        gaps = [b[i] - b[i - 1] for i in range(1, len(b)) if b[i] > start and b[i - 1] < end]
        return round(max(gaps, default=0.0) * 1000, 1)


def wait_until(cond: Callable[[], bool], timeout_s: float = 120.0) -> bool:
    """Run the event loop (not spin) until cond() holds."""
    from PySide6.QtCore import QEventLoop, QTimer

    if cond():
        return True
    loop = QEventLoop()
    deadline = time.monotonic() + timeout_s
    poll = QTimer()
    poll.setInterval(5)

    def check() -> None:
        if cond() or time.monotonic() > deadline:
            loop.quit()

    poll.timeout.connect(check)
    poll.start()
    loop.exec()
    poll.stop()
    return cond()


def run_gui_bench(photos: int = 100_000,
                  progress: Callable[[str], None] | None = None,
                  model: str | None = None) -> dict[str, Any]:
    """Build a library of `photos` rows in a temporary folder, drive the window over it and
    return the figures (see the module's docstring)."""
    say = progress or (lambda _m: None)
    from PySide6.QtWidgets import QApplication

    from photoclip.gui.jobs import share_the_interpreter

    share_the_interpreter()  # as the window's process does (gui/app.py)

    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="photoclip-bench-gui-") as tmp:
        from PySide6.QtCore import QSettings

        # The window remembers its geometry in QSettings: keep the user's own out of it.
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
        folders = [Path(tmp) / "Photos" / name for name in ("Family", "Travel", "Phone")]
        for f in folders:
            f.mkdir(parents=True)
        lib = Library(Path(tmp) / "library", encoder=FakeEncoder())
        try:
            roots = [(r.id, r.path) for r in lib.add_roots([str(f) for f in folders])]
            say(f"building a catalog of {photos:,} photos")
            started = time.perf_counter()
            add_rows(lib, roots, 0, photos)
            built = time.perf_counter() - started
            result = _drive(app, lib, roots, photos, say, model, Path(tmp))
        finally:
            lib.close()
    result["photos"] = photos
    result["switch_interval_ms"] = round(sys.getswitchinterval() * 1000, 3)
    result["catalog_build_s"] = round(built, 1)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    cache = f"the real vector cache built from {photos:,} {DIM}-d vectors"
    result["model_load"] = (f"real: {model} loaded in a worker, then {cache}" if model else
                            f"fake: {FAKE_LOAD_S} s of Python work in a worker, then {cache}")
    return result


def _drive(app: Any, lib: Library, roots: list[tuple[int, str]], photos: int,
           say: Callable[[str], None], model_id: str | None, tmp: Path) -> dict[str, Any]:
    from PySide6.QtCore import QDate, QEvent, QObject, Qt
    from PySide6.QtTest import QTest

    from photoclip.gui.main_window import MainWindow
    from photoclip.gui.views.photos import NO_DATE

    beat = Heartbeat()
    painted: list[float] = []

    class PaintSpy(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and win.photos.grid_model.rowCount():
                painted.append(time.perf_counter())
            return False

    say("opening the window")
    beat.start()
    with beat.phase("open"):
        opened = time.perf_counter()
        win = MainWindow(library=lib, load_model=False)
        spy = PaintSpy()
        win.photos.grid.viewport().installEventFilter(spy)
        win.resize(1280, 800)
        win.show()
        wait_until(lambda: bool(painted))
    page = win.photos
    first_paint = (painted[0] - opened) * 1000 if painted else float("nan")

    def settled() -> bool:
        return page.idle

    def act(name: str, action: Callable[[], None]) -> float:
        """Do `action`, wait until the grid shows its answer; the answer's time in ms."""
        wait_until(settled)
        say(name.replace("_", " "))
        with beat.phase(name):
            t = time.perf_counter()
            action()
            wait_until(lambda: not page.idle, 1.0)  # it may answer at once
            wait_until(settled)
            return (time.perf_counter() - t) * 1000

    times = {"browse_ms": act("browse", page.run_search)}
    times["filter_folder_ms"] = act("filter_folder", lambda: page.folder_filter.setCurrentIndex(1))
    act("filter_folder_back", lambda: page.folder_filter.setCurrentIndex(0))
    times["filter_date_ms"] = act("filter_date",
                                  lambda: page.after_filter.setDate(QDate(2015, 1, 1)))
    act("filter_date_back", lambda: page.after_filter.setDate(NO_DATE))

    say(f"loading the model {model_id}" if model_id else "loading the (fake) model")
    loaded = threading.Event()

    def load() -> None:
        if model_id:  # as the window does: torch, transformers and the weights, in a worker
            other = Library(tmp / "model-library", model=model_id, device="cpu")
            other.exports_in_child = True  # as the window's library
            try:
                cast(Any, other.encoder).load()  # a ClipEncoder: the Encoder protocol has no load
            finally:
                other.close()
            _ = lib.vectors
            return
        end = time.perf_counter() + FAKE_LOAD_S
        n = 0
        while time.perf_counter() < end:
            n += sum(range(1000))
        _ = lib.vectors  # the real vector cache, built from the catalog

    with beat.phase("model_load"):
        t = time.perf_counter()
        def ready(_value: None) -> None:
            page.set_model_ready(True)
            loaded.set()

        win.calls.run(load, ready)
        wait_until(loaded.is_set, 300)
        times["model_load_ms"] = (time.perf_counter() - t) * 1000

    def typing() -> None:
        page.search_field.setFocus()
        for ch in TYPED:
            QTest.keyClicks(page.search_field, ch)
            wait_until(lambda: False, TYPING_GAP_MS / 1000)

    times["typing_ms"] = act("typing", typing)
    found = page.grid_model.total
    act("clear_search", page.search_field.clear)

    arrived = threading.Event()
    batch_year, batch_start = [2030], [photos]

    def watcher_batch() -> None:
        # As the watcher does: written by another thread, then the window hears of it.
        def write() -> None:
            add_rows(lib, roots, batch_start[0], WATCHER_BATCH, year=batch_year[0])
            arrived.set()

        writer = threading.Thread(target=write)
        writer.start()
        wait_until(arrived.is_set, 120)
        writer.join()
        page.photos_landed(WATCHER_BATCH)

    times["watcher_batch_ms"] = act("watcher_batch", watcher_batch)
    batch_shown = page.grid_model.total == photos + WATCHER_BATCH

    say("scrolling to the end")
    with beat.phase("scroll_to_end"):
        t = time.perf_counter()
        grid, model = page.grid, page.grid_model
        grid.setFocus()

        def at_end() -> bool:
            grid.scrollToBottom()
            return not model.canFetchMore() and (
                grid.verticalScrollBar().value() == grid.verticalScrollBar().maximum())

        wait_until(at_end, 300)
        QTest.keyClick(grid, Qt.Key.Key_End)
        wait_until(lambda: False, 0.2)
        times["scroll_to_end_ms"] = (time.perf_counter() - t) * 1000
    rows_at_end = model.rowCount()
    # The worst case for a refresh: every row is in the view when a batch arrives.
    arrived.clear()
    batch_year[0], batch_start[0] = 2031, photos + WATCHER_BATCH
    times["watcher_batch_at_end_ms"] = act("watcher_batch_at_end", watcher_batch)
    win.close()
    beat.stop()

    out: dict[str, Any] = {
        "open_to_first_paint_ms": round(first_paint, 1),
        "ui_worst_stall_ms": beat.worst(),
    }
    for name in ("open", "browse", "filter_folder", "filter_date", "typing", "watcher_batch",
                 "model_load", "scroll_to_end", "watcher_batch_at_end"):
        start, end = beat.phases[name]
        out[f"{name}_stall_ms"] = beat.worst(start, end)
    out.update({k: round(v, 1) for k, v in times.items()})
    out.update(search_found=found, watcher_batch_shown=batch_shown, rows_at_end=rows_at_end,
               heartbeats=len(beat.beats))
    return out
