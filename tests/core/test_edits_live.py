"""An edit saved under a new name while photoclip watches: the editor writes the new file, and
the original's deletion (the user tidying up, or the editor's "replace") is heard a batch or
more later. The edit must still take over the user's tags, albums and stars."""

from __future__ import annotations

from pathlib import Path

import pytest
import skimage
from PIL import Image
from watcher_support import photo_id, tag, tags_of

from photoclip.core.library import Library

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


@pytest.fixture
def library(tmp_path, tiny_encoder):
    folder = (tmp_path / "Pictures" / "trip").resolve()
    folder.mkdir(parents=True)
    for name, src in (("IMG_1.jpg", "chelsea.png"), ("IMG_2.jpg", "page.png")):
        Image.open(SKIMAGE_DATA / src).convert("RGB").save(folder / name, quality=92)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(folder.parent)])
    list(lib.indexer().run())
    tag(lib, folder / "IMG_1.jpg", "cat")
    pid = photo_id(lib, folder / "IMG_1.jpg")
    lib.albums.create("Cats")
    lib.albums.add("Cats", [pid])
    lib.albums.rate([pid], 5)
    yield lib, folder
    lib.close()


def _export_edit(folder: Path) -> Path:
    img = Image.open(folder / "IMG_1.jpg")
    edited = folder / "IMG_1-edit.jpg"
    img.resize((img.width * 9 // 10, img.height * 9 // 10), Image.LANCZOS).save(edited,
                                                                                 quality=75)
    return edited


def test_an_edit_heard_a_batch_before_its_originals_deletion_keeps_everything(library):
    lib, folder = library
    indexer = lib.indexer()  # the watcher's: one indexer across its batches
    edited = _export_edit(folder)
    list(indexer.update([str(edited)]))  # batch 1: the new file
    assert tags_of(lib, edited) == set()  # both still exist: nothing moves yet
    (folder / "IMG_1.jpg").unlink()
    list(indexer.update([str(folder / "IMG_1.jpg")]))  # batch 2: the deletion
    assert tags_of(lib, edited) == {"cat"}
    pid = photo_id(lib, edited)
    assert lib.albums.albums_of([pid]) == {pid: ["Cats"]}
    assert lib.albums.ratings([pid])[pid] == (5, False)
    assert indexer.report.carried_over == [(str(folder / "IMG_1.jpg"), str(edited))]
    assert lib.catalog.count_photos() == 2


def test_an_unrelated_photo_added_earlier_does_not_take_a_deleted_photos_tags(library):
    lib, folder = library
    indexer = lib.indexer()
    other = folder / "IMG_3.jpg"
    Image.open(SKIMAGE_DATA / "rocket.jpg").convert("RGB").save(other, quality=92)
    list(indexer.update([str(other)]))
    (folder / "IMG_2.jpg").unlink()
    (folder / "IMG_1.jpg").unlink()
    list(indexer.update([str(folder / "IMG_1.jpg"), str(folder / "IMG_2.jpg")]))
    assert tags_of(lib, other) == set()
    assert photo_id(lib, folder / "IMG_1.jpg") is None
    assert lib.catalog.count_photos() == 1
