"""The model's inputs during training, the way its family wants them (the encoder's own rules,
core/encoder/families.py): SigLIP pads every caption to its fixed length and takes no attention
mask, SigLIP 2 takes its photos as patch sequences, the others take padded captions with a mask
and (N, 3, S, S) pixels. Training, its evaluations and the hard negatives all go through here,
so a fine-tuned model sees what it will see when it indexes and searches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from photoclip.core.encoder import families

if TYPE_CHECKING:
    import torch


def tokenize(model: Any, tokenizer: Any, texts: Sequence[str]) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask (ones where the tokenizer gives none) for `texts`."""
    import torch

    family = families.family_of_model(model)
    max_len = families.text_max_len(family, model, tokenizer)
    tokens = tokenizer(list(texts) or [""], return_tensors="pt",
                       **families.tokenizer_kwargs(family, max_len))
    mask = tokens.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(tokens["input_ids"])
    return {"input_ids": tokens["input_ids"], "attention_mask": mask}


def text_features(model: Any, ids: torch.Tensor, mask: torch.Tensor) -> Any:
    """get_text_features for token ids (and their mask, where the family takes one)."""
    family = families.family_of_model(model)
    kwargs: dict[str, Any] = {"input_ids": ids}
    if family.attention_mask:
        kwargs["attention_mask"] = mask
    return model.get_text_features(**kwargs)


def image_features(model: Any, pixels: torch.Tensor) -> Any:
    """get_image_features for (N, 3, S, S) pixels."""
    return model.get_image_features(
        **families.image_inputs(families.family_of_model(model), model, pixels))
