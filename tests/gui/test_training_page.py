"""The Training page as a user works it: choose albums, train, watch the plot, see before and
after, cancel, and switch the library to the new model."""

from __future__ import annotations

from pathlib import Path

import pytest
from album_support import COLOURS, colour_albums
from PySide6.QtCore import Qt

from photoclip.cli import drive
from photoclip.core.training import registry
from photoclip.gui.main_window import MainWindow
from photoclip.gui.views.training import TrainingPage


@pytest.fixture
def albums(tmp_path) -> Path:
    return colour_albums(tmp_path / "albums", COLOURS)


@pytest.fixture
def page(show_page, library):
    return show_page(TrainingPage(library))


def _short(page: TrainingPage, albums: Path, epochs: int = 2) -> None:
    page.source.set_albums_folder(str(albums))
    page.epochs.setValue(epochs)
    page.batch_size.setValue(8)


def test_train_see_the_figures_and_use_the_model_in_the_window(qtbot, library, albums,
                                                               tmp_path, tiny_clip_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in COLOURS:
        (photos / f"{name}.jpg").write_bytes((albums / name / "0.jpg").read_bytes())
    library.add_roots([str(photos)])
    drive(library.indexer().run())

    win = MainWindow(library=library, watch_options={"audit_s": None})
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.model_ready, timeout=60_000):
        pass
    page = win.training_page
    win.pages.setCurrentWidget(page)
    _short(page, albums)
    qtbot.waitUntil(lambda: "3 labels, 24 photos" in page.source.summary.text(),
                    timeout=10_000)
    assert page.models.table.item(0, 2).text() == "in use"

    with qtbot.waitSignal(page.training_finished, timeout=120_000) as finished:
        page.start_button.click()
        assert page.cancel_button.isEnabled()
        assert not page.start_button.isEnabled()
    assert finished.args == [True]
    # 18 training photos, batches of 8: 2 steps an epoch, accuracy after each epoch.
    assert len(page.plot.series["loss"].points) == 4
    assert [x for x, _ in page.plot.series["held-out accuracy"].points] == [2.0, 4.0]
    result = page.result
    assert result is not None
    assert page.results.figures[("zero_shot_accuracy", "before")].text() == (
        f"{result.before.zero_shot_accuracy:.3f}")
    assert page.results.figures[("zero_shot_accuracy", "after")].text() == (
        f"{result.after.zero_shot_accuracy:.3f}")
    assert "→" in page.phase_label.text()
    assert "3 held-out photos" in page.results.results_note.text()
    assert page.results.use_button.isEnabled()
    assert registry.find(library.catalog, "albums") is not None

    with qtbot.waitSignal(page.model_switched, timeout=120_000):
        page.results.use_button.click()
    assert library.settings.model == result.path
    assert "now uses albums" in page.phase_label.text()
    assert not page.results.use_button.isEnabled()  # already in use
    in_use = [page.models.table.item(r, 0).text() for r in range(page.models.table.rowCount())
              if page.models.table.item(r, 2).text() == "in use"]
    assert in_use == ["albums"]
    # The window reloads the model and searches with the new one.
    with qtbot.waitSignal(win.model_ready, timeout=60_000):
        pass
    assert library.encoder.model_id == result.path
    win.pages.setCurrentIndex(0)
    with qtbot.waitSignal(win.photos.search_done, timeout=30_000) as searched:
        win.photos.search_field.setText("red")
        win.photos.run_search()
    assert searched.args == [3]
    win.close()


def test_cancel_stops_training_and_keeps_the_library_model(qtbot, page, albums, tiny_clip_dir):
    _short(page, albums, epochs=500)
    with qtbot.waitSignal(page.training_finished, timeout=120_000) as finished:
        page.start_button.click()
        qtbot.waitUntil(lambda: len(page.plot.series["loss"].points) > 0, timeout=60_000)
        page.cancel_button.click()
    assert finished.args == [False]
    assert page.result is None
    assert "stopped" in page.message_label.text().lower()
    assert "unchanged" in page.message_label.text()
    assert not page.results.use_button.isEnabled()
    assert page.start_button.isEnabled()
    assert page.library.settings.model == str(tiny_clip_dir)
    assert registry.find(page.library.catalog, "albums") is None
    assert len(page.plot.series["loss"].points) < 100


@pytest.fixture
def other_weights(tmp_path, tiny_clip_dir) -> Path:
    """Another tiny CLIP: the same shape and vocabulary, other random weights."""
    import shutil

    import torch
    from transformers import CLIPModel

    folder = Path(shutil.copytree(tiny_clip_dir, tmp_path / "other-clip"))
    config = CLIPModel.from_pretrained(str(tiny_clip_dir)).config
    torch.manual_seed(1)
    CLIPModel(config).eval().save_pretrained(str(folder))
    return folder


def test_switching_models_retags_the_label_sets_with_the_new_one(qtbot, page, library, albums,
                                                                 tmp_path, tiny_clip_dir,
                                                                 other_weights):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in COLOURS:
        (photos / f"{name}.jpg").write_bytes((albums / name / "0.jpg").read_bytes())
    library.add_roots([str(photos)])
    drive(library.indexer().run())
    library.label_sets.define("pets", labels="cat,dog,rabbit", floor=-1, threshold=0)
    drive(library.tagger().run(["pets"]))
    assert library.label_sets.tag_models("pets") == [str(tiny_clip_dir)]

    with qtbot.waitSignal(page.retag_finished, timeout=120_000) as retagged:
        page.use_model(str(other_weights), "other")
        qtbot.waitUntil(lambda: "re-tagging" in page.phase_label.text(), timeout=120_000)
        assert not page.models.use_selected_button.isEnabled()  # one job at a time
    assert library.settings.model == str(other_weights)
    # The tags are the new model's, so "why this tag" (the model in use) agrees with them.
    assert library.label_sets.tag_models("pets") == [str(other_weights)]
    assert "re-done" in retagged.args[0]
    assert "re-done" in page.message_label.text()
    assert page.phase_label.text() == "The library now uses other."
    assert not page.busy


def test_bad_choices_are_explained_in_the_page(qtbot, page, albums, tmp_path):
    page.start_button.click()  # no folder chosen yet
    assert "Choose a folder" in page.message_label.text()

    _short(page, albums)
    page.lr_edit.setText("fast")
    page.start_button.click()
    assert "not a number" in page.message_label.text()
    page.lr_edit.setText("")
    page.name_edit.setText("my model!")
    page.start_button.click()
    assert "cannot name a model" in page.message_label.text()
    page.name_edit.setText("")
    assert not page.busy

    one = colour_albums(tmp_path / "one", {"red": (220, 40, 40)})
    page.source.set_albums_folder(str(one))
    qtbot.waitUntil(lambda: "at least 2" in page.source.summary.text(), timeout=10_000)
    with qtbot.waitSignal(page.training_finished, timeout=30_000) as finished:
        page.start_button.click()
    assert finished.args == [False]
    assert "at least 2" in page.message_label.text()
    assert page.message_label.text().startswith("⚠")

    page.source.set_radio.setChecked(True)  # no label sets in this library
    qtbot.waitUntil(lambda: "no label set" in page.source.summary.text().lower(),
                    timeout=10_000)


def _drop_on(widget, folder: Path) -> None:
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)


def test_the_albums_folder_starts_empty_and_is_typed_or_dropped(qtbot, show_page, library,
                                                                 albums, tmp_path):
    """The library's photo folder is not a set of albums: the field starts empty and says what
    a usable albums folder looks like; a typed or dropped folder is looked at."""
    photos = tmp_path / "photos"
    for sub in ("2023", "misc", "people"):
        (photos / sub).mkdir(parents=True)
    library.add_roots([str(photos)])
    page = show_page(TrainingPage(library))
    source = page.source
    assert source.albums_folder() == ""
    assert source.folder_combo.count() == 0
    assert "2023" not in source.summary.text()
    assert "one subfolder per label" in source.summary.text().lower()
    assert "albums/cat/*.jpg" in source.summary.text()
    assert "at least 2 photos each" in source.summary.text()

    edit = source.folder_combo.lineEdit()
    assert edit is not None
    assert edit.isEnabled()
    qtbot.keyClicks(edit, str(albums))
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "3 labels, 24 photos" in source.summary.text(), timeout=10_000)

    other = colour_albums(tmp_path / "dropped", {"red": (220, 40, 40), "blue": (40, 80, 220)})
    _drop_on(page, other)  # anywhere on the page, not only on the field
    assert source.albums_folder() == str(other)
    qtbot.waitUntil(lambda: "2 labels, 16 photos" in source.summary.text(), timeout=10_000)
    assert library.catalog.roots()[0].path == str(photos)  # the drop added no library folder


def test_evaluate_shows_the_same_figures_as_photoclip_eval(qtbot, show_page, library, albums):
    page = show_page(TrainingPage(library))
    page.evaluate_button.click()  # nothing chosen yet
    assert "Choose a folder" in page.message_label.text()
    assert page.evaluation is None

    page.source.set_albums_folder(str(albums))
    page.evaluate_button.click()
    dialog = page.evaluation
    assert dialog is not None
    assert not page.start_button.isEnabled()  # one model job at a time
    qtbot.waitUntil(lambda: not dialog.busy, timeout=120_000)
    assert page.start_button.isEnabled()
    job = library.evaluate(library.read_albums(albums))
    drive(job.run())
    expected = job.result.as_dict()
    for key in ("zero_shot_accuracy", "zero_shot_accuracy_single_prompt", "recall_at_1",
                "recall_at_5", "modality_gap", "prototype_accuracy", "linear_probe_accuracy"):
        assert dialog.figures[key].text() == f"{expected[key]:.3f}", key
    assert "24 photos, 3 labels" in dialog.phase.text()
    assert dialog.close_button.isVisible()
    dialog.close()


def test_evaluate_waits_for_the_windows_model(show_page, library):
    page = show_page(TrainingPage(library))
    page.set_model_state(None, evaluation="Needs the model, which did not load")
    assert not page.evaluate_button.isEnabled()
    assert "did not load" in page.evaluate_button.toolTip()
    page.set_model_state(None)
    assert page.evaluate_button.isEnabled()
