from __future__ import annotations

import numpy as np
import pytest

from photoclip.core.errors import QueryError
from photoclip.core.search import Searcher, Term, parse_date, parse_query


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("a cat", [Term("a cat", 1.0)]),
        ("dog on a beach -people", [Term("dog on a beach", 1.0), Term("people", -1.0)]),
        ("dog + snow", [Term("dog", 1.0), Term("snow", 1.0)]),
        ("beach - people in red", [Term("beach", 1.0), Term("people in red", -1.0)]),
        ("beach -people sunset", [Term("beach", 1.0), Term("people", -1.0),
                                  Term("sunset", 1.0)]),
        ('"rock-n-roll band" -"red car"', [Term("rock-n-roll band", 1.0),
                                            Term("red car", -1.0)]),
        ("  spaced   out  ", [Term("spaced out", 1.0)]),
    ],
)
def test_parse_query(query, terms):
    assert parse_query(query).terms == terms


@pytest.mark.parametrize("query", ["", "   ", "-people", "- people", '"unclosed', "cat:0",
                                   "cat:500", "type:psd cat", "orientation:diagonal cat",
                                   "minsize:big cat", "date:2023-13 cat", "-tag:beach cat",
                                   "date:2023"])
def test_malformed_queries_say_what_to_do(query):
    with pytest.raises(QueryError):
        parse_query(query)


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("sunset:2 beach", [Term("sunset", 2.0), Term("beach", 1.0)]),
        ("red sunset:2", [Term("red sunset", 2.0)]),
        ("beach -people:0.5", [Term("beach", 1.0), Term("people", -0.5)]),
        ('"old car":3 -rust', [Term("old car", 3.0), Term("rust", -1.0)]),
        ("meeting at 10:30", [Term("meeting at 10:30", 1.0)]),  # not a weight, not a filter
        ("cat similar:/p/a.jpg", [Term("cat", 1.0), Term("a.jpg", 1.0, image="/p/a.jpg")]),
    ],
)
def test_weights_and_photo_terms(query, terms):
    assert parse_query(query).terms == terms


def test_filters_in_the_query_string():
    q = parse_query('date:2023 tag:beach sunset folder:"/my photos" type:jpg '
                    "orientation:portrait minsize:1080")
    assert q.terms == [Term("sunset", 1.0)]
    f = q.filters
    assert (f.after, f.before) == ("2023-01-01", "2024-01-01")
    assert f.tags == ("beach",)
    assert f.folder == "/my photos"
    assert f.types == (".jpeg", ".jpg")
    assert f.orientation == "portrait"
    assert f.min_side == 1080
    q = parse_query("date:2019..2021-06 minsize:2mp cat")
    assert (q.filters.after, q.filters.before) == ("2019-01-01", "2021-07-01")
    assert q.filters.min_pixels == 2_000_000
    q = parse_query("date:2023-12-31 after:2023-06 x")
    assert (q.filters.after, q.filters.before) == ("2023-12-31", "2024-01-01")


def test_dates():
    assert parse_date("2023-07-14") == "2023-07-14"
    assert parse_date("2023-07") == "2023-07-01"
    assert parse_date("2023") == "2023-01-01"
    for bad in ("2023-13-01", "yesterday", "23-1-1"):
        with pytest.raises(QueryError, match="YYYY-MM-DD"):
            parse_date(bad)


class _FakeEncoder:
    """Texts map to fixed orthogonal directions, so arithmetic is checkable by hand."""

    model_id = "fake"
    dim = 4
    image_size = 8
    device = "cpu"

    def __init__(self) -> None:
        self.calls = 0
        self.table = {"dog": 0, "snow": 1, "people": 2}

    def encode_texts(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for n, t in enumerate(texts):
            out[n, self.table.get(t, 3)] = 1.0
        return out


def test_query_vector_is_the_normalised_weighted_sum_and_cached():
    enc = _FakeEncoder()
    s = Searcher(None, enc, None)  # type: ignore[arg-type]
    vec = s.query_vector("dog + snow -people")
    np.testing.assert_allclose(vec, np.array([1, 1, -1, 0]) / np.sqrt(3), rtol=1e-6)
    vec = s.query_vector("dog:3 snow")
    np.testing.assert_allclose(vec, np.array([3, 1, 0, 0]) / np.sqrt(10), rtol=1e-6)
    calls = enc.calls
    s.query_vector("dog + snow -people")
    assert enc.calls == calls  # a repeated query does not run the text encoder again
    with pytest.raises(QueryError, match="cancel out"):
        s.query_vector("dog -dog")
    with pytest.raises(QueryError, match="'dog -dog' cancel out"):
        s.query_vector(parse_query("dog -dog"))
