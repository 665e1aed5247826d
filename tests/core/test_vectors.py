from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from photoclip.core import ann_cost, vectors
from photoclip.core.vectors import VectorIndex

DIM = 32
MODEL = "test-model"


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "lib" / "vectors.bin"


def brute_force(
    ids: np.ndarray, vecs: np.ndarray, q: np.ndarray, k: int
) -> list[tuple[int, float]]:
    scores = vecs @ q
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(ids[i]), float(scores[i])) for i in order]


def filled(
    path: Path, rng: np.random.Generator, n: int, dim: int = DIM
) -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    index = VectorIndex(path, dim, MODEL)
    ids = np.arange(1, n + 1, dtype=np.int64)
    vecs = unit(rng, n, dim)
    index.add(ids, vecs)
    return index, ids, vecs


def test_new_index_is_empty(path: Path) -> None:
    index = VectorIndex(path, DIM, MODEL)
    assert len(index) == 0
    assert index.ids().dtype == np.int64
    assert index.ids().size == 0
    assert index.search(np.ones(DIM, np.float32) / np.sqrt(DIM), 5) == []
    assert not index.dirty
    assert index.needs_rebuild  # nothing on disk, so the caller should sync


def test_add_then_search_finds_itself(path: Path, rng: np.random.Generator) -> None:
    index, ids, vecs = filled(path, rng, 500)
    assert len(index) == 500
    assert 17 in index
    assert 9999 not in index
    for i in (0, 123, 499):
        hits = index.search(vecs[i], 5)
        assert hits[0][0] == ids[i]
        assert hits[0][1] == pytest.approx(1.0, abs=1e-4)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    np.testing.assert_allclose(index.get([5, 7]), vecs[[4, 6]], atol=1e-6)
    np.testing.assert_array_equal(index.ids(), ids)


def test_scores_are_cosines_and_recall_is_high(path: Path, rng: np.random.Generator) -> None:
    index, ids, vecs = filled(path, rng, 300)
    for q in unit(rng, 5):
        hits = index.search(q, 10)
        for i, score in hits:
            assert score == pytest.approx(float(vecs[i - 1] @ q), abs=1e-5)
        expected = {i for i, _ in brute_force(ids, vecs, q, 10)}
        # The graph is approximate (and built by several threads, so not deterministic).
        assert len(expected & {i for i, _ in hits}) >= 9


def test_upsert_replaces_vector(path: Path, rng: np.random.Generator) -> None:
    index, _, vecs = filled(path, rng, 200)
    new = unit(rng, 1)
    index.add([10], new)
    assert len(index) == 200
    hits = index.search(new[0], 3)
    assert hits[0] == (10, pytest.approx(1.0, abs=1e-4))
    np.testing.assert_allclose(index.get([10])[0], new[0], atol=1e-6)
    assert all(i != 10 for i, _ in index.search(vecs[9], 3)[1:])


def test_upsert_of_live_id_while_deleted_slots_exist(path: Path, rng: np.random.Generator) -> None:
    # replace_deleted on an id the index already holds would leave a stale twin searchable.
    index, _, vecs = filled(path, rng, 100)
    index.remove([50, 51, 52])
    new = unit(rng, 1)
    index.add([7], new)
    assert len(index) == 97
    old_hits = index.search(vecs[6], 100)
    assert [i for i, _ in old_hits].count(7) <= 1
    assert index.search(vecs[6], 1)[0][0] != 7
    assert index.search(new[0], 1)[0] == (7, pytest.approx(1.0, abs=1e-4))


def test_duplicate_ids_in_one_call_keep_the_last(path: Path, rng: np.random.Generator) -> None:
    index = VectorIndex(path, DIM, MODEL)
    v = unit(rng, 3)
    index.add([1, 2, 1], v)
    assert len(index) == 2
    np.testing.assert_allclose(index.get([1])[0], v[2], atol=1e-6)


def test_add_rejects_bad_input(path: Path, rng: np.random.Generator) -> None:
    index = VectorIndex(path, DIM, MODEL)
    with pytest.raises(ValueError, match="shape"):
        index.add([1, 2], unit(rng, 3))
    with pytest.raises(ValueError, match="shape"):
        index.add([1], unit(rng, 1, DIM + 1))
    with pytest.raises(ValueError, match="non-negative"):
        index.add([-1], unit(rng, 1))
    bad = unit(rng, 1)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        index.add([1], bad)
    index.add([], np.empty((0, DIM), np.float32))
    assert len(index) == 0
    assert not index.dirty


def test_remove(path: Path, rng: np.random.Generator) -> None:
    index, _, vecs = filled(path, rng, 300)
    index.remove([1, 2, 3, 12345])  # the unknown id is ignored
    index.remove([1])  # already removed: ignored too
    assert len(index) == 297
    assert 1 not in index
    for i in (0, 1, 2):
        assert all(hit not in (1, 2, 3) for hit, _ in index.search(vecs[i], 300))
    with pytest.raises(KeyError):
        index.get([2])


def test_re_add_removed_id(path: Path, rng: np.random.Generator) -> None:
    index, _, _ = filled(path, rng, 50)
    index.remove([5, 6])
    index.add([100], unit(rng, 1))  # takes one of the two deleted slots, unknown which
    v = unit(rng, 2)
    index.add([5, 6], v)
    assert len(index) == 51
    assert index.search(v[0], 1)[0] == (5, pytest.approx(1.0, abs=1e-4))
    assert index.search(v[1], 1)[0] == (6, pytest.approx(1.0, abs=1e-4))
    got = [i for i, _ in index.search(v[0], 51)]
    assert len(got) == len(set(got)) == 51


def test_re_added_ids_survive_later_slot_reuse(path: Path, rng: np.random.Generator) -> None:
    # If a removed id came back through replace_deleted, its old (deleted) slot would keep the
    # label, and reusing that slot later would drop the live id from hnswlib's label table.
    index, _, _ = filled(path, rng, 100)
    back = list(range(1, 21))
    index.remove(back)
    back_vecs = unit(rng, 20)
    for i, label in enumerate(back):
        index.add([label], back_vecs[i : i + 1])
    index.remove(range(21, 41))
    index.add(np.arange(1000, 1020), unit(rng, 20))
    np.testing.assert_allclose(index.get(back), back_vecs, atol=1e-6)
    index.remove(back)
    assert len(index) == 80
    for v in back_vecs:
        assert all(i not in back for i, _ in index.search(v, 80))


def test_churn_reuses_deleted_slots(path: Path, rng: np.random.Generator) -> None:
    index, _, _ = filled(path, rng, 1000)
    index.remove(range(1, 901))
    new_ids = np.arange(5001, 5901)
    new_vecs = unit(rng, 900)
    index.add(new_ids, new_vecs)
    assert len(index) == 1000
    assert index._index.get_max_elements() <= 2 * 1000
    assert index._index.get_current_count() == 1000
    for i in (0, 450, 899):
        assert index.search(new_vecs[i], 1)[0] == (int(new_ids[i]), pytest.approx(1.0, abs=1e-4))
    live = set(index.ids().tolist())
    assert live == set(range(901, 1001)) | set(new_ids.tolist())
    # A second round must not grow it either.
    index.remove(new_ids.tolist())
    index.add(np.arange(10_000, 10_900), unit(rng, 900))
    assert index._index.get_max_elements() <= 2 * 1000
    assert len(index) == 1000


def test_grows_beyond_initial_capacity(path: Path, rng: np.random.Generator) -> None:
    index = VectorIndex(path, DIM, MODEL)
    vecs = unit(rng, 3000)
    for start in range(0, 3000, 700):
        index.add(np.arange(start, min(start + 700, 3000)), vecs[start : start + 700])
    assert len(index) == 3000
    assert index._index.get_max_elements() >= 3000
    for i in (0, 1500, 2999):
        assert index.search(vecs[i], 1)[0][0] == i


def test_save_and_reopen(path: Path, rng: np.random.Generator) -> None:
    index, _, vecs = filled(path, rng, 400)
    index.remove([3, 4])
    assert index.dirty
    index.save()
    assert not index.dirty
    queries = unit(rng, 5)
    before = [index.search(q, 10) for q in queries]

    again = VectorIndex(path, DIM, MODEL)
    assert not again.needs_rebuild
    assert not again.dirty
    np.testing.assert_array_equal(again.ids(), index.ids())
    assert [again.search(q, 10) for q in queries] == before
    np.testing.assert_allclose(again.get([1, 400]), vecs[[0, 399]], atol=1e-6)
    meta = json.loads(Path(f"{path}.meta.json").read_text())
    assert meta["model_id"] == MODEL
    assert meta["dim"] == DIM
    assert meta["count"] == 398
    assert meta["format"] == vectors.FORMAT_VERSION
    assert sorted(meta["deleted"]) == [3, 4]

    # Deleted ids survive the round trip as deleted: they can come back and their slots reused.
    v = unit(rng, 1)
    again.add([3], v)
    assert again.search(v[0], 1)[0] == (3, pytest.approx(1.0, abs=1e-4))
    again.add([9000], unit(rng, 1))
    assert again._index.get_current_count() == 400


def test_save_skips_when_clean_and_is_atomic(path: Path, rng: np.random.Generator) -> None:
    index, _, _ = filled(path, rng, 100)
    index.save()
    first = path.stat().st_mtime_ns
    index.save()  # nothing changed
    assert path.stat().st_mtime_ns == first

    inode = path.stat().st_ino
    index.add([500], unit(rng, 1))
    index.save()
    assert path.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "vectors.bin",
        "vectors.bin.meta.json",
    ]
    assert len(VectorIndex(path, DIM, MODEL)) == 101


def test_stale_temp_files_are_cleaned_at_open(path: Path, rng: np.random.Generator) -> None:
    index, _, _ = filled(path, rng, 10)
    index.save()
    stale = path.parent / ".vectors.bin.abc123.tmp"
    fresh = path.parent / ".vectors.bin.def456.tmp"  # maybe another process saving right now
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    old = time.time() - vectors.STALE_TMP_AGE_S - 10
    os.utime(stale, (old, old))
    assert len(VectorIndex(path, DIM, MODEL)) == 10
    assert not stale.exists()
    assert fresh.exists()


def test_save_failure_leaves_old_file(
    path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, _, _ = filled(path, rng, 100)
    index.save()
    old = path.read_bytes()
    index.add([500], unit(rng, 1))

    def boom(*_: Any, **__: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(vectors.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        index.save()
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert index.dirty
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "vectors.bin",
        "vectors.bin.meta.json",
    ]
    assert len(VectorIndex(path, DIM, MODEL)) == 100


@pytest.mark.parametrize(("model", "dim"), [("other-model", DIM), (MODEL, 64)])
def test_other_model_or_dim_starts_empty(
    path: Path, rng: np.random.Generator, model: str, dim: int
) -> None:
    index, _, _ = filled(path, rng, 100)
    index.save()
    other = VectorIndex(path, dim, model)
    assert len(other) == 0
    assert other.needs_rebuild
    assert path.exists()  # nothing removed until the next save
    assert other.dirty
    other.save()
    assert json.loads(Path(f"{path}.meta.json").read_text())["model_id"] == model


def test_truncated_file_starts_empty(path: Path, rng: np.random.Generator) -> None:
    index, _, _ = filled(path, rng, 100)
    index.save()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    reopened = VectorIndex(path, DIM, MODEL)
    assert len(reopened) == 0
    assert reopened.needs_rebuild


def test_missing_or_garbled_meta_starts_empty(path: Path, rng: np.random.Generator) -> None:
    index, _, _ = filled(path, rng, 100)
    index.save()
    meta = Path(f"{path}.meta.json")
    meta.write_text("{not json")
    assert len(VectorIndex(path, DIM, MODEL)) == 0
    meta.unlink()
    reopened = VectorIndex(path, DIM, MODEL)
    assert len(reopened) == 0
    assert reopened.needs_rebuild


def test_meta_from_another_save_is_not_trusted(path: Path, rng: np.random.Generator) -> None:
    # A crash between replacing the index and replacing its meta file.
    index, _, _ = filled(path, rng, 100)
    index.save()
    old_meta = Path(f"{path}.meta.json").read_bytes()
    index.add([1000], unit(rng, 1))
    index.save()
    Path(f"{path}.meta.json").write_bytes(old_meta)
    reopened = VectorIndex(path, DIM, MODEL)
    assert len(reopened) == 0
    assert reopened.needs_rebuild


def test_sync_heals(path: Path, rng: np.random.Generator) -> None:
    catalog = {i: v for i, v in zip(range(1, 301), unit(rng, 300), strict=True)}
    index = VectorIndex(path, DIM, MODEL)
    index.add([1, 2, 3, 999, 998], np.stack([catalog[1], catalog[2], catalog[3], *unit(rng, 2)]))
    calls: list[int] = []

    def fetch(ids: np.ndarray) -> np.ndarray:
        calls.append(len(ids))
        return np.stack([catalog[int(i)] for i in ids])

    added, removed = index.sync(np.array(sorted(catalog), dtype=np.int64), fetch)
    assert (added, removed) == (297, 2)
    assert not index.needs_rebuild
    np.testing.assert_array_equal(index.ids(), np.arange(1, 301))
    assert index.search(catalog[150], 1)[0][0] == 150
    assert index.sync(np.arange(1, 301), fetch) == (0, 0)
    assert sum(calls) == 297


def test_sync_fetches_in_chunks(
    path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors, "SYNC_CHUNK", 40)
    index = VectorIndex(path, DIM, MODEL)
    sizes: list[int] = []

    def fetch(ids: np.ndarray) -> np.ndarray:
        sizes.append(len(ids))
        return unit(rng, len(ids))

    assert index.sync(np.arange(100), fetch) == (100, 0)
    assert sizes == [40, 40, 20]
    with pytest.raises(ValueError, match="fetch returned"):
        index.sync(np.arange(200), lambda ids: unit(rng, 1))


def test_sync_after_model_change_rebuilds(path: Path, rng: np.random.Generator) -> None:
    index, ids, _ = filled(path, rng, 100)
    index.save()
    other = VectorIndex(path, DIM, "new-model")
    new_vecs = unit(rng, 100)
    assert other.sync(ids, lambda chunk: new_vecs[chunk - 1]) == (100, 0)
    other.save()
    again = VectorIndex(path, DIM, "new-model")
    assert len(again) == 100
    assert again.search(new_vecs[0], 1)[0][0] == 1


def _spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(VectorIndex, name)

    def wrapper(self: VectorIndex, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(VectorIndex, name, wrapper)
    return calls


def test_allowed_exact_path(
    path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, ids, vecs = filled(path, rng, 2000, dim=16)
    exact = _spy(monkeypatch, "_search_exact")
    graph = _spy(monkeypatch, "_search_graph")
    allowed = set(range(1, 2001, 97))  # 21 ids: far cheaper to score one by one
    q = unit(rng, 1, 16)[0]
    hits = index.search(q, 5, allowed=allowed)
    mask = np.isin(ids, list(allowed))
    expected = brute_force(ids[mask], vecs[mask], q, 5)
    assert [i for i, _ in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected], atol=1e-5)
    assert exact
    assert not graph
    # k above the allowed count clamps; unknown ids in `allowed` are ignored.
    assert len(index.search(q, 50, allowed=np.array([1, 2, 3, 77777]))) == 3
    assert index.search(q, 5, allowed=[]) == []


def test_allowed_graph_path(
    path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, ids, vecs = filled(path, rng, 3000, dim=16)
    exact = _spy(monkeypatch, "_search_exact")
    graph = _spy(monkeypatch, "_search_graph")
    allowed = {int(i) for i in ids if i % 3 == 0}  # 1000 of 3000: a filtered walk is cheaper
    for q in unit(rng, 10, 16):
        hits = index.search(q, 10, allowed=allowed)
        assert len(hits) == 10
        assert all(i in allowed for i, _ in hits)
    assert graph
    assert not exact
    q = vecs[2]  # id 3 is allowed
    assert index.search(q, 1, allowed=allowed)[0] == (3, pytest.approx(1.0, abs=1e-4))
    assert all(i in allowed for i, _ in index.search(vecs[0], 3, allowed=allowed))


def test_path_choice_follows_the_cost_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ann_cost.exact_is_cheaper(20, 100_000, 64)
    assert not ann_cost.exact_is_cheaper(20_000, 100_000, 64)
    assert not ann_cost.exact_is_cheaper(100_000, 100_000, 64)  # unfiltered: the graph
    monkeypatch.setattr(ann_cost, "EXACT_COST_PER_VECTOR", 0.0)
    assert ann_cost.exact_is_cheaper(100_000, 100_000, 64)


def test_k_larger_than_len_clamps(path: Path, rng: np.random.Generator) -> None:
    index, _, vecs = filled(path, rng, 7)
    index.remove([1])
    hits = index.search(vecs[3], 100)
    assert len(hits) == 6
    assert {i for i, _ in hits} == set(range(2, 8))
    assert index.search(vecs[3], 0) == []
    with pytest.raises(ValueError, match="dim"):
        index.search(np.ones(DIM + 1, np.float32), 3)


class _FailingKnn:
    """Stands in for hnswlib.Index, failing every knn_query as hnswlib does when short of k."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.knn_calls = 0

    def knn_query(self, *_: Any, **__: Any) -> Any:
        self.knn_calls += 1
        raise RuntimeError(
            "Cannot return the results in a contiguous 2D array. Probably ef or M is too small"
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_graph_failure_retries_then_scores_exactly(
    path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, ids, vecs = filled(path, rng, 500)
    monkeypatch.setattr(ann_cost, "EXACT_COST_PER_VECTOR", float("inf"))
    failing = _FailingKnn(index._index)
    index._index = failing
    q = unit(rng, 1)[0]
    hits = index.search(q, 5)
    assert failing.knn_calls == vectors.EF_RETRIES + 1
    assert [i for i, _ in hits] == [i for i, _ in brute_force(ids, vecs, q, 5)]


def test_search_while_adding(path: Path, rng: np.random.Generator) -> None:
    index, _, _ = filled(path, rng, 200)
    n_batches, batch = 150, 20
    new_vecs = unit(rng, n_batches * batch)
    queries = unit(rng, 50)
    errors: list[BaseException] = []
    done = threading.Event()
    max_id = 200 + n_batches * batch

    def writer() -> None:
        try:
            for b in range(n_batches):
                start = 201 + b * batch
                index.add(np.arange(start, start + batch), new_vecs[b * batch : (b + 1) * batch])
                if b % 10 == 0:
                    index.remove([start])
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        try:
            n = 0
            while not done.is_set() or n < 200:
                hits = index.search(queries[n % 50], 10)
                assert len(hits) == 10
                assert all(1 <= i <= max_id for i, _ in hits)
                assert all(-1.01 <= s <= 1.01 for _, s in hits)
                n += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(index) == 200 + n_batches * batch - n_batches // 10
