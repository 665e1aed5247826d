"""The window measures the CPU fast path once, when indexing is idle, and never while indexing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import skimage

from photoclip.core.library import Library
from photoclip.core.types import Progress
from photoclip.gui.fastpath_idle import MEASURING
from photoclip.gui.main_window import MainWindow

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
FAST_WATCH = {"debounce_s": 0.1, "stable_s": 0.2, "root_check_s": 0.2, "audit_s": None}
IDLE = Progress("watch", extra={"event": "catch-up"})


@pytest.fixture
def auto_library(tmp_path, tiny_clip_dir, monkeypatch):
    """A library on the tiny model with precision "auto" and no measurement yet."""
    monkeypatch.delenv("PHOTOCLIP_PRECISION", raising=False)
    lib = Library(tmp_path / "lib", model=str(tiny_clip_dir))
    if not lib.fast_path_unmeasured:
        lib.close()
        pytest.skip("the fast path is measured for the CPU only")
    return lib


def _window(qtbot, library: Library, **kwargs) -> MainWindow:
    win = MainWindow(library=library, **kwargs)
    qtbot.addWidget(win)
    win.show()
    return win


def test_measured_once_after_indexing_is_idle_and_not_while_indexing(qtbot, auto_library,
                                                                     tmp_path):
    album = tmp_path / "album"
    album.mkdir()
    for name in ("astronaut.png", "chelsea.png"):
        shutil.copy(SKIMAGE_DATA / name, album / name)
    auto_library.add_roots([str(album)])
    win = _window(qtbot, auto_library, watch_options=FAST_WATCH)
    runner = win.fastpath.runner
    seen: list[str] = []
    overlapped: list[Progress] = []

    def note(p: Progress) -> None:  # after the window's own handlers
        seen.append(p.extra.get("event", p.job))
        if p.job != "watch" and runner.busy and not runner.cancelled:
            overlapped.append(p)  # indexing while a measurement went on

    win.indexing.progress.connect(note)
    ends = []
    runner.finished.connect(ends.append)
    with qtbot.waitSignal(runner.finished, timeout=120_000):
        pass
    assert "catch-up" in seen  # the photos were indexed first...
    assert ends[0].completed  # ...then the measurement ran to its end
    assert not overlapped
    model = auto_library.settings.model
    assert auto_library.settings.fast_path[model] in ("fp32", "bf16", "int8")
    assert win.state_label.text() != MEASURING  # the quiet line went once it was done
    # Once: a later quiet moment (a new photo indexed) does not measure again.
    with qtbot.waitSignal(win.index_finished, timeout=60_000):
        shutil.copy(SKIMAGE_DATA / "coffee.png", album / "coffee.png")
    assert not runner.busy
    assert len(ends) == 1
    win.close()
    # The choice is the library's: saved for the next time the model loads.
    again = Library(tmp_path / "lib")
    assert model in again.settings.fast_path
    again.close()


def test_indexing_cancels_a_measurement_and_the_next_idle_starts_over(qtbot, auto_library):
    win = _window(qtbot, auto_library, load_model=False)
    runner = win.fastpath.runner
    win.indexing.progress.emit(IDLE)
    assert runner.busy
    assert win.state_label.text() == MEASURING
    with qtbot.waitSignal(runner.finished, timeout=60_000) as cancelled:
        win.indexing.progress.emit(Progress("index", 1, 10))  # a batch starts
    assert not cancelled.args[0].completed
    assert auto_library.fast_path_unmeasured  # nothing half measured was kept
    with qtbot.waitSignal(runner.finished, timeout=120_000) as done:
        win.indexing.progress.emit(IDLE)
    assert done.args[0].completed
    assert not auto_library.fast_path_unmeasured
    win.close()


def test_closing_the_window_cancels_the_measurement(qtbot, auto_library):
    win = _window(qtbot, auto_library, load_model=False)
    win.indexing.progress.emit(IDLE)
    assert win.fastpath.runner.busy
    win.close()
    assert not win.fastpath.runner.busy
    again = Library(auto_library.paths.root)
    assert again.settings.fast_path == {}
    again.close()
