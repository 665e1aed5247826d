"""The real recogniser (PP-OCRv4 through RapidOCR): a new user's folder of receipts read and
found by a word, long images read in tiles, the box cap, and a runtime failure recorded."""

from __future__ import annotations

import os

import pytest
from bench_ocr import document, fonts_present, receipts_folder
from PIL import Image

from photoclip.core.library import Library
from photoclip.core.ocr import OcrEngine, OcrError
from photoclip.core.ocr import engine as engine_module

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not fonts_present(), reason="needs fonts-dejavu and "
                       "fonts-droid-fallback (.ci/run installs them)"),
]
rapidocr = pytest.importorskip("rapidocr_onnxruntime")


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    e = OcrEngine()
    e.load()
    return e


@pytest.mark.usefixtures("ocr_on")
def test_a_word_from_one_receipt_finds_it_first(tmp_path, tiny_clip_dir):
    folder = receipts_folder(tmp_path / "Receipts")
    with Library(tmp_path / "lib", model=str(tiny_clip_dir), device="cpu") as lib:
        lib.add_roots([str(folder)])
        for _ in lib.indexer(read_text=False).run():  # the pass is run by hand below
            pass
        job = lib.ocr.job()
        for _ in job.run():
            pass
        assert job.report.with_text == 4
        status = lib.ocr.status()
        assert (status["read"], status["with_text"]) == (6, 4)
        searcher = lib.searcher()
        for query, name in [("37.80", "ikea.jpg"), ("total 37.80 eur", "ikea.jpg"),
                            ("TOTAL37.80EUR", "ikea.jpg"), ("milch", "rewe.jpg"),
                            ("boarding pass", "boarding.jpg"), ("LH 123", "boarding.jpg"),
                            ("发票", "fapiao.jpg"), ("text:B44", "boarding.jpg")]:
            hits = searcher.search(query, top=3, cutoff=None)
            assert os.path.basename(hits[0].path) == name, query
        ikea = next(p for p in lib.catalog.browse() if p.path.endswith("ikea.jpg"))
        assert ikea.hash is not None
        text = lib.ocr.text(ikea.hash)
        assert text is not None
        assert "TOTAL" in text.text
        assert all(0.5 <= line.confidence <= 1.0 for line in text.lines)


def test_a_long_image_is_read_in_tiles(engine):
    page = document(["", "", "", "", "", "PANORAMA END 4711"], size=(700, 560))
    wide = Image.new("RGB", (7000, 560), (246, 244, 238))
    wide.paste(page, (6300, 0))  # shrunk whole to 2000 px, this text would be 3 px tall
    pieces = engine_module.tiles(wide)
    assert 1 < len(pieces) <= engine_module.MAX_TILES
    lines = engine.read(wide)
    assert any("4711" in line.text for line in lines)
    assert all(min(x for x, _ in line.box) > 6000 for line in lines if "4711" in line.text)


def test_boxes_are_capped(monkeypatch):
    monkeypatch.setattr(engine_module, "MAX_BOXES", 5)
    capped = OcrEngine()
    lines = capped.read(document([f"LINE {i} OF MANY" for i in range(7)], size=(800, 600)))
    assert 0 < len(lines) <= 5


def test_a_failure_inside_the_runtime_is_one_reason(engine, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("onnxruntime exploded")

    monkeypatch.setattr(rapidocr.RapidOCR, "__call__", boom)
    with pytest.raises(OcrError, match="onnxruntime exploded"):
        engine.read(document(["TEXT"]))
