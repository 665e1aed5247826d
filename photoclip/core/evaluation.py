"""How well a model knows the user's labels: zero-shot accuracy (prompt ensemble and a single
prompt), text->image recall@k, the modality gap (seed §1), and the quick mode: album prototypes
and a linear head on cached embeddings, which need no gradient step on the encoder.

Everything is measured on photos the model was not trained on: `train` evaluates its held-out
split, and `eval` leaves out the photos a fine-tuned model has seen (listed with the model).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from photoclip.core.set_tradeoff import TAG_COVERAGE, TRADEOFF_COVERAGES, threshold_for
from photoclip.core.tagging.scoring import encoder_scoring, normalise, prompts_for
from photoclip.core.tagging.scoring import ensemble as prompt_ensemble
from photoclip.core.training.data import (
    Albums,
    DataError,
    Photos,
    Preprocessing,
    load_photos,
    stratified_split,
)
from photoclip.core.types import Progress

log = logging.getLogger(__name__)

# A small prompt ensemble in the spirit of CLIP's ImageNet templates (seed §4), reworded for
# personal photos; the tagging module's defaults replace it when they are installed.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a photo of the {}.",
    "a good photo of a {}.",
    "a close-up photo of the {}.",
    "a cropped photo of a {}.",
    "a bright photo of the {}.",
    "a dark photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of my {}.",
    "a picture of a {}.",
)
SINGLE_TEMPLATE = "a photo of a {}."  # CLIP's own single prompt, the baseline for the ensemble
RECALL_KS = (1, 5)
SEEN_PHOTOS_FILE = "seen_photos.txt"  # content hashes a fine-tuned model trained or chose on
METADATA_FILE = "photoclip.json"
# Linear head: 100 L-BFGS iterations over cached embeddings take well under a second for a few
# thousand photos; the pull towards the zero-shot weights keeps a tiny album from overfitting.
LINEAR_STEPS = 100
LINEAR_PULL = 1e-3
# The head's logit scale. CLIP's 100 saturates the softmax as soon as the training photos are
# separated, leaving the thinnest margin; at 10 every photo keeps pushing the boundary outward.
LINEAR_SCALE = 10.0
QUICK_SPLIT = 0.5  # eval's quick mode: fit on half of each label, test on the other half


class TextImageModel(Protocol):
    """What evaluation needs: ClipEncoder, or the model being trained."""

    def encode_images(self, batch: np.ndarray) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


def default_templates() -> tuple[str, ...]:
    """The prompt templates tagging uses by default, so accuracy here is tagging's accuracy."""
    try:
        from photoclip.core import tagging

        loader = getattr(tagging, "default_templates", None)
        templates = tuple(loader()) if callable(loader) else ()
    except ImportError:
        templates = ()
    except Exception:  # a broken resource file must not stop training; ours still work
        log.warning("could not load the default prompt templates; using built-in ones",
                    exc_info=True)
        templates = ()
    usable = tuple(t for t in templates if isinstance(t, str) and "{}" in t)
    return usable or DEFAULT_TEMPLATES


@dataclass(frozen=True)
class Evaluation:
    labels: int
    images: int
    zero_shot_accuracy: float
    zero_shot_accuracy_single_prompt: float
    recall_at_1: float
    recall_at_5: float
    modality_gap: float
    # Quick mode (no encoder training): None where there were no photos to fit on.
    prototype_accuracy: float | None = None
    linear_probe_accuracy: float | None = None
    quick_images: int = 0  # photos the quick-mode figures were measured on
    # Auto tags vs the single best guess (tag_tradeoff): a threshold on the best label's score
    # chosen on half the photos for TAG_COVERAGE, its precision and coverage on the other half.
    tag_threshold: float | None = None
    tag_precision: float | None = None
    tag_coverage: float | None = None
    tag_accuracy: float | None = None  # the best guess's precision on that same half
    # (coverage asked, threshold, precision, coverage got) on every photo: the trade-off.
    tradeoff: list[list[float]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


TAG_LOGIT_SCALE = 100.0  # CLIP's; tagging reads the model's own where it has one


@dataclass(frozen=True)
class Tradeoff:
    threshold: float
    precision: float  # on the measuring half, among the photos at or above the threshold
    coverage: float  # on the measuring half, the share of photos tagged
    accuracy: float  # the best guess's precision on the measuring half (coverage 1)
    curve: list[list[float]]


def best_scores(images: np.ndarray, classifier: np.ndarray,
                logit_scale: float = TAG_LOGIT_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """(best label, its softmax score) per photo, scored as tagging scores a label set."""
    # float64: at CLIP's scale the softmax of a clear winner is 1 - 1e-10, which float32
    # rounds to 1, and a threshold cannot split photos whose scores are all exactly 1.
    logits = logit_scale * (normalise(images).astype(np.float64)
                            @ normalise(classifier).astype(np.float64).T)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs.argmax(axis=1), probs.max(axis=1)


def tag_tradeoff(images: np.ndarray, labels: np.ndarray, classifier: np.ndarray,
                 logit_scale: float = TAG_LOGIT_SCALE,
                 coverage: float = TAG_COVERAGE) -> Tradeoff | None:
    """Precision vs coverage of tagging only the photos whose best score passes a threshold.

    The threshold is chosen on every other photo and measured on the rest, so the precision
    reported was not chosen on the photos it is measured on.

    The scale is the albums' own (a softmax over the evaluated labels, no "none of these", no
    floor): a figure of the model, not a threshold a label set can use. A label set's trade-off,
    on the scale tagging applies its threshold on, is core/set_tradeoff.py's.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) < 4:
        return None
    guess, score = best_scores(images, classifier, logit_scale)
    right = guess == labels
    choose, measure_ = np.arange(len(labels)) % 2 == 0, np.arange(len(labels)) % 2 == 1
    threshold = threshold_for(score[choose], coverage)
    tagged = measure_ & (score >= threshold)
    curve = []
    for c in TRADEOFF_COVERAGES:
        t = threshold_for(score, c)
        sel = score >= t
        curve.append([c, round(t, 4), round(float(right[sel].mean()), 4),
                      round(float(sel.mean()), 4)])
    return Tradeoff(
        threshold=threshold,
        precision=float(right[tagged].mean()) if tagged.any() else 0.0,
        coverage=float(tagged.sum() / measure_.sum()),
        accuracy=float(right[measure_].mean()),
        curve=curve,
    )


# -- metrics on embeddings ---------------------------------------------------------------------


def text_classifier(
    encode_texts: Callable[[Sequence[str]], np.ndarray],
    labels: Sequence[str],
    templates: Sequence[str],
) -> np.ndarray:
    """(L, D) unit class vectors: the mean of each label's prompt embeddings, renormalised.

    The mean is over a label's templates (seed §4's listing averages dim 0, which would mix the
    classes; averaging the templates is what CLIP's ensemble means).
    """
    prompts = encode_texts(prompts_for(labels, templates))
    return prompt_ensemble(np.asarray(prompts, dtype=np.float32), len(labels))


def zero_shot_accuracy(images: np.ndarray, labels: np.ndarray, classifier: np.ndarray) -> float:
    if len(images) == 0:
        return 0.0
    predicted = np.argmax(images @ classifier.T, axis=1)
    return float(np.mean(predicted == labels))


def recall_at_k(images: np.ndarray, labels: np.ndarray, classifier: np.ndarray, k: int) -> float:
    """Text->image retrieval: each label's text retrieves its top k photos; the share of them
    with that label, out of min(k, photos with the label). Averaged over labels with photos.

    Capped by min(k, relevant) so a label with 20 photos must fill all k places to score 1, and
    one with 2 photos scores 1 by finding both.
    """
    scores = classifier @ images.T  # (L, N)
    values = []
    for label in np.unique(labels):
        relevant = labels == label
        top = np.argsort(-scores[label], kind="stable")[:k]
        values.append(relevant[top].sum() / min(k, int(relevant.sum())))
    return float(np.mean(values)) if values else 0.0


def modality_gap(images: np.ndarray, texts: np.ndarray) -> float:
    """Distance between the mean image and the mean text embedding (seed §1)."""
    if len(images) == 0 or len(texts) == 0:
        return 0.0
    return float(np.linalg.norm(images.mean(axis=0) - texts.mean(axis=0)))


def prototype_accuracy(
    fit: np.ndarray,
    fit_labels: np.ndarray,
    test: np.ndarray,
    test_labels: np.ndarray,
    classifier: np.ndarray,
) -> float:
    """Nearest album prototype (mean of a label's photos, blended with its text vector).

    Adding the text vector is Tip-Adapter's point: the prototype starts from what the model
    already knows and the user's photos move it, and a label with no photos still has one.
    """
    protos = classifier.copy()
    for label in range(len(classifier)):
        members = fit[fit_labels == label]
        if len(members):
            protos[label] = normalise(members.mean(axis=0)) + classifier[label]
    return zero_shot_accuracy(test, test_labels, normalise(protos))


def linear_probe_accuracy(
    fit: np.ndarray,
    fit_labels: np.ndarray,
    test: np.ndarray,
    test_labels: np.ndarray,
    classifier: np.ndarray,
) -> float:
    """A linear head on frozen embeddings, started at the zero-shot classifier and pulled back
    towards it (so a handful of photos refines the text classifier instead of replacing it)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(fit, dtype=np.float32))
    y = torch.from_numpy(fit_labels.astype(np.int64))
    start = torch.from_numpy(np.ascontiguousarray(classifier, dtype=np.float32))
    weights = start.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([weights], max_iter=LINEAR_STEPS, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = LINEAR_SCALE * x @ weights.t()
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss = loss + LINEAR_PULL * (weights - start).pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    head = weights.detach().numpy()
    if len(test) == 0:
        return 0.0
    predicted = np.argmax(test @ head.T, axis=1)
    return float(np.mean(predicted == test_labels))


def evaluate(
    images: np.ndarray,
    labels: np.ndarray,
    ensemble: np.ndarray,
    single: np.ndarray,
    *,
    fit: np.ndarray | None = None,
    fit_labels: np.ndarray | None = None,
    quick: np.ndarray | None = None,
    quick_labels: np.ndarray | None = None,
    logit_scale: float = TAG_LOGIT_SCALE,
) -> Evaluation:
    """All figures from unit embeddings: `images`/`labels` are the evaluated photos; the quick
    mode fits on `fit` and is measured on `quick` (default: the evaluated photos)."""
    images, ensemble, single = normalise(images), normalise(ensemble), normalise(single)
    labels = np.asarray(labels, dtype=np.int64)
    recalls = {k: recall_at_k(images, labels, ensemble, k) for k in RECALL_KS}
    proto = probe = None
    quick_n = 0
    if fit is not None and fit_labels is not None and len(fit):
        fit, fit_l = normalise(fit), np.asarray(fit_labels, dtype=np.int64)
        q = images if quick is None else normalise(quick)
        q_l = labels if quick_labels is None else np.asarray(quick_labels, dtype=np.int64)
        if len(q):
            proto = prototype_accuracy(fit, fit_l, q, q_l, ensemble)
            probe = linear_probe_accuracy(fit, fit_l, q, q_l, ensemble)
            quick_n = len(q)
    trade = tag_tradeoff(images, labels, ensemble, logit_scale) if len(images) else None
    return Evaluation(
        labels=len(ensemble),
        images=len(images),
        zero_shot_accuracy=zero_shot_accuracy(images, labels, ensemble),
        zero_shot_accuracy_single_prompt=zero_shot_accuracy(images, labels, single),
        recall_at_1=recalls[1],
        recall_at_5=recalls[5],
        modality_gap=modality_gap(images, single[labels]) if len(images) else 0.0,
        prototype_accuracy=proto,
        linear_probe_accuracy=probe,
        quick_images=quick_n,
        tag_threshold=None if trade is None else trade.threshold,
        tag_precision=None if trade is None else trade.precision,
        tag_coverage=None if trade is None else trade.coverage,
        tag_accuracy=None if trade is None else trade.accuracy,
        tradeoff=None if trade is None else trade.curve,
    )


def embed_images(
    model: TextImageModel,
    photos: Photos,
    indices: Sequence[int],
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Unit image embeddings of photos[indices], through the model's own centre crop."""
    out = []
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        out.append(np.asarray(model.encode_images(photos.eval_pixels(chunk)), dtype=np.float32))
        if progress is not None:
            progress(start + len(chunk))
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return normalise(np.concatenate(out))


# -- `photoclip eval` --------------------------------------------------------------------------


def seen_photos(model_dir: str | Path) -> set[str]:
    """Content hashes of the photos a fine-tuned model was trained or tuned on (empty if none)."""
    path = Path(model_dir).expanduser() / SEEN_PHOTOS_FILE
    try:
        lines = path.read_text(encoding="utf-8").split()
    except OSError:
        return set()
    return set(lines)


class AlbumEvaluation:
    """`photoclip eval`: the model's figures on the albums' photos it has never trained on.

    Zero-shot figures use every such photo; the quick mode fits prototypes and a linear head on
    half of each label and is measured on the other half.
    """

    def __init__(
        self,
        model: Any,  # a ClipEncoder (needs preprocessing and model_id besides encoding)
        albums: Albums,
        *,
        templates: Sequence[str] | None = None,
        batch_size: int = 32,
    ) -> None:
        self.model = model
        self.albums = albums
        self.templates = tuple(templates or albums.templates or default_templates())
        self.batch_size = batch_size
        self.result: Evaluation | None = None
        self.excluded = 0  # photos left out because the model was trained or tuned on them
        self.failures: list[tuple[str, str]] = []

    def run(self, cancel: threading.Event | None = None) -> Iterator[Progress]:
        photos = Photos(Preprocessing.of(self.model))
        yield from load_photos(self.albums.samples, photos,
                               cancel=None if cancel is None else cancel.is_set)
        if cancel is not None and cancel.is_set():
            return
        self.failures = photos.failures
        seen = seen_photos(self.model.model_id) if Path(self.model.model_id).is_dir() else set()
        keep = [i for i, h in enumerate(photos.hashes) if h not in seen]
        self.excluded = len(photos) - len(keep)
        if self.excluded:
            log.info("left out %d photos the model was trained on", self.excluded)
        if not keep:
            raise DataError(
                f"Every photo in {self.albums.source} was used to train this model, so none can "
                "measure it: evaluate on other albums."
            )
        labels = np.asarray([photos.samples[i].label for i in keep], dtype=np.int64)
        total = len(keep)
        parts = []
        for start in range(0, total, self.batch_size):
            chunk = keep[start : start + self.batch_size]
            parts.append(embed_images(self.model, photos, chunk, self.batch_size))
            yield Progress("embed", start + len(chunk), total, message="embedding photos")
            if cancel is not None and cancel.is_set():
                return
        images = np.concatenate(parts)
        names = self.albums.labels
        ensemble = text_classifier(self.model.encode_texts, names, self.templates)
        single = text_classifier(self.model.encode_texts, names, [SINGLE_TEMPLATE])
        quick = stratified_split(labels.tolist(), [photos.hashes[i] for i in keep], QUICK_SPLIT)
        fit_i, test_i = list(quick.train), list(quick.held_out)
        self.result = evaluate(
            images, labels, ensemble, single,
            fit=images[fit_i], fit_labels=labels[fit_i],
            quick=images[test_i], quick_labels=labels[test_i],
            logit_scale=encoder_scoring(self.model)[0],
        )
        yield Progress("eval", total, total, finished=True,
                       message=f"zero-shot accuracy {self.result.zero_shot_accuracy:.3f}")


def read_metadata(model_dir: str | Path) -> dict[str, Any] | None:
    """A fine-tuned model's photoclip.json, or None for any other model."""
    try:
        data = json.loads((Path(model_dir).expanduser() / METADATA_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
