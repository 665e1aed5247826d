"""The recogniser: RapidOCR (PP-OCRv4 detection, direction and recognition, Chinese and
English, run by onnxruntime), loaded on first use, fed bounded images, never trusted to behave.

- Input is bounded: a photo is decoded at most MAX_SIDE on its long side; a panorama or a tall
  screenshot whose text would shrink too far is cut into overlapping tiles instead (at most
  MAX_TILES), each read at MAX_SIDE.
- Output is bounded: at most MAX_BOXES boxes per image (a photo of a page of small print, a
  texture the detector mistakes for text) go to the recogniser.
- Any exception inside the runtime becomes an OcrError with one short reason, which the text
  pass records once for that photo; it never reaches the app. (A crash of the native runtime
  itself would take the process down: running it in a child process is future work.)
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from photoclip.core.errors import PhotoclipError

log = logging.getLogger(__name__)

# What the user is told when the optional package is missing (like rawpy for RAW).
ENABLE_HINT = "pip install 'photoclip[ocr]'"
# Long side the recogniser reads at: RapidOCR's own ceiling; a 12-MP photo's 20 px text is
# still ~10 px here, which PP-OCRv4 reads.
MAX_SIDE = 2000
# Tiles when the long side is this many times the short one or more (panoramas, long
# screenshots): shrinking them whole would make their text unreadably small.
TILE_ASPECT = 2.5
MAX_TILES = 8
TILE_OVERLAP = 0.1  # a line cut by one tile's edge is whole in its neighbour
# Boxes passed to the recogniser per image: a page of small print has a few hundred lines;
# thousands are a texture, and reading them would take minutes.
MAX_BOXES = 300
# Lines the recogniser is less sure of than this are dropped (RapidOCR's own default).
MIN_CONFIDENCE = 0.5
# Lines with fewer letters or digits than this are dropped: on photos without text the
# recogniser's only findings were single shapes read as "O", "C", "口", "■" (7 of 100
# generated photos); a one-character sign is rarely what anyone searches for.
MIN_CHARACTERS = 2


class OcrUnavailable(PhotoclipError):
    """The optional OCR package is not installed (or does not load)."""


class OcrError(Exception):
    """Reading one image failed; str() is the reason recorded for the photo."""


@dataclass(frozen=True)
class Line:
    text: str
    confidence: float
    box: tuple[tuple[int, int], ...]  # four corners in the photo's pixels, clockwise


def available() -> bool:
    """Whether the `ocr` extra is installed."""
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except Exception:
        return False
    return True


class OcrEngine:
    """One RapidOCR instance, made on first use; calls are serialised (onnxruntime sessions
    are thread-safe, RapidOCR's per-call settings are not). `threads`: onnxruntime's intra-op
    threads (None: its default, every core)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self._ocr: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._ocr is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except Exception as exc:
                raise OcrUnavailable(
                    f"Reading text in photos needs the optional OCR package: {ENABLE_HINT} "
                    f"({type(exc).__name__}: {exc})") from None
            n = self.threads or -1
            options: dict[str, Any] = {"det_max_candidates": MAX_BOXES,
                                       "intra_op_num_threads": n}
            try:
                ocr = RapidOCR(**options)
            except Exception:  # an older 1.4 without some keyword: defaults, then set them
                ocr = RapidOCR()
            ocr.text_det.postprocess_op.max_candidates = MAX_BOXES
            self._ocr = ocr
        return self._ocr

    def load(self) -> None:
        """Load the models now (raises OcrUnavailable without the package)."""
        with self._lock:
            self._load()

    def text_map(self, image: np.ndarray) -> np.ndarray:
        """The detector's text-probability map of an RGB uint8 image whose sides are
        multiples of 32 (skip.py shrinks it first): what the skip decision looks at."""
        with self._lock:
            det = self._load().text_det
            try:
                x = (image.astype(np.float32) / 255.0 - 0.5) / 0.5
                x = x[:, :, ::-1].transpose(2, 0, 1)[None].copy()  # BGR, as it was trained
                return np.asarray(det.infer(x)[0])[0, 0]
            except Exception as exc:
                raise OcrError(f"text detector failed: {type(exc).__name__}: {exc}") from exc

    def read(self, image: Image.Image) -> list[Line]:
        """Every line of text in an upright RGB image, top to bottom, in its pixels."""
        lines: list[Line] = []
        for tile, (ox, oy), scale in tiles(image):
            lines += self._read_one(tile, ox, oy, scale)
            if len(lines) >= MAX_BOXES:
                break
        return dedupe(lines)[:MAX_BOXES]

    def _read_one(self, tile: Image.Image, ox: int, oy: int, scale: float) -> list[Line]:
        bgr = np.asarray(tile.convert("RGB"))[:, :, ::-1].copy()
        with self._lock:
            ocr = self._load()
            try:
                result, _ = ocr(bgr)
            except Exception as exc:
                raise OcrError(f"text recogniser failed: {type(exc).__name__}: {exc}") from exc
        out: list[Line] = []
        for item in result or ():
            try:
                box, text, conf = item[0], str(item[1]), float(item[2])
            except (IndexError, TypeError, ValueError):
                continue
            if conf < MIN_CONFIDENCE or sum(ch.isalnum() for ch in text) < MIN_CHARACTERS:
                continue
            corners = tuple((round(ox + float(x) / scale), round(oy + float(y) / scale))
                            for x, y in box)
            out.append(Line(text.strip(), round(conf, 4), corners))
        return out


def tiles(image: Image.Image) -> list[tuple[Image.Image, tuple[int, int], float]]:
    """(tile, its offset in the photo, scale of the tile vs the photo) for reading `image` at
    most MAX_SIDE per tile; a long image is cut along its long side."""
    w, h = image.size
    long, short = max(w, h), max(1, min(w, h))
    if long <= MAX_SIDE:
        return [(image, (0, 0), 1.0)]
    if long / short < TILE_ASPECT:
        scale = MAX_SIDE / long
        return [(image.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                              Image.Resampling.LANCZOS), (0, 0), scale)]
    # Tiles of the short side's length (or MAX_SIDE), overlapping, at most MAX_TILES: past
    # that the image is shrunk so MAX_TILES cover it.
    span = min(short, MAX_SIDE)
    step = int(span * (1 - TILE_OVERLAP))
    count = 1 + max(0, -(-(long - span) // step))
    scale = 1.0
    if count > MAX_TILES:
        scale = (span + step * (MAX_TILES - 1)) / long
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                             Image.Resampling.LANCZOS)
        w, h = image.size
        long = max(w, h)
        count = MAX_TILES
    if min(w, h) > MAX_SIDE:  # a huge panorama: bound the short side too
        shrink = MAX_SIDE / min(w, h)
        image = image.resize((max(1, round(w * shrink)), max(1, round(h * shrink))),
                             Image.Resampling.LANCZOS)
        scale *= shrink
        w, h = image.size
        long = max(w, h)
        span = min(w, h)
        step = int(span * (1 - TILE_OVERLAP))
        count = min(MAX_TILES, 1 + max(0, -(-(long - span) // step)))
    out = []
    for i in range(count):
        start = min(i * step, max(0, long - span))
        box = (start, 0, start + span, h) if w >= h else (0, start, w, start + span)
        offset = (box[0], box[1])
        out.append((image.crop(box), (round(offset[0] / scale), round(offset[1] / scale)),
                    scale))
    return out


def dedupe(lines: list[Line]) -> list[Line]:
    """Drop a line read twice where tiles overlap (same text, boxes overlapping), keeping the
    more confident reading; order top to bottom, left to right."""
    kept: list[Line] = []
    for line in sorted(lines, key=lambda ln: -ln.confidence):
        if any(k.text == line.text and _overlap(k.box, line.box) for k in kept):
            continue
        kept.append(line)
    return sorted(kept, key=lambda ln: (min(y for _, y in ln.box), min(x for x, _ in ln.box)))


def _overlap(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> bool:
    ax0, ax1 = min(x for x, _ in a), max(x for x, _ in a)
    ay0, ay1 = min(y for _, y in a), max(y for _, y in a)
    bx0, bx1 = min(x for x, _ in b), max(x for x, _ in b)
    by0, by1 = min(y for _, y in b), max(y for _, y in b)
    return ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1
