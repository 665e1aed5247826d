"""The Label sets page as a user works it: create, edit, enable, delete, re-tag, read counts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import skimage
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from photoclip.cli import drive
from photoclip.core.tagging import LabelSetSpec, LabelSpec, TagStore
from photoclip.core.training import registry
from photoclip.gui.main_window import MainWindow
from photoclip.gui.views.labelset_editor import L_FROM, L_NAME, L_PHOTOS, L_THRESHOLD
from photoclip.gui.views.labelsets import S_NAME, S_TAGS, LabelSetsPage

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")


@pytest.fixture
def page(qtbot, show_page, library):
    page = show_page(LabelSetsPage(library))
    _settled(qtbot, page)
    return page


def _settled(qtbot, page: LabelSetsPage) -> None:
    """The sets and their counts are read off the UI thread: wait for the table to show them."""
    qtbot.waitUntil(lambda: not page.reading, timeout=10_000)


def _store(page: LabelSetsPage) -> TagStore:
    return TagStore(page.library.catalog)


def _create(qtbot, page: LabelSetsPage, name: str, labels: str = "") -> None:
    page.new_set_name.setText(name)
    page.create_button.click()
    if labels:
        page.editor.new_label.setText(labels)
        page.editor.add_label_button.click()
    _settled(qtbot, page)


def _edit(widget, text: str) -> None:
    widget.setText(text)
    widget.editingFinished.emit()


def _row(page: LabelSetsPage, label: str) -> int:
    return next(r for r in range(page.editor.labels_table.rowCount())
                if page.editor.labels_table.item(r, L_NAME).text() == label)


def _error(page: LabelSetsPage) -> str:
    text = page.message_label.text()
    assert text.startswith("⚠"), text
    return text


def test_create_a_set_and_add_labels(qtbot, page):
    assert "No label sets yet" in page.empty_label.text()
    _create(qtbot, page, "pets", "cat, dog,rabbit")
    saved = _store(page).label_set("pets")
    assert saved is not None
    assert saved.enabled
    assert [lb.name for lb in saved.labels] == ["cat", "dog", "rabbit"]
    assert page.title.text() == "pets"
    assert page.sets_table.item(0, S_NAME).text() == "pets"
    assert page.editor.labels_table.rowCount() == 3

    # Mistakes are explained in the page and nothing is saved.
    _create(qtbot, page, "Pets")
    assert "already" in _error(page)
    page.editor.new_label.setText("  ")
    page.editor.add_label_button.click()
    assert "cannot be empty" in _error(page)
    page.editor.new_label.setText("Dog")
    page.editor.add_label_button.click()
    assert "'dog' is already a label" in _error(page)
    page.editor.new_label.setText("cat|dog")
    page.editor.add_label_button.click()
    assert "'|'" in _error(page)
    assert [lb.name for lb in _store(page).label_set("pets").labels] == ["cat", "dog", "rabbit"]
    assert len(_store(page).label_sets()) == 1

    # Remove one label (no tags yet: no question asked).
    page.editor.labels_table.selectRow(_row(page, "dog"))
    page.editor.remove_label_button.click()  # saved off the UI thread (it deletes the tags)
    qtbot.waitUntil(lambda: [lb.name for lb in _store(page).label_set("pets").labels]
                    == ["cat", "rabbit"], timeout=10_000)
    qtbot.waitUntil(lambda: page.editor.isEnabled() and page.editor.labels_table.rowCount() == 2,
                    timeout=10_000)


def test_thresholds_floor_kind_and_templates_are_saved(qtbot, page):
    _create(qtbot, page, "pets", "cat, dog")
    store = _store(page)

    _edit(page.editor.threshold_edit, "0.7")
    assert store.label_set("pets").threshold == pytest.approx(0.7)
    _edit(page.editor.threshold_edit, "1.5")
    assert "out of range" in _error(page)
    assert store.label_set("pets").threshold == pytest.approx(0.7)
    _edit(page.editor.threshold_edit, "high")
    assert "not a number" in _error(page)
    _edit(page.editor.threshold_edit, "")  # empty: back to the default
    assert store.label_set("pets").threshold is None

    _edit(page.editor.floor_edit, "0,3")  # a decimal comma is fine
    assert store.label_set("pets").floor == pytest.approx(0.3)

    page.editor.kind_combo.setCurrentIndex(1)
    page.editor.kind_combo.activated.emit(1)
    assert store.label_set("pets").multi_label

    # A label's own threshold, typed into the table.
    page.editor.labels_table.item(_row(page, "dog"), L_THRESHOLD).setText("0.8")
    qtbot.waitUntil(lambda: store.label_set("pets").labels[1].threshold == pytest.approx(0.8),
                    timeout=5_000)
    assert page.editor.labels_table.item(_row(page, "dog"), L_FROM).text() == "yours"
    page.editor.labels_table.item(_row(page, "cat"), L_THRESHOLD).setText("2")
    qtbot.waitUntil(lambda: "out of range" in page.message_label.text(), timeout=5_000)
    assert "cat" in _error(page)
    assert store.label_set("pets").labels[0].threshold is None
    assert (page.editor.labels_table.item(_row(page, "cat"), L_THRESHOLD).text()
            == "0.250")  # restored

    page.editor.templates_edit.setPlainText("a photo of my {}.\n{} at home")
    page.editor.templates_edit.editingFinished.emit()
    assert store.label_set("pets").templates == ("a photo of my {}.", "{} at home")
    page.editor.templates_edit.setPlainText("a photo of my pet")
    page.editor.templates_edit.editingFinished.emit()
    assert "{}" in _error(page)
    assert store.label_set("pets").templates == ("a photo of my {}.", "{} at home")
    page.editor.templates_edit.setPlainText("")
    page.editor.templates_edit.editingFinished.emit()
    assert store.label_set("pets").templates is None


def test_enabling_and_disabling_a_set_is_saved(qtbot, page):
    _create(qtbot, page, "pets", "cat, dog")
    page.sets_table.item(0, S_NAME).setCheckState(Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: not _store(page).label_set("pets").enabled, timeout=5_000)
    assert "disabled" in page.message_label.text()
    assert "disabled" in page.subtitle.text()
    page.sets_table.item(0, S_NAME).setCheckState(Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: _store(page).label_set("pets").enabled, timeout=5_000)


def test_a_built_in_set_can_be_added_and_a_set_deleted_after_asking(qtbot, page, monkeypatch):
    index = page.builtin_combo.findData("animals")
    assert index > 0
    page.builtin_combo.activated.emit(index)
    assert _store(page).label_set("animals") is not None
    assert page.title.text() == "animals"  # shown at once, before the table is read again
    _settled(qtbot, page)
    assert page.builtin_combo.findData("animals") < 0  # offered once

    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    asked: list[str] = []

    def question(_parent, _title, text, *_args):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    page.delete_button.click()
    assert _store(page).label_set("animals") is not None
    page.delete_button.click()
    qtbot.waitUntil(lambda: _store(page).label_set("animals") is None, timeout=10_000)
    assert "'animals'" in asked[0]
    qtbot.waitUntil(lambda: "Deleted 'animals'" in page.message_label.text(), timeout=10_000)
    _settled(qtbot, page)  # the page reads the sets again after the deletion
    assert page.editor_stack.currentIndex() == 0  # the empty state
    assert "No label sets yet" in page.empty_label.text()


def test_retag_shows_progress_then_the_counts(qtbot, page, tmp_path):
    album = tmp_path / "photos"
    album.mkdir()
    for name in PHOTOS:
        shutil.copy(SKIMAGE_DATA / name, album / name)
    page.library.add_roots([str(album)])
    drive(page.library.indexer().run())

    _create(qtbot, page, "things", "cat, coffee, rocket, astronaut")
    # One label per photo, and with no floor every photo gets its best label.
    _edit(page.editor.floor_edit, "-1")
    _edit(page.editor.threshold_edit, "0")
    seen = []
    page.progressed.connect(seen.append)
    with qtbot.waitSignal(page.retag_finished, timeout=60_000) as done:
        page.retag_button.click()
        assert page.progress_bar.isVisible()
        assert page.cancel_button.isVisible()
        assert not page.retag_button.isEnabled()
    assert seen[-1].finished
    assert seen[-1].done == 4
    assert "4 photos scored" in done.args[0]
    assert "4 photos scored" in page.message_label.text()
    assert not page.progress_bar.isVisible()
    assert page.retag_button.isEnabled()
    _settled(qtbot, page)  # the counts are read again off the UI thread
    photos = [int(page.editor.labels_table.item(r, L_PHOTOS).text())
              for r in range(page.editor.labels_table.rowCount())]
    assert sum(photos) == 4
    qtbot.waitUntil(lambda: page.sets_table.item(0, S_TAGS).text() == "4", timeout=10_000)

    # Renaming a label keeps its tags (a typo fix loses nothing).
    row = max(range(4), key=lambda r: photos[r])
    old = page.editor.labels_table.item(row, L_NAME).text()
    page.editor.labels_table.item(row, L_NAME).setText(f"{old} photo")
    table = page.editor.labels_table
    qtbot.waitUntil(lambda: any(table.item(r, L_NAME).text() == f"{old} photo"
                                for r in range(4)), timeout=5_000)
    assert int(table.item(_row(page, f"{old} photo"), L_PHOTOS).text()) == max(photos)


def test_the_window_reaches_each_page(qtbot, library):
    win = MainWindow(library=library, load_model=False)
    qtbot.addWidget(win)
    win.show()
    titles = [win.pages.tabText(i) for i in range(win.pages.count())]
    assert titles == ["Photos", "Label sets", "Training"]
    view = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    actions = {a.text(): a for a in view.actions()}
    actions["&Label Sets"].trigger()
    assert win.pages.currentWidget() is win.labelsets_page
    actions["&Training"].trigger()
    assert win.pages.currentWidget() is win.training_page
    actions["&Find"].trigger()  # Ctrl+F goes back to the photos
    assert win.pages.currentIndex() == 0
    assert actions["&Label Sets"].shortcut().toString() == "Ctrl+2"
    win.close()


def test_model_bound_buttons_wait_for_the_windows_model(qtbot, library):
    """Re-tagging (and switching models) while the window still loads its model would load a
    second encoder: the buttons wait, and say why."""
    TagStore(library.catalog).save_set(LabelSetSpec("pets", (LabelSpec("cat"), LabelSpec("dog"))))
    registry.ensure_base(library.catalog, "openai/clip-vit-base-patch32")  # another model
    win = MainWindow(library=library, load_model=False, watch_options={"audit_s": None})
    qtbot.addWidget(win)
    win.show()
    page, training = win.labelsets_page, win.training_page
    win.pages.setCurrentWidget(page)
    _settled(qtbot, page)
    assert page.title.text() == "pets"
    assert not page.retag_button.isEnabled()
    assert "waiting for the model to load" in page.retag_button.toolTip()
    win.pages.setCurrentWidget(training)
    other = next(r for r in range(training.models.table.rowCount())
                 if training.models.table.item(r, 0).text() == "clip-vit-base-patch32")
    training.models.table.selectRow(other)
    assert not training.models.use_selected_button.isEnabled()
    assert "waiting for the model to load" in training.models.use_selected_button.toolTip()
    assert training.start_button.isEnabled()  # training loads its own copy of the model

    with qtbot.waitSignal(win.model_ready, timeout=60_000):
        win.load_model()
    assert training.models.use_selected_button.isEnabled()
    assert "waiting" not in training.models.use_selected_button.toolTip()
    win.pages.setCurrentWidget(page)
    assert page.retag_button.isEnabled()
    assert "Apply this set" in page.retag_button.toolTip()
    win.close()


def test_export_then_import_a_set_file_as_the_command_line_does(qtbot, page, tmp_path,
                                                                monkeypatch):
    import json

    from PySide6.QtWidgets import QFileDialog

    _create(qtbot, page, "pets", "cat, dog, rabbit")
    target = tmp_path / "shared" / "pets"  # no suffix: the chosen filter's is added
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *_a, **_k: (str(target), "JSON (*.json)")))
    page.export_button.click()
    written = target.with_suffix(".json")
    qtbot.waitUntil(lambda: "Wrote 'pets'" in page.message_label.text(), timeout=10_000)
    data = json.loads(written.read_text())
    assert [lb if isinstance(lb, str) else lb["name"] for lb in data["labels"]] == [
        "cat", "dog", "rabbit"]

    # Edited elsewhere: rabbit out, hamster in; importing updates the set and says so.
    data["labels"] = ["cat", "dog", "hamster"]
    written.write_text(json.dumps(data))
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *_a, **_k: (str(written), "")))
    with qtbot.waitSignal(page.sets_changed, timeout=10_000):
        page.import_button.click()
    labels = [lb.name for lb in _store(page).label_set("pets").labels]
    assert sorted(labels) == ["cat", "dog", "hamster"]
    assert "Updated 'pets'" in page.message_label.text()
    assert "rabbit" in page.message_label.text()  # removed, with its tags: said plainly

    # A new set from a YAML file; a broken file is refused with the reason, nothing changes.
    (tmp_path / "trips.yaml").write_text("name: trips\nlabels: [beach, mountains]\n")
    (tmp_path / "bad.yaml").write_text("labels: [unclosed\n")
    for name in ("trips.yaml", "bad.yaml"):
        monkeypatch.setattr(QFileDialog, "getOpenFileName",
                            staticmethod(lambda *_a, n=name, **_k: (str(tmp_path / n), "")))
        page.import_button.click()
        qtbot.waitUntil(lambda n=name: n in page.message_label.text(), timeout=10_000)
    assert _store(page).label_set("trips") is not None
    assert page.message_label.text().startswith("⚠")
    assert page.title.text() == "trips"


def test_removing_a_tagged_label_asks_with_its_count_and_deletes_off_the_ui_thread(
        qtbot, page, monkeypatch):
    import threading

    from photoclip.core.types import PhotoRecord

    _create(qtbot, page, "pets", "cat, dog")
    store = _store(page)
    pets = store.label_set("pets")
    cat = next(lb for lb in pets.labels if lb.name == "cat")
    root = page.library.catalog.add_root(str(page.library.paths.root / "photos"))
    for i in range(3):
        pid = page.library.catalog.upsert_photo(
            PhotoRecord(root.id, f"{root.path}/p{i}.jpg", 1, 1, f"h{i}"))
        store.set_user_tag(pid, cat.id)
    page.refresh()
    _settled(qtbot, page)
    asked: list[str] = []
    def question(_parent, _title, text, *_args):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    threads: list[int] = []
    real = page.editor.store.save_set

    def spy(*a, **k):
        threads.append(threading.get_ident())
        return real(*a, **k)

    monkeypatch.setattr(page.editor.store, "save_set", spy)
    page.editor.labels_table.selectRow(_row(page, "cat"))
    page.editor.remove_label_button.click()
    assert "'cat'? 3 tags" in asked[0]  # the count the page last read
    qtbot.waitUntil(lambda: [lb.name for lb in store.label_set("pets").labels] == ["dog"],
                    timeout=10_000)
    assert sum(c[0] for c in store.tag_counts(pets.id).values()) == 0
    assert threads
    assert threading.get_ident() not in threads
