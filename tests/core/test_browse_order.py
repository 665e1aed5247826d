"""The catalog's browse orders: date taken, date added, file name (not folder), size, rating."""

from __future__ import annotations

import pytest

from photoclip.core.library import Library
from photoclip.core.types import PhotoRecord


@pytest.fixture
def lib(tmp_path):
    (tmp_path / "A" / "z").mkdir(parents=True)
    library = Library(tmp_path / "library")
    root = library.add_roots([str(tmp_path / "A")])[0]
    for i, (path, size, taken) in enumerate([
            ("A/z/b.jpg", 3, "2021-01-01"), ("A/d.jpg", 1, "2023-01-01"),
            ("A/A.jpg", 2, "2022-01-01"), ("A/c.jpg", 4, None)]):
        library.catalog.upsert_photo(PhotoRecord(root.id, str(tmp_path / path), size,
                                                 i * 10**9, f"h{i}", 1, 1, taken))
    yield library
    library.close()


def names(lib: Library, order: str) -> list[str]:
    return [r[1].rsplit("/", 1)[1] for r in lib.browse(order=order)]


def test_browse_orders(lib):
    assert names(lib, "taken") == ["d.jpg", "A.jpg", "b.jpg", "c.jpg"]  # c: its 1970 mtime
    assert names(lib, "added") == ["c.jpg", "A.jpg", "d.jpg", "b.jpg"]
    assert names(lib, "name") == ["A.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert names(lib, "size") == ["c.jpg", "b.jpg", "A.jpg", "d.jpg"]
    lib.albums.rate([lib.browse(order="size")[-1][0]], 3)
    assert names(lib, "rating")[0] == "d.jpg"
    with pytest.raises(ValueError, match="sort by"):
        lib.browse(order="colour")


def test_ordered_ids_sorts_a_list_of_photos_and_leaves_out_unknown_ids(lib):
    ids = [r[0] for r in lib.browse(order="name")]
    assert lib.catalog.ordered_ids([*reversed(ids), 999], "name") == ids
    assert lib.catalog.ordered_ids([], "size") == []
