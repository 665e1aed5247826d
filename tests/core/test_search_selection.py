"""Photos like a whole selection: the mean of their stored vectors, normalised."""

from __future__ import annotations

import numpy as np
import pytest

from photoclip.core.catalog import Catalog
from photoclip.core.errors import NotFoundError
from photoclip.core.search import Searcher
from photoclip.core.types import PhotoRecord
from photoclip.core.vectors import VectorIndex


class _Encoder:
    model_id = "m"
    dim = 4
    image_size = 8
    device = "cpu"


def test_similar_to_photos_ranks_by_the_normalised_mean_of_their_vectors(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite3")
    root = cat.add_root("/p")
    # a: dog, b: beach, c: dog on a beach (between a and b), d: far from both
    vecs = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0.7, 0.7, 0.1, 0], [0, 0, 0, 1]],
                    dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = [cat.upsert_photo(PhotoRecord(root.id, f"/p/{n}.jpg", 1, 1, n)) for n in "abcd"]
    cat.put_embeddings("m", ids, vecs)
    index = VectorIndex(tmp_path / "v.hnsw", 4, "m")
    index.add(ids, vecs)
    s = Searcher(cat, _Encoder(), index)  # type: ignore[arg-type]
    hits = s.similar_to_photos([ids[0], ids[1]], top=4)
    assert hits[0].photo_id == ids[2]  # nearest the mean of dog and beach, not to either one
    assert hits[-1].photo_id == ids[3]
    assert hits[0].score == pytest.approx(float(vecs[2] @ (np.array([1, 1, 0, 0]) / 2**0.5)),
                                          abs=1e-5)
    with pytest.raises(NotFoundError, match="indexed"):
        s.similar_to_photos([999])
    cat.close()
