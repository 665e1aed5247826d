"""Selection ▸ Find similar to these: the grid shows the photos nearest the mean of the
selected photos' vectors, and the search field says what it is showing."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from photoclip.core.library import Library
from photoclip.core.search import Searcher
from photoclip.core.types import PhotoRecord
from photoclip.core.vectors import VectorIndex
from photoclip.gui.jobs import Calls
from photoclip.gui.views.photos import PhotosPage

# name -> vector: "dog_beach" lies between "dog" and "beach"; the rest point elsewhere
VECTORS = {"dog": [1, 0, 0, 0], "beach": [0, 1, 0, 0], "dog_beach": [0.7, 0.7, 0.2, 0],
           "cat": [0, 0, 1, 0.2], "car": [0, 0, 0.2, 1], "tree": [0.1, 0, 0.7, 0.7]}


class _Encoder:
    model_id = "m"
    dim = 4
    image_size = 8
    device = "cpu"


@pytest.fixture
def lib(tmp_path, monkeypatch):
    (tmp_path / "A").mkdir()
    library = Library(tmp_path / "library")
    root = library.add_roots([str(tmp_path / "A")])[0]
    names = list(VECTORS)
    ids = [library.catalog.upsert_photo(PhotoRecord(
        root.id, f"{tmp_path}/A/{n}.jpg", 1, 10**18 + i, f"h{i}", 4, 3,
        f"2020-01-0{1 + i}T00:00:00")) for i, n in enumerate(names)]
    vecs = np.array([VECTORS[n] for n in names], dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    library.catalog.put_embeddings("m", ids, vecs)
    index = VectorIndex(tmp_path / "v.hnsw", 4, "m")
    index.add(ids, vecs)
    threads: list[int] = []

    def searcher() -> Searcher:
        threads.append(threading.get_ident())
        return Searcher(library.catalog, _Encoder(), index)  # type: ignore[arg-type]

    monkeypatch.setattr(library, "searcher", searcher)
    library.searcher_threads = threads  # type: ignore[attr-defined]
    yield library
    library.close()


def names(page: PhotosPage) -> list[str]:
    m = page.grid_model
    return [Path(m.item(r).path).stem for r in range(m.rowCount())]


def test_find_similar_to_a_selection_shows_photos_like_all_of_them(qtbot, lib, show_page):
    page = show_page(PhotosPage(lib, Calls(), lambda: None))
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.run_search()
    page.set_model_ready(True)
    while page.cutoff[0] > 0:  # "More" up to no cutoff: every photo is listed, best first
        page.show_more()
    qtbot.waitUntil(lambda: page.idle)
    page.grid.selectionModel().clearSelection()
    for name in ("dog", "beach"):
        index = page.grid_model.index(names(page).index(name))
        page.grid.selectionModel().select(index, page.grid.selectionModel().SelectionFlag.Select)
    assert page.selection_bar.count_label.text() == "2 selected"
    menu = page.bulk.menu()
    action = next(a for a in menu.actions() if a.text() == "Find similar to these")
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        action.trigger()
    assert page.search_field.text() == "similar to 2 selected photos"
    shown = names(page)
    assert shown[0] == "dog_beach"  # nearer the two together than either one is
    assert set(shown[1:3]) == {"dog", "beach"}
    assert page.sort_box.currentText() == "Sort: Best match"
    assert threading.get_ident() not in lib.searcher_threads
    page.grab().save("/tmp/g21/similar_selection.png")


def test_find_similar_waits_for_the_model(qtbot, lib, show_page):
    page = show_page(PhotosPage(lib, Calls(), lambda: None))
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.run_search()
    page.grid.selectAll()
    page.find_similar_to(page.bulk.selected_ids())
    assert "model is ready" in page.note.text()
    assert page.search_field.text() == ""
