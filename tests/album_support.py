"""Generated albums for training and evaluation tests (not collected: no test_ prefix).

tests/ is on sys.path because its conftest.py lives there, so any test can import this."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220)}


def colour_albums(root: Path, colours: dict[str, tuple[int, int, int]] = COLOURS,
                  per_album: int = 8) -> Path:
    """root/<colour>/*.jpg: a colour patch on a noisy grey background."""
    rng = np.random.default_rng(0)
    for name, rgb in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(per_album):
            pixels = rng.normal(128, 20, (80, 96, 3))
            y, x = rng.integers(0, 40, 2)
            pixels[y : y + 40, x : x + 50] = rgb
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
                root / name / f"{i}.jpg", quality=90)
    return root
