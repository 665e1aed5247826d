"""The tag panel reads the catalog on its own thread, and the window's shutdown waits for that
thread before the library closes (a read still running would hit a closed catalog)."""

from __future__ import annotations

import threading

from photoclip.gui.jobs import Calls
from photoclip.gui.views.photos import PhotosPage
from tests.gui.test_selection import lib as lib  # the fixture


def test_refresh_reads_off_the_ui_thread_and_shutdown_waits_for_the_read(
        qtbot, lib, show_page, monkeypatch):
    store = lib.label_sets  # the panel's store (the library keeps one)
    real = store.photo_tags
    threads: list[int] = []
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def photo_tags(photo_id):
        threads.append(threading.get_ident())
        started.set()
        release.wait(10)
        try:
            return real(photo_id)
        finally:
            finished.set()

    monkeypatch.setattr(store, "photo_tags", photo_tags)
    page = PhotosPage(lib, Calls(), lambda: None)
    qtbot.addWidget(page)
    page.show()
    with qtbot.waitSignal(page.search_done, timeout=10_000):
        page.run_search()
    qtbot.waitUntil(lambda: page.preview.tags.photo is not None)
    page.preview.tags.refresh()
    assert started.wait(10)
    assert threading.get_ident() not in threads
    assert not page.preview.tags.idle  # the read is under way
    threading.Timer(0.3, release.set).start()
    page.shutdown()  # what the window does before it closes the library
    assert finished.is_set()  # the read was waited for, not left running
    lib.close()
    qtbot.wait(50)  # the dropped answer never reaches the panel
