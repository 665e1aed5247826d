"""The viewer's EXIF line: I shows camera, lens, exposure, aperture, focal length, ISO and the
date taken (read off the UI thread), and hides it again; it follows the photo shown."""

from __future__ import annotations

import threading

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from PySide6.QtCore import Qt

from photoclip.core.library import Library
from photoclip.core.types import PhotoRecord
from photoclip.gui.jobs import Calls
from photoclip.gui.views import viewer as viewer_module
from photoclip.gui.views.exif import exif_summary
from photoclip.gui.views.photos import PhotosPage


def with_exif(path) -> None:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"
    sub = exif.get_ifd(0x8769)
    sub[0x829A], sub[0x829D] = IFDRational(1, 250), IFDRational(28, 10)
    sub[0x8827], sub[0x920A] = 400, IFDRational(50, 1)
    sub[0x9003], sub[0xA434] = "2021:05:01 10:00:00", "RF24-70mm F2.8 L IS USM"
    Image.new("RGB", (800, 600), "red").save(path, exif=exif)


@pytest.fixture
def lib(tmp_path):
    folder = tmp_path / "A"
    folder.mkdir()
    with_exif(folder / "canon.jpg")
    Image.new("RGB", (800, 600), "blue").save(folder / "plain.jpg")
    library = Library(tmp_path / "library")
    root = library.add_roots([str(folder)])[0]
    for n, name in enumerate(("canon.jpg", "plain.jpg")):  # newest first: canon, plain
        path = folder / name
        library.catalog.upsert_photo(PhotoRecord(
            root.id, str(path), path.stat().st_size, 10**18, f"h{n}", 800, 600,
            f"2020-01-0{2 - n}T12:00:00"))
    yield library
    library.close()


def test_exif_summary_reads_the_camera_settings(tmp_path):
    with_exif(tmp_path / "a.jpg")
    assert exif_summary(str(tmp_path / "a.jpg")) == (
        "Canon EOS R5  ·  RF24-70mm F2.8 L IS USM  ·  1/250 s  ·  f/2.8  ·  50 mm  ·  ISO 400"
        "  ·  2021-05-01 10:00")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe1garbage")
    assert exif_summary(str(tmp_path / "broken.jpg")) == ""
    assert exif_summary(str(tmp_path / "missing.jpg")) == ""


def test_i_toggles_the_exif_line_which_follows_the_photo(qtbot, lib, show_page, monkeypatch):
    threads: list[int] = []
    monkeypatch.setattr(viewer_module, "exif_summary", lambda path: (
        threads.append(threading.get_ident()), exif_summary(path))[1])
    page = show_page(PhotosPage(lib, Calls(), lambda: None))
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.run_search()
    page.viewer.open_at(0)
    viewer = page.viewer
    qtbot.waitUntil(lambda: viewer.image is not None, timeout=10_000)
    assert not viewer.exif.isVisible()
    assert "I  info" in viewer.hint.text()
    qtbot.keyClick(viewer, Qt.Key.Key_I)
    assert viewer.exif.isVisible()
    qtbot.waitUntil(lambda: "ISO 400" in viewer.exif.text(), timeout=10_000)
    assert viewer.exif.text().startswith("Canon EOS R5  ·  RF24-70mm")
    assert threads
    assert threading.get_ident() not in threads
    viewer.grab().save("/tmp/g21/viewer_exif.png")
    qtbot.keyClick(viewer, Qt.Key.Key_Right)  # the next photo has no EXIF
    qtbot.waitUntil(lambda: viewer.exif.text() == "No EXIF in this file", timeout=10_000)
    qtbot.keyClick(viewer, Qt.Key.Key_I)
    assert not viewer.exif.isVisible()
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
