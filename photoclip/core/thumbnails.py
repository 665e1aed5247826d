"""Thumbnails on disk: their size, where each one lives, how it is written, and when it is
made again.

One JPEG per content hash (`<library>/thumbnails/ab/<hash>.jpg`), THUMB_SIZE px on its longer
side, made by the indexer from the decode it does anyway: a moved photo keeps its thumbnail and
the GUI never decodes an original to fill its grid (it scales these down to its own icon size).

A thumbnail is written atomically through `storage.replacing`, so a reader never sees half of
one. One that is missing, empty or cut short (a power cut between the rename and the data
reaching the disk, a full disk, a hand-edited cache) is made again the next time the indexer
reads its photo, or when a viewer asks for it (`ensure`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

from photoclip.core.imaging import decode, to_rgb
from photoclip.core.storage import atomic_write

# Longer side, in pixels, of the thumbnails stored on disk. Viewers scale them to their own
# display size (the grid's icons are smaller); decoding for the index aims at least this big.
THUMB_SIZE = 256
JPEG_QUALITY = 85
# Every JPEG starts with SOI and a whole one ends with EOI; Pillow writes nothing after EOI.
_JPEG_START = b"\xff\xd8"
_JPEG_END = b"\xff\xd9"


def thumbnail_path(thumbnails_dir: Path, digest: str) -> Path:
    """Where the thumbnail of the photo with content hash `digest` lives. Keyed by content, not
    path: a moved or renamed photo keeps its thumbnail."""
    return thumbnails_dir / digest[:2] / f"{digest}.jpg"


def make_thumbnail(image: Image.Image, size: int = THUMB_SIZE) -> Image.Image:
    """Return a new RGB image fitting in size x size with the same aspect; never upscales."""
    if size < 1:
        raise ValueError(f"thumbnail size must be positive, got {size}")
    rgb = to_rgb(image)
    w, h = rgb.size
    if w <= size and h <= size:
        # The caller may mutate the result, so never hand back its own input.
        return rgb.copy() if rgb is image else rgb
    scale = size / max(w, h)
    target = (max(1, min(size, round(w * scale))), max(1, min(size, round(h * scale))))
    # reducing_gap lets Pillow box-reduce first, so a full-size source stays cheap.
    return rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)


def save_thumbnail(image: Image.Image, dest: Path, size: int = THUMB_SIZE) -> None:
    """Write a JPEG thumbnail of `image` to `dest` atomically: readers never see a half-written
    file, and a failed write leaves the old one (if any) and no temp file."""
    out = io.BytesIO()
    make_thumbnail(image, size).save(out, format="JPEG", quality=JPEG_QUALITY)
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, out.getvalue())


def is_intact(path: Path) -> bool:
    """Whether `path` holds a whole thumbnail: a JPEG from its start marker to its end marker.
    False for a missing, empty or truncated file. Two tiny reads, cheap enough to ask for
    every photo the indexer reads."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_JPEG_START))
            f.seek(-len(_JPEG_END), os.SEEK_END)  # OSError for a file shorter than that
            tail = f.read(len(_JPEG_END))
    except OSError:
        return False
    return head == _JPEG_START and tail == _JPEG_END


def ensure(dest: Path, original: str | os.PathLike[str], size: int = THUMB_SIZE) -> bool:
    """Make the thumbnail `dest` from the photo `original` unless a whole one is there already:
    for a viewer that finds one missing or damaged. True if it was (re)made. Raises ImageError
    when the original cannot be decoded, OSError when the thumbnail cannot be written."""
    if is_intact(dest):
        return False
    save_thumbnail(decode(original, size).image, dest, size)
    return True
