"""Evaluation figures: each one checked on embeddings whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from training_support import make_albums

from photoclip.core.evaluation import (
    DEFAULT_TEMPLATES,
    SEEN_PHOTOS_FILE,
    AlbumEvaluation,
    default_templates,
    evaluate,
    linear_probe_accuracy,
    modality_gap,
    prototype_accuracy,
    recall_at_k,
    text_classifier,
    zero_shot_accuracy,
)
from photoclip.core.indexing import file_hash
from photoclip.core.training.data import read_albums


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


E = np.eye(3, dtype=np.float32)


def test_zero_shot_accuracy_counts_nearest_label():
    images = _unit(np.array([[1, 0.1, 0], [0.2, 1, 0], [0, 0.9, 1], [1, 0, 0.5]]))
    assert zero_shot_accuracy(images, np.array([0, 1, 2, 2]), E) == 0.75  # the last is wrong


def test_recall_at_k_caps_at_the_photos_a_label_has():
    # Label 0 has three photos, label 1 one. Label 0's top 2 are one hit and one miss.
    images = _unit(np.array([[1, 0, 0], [0.1, 1, 0], [0.5, 0.6, 0], [0.2, 0.1, 1]]))
    labels = np.array([0, 1, 0, 0])
    cls = E[:2]
    assert recall_at_k(images, labels, cls, 1) == 1.0
    # top-2 of label 0: photos 0 and 2 (hits) -> 1; label 1: photo 1 first -> 1/min(2,1) = 1
    assert recall_at_k(images, labels, cls, 2) == 1.0
    # top-3 of label 0: 0, 2, then 3 (0.2) beats 1 (0.1): 3 hits of min(3,3) = 1.0
    assert recall_at_k(images, labels, cls, 3) == 1.0
    swapped = np.array([1, 0, 0, 0])
    assert recall_at_k(images, swapped, cls, 1) == 0.0


def test_modality_gap_is_the_distance_between_the_means():
    images = np.array([[1.0, 0], [0, 1.0]])
    texts = np.array([[-1.0, 0], [0, -1.0]])
    assert modality_gap(images, texts) == pytest.approx(np.sqrt(2.0))
    assert modality_gap(images, images) == 0.0


def test_ensemble_averages_each_labels_templates_not_the_labels():
    vectors = {"a cat": [1, 0, 0], "my cat": [0.8, 0.6, 0],
               "a dog": [0, 0, 1], "my dog": [0, 0.6, 0.8]}

    def encode(texts):
        return np.array([vectors[t] for t in texts], dtype=np.float32)

    cls = text_classifier(encode, ["cat", "dog"], ["a {}", "my {}"])
    np.testing.assert_allclose(cls[0], _unit(np.array([1.8, 0.6, 0])), rtol=1e-5)
    np.testing.assert_allclose(cls[1], _unit(np.array([0, 0.6, 1.8])), rtol=1e-5)


def test_quick_mode_learns_from_photos_when_text_knows_nothing():
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(4, 16)))
    labels = np.repeat(np.arange(4), 10)
    photos = _unit(centres[labels] + 0.15 * rng.normal(size=(40, 16)))
    useless_text = _unit(rng.normal(size=(4, 16)))
    fit, test = np.arange(40) % 2 == 0, np.arange(40) % 2 == 1
    zero_shot = zero_shot_accuracy(photos[test], labels[test], useless_text)
    proto = prototype_accuracy(photos[fit], labels[fit], photos[test], labels[test],
                               useless_text)
    probe = linear_probe_accuracy(photos[fit], labels[fit], photos[test], labels[test],
                                  useless_text)
    assert zero_shot < 0.6
    assert proto == 1.0
    assert probe == 1.0


def test_evaluate_reports_every_figure():
    images = _unit(np.array([[1, 0.1, 0], [0.1, 1, 0], [0, 0.1, 1]]))
    result = evaluate(images, np.array([0, 1, 2]), E, E, fit=images, fit_labels=np.arange(3))
    data = result.as_dict()
    assert data["zero_shot_accuracy"] == 1.0
    assert data["zero_shot_accuracy_single_prompt"] == 1.0
    assert data["recall_at_1"] == 1.0
    assert data["labels"] == 3
    assert data["images"] == 3
    assert data["prototype_accuracy"] == 1.0
    assert data["modality_gap"] > 0


def test_default_templates_are_taggings():
    from photoclip.core.tagging import default_templates as tagging_templates

    assert default_templates() == tuple(tagging_templates())
    assert all("{}" in t for t in DEFAULT_TEMPLATES)


def test_eval_leaves_out_photos_the_model_was_trained_on(tmp_path, tiny_clip_dir):
    import shutil

    from photoclip.core.encoder import ClipEncoder

    root = make_albums(tmp_path / "albums", 4, ["red circle", "blue square"])
    model = tmp_path / "model"
    shutil.copytree(tiny_clip_dir, model)
    trained = sorted(root.rglob("*.png"))[:3]
    (model / SEEN_PHOTOS_FILE).write_text(
        "".join(file_hash(p.read_bytes()) + "\n" for p in trained))
    job = AlbumEvaluation(ClipEncoder(str(model), device="cpu"), read_albums(root))
    list(job.run())
    assert job.excluded == 3
    assert job.result is not None
    assert job.result.images == 5
    assert job.result.labels == 2
