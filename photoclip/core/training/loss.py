"""CLIP's symmetric InfoNCE (seed §3), with same-label pairs counted as positives.

In the user's albums many photos share a label, so a batch often holds several photos of
"grandma's garden" and several copies of its caption. Plain InfoNCE would push those apart as
negatives; here every same-label pair is a positive and the target spreads evenly over them.
With all labels distinct it is exactly CLIP's loss.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# CLIP's temperature: initialised at 0.07, and the scale 1/T is clamped at 100 so the logits
# cannot grow until training turns unstable (CLIP paper, section 2.5).
INIT_LOGIT_SCALE = math.log(1.0 / 0.07)
MAX_LOGIT_SCALE = math.log(100.0)


def positive_targets(labels: torch.Tensor) -> torch.Tensor:
    """(N, N) row-stochastic targets: 1/k on each of the k samples sharing row i's label."""
    same = (labels[:, None] == labels[None, :]).float()
    return same / same.sum(dim=1, keepdim=True)


def contrastive_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    logit_scale: torch.Tensor,
    labels: torch.Tensor | None = None,
    negative_features: torch.Tensor | None = None,
    negative_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric multi-positive InfoNCE.

    image_features, text_features: (N, D), row i of each is one (photo, caption) pair; they are
    L2-normalised here. logit_scale: exp of the learnable log scale (1/temperature), a scalar.
    labels: (N,) label ids; None means every pair is its own class (CLIP's diagonal targets).
    negative_features: (M, D) hard negative captions (NegCLIP): extra columns in each photo's
    softmax over captions, never a target; the caption->photo direction is unchanged.
    negative_labels: (M,) the label a negative caption is (-1 for none): it is left out of
    the softmax of that label's photos, for which it is no negative.
    """
    import torch
    import torch.nn.functional as F

    image = F.normalize(image_features.float(), dim=-1)
    text = F.normalize(text_features.float(), dim=-1)
    logits = logit_scale.float() * image @ text.t()
    if labels is None:
        labels = torch.arange(len(image), device=image.device)
    labels = labels.to(image.device)
    targets = positive_targets(labels)
    image_logits = logits
    if negative_features is not None and len(negative_features):
        negatives = F.normalize(negative_features.float(), dim=-1)
        extra = logit_scale.float() * image @ negatives.t()
        if negative_labels is not None:
            own = labels[:, None] == negative_labels.to(image.device)[None, :]
            # Finite, so a zero target times its log-probability stays zero (not nan).
            extra = extra.masked_fill(own, -1e4)
        image_logits = torch.cat([logits, extra], dim=1)
        targets_image = torch.cat([targets, targets.new_zeros(len(image), len(negatives))], 1)
    else:
        targets_image = targets
    # Same-label is symmetric, so the text->image targets are the same matrix.
    loss_image = -(targets_image * F.log_softmax(image_logits, dim=1)).sum(dim=1).mean()
    loss_text = -(targets * F.log_softmax(logits.t(), dim=1)).sum(dim=1).mean()
    return (loss_image + loss_text) / 2


# SigLIP's start (Zhai et al., 2023): t' = log 10 and bias -10, so that at first almost every
# pair, nearly all of them negatives, is scored as one.
SIGLIP_INIT_LOGIT_SCALE = math.log(10.0)
SIGLIP_INIT_BIAS = -10.0


def sigmoid_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor,
    labels: torch.Tensor | None = None,
    negative_features: torch.Tensor | None = None,
    negative_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """SigLIP's pairwise sigmoid loss: every (photo, caption) pair of the batch is its own
    binary question, +1 for a same-label pair, -1 otherwise; summed over captions, averaged
    over photos. Hard negative captions add columns that are always -1 (except for photos of
    the label a negative caption is)."""
    import torch
    import torch.nn.functional as F

    image = F.normalize(image_features.float(), dim=-1)
    text = F.normalize(text_features.float(), dim=-1)
    if labels is None:
        labels = torch.arange(len(image), device=image.device)
    labels = labels.to(image.device)
    logits = logit_scale.float() * image @ text.t() + logit_bias.float()
    signs = (labels[:, None] == labels[None, :]).float() * 2 - 1
    terms = F.logsigmoid(signs * logits)
    total = terms.sum()
    if negative_features is not None and len(negative_features):
        negatives = F.normalize(negative_features.float(), dim=-1)
        extra = F.logsigmoid(-(logit_scale.float() * image @ negatives.t()
                               + logit_bias.float()))
        if negative_labels is not None:
            own = labels[:, None] == negative_labels.to(image.device)[None, :]
            extra = extra.masked_fill(own, 0.0)
        total = total + extra.sum()
    return -total / len(image)
