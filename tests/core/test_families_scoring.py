"""Scores per family (issue 19): CLIP-style softmax over a set, SigLIP-style sigmoid per label."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from photoclip.core.encoder import ClipEncoder
from photoclip.core.tagging.scoring import encoder_scoring, normalise, set_scores


def _vectors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return normalise(rng.normal(size=(5, 16))), normalise(rng.normal(size=(3, 16)))


def test_sigmoid_scores_are_each_labels_own_probability() -> None:
    photos, labels = _vectors()
    sims, scores = set_scores(photos, labels, logit_scale=10.0, floor=0.2, logit_bias=-2.0)
    assert np.allclose(scores, 1.0 / (1.0 + np.exp(-(sims * 10.0 - 2.0))), atol=1e-6)
    # Independent of the other labels: scoring one label alone gives the same number.
    _, alone = set_scores(photos, labels[:1], logit_scale=10.0, floor=0.2, logit_bias=-2.0)
    assert np.allclose(alone[:, 0], scores[:, 0])
    # Unlike softmax, they need not sum to at most 1 across a set.
    _, high = set_scores(photos, labels, logit_scale=10.0, floor=0.2, logit_bias=20.0)
    assert (high.sum(axis=1) > 1.5).all()


def test_softmax_stays_as_it_was_without_a_bias() -> None:
    photos, labels = _vectors()
    _, scores = set_scores(photos, labels, logit_scale=100.0, floor=0.2)
    assert (scores.sum(axis=1) <= 1.0 + 1e-6).all()
    _, alone = set_scores(photos, labels[:1], logit_scale=100.0, floor=0.2)
    assert not np.allclose(alone[:, 0], scores[:, 0])


def test_huge_logits_do_not_overflow() -> None:
    photo = np.array([[1.0, 0.0]], dtype=np.float32)
    labels = np.array([[1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    with np.errstate(over="raise"):
        sims, scores = set_scores(photo, labels, 1e4, 0.0, logit_bias=0.0)
    assert sims.tolist() == [[1.0, -1.0]]
    assert scores.tolist() == [[1.0, 0.0]]


@pytest.mark.parametrize(("family", "sigmoid"), [("clip", False), ("siglip", True),
                                                 ("siglip2", True), ("chinese_clip", False)])
def test_the_encoders_family_picks_the_scoring(
        family: str, sigmoid: bool, tiny_family_dir: Callable[[str], Path]) -> None:
    encoder = ClipEncoder(str(tiny_family_dir(family)), device="cpu")
    scale, bias = encoder_scoring(encoder)
    assert scale == pytest.approx(encoder.logit_scale)
    assert (bias is not None) == sigmoid
    if sigmoid:
        assert bias == pytest.approx(encoder.logit_bias)
