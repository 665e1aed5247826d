"""Text and similar-photo search: query -> vector -> ANN (or exact, when filtered) -> hits.

The query language is photoclip.core.query (docs/SEARCH.md has the user's version). A query is
parsed and checked in full (filters, dates, labels, the photos of similar: terms) before the
model is touched: a malformed query is refused at once, and a query of filters alone
(``tag:beach date:2019``) lists the matching photos without loading the model at all, by tag
score when it names a tag, else newest first.
Negation inside a prompt ("a cat without glasses") is weak in CLIP: the text encoder sees
"glasses" and pulls towards it. Subtracting the term is what works: ``cat -glasses``.

Adaptive cutoff: results stop where they stop standing out from the library. Each query's
scores are compared with its scores on a random sample of the library (per query, so it is
calibrated for the model and for text vs photo queries alike): a hit must lie `cutoff` standard
deviations above that background, and the list also ends at the first sharp drop.

Words in photos (OCR, core/ocr/search.py): ``text:"boarding pass"`` is a filter (only photos
whose text holds the phrase; alone, they are listed best match first). A plain query also
matches photo text: a photo whose text holds every query word scores
``1 + 0.5 * quality + 0.5 * max(cosine, 0)`` (quality 1.0 for the query as one run, 0.5 for
its words apart), so it ranks above every photo found by CLIP alone, text hits among
themselves by match then by CLIP. Why a tier rather than a blend (e.g. reciprocal-rank
fusion): the words the user typed, found literally in the photo, are the strongest evidence
search has, and CLIP reads text badly (its cosine for a receipt showing "IKEA" need not stand
out at all), so a fused rank would bury exactly the hits OCR exists for; CLIP's cosines
(~0.15-0.4) keep their order below, unchanged when no text matches. Text hits skip the
adaptive cutoff (they stand out by definition) and count towards --top.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from photoclip.core.catalog import Catalog
from photoclip.core.catalog.database import in_chunks
from photoclip.core.catalog.photos import PHOTO_DATE
from photoclip.core.encoder import Encoder
from photoclip.core.errors import ImageError, NotFoundError, QueryError
from photoclip.core.imaging import decode, open_regular, read_error_reason
from photoclip.core.indexing.scan import catalog_path
from photoclip.core.ocr import search as text_search
from photoclip.core.query import (
    Filters,
    ParsedQuery,
    Term,
    check_text,
    date_range,
    folder_filter,
    parse_date,
    parse_query,
)
from photoclip.core.tagging.store import EFFECTIVE, TagStore
from photoclip.core.types import Photo, SearchHit
from photoclip.core.vectors import VectorIndex

# The query language's names, still importable from here.
__all__ = ["DEFAULT_CUTOFF", "Filters", "ParsedQuery", "Searcher", "Term", "date_range",
           "parse_date", "parse_query"]

log = logging.getLogger(__name__)

# Repeated queries (typing, paging, re-running) skip the text encoder; entries are 2 KB each.
_QUERY_CACHE_SIZE = 256
# Default strictness: hits must stand 3 standard deviations above the library's background
# scores for this query; ~0.1% of unrelated photos pass by chance.
DEFAULT_CUTOFF = 3.0
# A drop between consecutive hits this many background deviations wide ends the list.
GAP_CUTOFF = 1.5
# Below this many photos the background is too small to tell "stands out" from noise.
MIN_BACKGROUND = 50
_BACKGROUND_SAMPLE = 1000  # 1000 x 512 floats: 2 MB, ~5 ms to refresh from the catalog

class Searcher:
    """Search over one library. `encoder` and `vectors` may be given, or made on first need by
    `encoder_from` / `vectors_from` (Library's way): a query of filters alone, or one refused
    as malformed, then never loads the model."""

    def __init__(
        self,
        catalog: Catalog,
        encoder: Encoder | None = None,
        vectors: VectorIndex | None = None,
        *,
        encoder_from: Callable[[], Encoder] | None = None,
        vectors_from: Callable[[], VectorIndex] | None = None,
    ) -> None:
        self.catalog = catalog
        self._encoder = encoder
        self._vectors = vectors
        self._encoder_from = encoder_from
        self._vectors_from = vectors_from
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._background: np.ndarray | None = None
        self._background_for = -1  # library size the sample was drawn at

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None and self._encoder_from is not None:
            self._encoder = self._encoder_from()
        assert self._encoder is not None, "Searcher has no encoder"
        return self._encoder

    @encoder.setter
    def encoder(self, encoder: Encoder) -> None:
        self._encoder = encoder

    @property
    def vectors(self) -> VectorIndex:
        if self._vectors is None and self._vectors_from is not None:
            self._vectors = self._vectors_from()
        assert self._vectors is not None, "Searcher has no vector index"
        return self._vectors

    @vectors.setter
    def vectors(self, vectors: VectorIndex) -> None:
        self._vectors = vectors

    # -- the query, checked before anything slow ---------------------------------------------

    @staticmethod
    def needs_model(query: str) -> bool:
        """Whether `query` needs the model: False for filters alone, and for a malformed query
        (searching it reports the error at once). Pure: no catalog, no disk."""
        try:
            return not parse_query(query, require_terms=False).filter_only
        except QueryError:
            return False

    def plan(
        self,
        query: str | ParsedQuery,
        folder: str | None = None,
        after: str | None = None,
        before: str | None = None,
        tag: str | None = None,
    ) -> ParsedQuery:
        """The whole query parsed and checked, with the flags' filters merged in, without the
        model: raises QueryError for anything malformed (a bad filter or date, a label that
        does not exist, a similar: photo that is neither in the library nor readable)."""
        parsed = parse_query(query, require_terms=False) if isinstance(query, str) else query
        if tag:
            check_text(tag, "tag")
        flags = Filters(
            folder=folder_filter(folder) if folder else None,
            after=parse_date(after) if after else None,
            before=parse_date(before) if before else None,
            tags=(tag,) if tag else (),
        )
        filters = flags.merged(parsed.filters)
        if not parsed.looks_for_something and not filters.active():
            text = query if isinstance(query, str) else ""
            raise QueryError(
                f"Nothing to search for in {text!r}: give at least one term to look for "
                "(e.g. 'beach -people') or a filter (e.g. 'tag:beach')."
            )
        tags = TagStore(self.catalog)
        for name in dict.fromkeys(filters.tags):
            if not tags.find_labels(name):
                raise QueryError(f"No label {name!r} to filter by: see `photoclip labels "
                                 "list` (LABEL, or SET|LABEL).")
        for term in parsed.terms:
            if term.image is not None:
                problem = self.unreadable(term.image)
                if problem is not None:
                    raise QueryError(f"{problem}: {term.image}")
        return ParsedQuery(list(parsed.terms), filters)

    def unreadable(self, path: str) -> str | None:
        """Why the photo at `path` cannot be a query, or None: one in the library is always
        usable (its stored embedding), another file must be a readable regular file."""
        if self._stored(path) is not None:
            return None
        try:
            with open_regular(os.path.expanduser(path)):
                return None
        except OSError as exc:
            return read_error_reason(exc)

    def _stored(self, path: str) -> Photo | None:
        try:
            photo = self.catalog.find_photo(catalog_path(path))
        except NotFoundError:
            return None
        return photo if photo.status == "ok" else None

    # -- query -> vector ---------------------------------------------------------------------

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

    def photo_vector(self, path: str) -> np.ndarray:
        """A photo's embedding: stored if it is in the library, else decoded and encoded now.
        Raises ImageError when the file cannot be read as a photo."""
        photo = self._stored(path)
        if photo is not None:
            return self.catalog.get_embeddings(self.encoder.model_id, [photo.id],
                                               self.encoder.dim)[0]
        decoded = decode(os.path.expanduser(path), self.encoder.image_size)
        pixels = self.encoder.preprocess(decoded.image)
        return self.encoder.encode_images(pixels[None])[0]

    def image_vector(self, path: str) -> np.ndarray:
        """photo_vector for a similar: term: a photo that cannot be read is a QueryError."""
        try:
            return self.photo_vector(path)
        except ImageError as exc:
            raise QueryError(f"similar:{path}: {exc.reason}") from None

    def query_vector(self, query: str | ParsedQuery) -> np.ndarray:
        parsed = parse_query(query) if isinstance(query, str) else query
        total = np.zeros(self.encoder.dim, dtype=np.float32)
        for term in parsed.terms:
            vec = self.image_vector(term.image) if term.image else self.text_vector(term.text)
            total += term.weight * vec
        norm = float(np.linalg.norm(total))
        if norm < 1e-6:
            text = query if isinstance(query, str) else " ".join(
                f"{'-' if t.weight < 0 else ''}{t.text}" for t in parsed.terms)
            raise QueryError(f"The terms of {text!r} cancel out; remove a '-' term.")
        return total / norm

    # -- searching ---------------------------------------------------------------------------

    def search(
        self,
        query: str | ParsedQuery,
        top: int = 20,
        folder: str | None = None,
        after: str | None = None,
        before: str | None = None,
        tag: str | None = None,
        cutoff: float | None = DEFAULT_CUTOFF,
    ) -> list[SearchHit]:
        """The best photos for `query` (a string, or plan()'s answer) within the filters.

        Filters alone: every photo that passes them, up to `top` (see by_filters). Terms that
        only subtract (``tag:beach -people``) order the filtered photos without a cutoff.
        """
        if top < 1:
            raise QueryError("--top must be at least 1.")
        plan = self.plan(query, folder=folder, after=after, before=before, tag=tag)
        if plan.filter_only:
            if plan.filters.text:
                return self.by_text(plan.filters, top)
            return self.by_filters(plan.filters, top)
        if not plan.looks_for_something:
            cutoff = None  # the filters chose the photos; the terms only order them
        vector = self.query_vector(plan)
        hits = self.by_vector(vector, top, plan.filters, cutoff=cutoff)
        return self.with_text(plan, vector, hits, top)

    def by_text(self, filters: Filters, top: int = 20) -> list[SearchHit]:
        """Photos whose text holds every text: phrase, within the other filters, newest
        first; each scores 2.0 (1 + a one-run match's quality, see the module's doc)."""
        allowed = self._allowed(filters)
        dated = self._dated(allowed)
        best = heapq.nlargest(top, dated, key=lambda i: (dated[i][1], i))
        return [SearchHit(i, dated[i][0], 2.0) for i in best]

    def with_text(self, plan: ParsedQuery, vector: np.ndarray, hits: list[SearchHit],
                  top: int) -> list[SearchHit]:
        """CLIP's hits with the photos whose text holds the query's words ranked above them
        (the module's doc says how and why)."""
        texts = [t.text for t in plan.terms if t.weight > 0 and t.image is None]
        matches = text_search.query_matches(self.catalog, texts) if texts else {}
        if plan.filters.active() and matches:
            allowed = self._allowed(plan.filters)
            matches = {i: q for i, q in matches.items() if i in allowed}
        if not matches:
            return hits
        known = [i for i in matches if i in self.vectors]
        cosine = dict(zip(known, (self.vectors.get(known) @ vector).tolist(), strict=True)) \
            if known else {}
        scored = {i: 1.0 + 0.5 * q + 0.5 * max(cosine.get(i, 0.0), 0.0)
                  for i, q in matches.items()}
        scored.update({h.photo_id: h.score for h in hits if h.photo_id not in scored})
        best = heapq.nlargest(top, scored.items(), key=lambda kv: (kv[1], -kv[0]))
        return self._hits(best)

    def similar(self, path: str, top: int = 20,
                cutoff: float | None = None) -> list[SearchHit]:
        """Photos like the one at `path`: in the library (its stored embedding) or any readable
        photo elsewhere (decoded and embedded now). Checked before the model loads."""
        if top < 1:
            raise QueryError("--top must be at least 1.")
        problem = self.unreadable(path)
        if problem is not None:
            raise NotFoundError(f"{problem}: {path} (and it is not in the library)")
        return self.by_vector(self.photo_vector(path), top, cutoff=cutoff)

    def similar_to_photos(self, photo_ids: Sequence[int], top: int = 20,
                          cutoff: float | None = None) -> list[SearchHit]:
        """Photos like all of these library photos at once: the mean of their stored
        embeddings, normalised (the window's "Find similar" on a selection)."""
        found = self.catalog.embeddings_of(self.encoder.model_id, photo_ids)
        if not found:
            raise NotFoundError("None of these photos is indexed with the current model yet: "
                                "wait for indexing to finish, then try again.")
        mean = np.mean(np.stack(list(found.values())), axis=0).astype(np.float32)
        norm = float(np.linalg.norm(mean))
        return self.by_vector(mean / norm if norm > 0 else mean, top, cutoff=cutoff)

    def by_filters(self, filters: Filters, top: int = 20) -> list[SearchHit]:
        """Every photo that passes `filters`, best `top` first, without the model: by the tag's
        score when the filters name tags (the lowest of several; a tag the user set or accepted
        counts 1.0), then newest first (date taken, else the file's date). A hit's score is
        that tag score, or 0.0 when only the date orders them."""
        allowed = self._allowed(filters) if filters.active() else set()
        if not allowed:
            return []
        dated = self._dated(allowed)
        scores: dict[int, float] = {}
        if filters.tags:
            per_tag = [self._tag_scores(t) for t in dict.fromkeys(filters.tags)]
            scores = {i: min(s.get(i, 0.0) for s in per_tag) for i in dated}
        best = heapq.nlargest(top, dated, key=lambda i: (scores.get(i, 0.0), dated[i][1], i))
        return [SearchHit(i, dated[i][0], scores.get(i, 0.0)) for i in best]

    def _dated(self, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """photo id -> (path, date taken or file date) for the given ids."""
        out: dict[int, tuple[str, str]] = {}
        for chunk, marks in in_chunks(ids):
            for pid, path, when in self.catalog.query(
                f"SELECT id, path, {PHOTO_DATE} FROM photos WHERE id IN ({marks})", chunk
            ):
                out[int(pid)] = (str(path), str(when or ""))
        return out

    def _tag_scores(self, tag: str) -> dict[int, float]:
        """photo id -> how surely it has the tag `tag` (LABEL or SET|LABEL)."""
        label_ids = [lb.id for _, lb in TagStore(self.catalog).find_labels(tag)]
        out: dict[int, float] = {}
        for chunk, marks in in_chunks(label_ids):
            for pid, score, source, accepted in self.catalog.query(
                "SELECT t.photo_id, t.score, t.source, t.accepted FROM tags t "
                f"WHERE t.label_id IN ({marks}) AND {EFFECTIVE}", chunk
            ):
                sure = 1.0 if source == "user" or accepted == 1 else float(score or 0.0)
                out[int(pid)] = max(out.get(int(pid), 0.0), sure)
        return out

    def by_vector(
        self,
        vector: np.ndarray,
        top: int = 20,
        filters: Filters | None = None,
        cutoff: float | None = None,
    ) -> list[SearchHit]:
        """Best `top` photos for a query vector within the filters; with a cutoff, only those
        that stand out from the library (fewer than `top` when the scores drop)."""
        if top < 1:
            raise QueryError("--top must be at least 1.")
        allowed: set[int] | None = None
        if filters is not None and filters.active():
            allowed = self._allowed(filters)
            if not allowed:
                return []
        query = np.asarray(vector, dtype=np.float32)
        found = self.vectors.search(query, top, allowed)
        if cutoff:
            found = self._cut(query, found, cutoff)
        return self._hits(found)

    def _allowed(self, f: Filters) -> set[int]:
        allowed: set[int] | None = None
        for tag in f.tags or (None,):
            ids = self.catalog.filter_ids(
                f.folder, f.after, f.before, tag, types=f.types, orientation=f.orientation,
                min_side=f.min_side, min_pixels=f.min_pixels, min_rating=f.min_rating,
                max_rating=f.max_rating, favourite=f.favourite)
            if not ids and tag and not TagStore(self.catalog).find_labels(tag):
                raise QueryError(f"No label {tag!r} to filter by: see `photoclip labels "
                                 "list` (LABEL, or SET|LABEL).")
            allowed = ids if allowed is None else allowed & ids
        if f.text and allowed:
            allowed &= set(text_search.phrase_matches(self.catalog, f.text))
        return allowed or set()

    def background(self) -> np.ndarray | None:
        """A random sample of the library's vectors, the yardstick of "stands out"."""
        n = len(self.vectors)
        if n < MIN_BACKGROUND:
            return None
        # Redraw when the library grew or shrank by a tenth: the yardstick must stay typical.
        if self._background is None or abs(n - self._background_for) > n // 10:
            ids = self.vectors.ids()
            rng = np.random.default_rng(0)
            pick = rng.choice(ids, size=min(_BACKGROUND_SAMPLE, len(ids)), replace=False)
            self._background = self.vectors.get(pick.tolist())
            self._background_for = n
        return self._background

    def _cut(self, query: np.ndarray, found: list[tuple[int, float]],
             cutoff: float) -> list[tuple[int, float]]:
        sample = self.background()
        if sample is None or not found:
            return found
        scores = sample @ query
        mean, std = float(scores.mean()), max(float(scores.std()), 1e-6)
        kept = [found[0]]  # the best match is always shown: the user asked for something
        for prev, cur in itertools.pairwise(found):
            if (cur[1] - mean) / std < cutoff or (prev[1] - cur[1]) / std > GAP_CUTOFF:
                break
            kept.append(cur)
        return kept

    def _hits(self, found: Sequence[tuple[int, float]]) -> list[SearchHit]:
        photos = self.catalog.photos_by_ids(i for i, _ in found)
        # An id can be in the vector cache but no longer in the catalog for a moment (a
        # photo deleted while we searched); drop it rather than show a dead path.
        return [SearchHit(i, photos[i].path, float(s)) for i, s in found if i in photos]
