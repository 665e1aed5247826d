"""The viewer's EXIF summary line: camera, lens, exposure, aperture, focal length, ISO and date
taken, read with Pillow from the file's header (no pixels decoded). Called off the UI thread."""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

from PIL import Image

from photoclip.core import api

log = logging.getLogger(__name__)

_MAKE, _MODEL, _DATETIME, _EXIF_IFD = 0x010F, 0x0110, 0x0132, 0x8769
_EXPOSURE, _FNUMBER, _ISO, _TAKEN, _FOCAL, _LENS = 0x829A, 0x829D, 0x8827, 0x9003, 0x920A, 0xA434
_MAX_TEXT = 60  # a camera or lens name longer than this is cut (hostile or broken EXIF)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = "".join(ch for ch in str(value or "") if ch.isprintable()).strip(" \0")
    return text[:_MAX_TEXT]


def _number(value: Any) -> float | None:
    try:
        if isinstance(value, tuple):  # (numerator, denominator), or several values
            value = value[0] / value[1] if len(value) == 2 else value[0]
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return number if number == number and number > 0 else None  # not NaN, not 0 or less


def _exposure(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:g} s"
    if seconds < 0.5:
        return f"1/{round(1 / seconds)} s"
    return f"{Fraction(seconds).limit_denominator(10)} s"


def exif_summary(path: str) -> str:
    """"Canon EOS R5 · RF 24-70mm · 1/250 s · f/2.8 · 50 mm · ISO 400 · 2021-05-01 10:00", the
    parts the file has; "" when it has none or cannot be read."""
    try:
        # The formats photoclip opens (HEIC included, once registered), no exotic plugin.
        with Image.open(path, formats=api.open_formats()) as img:
            exif = img.getexif()
            sub = dict(exif.get_ifd(_EXIF_IFD))
    except Exception as exc:  # a broken or hostile file: no summary, never a crash
        log.debug("no EXIF from %r: %s", path, exc)
        return ""
    make, model = _text(exif.get(_MAKE)), _text(exif.get(_MODEL))
    camera = model if make and model.lower().startswith(make.split()[0].lower()) else (
        f"{make} {model}".strip())
    parts = [camera, _text(sub.get(_LENS))]
    exposure, fnumber = _number(sub.get(_EXPOSURE)), _number(sub.get(_FNUMBER))
    focal, iso = _number(sub.get(_FOCAL)), _number(sub.get(_ISO))
    parts += [_exposure(exposure) if exposure else "", f"f/{fnumber:g}" if fnumber else "",
              f"{focal:g} mm" if focal else "", f"ISO {iso:g}" if iso else ""]
    taken = _text(sub.get(_TAKEN) or exif.get(_DATETIME))
    if len(taken) >= 16 and taken[4] == ":":  # "2021:05:01 10:00:00" -> "2021-05-01 10:00"
        taken = f"{taken[:10].replace(':', '-')} {taken[11:16]}"
    parts.append(taken)
    return "  ·  ".join(p for p in parts if p)
