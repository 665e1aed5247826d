"""Thumbnails on disk: where they live, that they are whole, and that a damaged one is remade."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import skimage
from PIL import Image

from photoclip.core.library import Library
from photoclip.core.thumbnails import (
    THUMB_SIZE,
    ensure,
    is_intact,
    save_thumbnail,
    thumbnail_path,
)

DATA = Path(skimage.__file__).parent / "data"


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _whole(path: Path) -> bool:
    with Image.open(path) as im:
        im.load()  # raises on a truncated file
        return im.format == "JPEG" and max(im.size) <= THUMB_SIZE


def test_thumbnails_are_keyed_by_content_hash(tmp_path: Path) -> None:
    digest = "ab" + "0" * 30
    assert thumbnail_path(tmp_path, digest) == tmp_path / "ab" / f"{digest}.jpg"


def test_is_intact_tells_a_whole_thumbnail_from_a_damaged_one(tmp_path: Path) -> None:
    thumb = tmp_path / "t.jpg"
    assert not is_intact(thumb)  # missing
    save_thumbnail(Image.open(DATA / "chelsea.png"), thumb)
    assert is_intact(thumb)
    _truncated(thumb)
    assert not is_intact(thumb)
    _empty(thumb)
    assert not is_intact(thumb)
    thumb.write_bytes(b"\xff")  # shorter than a marker
    assert not is_intact(thumb)


@pytest.mark.parametrize("damage", [_empty, _truncated])
def test_ensure_remakes_a_damaged_thumbnail_and_leaves_a_whole_one(tmp_path: Path,
                                                                   damage) -> None:
    original = DATA / "coffee.png"
    thumb = tmp_path / "cache" / "t.jpg"
    assert ensure(thumb, original)  # missing: made
    assert not ensure(thumb, original)  # whole: left as it is
    damage(thumb)
    assert ensure(thumb, original)
    assert _whole(thumb)


def _photos(root: Path) -> list[Path]:
    root.mkdir()
    paths = []
    for n, name in enumerate(("astronaut.png", "chelsea.png", "coffee.png")):
        path = root / f"p{n}.jpg"
        Image.open(DATA / name).convert("RGB").crop((0, 0, 300, 200)).save(path, quality=90)
        paths.append(path)
    return paths


@pytest.mark.parametrize("how", ["run", "update"])
def test_an_empty_or_truncated_thumbnail_is_remade_at_the_next_index_of_its_photo(
        tmp_path, tiny_encoder, how):
    photos = _photos(tmp_path / "photos")
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(tmp_path / "photos")])
    list(lib.indexer().run())
    thumbs = [thumbnail_path(lib.paths.thumbnails, lib.catalog.photo_by_path(str(p)).hash)
              for p in photos]
    assert all(is_intact(t) for t in thumbs)
    kept = thumbs[2].stat().st_mtime_ns

    # A power cut after the rename: one came back empty, one cut short.
    _empty(thumbs[0])
    _truncated(thumbs[1])
    for photo in photos[:2]:  # touched, not edited: read again, same content
        st = photo.stat()
        os.utime(photo, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))

    indexer = lib.indexer()
    if how == "run":
        list(indexer.run())
    else:
        list(indexer.update([str(p) for p in photos[:2]]))
    assert indexer.report.unchanged >= 2
    assert indexer.report.indexed == indexer.report.failed == 0
    for thumb in thumbs:
        assert is_intact(thumb)
        assert _whole(thumb)
    assert thumbs[2].stat().st_mtime_ns == kept  # a whole thumbnail is not rewritten
    lib.close()


def test_a_new_photo_gets_a_thumbnail_over_a_damaged_one_with_its_content(tmp_path,
                                                                         tiny_encoder):
    """A copy of a photo whose thumbnail is damaged (same hash, so same thumbnail file) remakes
    it when the copy is indexed."""
    photos = _photos(tmp_path / "photos")
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(tmp_path / "photos")])
    list(lib.indexer().run())
    thumb = thumbnail_path(lib.paths.thumbnails, lib.catalog.photo_by_path(str(photos[0])).hash)
    _truncated(thumb)
    (tmp_path / "photos" / "copy.jpg").write_bytes(photos[0].read_bytes())
    indexer = lib.indexer()
    list(indexer.run())
    assert indexer.report.indexed == 1
    assert _whole(thumb)
    lib.close()


def test_thumbnail_writes_leave_no_temp_files(tmp_path, tiny_encoder):
    _photos(tmp_path / "photos")
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(tmp_path / "photos")])
    list(lib.indexer().run())
    names = [p.name for p in lib.paths.thumbnails.rglob("*") if p.is_file()]
    assert len(names) == 3
    assert all(n.endswith(".jpg") and not n.startswith(".") for n in names)
    lib.close()
