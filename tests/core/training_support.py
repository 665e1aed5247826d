"""Generated albums and small CLIPs for the training tests (no pretrained weights exist here)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220),
           "yellow": (235, 205, 40)}
SHAPES = ("circle", "square", "triangle")
LABELS = tuple(f"{c} {s}" for c in COLOURS for s in SHAPES)  # 12 labels, chance 1/12


def draw(label: str, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """One coloured shape of random size and place on a random noisy grey-ish background."""
    colour, shape = label.split()
    grey = rng.integers(50, 200)
    tint = rng.integers(-25, 26, 3)
    noise = rng.normal(0, 8, (size, size, 3))
    background = np.clip(np.full((size, size, 3), grey) + tint + noise, 0, 255)
    image = Image.fromarray(background.astype(np.uint8))
    pen = ImageDraw.Draw(image)
    r = rng.uniform(0.22, 0.4) * size
    cx, cy = rng.uniform(r, size - r, 2)
    fill = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in COLOURS[colour])
    if shape == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        corners = 4 if shape == "square" else 3
        start = math.pi / 4 if corners == 4 else -math.pi / 2  # upright square and triangle
        pen.polygon([(cx + r * math.cos(start + 2 * math.pi * k / corners),
                      cy + r * math.sin(start + 2 * math.pi * k / corners))
                     for k in range(corners)], fill=fill)
    return image


def make_albums(root: Path, per_label: int, labels: Sequence[str] = LABELS, seed: int = 0,
                size: int = 64) -> Path:
    """root/<label>/NNN.png, per_label photos each."""
    rng = np.random.default_rng(seed)
    for label in labels:
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            draw(label, rng, size).save(folder / f"{i:03d}.png")
    return root


def build_clip(out: Path, tokenizer_dir: Path, *, image_size: int, patch_size: int,
               hidden: int = 64, layers: int = 2, projection: int = 32, seed: int = 0) -> Path:
    """A small random CLIP saved like a downloaded model (real CLIP tokenizer)."""
    import torch
    from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessorPil, CLIPModel

    config = CLIPConfig(
        text_config={"vocab_size": 49408, "hidden_size": hidden, "intermediate_size": 2 * hidden,
                     "num_hidden_layers": layers, "num_attention_heads": 2,
                     "max_position_embeddings": 77},
        vision_config={"image_size": image_size, "patch_size": patch_size, "hidden_size": hidden,
                       "intermediate_size": 2 * hidden, "num_hidden_layers": layers,
                       "num_attention_heads": 2},
        projection_dim=projection,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(str(out))
    CLIPImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
    ).save_pretrained(str(out))
    return out
