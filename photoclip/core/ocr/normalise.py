"""Text as stored and text as typed, brought to one form so either finds the other.

The recogniser drops and inserts spaces ("TOTAL37.80EUR" for "TOTAL 37.80 EUR"), returns
full-width forms from Chinese-trained models ("RE16" as U+FF32 U+FF25 U+FF11 U+FF16) and
keeps the case it saw. Matching is therefore done on `compact` text: NFKC (width, ligatures,
compatibility forms), casefold (case, ß -> ss), every whitespace character removed. Word
boundaries, which `compact` loses, are recovered from `spaced` text (whitespace runs as one
space).
"""

from __future__ import annotations

import unicodedata


def spaced(text: str) -> str:
    """NFKC, casefolded, whitespace runs as one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def compact(text: str) -> str:
    """NFKC, casefolded, with no whitespace at all: the form stored text is matched in."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def words(text: str) -> list[str]:
    """The words of a query, each in compact form, in order, without repeats or empties."""
    return list(dict.fromkeys(w for w in (compact(p) for p in spaced(text).split(" ")) if w))


def is_cjk(ch: str) -> bool:
    """A character of a script written without spaces (Han, kana, Hangul): any position in
    the text is a word boundary for it."""
    o = ord(ch)
    return (0x2E80 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF
            or 0x20000 <= o <= 0x3FFFF)


def _kind(ch: str) -> str:
    if ch.isdigit():
        return "digit"
    if ch.isalpha():
        return "cjk" if is_cjk(ch) else "letter"
    return "other"


def boundaries(text: str) -> set[int]:
    """Indexes of `compact(text)` where a word may start: the start, after whitespace or
    punctuation in the original, where letters turn into digits or back ("TOTAL37.80EUR":
    "37.80" and "eur" start words), and anywhere in CJK text."""
    out = {0}
    pos = 0
    prev_kind = ""
    after_space = False
    for ch in unicodedata.normalize("NFKC", text).casefold():
        if ch.isspace():
            after_space = True
            continue
        kind = _kind(ch)
        if after_space or kind in ("cjk", "other") or prev_kind in ("cjk", "other", "") \
                or kind != prev_kind:
            out.add(pos)
        pos += 1
        prev_kind, after_space = kind, False
    return out


def word_at_boundary(word: str, text_compact: str, starts: set[int]) -> bool:
    """Whether `word` (compact) occurs in `text_compact` starting at a word boundary."""
    i = text_compact.find(word)
    while i >= 0:
        if i in starts:
            return True
        i = text_compact.find(word, i + 1)
    return False
