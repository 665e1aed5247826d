"""Selection ▸ Accept / Reject a label's auto tags: one decision for every selected photo,
made off the UI thread, shown in the preview's tag panel, and undone by Ctrl+Z."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog

from photoclip.gui.views.photos import PhotosPage
from tests.gui.test_selection import change, click
from tests.gui.test_selection import lib as lib  # the fixture

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def page(page, qtbot, lib):  # the Photos page of tests/gui/conftest.py, and then:
    lib.label_sets.define("scenes", labels="beach,forest")
    beach = next(lb for _, lb in lib.label_sets.find_labels("scenes|beach"))
    ids = page.grid_model.ids(range(4))
    with lib.catalog.transaction() as c:  # auto-tagging suggested beach for the first four
        c.executemany("INSERT INTO tags(photo_id, label_id, score, source, accepted) "
                      "VALUES (?, ?, 0.9, 'auto', NULL)", [(i, beach.id) for i in ids])
    qtbot.waitUntil(lambda: page.grid.visualRect(page.grid_model.index(4)).isValid())
    return page


def panel_states(qtbot, page: PhotosPage) -> list[str]:
    tags = page.preview.tags
    qtbot.waitUntil(lambda: tags.idle and tags.photo is not None)
    return [state for _set, label, _score, state in tags.rows() if label == "beach"]


def test_accepting_a_labels_auto_tags_on_the_selection_and_undoing_it(
        qtbot, lib, page, monkeypatch):
    threads: list[int] = []
    real = lib.albums.__class__.decide_edit
    monkeypatch.setattr(lib.albums.__class__, "decide_edit", lambda self, *a, **k: (
        threads.append(threading.get_ident()), real(self, *a, **k))[1])
    click(qtbot, page, 0)
    click(qtbot, page, 2, Qt.KeyboardModifier.ShiftModifier)
    page.preview.tags.refresh()
    assert panel_states(qtbot, page) == ["auto"]
    menu = page.bulk.menu()
    action = next(a for a in menu.actions() if a.text() == "Accept a label's auto tags…")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("beach", True))
    with qtbot.waitSignal(page.bulk.done, timeout=10_000) as done:
        action.trigger()
    assert done.args[0] == "scenes|beach accepted on 3 photos  (Ctrl+Z undoes)"
    assert page.selection_bar.note.text() == done.args[0]
    assert threads
    assert threading.get_ident() not in threads
    assert panel_states(qtbot, page) == ["auto · accepted"]
    page.grab().save("/tmp/g21/decide.png")
    assert change(qtbot, page, Qt.Key.Key_Z, CTRL) == "Undone: scenes|beach accepted on 3 photos"
    assert panel_states(qtbot, page) == ["auto"]


def test_rejecting_them_takes_the_tags_off_every_selected_photo(qtbot, lib, page):
    page.bulk.select_all()
    with qtbot.waitSignal(page.bulk.done, timeout=10_000) as done:
        page.bulk.decide("scenes|beach", accept=False)
    assert done.args[0].startswith("scenes|beach rejected on 4 photos")
    assert lib.label_sets.effective_tags(page.grid_model.ids(range(4))) == {}
    assert panel_states(qtbot, page) == ["rejected"]


def test_an_unknown_label_is_said_in_the_bar(qtbot, page):
    click(qtbot, page, 0)
    with qtbot.waitSignal(page.bulk.failed, timeout=10_000) as failed:
        page.bulk.decide("volcano")
    assert "No label 'volcano'" in failed.args[0]
    assert page.selection_bar.note.text().startswith("⚠ No label")
