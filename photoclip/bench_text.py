"""`photoclip bench`: the text pass's figures (OCR, core/ocr), measured in the same run.

On two generated 12-MP phone photos, one of a receipt-like page of text and one photo-like
without text (bench.make_photos), each read as the text pass reads it (decode at a bounded
size, the detector's skip probe, recognition) with onnxruntime on one thread:
- photos/s per core with and without text, from the CPU seconds the read took (so a busy
  machine does not make the figure look worse than the work is), and the wall-clock rate;
- what the detector decided for each (read or skipped), and the cost of decode + the probe
  alone (what a photo it skips costs);
- the hours a 50,000-photo library with 10% text photos would take on this machine's cores,
  with its photos without text all read in full, and all skipped by the probe.

The CLIP pipeline's figures beside them are unchanged by OCR: the text pass runs after a run's
embedding (Indexer.after_run) and its rate is taken before it (IndexReport.rate).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from photoclip.core.imaging import decode
from photoclip.core.ocr.engine import OcrEngine, available
from photoclip.core.ocr.skip import worth_reading
from photoclip.core.ocr.worker import DECODE_MIN_SIDE, read_photo

PHOTO_SIZE = (4000, 3000)
LIBRARY, TEXT_SHARE = 50_000, 0.10  # the library the estimate is for
REPEATS = 2  # reads per photo after a warm-up; the fastest counts (noise only adds)
LINES = ["IKEA KAARST", "BILLY BOOKCASE   49.99", "LACK TABLE   12.99", "KALLAX   79.00",
         "TOTAL 141.98 EUR", "VISA **** 4242", "THANK YOU  DANKE"]


def text_photo(path: Path, size: tuple[int, int] = PHOTO_SIZE) -> Path:
    """A receipt-like page filling a phone photo: lines of ~60 px cap height, dark on light."""
    img = Image.new("RGB", size, (238, 236, 230))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=84)
    y = size[1] // 10
    for line in LINES:
        draw.text((size[0] // 8, y), line, fill=(25, 25, 30), font=font)
        y += size[1] // 10
    img.save(path, quality=90)
    return path


def _timed(engine: OcrEngine, path: Path) -> tuple[float, float, str]:
    """(CPU s, wall s, state) of the fastest of REPEATS reads."""
    best = (float("inf"), float("inf"), "")
    for _ in range(REPEATS):
        cpu, wall = time.thread_time(), time.perf_counter()
        state, _lines = read_photo(engine, str(path), skip=True)
        took = (time.thread_time() - cpu, time.perf_counter() - wall, state)
        best = min(best, took)
    return best


def _probe_cpu(engine: OcrEngine, path: Path) -> float:
    """CPU s of decode + the detector's probe alone: what a photo the probe skips costs."""
    best = float("inf")
    for _ in range(REPEATS):
        cpu = time.thread_time()
        worth_reading(engine, decode(str(path), DECODE_MIN_SIDE).image)
        best = min(best, time.thread_time() - cpu)
    return best


def measure(tmp: Path, cores: int, cancel: threading.Event | None = None,
            size: tuple[int, int] = PHOTO_SIZE) -> dict[str, Any]:
    """The `ocr_*` figures of `photoclip bench` (empty-handed, with the reason, when the
    `ocr` extra is not installed)."""
    if not available():
        return {"ocr": "not installed: pip install 'photoclip[ocr]'"}
    from photoclip.bench import make_photos

    folder = tmp / "ocr"
    folder.mkdir(parents=True, exist_ok=True)
    with_text = text_photo(folder / "receipt.jpg", size)
    without = make_photos(folder, 1, size, seed=7)[0]
    engine = OcrEngine(threads=1)  # per core: onnxruntime's work in the calling thread
    read_photo(engine, str(with_text), skip=True)  # load the models, warm the sessions
    if cancel is not None and cancel.is_set():
        return {}
    t_cpu, t_wall, t_state = _timed(engine, with_text)
    n_cpu, n_wall, n_state = _timed(engine, without)
    p_cpu = _probe_cpu(engine, without)
    per_photo = TEXT_SHARE * t_cpu + (1 - TEXT_SHARE) * n_cpu  # CPU s, on average
    return {
        "ocr_probe_photos_per_s_per_core": round(1 / max(p_cpu, 1e-6), 3),
        "ocr_text_photos_per_s_per_core": round(1 / max(t_cpu, 1e-6), 3),
        "ocr_no_text_photos_per_s_per_core": round(1 / max(n_cpu, 1e-6), 3),
        "ocr_text_photos_per_s_wall": round(1 / max(t_wall, 1e-6), 3),
        "ocr_no_text_photos_per_s_wall": round(1 / max(n_wall, 1e-6), 3),
        "ocr_text_photo_state": t_state,  # "text": it was read
        "ocr_no_text_photo_state": n_state,  # "skipped": the probe saw no text
        # Every photo without text read in full (as the one here was, if its state is "none"),
        # and every one skipped by the probe: real libraries fall between.
        "ocr_library_hours": round(LIBRARY * per_photo / max(1, cores) / 3600, 2),
        "ocr_library_hours_if_skipped": round(
            LIBRARY * (TEXT_SHARE * t_cpu + (1 - TEXT_SHARE) * p_cpu) / max(1, cores) / 3600, 2),
        "ocr_library": f"{LIBRARY} photos, {TEXT_SHARE:.0%} with text, {cores} core(s)",
    }
