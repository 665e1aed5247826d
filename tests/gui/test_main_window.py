from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import skimage
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from photoclip.core.library import Library
from photoclip.gui.main_window import MainWindow

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


@pytest.fixture
def album(tmp_path) -> Path:
    root = tmp_path / "Holiday"
    root.mkdir()
    for name in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"):
        shutil.copy(SKIMAGE_DATA / name, root / name)
    return root


@pytest.fixture
def window(qtbot, tiny_clip_dir):
    win = MainWindow(library=Library(model=str(tiny_clip_dir)))
    qtbot.addWidget(win)
    win.show()
    return win


def _drop(win: MainWindow, folder: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    win.dropEvent(event)


def test_window_shows_before_torch_is_imported(tmp_path):
    code = """
import sys
from PySide6.QtWidgets import QApplication
from photoclip.core.library import Library
from photoclip.gui.main_window import MainWindow
app = QApplication([])
win = MainWindow(library=Library(sys.argv[1]), load_model=False)
win.show()
app.processEvents()
assert win.isVisible()
assert 'torch' not in sys.modules and 'transformers' not in sys.modules
print('ok')
"""
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lib")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_drop_a_folder_then_search_as_you_type(qtbot, window, album, tmp_path):
    assert "Drop a folder" in window.empty_label.text()
    with qtbot.waitSignal(window.model_ready, timeout=60_000):
        pass
    assert "Model ready on cpu" in window.state_label.text()
    with qtbot.waitSignal(window.index_finished, timeout=60_000):
        _drop(window, album)
    assert "4 indexed" in window.state_label.text()
    assert window.library.catalog.count_photos() == 4

    with qtbot.waitSignal(window.search_done, timeout=30_000) as blocker:
        qtbot.keyClicks(window.search_field, "a cat")
    assert blocker.args == [4]
    assert window.grid_model.rowCount() == 4
    assert not window.empty_label.isVisible()
    paths = {window.grid_model.item(r).hit.path for r in range(4)}
    assert paths == {str(p) for p in album.iterdir()}
    assert all(window.grid_model.item(r).thumbnail.exists() for r in range(4))
    QApplication.processEvents()  # let the layout settle before the screenshot
    window.grab().save(str(tmp_path / "window.png"))


def test_dropping_a_file_that_is_not_a_folder_is_ignored(qtbot, window, album):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(album / "chelsea.png"))])
    event = QDropEvent(QPoint(1, 1), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.library.catalog.roots() == []


def test_a_bad_model_is_reported_in_the_window_not_raised(qtbot, tmp_path):
    win = MainWindow(library=Library(model=str(tmp_path / "missing-model")))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "⚠" in win.state_label.text(), timeout=30_000)
    assert "missing-model" in win.state_label.text()
    assert win.isVisible()
