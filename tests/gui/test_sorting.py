"""Sorting the grid: by date taken (the default, newest first), date added, name, file size or
rating while browsing or in an album, by best match (or any of those) for a search; the choice
is kept between runs. What the user sees is the grid's names, in order, and the sort box."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from photoclip.core.library import Library
from photoclip.core.types import PhotoRecord
from photoclip.gui.jobs import Calls
from photoclip.gui.views.photos import PhotosPage

# (name, size, taken), added in this order: names, sizes and dates each in another order
PHOTOS = [("b_beach.jpg", 3000, "2021-05-01T10:00:00"), ("D_dog.jpg", 1000, "2023-01-01T10:00:00"),
          ("a_alps.jpg", 2000, "2022-07-01T10:00:00"), ("c_cat.jpg", 4000, "2020-02-01T10:00:00")]


@pytest.fixture
def lib(tmp_path):
    for sub in ("A", "A/z"):
        (tmp_path / sub).mkdir()
    library = Library(tmp_path / "library")
    root = library.add_roots([str(tmp_path / "A")])[0]
    with library.catalog.transaction():
        for i, (name, size, taken) in enumerate(PHOTOS):
            folder = "A/z" if i == 0 else "A"  # a folder's name does not sort its photos
            library.catalog.upsert_photo(PhotoRecord(
                root.id, f"{tmp_path}/{folder}/{name}", size, 10**18 + i,
                hashlib.sha1(name.encode()).hexdigest(), 40, 30, taken))
    yield library
    library.close()


def names(page: PhotosPage) -> list[str]:
    m = page.grid_model
    return [Path(m.item(r).path).name for r in range(m.rowCount())]


def make_page(qtbot, lib, show_page, qs: QSettings | None = None) -> PhotosPage:
    page = show_page(PhotosPage(lib, Calls(), lambda: None))
    if qs is not None:
        page.restore_state(qs)
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.run_search()
    return page


def sort_by(qtbot, page: PhotosPage, text: str) -> None:
    box = page.sort_box
    index = box.findText(f"Sort: {text}")
    assert index >= 0, [box.itemText(i) for i in range(box.count())]
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        box.setCurrentIndex(index)


def test_browsing_sorts_by_date_taken_then_by_what_the_user_picks(qtbot, lib, show_page):
    page = make_page(qtbot, lib, show_page)
    box = page.sort_box
    assert box.currentText() == "Sort: Date taken"
    assert [box.itemText(i) for i in range(box.count())] == [
        "Sort: Date taken", "Sort: Date added", "Sort: Name", "Sort: File size", "Sort: Rating"]
    assert names(page) == ["D_dog.jpg", "a_alps.jpg", "b_beach.jpg", "c_cat.jpg"]
    assert page.timeline.isVisible()  # months in order of date taken
    sort_by(qtbot, page, "Name")
    assert names(page) == ["a_alps.jpg", "b_beach.jpg", "c_cat.jpg", "D_dog.jpg"]
    assert not page.timeline.isVisible()  # not by date: no months beside it
    sort_by(qtbot, page, "File size")
    assert names(page) == ["c_cat.jpg", "b_beach.jpg", "a_alps.jpg", "D_dog.jpg"]
    sort_by(qtbot, page, "Date added")
    assert names(page) == ["c_cat.jpg", "a_alps.jpg", "D_dog.jpg", "b_beach.jpg"]
    lib.albums.rate([lib.catalog.photo_by_path(page.grid_model.item(3).path).id], 5)
    sort_by(qtbot, page, "Rating")
    assert names(page)[0] == "b_beach.jpg"
    page.grab().save("/tmp/g21/sort_rating.png")


def test_an_album_is_sorted_as_chosen(qtbot, lib, show_page):
    lib.albums.create("Trip")
    ids = lib.albums.photo_ids(p.path for p in lib.catalog.browse())
    lib.albums.add("Trip", ids[:3])  # the three newest: dog, alps, beach, in that order
    page = make_page(qtbot, lib, show_page)
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.show_album("Trip")
    assert page.sort_box.currentText() == "Sort: Album order"
    assert names(page) == ["D_dog.jpg", "a_alps.jpg", "b_beach.jpg"]  # as they were put in
    sort_by(qtbot, page, "File size")
    assert names(page) == ["b_beach.jpg", "a_alps.jpg", "D_dog.jpg"]


def test_a_search_sorts_by_best_match_or_as_chosen_each_kept_apart(qtbot, lib, show_page):
    page = make_page(qtbot, lib, show_page)
    sort_by(qtbot, page, "Name")
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.search_field.setText("after:2021-01-01")  # filters alone: no model needed
    box = page.sort_box
    assert box.currentText() == "Sort: Best match"
    assert box.itemText(0) == "Sort: Best match"
    sort_by(qtbot, page, "File size")
    assert names(page) == ["b_beach.jpg", "a_alps.jpg", "D_dog.jpg"]
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.search_field.clear()
    assert box.currentText() == "Sort: Name"  # browsing keeps its own choice
    assert names(page) == ["a_alps.jpg", "b_beach.jpg", "c_cat.jpg", "D_dog.jpg"]


def test_the_choice_is_kept_between_runs(qtbot, lib, show_page, tmp_path):
    qs = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    page = make_page(qtbot, lib, show_page)
    sort_by(qtbot, page, "File size")
    page.save_state(qs)
    again = make_page(qtbot, lib, show_page, qs)
    assert again.sort_box.currentText() == "Sort: File size"
    assert names(again) == ["c_cat.jpg", "b_beach.jpg", "a_alps.jpg", "D_dog.jpg"]
