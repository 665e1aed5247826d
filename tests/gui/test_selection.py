"""Selecting photos in the grid and changing them at once: rate, favourite, albums, tags, undo.

A library of photo rows (no files, no model): what the user sees is the grid's text (stars and
hearts beside the names), the bar's "N selected" and what the last change did."""

from __future__ import annotations

import threading

import pytest
from photos_support import add_photos
from PySide6.QtCore import Qt

from photoclip.core.library import Library
from photoclip.gui.models import CHUNK
from photoclip.gui.views.photos import PhotosPage

N = 1200  # more than the grid is given at first (CHUNK)


@pytest.fixture
def lib(tmp_path):
    (tmp_path / "A").mkdir()
    library = Library(tmp_path / "library")
    library.add_roots([str(tmp_path / "A")])
    add_photos(library, tmp_path / "A", N)
    yield library
    library.close()



def text(page: PhotosPage, row: int) -> str:
    return page.grid_model.index(row).data()


def click(qtbot, page: PhotosPage, row: int, mods=Qt.KeyboardModifier.NoModifier) -> None:
    rect = page.grid.visualRect(page.grid_model.index(row))
    qtbot.mouseClick(page.grid.viewport(), Qt.MouseButton.LeftButton, mods, rect.center())


def change(qtbot, page: PhotosPage, key: Qt.Key, mods=Qt.KeyboardModifier.NoModifier) -> str:
    """Press `key` on the grid; what the bar then says the change did."""
    with qtbot.waitSignal(page.bulk.done, timeout=10_000) as done:
        qtbot.keyClick(page.grid, key, mods)
    return done.args[0]


def test_ctrl_and_shift_click_select_and_number_keys_rate_them_off_the_ui_thread(
        qtbot, lib, page, monkeypatch):
    threads: set[int] = set()
    real = lib.catalog.set_rating
    monkeypatch.setattr(lib.catalog, "set_rating", lambda *a: threads.add(
        threading.get_ident()) or real(*a))
    qtbot.waitUntil(lambda: page.grid.visualRect(page.grid_model.index(5)).isValid())
    click(qtbot, page, 1)
    click(qtbot, page, 3, Qt.KeyboardModifier.ShiftModifier)
    click(qtbot, page, 5, Qt.KeyboardModifier.ControlModifier)
    assert page.selection_bar.count_label.text() == "4 selected"
    said = change(qtbot, page, Qt.Key.Key_4)
    assert said.startswith("4 photos rated 4★")
    assert [text(page, r).startswith("★★★★ ") for r in range(7)] == [
        False, True, True, True, False, True, False]
    ids = page.grid_model.ids([1, 2, 3, 5])
    assert {s for s, _ in lib.albums.ratings(ids).values()} == {4}
    assert threading.get_ident() not in threads
    assert page.selection_bar.undo_button.isEnabled()
    said = change(qtbot, page, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert said == "Undone: 4 photos rated 4★"
    assert not any("★" in text(page, r) for r in range(7))
    assert lib.albums.marked() == {}
    assert not page.selection_bar.undo_button.isEnabled()


def test_ctrl_a_selects_every_photo_found_and_f_makes_them_favourite(qtbot, lib, page):
    assert page.grid_model.rowCount() == CHUNK  # the grid has been given only the first rows
    qtbot.keyClick(page.grid, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert page.selection_bar.count_label.text() == f"{N:,} selected"
    assert change(qtbot, page, Qt.Key.Key_F).startswith(f"{N:,} photos marked favourite")
    assert text(page, N - 1).startswith("♥ ")
    assert len(lib.albums.marked()) == N
    # all of them are favourites now: F takes the mark off again
    assert change(qtbot, page, Qt.Key.Key_F).startswith(f"{N:,} photos no longer favourite")
    assert not text(page, 0).startswith("♥")


def test_the_selection_goes_into_an_album_and_gets_a_tag_and_both_undo(qtbot, lib, page):
    lib.albums.create("Holiday")
    page.grid.selectionModel().clearSelection()
    for row in (0, 2, 4):
        click(qtbot, page, row, Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(page.bulk.done, timeout=10_000) as done:
        page.bulk.add_to_album("Holiday")
    assert done.args[0].startswith("3 photos added to Holiday")
    assert lib.albums.get("Holiday").count == 3
    with qtbot.waitSignal(page.bulk.done, timeout=10_000) as done:
        page.bulk.tag("beach")  # a new tag: no model needed
    assert done.args[0].startswith("3 photos tagged beach")
    ids = page.grid_model.ids([0, 2, 4])
    assert lib.label_sets.effective_tags(ids) == {i: [("my tags", "beach")] for i in ids}
    with qtbot.waitSignal(page.bulk.done, timeout=10_000) as done:
        page.bulk.tag("beach", on=False)
    assert done.args[0].startswith("3 photos no longer tagged beach")
    assert lib.label_sets.effective_tags(ids) == {}
    with qtbot.waitSignal(page.bulk.done, timeout=10_000):
        page.bulk.undo()  # the tags are back; the album stays (only the last change undoes)
    assert lib.label_sets.effective_tags(ids) == {i: [("my tags", "beach")] for i in ids}
    assert lib.albums.get("Holiday").count == 3


def test_the_context_menu_offers_what_can_be_done_to_the_selection(qtbot, lib, page):
    lib.albums.create("Holiday")
    page.bulk.album_names = ["Holiday"]
    click(qtbot, page, 0)
    menu = page.bulk.menu()
    titles = [a.text() for a in menu.actions() if a.text()]
    assert titles[:5] == ["Rate", "Favourite / not   (F)", "Add to album", "Add a tag…",
                          "Remove a tag…"]
    add = next(a.menu() for a in menu.actions() if a.text() == "Add to album")
    assert [a.text() for a in add.actions() if a.text()] == ["Holiday", "New album…"]
    assert not next(a for a in menu.actions() if a.text().startswith("Undo")).isEnabled()


def test_stars_given_in_the_window_reach_the_sidecars_and_undo_takes_them_back(qtbot, lib,
                                                                               page):
    from photoclip.core.tagging.xmp import read_rating, sidecar_path

    lib.set_sidecar_sync(True)
    qtbot.waitUntil(lambda: page.grid.visualRect(page.grid_model.index(2)).isValid())
    click(qtbot, page, 0)
    click(qtbot, page, 2, Qt.KeyboardModifier.ShiftModifier)
    change(qtbot, page, Qt.Key.Key_4)
    lib.sidecar_sync.flush()
    paths = [page.grid_model.item(r).path for r in range(3)]
    assert [read_rating(sidecar_path(p)) for p in paths] == [4, 4, 4]
    change(qtbot, page, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    lib.sidecar_sync.flush()
    assert [read_rating(sidecar_path(p)) for p in paths] == [None, None, None]
