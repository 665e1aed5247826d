"""What the preview shows of a query's match in a photo's text: the spans to highlight and
the lines whose boxes are drawn over the photo; `--text` as a filter added to a query."""

from __future__ import annotations

import pytest

from photoclip.core.errors import QueryError
from photoclip.core.ocr import Line, PhotoText
from photoclip.core.ocr.matching import query_words, text_match, with_text_filter


def _text(*lines: str) -> PhotoText:
    got = tuple(Line(t, 0.9, ((0, 10 * i), (50, 10 * i), (50, 10 * i + 8), (0, 10 * i + 8)))
                for i, t in enumerate(lines))
    return PhotoText("h", "text", "\n".join(lines), got)


def test_the_matched_words_and_their_lines_are_found_however_spaced():
    found = _text("IKEA Kaarst", "TOTAL37.80EUR", "Danke")
    m = text_match(found, "total 37.80 eur")
    assert m is not None
    assert [m.text[s:e] for s, e in m.spans] == ["TOTAL37.80EUR"]
    assert m.matched == (1,)  # the second line's box is drawn
    both = text_match(found, 'ikea text:"danke"')
    assert both is not None
    assert both.matched == (0, 2)
    assert text_match(found, "beach").matched == ()  # text shown, nothing highlighted
    assert text_match(PhotoText("h", "none", "", ()), "ikea") is None


def test_the_words_a_query_may_match_leave_out_excluded_terms_and_photos():
    assert query_words('receipt -blurry text:"re16" tag:x') == "receipt re16"
    assert query_words('unbalanced "quote') == ""


def test_text_flag_is_the_text_filter():
    plan = with_text_filter("cat", "boarding  pass")
    assert plan.filters.text == ("boarding pass",)
    assert [t.text for t in plan.terms] == ["cat"]
    with pytest.raises(QueryError, match="--text needs"):
        with_text_filter("", " ")
