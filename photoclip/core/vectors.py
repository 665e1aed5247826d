"""Approximate nearest-neighbour search over photo embeddings (hnswlib).

The vector file is a cache: the catalog holds every embedding, and `VectorIndex.sync` rebuilds
whatever the file lacks. So a missing, corrupt or stale file is never an error, only a rebuild.

hnswlib facts this module leans on (checked against hnswlib 0.8.0):

* `mark_deleted` keeps the label: `get_ids_list()` and `get_current_count()` still count it,
  `get_items` on it raises "Label not found", and nothing in the file or API says which labels
  are deleted. The meta file therefore lists them.
* `add_items(..., replace_deleted=True)` takes a deleted slot and relabels it, dropping the old
  label from the index. If the label being added is already in the index (live or deleted),
  that path leaves two slots under one label, the stale one still searchable (hnswlib PRs
  #487, #541). So only labels the index has never held, or no longer holds, go through it;
  live labels are updated in place and deleted ones are undeleted first, then updated.
* `load_index` trusts the caller's `dim` and reads the file regardless, so the meta file carries
  dim and a checksum of the exact file it describes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np

from photoclip.core.ann_cost import exact_is_cheaper
from photoclip.core.errors import DiskFullError
from photoclip.core.storage import (
    STALE_TEMP_AGE_S,
    atomic_write,
    checksum,
    free_bytes,
    fsync_dir,
    remove_stale_temps,
    storage_error,
    temp_path,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SPACE = "ip"  # vectors arrive L2-normalised, so inner product is cosine and cheaper than "cosine"

M = 16  # hnswlib's recommended default; recall ~0.99 on CLIP-sized vectors at modest memory
EF_CONSTRUCTION = 200  # build quality: indexing is dominated by embedding time, not by this
EF_SEARCH_MIN = 64  # below this recall drops visibly for k <= 32, and the query still costs < 1 ms
INITIAL_CAPACITY = 1024
SYNC_CHUNK = 10_000  # bounds the memory of one fetch (10k x 768 float32 = 30 MB)
EF_RETRIES = 3  # each retry quadruples ef; three reach ef >= 64 * 64, a near-exhaustive walk

STALE_TMP_AGE_S = STALE_TEMP_AGE_S  # a save takes seconds; an older temp file is crash debris
# hnswlib writes its file with an unchecked std::ofstream: on a full disk it leaves a short file
# and reports nothing. So a save first wants the file's estimated size free plus this much (room
# for the catalog's next commits), and afterwards checks the file is at least as long as its
# fixed-size part must be.
SAVE_HEADROOM = 1 << 20
_HEADER_BYTES = 96  # hnswlib 0.8 saveIndex: 6 size_t, 2 ints, 3 size_t, a double, a size_t


class VectorIndex:
    """A thread-safe hnswlib index of L2-normalised vectors keyed by photo id.

    Every operation holds one re-entrant lock: hnswlib forbids add_items, resize_index and
    mark_deleted while knn_query runs, so a search from the GUI thread waits for an indexing
    batch instead of corrupting the graph.
    """

    def __init__(self, path: Path, dim: int, model_id: str) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, not {dim}")
        self.path = Path(path)
        self.dim = dim
        self.model_id = model_id
        self.meta_path = Path(f"{self.path}.meta.json")
        self._lock = threading.RLock()
        self._save_lock = threading.Lock()
        self._live: set[int] = set()
        # Labels that may still be in the index as deleted. A superset: a replace_deleted add
        # relabels some deleted slot, and hnswlib does not say which one.
        self._maybe_dead: set[int] = set()
        self._version = 0
        self._saved_version = 0
        # The catalog's embedding change number (Catalog.embedding_seq) this index has caught
        # up with: after a crash, rows changed since are refreshed, not only missing ids.
        self._seq = 0
        self._index: Any = None
        self.needs_rebuild = True
        self._remove_stale_temps()
        if not self._load():
            self._index = self._new_index()
            self._live.clear()
            self._maybe_dead.clear()
            if self.path.exists() or self.meta_path.exists():
                # The file on disk is unusable; the next save must overwrite it even if the
                # catalog turns out to be empty.
                self._version = 1

    # -- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)

    def __contains__(self, photo_id: object) -> bool:
        if not isinstance(photo_id, int | np.integer):
            return False
        with self._lock:
            return int(photo_id) in self._live

    @property
    def seq(self) -> int:
        with self._lock:
            return self._seq

    @property
    def dirty(self) -> bool:
        with self._lock:
            return self._version != self._saved_version

    def ids(self) -> np.ndarray:
        """Live ids, ascending."""
        with self._lock:
            out = np.fromiter(self._live, dtype=np.int64, count=len(self._live))
        out.sort()
        return out

    def get(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors, (len(ids), dim) float32; KeyError names ids not in the index."""
        wanted = [int(i) for i in ids]
        with self._lock:
            missing = [i for i in wanted if i not in self._live]
            if missing:
                raise KeyError(f"{len(missing)} id(s) not in the vector index, e.g. {missing[:5]}")
            if not wanted:
                return np.empty((0, self.dim), dtype=np.float32)
            data = self._index.get_items(wanted)
        return np.asarray(data, dtype=np.float32).reshape(len(wanted), self.dim)

    def search(
        self, query: np.ndarray, k: int, allowed: Collection[int] | None = None
    ) -> list[tuple[int, float]]:
        """The k nearest live vectors as (id, cosine), best first; only `allowed` ids if given."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dim:
            raise ValueError(f"query has dim {q.shape[0]}, the index has {self.dim}")
        if k <= 0:
            return []
        if isinstance(allowed, np.ndarray):
            allowed = allowed.tolist()
        with self._lock:
            live = len(self._live)
            if live == 0:
                return []
            cand: set[int] | None = None
            if allowed is not None:
                cand = self._live.intersection(allowed)
                if not cand:
                    return []
            n = live if cand is None else len(cand)
            k = min(k, n)
            # ef is the walk's candidate list: recall@k needs it a healthy multiple of k.
            ef = max(EF_SEARCH_MIN, 2 * k)
            if exact_is_cheaper(n, live, ef):
                return self._search_exact(q, k, cand)
            return self._search_graph(q, k, cand, ef)

    # -- writing ------------------------------------------------------------------------------

    def add(
        self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray, seq: int | None = None
    ) -> None:
        """Insert or replace vectors; a repeated id in one call keeps its last vector. `seq` is
        the catalog change number these vectors were stored under (Catalog.put_embeddings)."""
        id_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        vecs = np.asarray(vectors, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape != (len(id_arr), self.dim):
            raise ValueError(
                f"expected vectors of shape ({len(id_arr)}, {self.dim}), got {vecs.shape}"
            )
        if len(id_arr) == 0:
            return
        if seq is not None:
            with self._lock:
                self._seq = max(self._seq, seq)
        if (id_arr < 0).any():
            raise ValueError("photo ids must be non-negative")
        if not np.isfinite(vecs).all():
            raise ValueError("vectors contain NaN or infinity")
        if len(np.unique(id_arr)) != len(id_arr):
            # Last occurrence wins, as if the calls had been made one by one.
            _, first_from_end = np.unique(id_arr[::-1], return_index=True)
            keep = np.sort(len(id_arr) - 1 - first_from_end)
            id_arr, vecs = id_arr[keep], vecs[keep]
        vecs = np.ascontiguousarray(vecs)
        id_list = id_arr.tolist()

        with self._lock:
            update: list[int] = []
            new: list[int] = []
            for pos, label in enumerate(id_list):
                live = label in self._live
                if live or (label in self._maybe_dead and self._undelete(label)):
                    update.append(pos)
                else:
                    new.append(pos)
            self._version += 1
            if update:
                # Live labels only (undeleted just above): add_items updates them in place.
                self._index.add_items(vecs[update], id_arr[update])
            if new:
                reusable = self._index.get_current_count() - len(self._live)
                needed = self._index.get_current_count() + max(0, len(new) - reusable)
                capacity = self._index.get_max_elements()
                if needed > capacity:
                    self._index.resize_index(max(needed, 2 * capacity))
                self._index.add_items(vecs[new], id_arr[new], replace_deleted=True)
                self._live.update(id_list[p] for p in new)
                if self._index.get_current_count() == len(self._live):
                    self._maybe_dead.clear()

    def remove(self, ids: Iterable[int]) -> None:
        """Drop ids from search results; ids not in the index are ignored."""
        with self._lock:
            for raw in ids:
                label = int(raw)
                if label in self._live:
                    self._index.mark_deleted(label)
                    self._live.discard(label)
                    self._maybe_dead.add(label)
                    self._version += 1

    def reset(self) -> None:
        """Forget every vector (the next sync refills from the catalog); the file is
        overwritten at the next save."""
        with self._lock:
            self._index = self._new_index()
            self._live.clear()
            self._maybe_dead.clear()
            self._seq = 0
            self._version += 1

    def sync(
        self,
        catalog_ids: np.ndarray,
        fetch: Callable[[np.ndarray], np.ndarray],
        changed: np.ndarray | None = None,
        seq: int | None = None,
    ) -> tuple[int, int]:
        """Make the index hold exactly `catalog_ids`; returns (added, removed).

        `fetch(ids)` returns the catalog's vectors for those ids, (len(ids), dim), and is called
        without the lock held, in ascending chunks of at most SYNC_CHUNK ids. `changed` are ids
        whose vectors the catalog changed since `self.seq` (re-embedded, or an id reused): they
        are fetched again even when present; `seq` is the catalog's change number now. Meant for
        open time: an id another thread adds or removes meanwhile may be undone.
        """
        wanted = np.unique(np.asarray(catalog_ids, dtype=np.int64).reshape(-1))
        with self._lock:
            have = self.ids()
            extra = np.setdiff1d(have, wanted, assume_unique=True)
            missing = np.setdiff1d(wanted, have, assume_unique=True)
            if changed is not None and len(changed):
                stale = np.intersect1d(np.asarray(changed, dtype=np.int64), have)
                missing = np.union1d(missing, np.intersect1d(stale, wanted))
            self.remove(extra.tolist())
        for start in range(0, len(missing), SYNC_CHUNK):
            chunk = missing[start : start + SYNC_CHUNK]
            vecs = np.asarray(fetch(chunk), dtype=np.float32)
            if vecs.shape != (len(chunk), self.dim):
                raise ValueError(
                    f"fetch returned shape {vecs.shape} for {len(chunk)} ids of dim {self.dim}"
                )
            self.add(chunk, vecs)
        if seq is not None:
            with self._lock:
                self._seq = seq
        self.needs_rebuild = False
        if len(missing) or len(extra):
            log.info(
                "Vector index %s synced with the catalog: %d added, %d removed",
                self.path.name,
                len(missing),
                len(extra),
            )
        return len(missing), len(extra)

    def save(self) -> None:
        """Write the index and its meta file atomically; a no-op when nothing changed."""
        with self._save_lock:
            with self._lock:
                if self._version == self._saved_version:
                    return
                version = self._version
                self._refresh_dead()
                meta: dict[str, Any] = {
                    "format": FORMAT_VERSION,
                    "model_id": self.model_id,
                    "dim": self.dim,
                    "space": SPACE,
                    "count": len(self._live),
                    "slots": self._index.get_current_count(),
                    "deleted": sorted(self._maybe_dead),
                    "seq": self._seq,
                }
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._check_room(meta["slots"])
                    tmp = temp_path(self.path)
                except OSError as exc:
                    _raise_storage(exc, self.path.parent)
                    raise
                try:
                    # Under the lock: hnswlib serialises the graph as it is at this moment.
                    self._index.save_index(str(tmp))
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
            try:
                meta["bytes"], meta["crc32"] = checksum(tmp, fsync=True)
                if meta["bytes"] < self._min_file_bytes(meta["slots"]):
                    raise DiskFullError(self.path.parent)  # hnswlib's silent short write
                os.replace(tmp, self.path)
                # Written after the index: a crash in between leaves a meta whose checksum does
                # not match, which reads as "rebuild", never as "trust the wrong vectors".
                atomic_write(self.meta_path, json.dumps(meta, separators=(",", ":")).encode())
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                _raise_storage(exc, self.path.parent)
                raise
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            fsync_dir(self.path.parent)
            with self._lock:
                self._saved_version = version
        log.debug("Saved vector index %s (%d vectors)", self.path, meta["count"])

    # -- internals ----------------------------------------------------------------------------

    def _min_file_bytes(self, slots: int) -> int:
        """hnswlib's file holds, per slot, its level-0 links (2M + 1 ints), vector, label and
        the length of its upper-level links: anything shorter was cut off."""
        return _HEADER_BYTES + slots * ((2 * M + 1) * 4 + 4 * self.dim + 8 + 4)

    def _check_room(self, slots: int) -> None:
        free = free_bytes(self.path.parent)
        # Upper-level links add ~1/M of the slots' (M + 1) ints: a few bytes a slot.
        need = self._min_file_bytes(slots) + slots * 8 + SAVE_HEADROOM
        if free is not None and free < need:
            raise DiskFullError(self.path.parent)

    def _new_index(self, capacity: int = INITIAL_CAPACITY) -> Any:
        index = hnswlib.Index(space=SPACE, dim=self.dim)
        index.init_index(
            max_elements=capacity,
            ef_construction=EF_CONSTRUCTION,
            M=M,
            allow_replace_deleted=True,
        )
        return index

    def _undelete(self, label: int) -> bool:
        """Undelete `label` if the index still holds it; False if its slot went to another."""
        try:
            self._index.unmark_deleted(label)
        except RuntimeError:
            self._maybe_dead.discard(label)
            return False
        self._maybe_dead.discard(label)
        self._live.add(label)
        return True

    def _refresh_dead(self) -> None:
        if self._index.get_current_count() == len(self._live):
            self._maybe_dead.clear()
        else:
            self._maybe_dead = set(self._index.get_ids_list()) - self._live

    def _search_exact(
        self, q: np.ndarray, k: int, cand: set[int] | None
    ) -> list[tuple[int, float]]:
        labels = list(self._live if cand is None else cand)
        vecs = np.asarray(self._index.get_items(labels), dtype=np.float32)
        scores = vecs.reshape(len(labels), self.dim) @ q
        top = np.argpartition(-scores, k - 1)[:k] if k < len(labels) else np.arange(len(labels))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(labels[i], float(scores[i])) for i in top]

    def _search_graph(
        self, q: np.ndarray, k: int, cand: set[int] | None, ef: int
    ) -> list[tuple[int, float]]:
        filt = None if cand is None else cand.__contains__
        for attempt in range(EF_RETRIES + 1):
            self._index.set_ef(ef)
            try:
                labels, dists = self._index.knn_query(q, k=k, filter=filt)
            except RuntimeError as exc:
                # hnswlib found fewer than k (deletions or a sparse filter cut the walk short).
                if "contig" not in str(exc):
                    raise
                log.debug("knn_query found < %d results at ef=%d (try %d)", k, ef, attempt + 1)
                ef *= 4
                continue
            return [
                (int(label), 1.0 - float(dist))
                for label, dist in zip(labels[0], dists[0], strict=True)
            ]
        log.warning(
            "Vector index %s: graph search kept missing results; scoring exactly. "
            "Deleting the file %s rebuilds it.",
            self.path.name,
            self.path,
        )
        return self._search_exact(q, k, cand)

    def _load(self) -> bool:
        """Open the file if the meta file vouches for it; False (and a log line) otherwise."""
        if not self.meta_path.exists():
            if self.path.exists():
                log.warning("Vector index %s has no meta file; rebuilding it", self.path)
            return False
        try:
            meta = json.loads(self.meta_path.read_bytes())
            fmt = int(meta["format"])
            model_id = str(meta["model_id"])
            dim = int(meta["dim"])
            count, slots = int(meta["count"]), int(meta["slots"])
            deleted = {int(i) for i in meta["deleted"]}
            size, crc = int(meta["bytes"]), int(meta["crc32"])
            seq = int(meta.get("seq", 0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("Vector index meta %s is unreadable (%s); rebuilding", self.meta_path, exc)
            return False
        if fmt != FORMAT_VERSION or meta.get("space", SPACE) != SPACE:
            log.info("Vector index %s has format %s; rebuilding", self.path, fmt)
            return False
        if model_id != self.model_id or dim != self.dim:
            log.info(
                "Vector index %s was built by %s (dim %d), not %s (dim %d); rebuilding",
                self.path,
                model_id,
                dim,
                self.model_id,
                self.dim,
            )
            return False
        try:
            actual = checksum(self.path)
        except OSError as exc:
            log.warning("Vector index %s cannot be read (%s); rebuilding", self.path, exc)
            return False
        if actual != (size, crc):
            log.warning(
                "Vector index %s does not match its meta file (interrupted save or copied "
                "file?); rebuilding",
                self.path,
            )
            return False
        index = hnswlib.Index(space=SPACE, dim=self.dim)
        try:
            index.load_index(str(self.path), max_elements=0, allow_replace_deleted=True)
        except (RuntimeError, OSError, MemoryError) as exc:
            log.warning("Vector index %s failed to load (%s); rebuilding", self.path, exc)
            return False
        labels = {int(i) for i in index.get_ids_list()}
        if len(labels) != slots or not deleted <= labels or len(labels) - len(deleted) != count:
            log.warning("Vector index %s disagrees with its meta file; rebuilding", self.path)
            return False
        if index.get_max_elements() < INITIAL_CAPACITY:
            # An empty index loads with capacity 0 (hnswlib keeps max(requested, count)).
            index.resize_index(INITIAL_CAPACITY)
        self._index = index
        self._live = labels - deleted
        self._maybe_dead = deleted
        self._seq = seq
        self.needs_rebuild = False
        log.debug("Loaded vector index %s (%d vectors)", self.path, count)
        return True

    def _remove_stale_temps(self) -> None:
        """Temp files of a save that was killed (its process is gone) or is hours old."""
        if self.path.parent.is_dir():
            ours = {self.path.name, self.meta_path.name}
            remove_stale_temps(self.path.parent, ours.__contains__)


def _raise_storage(exc: OSError, where: Path) -> None:
    """A full or read-only disk becomes the error a user understands; others stay as they are."""
    mapped = storage_error(exc, where)
    if mapped is not None:
        raise mapped from exc
