"""The album list beside the grid: create, rename, delete, smart albums, click to show, drop
photos onto an album."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from photos_support import add_photos
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDropEvent

from photoclip.core.library import Library
from photoclip.gui.models import PHOTO_IDS_MIME
from photoclip.gui.views.photos import PhotosPage

N = 60


@pytest.fixture
def lib(tmp_path):
    (tmp_path / "A").mkdir()
    library = Library(tmp_path / "library")
    library.add_roots([str(tmp_path / "A")])
    add_photos(library, tmp_path / "A", N)
    yield library
    library.close()



def listed(page: PhotosPage) -> list[str]:
    lst = page.albums.list
    return [lst.item(n).text() for n in range(lst.count())]


def names(page: PhotosPage) -> list[str]:
    m = page.grid_model
    return [Path(m.item(r).path).name for r in range(m.rowCount())]


def wait_listed(qtbot, page: PhotosPage, expected: list[str]) -> None:
    qtbot.waitUntil(lambda: listed(page) == expected, timeout=10_000)


def click_album(qtbot, page: PhotosPage, text: str) -> None:
    lst = page.albums.list
    item = next(lst.item(n) for n in range(lst.count()) if lst.item(n).text() == text)
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton,
                         pos=lst.visualItemRect(item).center())


def test_albums_are_created_renamed_and_deleted_off_the_ui_thread(qtbot, lib, page,
                                                                  monkeypatch):
    threads: set[int] = set()
    for name in ("create_album", "rename_album", "delete_album", "albums"):
        real = getattr(lib.catalog, name)
        monkeypatch.setattr(lib.catalog, name, lambda *a, _r=real, _n=name: threads.add(
            (threading.get_ident(), _n)) or _r(*a))
    wait_listed(qtbot, page, ["All photos"])
    assert not page.albums.rename_button.isEnabled()  # nothing to rename: all photos
    page.albums.create_album("Holiday")
    page.albums.create_album("Beach days", "IMG_00001 rating:>=4")
    wait_listed(qtbot, page, ["All photos", "Beach days  (smart)", "Holiday  (0)"])
    page.albums.create_album("holiday")  # names are the same whatever the case
    qtbot.waitUntil(page.albums.note.isVisible, timeout=10_000)
    assert "already an album named 'holiday'" in page.albums.note.text()
    page.albums.rename_album("Holiday", "Summer 2024")
    wait_listed(qtbot, page, ["All photos", "Beach days  (smart)", "Summer 2024  (0)"])
    assert page.albums.current_name() == "Summer 2024"
    assert page.albums.rename_button.isEnabled()
    page.albums.delete_album("Summer 2024")
    wait_listed(qtbot, page, ["All photos", "Beach days  (smart)"])
    assert [n for t, n in threads if t == threading.get_ident()] == []
    assert [a.name for a in lib.albums.all()] == ["Beach days"]


def test_clicking_an_album_shows_its_photos_and_all_photos_shows_the_library(qtbot, lib, page):
    ids = [page.grid_model.item(r).photo_id for r in (3, 1, 7)]
    lib.albums.create("Holiday")
    lib.albums.add("Holiday", ids)
    lib.albums.create("Empty")
    page.albums.refresh()
    wait_listed(qtbot, page, ["All photos", "Empty  (0)", "Holiday  (3)"])
    click_album(qtbot, page, "Holiday  (3)")
    assert names(page) == sorted(f"IMG_{N - 1 - r:06d}.jpg" for r in (3, 1, 7))
    assert page.count_label.text() == f"3 of {N} photos"
    # taken out of the album shown: it leaves the grid, and the count follows
    page.grid.selectionModel().clearSelection()
    page.grid.selectionModel().select(page.grid_model.index(0),
                                      page.grid.selectionModel().SelectionFlag.Select)
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.bulk.remove_from_album("Holiday")
    assert len(names(page)) == 2
    wait_listed(qtbot, page, ["All photos", "Empty  (0)", "Holiday  (2)"])
    click_album(qtbot, page, "Empty  (0)")
    assert page.empty_label.isVisible()
    assert page.empty_label.text().startswith("No photos in Empty yet")
    assert page.selection_bar.count_label.text() == ""  # nothing there, nothing selected
    click_album(qtbot, page, "All photos")
    assert len(names(page)) == N
    # typing a search leaves the album: the search is of the whole library
    click_album(qtbot, page, "Holiday  (2)")
    page.search_field.setText("type:jpg")
    assert page.albums.current_name() is None


def test_a_smart_album_runs_its_saved_search(qtbot, lib, page):
    lib.albums.rate([page.grid_model.item(r).photo_id for r in range(5)], 4)
    lib.albums.create("Best", "rating:>=4")
    page.albums.refresh()
    wait_listed(qtbot, page, ["All photos", "Best  (smart)"])
    click_album(qtbot, page, "Best  (smart)")
    assert page.search_field.text() == "rating:>=4"
    assert len(names(page)) == 5
    assert all(n.startswith("★★★★ ") for n in (page.grid_model.index(r).data()
                                                for r in range(5)))


def test_photos_dropped_on_an_album_go_into_it(qtbot, lib, page):
    lib.albums.create("Holiday")
    page.albums.refresh()
    wait_listed(qtbot, page, ["All photos", "Holiday  (0)"])
    rows = [0, 1, 2]
    mime = page.grid_model.mimeData([page.grid_model.index(r) for r in rows])
    assert json.loads(bytes(mime.data(PHOTO_IDS_MIME).data())) == page.grid_model.ids(rows)
    lst = page.albums.list
    pos = QPointF(lst.visualItemRect(lst.item(1)).center())
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(page.bulk.done, timeout=10_000) as done:
        lst.dropEvent(drop)
    assert done.args[0].startswith("3 photos added to Holiday")
    wait_listed(qtbot, page, ["All photos", "Holiday  (3)"])
    # dropped on "All photos" or on nothing: nothing happens
    empty = QMimeData()
    empty.setData(PHOTO_IDS_MIME, b"[1]")
    assert lst.target(lst.visualItemRect(lst.item(0)).center()) is None
