"""Albums, smart albums, ratings and favourites in the catalog: what a user keeps survives
moves, renames, a move across drives (merge) and the schema upgrade."""

from __future__ import annotations

import sqlite3

import pytest

from photoclip.core.catalog import Catalog
from photoclip.core.catalog.migrations import migrate
from photoclip.core.catalog.schema import LATEST_VERSION, MIGRATIONS
from photoclip.core.errors import NotFoundError, PhotoclipError, QueryError
from photoclip.core.query import Filters, parse_query
from photoclip.core.search import Searcher
from photoclip.core.training.data import DataError, read_catalog_albums
from photoclip.core.types import PhotoRecord

# The step that adds albums and ratings (found, not numbered: steps may be appended around it).
ALBUMS_STEP = next(i for i, m in enumerate(MIGRATIONS) if "CREATE TABLE albums" in m)


def _photo(cat: Catalog, root_id: int, name: str, digest: str) -> int:
    return cat.upsert_photo(PhotoRecord(root_id, f"/p/{name}", 100, 10**18, digest, 800, 600,
                                        "2020-01-01T00:00:00"))


@pytest.fixture
def cat(tmp_path):
    c = Catalog(tmp_path / "c.sqlite3")
    root = c.add_root("/p")
    ids = [_photo(c, root.id, f"img{n}.jpg", f"h{n}") for n in range(6)]
    yield c, root.id, ids
    c.close()


def test_albums_are_created_listed_filled_renamed_and_deleted(cat):
    c, _, ids = cat
    c.create_album("Holiday")
    c.create_album("Cats")
    with pytest.raises(PhotoclipError, match="already an album"):
        c.create_album("holiday")  # case does not make another album
    assert c.add_to_album("Holiday", ids[:3]) == 3
    assert c.add_to_album("Holiday", ids[1:4]) == 1  # already there: not twice
    assert c.add_to_album("cats", [ids[0]]) == 1  # a photo may be in many albums
    assert c.album_photo_ids(c.find_album("Holiday").id) == ids[:4]
    assert c.albums_of([ids[0]]) == {ids[0]: ["Cats", "Holiday"]}
    assert [(a.name, a.count) for a in c.albums()] == [("Cats", 1), ("Holiday", 4)]
    assert c.remove_from_album("Holiday", [ids[0], ids[5]]) == 1
    c.rename_album("Holiday", "Summer 2020")
    assert c.album("Holiday") is None
    assert c.find_album("summer 2020").count == 3
    with pytest.raises(PhotoclipError, match="already an album"):
        c.rename_album("Cats", "Summer 2020")
    c.delete_album("Summer 2020")
    with pytest.raises(NotFoundError, match="albums list"):
        c.find_album("Summer 2020")
    assert c.query("SELECT count(*) FROM album_photos")[0][0] == 1  # only Cats' photo
    assert c.photo(ids[1]) is not None  # deleting an album leaves its photos


def test_a_smart_album_keeps_a_query_and_refuses_photos(cat):
    c, _, ids = cat
    album = c.create_album("Best", query="rating:>=4")
    assert album.smart
    assert album.query == "rating:>=4"
    with pytest.raises(PhotoclipError, match="smart album"):
        c.add_to_album("Best", ids[:1])
    assert c.set_album_query("Best", "fav:yes").query == "fav:yes"


def test_membership_follows_a_move_and_a_rename(cat):
    c, root_id, ids = cat
    c.create_album("Holiday")
    c.add_to_album("Holiday", [ids[0]])
    c.set_rating([ids[0]], 4)
    c.set_favourite([ids[0]])
    c.move_photo(ids[0], root_id, "/p/renamed/beach.jpg", 100, 10**18)
    album = c.find_album("Holiday")
    assert c.album_photo_ids(album.id) == [ids[0]]
    assert c.photo(ids[0]).path == "/p/renamed/beach.jpg"
    assert c.ratings([ids[0]]) == {ids[0]: (4, True)}


def test_a_merge_carries_albums_and_ratings_over(cat):
    """A move across drives: the copy appears (new row), then the original is deleted and
    merged into it. The original's row keeps its place in albums; the copy's albums and the
    rating given to the copy come along."""
    c, root_id, ids = cat
    copy = _photo(c, root_id, "copy/img0.jpg", "h0")
    for name in ("Holiday", "Beach", "Both"):
        c.create_album(name)
    c.add_to_album("Holiday", [ids[0]])
    c.add_to_album("Beach", [copy])
    c.add_to_album("Both", [ids[0], copy])
    c.set_rating([copy], 5)
    c.set_favourite([ids[0]])
    c.merge_photo(ids[0], copy)
    assert c.photo(copy) is None
    assert c.photo(ids[0]).path == "/p/copy/img0.jpg"
    assert c.albums_of([ids[0]]) == {ids[0]: ["Beach", "Both", "Holiday"]}
    assert c.find_album("Both").count == 1
    assert c.ratings([ids[0]]) == {ids[0]: (5, True)}


def test_a_photo_that_leaves_the_library_leaves_its_albums(cat):
    c, _, ids = cat
    c.create_album("Holiday")
    c.add_to_album("Holiday", ids[:2])
    c.delete_photos([ids[0]])
    assert c.album_photo_ids(c.find_album("Holiday").id) == [ids[1]]


def test_ratings_and_favourites(cat):
    c, _, ids = cat
    assert c.set_rating(ids[:3], 4) == ids[:3]
    assert c.set_rating(ids[:4], 4) == [ids[3]]  # only what changed
    with pytest.raises(PhotoclipError, match="0 to 5"):
        c.set_rating(ids[:1], 6)
    assert c.set_favourite(ids[2:4]) == ids[2:4]
    assert c.set_favourite(ids[3:4], False) == [ids[3]]
    assert c.ratings(ids[:5]) == {ids[0]: (4, False), ids[1]: (4, False), ids[2]: (4, True),
                                  ids[3]: (4, False), ids[4]: (0, False)}


def test_upgrading_keeps_photos_tags_and_gives_no_ratings(tmp_path):
    db = tmp_path / "c.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, None, target=ALBUMS_STEP)  # the catalog as the release before albums left it
    conn.execute("INSERT INTO roots(path) VALUES ('/p')")
    conn.execute("INSERT INTO photos(root_id, path, size, mtime_ns, hash) "
                 "VALUES (1, '/p/a.jpg', 1, 2, 'h')")
    conn.execute("INSERT INTO label_sets(name) VALUES ('s')")
    conn.execute("INSERT INTO labels(set_id, name) VALUES (1, 'cat')")
    conn.execute("INSERT INTO tags(photo_id, label_id, source) VALUES (1, 1, 'user')")
    conn.close()
    with Catalog(db, backup_dir=tmp_path / "b") as c:
        assert c.query("PRAGMA user_version")[0][0] == LATEST_VERSION
        photo = c.photo_by_path("/p/a.jpg")
        assert photo is not None
        assert photo.hash == "h"
        assert c.query("SELECT count(*) FROM tags")[0][0] == 1
        assert c.ratings([photo.id]) == {photo.id: (0, False)}
        c.create_album("New")
        c.add_to_album("New", [photo.id])
        assert c.find_album("New").count == 1
    assert list((tmp_path / "b").iterdir())  # a copy was made before the upgrade


# -- the query language: rating: and fav: -----------------------------------------------------


@pytest.mark.parametrize(("text", "low", "high"), [
    ("rating:>=4", 4, None), ("rating:4", 4, 4), ("rating:>3", 4, None),
    ("rating:<=2", None, 2), ("rating:<3", None, 2), ("rating:2..4", 2, 4), ("rating:0", None, 0),
    ("rating:5", 5, None),
])
def test_rating_filters_parse(text, low, high):
    f = parse_query(text, require_terms=False).filters
    assert (f.min_rating, f.max_rating) == (low, high)


@pytest.mark.parametrize("text", ["rating:6", "rating:>5", "rating:<0", "rating:good",
                                  "fav:maybe", "-rating:3"])
def test_bad_rating_and_fav_filters_are_refused(text):
    with pytest.raises(QueryError):
        parse_query(text, require_terms=False)


def test_filters_merge_to_the_stricter_rating():
    a = Filters(min_rating=2, max_rating=4)
    b = Filters(min_rating=3, favourite=True)
    assert a.merged(b) == Filters(min_rating=3, max_rating=4, favourite=True)


def _no_model():
    raise AssertionError("the model was loaded")


def test_rating_and_fav_filters_list_photos_without_the_model(cat):
    c, _, ids = cat
    c.set_rating(ids[:2], 5)
    c.set_rating(ids[2:4], 3)
    c.set_favourite([ids[1], ids[2]])
    s = Searcher(c, encoder_from=_no_model, vectors_from=_no_model)

    def found(query: str) -> set[int]:
        return {h.photo_id for h in s.search(query, top=100)}

    assert found("rating:>=4") == set(ids[:2])
    assert found("rating:>=3") == set(ids[:4])
    assert found("fav:yes") == {ids[1], ids[2]}
    assert found("rating:>=4 fav:yes") == {ids[1]}
    assert found("rating:0") == set(ids[4:])
    assert found("fav:no rating:3") == {ids[3]}


# -- albums as training data ------------------------------------------------------------------


def test_albums_as_training_data_each_album_a_label():
    data = read_catalog_albums({"Holiday": ["/a", "/b", "/both"], "Cats": ["/c", "/both"],
                                "dogs_indoors": ["/d"]})
    assert data.labels == ("Holiday", "Cats", "dogs indoors")
    assert {(s.path, data.labels[s.label]) for s in data.samples} == {
        ("/a", "Holiday"), ("/b", "Holiday"), ("/c", "Cats"), ("/d", "dogs indoors")}
    assert "Holiday" in data.source


def test_albums_as_training_data_need_two_albums_with_photos():
    with pytest.raises(DataError, match="at least 2 albums"):
        read_catalog_albums({"Holiday": ["/a"]})
    with pytest.raises(DataError, match="Cats"):
        read_catalog_albums({"Holiday": ["/a"], "Cats": []})


def test_an_edit_saved_under_a_new_name_keeps_albums_and_stars(cat):
    """An edited photo re-saved under a new name takes over its original's albums, rating
    and favourite flag along with its tags (the edit carry-over of the indexer)."""
    c, root_id, ids = cat
    edit = _photo(c, root_id, "img0-edit.jpg", "h-edit")
    c.create_album("Holiday")
    c.add_to_album("Holiday", [ids[0]])
    c.set_rating([ids[0]], 3)
    c.set_favourite([ids[0]])
    assert c.decided_photo_ids([ids[0], edit]) == {ids[0]}
    c.carry_decisions(ids[0], edit)
    assert c.photo(ids[0]) is None
    assert c.albums_of([edit]) == {edit: ["Holiday"]}
    assert c.ratings([edit]) == {edit: (3, True)}


@pytest.fixture
def lib10k(tmp_path):
    """A library (no model) of 10,000 photo rows."""
    from photoclip.core.library import Library
    (tmp_path / "p").mkdir()
    lib = Library(tmp_path / "library")
    root = lib.add_roots([str(tmp_path / "p")])[0]
    with lib.catalog.transaction():
        ids = [lib.catalog.upsert_photo(PhotoRecord(
            root.id, f"{tmp_path}/p/img{n}.jpg", 100, 10**18 + n, f"h{n}", 800, 600,
            "2020-01-01T00:00:00")) for n in range(10_000)]
    yield lib, ids
    lib.close()


def test_bulk_edits_on_ten_thousand_photos_are_undone_exactly(lib10k):
    lib, ids = lib10k
    albums = lib.albums
    albums.rate(ids[:10], 2)
    edit = albums.rate_edit(ids, 4)
    assert edit.what == "10,000 photos rated 4★"
    assert set(albums.marked()) == set(ids)
    edit.undo()
    assert albums.marked() == {i: (2, False) for i in ids[:10]}  # the 2 stars came back

    albums.favourite(ids[:1])
    fav = albums.favourite_edit(ids[:3])
    assert fav.photo_ids == ids[1:3]
    fav.undo()
    assert {i for i, (_, f) in albums.ratings(ids[:3]).items() if f} == {ids[0]}

    albums.create("Holiday")
    albums.add("Holiday", ids[:5])
    added = albums.add_edit("Holiday", ids)
    assert len(added.photo_ids) == 9_995
    added.undo()
    assert lib.catalog.album_photo_ids(albums.get("Holiday").id) == ids[:5]
    out = albums.remove_edit("Holiday", ids[3:8])
    assert out.photo_ids == ids[3:5]
    assert albums.get("Holiday").count == 3
    out.undo()
    assert albums.get("Holiday").count == 5


def test_a_bulk_tag_needs_no_model_and_its_undo_gives_back_earlier_decisions(lib10k):
    lib, ids = lib10k
    store = lib.label_sets
    _, beach = store.manual_label("beach")
    store.reject(ids[0], beach.id)  # the user had said "no" to beach on this one
    edit = lib.albums.tag_edit(ids, "beach")
    assert edit.what == "10,000 photos tagged beach"
    assert [t.accepted for t in store.photo_tags(ids[0])] == [True]
    assert store.effective_tags(ids[1:2]) == {ids[1]: [("my tags", "beach")]}
    edit.undo()
    assert [(t.source, t.accepted) for t in store.photo_tags(ids[0])] == [("auto", False)]
    assert store.photo_tags(ids[1]) == []
    with pytest.raises(PhotoclipError, match="No label"):
        lib.albums.tag_edit(ids[:1], "nosuchset|x")


def test_months_follow_the_browse_order_with_its_filters(tmp_path):
    from photoclip.core.library import Library
    (tmp_path / "p" / "x").mkdir(parents=True)
    lib = Library(tmp_path / "library")
    root = lib.add_roots([str(tmp_path / "p")])[0]
    dates = ["2024-03-02", "2024-03-20", "2023-12-31", "2024-01-05", "2024-03-01"]
    for n, day in enumerate(dates):
        sub = "x/" if n == 0 else ""
        lib.catalog.upsert_photo(PhotoRecord(root.id, f"{tmp_path}/p/{sub}{n}.jpg", 100,
                                             10**18 + n, f"h{n}", 8, 6, f"{day}T10:00:00"))
    months = lib.albums.months()
    assert months == [("2024-03", 3), ("2024-01", 1), ("2023-12", 1)]
    rows = lib.browse()
    firsts = [sum(n for _, n in months[:i]) for i in range(len(months))]
    assert [lib.catalog.photo(rows[f][0]).taken_at[:7] for f in firsts] == [
        "2024-03", "2024-01", "2023-12"]
    assert lib.albums.months(after="2024-01-01", before="2024-03-02") == [
        ("2024-03", 1), ("2024-01", 1)]
    assert lib.albums.months(folder=str(tmp_path / "p" / "x")) == [("2024-03", 1)]
    lib.close()


def test_a_bulk_untag_forgets_hand_made_tags_rejects_auto_ones_and_undoes(lib10k):
    lib, ids = lib10k
    store = lib.label_sets
    _, beach = store.manual_label("beach")
    store.set_user_tag(ids[0], beach.id)
    with lib.catalog.transaction() as c:
        c.execute("INSERT INTO tags(photo_id, label_id, score, source) VALUES (?, ?, 0.3, "
                  "'auto')", (ids[1], beach.id))
    edit = lib.albums.tag_edit(ids[:5], "beach", on=False)
    assert edit.what == "2 photos no longer tagged beach"
    assert store.photo_tags(ids[0]) == []
    assert [(t.source, t.accepted) for t in store.photo_tags(ids[1])] == [("auto", False)]
    edit.undo()
    assert store.effective_tags(ids[:5]) == {ids[0]: [("my tags", "beach")],
                                             ids[1]: [("my tags", "beach")]}
    assert store.photo_tags(ids[1])[0].score == pytest.approx(0.3)
    with pytest.raises(PhotoclipError, match="No label"):
        lib.albums.tag_edit(ids[:1], "nothing", on=False)
