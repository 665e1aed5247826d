"""The timeline beside the browsed grid: years and months with their counts; a click jumps the
grid to the month; a search (in order of score) hides it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

from photoclip.core.library import Library
from photoclip.core.types import PhotoRecord
from photoclip.gui.views.photos import PhotosPage

# (month, photos): 2,000 photos, newest first
MONTHS = [("2024-03", 700), ("2024-01", 300), ("2023-12", 1000)]


@pytest.fixture
def lib(tmp_path):
    (tmp_path / "A").mkdir()
    library = Library(tmp_path / "library")
    root = library.add_roots([str(tmp_path / "A")])[0]
    i = 0
    with library.catalog.transaction():
        for month, count in MONTHS:
            for _ in range(count):
                library.catalog.upsert_photo(PhotoRecord(
                    root.id, f"{tmp_path}/A/{month}_{i:05d}.jpg", 1000, 10**18 + i,
                    hashlib.sha1(str(i).encode()).hexdigest(), 40, 30,
                    f"{month}-{1 + i % 28:02d}T12:00:00"))
                i += 1
    yield library
    library.close()



def entries(page: PhotosPage) -> list[str]:
    t = page.timeline
    return [t.item(n).text().strip() for n in range(t.count())]


def test_the_timeline_lists_years_and_months_and_jumps_to_one(qtbot, page):
    assert page.timeline.isVisible()
    assert entries(page) == ["2024", "March  (700)", "January  (300)", "2023",
                             "December  (1,000)"]
    t = page.timeline
    item = t.item(4)  # December 2023: the 1,001st photo, past what the grid was first given
    qtbot.mouseClick(t.viewport(), Qt.MouseButton.LeftButton, pos=t.visualItemRect(item).center())
    row = page.grid.currentIndex().row()
    assert row == 1000
    assert Path(page.grid_model.item(row).path).name.startswith("2023-12_")
    assert Path(page.grid_model.item(row - 1).path).name.startswith("2024-01_")
    # the grid scrolled there, and the month at its top is highlighted
    qtbot.waitUntil(lambda: Path(page.grid_model.item(page.grid.indexAt(
        QPoint(8, 8)).row()).path).name.startswith("2023-12_"), timeout=5000)
    qtbot.waitUntil(lambda: t.currentItem() is not None and t.currentItem().text().strip()
                    == "December  (1,000)", timeout=5000)


def test_a_search_hides_the_timeline(qtbot, page):
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.search_field.setText("rating:0")  # a filter-only search: no model needed
    assert not page.timeline.isVisible()
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.search_field.setText("")
    assert page.timeline.isVisible()
