"""The Photos page on a library of thousands of photos (rows only: no files, no model).

Searching is given a fake searcher, so these tests are about the page: where its work runs, how
the grid fills and refreshes, "more / fewer", and what an error leaves on screen."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, QPoint

from photoclip.core.errors import QueryError
from photoclip.core.library import DEFAULT_CUTOFF, Library
from photoclip.core.types import PhotoRecord, SearchHit
from photoclip.gui.jobs import Calls
from photoclip.gui.models import CHUNK, LADDER
from photoclip.gui.views.photos import PhotosPage

N = 5000


def add_photos(lib: Library, root: Path, start: int, count: int, year: int = 2010,
               name: str = "IMG") -> None:
    """`count` photo rows under `root` (files need not exist: the grid only lists them)."""
    root_id = next(r.id for r in lib.catalog.roots() if r.path == str(root))
    with lib.catalog.transaction():
        for i in range(start, start + count):
            lib.catalog.upsert_photo(PhotoRecord(
                root_id, f"{root}/{name}_{i:06d}.jpg", 1000, 10**18 + i,
                hashlib.sha1(str(i).encode()).hexdigest(), 4000, 3000,
                f"{year + i % 10}-{1 + i % 12:02d}-{1 + i % 28:02d}T12:00:00"))


class FakeSearcher:
    """Every photo whose path has the query's words, best first; errors for "bad"."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib
        self.calls: list[dict[str, object]] = []

    def search(self, query: str, top: int = 20, **kw: object) -> list[SearchHit]:
        self.calls.append({"query": query, "top": top, **kw})
        if query.startswith("bad"):
            raise QueryError("Bad date 'x': use YYYY-MM-DD.")
        rows = self.lib.browse()
        hits = [SearchHit(i, p, 1.0 - n / 1e5) for n, (i, p, _h) in enumerate(rows)
                if query.lower() in p.lower()]
        return hits[:top]


@pytest.fixture
def lib(tmp_path):
    folders = [tmp_path / "A", tmp_path / "B"]
    for f in folders:
        f.mkdir()
    library = Library(tmp_path / "library")
    library.add_roots([str(f) for f in folders])
    add_photos(library, folders[0], 0, N // 2)
    add_photos(library, folders[1], N // 2, N // 2, year=2000)
    yield library
    library.close()


@pytest.fixture
def searcher(lib, monkeypatch):
    fake = FakeSearcher(lib)
    monkeypatch.setattr(lib, "searcher", lambda: fake)
    return fake


@pytest.fixture
def page(qtbot, lib, show_page):
    page = show_page(PhotosPage(lib, Calls(), lambda: None))
    qtbot.waitUntil(lambda: page.folder_filter.count() == 3, timeout=10_000)
    return page


def shown(page: PhotosPage) -> list[str]:
    m = page.grid_model
    return [Path(m.item(r).path).name for r in range(m.rowCount())]


def settle(qtbot, page: PhotosPage) -> None:
    qtbot.waitUntil(lambda: page.idle, timeout=10_000)


def test_browsing_and_filtering_read_the_catalog_off_the_ui_thread(qtbot, lib, monkeypatch,
                                                                   show_page):
    threads: dict[str, set[int]] = {}
    for name in ("browse_rows", "roots", "photos_by_ids", "count_photos", "photo"):
        real = getattr(lib.catalog, name)

        def spy(*a, _real=real, _name=name, **kw):
            threads.setdefault(_name, set()).add(threading.get_ident())
            return _real(*a, **kw)

        monkeypatch.setattr(lib.catalog, name, spy)
    page = show_page(PhotosPage(lib, Calls(), lambda: None))
    with qtbot.waitSignal(page.search_done, timeout=10_000) as done:
        page.run_search()
    assert done.args == [N]
    qtbot.waitUntil(lambda: page.folder_filter.count() == 3, timeout=10_000)
    page.folder_filter.setCurrentIndex(2)  # folder B
    with qtbot.waitSignal(page.search_done, timeout=10_000) as done:
        pass
    assert done.args == [N // 2]
    page.after_filter.setDate(QDate(2005, 1, 1))  # B holds 2000-2009: half of it
    with qtbot.waitSignal(page.search_done, timeout=10_000) as done:
        pass
    assert done.args == [N // 4]
    # a photo past the first chunk: its facts are read for the preview
    page.grid_model.show_up_to(CHUNK + 1)
    page.grid.setCurrentIndex(page.grid_model.index(CHUNK))
    qtbot.waitUntil(lambda: page.preview.photo is not None, timeout=10_000)
    assert page.preview.photo.id == page.grid_model.item(CHUNK).photo_id
    assert {"browse_rows", "roots", "photos_by_ids", "count_photos", "photo"} <= set(threads)
    ui = threading.get_ident()
    assert all(ui not in idents for idents in threads.values()), threads


def test_the_grid_fills_in_chunks_as_it_scrolls(qtbot, page):
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.run_search()
    model = page.grid_model
    assert model.total == N
    assert model.rowCount() == CHUNK  # the view is given a screenful-and-more, not 5,000
    assert page.count_label.text() == f"{N:,} photos"
    while model.canFetchMore():
        page.grid.scrollToBottom()
        qtbot.wait(20)
    assert model.rowCount() == N


def test_photos_landing_show_up_keeping_selection_and_scroll(qtbot, lib, page, tmp_path):
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.run_search()
    page.grid.setCurrentIndex(page.grid_model.index(200))
    selected = page.grid_model.item(200).photo_id

    def scrolled() -> bool:  # the view lays its rows out in batches: scroll once it has
        page.grid.scrollTo(page.grid_model.index(150), page.grid.ScrollHint.PositionAtTop)
        return page.grid.verticalScrollBar().value() > 0

    qtbot.waitUntil(scrolled, timeout=5000)
    top = page.grid_model.item(page.grid.indexAt(QPoint(4, 4)).row()).photo_id
    # a watcher batch: 37 photos newer than any, so they sort first
    add_photos(lib, tmp_path / "A", N, 37, year=2030, name="NEW")
    with qtbot.waitSignal(page.search_done, timeout=10_000) as done:
        page.photos_landed(37)
    assert done.args == [N + 37]
    assert shown(page)[0].startswith("NEW_")
    assert page.grid_model.item(page.grid.currentIndex().row()).photo_id == selected
    qtbot.waitUntil(lambda: page.grid_model.item(
        page.grid.indexAt(QPoint(4, 4)).row()).photo_id == top, timeout=5000)


def test_photos_landing_refresh_at_most_once_in_a_while(qtbot, lib, page, monkeypatch, tmp_path):
    settle(qtbot, page)
    calls = []
    real = lib.catalog.browse_rows
    monkeypatch.setattr(lib.catalog, "browse_rows", lambda *a: calls.append(a) or real(*a))
    add_photos(lib, tmp_path / "A", N, 10, year=2030, name="NEW")
    for _ in range(20):  # twenty batches in a burst
        page.photos_landed(1)
    settle(qtbot, page)
    assert len(calls) == 1
    assert shown(page)[0].startswith("NEW_")


def test_a_search_typed_while_indexing_fills_in_as_photos_land(qtbot, lib, page, searcher,
                                                             tmp_path):
    page.set_model_ready(True)
    page.set_indexing(True)
    with qtbot.waitSignal(page.search_done, timeout=10_000) as done:
        qtbot.keyClicks(page.search_field, "cat")
    assert done.args == [0]
    assert "No matching photos" in page.empty_label.text()
    add_photos(lib, tmp_path / "A", N, 3, name="cat")
    with qtbot.waitSignal(page.search_done, timeout=10_000) as done:
        page.photos_landed(3)  # no keystroke
    assert done.args == [3]
    assert sorted(shown(page)) == [f"cat_{N + i:06d}.jpg" for i in range(3)]
    assert searcher.calls[-1]["query"] == "cat"


def test_more_and_fewer_are_the_cli_cutoff_and_top(qtbot, page, searcher):
    page.set_model_ready(True)
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        qtbot.keyClicks(page.search_field, "IMG_00010")  # 10 photos match
    assert (searcher.calls[-1]["cutoff"], searcher.calls[-1]["top"]) == (DEFAULT_CUTOFF, 500)
    assert page.count_label.text().startswith(f"10 of {N:,} photos")
    assert "show more" in page.count_label.text()
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.more_button.click()
    assert searcher.calls[-1]["cutoff"] < DEFAULT_CUTOFF  # looser
    while page.more_button.isEnabled():
        with qtbot.waitSignal(page.search_done, timeout=10_000):
            page.more_button.click()
    # no cutoff at all (the CLI's --cutoff 0): the best K, and all 10 fit, so no "more"
    assert searcher.calls[-1]["cutoff"] is None
    assert page.cutoff == (0.0, 500)
    assert "show more" not in page.count_label.text()
    for _ in range(3):
        with qtbot.waitSignal(page.search_done, timeout=10_000):
            page.fewer_button.click()
    assert searcher.calls[-1]["cutoff"] == LADDER[page._step][0] > 0
    # scores on the grid
    assert shown(page)[0].startswith("IMG_")
    page.scores_box.setChecked(True)
    item = page.grid_model.item(0)
    assert page.grid_model.data(page.grid_model.index(0)) == (
        f"{item.score:.3f}  {Path(item.path).name}")


def test_a_search_error_stays_with_its_query(qtbot, page, searcher):
    page.set_model_ready(True)
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        qtbot.keyClicks(page.search_field, "IMG_00010")
    assert page.grid_model.rowCount() == 10
    with qtbot.assertNotEmitted(page.message), \
            qtbot.waitSignal(page.search_done, timeout=10_000) as done:
        page.search_field.setText("bad query")
    assert done.args == [0]
    assert "Bad date" in page.note.text()  # beside the search field, not the window's bar
    assert page.grid_model.rowCount() == 0  # not the last query's photos under this error
    assert "see the message above" in page.empty_label.text()
    page.search_field.setText("IMG_00020")
    assert page.note.text() == ""  # the query changed: its error went
    with qtbot.waitSignal(page.search_done, timeout=10_000) as done:
        pass
    assert done.args == [10]
