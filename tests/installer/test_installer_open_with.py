"""What the desktop hands photoclip-gui: "Open with photoclip" on photos, folders given on its
command line or by macOS's Finder, and the icon the window shows."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import skimage
from PySide6.QtCore import QTimer
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication

from photoclip.config import DEFAULT_MODEL, Settings, default_model
from photoclip.core.library import Library
from photoclip.gui import app as gui_app
from photoclip.gui.desktop import FileOpenEvents, build_parser, folders_to_open, open_paths
from photoclip.gui.main_window import MainWindow

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


@pytest.fixture
def albums(tmp_path: Path) -> Path:
    for album, name in (("Holiday", "astronaut.png"), ("Cats", "chelsea.png")):
        (tmp_path / album).mkdir()
        shutil.copy(SKIMAGE_DATA / name, tmp_path / album / name)
    (tmp_path / "notes.txt").write_text("not a photo")
    return tmp_path


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    win = MainWindow(library=Library(tmp_path / "library"), load_model=False)
    qtbot.addWidget(win)
    win.show()
    return win


def _roots(win: MainWindow) -> list[str]:
    return [r.path for r in win.library.catalog.roots()]


def test_opening_folders_and_photos_adds_their_folders(qtbot, window, albums):
    open_paths(window, [str(albums / "Holiday"), str(albums / "Cats" / "chelsea.png"),
                        str(albums / "notes.txt"), str(albums / "missing")])
    # the folders are added off the UI thread: they land a moment later
    qtbot.waitUntil(lambda: _roots(window) == [str((albums / "Cats").resolve()),
                                               str((albums / "Holiday").resolve())])
    message = window.message_label.text()
    assert "notes.txt" in message
    assert "missing" in message


def test_a_photo_inside_a_library_folder_adds_nothing(albums):
    holiday = str((albums / "Holiday").resolve())
    photo = str(albums / "Holiday" / "astronaut.png")
    assert folders_to_open([photo, photo], roots=[]) == ([holiday], [])
    assert folders_to_open([photo], roots=[holiday]) == ([], [])
    assert folders_to_open([photo], roots=[str(albums.resolve())]) == ([], [])


def test_finder_open_events_add_the_photos_folder(qtbot, window, albums):
    app = QApplication.instance()
    events = FileOpenEvents(window)
    app.installEventFilter(events)
    try:
        QApplication.sendEvent(app, QFileOpenEvent(str(albums / "Cats" / "chelsea.png")))
    finally:
        app.removeEventFilter(events)
    qtbot.waitUntil(lambda: _roots(window) == [str((albums / "Cats").resolve())])


def test_command_line_paths_survive_qt_options():
    args = build_parser().parse_args(["--library", "/tmp/lib", "a folder", "photo.jpg"])
    assert args.paths == ["a folder", "photo.jpg"]
    assert args.library == "/tmp/lib"


def test_the_app_opens_with_its_icon_and_the_given_folder(qapp, albums, tmp_path, monkeypatch):
    # A model folder that is not there fails fast, before torch: this test is about start-up.
    monkeypatch.setenv("PHOTOCLIP_MODEL", str(tmp_path / "no-model"))
    seen: dict[str, object] = {}

    def look_and_close(tries: int = 200) -> None:
        (win,) = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and
                  w.isVisible()]
        if not _roots(win) and tries:  # the folder is added off the UI thread
            QTimer.singleShot(25, lambda: look_and_close(tries - 1))
            return
        seen["icon"] = sorted(s.width() for s in qapp.windowIcon().availableSizes())
        seen["window icon"] = not win.windowIcon().isNull()
        seen["roots"] = _roots(win)
        win.close()
        qapp.quit()

    QTimer.singleShot(0, look_and_close)
    assert gui_app.main(library=str(tmp_path / "library"),
                        paths=[str(albums / "Cats" / "chelsea.png")]) == 0
    assert seen["icon"] == [16, 24, 32, 48, 64, 128, 256, 512]
    assert seen["window icon"] is True
    assert seen["roots"] == [str((albums / "Cats").resolve())]


# --- a model shipped with an offline install --------------------------------------------------


def _fake_model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return folder


def test_a_bundled_model_is_what_a_new_library_starts_with(tmp_path, monkeypatch):
    models = tmp_path / "models"
    monkeypatch.setenv("PHOTOCLIP_MODELS_DIR", str(models))
    assert default_model() == DEFAULT_MODEL  # the folder is not there yet
    first = _fake_model(models / "a-finetuned-clip")
    assert default_model() == str(first)
    preferred = _fake_model(models / DEFAULT_MODEL.replace("/", "--"))
    (models / "not-a-model").mkdir()
    assert default_model() == str(preferred)
    assert Settings().model == str(preferred)
    assert Library(tmp_path / "library").settings.model == str(preferred)


def test_a_packaged_app_finds_models_beside_its_executable(tmp_path, monkeypatch):
    monkeypatch.delenv("PHOTOCLIP_MODELS_DIR", raising=False)
    assert default_model() == DEFAULT_MODEL
    model = _fake_model(tmp_path / "app" / "models" / "clip")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "app" / "photoclip-gui"))
    assert default_model() == str(model)
