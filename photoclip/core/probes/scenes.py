"""Generated scenes: coloured shapes (and written words) on a plain noisy background, drawn
with PIL at any size from a size-free description, so one probe item is the same picture for
every model's input size.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40), "green": (40, 160, 60), "blue": (40, 80, 215),
    "yellow": (235, 200, 40),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
# DejaVu Sans Bold (Debian's fonts-dejavu-core); elsewhere Pillow's own scalable font.
FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "DejaVuSans-Bold.ttf")


@dataclass(frozen=True)
class Shape:
    """One shape; x, y (centre) and r (radius) are fractions of the picture's side."""

    shape: str
    colour: str
    x: float
    y: float
    r: float


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    noise_seed: int  # the background's grey, tint and noise
    text: str = ""  # written across the middle of the first shape (typographic probes)

    def draw(self, size: int) -> Image.Image:
        return draw_scene(self, size)


def plural(shape: str) -> str:
    return shape + "s"


def draw_scene(scene: Scene, size: int) -> Image.Image:
    rng = np.random.default_rng(scene.noise_seed)
    grey = int(rng.integers(150, 230))
    tint = rng.integers(-12, 13, 3)
    noise = rng.normal(0, 5, (size, size, 3))
    background = np.clip(np.full((size, size, 3), grey) + tint + noise, 0, 255)
    image = Image.fromarray(background.astype(np.uint8))
    pen = ImageDraw.Draw(image)
    for s in scene.shapes:
        draw_shape(pen, s.shape, COLOURS[s.colour], s.x * size, s.y * size, s.r * size)
    if scene.text and scene.shapes:
        first = scene.shapes[0]
        cx = first.x * size
        write(pen, scene.text, cx, first.y * size, max_width=1.8 * min(cx, size - cx))
    return image


def draw_shape(pen: ImageDraw.ImageDraw, shape: str, fill: tuple[int, int, int],
               cx: float, cy: float, r: float) -> None:
    if shape == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        return
    if shape == "square":
        # As wide as the circle of the same radius, so size is no clue to the shape.
        pen.rectangle([cx - r * 0.9, cy - r * 0.9, cx + r * 0.9, cy + r * 0.9], fill=fill)
        return
    if shape == "triangle":
        points = [(cx + r * math.cos(-math.pi / 2 + 2 * math.pi * k / 3),
                   cy + r * 1.1 * math.sin(-math.pi / 2 + 2 * math.pi * k / 3) + r * 0.15)
                  for k in range(3)]
        pen.polygon(points, fill=fill)
        return
    raise ValueError(f"unknown shape {shape!r}")


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in FONT_FILES:
        if candidate.startswith("/") and not Path(candidate).is_file():
            continue
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    log.info("DejaVu Sans Bold not found; writing with Pillow's default font")
    return ImageFont.load_default(size)


def font_name() -> str:
    """The font the typographic probe writes with (for the report)."""
    f = font(12)
    name = getattr(f, "getname", None)
    return " ".join(n for n in name() if n) if callable(name) else "Pillow default"


def write(pen: ImageDraw.ImageDraw, text: str, cx: float, cy: float, max_width: float) -> None:
    """Black text with a white outline, centred at (cx, cy), as large as fits max_width."""
    size = max(6, int(max_width / 4))
    while size > 6:
        left, _, right, _ = pen.textbbox((0, 0), text, font=font(size))
        if right - left <= max_width:
            break
        size -= 1
    stroke = max(1, size // 10)
    pen.text((cx, cy), text, font=font(size), fill=(0, 0, 0), anchor="mm",
             stroke_width=stroke, stroke_fill=(255, 255, 255))


# -- placing shapes ----------------------------------------------------------------------------


def spread(rng: np.random.Generator, n: int, r: float,
           tries: int = 200) -> list[tuple[float, float]]:
    """n centres in [r, 1 - r]^2 whose shapes (radius r) do not touch."""
    for _ in range(tries):
        points: list[tuple[float, float]] = []
        for _ in range(n * 30):
            x, y = (float(v) for v in rng.uniform(r, 1 - r, 2))
            if all(math.hypot(x - a, y - b) > 2.2 * r for a, b in points):
                points.append((x, y))
                if len(points) == n:
                    return points
    raise ValueError(f"cannot place {n} shapes of radius {r}")


def pair_in_relation(rng: np.random.Generator, relation: str,
                     r: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Centres of (first, second) with first `relation` second, unmistakably: the gap along the
    relation's axis is at least 2.4 radii and the offset across it under half the gap."""
    margin = r * 1.05
    while True:
        a = rng.uniform(margin, 1 - margin, 2)
        b = rng.uniform(margin, 1 - margin, 2)
        axis = 0 if relation in ("left of", "right of") else 1
        gap = b[axis] - a[axis]
        if relation in ("right of", "below"):
            gap = -gap
        if gap >= 2.4 * r and abs(a[1 - axis] - b[1 - axis]) < gap / 2:
            return (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))
