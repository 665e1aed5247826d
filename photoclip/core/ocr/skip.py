"""Is recognition worth running on this photo? The detector's own answer, at reduced size.

Recognition costs ~10x CLIP per photo; most photos hold no text. The PP-OCRv4 detector's
probability map at SKIP_SIDE (long side) costs about a seventh of a full read of a 1200x900
photo (measured on 2 loaded cores: 0.15 s vs 1.0-1.3 s) and is near zero everywhere on a photo
without text (natural photos: no pixel above 0.3; small text: hundreds). The threshold is set
low to keep recall: a photo wrongly read costs one full read whose lines then fail the
recogniser's confidence; a photo wrongly skipped loses its text from search.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PIL import Image

from photoclip.core.ocr.engine import TILE_ASPECT

# Long side of the probe: 480 keeps ~12 px cap height text of a 1200 px photo visible to the
# detector (5 px at the probe) at ~1/7 of a full read; 320 is cheaper but loses it.
SKIP_SIDE = 480
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
