"""The Settings dialog's "Write tags to XMP sidecars" (issue 16, item 4): the checkbox is the
library's `xmp_sync` setting, applied with the other settings; turning it on offers to write
the sidecars of the tags there are now."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog, QMessageBox
from test_sidecars import assert_tags_written, index_tagged_album, sidecars

from photoclip.config import Settings
from photoclip.core.library import Library
from photoclip.gui.main_window import MainWindow
from photoclip.gui.views.settings import SettingsDialog
from photoclip.gui.views.sidecars import SidecarWriting


@pytest.fixture
def album(library, tmp_path) -> Path:
    return index_tagged_album(library, tmp_path / "Pets")


@pytest.fixture
def writing(qtbot, library):
    job = SidecarWriting(library)
    yield job
    job.stop()


@pytest.fixture
def answers(monkeypatch):
    """The answers the offer to write now gets (Yes unless a test says), and what it asked."""
    asked: list[str] = []
    replies = [QMessageBox.StandardButton.Yes]

    def question(_parent, title, text, *_args):
        asked.append(f"{title} {text}")
        return replies[0]

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked, replies


def test_the_checkbox_shows_and_returns_the_setting(qtbot, answers):
    for on in (False, True):
        dialog = SettingsDialog(Settings(xmp_sync=on), "")
        qtbot.addWidget(dialog)
        assert dialog.xmp_sync.isChecked() is on
        assert dialog.xmp_sync.text() == "Write tags to XMP sidecars"
        assert dialog.result_settings().xmp_sync is on
        dialog.xmp_sync.setChecked(not on)
        assert dialog.result_settings().xmp_sync is (not on)
    assert dialog.xmp_note.text() == ("photo.jpg.xmp beside each photo, read by digiKam, "
                                      "darktable; your photos are never written.")


def test_settings_ok_turns_sidecar_sync_on_and_off_for_the_library(
        qtbot, tiny_clip_dir, tmp_path, monkeypatch, answers):
    """Through the window: OK applies the setting off the UI thread; it is saved, and the
    library's sync follows it at once."""
    asked, replies = answers
    replies[0] = QMessageBox.StandardButton.No
    library = Library(tmp_path / "lib", model=str(tiny_clip_dir))
    win = MainWindow(library=library, load_model=False)
    qtbot.addWidget(win)
    win.show()
    assert not library.sidecar_sync.enabled

    def accept_with(on: bool):
        def exec_(dialog: SettingsDialog) -> int:
            dialog.xmp_sync.setChecked(on)
            return QDialog.DialogCode.Accepted
        return exec_

    for on in (True, False):
        monkeypatch.setattr(SettingsDialog, "exec", accept_with(on))
        with qtbot.waitSignal(win.loader.applied, timeout=30_000):
            win.open_settings()
        assert library.settings.xmp_sync is on
        assert library.sidecar_sync.enabled is on
        assert Settings.load(library.paths.settings).xmp_sync is on  # saved
    assert len(asked) == 1  # offered once, when it went on


def test_turning_it_on_offers_to_write_the_sidecars_now(qtbot, library, album, writing,
                                                         answers):
    asked, _ = answers
    dialog = SettingsDialog(library.settings, "", sidecars=writing)
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(writing.finished, timeout=30_000):
        dialog.xmp_sync.setChecked(True)
    assert asked
    assert asked[0].startswith("Write sidecars now?")
    assert_tags_written(album)
    # Off and on again in the same dialog: asked once is enough.
    dialog.xmp_sync.setChecked(False)
    dialog.xmp_sync.setChecked(True)
    assert len(asked) == 1


def test_declining_the_offer_writes_nothing(qtbot, library, album, writing, answers):
    asked, replies = answers
    replies[0] = QMessageBox.StandardButton.No
    dialog = SettingsDialog(library.settings, "", sidecars=writing)
    qtbot.addWidget(dialog)
    dialog.xmp_sync.setChecked(True)
    assert len(asked) == 1
    assert not writing.busy
    assert sidecars(album) == []
    assert dialog.result_settings().xmp_sync


def test_no_offer_when_it_was_on_already(qtbot, library, writing, answers):
    asked, _ = answers
    library.set_sidecar_sync(True)
    dialog = SettingsDialog(library.settings, "", sidecars=writing)
    qtbot.addWidget(dialog)
    dialog.xmp_sync.setChecked(False)
    dialog.xmp_sync.setChecked(True)
    assert asked == []
