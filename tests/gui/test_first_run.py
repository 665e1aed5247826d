"""The first start without a model, as a user meets it: a panel above the pages that says what
the model is, shows its download in MB, and — when it cannot be had — says why in the window's
words (never a command line) and offers Try again / Choose a model folder…; a search typed
meanwhile says it needs the model, and runs once a model is chosen."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QLabel

from photoclip.config import DEFAULT_MODEL
from photoclip.core.errors import ModelLoadError
from photoclip.core.library import Library
from photoclip.gui.main_window import SEARCH_NEEDS_MODEL, MainWindow
from photoclip.gui.views.firstrun import (
    BAD_FOLDER,
    MISSING_FOLDER,
    OFFLINE,
    OTHER,
    model_problem,
)


def _window(qtbot, library: Library, **options) -> MainWindow:
    win = MainWindow(library=library, watch_options={"audit_s": None}, **options)
    qtbot.addWidget(win)
    win.show()
    return win


def _everything_shown(win: MainWindow) -> str:
    """Every text the window shows: its labels (panel, pages, status bar) and buttons."""
    texts = [w.text() for w in win.findChildren(QLabel) if w.isVisible()]
    texts += [w.toolTip() for w in win.findChildren(QLabel) if w.isVisible()]
    return "\n".join(texts)


def _choose(monkeypatch, folder: Path | str) -> None:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *_a, **_k: str(folder)))


def test_a_missing_model_folder_gets_a_panel_and_a_chosen_folder_runs_the_typed_search(
        qtbot, tmp_path, tiny_clip_dir, monkeypatch):
    gone = tmp_path / "models" / "clip-on-a-usb-stick"
    win = _window(qtbot, Library(tmp_path / "lib", model=str(gone)))
    panel = win.first_run
    qtbot.waitUntil(lambda: panel.problem is not None, timeout=30_000)
    assert panel.isVisible()
    assert panel.problem.kind == MISSING_FOLDER
    assert "missing" in panel.title.text()
    assert "CLIP model" in panel.about.text()  # what the model is and does
    assert "does not exist" in panel.detail.text()
    assert panel.choose_button.isVisible()
    assert panel.choose_button.isEnabled()
    assert panel.retry_button.isVisible()
    assert panel.standard_button.isVisible()  # back to the model everyone starts with
    shown = _everything_shown(win)
    assert "--model" not in shown
    assert "pass " not in shown
    assert "see the panel above" in win.message_label.text()
    # A search typed now says it needs the model (not "starts when the model is ready").
    win.photos.search_field.setText("cat")
    win.photos.run_search()
    assert SEARCH_NEEDS_MODEL in win.photos.note.text()  # beside the search field

    # A folder without a model in it is refused before anything changes.
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    _choose(monkeypatch, empty)
    panel.choose_button.click()
    qtbot.waitUntil(lambda: "no config.json" in panel.detail.text(), timeout=10_000)
    assert win.library.settings.model == str(gone)
    assert panel.choose_button.isEnabled()

    # The right folder: saved in the settings, loaded in the background; the search runs.
    _choose(monkeypatch, tiny_clip_dir)
    with qtbot.waitSignal(win.photos.search_done, timeout=60_000):
        panel.choose_button.click()
    assert win.library.settings.model == str(tiny_clip_dir)
    assert Library(tmp_path / "lib").settings.model == str(tiny_clip_dir)  # saved
    assert not panel.isVisible()
    assert win.message_label.text() == ""
    assert SEARCH_NEEDS_MODEL not in win.photos.note.text()
    win.close()


def test_an_offline_first_start_says_so_in_the_windows_words(qtbot, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    win = _window(qtbot, Library(tmp_path / "lib", model=DEFAULT_MODEL))
    panel = win.first_run
    qtbot.waitUntil(lambda: panel.problem is not None, timeout=60_000)
    assert panel.problem.kind == OFFLINE
    assert "offline" in panel.detail.text()
    assert "605 MB" in panel.detail.text()  # the standard model's download, said up front
    assert panel.retry_button.isVisible()
    assert panel.choose_button.isVisible()
    assert not panel.standard_button.isVisible()  # it is the standard model
    shown = _everything_shown(win)
    assert "--model" not in shown
    assert "PATH" not in shown
    assert win.state_label.text() == "No model"
    # Re-tagging waits for a model, and its tooltip points at the panel.
    assert "panel above" in win.labelsets_page.retag_button.toolTip()
    win.close()


def test_a_download_shows_in_the_panel_in_megabytes(qtbot, tmp_path, tiny_clip_dir):
    win = _window(qtbot, Library(tmp_path / "lib", model=str(tiny_clip_dir)), load_model=False)
    panel = win.first_run
    assert not panel.isVisible()  # nothing to say until a download (or a failure) has news
    # The download reports from its own threads.
    reporters = [threading.Thread(target=panel.report_download, args=(d, 605_000_000))
                 for d in (100_000_000, 200_000_000, 312_000_000)]
    for t in reporters:
        t.start()
        t.join()
    qtbot.waitUntil(lambda: "312/605 MB" in panel.detail.text(), timeout=5_000)
    assert panel.isVisible()
    assert "Downloading" in panel.title.text()
    assert panel.progress.isVisible()
    assert panel.progress.value() == round(1000 * 312 / 605)
    assert "312/605 MB" in win.state_label.text()
    assert not panel.choose_button.isVisible()
    # Once the model is ready the panel goes, and late reports do not bring it back.
    with qtbot.waitSignal(win.model_ready, timeout=60_000):
        win.load_model()
    assert not panel.isVisible()
    panel.report_download(400_000_000, 605_000_000)
    qtbot.wait(50)
    assert not panel.isVisible()
    win.close()


def test_load_errors_are_sorted_into_what_the_window_can_offer(tmp_path, tiny_clip_dir):
    def wrapped(message: str, cause: BaseException) -> ModelLoadError:
        try:
            raise ModelLoadError(message) from cause
        except ModelLoadError as exc:
            return exc

    hub = wrapped("Could not load CLIP model 'x/y': ... or pass --model PATH to a folder",
                  OSError("We couldn't connect to 'https://huggingface.co'"))
    assert model_problem("x/y", hub).kind == OFFLINE
    broken = wrapped(f"Could not load CLIP model from folder {tiny_clip_dir}: no weights. Pass "
                     "--model a folder saved with save_pretrained.",
                     ValueError("no file named model.safetensors"))
    problem = model_problem(str(tiny_clip_dir), broken)
    assert problem.kind == BAD_FOLDER
    assert problem.detail == "no file named model.safetensors"
    missing = model_problem(str(tmp_path / "gone"), ModelLoadError("Pass --model a folder"))
    assert missing.kind == MISSING_FOLDER
    # A reason that is itself a command line is left out rather than shown.
    odd = model_problem("x/y", wrapped("x", RuntimeError("run photoclip models use x")))
    assert odd.kind == OTHER
    assert odd.detail == ""
    for p in (problem, missing, odd, model_problem("x/y", hub)):
        assert "--" not in p.text
        assert "photoclip models" not in p.text
        assert p.model in p.text


@pytest.mark.parametrize("layout", ["saved", "hub-cache"])
def test_a_chosen_folder_is_the_model_or_its_newest_snapshot(tmp_path, tiny_clip_dir, layout):
    from photoclip.gui.views.firstrun import usable_model

    if layout == "saved":
        assert usable_model(str(tiny_clip_dir)) == str(tiny_clip_dir)
        return
    snapshot = tmp_path / "models--openai--clip" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert usable_model(str(tmp_path / "models--openai--clip")) == str(snapshot)
