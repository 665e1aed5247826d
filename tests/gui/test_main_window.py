from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import skimage
from PIL import Image
from PySide6.QtCore import QDate, QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QDialog

from photoclip.core.library import Library
from photoclip.core.types import Progress
from photoclip.gui.jobs import JobRunner
from photoclip.gui.main_window import MainWindow

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
NAMES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
# The watcher's quiet periods, shortened so a test sees a change within a second.
FAST_WATCH = {"debounce_s": 0.1, "stable_s": 0.2, "root_check_s": 0.2, "audit_s": None}


@pytest.fixture
def album(tmp_path) -> Path:
    root = tmp_path / "Holiday"
    root.mkdir()
    for name in NAMES:
        shutil.copy(SKIMAGE_DATA / name, root / name)
    return root


@pytest.fixture
def window(qtbot, tiny_clip_dir):
    win = MainWindow(library=Library(model=str(tiny_clip_dir)), watch_options=FAST_WATCH)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.model_ready, timeout=60_000):
        pass
    return win


def _drop(win: MainWindow, *paths: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    win.dropEvent(event)


def _index(qtbot, win: MainWindow, *folders: Path) -> None:
    with qtbot.waitSignal(win.index_finished, timeout=60_000):
        _drop(win, *folders)
    # The grid reads the catalog off the UI thread: wait for what it shows to catch up.
    qtbot.waitUntil(lambda: win.photos.idle, timeout=10_000)


def _grid_paths(win: MainWindow) -> list[str]:
    return [win.photos.grid_model.item(r).path for r in range(win.photos.grid_model.rowCount())]


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


def test_drop_a_folder_browse_then_search_as_you_type(qtbot, window, album, tmp_path):
    assert "Drop a folder" in window.photos.empty_label.text()
    _index(qtbot, window, album)
    assert "4 indexed" in window.state_label.text()
    # no query: the library is browsable at once
    assert sorted(Path(p).name for p in _grid_paths(window)) == sorted(NAMES)

    with qtbot.waitSignal(window.photos.search_done, timeout=30_000) as blocker:
        qtbot.keyClicks(window.photos.search_field, "a cat")
    assert blocker.args == [4]
    assert set(_grid_paths(window)) == {str(p) for p in album.iterdir()}
    scores = [window.photos.grid_model.item(r).score for r in range(4)]
    assert scores == sorted(scores, reverse=True)
    assert not window.photos.empty_label.isVisible()
    # thumbnails arrive asynchronously from the on-disk cache
    grid = window.photos.grid_model
    item = grid.item(0)
    qtbot.waitUntil(lambda: grid.loader.get(item.thumbnail, item.path) is not None,
                    timeout=10_000)


def test_preview_shows_the_selected_photo_and_finds_similar(qtbot, window, album):
    _index(qtbot, window, album)
    row = next(r for r in range(4) if window.photos.grid_model.item(r).path.endswith("chelsea.png"))
    window.photos.grid.setCurrentIndex(window.photos.grid_model.index(row))
    assert window.photos.preview.name.text() == "chelsea.png"
    assert window.photos.preview.dims.text().replace(" ", "") == "451×300"  # noqa: RUF001
    assert window.photos.preview.folder.text() == str(album)
    qtbot.waitUntil(lambda: window.photos.preview.has_image, timeout=10_000)

    with qtbot.waitSignal(window.photos.search_done, timeout=30_000):
        window.photos.preview.similar_button.click()
    first = window.photos.grid_model.item(0)
    assert first.path == str(album / "chelsea.png")
    assert first.score == pytest.approx(1.0, abs=1e-3)


def test_a_heic_photo_previews_upright_like_the_grid_shows_it(qtbot, window, tmp_path):
    """The preview decodes through the core's imaging, as the grid does: a HEIC photo (which
    Qt cannot read) previews, and a photo's EXIF orientation stands it upright."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    folder = tmp_path / "Phone"
    folder.mkdir()
    Image.new("RGB", (120, 80), "red").save(folder / "IMG_0001.heic", format="HEIF")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° to view, so the 120x80 pixels stand 80x120
    Image.new("RGB", (120, 80), "blue").save(folder / "turned.jpg", exif=exif)
    _index(qtbot, window, folder)
    grid = window.photos.grid_model
    preview = window.photos.preview
    for name, portrait in (("IMG_0001.heic", False), ("turned.jpg", True)):
        row = next(r for r in range(grid.rowCount()) if grid.item(r).path.endswith(name))
        window.photos.grid.setCurrentIndex(grid.index(row))
        assert preview.name.text() == name
        qtbot.waitUntil(lambda: preview.has_image, timeout=10_000)
        shown = preview.image_label.pixmap()
        assert not shown.isNull()
        assert "Cannot show" not in preview.image_label.text()
        assert (shown.height() > shown.width()) == portrait


def test_folder_and_date_filters_narrow_the_grid(qtbot, window, album, tmp_path):
    other = tmp_path / "Work"
    other.mkdir()
    shutil.copy(SKIMAGE_DATA / "camera.png", other / "camera.png")
    _index(qtbot, window, album, other)
    # the second folder's batch may land a moment after the first run's end is signalled
    qtbot.waitUntil(lambda: len(_grid_paths(window)) == 5, timeout=10_000)
    window.photos.folder_filter.setCurrentIndex(window.photos.folder_filter.findData(str(other)))
    with qtbot.waitSignal(window.photos.search_done, timeout=10_000):
        pass
    assert _grid_paths(window) == [str(other / "camera.png")]
    # a date range before any of these files were written: nothing
    window.photos.folder_filter.setCurrentIndex(0)
    window.photos.before_filter.setDate(QDate(2001, 1, 1))
    with qtbot.waitSignal(window.photos.search_done, timeout=10_000):
        pass
    assert _grid_paths(window) == []
    assert "No photos" in window.photos.empty_label.text() or window.photos.empty_label.isVisible()


def test_delete_key_never_deletes_a_file(qtbot, window, album):
    _index(qtbot, window, album)
    window.photos.grid.setFocus()
    window.photos.grid.setCurrentIndex(window.photos.grid_model.index(0))
    qtbot.keyClick(window.photos.grid, Qt.Key.Key_Delete)
    assert all((album / n).exists() for n in NAMES)
    assert "never deletes" in window.message_label.text()


def test_photos_copied_into_a_watched_folder_appear_by_themselves(qtbot, window, album):
    _index(qtbot, window, album)
    assert len(_grid_paths(window)) == 4
    shutil.copy(SKIMAGE_DATA / "horse.png", album / "horse.png")
    (album / "coffee.png").unlink()
    qtbot.waitUntil(lambda: sorted(Path(p).name for p in _grid_paths(window)) == sorted(
        ["astronaut.png", "chelsea.png", "rocket.jpg", "horse.png"]), timeout=30_000)
    assert window.library.catalog.count_photos() == 4


def test_removing_a_folder_while_watching(qtbot, window, album):
    _index(qtbot, window, album)
    with qtbot.waitSignal(window.folder_removal.removed, timeout=10_000):  # off the UI thread
        window.remove_folders([str(album)])
    qtbot.waitUntil(lambda: window.photos.idle, timeout=10_000)
    assert window.library.catalog.roots() == []
    assert _grid_paths(window) == []
    assert all((album / n).exists() for n in NAMES)


def test_dropping_a_photo_searches_for_photos_like_it(qtbot, window, album, tmp_path):
    _index(qtbot, window, album)
    outside = tmp_path / "elsewhere" / "my cat.png"  # not in the library, a space in the name
    outside.parent.mkdir()
    shutil.copy(SKIMAGE_DATA / "chelsea.png", outside)
    with qtbot.waitSignal(window.photos.search_done, timeout=30_000):
        _drop(window, outside)
    assert window.library.catalog.roots()[0].path == str(album)  # nothing added
    first = window.photos.grid_model.item(0)
    assert first.path == str(album / "chelsea.png")  # the same picture, in the library
    assert first.score == pytest.approx(1.0, abs=1e-3)


def test_dropping_something_else_says_what_to_drop(qtbot, window, tmp_path):
    note = tmp_path / "notes.txt"
    note.write_text("hello")
    _drop(window, note)
    assert window.library.catalog.roots() == []
    assert "Drop folders" in window.message_label.text()


def test_a_bad_model_is_reported_in_the_window_not_raised(qtbot, tmp_path):
    win = MainWindow(library=Library(model=str(tmp_path / "missing-model")))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "⚠" in win.message_label.text(), timeout=30_000)
    assert "missing-model" in win.message_label.text()
    assert win.isVisible()


def test_what_opening_the_library_had_to_say_shows_in_the_window(qtbot, tmp_path,
                                                                  tiny_clip_dir):
    """A damaged catalog with no backup: the library starts a new one and says so; the window
    shows that in its message area (no dialog) and keeps it there once the model is ready."""
    root = tmp_path / "lib"
    root.mkdir()
    (root / "catalog.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\xde\xad" * 3000)
    library = Library(root, model=str(tiny_clip_dir))
    assert library.notices  # what the core has to say, once
    win = MainWindow(library=library, watch_options={"audit_s": None})
    qtbot.addWidget(win)
    win.show()
    width = win.width()
    assert "catalog was damaged" in win.message_label.text()
    assert "no backup" in win.message_label.toolTip()
    with qtbot.waitSignal(win.model_ready, timeout=60_000):
        pass
    assert "catalog was damaged" in win.message_label.text()  # not cleared by the model
    QApplication.processEvents()
    assert win.isVisible()
    assert win.width() == width  # a long notice is cut to fit, it does not widen the window
    assert not [w for w in win.findChildren(QDialog) if w.isVisible()]
    # Another message takes its place, and clearing that leaves the area empty.
    (tmp_path / "notes.txt").write_text("hello")
    _drop(win, tmp_path / "notes.txt")
    assert "catalog" not in win.message_label.text()
    win.show_message("")
    assert win.message_label.text() == ""


def test_the_status_bar_keeps_folder_names_as_they_are(qtbot, tmp_path):
    win = MainWindow(library=Library(tmp_path / "lib"), load_model=False)
    qtbot.addWidget(win)
    win.show()
    win.indexing.progress.emit(Progress("watch",
                                        message="watching 2 folders; offline: /Volumes/Photos",
                                        extra={"event": "watching"}))
    assert win.state_label.text() == "Watching 2 folders; offline: /Volumes/Photos"


def test_indexing_decodes_embeds_and_writes_off_the_ui_thread(qtbot, window, tmp_path,
                                                              monkeypatch):
    """An indexing run started from the window (a folder dropped on it) reads, decodes,
    embeds and commits every photo in worker threads: the window stays free to repaint and
    take clicks. (How long it stalls is measured by `photoclip bench --gui`, not here.)"""
    folder = tmp_path / "big"
    folder.mkdir()
    src = Image.open(SKIMAGE_DATA / "astronaut.png").convert("RGB").resize((1200, 1200))
    for i in range(12):
        src.rotate(i * 15).save(folder / f"p{i}.jpg", quality=85)
    threads: dict[str, set[int]] = {}

    def spy(obj: object, name: str) -> None:
        real = getattr(obj, name)

        def wrapper(*a, **kw):
            threads.setdefault(name, set()).add(threading.get_ident())
            return real(*a, **kw)

        monkeypatch.setattr(obj, name, wrapper)

    import photoclip.core.indexing.pipeline as pipeline
    lib = window.library
    spy(pipeline, "prepare")
    spy(lib.encoder, "encode_images")
    for name in ("upsert_photo", "put_embeddings"):
        spy(lib.catalog, name)
    spy(lib.vectors, "add")
    _index(qtbot, window, folder)
    assert lib.catalog.count_photos() == 12
    assert set(threads) == {"prepare", "encode_images", "upsert_photo", "put_embeddings", "add"}
    ui = threading.get_ident()
    assert {name for name, seen in threads.items() if ui in seen} == set()


def test_a_paused_job_resumes_and_a_cancelled_one_stops(qtbot):
    def job(cancel):
        for i in range(5):
            if cancel.is_set():
                return
            yield Progress("index", i + 1, 5)

    runner = JobRunner()
    seen: list[int] = []
    runner.progress.connect(lambda p: seen.append(p.done))
    runner.pause()
    with qtbot.waitSignal(runner.progress, timeout=5_000):
        runner.start(job)
    assert runner.paused
    with qtbot.waitSignal(runner.finished, timeout=5_000):
        runner.resume()
    assert seen == [1, 2, 3, 4, 5]
    runner.wait()

    seen.clear()
    runner.pause()
    with qtbot.waitSignal(runner.progress, timeout=5_000):
        runner.start(job)
    with qtbot.waitSignal(runner.finished, timeout=5_000):
        runner.cancel()
    assert seen == [1]
    runner.wait()


def test_add_folder_opens_in_pictures_else_home(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.chdir(tmp_path)  # the folder photoclip was started from: never offered
    asked: list[str] = []

    def ask(_parent, _title, folder="", *_a, **_k):
        asked.append(folder)
        return ""

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(ask))
    win = MainWindow(library=Library(tmp_path / "lib"), load_model=False)
    qtbot.addWidget(win)
    add = next(a for a in win.menuBar().actions()[0].menu().actions()
               if a.text().replace("&", "").startswith("Add Folder"))
    add.trigger()
    (home / "Pictures").mkdir()
    add.trigger()
    assert asked == [str(home), str(home / "Pictures")]
