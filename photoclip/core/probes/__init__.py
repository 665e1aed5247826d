"""Blind-spot probes (seed §6): generated forced choices that show where a CLIP model reads a
caption as a bag of words (relations, negation, counting, binding, written text), and the
caption perturbations that train against it (hard negatives, NegCLIP's recipe)."""

from __future__ import annotations

from photoclip.core.probes.evaluate import (
    REFERENCE,
    REFERENCE_SOURCE,
    FamilyResult,
    ProbeEvaluation,
    ProbeReport,
    Score,
    wilson,
)
from photoclip.core.probes.families import (
    CHANCE,
    DEFAULT_ITEMS,
    FAMILIES,
    ProbeItem,
    generate,
)

__all__ = [
    "CHANCE",
    "DEFAULT_ITEMS",
    "FAMILIES",
    "REFERENCE",
    "REFERENCE_SOURCE",
    "FamilyResult",
    "ProbeEvaluation",
    "ProbeItem",
    "ProbeReport",
    "Score",
    "generate",
    "wilson",
]
