"""Filters and the adaptive cutoff on a synthetic library: exact and ANN paths alike."""

from __future__ import annotations

import numpy as np
import pytest

from photoclip.core import ann_cost
from photoclip.core.catalog import Catalog
from photoclip.core.search import Filters, Searcher
from photoclip.core.types import PhotoRecord
from photoclip.core.vectors import VectorIndex

DIM = 32


class _Encoder:
    model_id = "synthetic"
    dim = DIM
    image_size = 8
    device = "cpu"

    def __init__(self, directions: dict[str, np.ndarray]) -> None:
        self.directions = directions

    def encode_texts(self, texts):
        return np.stack([self.directions[t] for t in texts])


@pytest.fixture
def library(tmp_path):
    """300 photos: 8 near a 'sunset' direction, the rest spread at random. Half are portrait,
    a third PNG, and the dates run over 2019-2023."""
    rng = np.random.default_rng(1)
    sunset = rng.standard_normal(DIM).astype(np.float32)
    sunset /= np.linalg.norm(sunset)
    vecs = rng.standard_normal((300, DIM)).astype(np.float32)
    vecs[:8] = sunset + 0.15 * rng.standard_normal((8, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    cat = Catalog(tmp_path / "c.sqlite3")
    root = cat.add_root("/p")
    ids = []
    for i in range(300):
        w, h = (600, 800) if i % 2 else (800, 600)
        ext = ".png" if i % 3 == 0 else ".jpg"
        ids.append(cat.upsert_photo(PhotoRecord(
            root.id, f"/p/{2019 + i % 5}/img{i:03d}{ext}", 1000 + i, 1, f"h{i}", w, h,
            f"{2019 + i % 5}-06-01T12:00:00")))
    index = VectorIndex(tmp_path / "v.hnsw", DIM, "synthetic")
    index.add(ids, vecs)
    searcher = Searcher(cat, _Encoder({"sunset": sunset}), index)
    yield searcher, ids
    cat.close()


def test_cutoff_keeps_what_stands_out_and_honours_top(library):
    s, ids = library
    everything = s.search("sunset", top=50, cutoff=None)
    assert len(everything) == 50
    cut = s.search("sunset", top=50)  # default cutoff
    assert {h.photo_id for h in cut} == set(ids[:8])
    assert len(s.search("sunset", top=3)) == 3
    loose = s.search("sunset", top=50, cutoff=0.5)
    assert 8 < len(loose) <= 50  # a lower cutoff widens the list


@pytest.mark.parametrize("path", ["exact", "graph"])
def test_filters_exclude_what_they_must(library, monkeypatch, path):
    s, _ = library
    # force one search path or the other for the filtered query
    monkeypatch.setattr(ann_cost, "EXACT_COST_PER_VECTOR", 0.0 if path == "exact" else 1e9)
    hits = s.search("sunset orientation:portrait type:png date:2020..2021", top=100,
                    cutoff=None)
    assert hits
    for h in hits:
        photo = s.catalog.photo(h.photo_id)
        assert photo.height > photo.width
        assert photo.path.endswith(".png")
        assert photo.taken_at[:4] in ("2020", "2021")
    expected = s.catalog.filter_ids(after="2020-01-01", before="2022-01-01", types=(".png",),
                                    orientation="portrait")
    assert {h.photo_id for h in hits} == expected
    assert s.by_vector(s.text_vector("sunset"), 10, Filters(folder="/elsewhere")) == []


def test_flag_and_query_filters_combine(library):
    s, _ = library
    hits = s.search("sunset date:2019..2022", top=300, after="2021-01-01", cutoff=None)
    years = {s.catalog.photo(h.photo_id).taken_at[:4] for h in hits}
    assert years == {"2021", "2022"}
    hits = s.search("sunset minsize:700", top=300, cutoff=None)
    assert hits == []  # every photo's shorter side is 600


def test_a_photo_term_outside_the_library(tmp_path, tiny_encoder):
    from PIL import Image

    img = tmp_path / "outside.png"
    Image.new("RGB", (80, 60), (200, 30, 30)).save(img)
    s = Searcher(None, tiny_encoder, None)  # type: ignore[arg-type]

    class _NoCatalog:
        def find_photo(self, path):
            from photoclip.core.errors import NotFoundError

            raise NotFoundError(path)

    s.catalog = _NoCatalog()  # type: ignore[assignment]
    vec = s.query_vector(f"similar:{img}")
    direct = tiny_encoder.encode_images(
        tiny_encoder.preprocess(Image.open(img).convert("RGB"))[None])[0]
    np.testing.assert_allclose(vec, direct, atol=1e-5)
