"""Issue 17 item 3: prompts are never encoded inside a write transaction.

The indexer's hook (Tagger.on_indexed) runs inside the batch's transaction; a 200,000-label set
once meant 2.4M prompts encoded there while every other writer waited. Prompt vectors are now
encoded by Tagger.prepare() beforehand, and the hook only scores.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from photoclip.core.catalog import Catalog
from photoclip.core.tagging import LabelSetSpec, LabelSpec, Tagger, TagStore
from photoclip.core.types import PhotoRecord

DIM = 8


class WatchedEncoder:
    """Text vectors from a hash; records whether it was asked to encode inside a transaction."""

    model_id = "watched-clip"
    dim = DIM
    logit_scale = 100.0

    def __init__(self) -> None:
        self.depth = 0
        self.inside: list[str] = []
        self.outside: list[str] = []

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        (self.inside if self.depth else self.outside).extend(texts)
        rng = [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=DIM) for t in texts]
        return np.stack(rng).astype(np.float32)


@pytest.fixture
def watched(tmp_path, monkeypatch):
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    encoder = WatchedEncoder()
    real = catalog.transaction

    @contextlib.contextmanager
    def counted() -> Iterator[object]:
        encoder.depth += 1
        try:
            with real() as conn:
                yield conn
        finally:
            encoder.depth -= 1

    monkeypatch.setattr(catalog, "transaction", counted)
    root = catalog.add_root(str(tmp_path / "photos"))
    ids = [catalog.upsert_photo(PhotoRecord(root.id, str(tmp_path / "photos" / f"{n}.jpg"), 1,
                                            1, f"h{n}")) for n in range(5)]
    yield catalog, encoder, ids
    catalog.close()


def _index_batch(catalog: Catalog, tagger: Tagger, ids: list[int]) -> None:
    """What the indexer does per batch: embeddings and auto tags in one transaction."""
    vecs = np.random.default_rng(1).normal(size=(len(ids), DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    with catalog.transaction():
        catalog.put_embeddings(tagger.model, ids, vecs)
        tagger.on_indexed(ids, vecs)


def test_prepared_prompts_are_never_encoded_inside_the_indexing_transaction(watched):
    catalog, encoder, ids = watched
    store = TagStore(catalog)
    store.save_set(LabelSetSpec("things", tuple(LabelSpec(f"thing {n}") for n in range(300)),
                   templates=("a photo of a {}.", "a {} in the wild."), floor=-1.0,
                   threshold=0.0))
    tagger = Tagger(catalog, encoder)  # type: ignore[arg-type]
    assert tagger.prepare() == 1
    assert len(encoder.outside) == 600
    _index_batch(catalog, tagger, ids)
    assert encoder.inside == []
    assert all(store.photo_tags(pid) for pid in ids)  # and the photos were tagged

    # A new tagger (a new process) finds the prompts in the catalog's cache: nothing to encode.
    fresh = Tagger(catalog, encoder)  # type: ignore[arg-type]
    _index_batch(catalog, fresh, ids)
    assert encoder.inside == []


def test_a_changed_set_is_prepared_again_and_the_hook_only_scores(watched):
    catalog, encoder, ids = watched
    store = TagStore(catalog)
    spec = LabelSetSpec("pets", (LabelSpec("cat"), LabelSpec("dog")), templates=("a {}.",))
    store.save_set(spec)
    tagger = Tagger(catalog, encoder)  # type: ignore[arg-type]
    tagger.prepare()
    store.save_set(LabelSetSpec("pets", (*spec.labels, LabelSpec("rabbit")),
                                templates=spec.templates))
    tagger.prepare()
    assert encoder.outside == ["a cat.", "a dog.", "a rabbit."]
    _index_batch(catalog, tagger, ids)
    assert encoder.inside == []
    # The set's vectors are kept: preparing again encodes and reads nothing new.
    before = len(encoder.outside)
    tagger.prepare()
    assert len(encoder.outside) == before
