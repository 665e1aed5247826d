"""Text matches for the searcher: which photos hold the words of a query, and how well.

Two ways of asking (docs: the query language in core/query.py):
- ``text:"boarding pass"`` (a filter): the phrase, compact (no whitespace, see normalise.py),
  must occur in the photo's compact text as a sub-string: "re16" finds "RE16 TGK", "发票"
  finds "增值税发票", "total 37.80 eur" finds "TOTAL37.80EUR" and back.
- a plain query: every word of its added terms must occur where a word may start (after a
  space or punctuation, where letters turn into digits, anywhere in CJK text), or the whole
  query (spaces removed) must occur as one run starting there. Word starts keep "cat" from
  matching "location" when the user asked CLIP for cats; the one-run rule keeps "boarding
  pass" matching "BOARDINGPASS".

Quality in (0, 1]: 1.0 when the query occurs as one run, else 0.5 (every word, apart); the
searcher turns it into a score above any CLIP score (core/search.py says why).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from photoclip.core.catalog import Catalog
from photoclip.core.catalog.database import in_chunks
from photoclip.core.ocr.normalise import boundaries, compact, word_at_boundary, words
from photoclip.core.ocr.store import TextStore

ONE_RUN, APART = 1.0, 0.5


def has_text(catalog: Catalog) -> bool:
    """Whether any photo text is stored (else plain queries skip text matching entirely)."""
    return bool(catalog.query("SELECT 1 FROM photo_text WHERE state = 'text' LIMIT 1"))


def phrase_matches(catalog: Catalog, phrases: Sequence[str]) -> dict[int, float]:
    """photo id -> quality, for photos whose text holds every phrase as a sub-string."""
    parts = [c for c in (compact(p) for p in phrases) if c]
    if not parts:
        return {}
    found = TextStore(catalog).candidates(parts)
    return _by_photo(catalog, {h: ONE_RUN for h in found})


def query_matches(catalog: Catalog, texts: Sequence[str]) -> dict[int, float]:
    """photo id -> quality, for a plain query's added text terms (see the module's rules)."""
    joined = " ".join(texts)
    wanted = words(joined)
    if not wanted or not has_text(catalog):
        return {}
    whole = compact(joined)
    store = TextStore(catalog)
    found = store.candidates(wanted)
    if not found:
        return {}
    spaced = store.texts(found)
    quality: dict[str, float] = {}
    for digest, norm in found.items():
        q = match_quality(wanted, whole, norm, spaced.get(digest, ""))
        if q is not None:
            quality[digest] = q
    return _by_photo(catalog, quality)


def match_quality(wanted: Sequence[str], whole: str, norm: str, text: str) -> float | None:
    """A plain query's quality against one photo's text (None: no match). `wanted`: the
    query's words, `whole`: the query, both compact; `norm`: the text compact; `text`: as
    recognised (its spaces mark word starts)."""
    starts = boundaries(" ".join(text.splitlines()))
    if whole and word_at_boundary(whole, norm, starts):
        return ONE_RUN
    if wanted and all(word_at_boundary(w, norm, starts) for w in wanted):
        return APART
    return None


def _by_photo(catalog: Catalog, by_hash: dict[str, float]) -> dict[int, float]:
    out: dict[int, float] = {}
    for chunk, marks in in_chunks(list(by_hash)):
        for pid, digest in catalog.query(
                f"SELECT id, hash FROM photos WHERE status = 'ok' AND hash IN ({marks})", chunk):
            out[int(pid)] = by_hash[str(digest)]
    return out


def highlight(text: str, query: str) -> list[tuple[int, int]]:
    """(start, end) spans of `text` (as stored: lines of recognised text) that the query's
    words match, for the preview to highlight; spans may cross the spaces the recogniser put
    where the user typed none, and the other way round."""
    index: list[int] = []  # compact position -> position in `text`
    chars: list[str] = []
    for pos, ch in enumerate(text):
        folded = compact(ch)
        for c in folded:
            chars.append(c)
            index.append(pos)
    flat = "".join(chars)
    spans: list[tuple[int, int]] = []
    for part in {compact(query), *words(query)}:
        if not part:
            continue
        i = flat.find(part)
        while i >= 0:
            spans.append((index[i], index[i + len(part) - 1] + 1))
            i = flat.find(part, i + 1)
    return _merge(spans)


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
