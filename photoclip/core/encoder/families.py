"""Every model family photoclip loads, and each one's needs, in one table.

A family is read from the model folder's config.json (`model_type`, else `architectures`).
What differs between families is kept here and nowhere else:

- which transformers class holds the model, and which tokenizer to fall back on;
- how text is padded: SigLIP was trained on text padded to 64 tokens with no attention mask,
  so it is fed exactly that; the others pad to the longest text and pass the mask;
- how long a text may be (BERT/XLM-R position tables carry an offset or are 512 long);
- the embedding size and the input image size, read from the config;
- preprocessing defaults when a folder has no preprocessor_config.json (SigLIP: mean/std 0.5);
- how scores are made: softmax over a set's labels for CLIP-style families, an independent
  sigmoid per label (with the checkpoint's learnt scale and bias) for SigLIP-style ones;
- how pixels reach the model (SigLIP 2 NaFlex takes patch sequences, not images).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from photoclip.core.errors import ModelLoadError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)

SOFTMAX = "softmax"
SIGMOID = "sigmoid"


@dataclass(frozen=True)
class Family:
    """One model family: what loading, tokenising, preprocessing and scoring need to know."""

    name: str  # config.json model_type
    title: str  # what users read
    model_class: str  # transformers class
    tokenizer_class: str  # used when AutoTokenizer cannot read the folder's tokenizer config
    scoring: str = SOFTMAX  # SOFTMAX or SIGMOID
    pad_to: int | None = None  # fixed text length (SigLIP), else pad to the longest text
    attention_mask: bool = True  # SigLIP's text tower was trained without one
    position_offset: int = 0  # XLM-R style position tables start after the padding index
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    center_crop: bool = True  # a folder's preprocessor config without crop settings
    patches: bool = False  # NaFlex: pixel_values are patch sequences

    @property
    def sigmoid(self) -> bool:
        return self.scoring == SIGMOID


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("clip", "CLIP", "CLIPModel", "CLIPTokenizer"),
        Family("siglip", "SigLIP", "SiglipModel", "SiglipTokenizer", scoring=SIGMOID, pad_to=64,
               attention_mask=False, mean=HALF, std=HALF, center_crop=False),
        Family("siglip2", "SigLIP 2", "Siglip2Model", "Siglip2Tokenizer", scoring=SIGMOID,
               pad_to=64, attention_mask=False, mean=HALF, std=HALF, center_crop=False,
               patches=True),
        Family("metaclip_2", "MetaCLIP 2", "MetaClip2Model", "XLMRobertaTokenizer"),
        Family("chinese_clip", "Chinese-CLIP", "ChineseCLIPModel", "BertTokenizer",
               center_crop=False),
        Family("altclip", "AltCLIP", "AltCLIPModel", "XLMRobertaTokenizer", position_offset=2),
        # Any image tower and any text tower with CLIP-style projections: photoclip's own
        # small convolutional model for training from scratch (encoder/builtin.py) is one.
        Family("vision-text-dual-encoder", "Dual encoder", "VisionTextDualEncoderModel",
               "ByT5Tokenizer", center_crop=False),
    )
}
# Architectures listed in config.json, for configs whose model_type is missing.
_BY_ARCHITECTURE = {f.model_class: f for f in FAMILIES.values()}


def supported_families() -> str:
    """"CLIP, SigLIP, ..." for messages."""
    return ", ".join(f"{f.title} ({f.model_class})" for f in FAMILIES.values())


def unsupported(model_id: str, why: str) -> ModelLoadError:
    return ModelLoadError(
        f"Cannot use {model_id!r}: {why}. photoclip needs an image-and-text model of one of "
        f"these families: {supported_families()}.")


def family_of_config(config: dict[str, Any], model_id: str) -> Family:
    """The family of a parsed config.json, or a ModelLoadError naming the supported ones."""
    model_type = str(config.get("model_type") or "")
    family = FAMILIES.get(model_type)
    if family is None:
        for arch in config.get("architectures") or ():
            family = _BY_ARCHITECTURE.get(str(arch))
            if family is not None:
                break
    if family is None:
        what = model_type or ", ".join(map(str, config.get("architectures") or ())) or "unknown"
        if model_type.endswith(("_vision_model", "_text_model")):
            raise unsupported(model_id, f"it is a single tower ({what}), with no "
                                        + ("text" if "vision" in model_type else "image")
                                        + " encoder")
        raise unsupported(model_id, f"its family ({what}) is not supported")
    if "text_config" in config and config["text_config"] is None:
        raise unsupported(model_id, "it has no text encoder")
    return family


def family_of_folder(folder: str | Path, model_id: str) -> Family:
    """The family of the model saved in `folder`, from its config.json."""
    path = Path(folder) / "config.json"
    # A missing or unreadable config is the folder's fault, not the family's: those errors go
    # up as they are, and the loader words them like any other broken model folder.
    if not path.is_file():
        raise FileNotFoundError(f"no config.json in {folder}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"config.json is not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ValueError("config.json does not hold a JSON object")
    return family_of_config(config, model_id)


def family_of_model(model: Any) -> Family:
    """The family of a loaded transformers model."""
    return family_of_config({"model_type": getattr(model.config, "model_type", ""),
                             "architectures": [type(model).__name__]}, type(model).__name__)


# -- sizes -------------------------------------------------------------------------------------


def embed_dim(model: Any) -> int:
    """Length of the shared image-text embedding."""
    config = model.config
    projection = getattr(config, "projection_dim", None)
    if projection:
        return int(projection)
    text = config.text_config  # SigLIP: the text head's output size equals the vision width
    return int(getattr(text, "projection_size", None) or text.hidden_size)


def text_max_len(family: Family, model: Any, tokenizer: Any) -> int:
    """How many tokens a text may have: the model's position table, the tokenizer's own limit
    if that is shorter (and not transformers' "no limit" sentinel)."""
    length = int(model.config.text_config.max_position_embeddings) - family.position_offset
    if family.pad_to is not None:
        length = min(length, family.pad_to)
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < length:
        length = limit
    return length


def image_side(model: Any) -> int:
    """The model's square input size in pixels."""
    vision = model.config.vision_config
    size = getattr(vision, "image_size", None)
    if size:
        return int(size)
    patches = int(getattr(vision, "num_patches", 256))  # NaFlex: a square grid of the patches
    return math.isqrt(patches) * int(vision.patch_size)


def logit_bias(family: Family, model: Any) -> float | None:
    """The learnt sigmoid bias of a SigLIP-style checkpoint; None for softmax families."""
    if not family.sigmoid:
        return None
    return float(model.logit_bias.detach().float().reshape(-1)[0].item())


# -- inputs ------------------------------------------------------------------------------------


def tokenizer_kwargs(family: Family, max_len: int) -> dict[str, Any]:
    if family.pad_to is not None:
        return {"padding": "max_length", "truncation": True, "max_length": max_len}
    return {"padding": True, "truncation": True, "max_length": max_len}


def text_inputs(family: Family, tokens: Any, device: str) -> dict[str, Any]:
    """get_text_features' keyword arguments from the tokenizer's output."""
    inputs = {"input_ids": tokens["input_ids"].to(device, non_blocking=True)}
    if family.attention_mask and "attention_mask" in tokens:
        inputs["attention_mask"] = tokens["attention_mask"].to(device, non_blocking=True)
    return inputs


def image_inputs(family: Family, model: Any, pixels: Any) -> dict[str, Any]:
    """get_image_features' keyword arguments for (N, 3, S, S) pixels (a torch tensor)."""
    if not family.patches:
        return {"pixel_values": pixels}
    import torch

    patch = int(model.config.vision_config.patch_size)
    n, channels, height, width = pixels.shape
    rows, cols = height // patch, width // patch
    # Siglip2ImageProcessor's layout: (rows, cols, patch, patch, channels) per image.
    seq = pixels.reshape(n, channels, rows, patch, cols, patch).permute(0, 2, 4, 3, 5, 1)
    seq = seq.reshape(n, rows * cols, patch * patch * channels)
    return {
        "pixel_values": seq,
        "pixel_attention_mask": torch.ones((n, rows * cols), dtype=torch.long,
                                           device=pixels.device),
        "spatial_shapes": torch.tensor([[rows, cols]] * n, dtype=torch.long,
                                       device=pixels.device),
    }

