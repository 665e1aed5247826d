"""Finding photos by the words in them: on-device OCR (PP-OCRv4 through RapidOCR).

engine.py (the recogniser, bounded and fenced), skip.py (detector-only probe: worth reading?),
normalise.py (one form for stored and typed text), store.py (catalog table + trigram index),
job.py (the text pass), search.py (text matches for the searcher).
"""

from __future__ import annotations

from photoclip.core.ocr.engine import ENABLE_HINT, Line, OcrEngine, OcrError, OcrUnavailable
from photoclip.core.ocr.engine import available as ocr_available
from photoclip.core.ocr.job import OcrJob, OcrReport
from photoclip.core.ocr.store import PhotoText, TextStore

__all__ = ["ENABLE_HINT", "Line", "OcrEngine", "OcrError", "OcrJob", "OcrReport",
           "OcrUnavailable", "PhotoText", "TextStore", "ocr_available"]
