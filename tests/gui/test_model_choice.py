"""Issue 19, model choice in the window: the first-run panel offers the model this computer's
language suggests (a Chinese desktop: one that reads Chinese), and the training page's model
catalogue lists every model photoclip knows to download and switch to."""

from __future__ import annotations

import pytest

from photoclip.config import DEFAULT_MODEL
from photoclip.core import model_catalog
from photoclip.core.library import Library
from photoclip.gui.main_window import MainWindow
from photoclip.gui.views.model_catalogue import COLUMNS
from photoclip.gui.views.models_table import ModelsBox

CHINESE = model_catalog.CHINESE_MODEL


@pytest.fixture
def locale(monkeypatch):
    def set_locale(value: str) -> None:
        for name in ("LC_ALL", "LC_MESSAGES"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("LANG", value)
        monkeypatch.setattr(model_catalog, "gpu_present", lambda: False)

    return set_locale


@pytest.fixture
def offline(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


def _window(qtbot, library: Library) -> MainWindow:
    win = MainWindow(library=library, watch_options={"audit_s": None})
    qtbot.addWidget(win)
    win.show()
    return win


def test_a_chinese_desktop_is_offered_a_model_that_reads_chinese(qtbot, tmp_path, locale,
                                                                 offline):
    locale("zh_CN.UTF-8")
    win = _window(qtbot, Library(tmp_path / "lib", model=DEFAULT_MODEL))
    panel = win.first_run
    qtbot.waitUntil(lambda: panel.problem is not None and panel.suggest_button.isVisible(),
                    timeout=60_000)
    assert CHINESE in panel.suggestion.text()
    assert "Chinese" in panel.suggestion.text()  # why
    assert panel.suggest_button.isEnabled()
    win.first_run.grab().save("/tmp/probe22_panel.png")
    with qtbot.waitSignal(win.loader.applied, timeout=30_000):  # saved off the UI thread
        panel.suggest_button.click()
    assert win.library.settings.model == CHINESE
    assert Library(tmp_path / "lib").settings.model == CHINESE  # saved: the user's choice
    # Offline, the suggested model cannot be had either: the panel says so, and offers no
    # switch to the model it is already trying.
    qtbot.waitUntil(lambda: panel.problem is not None and panel.problem.model == CHINESE,
                    timeout=60_000)
    assert not panel.suggest_button.isVisible()
    win.close()


def test_an_english_cpu_desktop_is_not_pestered(qtbot, tmp_path, locale, offline):
    locale("en_GB.UTF-8")
    win = _window(qtbot, Library(tmp_path / "lib", model=DEFAULT_MODEL))
    panel = win.first_run
    qtbot.waitUntil(lambda: panel.problem is not None, timeout=60_000)
    qtbot.wait(100)  # the catalogue's answer comes on its own
    assert panel.suggested is not None
    assert panel.suggested[0] == DEFAULT_MODEL  # the one it is getting: nothing to offer
    assert not panel.suggest_button.isVisible()
    win.close()


def test_the_catalogue_lists_every_model_and_a_pick_switches_to_it(qtbot, library, locale):
    locale("zh_TW.UTF-8")
    box = ModelsBox(library)
    qtbot.addWidget(box)
    box.show()
    box.refresh()
    box.catalogue_button.click()
    dialog = box.catalogue
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.table.rowCount() > 0, timeout=10_000)
    ids = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert ids == [e.id for e in model_catalog.load_catalog()]
    row = ids.index(CHINESE)
    cells = [dialog.table.item(row, c).text() for c in range(len(COLUMNS))]
    assert cells[1] == "Chinese-CLIP"
    assert "Chinese" in cells[2]
    assert cells[-1] == "suggested"
    assert CHINESE in dialog.suggestion.text()
    standard = ids.index(DEFAULT_MODEL)
    assert dialog.table.item(standard, 3).text() == "605 MB"
    assert dialog.table.item(standard, 4).text() == "151M"
    small = ids.index("photoclip/small-conv")  # built on this computer, nothing to download
    assert [dialog.table.item(small, c).text() for c in (1, 3, 4)] == [
        "small conv", "built here", "157k"]
    assert "training from scratch" in dialog.table.item(small, 0).toolTip()
    assert not dialog.use_button.isEnabled()  # nothing chosen yet
    # While a job runs (or the window loads the model) a switch waits.
    dialog.table.selectRow(row)
    box.update_button(True, None)
    assert not dialog.use_button.isEnabled()
    box.update_button(False, None)
    assert dialog.use_button.isEnabled()
    qtbot.wait(50)
    dialog.grab().save("/tmp/probe22_catalogue.png")
    with qtbot.waitSignal(box.use_requested, timeout=5_000) as picked:
        dialog.use_button.click()
    assert picked.args == [CHINESE, CHINESE]  # the training page's switch job takes it
    assert not dialog.isVisible()
