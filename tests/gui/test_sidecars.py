"""Sidecars from the window (issue 16, item 4): "Write sidecars now" in Settings and File ▸
Write Tags to Sidecars Now write each photo's tags to photo.jpg.xmp beside it, off the UI
thread, with progress, Cancel, and then what was done."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from photoclip.core.library import Library
from photoclip.core.tagging import LabelSetSpec, LabelSpec
from photoclip.core.tagging.xmp import read_keywords
from photoclip.gui.main_window import MainWindow
from photoclip.gui.views.settings import SettingsDialog
from photoclip.gui.views.sidecars import SidecarWindow, SidecarWriting

LABELS = ("cat", "dog", "rabbit")
PHOTOS = ("blue.jpg", "green.jpg", "red.jpg")


def index_tagged_album(library: Library, folder: Path) -> Path:
    """Three generated photos, indexed; the tiny random model with threshold 0 and floor -1
    gives every photo an auto tag of each label."""
    folder.mkdir()
    for name, bg, fg in zip(PHOTOS, ("yellow", "navy", "white"), ("blue", "lime", "red"),
                            strict=True):
        image = Image.new("RGB", (120, 90), bg)
        ImageDraw.Draw(image).ellipse((30, 15, 90, 75), fill=fg)
        image.save(folder / name, quality=90)
    library.tagger().store.save_set(LabelSetSpec(
        "pets", tuple(LabelSpec(n) for n in LABELS), threshold=0.0, floor=-1.0,
        multi_label=True))
    library.add_roots([str(folder)])
    for _ in library.indexer().run():
        pass
    return folder


@pytest.fixture
def album(library, tmp_path) -> Path:
    return index_tagged_album(library, tmp_path / "Pets")


@pytest.fixture
def writing(qtbot, library):
    job = SidecarWriting(library)
    yield job
    job.stop()


def sidecars(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.xmp"))


def assert_tags_written(folder: Path) -> None:
    assert sidecars(folder) == [f"{name}.xmp" for name in PHOTOS]
    for name in PHOTOS:
        subjects, hierarchy = read_keywords(folder / f"{name}.xmp")
        assert sorted(subjects) == sorted(LABELS)
        assert sorted(hierarchy) == sorted(f"pets|{label}" for label in LABELS)


def dialog_for(qtbot, library: Library, writing: SidecarWriting) -> SettingsDialog:
    dialog = SettingsDialog(library.settings, str(library.paths.root), sidecars=writing)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_write_sidecars_now_writes_each_photos_tags_off_the_ui_thread(
        qtbot, library, album, writing, monkeypatch):
    assert sidecars(album) == []  # the setting is off: indexing wrote none
    threads: list[threading.Thread] = []
    make = library.sidecar_writer

    def spy(style: str | None = None):
        writer = make(style)
        run = writer.run

        def tracked_run(*args, **kwargs):
            threads.append(threading.current_thread())
            yield from run(*args, **kwargs)

        monkeypatch.setattr(writer, "run", tracked_run)
        threads.append(threading.current_thread())
        return writer

    monkeypatch.setattr(library, "sidecar_writer", spy)
    dialog = dialog_for(qtbot, library, writing)
    panel = dialog.sidecar_panel
    assert panel is not None
    assert not panel.bar.isVisible()
    with qtbot.waitSignal(writing.finished, timeout=30_000) as done:
        panel.write_button.click()
        assert not panel.write_button.isEnabled()  # one run at a time
        assert panel.cancel_button.isVisible()
    assert done.args == ["3 sidecars written, 0 unchanged.", False]
    assert threads
    assert all(t is not threading.main_thread() for t in threads)
    assert_tags_written(album)
    assert panel.result.text() == "3 sidecars written, 0 unchanged."
    assert panel.write_button.isEnabled()
    assert not panel.cancel_button.isVisible()

    # Again: nothing changed, nothing rewritten.
    with qtbot.waitSignal(writing.finished, timeout=30_000) as again:
        panel.write_button.click()
    assert again.args == ["0 sidecars written, 3 unchanged.", False]


def test_the_dialog_writes_the_sidecar_name_it_shows(qtbot, library, album, writing):
    dialog = dialog_for(qtbot, library, writing)
    dialog.sidecar.setCurrentIndex(dialog.sidecar.findData("photo.xmp"))
    assert dialog.xmp_note.text().startswith("photo.xmp beside each photo, read by Lightroom")
    with qtbot.waitSignal(writing.finished, timeout=30_000):
        dialog.sidecar_panel.write_button.click()
    assert sidecars(album) == ["blue.xmp", "green.xmp", "red.xmp"]


def test_a_sidecar_that_cannot_be_written_is_reported_with_the_others_written(
        qtbot, library, album, writing):
    (album / "red.jpg.xmp").mkdir()  # not a file: it cannot be written
    dialog = dialog_for(qtbot, library, writing)
    with qtbot.waitSignal(writing.finished, timeout=30_000) as done:
        dialog.sidecar_panel.write_button.click()
    message, failed = done.args
    assert failed
    assert message.startswith("2 sidecars written, 0 unchanged, 1 failed. 1 sidecar(s) were "
                              "left alone, e.g. ")
    assert "red.jpg.xmp" in message
    result = dialog.sidecar_panel.result
    assert result.text() == f"⚠ {message}"
    # The line wraps; the dialog grows to show all of it, above its OK / Cancel buttons.
    buttons = dialog.findChild(QDialogButtonBox)
    assert result.heightForWidth(result.width()) > 2 * result.fontMetrics().height()

    def shown_whole() -> bool:
        return (result.height() >= result.heightForWidth(result.width())
                and result.mapTo(dialog, QPoint(0, result.height())).y() <= buttons.y())

    qtbot.waitUntil(shown_whole, timeout=5_000)
    assert (album / "blue.jpg.xmp").is_file()
    assert (album / "green.jpg.xmp").is_file()


def test_cancel_stops_the_run_and_keeps_what_was_written(qtbot, library, album, writing):
    dialog = dialog_for(qtbot, library, writing)
    panel = dialog.sidecar_panel
    writing.runner.pause()  # hold the job at its first progress, so Cancel comes mid-run
    with qtbot.waitSignal(writing.progress, timeout=30_000) as first:
        panel.write_button.click()
    assert first.args == [0, 3]
    with qtbot.waitSignal(writing.finished, timeout=30_000) as done:
        panel.cancel_button.click()
        assert "Stopping" in panel.result.text()
    assert done.args == ["Stopped after 1 of 3 sidecars: 1 sidecars written, 0 unchanged "
                         "(those written are kept).", False]
    assert sidecars(album) == ["blue.jpg.xmp"]


def test_closing_settings_mid_run_leaves_the_run_in_its_own_window(
        qtbot, library, album, writing):
    dialog = dialog_for(qtbot, library, writing)
    writing.runner.pause()
    with qtbot.waitSignal(writing.progress, timeout=30_000):
        dialog.sidecar_panel.write_button.click()
    dialog.reject()
    window = next(w for w in QApplication.topLevelWidgets()
                  if isinstance(w, SidecarWindow) and w.isVisible())
    assert window.panel.cancel_button.isVisible()
    writing.runner.resume()
    with qtbot.waitSignal(writing.finished, timeout=30_000):
        pass
    assert window.panel.result.text() == "3 sidecars written, 0 unchanged."
    assert_tags_written(album)
    window.close()


def test_file_menu_writes_tags_to_sidecars_now(qtbot, tiny_clip_dir, tmp_path):
    library = Library(tmp_path / "lib", model=str(tiny_clip_dir))
    album = index_tagged_album(library, tmp_path / "Pets")
    win = MainWindow(library=library, load_model=False)
    qtbot.addWidget(win)
    win.show()
    file_menu = win.menuBar().actions()[0].menu()
    action = next(a for a in file_menu.actions()
                  if a.text().replace("&", "") == "Write Tags to Sidecars Now")
    with qtbot.waitSignal(win.sidecars.finished, timeout=30_000) as done:
        action.trigger()
    assert done.args == ["3 sidecars written, 0 unchanged.", False]
    assert_tags_written(album)
    window = win.sidecars.show_window()
    assert window.isVisible()
    assert window.panel.result.text() == "3 sidecars written, 0 unchanged."
    window.reject()  # done: Close closes it
    assert not window.isVisible()


def test_closing_the_sidecar_window_mid_run_stops_it(qtbot, library, album, writing):
    writing.runner.pause()
    with qtbot.waitSignal(writing.progress, timeout=30_000):
        window = writing.show_window(start=True)
    qtbot.addWidget(window)
    with qtbot.waitSignal(writing.finished, timeout=30_000) as done:
        window.reject()  # Close / Esc while writing: stop, and stay to say so
    assert window.isVisible()
    assert done.args[0].startswith("Stopped after 1 of 3 sidecars")
    assert len(sidecars(album)) == 1
