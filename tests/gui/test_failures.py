"""The files that could not be read, in the window: the status bar says how many, a dialog
lists them by reason (as `photoclip status` does), and Retry reads the changed ones again."""

from __future__ import annotations

import shutil
from pathlib import Path

import skimage

from photoclip.cli import drive
from photoclip.core.library import Library
from photoclip.gui.main_window import MainWindow

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


def _tree(dialog) -> dict[str, list[str]]:
    tree = dialog.tree
    return {tree.topLevelItem(i).text(0): [tree.topLevelItem(i).child(j).text(0)
                                           for j in range(tree.topLevelItem(i).childCount())]
            for i in range(tree.topLevelItemCount())}


def test_failures_by_reason_and_retry(qtbot, tmp_path, tiny_clip_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(SKIMAGE_DATA / "chelsea.png", photos / "chelsea.png")
    (photos / "broken.jpg").write_bytes(b"not a jpeg at all")
    (photos / "empty.png").write_bytes(b"")
    library = Library(tmp_path / "lib", model=str(tiny_clip_dir))
    library.add_roots([str(photos)])
    drive(library.indexer().run())
    expected = {g.reason: g.examples for g in library.failures()}
    assert len(expected) == 2

    win = MainWindow(library=library, watch_options={"audit_s": None})
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.index_finished, timeout=60_000):
        pass
    link = win.failures
    assert link.isVisible()
    assert link.text() == "2 could not be read…"
    link.click()
    dialog = link.dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 2, timeout=10_000)
    assert _tree(dialog) == expected
    assert "2 files could not be read" in dialog.summary.text()

    # The user repairs one file; Retry checks the folders again and the list follows.
    shutil.copy(SKIMAGE_DATA / "coffee.png", photos / "broken.jpg")
    with qtbot.waitSignal(win.index_finished, timeout=60_000):
        dialog.retry_button.click()
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 1, timeout=10_000)
    assert [str(photos / "empty.png")] in _tree(dialog).values()
    qtbot.waitUntil(lambda: link.text() == "1 could not be read…", timeout=10_000)
    assert library.catalog.count_photos("ok") == 2
    win.close()


def test_the_menu_opens_the_list_when_nothing_failed(qtbot, tmp_path, tiny_clip_dir):
    win = MainWindow(library=Library(tmp_path / "lib", model=str(tiny_clip_dir)),
                     load_model=False)
    qtbot.addWidget(win)
    win.show()
    assert not win.failures.isVisible()
    action = next(a for a in win.menuBar().actions()[0].menu().actions()
                  if "Could Not Be Read" in a.text().replace("&", ""))
    action.trigger()
    dialog = win.failures.dialog
    qtbot.waitUntil(lambda: "Every photo" in dialog.summary.text(), timeout=10_000)
    assert not dialog.retry_button.isEnabled()
    win.close()
