"""WiSE-FT: interpolate the fine-tuned weights with the original ones (Wortsman et al., 2022).

A little fine-tuning on a few albums can make CLIP forget what it knew about everything else.
Averaging in weight space, theta = (1 - alpha) * original + alpha * fine-tuned, keeps most of the
new skill and most of the old; alpha is chosen on held-out photos, never on training ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Coarse on purpose: each alpha costs one evaluation, and accuracy is flat between neighbours.
ALPHAS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)


def interpolate(
    original: Mapping[str, torch.Tensor], finetuned: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """(1 - alpha) * original + alpha * finetuned, tensor by tensor.

    alpha 0 returns the original tensors' values bit for bit (and alpha 1 the fine-tuned ones):
    computed as a sum, -0.0 would come back as +0.0. Integer buffers are never blended.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], not {alpha}")
    missing = set(original) ^ set(finetuned)
    if missing:
        raise KeyError(f"weights differ in names, e.g. {sorted(missing)[:3]}")
    out: dict[str, torch.Tensor] = {}
    for name, orig in original.items():
        tuned = finetuned[name]
        if orig.shape != tuned.shape:
            raise ValueError(f"{name}: shape {tuple(orig.shape)} != {tuple(tuned.shape)}")
        if alpha == 0.0 or not orig.is_floating_point():
            out[name] = orig.detach().clone()
        elif alpha == 1.0:
            out[name] = tuned.detach().clone()
        else:
            blended = orig.detach().float().lerp(tuned.detach().float(), alpha)
            out[name] = blended.to(orig.dtype)
    return out


def choose_alpha(scores: Mapping[float, float], alphas: Sequence[float] = ALPHAS,
                 photos: int | None = None) -> float:
    """The smallest alpha whose held-out score is within one standard error of the best.

    The original model's other knowledge is not measured here, so the alpha that keeps more of
    it wins unless the new albums measurably prefer a larger one: the "one standard error" rule
    (Hastie, Tibshirani & Friedman, The Elements of Statistical Learning, 7.10), with the
    binomial error of an accuracy on `photos` held-out photos. Without `photos`, only exact
    ties go to the smaller alpha."""
    best = max(scores[a] for a in alphas if a in scores)
    margin = math.sqrt(best * (1.0 - best) / photos) if photos else 0.0
    return min(a for a in alphas if a in scores and scores[a] >= best - margin - 1e-12)
