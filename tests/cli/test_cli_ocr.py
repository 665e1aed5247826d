"""`photoclip ocr` and the OCR lines of `status`, as a new user meets them."""

from __future__ import annotations

import os

import pytest
from bench_ocr import fonts_present, receipts_folder
from cli_support import run, run_json

from photoclip.config import Settings, library_dir

pytestmark = pytest.mark.slow


def test_read_then_find_a_receipt_by_a_word(capsys, tmp_path, tiny_clip_dir):
    pytest.importorskip("rapidocr_onnxruntime")
    if not fonts_present():
        pytest.skip("needs fonts-dejavu and fonts-droid-fallback (.ci/run installs them)")
    folder = receipts_folder(tmp_path / "Receipts")
    run_json(capsys, "add", str(folder), "--model", str(tiny_clip_dir))  # with OCR off
    _turn_ocr_on_without_reading()
    before = run_json(capsys, "status")["ocr"]
    assert (before["read"], before["photos"]) == (0, 6)
    done = run_json(capsys, "ocr")
    assert (done["with_text"], done["failed"]) == (4, 0)
    assert run_json(capsys, "ocr")["read"] == 0  # resumable: nothing left to read
    hits = run_json(capsys, "search", "total", "37.80")["results"]
    assert os.path.basename(hits[0]["path"]) == "ikea.jpg"
    only = run_json(capsys, "search", 'text:"boarding pass"')["results"]
    assert [os.path.basename(h["path"]) for h in only] == ["boarding.jpg"]
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert "text:    read 6 of 6 photos, 4 with text" in out


def _turn_ocr_on_without_reading() -> None:
    path = library_dir() / "settings.json"
    settings = Settings.load(path)
    settings.ocr = True
    settings.save(path)


def test_off_and_missing_package_say_how_to_turn_it_on(capsys, monkeypatch):
    assert run_json(capsys, "ocr", "--off") == {"ocr": False}
    code, _, err = run(capsys, "ocr")
    assert code == 1
    assert "photoclip ocr --on" in err
    _, out, _ = run(capsys, "status")
    assert "text:    off" in out
    monkeypatch.setattr("photoclip.core.ocr.door.available", lambda: False)
    code, _, err = run(capsys, "ocr", "--on")
    assert code == 1
    assert "pip install 'photoclip[ocr]'" in err


def test_add_reads_the_text_of_new_photos_and_says_so(capsys, tmp_path, tiny_clip_dir,
                                                       ocr_on):
    """With reading text on (a user's default), `add` reads the new photos' text after
    embedding them and reports it: in the JSON, and as a line after the indexing summary."""
    pytest.importorskip("rapidocr_onnxruntime")
    from PIL import Image
    folder = tmp_path / "Plain"
    folder.mkdir()
    for i, colour in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)]):
        Image.new("RGB", (120, 90), colour).save(folder / f"p{i}.jpg")
    data = run_json(capsys, "add", str(folder), "--model", str(tiny_clip_dir))
    assert data["index"]["text_read"] == 3 if "index" in data else data["text_read"] == 3
    more = tmp_path / "More"
    more.mkdir()
    Image.new("RGB", (120, 90), (90, 90, 90)).save(more / "grey.jpg")
    code, _, err = run(capsys, "add", str(more))
    assert code == 0
    assert "read text in 1 photo(s)" in err
