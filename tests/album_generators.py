"""Photo-album generators that differ from the training proof's (tests/core/training_support.py).

Each writes root/<label>/NNN.jpg like a user's albums: a coloured shape (the label, "red
circle") on a background the model must learn to ignore. They differ from the proof's generator
(64-px PNGs, flat noisy grey, large upright shapes) and from one another in background, clutter,
object size, rotation, blur, colour and JPEG size (128-512 px, often not square):

- ``gradient`` — the issue's albums: 256-px JPEGs, a two-colour linear gradient, one grey
  distractor blob, random rotation, a light blur.
- ``texture`` — a "real texture" background (summed sinusoids and noise, like fabric or
  foliage), 2-4 distractor blobs in colours no label uses, small objects (10-25 % of the
  side), 160-384 px, any aspect.
- ``clutter`` — a noisy photo-like scene (sky/ground split, vignette, lighting cast over the
  whole photo, label colours shifted in hue and brightness), one distractor shape of another
  kind, objects 15-40 %, 128-320 px, JPEG quality 40-90.
- ``holdout`` — NEVER used to tune the recipe; only to report on. Blurred textured background
  with a lighting gradient, off-centre objects that may touch the edge, two distractors (one in
  a label colour but a non-label shape: a ring or a bar), strong rotation, 240-512 px.
- ``photo`` — NEVER used to tune the recipe either (written after the recipe was chosen): a
  real photograph as background (a random crop of scikit-image's sample photos, rescaled and
  flipped), the object with a soft drop shadow and a darker outline under uneven lighting,
  1-3 distractors of shapes no label has (stars, crosses, long ellipses) in any colour,
  label colours included, brightness and contrast changes, 200-448 px, JPEG quality 55-95.

The labels are the proof's 12 (4 colours x 3 shapes), so figures compare; chance is 1/12.
"""

from __future__ import annotations

import colorsys
import math
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220),
           "yellow": (235, 205, 40)}
SHAPES = ("circle", "square", "triangle")
LABELS = tuple(f"{c} {s}" for c in COLOURS for s in SHAPES)
# Distractor colours no label uses (grey, brown, pink, cyan, purple, white, black).
OTHER_COLOURS = ((128, 128, 128), (120, 80, 40), (240, 150, 190), (60, 210, 220),
                 (140, 60, 170), (245, 245, 245), (20, 20, 20))
TUNED = ("gradient", "texture", "clutter")  # what the recipe may be tuned on
HOLDOUTS = ("holdout", "photo")  # reported only, never tuned on

Rng = np.random.Generator


def _jitter(colour: Sequence[int], rng: Rng, hue: float = 0.0, value: float = 0.0,
            spread: int = 20) -> tuple[int, int, int]:
    """A colour with noise per channel, and optionally a hue / brightness shift."""
    r, g, b = (np.clip(np.asarray(colour) + rng.integers(-spread, spread + 1, 3), 0, 255) / 255)
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    h = (h + rng.uniform(-hue, hue)) % 1.0
    v = float(np.clip(v * (1 + rng.uniform(-value, value)), 0.05, 1.0))
    rr, gg, bb = colorsys.hsv_to_rgb(h, s, v)
    return int(rr * 255), int(gg * 255), int(bb * 255)


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    corners = {"square": 4, "triangle": 3}[shape]
    start = angle + (math.pi / 4 if corners == 4 else -math.pi / 2)
    return [(cx + r * math.cos(start + 2 * math.pi * k / corners),
             cy + r * math.sin(start + 2 * math.pi * k / corners)) for k in range(corners)]


def _shape(pen: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float,
           angle: float, fill: tuple[int, int, int]) -> None:
    if shape == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "ring":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fill, width=max(2, int(r / 3)))
    elif shape == "bar":
        dx, dy = math.cos(angle) * r, math.sin(angle) * r
        pen.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=fill, width=max(2, int(r / 3)))
    else:
        pen.polygon(_polygon(shape, cx, cy, r, angle), fill=fill)


def _blob(pen: ImageDraw.ImageDraw, rng: Rng, w: int, h: int, size: float,
          fill: tuple[int, int, int]) -> None:
    """An irregular blob: a polygon of 7-11 points at random radii."""
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    n = int(rng.integers(7, 12))
    pts = [(cx + size * rng.uniform(0.5, 1.0) * math.cos(2 * math.pi * k / n),
            cy + size * rng.uniform(0.5, 1.0) * math.sin(2 * math.pi * k / n)) for k in range(n)]
    pen.polygon(pts, fill=fill)


def _texture(rng: Rng, w: int, h: int) -> np.ndarray:
    """Summed oriented sinusoids plus smoothed noise, in a random palette: fabric, bark..."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    field = np.zeros((h, w), np.float32)
    for _ in range(4):
        theta = rng.uniform(0, math.pi)
        freq = rng.uniform(0.02, 0.25)
        field += rng.uniform(0.3, 1.0) * np.sin(
            freq * (x * math.cos(theta) + y * math.sin(theta)) + rng.uniform(0, 6.3))
    coarse = rng.normal(0, 1, (h // 8 + 1, w // 8 + 1)).astype(np.float32)
    field += 1.5 * np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))
    field = (field - field.min()) / (np.ptp(field) + 1e-6)
    a = rng.integers(30, 200, 3)
    b = rng.integers(30, 200, 3)
    img = a[None, None, :] * (1 - field[..., None]) + b[None, None, :] * field[..., None]
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255)


def _save(image: Image.Image, path: Path, quality: int) -> None:
    image.convert("RGB").save(path, "JPEG", quality=quality)


def draw_gradient(label: str, rng: Rng) -> tuple[Image.Image, int]:
    size = 256
    colour, shape = label.split()
    c0, c1 = rng.integers(20, 235, 3), rng.integers(20, 235, 3)
    theta = rng.uniform(0, 2 * math.pi)
    y, x = np.mgrid[0:size, 0:size] / size
    t = np.clip(0.5 + (x - 0.5) * math.cos(theta) + (y - 0.5) * math.sin(theta), 0, 1)
    bg = c0 * (1 - t[..., None]) + c1 * t[..., None]
    image = Image.fromarray(bg.astype(np.uint8))
    pen = ImageDraw.Draw(image)
    grey = int(rng.integers(90, 170))
    _blob(pen, rng, size, size, rng.uniform(0.1, 0.2) * size, (grey, grey, grey))
    r = rng.uniform(0.15, 0.3) * size
    cx, cy = rng.uniform(r, size - r, 2)
    _shape(pen, shape, cx, cy, r, rng.uniform(0, 2 * math.pi), _jitter(COLOURS[colour], rng))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2.0)))
    return image, 90


def draw_texture(label: str, rng: Rng) -> tuple[Image.Image, int]:
    colour, shape = label.split()
    w, h = (int(v) for v in rng.integers(160, 385, 2))
    image = Image.fromarray(_texture(rng, w, h).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    side = min(w, h)
    for _ in range(int(rng.integers(2, 5))):
        fill = OTHER_COLOURS[int(rng.integers(len(OTHER_COLOURS)))]
        _blob(pen, rng, w, h, rng.uniform(0.06, 0.16) * side, _jitter(fill, rng))
    r = rng.uniform(0.05, 0.125) * side  # radius: the object is 10-25 % of the side
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    _shape(pen, shape, cx, cy, r, rng.uniform(0, 2 * math.pi), _jitter(COLOURS[colour], rng))
    return image, int(rng.integers(70, 95))


def draw_clutter(label: str, rng: Rng) -> tuple[Image.Image, int]:
    colour, shape = label.split()
    w, h = (int(v) for v in rng.integers(128, 321, 2))
    horizon = rng.uniform(0.3, 0.7) * h
    sky, ground = rng.integers(100, 240, 3), rng.integers(20, 150, 3)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    mix = (1 / (1 + np.exp(-(y - horizon) / 4)))[..., None]
    bg = sky * (1 - mix) + ground * mix + rng.normal(0, 12, (h, w, 3))
    image = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    side = min(w, h)
    other = ("ring", "bar")[int(rng.integers(2))]
    fill = OTHER_COLOURS[int(rng.integers(len(OTHER_COLOURS)))]
    _shape(pen, other, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.08, 0.18) * side,
           rng.uniform(0, math.pi), _jitter(fill, rng))
    r = rng.uniform(0.075, 0.2) * side
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    _shape(pen, shape, cx, cy, r, rng.uniform(-0.5, 0.5),
           _jitter(COLOURS[colour], rng, hue=0.03, value=0.25))
    arr = np.asarray(image).astype(np.float32)
    vignette = 1 - 0.35 * (((x - w / 2) / w) ** 2 + ((y - h / 2) / h) ** 2)[..., None] * 2
    cast = rng.uniform(0.8, 1.2, 3)
    arr = np.clip(arr * vignette * cast, 0, 255)
    return Image.fromarray(arr.astype(np.uint8)), int(rng.integers(40, 91))


def draw_holdout(label: str, rng: Rng) -> tuple[Image.Image, int]:
    colour, shape = label.split()
    w, h = (int(v) for v in rng.integers(240, 513, 2))
    image = Image.fromarray(_texture(rng, w, h).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 3.0)))
    pen = ImageDraw.Draw(image)
    side = min(w, h)
    fill = OTHER_COLOURS[int(rng.integers(len(OTHER_COLOURS)))]
    _blob(pen, rng, w, h, rng.uniform(0.08, 0.15) * side, _jitter(fill, rng))
    decoy = COLOURS[list(COLOURS)[int(rng.integers(len(COLOURS)))]]
    _shape(pen, ("ring", "bar")[int(rng.integers(2))], rng.uniform(0, w), rng.uniform(0, h),
           rng.uniform(0.06, 0.12) * side, rng.uniform(0, math.pi), _jitter(decoy, rng))
    r = rng.uniform(0.08, 0.18) * side
    cx, cy = rng.uniform(0.6 * r, w - 0.6 * r), rng.uniform(0.6 * r, h - 0.6 * r)
    _shape(pen, shape, cx, cy, r, rng.uniform(0, 2 * math.pi),
           _jitter(COLOURS[colour], rng, hue=0.02, value=0.2))
    arr = np.asarray(image).astype(np.float32)
    t = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(1.0, 1.3), w)[None, :, None]
    arr = np.clip(arr * t, 0, 255)
    image = Image.fromarray(arr.astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))
    return image, int(rng.integers(60, 92))


PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
          "hubble_deep_field.jpg", "retina.jpg", "color.png")
_photo_cache: dict[str, Image.Image] = {}


def _real_photo(rng: Rng) -> Image.Image:
    """One of scikit-image's sample photos (shipped in its wheel), as RGB."""
    from skimage import data

    name = PHOTOS[int(rng.integers(len(PHOTOS)))]
    if name not in _photo_cache:
        path = Path(data.__file__).parent / name
        _photo_cache[name] = Image.open(path).convert("RGB")
    return _photo_cache[name]


def _star(cx: float, cy: float, r: float, angle: float, points: int) -> list[tuple[float, float]]:
    return [(cx + (r if k % 2 == 0 else 0.45 * r) * math.cos(angle + math.pi * k / points),
             cy + (r if k % 2 == 0 else 0.45 * r) * math.sin(angle + math.pi * k / points))
            for k in range(2 * points)]


def _cross(cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    t = 0.3 * r
    arm = [(t, t), (r, t), (r, -t), (t, -t), (t, -r), (-t, -r), (-t, -t), (-r, -t), (-r, t),
           (-t, t), (-t, r), (t, r)]
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in arm]


def _ellipse(cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    pts = [(r * math.cos(2 * math.pi * k / 24), 0.35 * r * math.sin(2 * math.pi * k / 24))
           for k in range(24)]
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts]


def draw_photo(label: str, rng: Rng) -> tuple[Image.Image, int]:
    colour, shape = label.split()
    w, h = (int(v) for v in rng.integers(200, 449, 2))
    source = _real_photo(rng)
    scale = rng.uniform(0.6, 1.6)
    sw, sh = max(w, int(source.width * scale)), max(h, int(source.height * scale))
    big = source.resize((sw, sh), Image.Resampling.BILINEAR)
    left, top = int(rng.integers(0, sw - w + 1)), int(rng.integers(0, sh - h + 1))
    image = big.crop((left, top, left + w, top + h))
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    side = min(w, h)
    pen = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(3))
        pool = list(COLOURS.values()) + list(OTHER_COLOURS)
        fill = _jitter(pool[int(rng.integers(len(pool)))], rng)
        dx, dy, dr = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.06, 0.14) * side
        angle = rng.uniform(0, 2 * math.pi)
        outline = (_star(dx, dy, dr, angle, int(rng.integers(5, 7))) if kind == 0
                   else _cross(dx, dy, dr, angle) if kind == 1 else _ellipse(dx, dy, dr, angle))
        pen.polygon(outline, fill=fill)
    r = rng.uniform(0.06, 0.15) * side  # the object is 12-30 % of the shorter side
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    angle = rng.uniform(0, 2 * math.pi)
    shadow = Image.new("L", (w, h), 0)
    off = rng.uniform(0.1, 0.25) * r
    _shape(ImageDraw.Draw(shadow), shape, cx + off, cy + off, r, angle, 150)  # type: ignore[arg-type]
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(1.0, 0.2 * r)))
    image = Image.composite(Image.new("RGB", (w, h), (0, 0, 0)), image, shadow)
    fill = _jitter(COLOURS[colour], rng, hue=0.02, value=0.25)
    edge = tuple(int(v * 0.6) for v in fill)
    pen = ImageDraw.Draw(image)
    _shape(pen, shape, cx, cy, r, angle, edge)  # type: ignore[arg-type]
    _shape(pen, shape, cx, cy, r - max(1.0, 0.06 * r), angle, fill)
    arr = np.asarray(image).astype(np.float32)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1 + rng.uniform(-0.25, 0.25) * ((x - rng.uniform(0, w)) / w
                                            + (y - rng.uniform(0, h)) / h)
    contrast = rng.uniform(0.75, 1.2)
    arr = (arr - 128) * contrast + 128 + rng.uniform(-20, 20)
    arr = np.clip(arr * light[..., None] + rng.normal(0, 4, arr.shape), 0, 255)
    return Image.fromarray(arr.astype(np.uint8)), int(rng.integers(55, 96))


GENERATORS: dict[str, Callable[[str, Rng], tuple[Image.Image, int]]] = {
    "gradient": draw_gradient, "texture": draw_texture, "clutter": draw_clutter,
    "holdout": draw_holdout, "photo": draw_photo,
}


def make_albums(root: Path, generator: str, per_label: int, *, seed: int = 0,
                labels: Sequence[str] = LABELS) -> Path:
    """root/<label>/NNN.jpg, per_label photos each, drawn by GENERATORS[generator]."""
    draw = GENERATORS[generator]
    for n, label in enumerate(labels):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, n, zlib.crc32(generator.encode())])
        for i in range(per_label):
            image, quality = draw(label, rng)
            _save(image, folder / f"{i:03d}.jpg", quality)
    return root
