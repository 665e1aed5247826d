"""The full-screen viewer: Enter or a double-click opens the photo large, arrows go through the
results, number keys rate, F favourites, Esc closes; decoding runs off the UI thread."""

from __future__ import annotations

import threading

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QSize, Qt

from photoclip.core.library import Library
from photoclip.core.types import PhotoRecord
from photoclip.gui.views import viewer as viewer_module

COLOURS = ["red", "green", "blue", "yellow"]


@pytest.fixture
def lib(tmp_path):
    folder = tmp_path / "A"
    folder.mkdir()
    library = Library(tmp_path / "library")
    root = library.add_roots([str(folder)])[0]
    with library.catalog.transaction():
        for n, colour in enumerate(COLOURS):
            path = folder / f"{n}_{colour}.jpg"
            Image.new("RGB", (1600, 1200), colour).save(path)
            library.catalog.upsert_photo(PhotoRecord(
                root.id, str(path), path.stat().st_size, 10**18 + n, f"h{n}", 1600, 1200,
                f"2020-01-0{n + 1}T12:00:00"))  # newest first: yellow, blue, green, red
    yield library
    library.close()



def centre_colour(viewer) -> tuple[int, int, int]:
    pix = viewer.picture.pixmap()
    c = pix.toImage().pixelColor(pix.width() // 2, pix.height() // 2)
    return c.red(), c.green(), c.blue()


def wait_photo(qtbot, viewer) -> None:
    qtbot.waitUntil(lambda: viewer.image is not None, timeout=10_000)


def test_enter_opens_the_photo_large_and_arrows_go_through_the_results(qtbot, page,
                                                                       monkeypatch):
    threads: set[int] = set()
    real = viewer_module.decode
    monkeypatch.setattr(viewer_module, "decode", lambda path, box: threads.add(
        threading.get_ident()) or real(path, box))
    page.grid.setFocus()
    page.grid.setCurrentIndex(page.grid_model.index(1))  # blue
    qtbot.keyClick(page.grid, Qt.Key.Key_Return)
    viewer = page.viewer
    assert viewer.isVisible()
    assert viewer.isFullScreen()
    wait_photo(qtbot, viewer)
    assert centre_colour(viewer)[2] > 200  # blue, large
    assert viewer.picture.pixmap().width() > 400
    assert viewer.caption.text().startswith("2_blue.jpg")
    assert viewer.caption.text().endswith("2 / 4")
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    wait_photo(qtbot, viewer)
    assert viewer.caption.text().startswith("1_green.jpg")
    qtbot.keyClick(viewer, Qt.Key.Key_End)
    qtbot.keyClick(viewer, Qt.Key.Key_Right)  # the last stays the last
    wait_photo(qtbot, viewer)
    assert viewer.caption.text().startswith("0_red.jpg")
    assert centre_colour(viewer)[0] > 200
    assert threads
    assert threading.get_ident() not in threads
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert not viewer.isVisible()
    assert page.grid.currentIndex().row() == 3  # the grid is on the photo seen last


def test_number_keys_rate_f_favourites_and_the_grid_shows_it(qtbot, lib, page):
    rect = page.grid.visualRect(page.grid_model.index(0))
    qtbot.mouseClick(page.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(page.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    viewer = page.viewer
    assert viewer.isVisible()
    with qtbot.waitSignal(page.bulk.done, timeout=10_000):
        qtbot.keyClick(viewer, Qt.Key.Key_5)
    assert "★★★★★" in viewer.caption.text()
    with qtbot.waitSignal(page.bulk.done, timeout=10_000):
        qtbot.keyClick(viewer, Qt.Key.Key_F)
    assert "♥" in viewer.caption.text()
    pid = page.grid_model.item(0).photo_id
    assert lib.albums.ratings([pid]) == {pid: (5, True)}
    assert page.grid_model.index(0).data() == "♥ ★★★★★ 3_yellow.jpg"
    lib.albums.create("Holiday")
    with qtbot.waitSignal(page.bulk.done, timeout=10_000):
        page.bulk.add_to_album("Holiday", [pid])
    qtbot.waitUntil(lambda: viewer.facts.text() == "Albums: Holiday", timeout=10_000)
    with qtbot.waitSignal(page.bulk.done, timeout=10_000):
        qtbot.keyClick(viewer, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: viewer.facts.text() == "", timeout=10_000)


def test_an_unreadable_photo_says_so(qtbot, page, tmp_path):
    (tmp_path / "A" / "0_red.jpg").write_bytes(b"not a jpeg")
    page.viewer.open_at(3)
    qtbot.waitUntil(lambda: "Cannot show" in page.viewer.picture.text(), timeout=10_000)
    page.viewer.close()




@pytest.mark.parametrize("box", [QSize(400, 300), QSize(4000, 3000)])
def test_a_photo_is_decoded_no_larger_than_the_screen(tmp_path, box):
    path = tmp_path / "p.jpg"
    Image.new("RGB", (1600, 1200), "red").save(path)
    image = viewer_module.decode(str(path), box)
    assert (image.width(), image.height()) == (min(1600, box.width()), min(1200, box.height()))


def test_z_zooms_to_the_photos_own_pixels_and_dragging_pans(qtbot, page):
    viewer = page.viewer
    viewer.open_at(0)
    wait_photo(qtbot, viewer)
    fitted = viewer.picture.pixmap().width()
    assert fitted < 1600  # fitted to the screen
    qtbot.keyClick(viewer, Qt.Key.Key_Z)
    qtbot.waitUntil(lambda: viewer.image is not None and viewer.picture.pixmap().width() == 1600,
                    timeout=10_000)
    h = viewer.area.horizontalScrollBar()
    qtbot.waitUntil(lambda: h.maximum() > 0, timeout=5000)
    start = h.value()
    port = viewer.area.viewport()
    qtbot.mousePress(port, Qt.MouseButton.LeftButton, pos=QPoint(300, 300))
    qtbot.mouseMove(port, QPoint(200, 300))
    qtbot.mouseRelease(port, Qt.MouseButton.LeftButton, pos=QPoint(200, 300))
    assert h.value() == min(h.maximum(), start + 100)  # dragged left: the photo moves left
    qtbot.keyClick(viewer, Qt.Key.Key_Right)  # the next photo is zoomed too
    qtbot.waitUntil(lambda: viewer.image is not None and viewer.picture.pixmap().width() == 1600,
                    timeout=10_000)
    qtbot.keyClick(viewer, Qt.Key.Key_Z)
    qtbot.waitUntil(lambda: viewer.image is not None and viewer.picture.pixmap().width()
                    == fitted, timeout=10_000)
    viewer.close()
