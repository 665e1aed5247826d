"""The numbers behind a tag: prompt ensembles, per-set softmax, thresholds, calibration.

Pure numpy, no catalog and no model, so each rule can be tested on its own.

Scoring a photo against one label set:
- each label's text vector is the mean of its prompts' unit vectors (one prompt per template),
  re-normalised: CLIP's prompt ensemble;
- similarity = cosine(photo, label vector);
- score = softmax over the set's labels AND a "none of these" option whose logit is the set's
  similarity floor, all multiplied by the model's logit scale (CLIP's temperature). So a label
  only scores high when it beats the other labels and also clears the floor clearly; a photo that
  fits no label puts its mass on "none of these";
- SigLIP-style models (encoder.scoring == "sigmoid") were trained with a sigmoid per pair, not a
  softmax over a batch: each label gets its own probability sigmoid(scale * cosine + bias), with
  the checkpoint's learnt scale and bias, independent of the set's other labels (what
  multi-label tagging wants); the floor is then only the hard cosine floor below;
- a label tags the photo when score >= its threshold and similarity >= the floor (a hard floor
  too, so low multi-label thresholds never tag a photo that fits nothing); in a single-label set
  only the set's best label may.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from photoclip.core.types import Label, LabelSet

# Single-label sets: the winning label must outweigh all other options together (incl. "none").
DEFAULT_THRESHOLD = 0.5
# Multi-label sets split the softmax between the labels present; 0.25 still passes a label that
# shares a photo with two or three others of its set.
DEFAULT_MULTI_THRESHOLD = 0.25
# Cosine below which a label never tags. CLIP ViT-B/32 puts matching photo/prompt pairs at about
# 0.25-0.35 and unrelated ones at 0.10-0.20 (published figures, not measured here: no pretrained
# weights in this environment); a per-set floor and calibration adjust it.
DEFAULT_FLOOR = 0.2
# exp(logit_scale) of every released OpenAI CLIP; used when an encoder does not report its own.
CLIP_LOGIT_SCALE = 100.0


def threshold_text(threshold: float) -> str:
    """A threshold as the user reads it: three decimals, or as many more (up to six) as it takes
    not to show 1.000 for a threshold below 1 (a confident model's softmax scores crowd near 1,
    and "at least 1.000" would read as "never")."""
    digits = 3
    while digits < 6 and threshold < 1.0 and round(threshold, digits) >= 1.0:
        digits += 1
    if threshold < 1.0 and round(threshold, digits) >= 1.0:  # closer to 1 than 6 digits show
        return f"{math.floor(threshold * 10**digits) / 10**digits:.{digits}f}"
    return f"{threshold:.{digits}f}"


def fill(template: str, label: str) -> str:
    # str.replace, not str.format: a template with other braces ("{x}") must not break.
    return template.replace("{}", label)


def prompts_for(labels: Sequence[str], templates: Sequence[str]) -> list[str]:
    """Every label in every template, label-major: row l*T + t is label l in template t."""
    return [fill(t, lb) for lb in labels for t in templates]


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32; all-zero rows stay zero. The one numpy
    unit-normaliser: tagging, evaluation and training's figures all use it."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def ensemble(prompt_vectors: np.ndarray, n_labels: int) -> np.ndarray:
    """(L*T, d) unit prompt vectors, label-major -> (L, d) unit label vectors.

    The mean is over a label's templates (axis 1 of (L, T, d)); averaging over labels instead
    is a known slip in copies of this recipe and silently gives every label the same vector.
    """
    per_label = normalise(prompt_vectors).reshape(n_labels, -1, prompt_vectors.shape[-1])
    return normalise(per_label.mean(axis=1))


def set_scores(
    image_vectors: np.ndarray,
    label_vectors: np.ndarray,
    logit_scale: float,
    floor: float,
    logit_bias: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, d) photos x (L, d) labels -> (similarities, scores), both (N, L).

    With `logit_bias` (a SigLIP-style encoder's), each score is that label's own sigmoid
    probability; without it, CLIP's softmax over the labels and "none of these"."""
    sims = np.asarray(image_vectors, dtype=np.float32) @ label_vectors.T
    if logit_bias is not None:
        return sims, sigmoid_scores(sims, logit_scale, logit_bias)
    logits = np.concatenate(
        [sims, np.full((sims.shape[0], 1), floor, dtype=np.float32)], axis=1
    ).astype(np.float64) * logit_scale
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    probs = exp / exp.sum(axis=1, keepdims=True)
    return sims, probs[:, :-1].astype(np.float32)


def sigmoid_scores(sims: np.ndarray, logit_scale: float, logit_bias: float) -> np.ndarray:
    """SigLIP's per-label probability: sigmoid(logit_scale * cosine + logit_bias)."""
    logits = np.asarray(sims, dtype=np.float64) * logit_scale + logit_bias
    # exp of a large positive logit overflows; the two-sided form never does.
    out = np.where(logits >= 0, 1.0 / (1.0 + np.exp(-np.abs(logits))),
                   np.exp(-np.abs(logits)) / (1.0 + np.exp(-np.abs(logits))))
    return out.astype(np.float32)


def encoder_scoring(encoder: object) -> tuple[float, float | None]:
    """(logit_scale, logit_bias) to score with for this encoder: a bias only for SigLIP-style
    (sigmoid) families; encoders that report nothing are scored as OpenAI CLIP."""
    scale = float(getattr(encoder, "logit_scale", CLIP_LOGIT_SCALE))
    if getattr(encoder, "scoring", "softmax") != "sigmoid":
        return scale, None
    bias = getattr(encoder, "logit_bias", None)
    return scale, None if bias is None else float(bias)


def effective_threshold(label: Label, label_set: LabelSet) -> tuple[float, str]:
    """The threshold in force and where it comes from: label > set > default."""
    if label.threshold is not None:
        return label.threshold, "calibrated" if label.calibrated else "label"
    if label_set.threshold is not None:
        return label_set.threshold, "set"
    return base_threshold(label_set), "default"


def base_threshold(label_set: LabelSet) -> float:
    """What a label of this set uses when it has no threshold of its own."""
    if label_set.threshold is not None:
        return label_set.threshold
    return DEFAULT_MULTI_THRESHOLD if label_set.multi_label else DEFAULT_THRESHOLD


def effective_floor(label_set: LabelSet) -> float:
    return DEFAULT_FLOOR if label_set.floor is None else label_set.floor


def decide(
    sims: np.ndarray,
    scores: np.ndarray,
    thresholds: np.ndarray,
    floor: float,
    multi_label: bool,
    rejected: np.ndarray | None = None,
) -> np.ndarray:
    """(N, L) bool: which labels tag which photos.

    `rejected` (N, L) marks labels the user said no to: they never pass, and in a single-label
    set the best of the remaining labels is the candidate ("not a cat" leaves "dog" its chance).
    """
    passes = (scores >= thresholds[None, :]) & (sims >= floor)
    if rejected is not None:
        passes &= ~rejected
    if not multi_label and scores.shape[1]:
        ranked = scores if rejected is None else np.where(rejected, -np.inf, scores)
        best = np.zeros_like(passes)
        best[np.arange(scores.shape[0]), ranked.argmax(axis=1)] = True
        passes &= best
    return passes


def best_threshold(positives: Sequence[float], negatives: Sequence[float], base: float) -> float:
    """The threshold that best separates accepted (>= it) from rejected (< it) scores.

    Candidates are the midpoints between neighbouring scores (plus one below and one above them
    all); the fewest misclassified decisions wins, and among equals the one nearest to `base`,
    so a threshold moves no further than the user's decisions require.
    """
    if not positives or not negatives:
        raise ValueError("calibration needs at least one accepted and one rejected score")
    values = sorted({float(v) for v in (*positives, *negatives)})
    candidates = [values[0] / 2.0, *((a + b) / 2.0 for a, b in itertools.pairwise(values)),
                  (values[-1] + 1.0) / 2.0]
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)

    def cost(t: float) -> tuple[int, float]:
        errors = int((pos < t).sum() + (neg >= t).sum())
        return errors, abs(t - base)

    return float(min(candidates, key=cost))
