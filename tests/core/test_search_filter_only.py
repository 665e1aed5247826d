"""Queries of filters alone, and queries checked in full before the model is touched."""

from __future__ import annotations

import numpy as np
import pytest

from photoclip.core.catalog import Catalog
from photoclip.core.errors import NotFoundError, QueryError
from photoclip.core.search import Searcher
from photoclip.core.tagging.labelsets import LabelSetSpec, LabelSpec
from photoclip.core.tagging.store import TagStore
from photoclip.core.types import PhotoRecord
from photoclip.core.vectors import VectorIndex

DIM = 4


def _no_model():
    raise AssertionError("the model was loaded")


def _no_vectors():
    raise AssertionError("the vectors were loaded")


@pytest.fixture
def catalog(tmp_path):
    """Ten photos 2018-2021 (two with no EXIF date: their file time counts), PNG and JPEG;
    'places' tags: beach on four (one set by the user, one rejected), city on two."""
    cat = Catalog(tmp_path / "c.sqlite3")
    root = cat.add_root("/p")
    ids = {}
    for n in range(10):
        name = f"img{n}.{'png' if n % 2 else 'jpg'}"
        taken = None if n in (3, 8) else f"{2018 + n % 4}-0{1 + n % 9}-15T10:00:00"
        # 2019-06-01 and 2021-02-01 as file times
        mtime = (1_559_347_200 if n == 3 else 1_612_137_600) * 10**9
        ids[name] = cat.upsert_photo(PhotoRecord(root.id, f"/p/{name}", 100, mtime, f"h{n}",
                                                 800, 600, taken))
    store = TagStore(cat)
    places, _ = store.save_set(LabelSetSpec("places", (LabelSpec("beach"), LabelSpec("city"))))
    beach, city = places.labels
    pids = [ids[f"img{n}.{'png' if n % 2 else 'jpg'}"] for n in range(10)]
    scores = np.zeros((10, 2), dtype=np.float32)
    passes = np.zeros((10, 2), dtype=bool)
    for n, s in ((0, 0.4), (2, 0.9), (4, 0.6), (6, 0.7)):
        scores[n, 0], passes[n, 0] = s, True
    for n in (1, 5):
        scores[n, 1], passes[n, 1] = 0.5, True
    store.write_auto(places, "m", pids, scores, passes)
    store.set_user_tag(pids[9], beach.id)  # the user's own: surest of all
    store.reject(pids[6], beach.id)  # the user said no: never listed
    yield cat, pids, beach, city
    cat.close()


def _filters_only(cat: Catalog) -> Searcher:
    return Searcher(cat, encoder_from=_no_model, vectors_from=_no_vectors)


def test_a_tag_alone_lists_the_tagged_photos_by_tag_score(catalog):
    cat, pids, _, _ = catalog
    s = _filters_only(cat)
    hits = s.search("tag:beach")
    assert [h.photo_id for h in hits] == [pids[9], pids[2], pids[4], pids[0]]
    assert [h.score for h in hits] == pytest.approx([1.0, 0.9, 0.6, 0.4])
    assert [h.path for h in hits] == [f"/p/img{n}.{'png' if n % 2 else 'jpg'}"
                                      for n in (9, 2, 4, 0)]
    assert [h.photo_id for h in s.search("tag:beach", top=2)] == [pids[9], pids[2]]
    # the same through the flag, and a set's label by SET|LABEL
    assert s.search("", tag="beach") == hits
    assert s.search('tag:"places|beach"') == hits


def test_dates_and_types_alone_list_newest_first(catalog):
    cat, pids, _, _ = catalog
    s = _filters_only(cat)
    hits = s.search("date:2019")
    # img5 (2019-06-15), img3 (no EXIF date; file time 2019-06-01), img1 (2019-02-15) and
    # img9 (2019-01-15)
    assert [h.photo_id for h in hits] == [pids[5], pids[3], pids[1], pids[9]]
    assert all(h.score == 0.0 for h in hits)
    png = s.search("type:png")
    assert [h.photo_id for h in png] == [pids[n] for n in (7, 5, 3, 1, 9)]
    assert [h.photo_id for h in s.search("type:png date:2019..2020", top=2)] == [
        pids[5], pids[3]]
    assert s.search("type:png", folder="/elsewhere") == []
    assert [h.photo_id for h in s.search("tag:city date:2019")] == [pids[5], pids[1]]


@pytest.mark.parametrize(("query", "says"), [
    ("type:xyz cat", "Unknown type:xyz"),
    ("cat date:2023-13", "Bad date"),
    ("cat before:yesterday", "Bad date"),
    ("cat orientation:diagonal", "orientation:diagonal"),
    ("cat tag:volcano", "No label 'volcano'"),
    ("similar:/no/such/photo.jpg cat", "file not found: /no/such/photo.jpg"),
    ("-people", "Nothing to search for"),
    ("", "Nothing to search for"),
    ("\udcff\udcfe", "\\xff\\xfe"),  # undecodable bytes from a command line
    ("tag:\udcff", "not UTF-8"),
])
def test_a_bad_query_is_refused_before_the_model_loads(catalog, query, says):
    cat, *_ = catalog
    with pytest.raises(QueryError) as err:
        _filters_only(cat).search(query)
    assert says in str(err.value)
    assert "\n" not in str(err.value)


def test_needs_model_is_pure_and_false_for_filters_alone():
    assert not Searcher.needs_model("tag:beach date:2019")
    assert not Searcher.needs_model("type:xyz cat")  # malformed: searching says why at once
    assert Searcher.needs_model("cat tag:beach")
    assert Searcher.needs_model("similar:/p/a.jpg")


class _Encoder:
    model_id = "m"
    dim = DIM

    def encode_texts(self, texts):
        return np.stack([np.eye(DIM, dtype=np.float32)[{"people": 1}.get(t, 2)] for t in texts])


def test_only_subtracting_within_a_filter_orders_the_filtered_photos(catalog, tmp_path):
    cat, pids, _, _ = catalog
    index = VectorIndex(tmp_path / "v.hnsw", DIM, "m")
    vecs = np.zeros((10, DIM), dtype=np.float32)
    vecs[:, 0] = 1.0
    vecs[:, 1] = np.linspace(0.0, 0.9, 10)  # later photos look more like "people"
    index.add(pids, vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    s = Searcher(cat, _Encoder(), index)
    hits = s.search("tag:beach -people")
    assert [h.photo_id for h in hits] == [pids[0], pids[2], pids[4], pids[9]]
    with pytest.raises(QueryError, match="Nothing to search for"):
        s.search("-people")


def test_similar_uses_the_stored_embedding_of_a_library_photo(catalog, tmp_path):
    """The photo's file is gone, but the library still holds its embedding: no decoding."""
    cat, pids, _, _ = catalog
    vecs = np.eye(DIM, dtype=np.float32)[[0, 1, 2, 3, 0, 1, 2, 3, 0, 1]]
    cat.put_embeddings("m", pids, vecs)
    index = VectorIndex(tmp_path / "v.hnsw", DIM, "m")
    index.add(pids, vecs)
    s = Searcher(cat, _Encoder(), index)  # no image_size, no preprocess: it cannot decode
    hits = s.similar("/p/img1.png", top=3)
    assert {h.photo_id for h in hits} == {pids[1], pids[5], pids[9]}
    with pytest.raises(NotFoundError, match=r"file not found: /p/nothing\.jpg"):
        s.similar("/p/nothing.jpg")
