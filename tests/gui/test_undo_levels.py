"""Undo several changes in a row (Ctrl+Z again and again, at least 20 of them) and redo them
(Ctrl+Shift+Z); the bar says what each undo or redo did."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from photoclip.gui.views.selection import UNDO_LEVELS
from tests.gui.test_selection import change, click, text
from tests.gui.test_selection import lib as lib  # the fixture

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = CTRL | Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def page(page, qtbot, lib):  # the Photos page of tests/gui/conftest.py, and then:
    qtbot.waitUntil(lambda: page.grid.visualRect(page.grid_model.index(30)).isValid())
    return page


def test_ctrl_z_takes_back_change_after_change_and_ctrl_shift_z_makes_them_again(
        qtbot, lib, page):
    assert UNDO_LEVELS >= 20
    for row in range(25):  # 25 changes: photo `row` gets 1-5 stars
        click(qtbot, page, row)
        change(qtbot, page, getattr(Qt.Key, f"Key_{1 + row % 5}"))
    assert all(text(page, r).startswith("★") for r in range(25))
    bar = page.selection_bar
    for row in reversed(range(25)):  # back to no stars at all, newest change first
        said = change(qtbot, page, Qt.Key.Key_Z, CTRL)
        assert said == f"Undone: 1 photo rated {1 + row % 5}★"
        assert bar.note.text() == said
        assert not text(page, row).startswith("★")
    assert lib.albums.marked() == {}
    assert not bar.undo_button.isEnabled()
    assert bar.redo_button.isEnabled()
    for row in range(3):  # redo, oldest undone first
        said = change(qtbot, page, Qt.Key.Key_Z, CTRL_SHIFT)
        assert said.startswith(f"Redone: 1 photo rated {1 + row % 5}★")
        assert text(page, row).startswith("★" * (1 + row % 5))
    assert bar.undo_button.toolTip().startswith("Undo: 1 photo rated 3★")
    page.grab().save("/tmp/g21/undo_redo.png")
    click(qtbot, page, 10)
    change(qtbot, page, Qt.Key.Key_F)  # a new change: what was undone can't be redone now
    assert not bar.redo_button.isEnabled()
    assert change(qtbot, page, Qt.Key.Key_Z, CTRL) == "Undone: 1 photo marked favourite"
    assert change(qtbot, page, Qt.Key.Key_Z, CTRL) == "Undone: 1 photo rated 3★"


def test_the_oldest_changes_fall_off_past_the_undo_levels(qtbot, lib, page):
    page.bulk.select_all()
    for n in range(UNDO_LEVELS + 2):
        with qtbot.waitSignal(page.bulk.done, timeout=10_000):
            page.bulk.rate(1 + n % 2)
    assert len(page.bulk.undo_stack) == UNDO_LEVELS


def test_an_album_made_from_the_selection_is_undone_and_redone(qtbot, lib, page):
    click(qtbot, page, 0)
    click(qtbot, page, 1, CTRL)
    lib.albums.create("Holiday")
    with qtbot.waitSignal(page.bulk.done, timeout=10_000):
        page.bulk.add_to_album("Holiday")
    with qtbot.waitSignal(page.bulk.done, timeout=10_000):
        page.bulk.tag("sea")
    assert change(qtbot, page, Qt.Key.Key_Z, CTRL) == "Undone: 2 photos tagged sea"
    assert change(qtbot, page, Qt.Key.Key_Z, CTRL) == "Undone: 2 photos added to Holiday"
    assert lib.albums.get("Holiday").count == 0
    assert change(qtbot, page, Qt.Key.Key_Z, CTRL_SHIFT).startswith(
        "Redone: 2 photos added to Holiday")
    assert lib.albums.get("Holiday").count == 2
    menu = page.bulk.menu()
    assert [a.text() for a in menu.actions() if a.text().startswith(("Undo", "Redo"))] == [
        "Undo: 2 photos added to Holiday", "Redo: 2 photos tagged sea"]
