"""Photo text without the recogniser: normalising, storing, finding, the text pass's rules
(resume, cancel, failures, moves, changes) and how text hits join CLIP's ranking. The real
recogniser is exercised in test_ocr_engine.py and test_ocr_accuracy.py."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import skimage
from PIL import Image

from photoclip.core.errors import PhotoclipError, QueryError
from photoclip.core.library import Library
from photoclip.core.ocr import Line, OcrError, OcrJob, TextStore
from photoclip.core.ocr.normalise import compact, words
from photoclip.core.ocr.search import highlight, phrase_matches, query_matches
from photoclip.core.query import parse_query

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


def _line(text: str) -> Line:
    return Line(text, 0.9, ((0, 0), (10, 0), (10, 5), (0, 5)))


class FakeEngine:
    """Reads the text a test planted for a photo's pixels (keyed by its top-left pixel)."""

    def __init__(self, texts: dict[tuple[int, int, int], list[str]],
                 fail: set[tuple[int, int, int]] | None = None) -> None:
        self.texts, self.fail = texts, fail or set()
        self.reads = 0

    def text_map(self, image: np.ndarray) -> np.ndarray:
        return np.zeros(image.shape[:2], np.float32)

    def key(self, image: Image.Image) -> tuple[int, int, int]:
        return tuple(image.convert("RGB").getpixel((0, 0)))  # type: ignore[return-value]

    def read(self, image: Image.Image) -> list[Line]:
        self.reads += 1
        if self.key(image) in self.fail:
            raise OcrError("text recogniser failed: RuntimeError: boom")
        return [_line(t) for t in self.texts.get(self.key(image), [])]


def test_typed_and_recognised_text_meet_in_one_form():
    assert compact("TOTAL37.80EUR") == compact("TOTAL 37.80 EUR") == "total37.80eur"
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "RE16") + "\u3000" + "".join(
        chr(ord(c) + 0xFEE0) for c in "TGK")  # as Chinese-trained models return it
    assert compact(full_width) == "re16tgk"
    assert compact("STRASSE") == compact("Straße")
    assert words("  Boarding   PASS boarding ") == ["boarding", "pass"]


@pytest.fixture
def lib(tmp_path, tiny_clip_dir) -> Library:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, colour in enumerate([(250, 250, 250), (200, 10, 10), (10, 200, 10), (10, 10, 200)]):
        Image.new("RGB", (64, 48), colour).save(folder / f"p{i}.png")
    library = Library(tmp_path / "lib", model=str(tiny_clip_dir), device="cpu")
    library.add_roots([str(folder)])
    for _ in library.indexer().run():
        pass
    yield library
    library.close()


TEXTS = {(250, 250, 250): ["IKEA", "TOTAL37.80EUR"], (200, 10, 10): ["增值税发票", "RE16 TGK"],
         (10, 200, 10): ["Boarding Pass", "LH 123 location"]}


def _read(lib: Library, engine: FakeEngine, **kw) -> OcrJob:
    job = OcrJob(lib.catalog, engine, skip=False, **kw)  # type: ignore[arg-type]
    for _ in job.run():
        pass
    return job


def test_substrings_short_chinese_words_and_spacing_all_find_the_photo(lib):
    _read(lib, FakeEngine(TEXTS))
    by_name = {os.path.basename(p.path): p.id for p in lib.catalog.browse()}
    assert set(phrase_matches(lib.catalog, ["RE16"])) == {by_name["p1.png"]}  # sub-string
    assert set(phrase_matches(lib.catalog, ["发票"])) == {by_name["p1.png"]}  # 2 characters
    assert set(phrase_matches(lib.catalog, ["total 37.80 eur"])) == {by_name["p0.png"]}
    assert set(query_matches(lib.catalog, ["TOTAL 37.80 EUR"])) == {by_name["p0.png"]}
    assert set(query_matches(lib.catalog, ["boardingpass"])) == {by_name["p2.png"]}
    # a plain query wants words where words start: "cat" is not found in "location"
    assert query_matches(lib.catalog, ["cat"]) == {}
    assert set(query_matches(lib.catalog, ["lh123"])) == {by_name["p2.png"]}


def test_without_the_trigram_index_the_scan_finds_the_same(lib, monkeypatch):
    _read(lib, FakeEngine(TEXTS))
    monkeypatch.setattr(TextStore, "has_fts", lambda self: False)
    assert len(phrase_matches(lib.catalog, ["RE16"])) == 1
    assert len(phrase_matches(lib.catalog, ["发票"])) == 1
    assert len(phrase_matches(lib.catalog, ["nowhere"])) == 0


def test_the_pass_resumes_skips_read_content_and_records_failures_once(lib):
    engine = FakeEngine(TEXTS, fail={(10, 10, 200)})
    cancel = threading.Event()
    job = OcrJob(lib.catalog, engine, skip=False)  # type: ignore[arg-type]
    progress = []
    for p in job.run(cancel):
        progress.append(p)
        if p.done == 2:
            cancel.set()  # stopped half way: what was read is kept
    assert engine.reads == 2
    assert progress[0].message == "reading text 0/4"
    job = _read(lib, engine)
    assert engine.reads == 4  # only the two not read yet
    assert (job.report.failed, job.report.reasons) == (
        1, {"text recogniser failed: RuntimeError: boom": 1})
    assert lib.ocr.status()["read"] == 4
    assert _read(lib, engine).report.done == 0  # a failure is not retried on every run
    assert _read(lib, engine, force=True).report.done == 4


def test_moved_photos_keep_their_text_and_changed_ones_are_read_again(lib, tmp_path):
    engine = FakeEngine(TEXTS)
    _read(lib, engine)
    folder = tmp_path / "photos"
    os.replace(folder / "p0.png", folder / "renamed.png")
    Image.new("RGB", (64, 48), (10, 200, 10)).rotate(90, expand=True).save(folder / "p1.png")
    for _ in lib.indexer().run():
        pass
    before = engine.reads
    _read(lib, engine)
    assert engine.reads == before + 1  # the changed one only; the moved one kept its text
    assert set(query_matches(lib.catalog, ["IKEA"])) == {
        p.id for p in lib.catalog.browse() if p.path.endswith("renamed.png")}
    text = lib.ocr.text(next(p.hash for p in lib.catalog.browse()
                               if p.path.endswith("renamed.png")))
    assert text is not None
    assert text.text == "IKEA\nTOTAL37.80EUR"


def test_text_hits_rank_above_clip_hits_and_text_alone_lists_them(lib):
    _read(lib, FakeEngine(TEXTS))
    searcher = lib.searcher()
    hits = searcher.search("ikea total", top=4, cutoff=None)
    assert os.path.basename(hits[0].path) == "p0.png"
    assert hits[0].score > 1.0
    assert all(h.score < 1.0 for h in hits[1:])
    only = searcher.search('text:"boarding pass"', top=4)
    assert [os.path.basename(h.path) for h in only] == ["p2.png"]
    assert searcher.search("text:nowhere", top=4) == []
    assert not searcher.needs_model('text:"boarding pass"')
    # combined with a CLIP term: the text filter narrows, CLIP orders
    assert [os.path.basename(h.path) for h in searcher.search("text:RE16 red", cutoff=None)] \
        == ["p1.png"]


def test_query_language_and_highlights():
    assert parse_query('text:"boarding pass" folder:/x', require_terms=False).filters.text == (
        "boarding pass",)
    with pytest.raises(QueryError):
        parse_query("-text:secret cat")
    text = "IKEA\nTOTAL37.80EUR"
    assert [text[a:b] for a, b in highlight(text, "total 37.80")] == ["TOTAL37.80"]


def test_the_setting_turns_it_off_and_a_missing_package_says_how(lib, monkeypatch):
    lib.ocr.set_enabled(False)
    with pytest.raises(PhotoclipError, match="ocr --on"):
        lib.ocr.job()
    lib.ocr.set_enabled(True)
    monkeypatch.setattr("photoclip.core.ocr.door.available", lambda: False)
    with pytest.raises(PhotoclipError, match=r"photoclip\[ocr\]"):
        lib.ocr.job()
    assert lib.ocr.status()["installed"] is False


def test_only_photos_with_an_embedding_are_read(tmp_path, tiny_clip_dir):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(SKIMAGE_DATA / "astronaut.png", folder / "a.png")
    with Library(tmp_path / "lib", model=str(tiny_clip_dir), device="cpu") as library:
        library.add_roots([str(folder)])
        engine = FakeEngine({})
        assert _read(library, engine).report.done == 0  # not indexed yet: CLIP goes first
