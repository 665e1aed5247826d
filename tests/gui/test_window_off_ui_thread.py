"""The main window's counts, removing a folder, and the preview's tag panel read and change the
catalog off the UI thread (a count or a folder's deletion at 100,000 photos froze the window),
and still show what a user expects once their answers land."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QInputDialog

from photoclip.core.library import Library
from photoclip.core.types import PhotoRecord
from photoclip.gui.main_window import MainWindow
from photoclip.gui.views.tagpanel import TagPanel


def spy_on(monkeypatch, obj: object, names: tuple[str, ...],
           threads: dict[str, set[int]]) -> None:
    """Record the thread each of `obj`'s methods `names` runs on."""
    for name in names:
        real = getattr(obj, name)

        def spy(*a, _real=real, _name=name, **kw):
            threads.setdefault(_name, set()).add(threading.get_ident())
            return _real(*a, **kw)

        monkeypatch.setattr(obj, name, spy)


def add_rows(lib: Library, root: Path, count: int, status: str = "ok",
             name: str = "") -> list[int]:
    root_id = next(r.id for r in lib.catalog.roots() if r.path == str(root))
    with lib.catalog.transaction():
        return [lib.catalog.upsert_photo(PhotoRecord(
            root_id, f"{root}/{name}{status}_{i:05d}.jpg", 1000, 10**18 + i, f"{name}{status}{i}",
            40, 30,
            status=status, error="cannot identify image file" if status == "failed" else None))
            for i in range(count)]


def test_removing_a_folder_counts_and_deletes_off_the_ui_thread(qtbot, tmp_path, monkeypatch):
    folders = [tmp_path / "A", tmp_path / "B"]
    for f in folders:
        f.mkdir()
    lib = Library(tmp_path / "lib")
    lib.add_roots([str(f) for f in folders])
    add_rows(lib, folders[0], 1200)
    add_rows(lib, folders[1], 300)
    add_rows(lib, folders[1], 3, status="failed")
    threads: dict[str, set[int]] = {}
    spy_on(monkeypatch, lib.catalog, ("roots", "count_photos"), threads)
    spy_on(monkeypatch, lib, ("remove_roots",), threads)
    offered: list[list[str]] = []

    def pick(_parent, _title, _label, items, *_a, **_k):
        offered.append(list(items))
        return str(folders[1]), True

    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(pick))
    win = MainWindow(library=lib, load_model=False)
    qtbot.addWidget(win)
    win.show()
    remove = next(a for a in win.menuBar().actions()[0].menu().actions()
                  if a.text().replace("&", "").startswith("Remove Folder"))
    with qtbot.waitSignal(win.counts.counted, timeout=10_000):
        remove.trigger()
    assert offered == [[str(f) for f in folders]]
    assert win.state_label.text() == "Folder removed · 1,200 photos"
    assert win.failures.isHidden()  # B's 3 failed files went with it
    assert {"roots", "count_photos", "remove_roots"} <= set(threads)
    ui = threading.get_ident()
    assert all(ui not in idents for idents in threads.values()), threads
    assert [r.path for r in lib.catalog.roots()] == [str(folders[0])]


def test_a_count_that_arrives_late_does_not_overwrite_a_newer_state(qtbot, tmp_path):
    lib = Library(tmp_path / "lib")
    win = MainWindow(library=lib, load_model=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.counts.counted, timeout=10_000):
        win.counts.show("Folder removed")
        win.state_label.setText("Checking folders for changes…")
    assert win.state_label.text() == "Checking folders for changes…"


@pytest.fixture
def tagged(library, tmp_path):
    """A photo with a tag the user added, and the model loaded for the tagger."""
    folder = tmp_path / "P"
    folder.mkdir()
    library.add_roots([str(folder)])
    (pid,) = add_rows(library, folder, 1)
    tagger = library.tagger()
    tagger.set_tag(pid, "beach")
    return library, tagger, library.catalog.photo(pid)


def test_the_tag_panel_reads_and_changes_tags_off_the_ui_thread(qtbot, tagged, monkeypatch):
    library, tagger, photo = tagged
    threads: dict[str, set[int]] = {}
    spy_on(monkeypatch, library.label_sets, ("photo_tags", "label_sets"), threads)
    spy_on(monkeypatch, tagger, ("set_tag", "reset_tag"), threads)
    panel = TagPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.attach(library, lambda: tagger)
    panel.show_photo(photo)
    qtbot.waitUntil(lambda: panel.idle, timeout=10_000)
    assert panel.rows() == [("my tags", "beach", "—", "user")]

    panel.add_field.setText("sunset")
    with qtbot.waitSignal(panel.changed, timeout=10_000):
        panel.add_tag()
    qtbot.waitUntil(lambda: panel.idle, timeout=10_000)
    assert [r[1] for r in panel.rows()] == ["beach", "sunset"]
    assert panel.add_field.text() == ""
    with qtbot.waitSignal(panel.changed, timeout=10_000):
        panel.button("beach", "remove").click()
    qtbot.waitUntil(lambda: panel.idle, timeout=10_000)
    assert [r[1] for r in panel.rows()] == ["sunset"]
    assert {"photo_tags", "label_sets", "set_tag", "reset_tag"} <= set(threads)
    ui = threading.get_ident()
    assert all(ui not in idents for idents in threads.values()), threads
    assert [t.label for t in library.label_sets.photo_tags(photo.id)] == ["sunset"]


def test_the_tag_panel_never_shows_the_last_photos_tags_under_the_next(qtbot, tagged, tmp_path):
    library, tagger, photo = tagged
    (other,) = add_rows(library, tmp_path / "P", 1, name="other")
    panel = TagPanel()
    qtbot.addWidget(panel)
    panel.attach(library, lambda: tagger)
    panel.show_photo(photo)
    qtbot.waitUntil(lambda: panel.idle, timeout=10_000)
    assert panel.rows()
    panel.show_photo(library.catalog.photo(other))
    assert panel.rows() == []  # at once: not the previous photo's rows while reading


def test_a_batch_that_lands_while_browsing_is_diffed_off_the_ui_thread(qtbot, tmp_path,
                                                                         monkeypatch):
    import photoclip.gui.models as models

    folder = tmp_path / "A"
    folder.mkdir()
    lib = Library(tmp_path / "lib")
    lib.add_roots([str(folder)])
    add_rows(lib, folder, 600)
    threads: dict[str, set[int]] = {}
    spy_on(monkeypatch, models, ("plan_update",), threads)
    win = MainWindow(library=lib, load_model=False)
    qtbot.addWidget(win)
    win.show()
    page = win.photos
    qtbot.waitUntil(lambda: page.idle and page.grid_model.total == 600, timeout=10_000)
    add_rows(lib, folder, 40, name="new")
    page.photos_landed(40)
    qtbot.waitUntil(lambda: page.idle and page.grid_model.total == 640, timeout=10_000)
    assert threading.get_ident() not in threads.get("plan_update", {threading.get_ident()})
    assert len(set(page.grid_model.ids())) == 640
