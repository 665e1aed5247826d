"""The OCR figures of `photoclip bench` (photoclip/bench_text.py), on smaller photos."""

from __future__ import annotations

import pytest

from photoclip.bench_text import measure


def test_bench_reports_text_pass_rates_and_the_library_estimate(tmp_path):
    pytest.importorskip("rapidocr_onnxruntime")
    r = measure(tmp_path, cores=2, size=(1200, 900))
    assert r["ocr_text_photo_state"] == "text"  # the receipt was read, not skipped
    for key in ("ocr_text_photos_per_s_per_core", "ocr_no_text_photos_per_s_per_core",
                "ocr_probe_photos_per_s_per_core", "ocr_library_hours"):
        assert r[key] > 0, key
    assert r["ocr_library_hours_if_skipped"] <= r["ocr_library_hours"]


def test_without_the_package_bench_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr("photoclip.bench_text.available", lambda: False)
    assert measure(tmp_path, cores=2) == {"ocr": "not installed: pip install 'photoclip[ocr]'"}
