"""Running the probes on a model: for each item the caption with the higher image-text cosine is
the model's answer; accuracy per family (and per finer group) with a 95% Wilson interval,
beside the published figures for pretrained CLIP.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from PIL import Image

from photoclip.core.probes.families import (
    CHANCE,
    DEFAULT_ITEMS,
    FAMILIES,
    WHAT_IT_ASKS,
    WHAT_TO_DO,
    ProbeItem,
    generate,
)
from photoclip.core.probes.scenes import font_name
from photoclip.core.types import Progress

log = logging.getLogger(__name__)

Z95 = 1.959964  # two-sided 95% normal quantile
BATCH = 32  # probe pictures per model call

# Seed §6's figures for pretrained CLIP: published reference, not measured by photoclip.
REFERENCE_SOURCE = ("published figures for pretrained CLIP (seed §6; NegCLIP, Yuksekgonul et "
                    "al., ICLR 2023): a reference, not measured here")
REFERENCE: dict[str, float] = {
    "spatial": 0.50, "negation": 0.55, "binding": 0.75,
    "counting/one vs two": 0.65, "counting/two vs three": 0.55,
}


class ProbeModel(Protocol):
    """ClipEncoder's interface: read only when the job runs, so building it loads nothing."""

    @property
    def image_size(self) -> int: ...

    def preprocess(self, image: Image.Image) -> np.ndarray: ...

    def encode_images(self, batch: np.ndarray) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (sound near 0, 1 and for small n)."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Score:
    name: str
    correct: int = 0
    items: int = 0
    reference: float | None = None

    @property
    def accuracy(self) -> float:
        return self.correct / self.items if self.items else 0.0

    def as_dict(self) -> dict[str, Any]:
        low, high = wilson(self.correct, self.items)
        return {"name": self.name, "items": self.items, "correct": self.correct,
                "accuracy": round(self.accuracy, 4), "ci95": [round(low, 4), round(high, 4)],
                "chance": CHANCE, "reference": self.reference}


@dataclass
class FamilyResult(Score):
    asks: str = ""
    groups: dict[str, Score] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "family": self.name, "asks": self.asks,
                "advice": WHAT_TO_DO.get(self.name, ""),
                "groups": [g.as_dict() for g in self.groups.values()]}


@dataclass
class ProbeReport:
    model: str
    seed: int
    items_per_family: int
    families: list[FamilyResult]
    font: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "seed": self.seed, "chance": CHANCE,
                "items_per_family": self.items_per_family, "interval": "Wilson 95%",
                "font": self.font, "reference_source": REFERENCE_SOURCE,
                "families": [f.as_dict() for f in self.families]}

    def family(self, name: str) -> FamilyResult:
        return next(f for f in self.families if f.name == name)


def choose(images: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """(N, D) image and (N, 2, D) caption embeddings -> (N,) index of the closer caption; a
    tie goes to the first (the correct one is first in half the items)."""
    images = images / np.maximum(np.linalg.norm(images, axis=-1, keepdims=True), 1e-12)
    texts = texts / np.maximum(np.linalg.norm(texts, axis=-1, keepdims=True), 1e-12)
    cos = np.einsum("nd,nkd->nk", images, texts)
    return (cos[:, 1] > cos[:, 0]).astype(np.int64)


class ProbeEvaluation:
    """`photoclip eval --probes`: one job (run() yields Progress); `result` when done.

    Pictures are drawn at the model's input size and go through its own preprocess().
    """

    def __init__(self, model: ProbeModel, *, model_name: str,
                 families: Sequence[str] | None = None, items: int = DEFAULT_ITEMS,
                 seed: int = 0) -> None:
        unknown = [f for f in families or () if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown probe family {unknown[0]!r}: one of {', '.join(FAMILIES)}")
        self.model = model
        self.model_name = model_name
        self.families = tuple(families or FAMILIES)
        self.items = items
        self.seed = seed
        self.result: ProbeReport | None = None

    def run(self, cancel: threading.Event | None = None) -> Iterator[Progress]:
        sets = {f: generate(f, self.items, self.seed) for f in self.families}
        total = sum(len(s) for s in sets.values())
        done = 0
        results = []
        for family, items in sets.items():
            result = FamilyResult(family, reference=REFERENCE.get(family),
                                  asks=WHAT_IT_ASKS[family])
            captions = sorted({c for item in items for c in item.captions})
            text = dict(zip(captions, self.model.encode_texts(captions), strict=True))
            for start in range(0, len(items), BATCH):
                chunk = items[start : start + BATCH]
                self._score(chunk, text, result)
                done += len(chunk)
                yield Progress("probe", done, total, message=f"{family} probes")
                if cancel is not None and cancel.is_set():
                    return
            results.append(result)
        self.result = ProbeReport(self.model_name, self.seed, self.items, results, font_name())
        yield Progress("probe", total, total, finished=True, message="probes done")

    def _score(self, chunk: Sequence[ProbeItem], text: dict[str, np.ndarray],
               result: FamilyResult) -> None:
        size = self.model.image_size
        pixels = np.stack([self.model.preprocess(item.scene.draw(size)) for item in chunk])
        images = np.asarray(self.model.encode_images(pixels), dtype=np.float32)
        pairs = np.stack([[text[c] for c in item.captions] for item in chunk]).astype(np.float32)
        picked = choose(images, pairs)
        for item, pick in zip(chunk, picked, strict=True):
            right = int(pick == item.answer)
            key = f"{item.family}/{item.group}"
            group = result.groups.setdefault(
                item.group, Score(item.group, reference=REFERENCE.get(key)))
            for score in (result, group):
                score.items += 1
                score.correct += right
