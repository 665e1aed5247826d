"""Fixtures shared by the GUI page tests."""

from __future__ import annotations

import pytest

from photoclip.core.library import Library


@pytest.fixture
def library(tmp_path, tiny_clip_dir):
    """A library on the tiny test model, closed after the test."""
    lib = Library(tmp_path / "library", model=str(tiny_clip_dir))
    yield lib
    lib.close()


@pytest.fixture
def show_page(qtbot):
    """Shows a page at the window's size; its jobs are stopped after the test."""
    pages = []

    def show(widget):
        qtbot.addWidget(widget)
        widget.resize(1280, 760)
        widget.show()
        pages.append(widget)
        return widget

    yield show
    for widget in pages:
        widget.shutdown()


@pytest.fixture
def page(qtbot, lib, show_page):
    """The Photos page over the test module's `lib`, shown, its first browse landed."""
    from photoclip.gui.jobs import Calls
    from photoclip.gui.views.photos import PhotosPage

    page = show_page(PhotosPage(lib, Calls(), lambda: None))
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.run_search()
    return page
