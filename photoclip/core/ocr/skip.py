"""Is recognition worth running on this photo? The detector's own answer, at reduced size.

Recognition costs ~10x CLIP per photo; most photos hold no text. The PP-OCRv4 detector's
probability map at SKIP_SIDE (long side) is near zero everywhere on most photos without text
and lights up hundreds of pixels for a word. Measured on generated 1200x900 photos (100 with
one word, 100 without; tests/bench_ocr.py), one core, CPU seconds per photo:

    probe side   words 12-19 px / 20-29 / 30+ kept   photos without text read   cost
    480          0.60 / 0.95 / 1.00                   15%                        0.041
    600          0.90 / 1.00 / 1.00                   38%                        0.065
    720          0.93 / 1.00 / 1.00                   51%                        0.128

against 0.52 s for a full read of a 1200x900 page. 600 keeps every word of 20 px cap height
and more at an eighth of a full read. What it cannot see is text smaller than about 1/100 of
the photo's long side (a 12-MP photo's 20 px print): such photos are skipped. Photos read
without need are mostly textures (brick, gravel, grass in the generated set); their full read
then finds nothing (the recogniser's lines fail its confidence or MIN_CHARACTERS).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PIL import Image

from photoclip.core.ocr.engine import TILE_ASPECT

# Long side of the probe (the table above): every 20 px word of a 1200 px photo, 1/8 the cost.
SKIP_SIDE = 600
# The detector's binarisation threshold (DBNet, RapidOCR's default).
TEXT_PROB = 0.3
# Pixels of the probe map above TEXT_PROB that make a photo worth reading: a short word at
# 12 px cap height lights up ~100; natural photos none or a stray few.
MIN_TEXT_PIXELS = 8


class TextMapper(Protocol):
    def text_map(self, image: np.ndarray) -> np.ndarray: ...


def probe(image: Image.Image, side: int = SKIP_SIDE) -> np.ndarray:
    """`image` shrunk so its long side is about `side`, each side a multiple of 32 (the
    detector's stride), as an RGB uint8 array."""
    w, h = image.size
    scale = min(1.0, side / max(w, h))
    pw = max(32, round(w * scale / 32) * 32)
    ph = max(32, round(h * scale / 32) * 32)
    return np.asarray(image.convert("RGB").resize((pw, ph), Image.Resampling.BILINEAR))


def worth_reading(engine: TextMapper, image: Image.Image) -> bool:
    """True when the detector sees text in the reduced photo (or the photo is too long to
    judge shrunk: panoramas and long screenshots are always read)."""
    w, h = image.size
    if max(w, h) / max(1, min(w, h)) >= TILE_ASPECT:
        return True
    probability = engine.text_map(probe(image))
    return int((probability > TEXT_PROB).sum()) >= MIN_TEXT_PIXELS
