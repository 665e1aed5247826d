"""Near-duplicate photos: bursts, edits, re-saves and resized copies, grouped by embedding.

Nothing is ever deleted: the result is groups of paths, the best-quality copy first, for the
user to review.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photoclip.core.catalog import Catalog
from photoclip.core.encoder import Encoder
from photoclip.core.types import Photo, Progress
from photoclip.core.vectors import VectorIndex

log = logging.getLogger(__name__)

# Cosine above which two photos count as the same picture. Re-saves and resizes of one photo
# score ~0.98-1.0 with CLIP ViT-B/32, while two different shots of one scene rarely pass 0.95.
DEFAULT_THRESHOLD = 0.96
# Up to this many photos the all-pairs comparison is exact (blockwise matrix products, a few
# seconds for 50k x 512); beyond it each photo asks the ANN index for its neighbours.
EXACT_LIMIT = 50_000
_BLOCK = 2048  # rows x columns per block of scores: 2048^2 float32 = 16 MB
_NEIGHBOURS = 16  # a burst of more than 16 near-identical frames is still one group (transitive)


@dataclass
class DuplicateReport:
    groups: list[list[Photo]] = field(default_factory=list)
    compared: int = 0


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def quality_key(photo: Photo) -> tuple[int, int, str]:
    """Best first: most pixels, then the larger file (less compressed), then path order."""
    pixels = (photo.width or 0) * (photo.height or 0)
    return (-pixels, -photo.size, photo.path)


class DuplicateFinder:
    def __init__(
        self,
        catalog: Catalog,
        vectors: VectorIndex,
        model_id: str,
        dim: int,
        threshold: float = DEFAULT_THRESHOLD,
        folder: str | None = None,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.catalog = catalog
        self.vectors = vectors
        self.model_id = model_id
        self.dim = dim
        self.threshold = threshold
        self.folder = folder
        self.report = DuplicateReport()

    def run(self, cancel: threading.Event | None = None) -> Iterator[Progress]:
        ids = self.catalog.embedding_ids(self.model_id)
        if self.folder:
            allowed = self.catalog.filter_ids(folder=self.folder)
            ids = np.array([i for i in ids.tolist() if i in allowed], dtype=np.int64)
        n = len(ids)
        uf = _UnionFind(n)
        yield Progress("duplicates", 0, n, message="comparing photos")
        if n <= EXACT_LIMIT:
            yield from self._exact(ids, uf, cancel)
        else:
            yield from self._approximate(ids, uf, cancel)
        members: dict[int, list[int]] = {}
        for i in range(n):
            members.setdefault(uf.find(i), []).append(int(ids[i]))
        multi = [m for m in members.values() if len(m) > 1]
        photos = self.catalog.photos_by_ids(i for m in multi for i in m)
        groups = [sorted((photos[i] for i in m if i in photos), key=quality_key) for m in multi]
        groups = [g for g in groups if len(g) > 1]
        groups.sort(key=lambda g: g[0].path)
        self.report = DuplicateReport(groups, n)
        yield Progress("duplicates", n, n, finished=True,
                       message=f"{len(groups)} groups of near-identical photos among {n}")

    def _exact(self, ids: np.ndarray, uf: _UnionFind,
               cancel: threading.Event | None) -> Iterator[Progress]:
        n = len(ids)
        if n < 2:
            return
        mat = self.catalog.get_embeddings(self.model_id, ids, self.dim)
        for start in range(0, n, _BLOCK):
            rows_block = mat[start : start + _BLOCK]
            for col in range(start, n, _BLOCK):
                scores = rows_block @ mat[col : col + _BLOCK].T
                for r, c in zip(*np.nonzero(scores >= self.threshold), strict=True):
                    a, b = start + int(r), col + int(c)
                    if a < b:
                        uf.union(a, b)
            yield Progress("duplicates", min(start + _BLOCK, n), n)
            if cancel is not None and cancel.is_set():
                return

    def _approximate(self, ids: np.ndarray, uf: _UnionFind,
                     cancel: threading.Event | None) -> Iterator[Progress]:
        position = {int(i): n for n, i in enumerate(ids.tolist())}
        n = len(ids)
        for start in range(0, n, _BLOCK):
            chunk = ids[start : start + _BLOCK]
            mat = self.catalog.get_embeddings(self.model_id, chunk, self.dim)
            for row, photo_id in enumerate(chunk.tolist()):
                for other, score in self.vectors.search(mat[row], _NEIGHBOURS):
                    if score < self.threshold:
                        break
                    j = position.get(other)
                    if j is not None and other != photo_id:
                        uf.union(position[photo_id], j)
            yield Progress("duplicates", min(start + _BLOCK, n), n)
            if cancel is not None and cancel.is_set():
                return


def finder_for(catalog: Catalog, encoder: Encoder, vectors: VectorIndex,
               threshold: float | None, folder: str | None) -> DuplicateFinder:
    """`Library.duplicates`: the finder over the library's vectors, `folder` resolved."""
    if folder:
        folder = str(Path(folder).expanduser().resolve())
    return DuplicateFinder(catalog, vectors, encoder.model_id, encoder.dim,
                           threshold or DEFAULT_THRESHOLD, folder)
