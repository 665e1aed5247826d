"""Issue 17 item 2: a move keeps the photo; a byte-identical copy beside it is a new photo.

Identity for moves prefers the file that was moved, (device, inode) where the file system has
inode numbers, then content."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import skimage
from PIL import Image
from watcher_support import photo_id, rows, tag, tags_of

from photoclip.core.indexing.scan import file_id
from photoclip.core.library import Library

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


@pytest.fixture
def library(tmp_path, tiny_encoder):
    root = (tmp_path / "Pictures").resolve()
    root.mkdir()
    Image.open(SKIMAGE_DATA / "chelsea.png").convert("RGB").save(root / "cat.jpg", quality=90)
    Image.open(SKIMAGE_DATA / "coffee.png").convert("RGB").save(root / "cup.jpg", quality=90)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.settings.batch_size = 8
    lib.add_roots([str(root)])
    list(lib.indexer().run())
    if file_id(os.stat(root / "cat.jpg")) is None:
        lib.close()
        pytest.skip("this file system has no inode numbers")
    tag(lib, root / "cat.jpg")
    yield lib, root
    lib.close()


def _copy_then_move(root: Path) -> tuple[Path, Path]:
    """A copy sorted before the moved original: content alone would pick the copy."""
    (root / "sub").mkdir()
    copy, moved = root / "a copy.jpg", root / "sub" / "b moved.jpg"
    shutil.copy2(root / "cat.jpg", copy)  # same bytes, same mtime
    os.rename(root / "cat.jpg", moved)
    return copy, moved


def test_the_tag_stays_with_the_moved_original_not_a_copy(library):
    lib, root = library
    cat = photo_id(lib, root / "cat.jpg")
    copy, moved = _copy_then_move(root)
    indexer = lib.indexer()
    list(indexer.run())  # the catch-up of a library that was closed meanwhile
    assert photo_id(lib, moved) == cat
    assert tags_of(lib, moved) == {"holiday"}
    assert photo_id(lib, copy) not in (None, cat)
    assert tags_of(lib, copy) == set()
    assert (indexer.report.moved, indexer.report.indexed) == (1, 1)  # the copy is new


def test_the_same_through_an_update_without_events(library):
    lib, root = library
    cat = photo_id(lib, root / "cat.jpg")
    copy, moved = _copy_then_move(root)
    list(lib.indexer().update([str(copy), str(moved), str(root / "cat.jpg")]))
    assert photo_id(lib, moved) == cat
    assert tags_of(lib, moved) == {"holiday"}
    assert tags_of(lib, copy) == set()


def test_identities_are_recorded_for_photos_indexed_before(library):
    lib, root = library
    with lib.catalog.transaction() as c:  # as a catalog from before the identities were kept
        c.execute("UPDATE photos SET dev = NULL, ino = NULL")
    list(lib.indexer().run())
    want = {str(p): file_id(os.stat(p)) for p in (root / "cat.jpg", root / "cup.jpg")}
    assert lib.catalog.identities_of(want) == want
    copy, moved = _copy_then_move(root)
    list(lib.indexer().run())
    assert tags_of(lib, moved) == {"holiday"}
    assert tags_of(lib, copy) == set()
    assert rows(lib, "SELECT count(*) FROM photos") == [(3,)]
