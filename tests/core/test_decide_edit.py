"""Accept or reject one label's auto tags on many photos at once, and undo it."""

from __future__ import annotations

import pytest

from photoclip.core.errors import LabelSetError
from photoclip.core.library import Library
from photoclip.core.types import PhotoRecord


@pytest.fixture
def lib(tmp_path):
    (tmp_path / "A").mkdir()
    library = Library(tmp_path / "library")
    root = library.add_roots([str(tmp_path / "A")])[0]
    ids = [library.catalog.upsert_photo(PhotoRecord(root.id, f"{tmp_path}/A/{i}.jpg", 1, 1,
                                                    f"h{i}")) for i in range(5)]
    library.label_sets.define("scenes", labels="beach,forest")
    beach = next(lb for _, lb in library.label_sets.find_labels("scenes|beach"))
    # photo 0: suggested, 1: accepted, 2: rejected, 3: a hand-made tag, 4: no tag
    with library.catalog.transaction() as c:
        c.executemany("INSERT INTO tags(photo_id, label_id, score, source, accepted) "
                      "VALUES (?, ?, ?, ?, ?)",
                      [(ids[0], beach.id, 0.9, "auto", None), (ids[1], beach.id, 0.8, "auto", 1),
                       (ids[2], beach.id, 0.7, "auto", 0), (ids[3], beach.id, None, "user", 1)])
    library.ids = ids  # type: ignore[attr-defined]
    yield library
    library.close()


def states(lib: Library) -> list[tuple[str, bool | None] | None]:
    out = []
    for pid in lib.ids:
        tags = [t for t in lib.label_sets.photo_tags(pid) if t.label == "beach"]
        out.append((tags[0].source, tags[0].accepted) if tags else None)
    return out


BEFORE = [("auto", None), ("auto", True), ("auto", False), ("user", True), None]


def test_accept_confirms_the_suggestions_only_and_undo_puts_them_back(lib):
    assert states(lib) == BEFORE
    edit = lib.albums.decide_edit(lib.ids, "beach", accept=True)
    assert edit.what == "scenes|beach accepted on 1 photo"
    assert states(lib) == [("auto", True), ("auto", True), ("auto", False), ("user", True), None]
    edit.undo()
    assert states(lib) == BEFORE


def test_reject_says_no_to_suggested_and_accepted_auto_tags_and_undoes(lib):
    edit = lib.albums.decide_edit(lib.ids, "scenes|beach", accept=False)
    assert edit.what == "scenes|beach rejected on 2 photos"
    assert sorted(edit.photo_ids) == sorted(lib.ids[:2])
    assert states(lib) == [("auto", False), ("auto", False), ("auto", False), ("user", True),
                           None]
    edit.undo()
    assert states(lib) == BEFORE


def test_an_unknown_label_says_where_to_look(lib):
    with pytest.raises(LabelSetError, match="Label sets"):
        lib.albums.decide_edit(lib.ids, "volcano")
