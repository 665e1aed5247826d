"""Photo -> model input, as CLIPImageProcessor would do it, with PIL and numpy only.

The recipe (resize, centre crop, mean/std) comes from the model's preprocessor_config.json;
training reads photos through the same functions, so it sees what inference sees.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from photoclip.core.encoder.families import FAMILIES, Family, image_side
from photoclip.core.imaging import to_rgb

log = logging.getLogger(__name__)

# OpenAI CLIP's preprocessing, used when a CLIP folder has no preprocessor_config.json.
CLIP_MEAN = FAMILIES["clip"].mean
CLIP_STD = FAMILIES["clip"].std
CLIP_IMAGE_SIZE = 224


@dataclass(frozen=True)
class PreprocessRecipe:
    """The resize/crop/normalise recipe from the model's preprocessor_config.json."""

    resize_to: int | tuple[int, int]  # int: shortest edge; tuple: exact (height, width)
    crop: tuple[int, int]  # (height, width)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: Image.Resampling

    def pixel_transform(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, offset) per channel: (x / 255 - mean) / std as one multiply-add per pixel."""
        return pixel_transform(self.mean, self.std)


def pixel_transform(mean: tuple[float, float, float],
                    std: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) per channel so that uint8 * scale + offset == (x / 255 - mean) / std."""
    std_a = np.asarray(std, dtype=np.float32)
    mean_a = np.asarray(mean, dtype=np.float32)
    scale = (1.0 / (255.0 * std_a)).astype(np.float32)
    offset = (-mean_a / std_a).astype(np.float32)
    return scale, offset


def normalise_pixels(pixels: np.ndarray, scale: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 or float -> (..., 3, H, W) float32, through pixel_transform's pair."""
    out = np.asarray(pixels, dtype=np.float32) * scale + offset
    return np.ascontiguousarray(np.moveaxis(out, -1, -3))


def resize_for_model(image: Image.Image, resize_to: int | tuple[int, int],
                     resample: Image.Resampling) -> Image.Image:
    """CLIPImageProcessor's resize: shortest side to `resize_to` (an int), or exactly (h, w)."""
    width, height = image.size
    if isinstance(resize_to, int):
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = resize_to, int(resize_to * long / short)
        new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    else:
        new_h, new_w = resize_to
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), resample=resample)
    return image


def preprocess_image(image: Image.Image, recipe: PreprocessRecipe, scale: np.ndarray,
                     offset: np.ndarray) -> np.ndarray:
    """A PIL image -> float32 (3, H, W): to RGB, resize, centre crop, normalise."""
    image = resize_for_model(to_rgb(image), recipe.resize_to, recipe.resample)
    new_w, new_h = image.size
    crop_h, crop_w = recipe.crop
    top, left = (new_h - crop_h) // 2, (new_w - crop_w) // 2
    # PIL pads out-of-bounds with zeros, the same as HF's center_crop on small images.
    image = image.crop((left, top, left + crop_w, top + crop_h))
    return normalise_pixels(np.asarray(image), scale, offset)


def size_field(size: Any, key: str) -> int | None:
    """One entry of a processor's size/crop_size, whether a dict, an int or an object."""
    if size is None:
        return None
    if isinstance(size, int):
        return size
    value = size.get(key) if hasattr(size, "get") else getattr(size, key, None)
    return int(value) if value is not None else None


def read_recipe(source: str, model: Any, model_id: str,
                family: Family | None = None) -> PreprocessRecipe:
    """The recipe of the model at `source` (a folder); the family's defaults (OpenAI CLIP's for
    CLIP) when it has none."""
    # Not CLIPImageProcessor: in transformers 5 that is the torchvision backend, which logs a
    # warning and falls back to this class when torchvision is absent. Only its config is used.
    from transformers import CLIPImageProcessorPil

    family = family or FAMILIES["clip"]
    # The model's own input size is a better default than 224 for e.g. 336px CLIPs.
    side = image_side(model)
    try:
        proc = CLIPImageProcessorPil.from_pretrained(source)
    except OSError:
        log.info("%s has no preprocessor config; using %s defaults", model_id, family.title)
        if not family.center_crop:
            return PreprocessRecipe((side, side), (side, side), family.mean, family.std,
                                    Image.Resampling.BICUBIC)
        return PreprocessRecipe(side, (side, side), family.mean, family.std,
                                Image.Resampling.BICUBIC)
    if not family.center_crop and not _has_crop_settings(source):
        # SigLIP and Chinese-CLIP resize straight to the input size; CLIPImageProcessor's own
        # defaults (crop 224) would otherwise fill in what their configs leave out.
        proc.do_center_crop = False

    size = getattr(proc, "size", None)
    shortest = size_field(size, "shortest_edge")
    height, width = size_field(size, "height"), size_field(size, "width")
    resize_to: int | tuple[int, int]
    if shortest:
        resize_to = shortest
    elif height and width:
        resize_to = (height, width)
    else:
        resize_to = side if family.center_crop else (side, side)
    crop_size = getattr(proc, "crop_size", None)
    if getattr(proc, "do_center_crop", True) and crop_size is not None:
        crop = (
            size_field(crop_size, "height") or side,
            size_field(crop_size, "width") or side,
        )
    else:
        crop = (side, side)
    if crop != (side, side):
        log.warning(
            "%s: preprocessor crop %s differs from the model input %d; using the model's",
            model_id,
            crop,
            side,
        )
        crop = (side, side)
    mean = tuple(float(v) for v in (getattr(proc, "image_mean", None) or family.mean))
    std = tuple(float(v) for v in (getattr(proc, "image_std", None) or family.std))
    resample = getattr(proc, "resample", None)
    return PreprocessRecipe(
        resize_to=resize_to,
        crop=crop,
        mean=(mean[0], mean[1], mean[2]),
        std=(std[0], std[1], std[2]),
        resample=Image.Resampling(int(resample))
        if resample is not None
        else Image.Resampling.BICUBIC,
    )


def _has_crop_settings(source: str) -> bool:
    """Whether the folder's preprocessor config says anything about centre cropping."""
    try:
        raw = json.loads((Path(source) / "preprocessor_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(raw, dict) and ("do_center_crop" in raw or "crop_size" in raw)


def save_recipe(recipe: PreprocessRecipe, folder: str) -> None:
    """Write `recipe` as a preprocessor_config.json that read_recipe reads back the same."""
    from transformers import CLIPImageProcessorPil

    size = ({"shortest_edge": recipe.resize_to} if isinstance(recipe.resize_to, int)
            else {"height": recipe.resize_to[0], "width": recipe.resize_to[1]})
    CLIPImageProcessorPil(
        size=size,
        crop_size={"height": recipe.crop[0], "width": recipe.crop[1]},
        image_mean=list(recipe.mean),
        image_std=list(recipe.std),
        resample=int(recipe.resample),
    ).save_pretrained(folder)
