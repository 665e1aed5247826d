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
) -> torch.Tensor:
    """Symmetric multi-positive InfoNCE.

    image_features, text_features: (N, D), row i of each is one (photo, caption) pair; they are
    L2-normalised here. logit_scale: exp of the learnable log scale (1/temperature), a scalar.
    labels: (N,) label ids; None means every pair is its own class (CLIP's diagonal targets).
    """
    import torch
    import torch.nn.functional as F

    image = F.normalize(image_features.float(), dim=-1)
    text = F.normalize(text_features.float(), dim=-1)
    logits = logit_scale.float() * image @ text.t()
    if labels is None:
        labels = torch.arange(len(image), device=image.device)
    targets = positive_targets(labels.to(image.device))
    # Same-label is symmetric, so the text->image targets are the same matrix.
    loss_image = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    loss_text = -(targets * F.log_softmax(logits.t(), dim=1)).sum(dim=1).mean()
    return (loss_image + loss_text) / 2
