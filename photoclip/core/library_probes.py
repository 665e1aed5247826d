"""What `Library.probe()` hands out: the blind-spot probes (core/probes) on this run's model, or
on a model the user names (a fine-tuned one, for the Training page's before/after)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from photoclip.core.errors import NotFoundError, PhotoclipError
from photoclip.core.library_models import ModelInfo
from photoclip.core.probes import DEFAULT_ITEMS, FAMILIES, ProbeEvaluation
from photoclip.core.probes.bias import BiasEvaluation
from photoclip.core.probes.evaluate import ProbeModel

__all__ = ["BiasEvaluation", "ProbeEvaluation", "bias_job", "probe_job", "probe_source"]


def probe_source(name: str, find: Callable[[str], ModelInfo | None]) -> str:
    """A name from `models list`, else a folder or a hub id (as --model takes)."""
    entry = find(name)
    if entry is not None:
        return entry.source
    if Path(name).expanduser().is_dir() or "/" in name:
        return name
    raise NotFoundError(f"No model named {name!r}: see `photoclip models list`.")


def probe_job(model: ProbeModel, model_name: str, families: Sequence[str] | None = None,
              items: int = DEFAULT_ITEMS, seed: int = 0) -> ProbeEvaluation:
    """The probes as one job on `model` (loaded only when the job runs)."""
    unknown = [f for f in families or () if f not in FAMILIES]
    if unknown:
        raise NotFoundError(f"No probe family {unknown[0]!r}: choose from {', '.join(FAMILIES)}.")
    if items < 1:
        raise PhotoclipError("--items must be at least 1 (200 gives about +-7 points).")
    return ProbeEvaluation(model, model_name=model_name, families=families, items=items,
                           seed=seed)


def bias_job(model_from: Callable[[], Any], vectors_from: Callable[[], Any],
             model_name: str) -> BiasEvaluation:
    """`eval --bias`: the profession x group prompts against the library's photo vectors (the
    model and the vectors are reached only when the job runs)."""
    return BiasEvaluation(model_from, vectors_from, model_name)
