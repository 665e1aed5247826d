"""The Training page's "Photos to learn from" takes the library's own albums, each ticked
album a label (as `photoclip train --album`): no folder layout needed."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from photoclip.core.errors import PhotoclipError
from photoclip.core.library import Library
from photoclip.gui.jobs import Calls
from photoclip.gui.views.training_source import SourceBox
from tests.gui.test_selection import add_photos


@pytest.fixture
def lib(tmp_path):
    (tmp_path / "A").mkdir()
    library = Library(tmp_path / "library")
    library.add_roots([str(tmp_path / "A")])
    ids = add_photos(library, tmp_path / "A", 9)
    for name, chosen in (("Holiday", ids[:3]), ("Cats", ids[3:5]), ("Dogs", ids[5:7])):
        library.albums.create(name)
        library.albums.add(name, chosen)
    library.albums.create("Best", "rating:>=4")
    yield library
    library.close()


def tick(box: SourceBox, *names: str) -> None:
    for n in range(box.album_list.count()):
        item = box.album_list.item(n)
        if item.data(Qt.ItemDataRole.UserRole) in names:
            item.setCheckState(Qt.CheckState.Checked)


def test_ticked_albums_are_the_labels_read_off_the_ui_thread(qtbot, lib, monkeypatch):
    threads: set[int] = set()
    real = lib.catalog.albums
    monkeypatch.setattr(lib.catalog, "albums", lambda: threads.add(
        threading.get_ident()) or real())
    box = SourceBox(lib, Calls())
    qtbot.addWidget(box)
    box.show()
    box.refresh()
    qtbot.waitUntil(lambda: box.album_list.count() == 4, timeout=10_000)
    assert [box.album_list.item(n).text() for n in range(4)] == [
        "Best  (smart)", "Cats  (2)", "Dogs  (2)", "Holiday  (3)"]
    assert threading.get_ident() not in threads
    box.library_radio.setChecked(True)
    box.set_busy(False)
    assert box.album_list.isEnabled()
    assert "Tick at least two albums" in box.summary.text()
    with pytest.raises(PhotoclipError, match="Tick at least two"):
        box.reader()
    tick(box, "Holiday", "Cats", "Dogs")
    qtbot.waitUntil(lambda: box.summary.text().startswith("3 labels, 7 photos"),
                    timeout=10_000)
    assert "Holiday (3)" in box.summary.text()
    assert box.describe() == "the albums Cats, Dogs, Holiday"
    albums = box.reader()()
    assert sorted(albums.labels) == ["Cats", "Dogs", "Holiday"]
    # the list read again keeps what was ticked
    box.refresh()
    qtbot.wait(50)
    qtbot.waitUntil(lambda: box.album_list.count() == 4, timeout=10_000)
    assert box.chosen_albums() == ["Cats", "Dogs", "Holiday"]
    box.set_busy(True)
    assert not box.album_list.isEnabled()
