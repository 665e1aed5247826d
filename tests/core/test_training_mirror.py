"""Horizontal flips never contradict a caption that says "left" or "right" (issue 22)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from photoclip.core.training.data import (
    Photos,
    Preprocessing,
    Sample,
    load_photos,
    mirror_safe,
)


def test_captions_with_sides_are_not_mirror_safe():
    assert mirror_safe("red circle")
    assert mirror_safe("a bright photo of the Leftovers")  # not a side
    assert not mirror_safe("ball left of the box")
    assert not mirror_safe("Right hand")


def test_a_photo_whose_caption_says_left_is_never_flipped(tiny_encoder, tmp_path):
    # Left half black, right half white: a flip is plain to see.
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[:, 32:] = 255
    Image.fromarray(pixels).save(tmp_path / "p.png")
    photos = Photos(Preprocessing.of(tiny_encoder))
    list(load_photos([Sample(str(tmp_path / "p.png"), 0)], photos))
    idx = [0] * 32

    def left_brighter(batch: np.ndarray) -> np.ndarray:
        half = batch.shape[-1] // 2
        return batch[..., :half].mean(axis=(1, 2, 3)) > batch[..., half:].mean(axis=(1, 2, 3))

    free = photos.train_pixels(idx, np.random.default_rng(0))
    kept = photos.train_pixels(idx, np.random.default_rng(0), [False] * 32)
    assert left_brighter(free).any()  # flips happen where allowed
    assert not left_brighter(kept).any()  # never where the caption says a side
