"""Models photoclip builds on this machine instead of downloading: random starting points for
training from scratch (`photoclip train --from-scratch`).

``photoclip/small-conv`` is a small convolutional image-and-text model: four plain
convolutional stages (encoder/conv_tower.py, 128-px input, batch norm, a global max pool) and a
2-layer text transformer that reads bytes (any language, no vocabulary file), joined by
transformers' VisionTextDualEncoderModel (CLIP-style projections and a learnable temperature).
It knows nothing until trained. Measured on generated albums (issue 18, docs/ARCHITECTURE.md): a
ViT trained from scratch on a few hundred photos learns colour but not shape; a convolutional
tower learns both, and at 128 px with a max pool it also finds objects a tenth of the photo
wide among distractors, which 64 px with an average pool did not.

The id works wherever a hub id does (`--model`, `models use`): loading.download_model builds the
folder on first use, from a fixed seed, so every build of one id holds the same weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from photoclip.core.encoder import conv_tower

SMALL_CONV = "photoclip/small-conv"
ENV_CACHE = "PHOTOCLIP_BUILT_MODELS"  # where built models live (default: the user cache)


@dataclass(frozen=True)
class ConvSpec:
    """The shape of a small convolutional dual encoder."""

    image_size: int = 128
    widths: tuple[int, ...] = (16, 32, 64, 64)  # channels of each conv_tower stage
    pool: str = "max"  # the tower's global pool: the strongest response wherever it is
    text_width: int = 64
    text_layers: int = 2
    projection: int = 64
    seed: int = 0

    def digest(self) -> str:
        """A short name for this shape: a built folder holds one shape's weights."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


BUILT: dict[str, ConvSpec] = {SMALL_CONV: ConvSpec()}


def is_built(model: str) -> bool:
    """Whether `model` names a model photoclip builds instead of downloading."""
    return model in BUILT


def cache_root() -> Path:
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("photoclip", appauthor=False)) / "models"


def built_folder(model: str) -> Path:
    """Where `model` is built: named by its id and its shape, so a folder built by an earlier
    version with another shape is never taken for this one."""
    return cache_root() / f"{model.replace('/', '--')}-{BUILT[model].digest()}"


def cached_built(model: str) -> Path | None:
    """The folder of a built model when it has been built, else None (builds nothing)."""
    folder = built_folder(model)
    return folder if (folder / "config.json").is_file() else None


def ensure_built(model: str) -> Path:
    """The folder of built model `model`, building it the first time (atomically: a folder
    half-written by an interrupted build is never used)."""
    found = cached_built(model)
    if found is not None:
        return found
    folder = built_folder(model)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        build_small_conv(tmp, BUILT[model])
        try:
            tmp.rename(folder)
        except OSError:  # another process built it first
            if cached_built(model) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def build_small_conv(out: Path, spec: ConvSpec = ConvSpec()) -> Path:
    """Save a random small convolutional dual encoder to `out`, like a downloaded model."""
    import torch
    from transformers import (
        ByT5Tokenizer,
        CLIPImageProcessorPil,
        CLIPTextConfig,
        VisionTextDualEncoderConfig,
        VisionTextDualEncoderModel,
    )

    tokenizer = ByT5Tokenizer(extra_ids=0)  # bytes: 256 + pad, eos, unk
    vision = _vision_config(spec)
    text = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=spec.text_width,
        intermediate_size=2 * spec.text_width, num_hidden_layers=spec.text_layers,
        num_attention_heads=2, max_position_embeddings=77,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id)  # the text is pooled at its end-of-text byte
    config = VisionTextDualEncoderConfig.from_vision_text_configs(
        vision, text, projection_dim=spec.projection)
    from transformers.utils import logging as hf_logging

    torch.manual_seed(spec.seed)
    model = VisionTextDualEncoderModel(config)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar for a file under 1 MB
    try:
        model.save_pretrained(str(out))
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(str(out))
    # The whole photo squeezed to the square input: nothing near an edge is cropped away.
    CLIPImageProcessorPil(
        size={"height": spec.image_size, "width": spec.image_size},
        crop_size={"height": spec.image_size, "width": spec.image_size},
        do_center_crop=False,
    ).save_pretrained(str(out))
    return out


def _vision_config(spec: ConvSpec) -> Any:
    """The image tower's config; its hidden_size is what VisionTextDualEncoderModel projects
    from. Measured (issue 18) with the same CLI run on `gradient`: ConvNeXt (layer norm,
    patchify stem) learnt nothing in the first few hundred steps and the byte text tower
    collapsed with it; MobileNetV2 (depth multiplier 0.35) reached 0.41, no better than the ViT;
    these plain stages learn shape."""
    conv_tower.register()
    return conv_tower.config(spec.image_size, spec.widths, spec.pool)
