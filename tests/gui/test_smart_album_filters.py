"""A smart album made in the window keeps the folder and date filters chosen beside the search
field: they are written into its query (the search language's folder:/after:/before:)."""

from __future__ import annotations

import hashlib

import pytest
from PySide6.QtCore import QDate
from PySide6.QtWidgets import QInputDialog

from photoclip.core.library import Library
from photoclip.core.types import PhotoRecord
from photoclip.gui.jobs import Calls
from photoclip.gui.views.albums import query_with_filters
from photoclip.gui.views.photos import PhotosPage
from tests.gui.test_albums_panel import click_album, names, wait_listed


@pytest.fixture
def lib(tmp_path):
    library = Library(tmp_path / "library")
    for folder in ("Trips 2020", "Home"):  # a space in the folder's name: quoted in the query
        (tmp_path / folder).mkdir()
        root = library.add_roots([str(tmp_path / folder)])[0]
        for year in (2019, 2021):
            path = f"{tmp_path}/{folder}/{folder[:4]}_{year}.jpg"
            library.catalog.upsert_photo(PhotoRecord(
                root.id, path, 1, 1, hashlib.sha1(path.encode()).hexdigest(), 4, 3,
                f"{year}-06-01T12:00:00"))
    yield library
    library.close()


def test_query_with_filters_writes_the_filters_the_query_lacks():
    assert query_with_filters(" beach  rating:>=4", "/p/My Trips", "2020-01-01", None) == (
        'beach rating:>=4 folder:"/p/My Trips" after:2020-01-01')
    assert query_with_filters("after:2018-01-01", "/p", "2020-01-01", "2021-01-01") == (
        "after:2018-01-01 folder:/p before:2021-01-01")
    assert query_with_filters("", None, None, None) == ""


def test_a_smart_album_keeps_the_folder_and_date_chosen(qtbot, lib, show_page, tmp_path,
                                                        monkeypatch):
    page = show_page(PhotosPage(lib, Calls(), lambda: None))
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.run_search()
    qtbot.waitUntil(lambda: page.folder_filter.count() == 3, timeout=10_000)
    page.folder_filter.setCurrentIndex(page.folder_filter.findText("Trips 2020"))
    page.after_filter.setDate(QDate(2020, 1, 1))
    qtbot.waitUntil(lambda: page.idle and names(page) == ["Trip_2021.jpg"], timeout=10_000)
    asked: list[str] = []
    answers = iter([None, "Trips since 2020"])

    def get_text(_parent, _title, _label, text=""):
        asked.append(text)
        answer = next(answers)
        return (text if answer is None else answer), True

    monkeypatch.setattr(QInputDialog, "getText", get_text)
    page.albums.smart_button.click()
    folder = tmp_path / "Trips 2020"
    assert asked[0] == f'folder:"{folder}" after:2020-01-01'  # what the dialog offers
    wait_listed(qtbot, page, ["All photos", "Trips since 2020  (smart)"])
    assert lib.albums.get("Trips since 2020").query == asked[0]
    page.folder_filter.setCurrentIndex(0)  # all folders, any date again
    page.after_filter.setDate(page.after_filter.minimumDate())
    qtbot.waitUntil(lambda: page.idle and len(names(page)) == 4, timeout=10_000)
    click_album(qtbot, page, "Trips since 2020  (smart)")
    assert names(page) == ["Trip_2021.jpg"]  # the album's own filters, not the bar's
    qtbot.wait(100)
    page.grab().save("/tmp/g21/smart_filters.png")
