"""Text and similar-photo search: query -> vector -> ANN (or exact, when filtered) -> hits.

Query syntax (rclip-style arithmetic): terms joined by ``+`` add, a term after ``-`` (or a
word written ``-word``) subtracts: ``dog on a beach -people``, ``dog + snow``. Double quotes
keep a phrase whole, ``-`` included. Negation inside a prompt ("a cat without glasses") is weak
in CLIP; subtracting a term is what works.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from photoclip.core.catalog.repo import Catalog
from photoclip.core.encoder import Encoder
from photoclip.core.errors import NotFoundError, QueryError
from photoclip.core.types import SearchHit
from photoclip.core.vectors import VectorIndex

log = logging.getLogger(__name__)

# Repeated queries (typing, paging, re-running) skip the text encoder; entries are 2 KB each.
_QUERY_CACHE_SIZE = 256

# A token is a quoted phrase (optionally "-"-prefixed) or a run of non-space characters.
_TOKEN = re.compile(r'(-?)"([^"]*)"|(\S+)')


@dataclass(frozen=True)
class Term:
    text: str
    weight: float  # +1 adds, -1 subtracts


def parse_query(query: str) -> list[Term]:
    """Split a query into weighted text terms; words between operators form one phrase."""
    if query.count('"') % 2:
        raise QueryError(f"Unbalanced quote in {query!r}: close the quoted phrase.")
    terms: list[Term] = []
    words: list[str] = []
    sign = 1.0

    def flush() -> None:
        if words:
            terms.append(Term(" ".join(words), sign))
            words.clear()

    for m in _TOKEN.finditer(query):
        neg, quoted, bare = m.groups()
        if bare in ("+", "-"):
            flush()
            sign = 1.0 if bare == "+" else -1.0
        elif quoted is not None and neg:
            flush()
            if quoted.strip():
                terms.append(Term(quoted.strip(), -1.0))
            sign = 1.0
        elif bare is not None and bare.startswith("-"):
            # "-people" subtracts that word; the words after it start a new added phrase
            flush()
            terms.append(Term(bare[1:], -1.0))
            sign = 1.0
        else:
            text = quoted if quoted is not None else bare
            if text and text.strip():
                words.append(text.strip())
    flush()
    if not any(t.weight > 0 for t in terms):
        raise QueryError(
            f"Nothing to search for in {query!r}: give at least one term to look for "
            "(e.g. 'beach -people')."
        )
    return terms


def parse_date(value: str) -> str:
    """YYYY-MM-DD (also YYYY-MM or YYYY) -> ISO date string usable against catalog dates."""
    for fmt_len, suffix in ((10, ""), (7, "-01"), (4, "-01-01")):
        if len(value) == fmt_len:
            try:
                return date.fromisoformat(value + suffix).isoformat()
            except ValueError:
                break
    raise QueryError(f"Bad date {value!r}: use YYYY-MM-DD, e.g. 2023-07-14.")


class Searcher:
    def __init__(self, catalog: Catalog, encoder: Encoder, vectors: VectorIndex) -> None:
        self.catalog = catalog
        self.encoder = encoder
        self.vectors = vectors
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def text_vector(self, text: str) -> np.ndarray:
        with self._cache_lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vec = self.encoder.encode_texts([text])[0]
        with self._cache_lock:
            self._cache[text] = vec
            if len(self._cache) > _QUERY_CACHE_SIZE:
                self._cache.popitem(last=False)
        return vec

    def query_vector(self, query: str) -> np.ndarray:
        terms = parse_query(query)
        total = np.zeros(self.encoder.dim, dtype=np.float32)
        for term in terms:
            total += term.weight * self.text_vector(term.text)
        norm = float(np.linalg.norm(total))
        if norm < 1e-6:
            raise QueryError(f"The terms of {query!r} cancel out; remove a '-' term.")
        return total / norm

    def search(
        self,
        query: str,
        top: int = 20,
        folder: str | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> list[SearchHit]:
        return self.by_vector(self.query_vector(query), top, folder, after, before)

    def similar(self, path: str, top: int = 20) -> list[SearchHit]:
        photo = self.catalog.photo_by_path(os.path.abspath(path))
        if photo is None:
            raise NotFoundError(
                f"{path} is not in the library: add its folder with `photoclip add FOLDER`."
            )
        if photo.status != "ok":
            raise NotFoundError(f"{path} could not be indexed: {photo.error}")
        vec = self.catalog.get_embeddings(self.encoder.model_id, [photo.id], self.encoder.dim)
        return self.by_vector(vec[0], top)

    def by_vector(
        self,
        vector: np.ndarray,
        top: int = 20,
        folder: str | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> list[SearchHit]:
        if top < 1:
            raise QueryError("--top must be at least 1.")
        allowed: set[int] | None = None
        if folder or after or before:
            folder_abs = os.path.abspath(os.path.expanduser(folder)) if folder else None
            allowed = self.catalog.filter_ids(
                folder_abs,
                parse_date(after) if after else None,
                parse_date(before) if before else None,
            )
            if not allowed:
                return []
        found = self.vectors.search(np.asarray(vector, dtype=np.float32), top, allowed)
        return self._hits(found)

    def _hits(self, found: Sequence[tuple[int, float]]) -> list[SearchHit]:
        photos = self.catalog.photos_by_ids(i for i, _ in found)
        # An id can be in the vector cache but no longer in the catalog for a moment (a
        # photo deleted while we searched); drop it rather than show a dead path.
        return [SearchHit(i, photos[i].path, float(s)) for i, s in found if i in photos]
