"""Words in photos in the window, as a user meets them: the text is read by itself after the
album is indexed (progress in the status bar), the preview shows the selected photo's text,
selectable, with the words of the search highlighted and boxed over the photo; Settings turns
reading text on and off."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from photoclip.config import Settings
from photoclip.core.library import Library
from photoclip.core.types import Progress
from photoclip.gui.main_window import MainWindow
from photoclip.gui.views.settings import SettingsDialog

FAST_WATCH = {"debounce_s": 0.1, "stable_s": 0.2, "root_check_s": 0.2, "audit_s": None}
CORE_TESTS = Path(__file__).parents[1] / "core"  # ocr_fakes: the child's fake recogniser


@pytest.fixture
def album(tmp_path) -> Path:
    root = tmp_path / "Receipts"
    root.mkdir()
    for name, colour in (("teal.png", (10, 150, 150)), ("olive.png", (120, 120, 10))):
        Image.new("RGB", (160, 120), colour).save(root / name)
    return root


@pytest.fixture
def window(qtbot, tiny_clip_dir, album, monkeypatch, ocr_on):
    monkeypatch.syspath_prepend(str(CORE_TESTS))
    monkeypatch.setattr("photoclip.core.ocr.door.available", lambda: True)
    library = Library(model=str(tiny_clip_dir))
    library.ocr.factory = "ocr_fakes:hostile"
    win = MainWindow(library=library, watch_options=FAST_WATCH)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.model_ready, timeout=60_000):
        pass
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(album))])
    heard: list[Progress] = []
    win.text_pass.heard.connect(heard.append)
    with qtbot.waitSignal(win.index_finished, timeout=60_000):
        win.dropEvent(QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                                 Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    # The text pass follows once the indexer is idle, and says when it is done.
    qtbot.waitUntil(lambda: any(p.finished for p in heard), timeout=60_000)
    win.heard = heard
    qtbot.waitUntil(lambda: win.photos.idle, timeout=10_000)
    return win


def _select(win: MainWindow, name: str) -> None:
    row = next(r for r in range(win.photos.grid_model.rowCount())
               if Path(win.photos.grid_model.item(r).path).name == name)
    win.photos.grid.setCurrentIndex(win.photos.grid_model.index(row))


def test_text_is_read_by_itself_and_the_preview_shows_and_highlights_it(qtbot, window):
    heard = window.heard
    assert any(p.message.startswith("reading text") and not p.finished for p in heard)
    assert "read text in 2 photo(s): 2 with text" in window.text_pass.label.toolTip()
    assert not window.text_pass.label.isVisible()  # done: the status bar is quiet again
    _select(window, "teal.png")
    panel = window.photos.preview.text_panel
    qtbot.waitUntil(panel.isVisible, timeout=10_000)
    assert panel.plain_text() == "colour 10-150-150"
    assert panel.highlighted() == []  # no search: nothing marked
    window.photos.search_field.setText("10-150")
    qtbot.waitUntil(lambda: panel.highlighted() == ["10-150"], timeout=10_000)
    assert panel.match.matched == (0,)  # that line's box is drawn over the photo
    qtbot.waitUntil(lambda: window.photos.preview.has_image, timeout=10_000)
    window.grab().save("/tmp/ocr20_preview_text.png")


def test_the_status_bar_shows_the_text_pass_while_it_reads(qtbot, window):
    label = window.text_pass.label
    window.text_pass.show_progress(Progress("ocr", 312, 5000, failed=2))
    assert label.isVisible()
    assert label.text() == "Reading text 312 / 5,000 · 2 unreadable"
    window.text_pass.show_progress(Progress("ocr", 312, 5000, extra={"waiting": True}))
    assert not label.isVisible()  # indexing goes first; its own progress shows


def test_settings_has_a_read_text_switch(qtbot):
    dialog = SettingsDialog(Settings(ocr=True), "")
    qtbot.addWidget(dialog)
    assert dialog.ocr.text() == "Read text in photos"
    assert dialog.ocr.isChecked()
    dialog.ocr.setChecked(False)
    assert dialog.result_settings().ocr is False
