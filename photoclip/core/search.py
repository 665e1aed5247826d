"""Text and similar-photo search: query -> vector -> ANN (or exact, when filtered) -> hits.

Query language (docs/SEARCH.md has the user's version):
- arithmetic, rclip-style: ``dog + snow``, ``beach -people``, ``beach - people in red``;
- weights: ``sunset:2 beach`` (a phrase's weight goes after its last word), ``-people:0.5``;
- quoted phrases keep ``-`` and ``+`` literal: ``"rock-n-roll band"``;
- a photo as a term: ``similar:PATH`` (in the library or not), combinable with text;
- filters as ``key:value``: ``date:2023``, ``date:2019..2021``, ``after:2023-05``,
  ``before:2024-01-01``, ``folder:PATH``, ``tag:beach``, ``type:jpg``,
  ``orientation:portrait|landscape|square``, ``minsize:1080`` (shorter side, px) or ``minsize:2mp``.
Negation inside a prompt ("a cat without glasses") is weak in CLIP (seed §6): the text encoder
sees "glasses" and pulls towards it. Subtracting the term is what works: ``cat -glasses``.

Adaptive cutoff: results stop where they stop standing out from the library. Each query's
scores are compared with its scores on a random sample of the library (per query, so it is
calibrated for the model and for text vs photo queries alike): a hit must lie `cutoff` standard
deviations above that background, and the list also ends at the first sharp drop.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from photoclip.core.catalog import Catalog
from photoclip.core.encoder import Encoder
from photoclip.core.errors import ImageError, NotFoundError, QueryError
from photoclip.core.imaging import decode
from photoclip.core.tagging.store import TagStore
from photoclip.core.types import SearchHit
from photoclip.core.vectors import VectorIndex

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

# A token: key:"quoted value", -"quoted phrase":weight, or a run of non-space characters.
_TOKEN = re.compile(r'(-?)([A-Za-z]+):"([^"]*)"|(-?)"([^"]*)"(?::([0-9.]+))?|(\S+)')
_FILTER_KEYS = {"date", "after", "before", "folder", "tag", "type", "orientation", "minsize",
                "similar"}
_TYPES = {"jpg": (".jpg", ".jpeg"), "jpeg": (".jpg", ".jpeg"), "png": (".png",),
          "webp": (".webp",), "tif": (".tif", ".tiff"), "tiff": (".tif", ".tiff"),
          "heic": (".heic", ".heif"), "heif": (".heic", ".heif"), "gif": (".gif",),
          "bmp": (".bmp",), "avif": (".avif",)}
_ORIENTATIONS = ("portrait", "landscape", "square")


@dataclass(frozen=True)
class Term:
    text: str
    weight: float  # > 0 adds, < 0 subtracts
    image: str | None = None  # a photo's path (similar:PATH); text is then its label


@dataclass(frozen=True)
class Filters:
    folder: str | None = None
    after: str | None = None  # ISO date, inclusive
    before: str | None = None  # ISO date, exclusive
    tags: tuple[str, ...] = ()
    types: tuple[str, ...] = ()  # file extensions, with the dot
    orientation: str | None = None
    min_side: int | None = None
    min_pixels: int | None = None

    def active(self) -> bool:
        return self != Filters()

    def merged(self, other: Filters) -> Filters:
        """Both sets of conditions at once (flags and query terms): the stricter of each."""
        return Filters(
            folder=other.folder or self.folder,
            after=max(filter(None, (self.after, other.after)), default=None),
            before=min(filter(None, (self.before, other.before)), default=None),
            tags=self.tags + other.tags,
            types=tuple(sorted(set(self.types) | set(other.types))),
            orientation=other.orientation or self.orientation,
            min_side=max(filter(None, (self.min_side, other.min_side)), default=None),
            min_pixels=max(filter(None, (self.min_pixels, other.min_pixels)), default=None),
        )


@dataclass
class ParsedQuery:
    terms: list[Term] = field(default_factory=list)
    filters: Filters = field(default_factory=Filters)


def parse_query(query: str, require_terms: bool = True) -> ParsedQuery:
    """Split a query into weighted terms and filters; words between operators form a phrase."""
    if query.count('"') % 2:
        raise QueryError(f"Unbalanced quote in {query!r}: close the quoted phrase.")
    out = ParsedQuery()
    words: list[str] = []
    sign = 1.0

    def flush(weight: float = 1.0) -> None:
        if words:
            out.terms.append(Term(" ".join(words), sign * weight))
            words.clear()

    for m in _TOKEN.finditer(query):
        kneg, key, kval, qneg, quoted, qweight, bare = m.groups()
        if key is not None:
            if key.lower() in _FILTER_KEYS:
                flush()
                _apply_key(out, key.lower(), kval, negative=bool(kneg))
            else:
                words.append(f'{key}:{kval}')
            continue
        if quoted is not None:
            if not quoted.strip():
                continue
            weight = _weight(qweight, query) if qweight else 1.0
            if qneg:
                flush()
                out.terms.append(Term(quoted.strip(), -weight))
                sign = 1.0
            else:
                words.append(quoted.strip())
                if qweight:
                    flush(weight)
            continue
        assert bare is not None
        if bare in ("+", "-"):
            flush()
            sign = 1.0 if bare == "+" else -1.0
            continue
        negative = bare.startswith("-") and len(bare) > 1
        word = bare[1:] if negative else bare
        k, sep, v = word.partition(":")
        if sep and k.lower() in _FILTER_KEYS and v:
            flush()
            _apply_key(out, k.lower(), v, negative)
            continue
        # "sunset:2" is a weight; "10:30" is a time, not the word 10 with weight 30.
        weighted = bool(sep and k and _is_number(v) and not _is_number(k))
        weight = 1.0
        if weighted:
            word, weight = k, _weight(v, query)
        if negative:
            # "-people" subtracts that word; the words after it start a new added phrase
            flush()
            out.terms.append(Term(word, -weight))
            sign = 1.0
        else:
            words.append(word)
            if weighted:
                flush(weight)
    flush()
    if require_terms and not any(t.weight > 0 for t in out.terms):
        raise QueryError(
            f"Nothing to search for in {query!r}: give at least one term to look for "
            "(e.g. 'beach -people')."
        )
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _weight(text: str, query: str) -> float:
    try:
        w = float(text)
    except ValueError:
        raise QueryError(f"Bad weight {text!r} in {query!r}: write term:2 or term:0.5.") from None
    if not 0 < w <= 100:
        raise QueryError(f"Weight {text} out of range in {query!r}: use a number from 0 to 100.")
    return w


def _apply_key(out: ParsedQuery, key: str, value: str, negative: bool) -> None:
    f = out.filters
    if negative and key != "similar":
        raise QueryError(f"-{key}: cannot be negated; narrow with {key}:VALUE instead.")
    value = value.strip()
    if key == "similar":
        out.terms.append(Term(os.path.basename(value), -1.0 if negative else 1.0, image=value))
        return
    if key == "date":
        lo, _, hi = value.partition("..")
        after, before = date_range(lo)[0], date_range(hi or lo)[1]
        out.filters = f.merged(Filters(after=after, before=before))
    elif key == "after":
        out.filters = f.merged(Filters(after=parse_date(value)))
    elif key == "before":
        out.filters = f.merged(Filters(before=parse_date(value)))
    elif key == "folder":
        out.filters = replace(f, folder=os.path.abspath(os.path.expanduser(value)))
    elif key == "tag":
        out.filters = replace(f, tags=(*f.tags, value))
    elif key == "type":
        exts = _TYPES.get(value.lower().lstrip("."))
        if exts is None:
            raise QueryError(f"Unknown type:{value}: use one of {', '.join(sorted(_TYPES))}.")
        out.filters = f.merged(Filters(types=exts))
    elif key == "orientation":
        if value.lower() not in _ORIENTATIONS:
            raise QueryError(f"orientation:{value}? Use {', '.join(_ORIENTATIONS)}.")
        out.filters = replace(f, orientation=value.lower())
    elif key == "minsize":
        out.filters = f.merged(_min_size(value))


def _min_size(value: str) -> Filters:
    v = value.lower()
    try:
        if v.endswith("mp"):
            return Filters(min_pixels=int(float(v[:-2]) * 1_000_000))
        return Filters(min_side=int(v.removesuffix("px")))
    except ValueError:
        raise QueryError(f"minsize:{value}? Use pixels of the shorter side (minsize:1080) or "
                         "megapixels (minsize:2mp).") from None


def parse_date(value: str) -> str:
    """YYYY-MM-DD (also YYYY-MM or YYYY) -> ISO date string usable against catalog dates."""
    return date_range(value)[0]


def date_range(value: str) -> tuple[str, str]:
    """The first day of a year, month or day, and the first day after it (exclusive end)."""
    parts = value.strip().split("-")
    try:
        if len(parts) == 1 and len(parts[0]) == 4:
            y = int(parts[0])
            return date(y, 1, 1).isoformat(), date(y + 1, 1, 1).isoformat()
        if len(parts) == 2 and len(parts[0]) == 4:
            y, m = int(parts[0]), int(parts[1])
            start = date(y, m, 1)
            end = date(y + (m == 12), m % 12 + 1, 1)
            return start.isoformat(), end.isoformat()
        if len(parts) == 3 and len(parts[0]) == 4:
            d = date.fromisoformat(value.strip())
            return d.isoformat(), date.fromordinal(d.toordinal() + 1).isoformat()
    except ValueError:
        pass
    raise QueryError(f"Bad date {value!r}: use YYYY-MM-DD (or YYYY-MM, YYYY), e.g. 2023-07-14.")


class Searcher:
    def __init__(self, catalog: Catalog, encoder: Encoder, vectors: VectorIndex) -> None:
        self.catalog = catalog
        self.encoder = encoder
        self.vectors = vectors
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._background: np.ndarray | None = None
        self._background_for = -1  # library size the sample was drawn at

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

    def image_vector(self, path: str) -> np.ndarray:
        """A photo's embedding: from the catalog if it is in the library, else encoded now."""
        try:
            photo = self.catalog.find_photo(path)
        except NotFoundError:
            photo = None
        if photo is not None and photo.status == "ok":
            return self.catalog.get_embeddings(self.encoder.model_id, [photo.id],
                                               self.encoder.dim)[0]
        try:
            decoded = decode(os.path.expanduser(path), self.encoder.image_size)
        except ImageError as exc:
            raise QueryError(f"similar:{path}: {exc.reason}") from None
        pixels = self.encoder.preprocess(decoded.image)
        return self.encoder.encode_images(pixels[None])[0]

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

    def search(
        self,
        query: str,
        top: int = 20,
        folder: str | None = None,
        after: str | None = None,
        before: str | None = None,
        tag: str | None = None,
        cutoff: float | None = DEFAULT_CUTOFF,
    ) -> list[SearchHit]:
        parsed = parse_query(query)
        flags = Filters(
            folder=os.path.abspath(os.path.expanduser(folder)) if folder else None,
            after=parse_date(after) if after else None,
            before=parse_date(before) if before else None,
            tags=(tag,) if tag else (),
        )
        return self.by_vector(self.query_vector(parsed), top, flags.merged(parsed.filters),
                              cutoff=cutoff)

    def similar(self, path: str, top: int = 20,
                cutoff: float | None = None) -> list[SearchHit]:
        photo = self.catalog.find_photo(path)
        if photo.status != "ok":
            raise NotFoundError(f"{path} could not be indexed: {photo.error}")
        vec = self.catalog.get_embeddings(self.encoder.model_id, [photo.id], self.encoder.dim)
        return self.by_vector(vec[0], top, cutoff=cutoff)

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
                min_side=f.min_side, min_pixels=f.min_pixels)
            if not ids and tag and not TagStore(self.catalog).find_labels(tag):
                raise QueryError(f"No label {tag!r} to filter by: see `photoclip labels "
                                 "list` (LABEL, or SET|LABEL).")
            allowed = ids if allowed is None else allowed & ids
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
