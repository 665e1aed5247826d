"""Hard negative captions (NegCLIP, Yuksekgonul et al., ICLR 2023): a caption with its
relation, its attributes or its objects swapped, or negated, says something false about the
same photo in almost the same words. Added to the InfoNCE denominator they make the model read
word order instead of a bag of words.

Rule-based, on a small vocabulary (colours, sizes, relations, counts, with/without), so it
needs no parser; a caption it cannot change ("grandmas garden") simply has no hard negatives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from photoclip.core.probes.scenes import COLOURS, SHAPES

ATTRIBUTES = frozenset({*COLOURS, "black", "white", "orange", "purple", "pink", "brown", "grey",
                        "gray", "big", "small", "large", "tiny", "young", "old", "wooden",
                        "metal", "open", "closed", "wet", "dry"})
NOUNS = frozenset({*SHAPES, "dog", "cat", "person", "man", "woman", "child", "car", "tree",
                   "house", "table", "chair", "cup", "horse", "bird", "boat", "ball", "bike"})
RELATION_SWAPS = (("left of", "right of"), ("above", "below"), ("on top of", "under"),
                  ("in front of", "behind"), ("inside", "outside"))
NEGATION_SWAPS = (("with", "without"),)
COUNT_SWAPS = (("one", "two"), ("two", "three"), ("three", "four"))
# A relation splits a caption into the two objects it relates: swapping them is a negative
# ("and" and "with" are symmetric: swapping around them says the same thing).
JOINERS = tuple(sorted({w for pair in RELATION_SWAPS for w in pair}, key=len, reverse=True))


def _swap_phrase(text: str, a: str, b: str) -> str | None:
    """text with whole-word `a` and `b` exchanged; None when neither occurs."""
    pattern = re.compile(rf"\b({re.escape(a)}|{re.escape(b)})\b")
    if not pattern.search(text):
        return None
    return pattern.sub(lambda m: b if m.group(1) == a else a, text)


def _swap_words(words: list[str], vocabulary: frozenset[str]) -> str | None:
    """The first two different words from `vocabulary` exchanged (red circle ... blue square ->
    blue circle ... red square)."""
    spots = [i for i, w in enumerate(words) if w in vocabulary]
    for j in spots[1:]:
        i = spots[0]
        if words[i] != words[j]:
            out = list(words)
            out[i], out[j] = out[j], out[i]
            return " ".join(out)
    return None


def _swap_objects(text: str) -> str | None:
    """"a red circle left of a blue square" -> "a blue square left of a red circle": the two
    phrases a relation joins exchanged; a lead-in ("a photo of"), the articles and the final
    full stop stay where they were."""
    frame = re.match(r"^((?:an?|the)\s+(?:photo|picture|image)\s+of\s+)?(.*?)(\s*[.!]?)$", text)
    if frame is None:
        return None
    lead_in, body, end = frame.group(1) or "", frame.group(2), frame.group(3)
    for joiner in JOINERS:
        parts = re.split(rf"\s+{re.escape(joiner)}\s+", body, maxsplit=1)
        if len(parts) == 2 and parts[0].strip() and parts[1].strip():
            (art_a, a), (art_b, b) = (_article(p) for p in parts)
            return f"{lead_in}{art_a}{b} {joiner} {art_b}{a}{end}"
    return None


def _article(phrase: str) -> tuple[str, str]:
    m = re.match(r"^(?:an?|the)\s+", phrase)
    return (m.group(0), phrase[m.end():]) if m else ("", phrase)


def perturbations(text: str) -> list[str]:
    """The hard negatives of one caption: distinct, different from it, in a fixed order."""
    words = text.split()
    found: list[str | None] = []
    for a, b in RELATION_SWAPS + NEGATION_SWAPS + COUNT_SWAPS:
        found.append(_swap_phrase(text, a, b))
    found.append(_swap_words(words, ATTRIBUTES))
    found.append(_swap_words(words, NOUNS))
    found.append(_swap_objects(text))
    if re.search(r"\band\b", text) and not re.search(r"\bwith(out)?\b", text):
        found.append(re.sub(r"\band\b", "without", text, count=1))  # "A and B" -> "A without B"
    out: list[str] = []
    for f in found:
        if f and f != text and f not in out:
            out.append(f)
    return out


@dataclass
class HardNegatives:
    """Every caption's hard negatives, tokenised once for a training run.

    Caption c is `templates[c % T].format(labels[c // T])` (the trainer's order); its negatives
    are the label's perturbations in the same template. A negative that is another album's label
    carries that label's id, so the loss never pushes a photo away from its own caption.
    """

    input_ids: Any  # (M, L) token ids of every distinct negative
    attention_mask: Any
    labels: np.ndarray  # (M,) the album label a negative is, or -1
    of_caption: list[list[int]]  # caption index -> indices into the negatives

    @classmethod
    def build(cls, labels: Sequence[str], templates: Sequence[str], tokenizer: Any,
              tokenize: Callable[[list[str]], Any] | None = None) -> HardNegatives:
        """`tokenize` (texts -> input_ids and attention_mask): the model family's way; None:
        the tokenizer, padded to the longest."""
        index = {label: i for i, label in enumerate(labels)}
        texts: list[str] = []
        ids: dict[str, int] = {}
        owners: list[int] = []
        of_caption: list[list[int]] = []
        for label in labels:
            negatives = perturbations(label)
            for template in templates:
                row = []
                for neg in negatives:
                    prompt = template.format(neg)
                    if prompt not in ids:
                        ids[prompt] = len(texts)
                        texts.append(prompt)
                        owners.append(index.get(neg, -1))
                    row.append(ids[prompt])
                of_caption.append(row)
        tokens = (tokenizer(texts or [""], padding=True, truncation=True, return_tensors="pt")
                  if tokenize is None else tokenize(texts))
        return cls(tokens["input_ids"], tokens["attention_mask"],
                   np.asarray(owners or [-1], dtype=np.int64), of_caption)

    @property
    def count(self) -> int:
        return sum(1 for row in self.of_caption if row)

    def batch(self, captions: Sequence[int],
              rng: np.random.Generator) -> tuple[Any, Any, Any] | None:
        """One random hard negative per caption that has any: (ids, mask, label ids) tensors,
        or None when no caption in the batch has one."""
        import torch

        picked = [row[int(rng.integers(0, len(row)))]
                  for row in (self.of_caption[int(c)] for c in captions) if row]
        if not picked:
            return None
        which = torch.as_tensor(picked, dtype=torch.long)
        return (self.input_ids[which], self.attention_mask[which],
                torch.from_numpy(self.labels[picked]))
