"""Issue 16 item 6: a photo renamed and re-saved while photoclip was closed keeps its user tags.

The bars (edits.CARRY_COSINE, SUGGEST_COSINE) are meant for real CLIP weights; the tiny random
model of the suite puts a re-encode and resize of a photo at ~1.0, above both."""

from __future__ import annotations

from pathlib import Path

import pytest
import skimage
from PIL import Image
from watcher_support import photo_id, tag, tags_of

from photoclip.core.indexing import edits
from photoclip.core.library import Library

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


@pytest.fixture
def library(tmp_path, tiny_encoder):
    root = (tmp_path / "Pictures").resolve()
    (root / "trip").mkdir(parents=True)
    Image.open(SKIMAGE_DATA / "chelsea.png").convert("RGB").save(root / "trip" / "IMG_1.jpg",
                                                                 quality=92)
    Image.open(SKIMAGE_DATA / "rocket.jpg").convert("RGB").save(root / "trip" / "IMG_2.jpg",
                                                                quality=92)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.settings.batch_size = 8
    lib.add_roots([str(root)])
    list(lib.indexer().run())
    tag(lib, root / "trip" / "IMG_1.jpg", "cat")
    tag(lib, root / "trip" / "IMG_1.jpg", "holiday")
    yield lib, root / "trip"
    lib.close()


def _resave(folder: Path, keep_original: bool = False) -> Path:
    """An editor's export under a new name: smaller and re-encoded (new bytes, new hash)."""
    src = folder / "IMG_1.jpg"
    img = Image.open(src)
    edited = folder / "IMG_1 edited.jpg"
    img.resize((img.width * 9 // 10, img.height * 9 // 10), Image.LANCZOS).save(edited,
                                                                                 quality=75)
    if not keep_original:
        src.unlink()
    return edited


def _add_unrelated(folder: Path) -> Path:
    """A new photo of something else (a scanned page: far from the cat even for the tiny
    random model, which puts many natural photos within 0.02 of each other)."""
    other = folder / "IMG_3.jpg"
    Image.open(SKIMAGE_DATA / "page.png").convert("RGB").save(other, quality=92)
    return other


def test_a_renamed_and_resaved_photo_keeps_its_tags(library):
    lib, folder = library
    edited, other = _resave(folder), _add_unrelated(folder)
    indexer = lib.indexer()
    list(indexer.run())
    assert tags_of(lib, edited) == {"cat", "holiday"}, indexer.report.suggested_carry
    assert tags_of(lib, other) == set()
    assert photo_id(lib, folder / "IMG_1.jpg") is None
    assert indexer.report.carried_over == [(str(folder / "IMG_1.jpg"), str(edited))]
    assert "1 edited photo kept its tags" in indexer.summary()
    assert indexer.report.removed == 0
    # the vanished row is gone from the vectors too: search finds the edit, once
    assert sorted(lib.vectors.ids().tolist()) == sorted(
        lib.catalog.embedding_ids(lib.encoder.model_id).tolist())
    assert lib.catalog.count_photos() == 3


def test_the_same_through_an_update(library):
    lib, folder = library
    edited = _resave(folder)
    indexer = lib.indexer()
    list(indexer.update([str(folder / "IMG_1.jpg"), str(edited)]))
    assert tags_of(lib, edited) == {"cat", "holiday"}
    assert len(indexer.report.carried_over) == 1


def test_between_the_bars_it_is_only_suggested(library, monkeypatch):
    lib, folder = library
    monkeypatch.setattr(edits, "CARRY_COSINE", 1.01)  # nothing is sure enough to apply
    edited = _resave(folder)
    indexer = lib.indexer()
    list(indexer.run())
    assert tags_of(lib, edited) == set()
    assert photo_id(lib, folder / "IMG_1.jpg") is None
    (hint,) = indexer.report.suggested_carry
    assert (hint.old_path, hint.new_path, hint.tags) == (
        str(folder / "IMG_1.jpg"), str(edited), ("cat", "holiday"))
    assert hint.similarity >= edits.SUGGEST_COSINE
    assert "1 possible edit of tagged photos to review" in indexer.summary()
    assert indexer.report.removed == 1


def test_below_both_bars_nothing_is_carried(library, monkeypatch):
    lib, folder = library
    monkeypatch.setattr(edits, "CARRY_COSINE", 1.01)
    monkeypatch.setattr(edits, "SUGGEST_COSINE", 1.01)
    edited = _resave(folder)
    indexer = lib.indexer()
    list(indexer.run())
    assert tags_of(lib, edited) == set()
    assert indexer.report.suggested_carry == []
    assert indexer.report.removed == 1


def test_two_near_identical_newcomers_are_only_suggested(library):
    lib, folder = library
    edited = _resave(folder)
    Image.open(edited).save(folder / "IMG_1 edited 2.jpg", quality=70)  # a second export
    indexer = lib.indexer()
    list(indexer.run())
    assert indexer.report.carried_over == []
    assert len(indexer.report.suggested_carry) == 1
    assert tags_of(lib, edited) == tags_of(lib, folder / "IMG_1 edited 2.jpg") == set()


def test_an_edit_beside_its_original_is_not_merged(library):
    lib, folder = library
    edited = _resave(folder, keep_original=True)
    indexer = lib.indexer()
    list(indexer.run())
    assert tags_of(lib, folder / "IMG_1.jpg") == {"cat", "holiday"}
    assert tags_of(lib, edited) == set()
    assert indexer.report.carried_over == []
    assert lib.catalog.count_photos() == 3


def test_a_cancelled_run_keeps_the_vanished_photo_for_the_next(library):
    lib, folder = library
    for n in range(20):  # more new photos than one batch, so the cancel lands before the edit
        Image.open(SKIMAGE_DATA / "astronaut.png").convert("RGB").crop(
            (n * 5, n * 3, n * 5 + 200, n * 3 + 160)).save(folder / f"DSC_{n:02d}.jpg")
    edited = _resave(folder)
    job = lib.indexer().run()
    for p in job:
        if p.job == "index" and 0 < p.done < p.total:
            break
    job.close()
    assert photo_id(lib, folder / "IMG_1.jpg") is not None  # held, not deleted
    indexer = lib.indexer()
    list(indexer.run())
    assert tags_of(lib, edited) == {"cat", "holiday"}
    assert photo_id(lib, folder / "IMG_1.jpg") is None


def _suggested(library, monkeypatch) -> tuple[Library, Path, Path]:
    """An edit found between the bars: kept for the user, its tags not moved."""
    lib, folder = library
    original = photo_id(lib, folder / "IMG_1.jpg")
    lib.albums.create("Best")
    lib.albums.add("Best", [original])
    lib.albums.rate([original], 4)
    monkeypatch.setattr(edits, "CARRY_COSINE", 1.01)
    edited = _resave(folder)
    list(lib.indexer().run())
    assert tags_of(lib, edited) == set()
    return lib, folder, edited


def test_a_suggested_edit_is_kept_and_applied_with_one_call(library, monkeypatch, tmp_path,
                                                            tiny_encoder):
    lib, folder, edited = _suggested(library, monkeypatch)
    # another process (the CLI beside the window) sees it, days later
    other = Library(tmp_path / "lib", encoder=tiny_encoder)
    (hint,) = other.edits.suggestions()
    assert (hint.old_path, hint.new_path, hint.tags) == (
        str(folder / "IMG_1.jpg"), str(edited), ("cat", "holiday"))
    assert hint.new_id == photo_id(lib, edited)
    applied, refused = other.edits.apply([hint.id])
    other.close()
    assert [s.id for s in applied] == [hint.id]
    assert refused == []
    assert tags_of(lib, edited) == {"cat", "holiday"}
    new = photo_id(lib, edited)
    assert lib.albums.albums_of([new]) == {new: ["Best"]}  # its album and stars follow too
    assert lib.albums.ratings([new])[new] == (4, False)
    assert lib.edits.suggestions() == []  # judged: it leaves the list


def test_a_dismissed_edit_moves_no_tag(library, monkeypatch):
    lib, _folder, edited = _suggested(library, monkeypatch)
    (hint,) = lib.edits.suggestions()
    assert [s.id for s in lib.edits.dismiss([hint.id])] == [hint.id]
    assert lib.edits.suggestions() == []
    assert lib.edits.apply() == ([], [])
    assert tags_of(lib, edited) == set()


def test_an_original_that_came_back_is_never_merged_with_its_edit(library, monkeypatch):
    lib, folder, edited = _suggested(library, monkeypatch)
    Image.open(SKIMAGE_DATA / "chelsea.png").convert("RGB").save(folder / "IMG_1.jpg")
    assert len(lib.edits.suggestions()) == 1
    applied, (refused,) = lib.edits.apply()
    assert applied == []
    assert "both photos exist" in refused.reason
    assert tags_of(lib, edited) == set()


def test_a_suggestion_whose_new_photo_left_is_dropped(library, monkeypatch):
    lib, _folder, edited = _suggested(library, monkeypatch)
    edited.unlink()
    list(lib.indexer().run())
    assert lib.edits.suggestions() == []
