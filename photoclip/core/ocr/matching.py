"""What a front end asks about a query's words in one photo: the `--text` filter added to a
query, and the spans and boxes of a photo's recognised text that a query matched (the preview
highlights them)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from photoclip.core.errors import QueryError
from photoclip.core.ocr.engine import Line
from photoclip.core.ocr.search import highlight
from photoclip.core.ocr.store import PhotoText
from photoclip.core.query import ParsedQuery, check_text, parse_query


@dataclass(frozen=True)
class TextMatch:
    """A photo's text and where a query matched it."""

    text: str  # the recognised lines, joined by newlines
    lines: tuple[Line, ...]
    spans: tuple[tuple[int, int], ...]  # (start, end) in `text`
    matched: tuple[int, ...]  # indexes of the lines a span touches (their boxes are drawn)


def with_text_filter(query: str, phrase: str) -> ParsedQuery:
    """`query` with `--text PHRASE` added: the same as `text:"PHRASE"` in it."""
    phrase = " ".join(phrase.split())
    if not phrase:
        raise QueryError("--text needs the words to look for, e.g. --text 'boarding pass'.")
    check_text(phrase, "text")
    parsed = parse_query(query, require_terms=False)
    return replace(parsed, filters=replace(parsed.filters,
                                           text=(*parsed.filters.text, phrase)))


def query_words(query: str) -> str:
    """The words of a search that may match photo text: its looked-for terms and its text:
    phrases ("" for a query that cannot be parsed, or looks for nothing in words)."""
    try:
        parsed = parse_query(query, require_terms=False)
    except QueryError:
        return ""
    parts = [t.text for t in parsed.terms if t.weight > 0 and t.image is None]
    return " ".join([*parts, *parsed.filters.text])


def text_match(found: PhotoText | None, query: str) -> TextMatch | None:
    """`found`'s text with what `query` matched in it; None when the photo has no text."""
    if found is None or found.state != "text":
        return None
    words = query_words(query)
    spans = tuple(highlight(found.text, words)) if words else ()
    matched: list[int] = []
    pos = 0
    for i, line in enumerate(found.lines):
        start, end = pos, pos + len(line.text)
        if any(s < end and start < e for s, e in spans):
            matched.append(i)
        pos = end + 1  # the newline
    return TextMatch(found.text, found.lines, spans, tuple(matched))
