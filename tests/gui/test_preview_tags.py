"""The preview pane's tags, as a user meets them: select a photo, see its tags with score and
source, accept or reject auto tags, add and remove your own, and ask why a tag was given."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest

from photoclip.core.library import Library
from photoclip.core.tagging import LabelSetSpec, LabelSpec
from photoclip.gui.main_window import MainWindow
from photoclip.gui.views.labelset_editor import L_NAME, L_NO, L_YES

FAST_WATCH = {"debounce_s": 0.1, "stable_s": 0.2, "root_check_s": 0.2, "audit_s": None}
LABELS = ("cat", "dog", "rabbit")


@pytest.fixture
def album(tmp_path) -> Path:
    """Three generated photos: a shape on a background, each in its own colours."""
    root = tmp_path / "Pets"
    root.mkdir()
    for name, bg, fg in (("red.jpg", "white", "red"), ("green.jpg", "navy", "lime"),
                         ("blue.jpg", "yellow", "blue")):
        image = Image.new("RGB", (120, 90), bg)
        ImageDraw.Draw(image).ellipse((30, 15, 90, 75), fill=fg)
        image.save(root / name, quality=90)
    return root


@pytest.fixture
def window(qtbot, tiny_clip_dir, album):
    """A window whose library has a label set, with the album indexed and so auto-tagged."""
    library = Library(model=str(tiny_clip_dir))
    # The tiny model is random: threshold 0 and floor -1 make every label tag every photo of
    # this multi-label set, so each photo has an auto tag of each label.
    library.tagger().store.save_set(LabelSetSpec(
        "pets", tuple(LabelSpec(n) for n in LABELS), threshold=0.0, floor=-1.0,
        multi_label=True))
    win = MainWindow(library=library, watch_options=FAST_WATCH)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.model_ready, timeout=60_000):
        pass
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(album))])
    with qtbot.waitSignal(win.index_finished, timeout=60_000):
        win.dropEvent(QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                                 Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: win.photos.idle, timeout=10_000)  # the grid reads off the UI thread
    return win


def settle(win: MainWindow) -> None:
    """Wait for the tag panel's reads and changes (off the UI thread) to land."""
    tags = win.photos.preview.tags
    for _ in range(1000):
        if tags.idle:
            return
        QTest.qWait(10)
    raise AssertionError("the tag panel's reads and changes did not finish")


def select(win: MainWindow, name: str) -> int:
    row = next(r for r in range(win.photos.grid_model.rowCount())
               if Path(win.photos.grid_model.item(r).path).name == name)
    win.photos.grid.setCurrentIndex(win.photos.grid_model.index(row))
    assert win.photos.preview.name.text() == name
    settle(win)
    return win.photos.grid_model.item(row).photo_id


def rows(win: MainWindow) -> list[tuple[str, str, str, str]]:
    """(set, label, score, state) of each tag row, as shown."""
    settle(win)
    return win.photos.preview.tags.rows()


def catalog_tags(win: MainWindow, photo_id: int) -> dict[str, tuple[str, bool | None]]:
    settle(win)
    return {t.label: (t.source, t.accepted)
            for t in win.library.tagger().store.photo_tags(photo_id)}


def test_the_preview_lists_the_photos_tags_with_score_and_source(window):
    photo_id = select(window, "green.jpg")
    stored = window.library.tagger().store.photo_tags(photo_id)
    assert [t.label for t in stored] == list(LABELS)
    assert rows(window) == [("pets", t.label, f"{t.score:.2f}", "auto") for t in stored]
    assert window.photos.preview.tags.tree.isVisible()
    # the rest of the pane is still there
    assert window.photos.preview.similar_button.isEnabled()
    assert window.photos.preview.folder_button.isEnabled()


def test_accept_and_reject_change_the_catalog_and_the_row(window):
    photo_id = select(window, "red.jpg")
    tags = window.photos.preview.tags

    tags.button("cat", "accept").click()
    assert catalog_tags(window, photo_id)["cat"] == ("auto", True)
    assert rows(window)[0][3] == "auto · accepted"
    assert tags.button("cat", "accept") is None  # nothing left to accept

    tags.button("dog", "reject").click()
    assert catalog_tags(window, photo_id)["dog"] == ("auto", False)
    assert rows(window)[1][3] == "rejected"
    # a "no" stays until the user takes it back
    tags.button("dog", "undo").click()
    assert "dog" not in catalog_tags(window, photo_id)
    assert [r[1] for r in rows(window)] == ["cat", "rabbit"]
    # other photos are untouched
    other = select(window, "blue.jpg")
    assert all(acc is None for _, acc in catalog_tags(window, other).values())


def test_adding_and_removing_a_tag_of_your_own(qtbot, window):
    photo_id = select(window, "blue.jpg")
    tags = window.photos.preview.tags
    completer = tags.add_field.completer()
    completer.setCompletionPrefix("rab")
    assert completer.currentCompletion() == "rabbit"

    qtbot.keyClicks(tags.add_field, "beach")
    qtbot.keyClick(tags.add_field, Qt.Key.Key_Return)
    assert catalog_tags(window, photo_id)["beach"] == ("user", True)
    assert ("my tags", "beach", "—", "user") in rows(window)
    assert tags.add_field.text() == ""
    completer.setCompletionPrefix("bea")
    assert completer.currentCompletion() == "beach"  # now a label the field offers

    tags.button("beach", "remove").click()
    assert "beach" not in catalog_tags(window, photo_id)
    assert "beach" not in [r[1] for r in rows(window)]

    # a name that cannot be resolved is reported in the window, with what to do
    qtbot.keyClicks(tags.add_field, "nosuchset|beach")
    qtbot.keyClick(tags.add_field, Qt.Key.Key_Return)
    settle(window)
    assert "No label 'beach' in a set 'nosuchset'" in window.message_label.text()
    assert len(catalog_tags(window, photo_id)) == len(LABELS)


def test_why_shows_the_numbers_tagger_explain_gives(qtbot, window):
    photo_id = select(window, "green.jpg")
    tags = window.photos.preview.tags
    assert "Select a tag" in tags.why_title.text()
    tags.select("dog")
    qtbot.waitUntil(tags.why_table.isVisible, timeout=30_000)

    tagger = window.library.tagger()
    label = next(lb for lb in tagger.store.require_set("pets").labels if lb.name == "dog")
    why = tagger.explain(photo_id, label.id)
    shown = tags.why_values()
    assert len(why.templates) > 1
    for t in why.templates:
        assert shown[t.prompt] == f"{t.similarity:+.3f}"
    assert shown["ensemble cosine (mean of the prompts)"] == f"{why.similarity:+.3f}"
    assert shown["score (softmax)"] == f"{why.score:.3f}"
    assert shown["threshold (the set's)"] == f"{why.threshold:.3f}" == "0.000"
    assert shown["floor"] == f"{why.floor:+.3f}" == "-1.000"
    assert "dog" in tags.why_title.text()
    assert "gives this tag" in tags.why_title.text()


def _label_row(win: MainWindow, label: str) -> int:
    table = win.labelsets_page.editor.labels_table
    return next(r for r in range(table.rowCount()) if table.item(r, L_NAME).text() == label)


def test_tags_changed_in_the_preview_are_counted_on_the_label_sets_page(qtbot, window):
    page = window.labelsets_page
    window.pages.setCurrentWidget(page)
    qtbot.waitUntil(lambda: not page.reading, timeout=10_000)  # read off the UI thread
    page.select_set("pets")
    assert page.editor.labels_table.item(_label_row(window, "cat"), L_YES).text() == "0"
    window.pages.setCurrentIndex(0)

    select(window, "red.jpg")
    window.photos.preview.tags.button("cat", "accept").click()
    window.photos.preview.tags.button("dog", "reject").click()
    select(window, "blue.jpg")
    window.photos.preview.tags.button("cat", "accept").click()
    settle(window)

    window.pages.setCurrentWidget(page)
    qtbot.waitUntil(lambda: not page.reading, timeout=10_000)
    assert page.title.text() == "pets"
    assert page.editor.labels_table.item(_label_row(window, "cat"), L_YES).text() == "2"
    assert page.editor.labels_table.item(_label_row(window, "dog"), L_NO).text() == "1"


def test_label_set_edits_and_retags_show_in_the_preview(qtbot, window):
    select(window, "green.jpg")
    tags = window.photos.preview.tags
    completer = tags.add_field.completer()
    page = window.labelsets_page
    window.pages.setCurrentWidget(page)
    page.select_set("pets")

    # Rename a label: the preview shows the new name, and its completer offers it.
    page.editor.labels_table.item(_label_row(window, "rabbit"), L_NAME).setText("bunny")
    qtbot.waitUntil(lambda: "Renamed" in page.message_label.text(), timeout=5_000)
    window.pages.setCurrentIndex(0)
    assert [r[1] for r in rows(window)] == ["bunny", "cat", "dog"]
    completer.setCompletionPrefix("bun")
    assert completer.currentCompletion() == "bunny"
    completer.setCompletionPrefix("rabb")
    assert completer.currentCompletion() == ""

    # A new set, re-tagged: its tags appear in the preview without selecting the photo again.
    window.pages.setCurrentWidget(page)
    page.new_set_name.setText("colours")
    page.create_button.click()
    page.editor.new_label.setText("red, green, blue")
    page.editor.add_label_button.click()
    for edit, value in ((page.editor.floor_edit, "-1"), (page.editor.threshold_edit, "0")):
        edit.setText(value)
        edit.editingFinished.emit()
    settle(window)
    completer.setCompletionPrefix("gree")
    assert completer.currentCompletion() == "green"  # labels are offered as soon as they exist
    with qtbot.waitSignal(page.retag_finished, timeout=60_000):
        page.retag_button.click()
    window.pages.setCurrentIndex(0)
    assert [r[0] for r in rows(window)].count("colours") == 1  # one label per photo
