"""Engines the OCR reader's child process makes in tests (`LibraryOcr.factory =
"ocr_fakes:hostile"`): they answer by a photo's top-left colour, and some colours are hostile."""

from __future__ import annotations

import os
import time

import numpy as np
from PIL import Image

from photoclip.core.ocr import Line

CRASH = (200, 10, 10)  # the native runtime dies (abort: no Python exception, no cleanup)
HANG = (10, 10, 200)  # it never answers
BLANK = (250, 250, 250)  # no text


class HostileEngine:
    def text_map(self, image: np.ndarray) -> np.ndarray:
        return np.ones(image.shape[:2], np.float32)  # every photo is worth reading

    def read(self, image: Image.Image) -> list[Line]:
        key = tuple(image.convert("RGB").getpixel((0, 0)))
        if key == CRASH:
            os.abort()
        if key == HANG:
            time.sleep(3600)
        if key == BLANK:
            return []
        return [Line(f"colour {'-'.join(map(str, key))}", 0.9,
                     ((1, 1), (20, 1), (20, 8), (1, 8)))]


def hostile() -> HostileEngine:
    return HostileEngine()
