"""The query language: a query string -> weighted terms (text or a photo) and filters.

No model, no catalog: parsing and checking a query is pure, so a malformed query is refused
before anything slow happens. docs/SEARCH.md is the user's version of this:
- arithmetic, rclip-style: ``dog + snow``, ``beach -people``, ``beach - people in red``;
- weights: ``sunset:2 beach`` (a phrase's weight goes after its last word), ``-people:0.5``;
- quoted phrases keep ``-`` and ``+`` literal: ``"rock-n-roll band"``;
- a photo as a term: ``similar:PATH`` (in the library or not), combinable with text;
- filters as ``key:value``: ``date:2023``, ``date:2019..2021``, ``after:2023-05``,
  ``before:2024-01-01``, ``folder:PATH``, ``tag:beach``, ``type:jpg``,
  ``orientation:portrait|landscape|square``, ``minsize:1080`` (shorter side, px) or ``minsize:2mp``,
  ``rating:>=4`` (stars: ``4``, ``>3``, ``<=2``, ``2..4``; ``0`` is unrated), ``fav:yes|no``.
  ``text:"boarding pass"`` (only photos whose recognised text holds the phrase: core/ocr).
A query may be filters alone (``tag:beach date:2019``): it then lists the matching photos.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from datetime import date

from photoclip.core.errors import QueryError
from photoclip.core.indexing.scan import catalog_path

# A token: key:"quoted value", -"quoted phrase":weight, or a run of non-space characters.
_TOKEN = re.compile(r'(-?)([A-Za-z]+):"([^"]*)"|(-?)"([^"]*)"(?::([0-9.]+))?|(\S+)')
_FILTER_KEYS = {"date", "after", "before", "folder", "tag", "type", "orientation", "minsize",
                "similar", "rating", "fav", "text"}
_TYPES = {"jpg": (".jpg", ".jpeg"), "jpeg": (".jpg", ".jpeg"), "png": (".png",),
          "webp": (".webp",), "tif": (".tif", ".tiff"), "tiff": (".tif", ".tiff"),
          "heic": (".heic", ".heif"), "heif": (".heic", ".heif"), "gif": (".gif",),
          "bmp": (".bmp",), "avif": (".avif",)}
_ORIENTATIONS = ("portrait", "landscape", "square")
_RATING = re.compile(r"^(>=|<=|>|<|=)?([0-5])$|^([0-5])\.\.([0-5])$")
_YES = {"yes": True, "true": True, "on": True, "1": True,
        "no": False, "false": False, "off": False, "0": False}


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
    min_rating: int | None = None  # stars, inclusive
    max_rating: int | None = None  # stars, inclusive
    favourite: bool | None = None
    text: tuple[str, ...] = ()  # phrases the photo's recognised text must hold (text:)

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
            min_rating=max(filter(None, (self.min_rating, other.min_rating)), default=None),
            max_rating=min((r for r in (self.max_rating, other.max_rating) if r is not None),
                           default=None),
            favourite=self.favourite if other.favourite is None else other.favourite,
            text=self.text + other.text,
        )


@dataclass
class ParsedQuery:
    terms: list[Term] = field(default_factory=list)
    filters: Filters = field(default_factory=Filters)

    @property
    def filter_only(self) -> bool:
        """Filters and nothing to look for: the answer is every photo that passes them, listed
        without the model (by tag score for a tag filter, else newest first)."""
        return not self.terms

    @property
    def looks_for_something(self) -> bool:
        return any(t.weight > 0 for t in self.terms)


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
    for term in out.terms:
        if term.image is None:
            check_text(term.text, "query")
    if require_terms and not out.looks_for_something:
        raise QueryError(
            f"Nothing to search for in {query!r}: give at least one term to look for "
            "(e.g. 'beach -people')."
        )
    return out


def check_text(text: str, what: str) -> None:
    """Refuse text with undecodable bytes: a command line in another encoding than the
    terminal's arrives with them as lone surrogates, which no text encoder or SQLite takes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", "backslashreplace").decode("utf-8")
        raise QueryError(
            f"The {what} '{raw}' holds bytes that are not UTF-8 text: set the terminal to "
            "UTF-8 (e.g. LANG=C.UTF-8) and type it again."
        ) from None


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
        out.filters = replace(f, folder=folder_filter(value))
    elif key == "tag":
        check_text(value, "tag")
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
    elif key == "rating":
        out.filters = f.merged(rating_filter(value))
    elif key == "fav":
        if value.lower() not in _YES:
            raise QueryError(f"fav:{value}? Use fav:yes or fav:no.")
        out.filters = replace(f, favourite=_YES[value.lower()])

    elif key == "text":
        check_text(value, "text")
        if value:
            out.filters = replace(f, text=(*f.text, value))


def rating_filter(value: str) -> Filters:
    """rating:4 (exactly), rating:>=4, rating:>3, rating:<=2, rating:<3, rating:2..4; 0 is
    an unrated photo."""
    m = _RATING.match(value.replace(" ", ""))
    if m is None:
        raise QueryError(f"rating:{value}? Use stars 0-5: rating:4, rating:>=4, rating:<3 or "
                         "rating:2..4.")
    op, stars, lo, hi = m.groups()
    if lo is not None:
        low, high = sorted((int(lo), int(hi)))
    else:
        n = int(stars)
        low, high = {">=": (n, 5), "<=": (0, n), ">": (n + 1, 5), "<": (0, n - 1)}.get(
            op or "=", (n, n))
    if low > high:  # rating:>5, rating:<0
        raise QueryError(f"rating:{value} matches no photo: ratings are 0 to 5 stars.")
    return Filters(min_rating=low or None, max_rating=high if high < 5 else None)


def folder_filter(value: str) -> str:
    """A folder as the catalog's paths hold it (absolute; undecodable bytes escaped)."""
    return catalog_path(os.path.abspath(os.path.expanduser(value)))


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
