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
    assert parse_query(query) == terms


@pytest.mark.parametrize("query", ["", "   ", "-people", "- people", '"unclosed'])
def test_malformed_queries_say_what_to_do(query):
    with pytest.raises(QueryError):
        parse_query(query)


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
    calls = enc.calls
    s.query_vector("dog + snow -people")
    assert enc.calls == calls  # a repeated query does not run the text encoder again
    with pytest.raises(QueryError, match="cancel out"):
        s.query_vector("dog -dog")
