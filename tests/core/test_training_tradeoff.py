"""Thresholds that earn their keep: tagging only the confident photos is more precise than
the model's single best guess, at the coverage asked, measured on photos that did not choose."""

from __future__ import annotations

import numpy as np

from photoclip.core.evaluation import evaluate, tag_tradeoff, threshold_for


def _embeddings(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3 labels, cosines as CLIP's (about 0.3, a few hundredths apart): most photos lean to
    their label's text, a fifth lie between two labels."""
    rng = np.random.default_rng(seed)
    classes = np.eye(3, 8) + np.eye(1, 8, 7) * 2.0  # texts share a direction, as CLIP's do
    labels = rng.integers(0, 3, 400)
    pull = np.eye(3, 8)[labels]
    hard = rng.random(400) < 0.2
    pull[hard] = (pull[hard] + np.eye(3, 8)[(labels[hard] + 1) % 3]) / 2
    images = 0.15 * pull + np.eye(1, 8, 6) + rng.normal(0, 0.03, (400, 8))
    return images, labels, classes


def test_threshold_tags_the_share_asked():
    scores = np.linspace(0, 1, 101)
    t = threshold_for(scores, 0.8)
    assert np.mean(scores >= t) == 0.8 or abs(np.mean(scores >= t) - 0.8) < 0.02


def test_auto_tags_beat_the_best_guess_at_the_default_coverage():
    images, labels, classes = _embeddings()
    trade = tag_tradeoff(images, labels, classes)
    assert trade is not None
    assert trade.accuracy < 0.95  # the best guess is wrong on some ambiguous photos
    assert trade.precision > trade.accuracy
    assert 0.7 <= trade.coverage <= 0.9
    coverages = [c for _, _, _, c in trade.curve]
    precisions = [p for _, _, p, _ in trade.curve]
    assert coverages[0] == 1.0
    assert precisions[0] < precisions[-1]  # fewer tags, more often right


def test_evaluation_carries_the_tradeoff():
    images, labels, classes = _embeddings(1)
    ev = evaluate(images, labels, classes, classes).as_dict()
    assert ev["tag_precision"] > ev["tag_accuracy"]
    assert ev["tradeoff"][0][0] == 1.0
