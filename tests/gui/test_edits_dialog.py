"""Possible edits of tagged photos in the window: the status bar says how many, the dialog shows
each pair before and after, and Apply carries the tags over (Dismiss does not), all off the UI
thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import skimage
from PIL import Image

from photoclip.core.indexing import edits
from photoclip.core.library import Library
from photoclip.gui.jobs import Calls
from photoclip.gui.views.edits import EditsDialog, EditsLink

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


@pytest.fixture
def suggested(tmp_path, tiny_encoder, monkeypatch):
    """A library where an index run found IMG_1 renamed and re-saved, between the bars."""
    folder = tmp_path / "Pictures"
    folder.mkdir()
    Image.open(SKIMAGE_DATA / "chelsea.png").convert("RGB").save(folder / "IMG_1.jpg")
    Image.open(SKIMAGE_DATA / "rocket.jpg").convert("RGB").save(folder / "IMG_2.jpg")
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(folder)])
    list(lib.indexer().run())
    tagger = lib.tagger()
    tagger.set_tag(lib.catalog.photo_by_path(str(folder / "IMG_1.jpg")).id, "cat")
    tagger.set_tag(lib.catalog.photo_by_path(str(folder / "IMG_1.jpg")).id, "holiday")
    img = Image.open(folder / "IMG_1.jpg")
    img.resize((img.width * 9 // 10, img.height * 9 // 10)).save(folder / "IMG_1 edited.jpg",
                                                                 quality=75)
    (folder / "IMG_1.jpg").unlink()
    monkeypatch.setattr(edits, "CARRY_COSINE", 1.01)  # only suggested
    list(lib.indexer().run())
    yield lib, folder / "IMG_1 edited.jpg"
    lib.close()


def tags_of(lib: Library, path: Path) -> set[str]:
    photo = lib.catalog.photo_by_path(str(path))
    return {t.label for t in lib.label_sets.photo_tags(photo.id)}


def test_the_dialog_shows_the_pair_and_apply_carries_the_tags(qtbot, suggested, monkeypatch):
    lib, edited = suggested
    threads: set[int] = set()
    for name in ("suggestions", "apply", "dismiss"):
        real = getattr(lib.edits, name)

        def spy(*a, _real=real, **kw):
            threads.add(threading.get_ident())
            return _real(*a, **kw)

        monkeypatch.setattr(lib.edits, name, spy)
    dialog = EditsDialog(lib, Calls())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.idle and bool(dialog.suggestions), timeout=10_000)
    assert dialog.summary.text() == "1 possible edit to review:"
    (s,) = dialog.suggestions
    assert s.tags == ("cat", "holiday")
    # before and after, side by side: the vanished photo's cached thumbnail, and the new one's
    assert dialog.thumbs[(s.id, "new")].pixmap() is not None
    assert not dialog.thumbs[(s.id, "new")].pixmap().isNull()
    assert not dialog.thumbs[(s.id, "old")].pixmap().isNull()
    dialog.grab().save("/tmp/ui16_edits_dialog.png")
    apply_button, _ = dialog.row_buttons(s.id)
    with qtbot.waitSignal(dialog.changed, timeout=10_000) as left:
        apply_button.click()
    assert left.args == [0]
    assert "Carried the tags of 1 possible edit over" in dialog.note.text()
    assert dialog.summary.text() == "No possible edits to review."
    assert threads
    assert threading.get_ident() not in threads
    assert tags_of(lib, edited) == {"cat", "holiday"}


def test_the_status_bar_link_counts_and_dismiss_moves_no_tag(qtbot, suggested):
    lib, edited = suggested
    parent = EditsDialog(lib, Calls())  # any widget to hold the link
    qtbot.addWidget(parent)
    link = EditsLink(lib, Calls(), parent)
    parent.show()
    link.refresh()
    qtbot.waitUntil(lambda: link.isVisible(), timeout=10_000)
    assert link.text() == "1 possible edit to review…"
    link.open()
    dialog = link.dialog
    qtbot.waitUntil(lambda: dialog.idle and bool(dialog.suggestions), timeout=10_000)
    with qtbot.waitSignal(dialog.changed, timeout=10_000):
        dialog.dismiss_all.click()
    assert not link.isVisible()
    assert tags_of(lib, edited) == set()
    assert lib.edits.suggestions() == []
