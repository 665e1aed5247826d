"""What the front ends may use besides Library: pure helpers and value types; nothing here
opens the catalog or loads a model.

The GUI and the CLI reach the core through `photoclip.core.library.Library` (everything with
state: the catalog, the model, the jobs), `photoclip.core.types`, `photoclip.core.errors` and
this module (the import-linter contract "one-door" in pyproject.toml says so). What is here:
checks and defaults for label sets and model names, the numbers the label-set editor shows,
training settings and results, image and thumbnail helpers, and the types of what `Library`
hands out (for annotations).

Importing this module imports nothing else: each name is imported from its module when first
used (a command that needs none of them starts faster), and none imports torch before a model
is loaded or training runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from photoclip.core.encoder.loading import is_unavailable_error, report_downloads
    from photoclip.core.imaging import decode, is_image_path, open_formats
    from photoclip.core.library_labels import LabelSets
    from photoclip.core.library_models import ModelInfo
    from photoclip.core.tagging.labelsets import (
        LabelSetSpec,
        LabelSpec,
        check_floor,
        check_name,
        check_templates,
        check_threshold,
        default_templates,
        shipped_sets,
        split_labels,
    )
    from photoclip.core.tagging.scoring import (
        DEFAULT_FLOOR,
        base_threshold,
        effective_threshold,
        threshold_text,
    )
    from photoclip.core.tagging.store import MANUAL_SET
    from photoclip.core.tagging.tagger import Tagger
    from photoclip.core.thumbnails import ensure as ensure_thumbnail
    from photoclip.core.thumbnails import make_thumbnail
    from photoclip.core.training.data import Albums
    from photoclip.core.training.registry import check_name as check_model_name
    from photoclip.core.training.trainer import FINETUNE_LR, SCRATCH_LR, TrainConfig, TrainResult
    from photoclip.core.watching import Watcher

# name -> (module, name there): imported on first use by __getattr__ below.
_LAZY: dict[str, tuple[str, str]] = {
    "Albums": ("photoclip.core.training.data", "Albums"),
    "DEFAULT_FLOOR": ("photoclip.core.tagging.scoring", "DEFAULT_FLOOR"),
    "FINETUNE_LR": ("photoclip.core.training.trainer", "FINETUNE_LR"),
    "LabelSetSpec": ("photoclip.core.tagging.labelsets", "LabelSetSpec"),
    "LabelSets": ("photoclip.core.library_labels", "LabelSets"),
    "LabelSpec": ("photoclip.core.tagging.labelsets", "LabelSpec"),
    "MANUAL_SET": ("photoclip.core.tagging.store", "MANUAL_SET"),
    "ModelInfo": ("photoclip.core.library_models", "ModelInfo"),
    "SCRATCH_LR": ("photoclip.core.training.trainer", "SCRATCH_LR"),
    "Tagger": ("photoclip.core.tagging.tagger", "Tagger"),
    "TrainConfig": ("photoclip.core.training.trainer", "TrainConfig"),
    "TrainResult": ("photoclip.core.training.trainer", "TrainResult"),
    "Watcher": ("photoclip.core.watching", "Watcher"),
    "base_threshold": ("photoclip.core.tagging.scoring", "base_threshold"),
    "check_floor": ("photoclip.core.tagging.labelsets", "check_floor"),
    "check_model_name": ("photoclip.core.training.registry", "check_name"),
    "check_name": ("photoclip.core.tagging.labelsets", "check_name"),
    "check_templates": ("photoclip.core.tagging.labelsets", "check_templates"),
    "check_threshold": ("photoclip.core.tagging.labelsets", "check_threshold"),
    "decode": ("photoclip.core.imaging", "decode"),
    "default_templates": ("photoclip.core.tagging.labelsets", "default_templates"),
    "effective_threshold": ("photoclip.core.tagging.scoring", "effective_threshold"),
    "ensure_thumbnail": ("photoclip.core.thumbnails", "ensure"),
    "is_image_path": ("photoclip.core.imaging", "is_image_path"),
    "make_thumbnail": ("photoclip.core.thumbnails", "make_thumbnail"),
    "open_formats": ("photoclip.core.imaging", "open_formats"),
    "report_downloads": ("photoclip.core.encoder.loading", "report_downloads"),
    "is_unavailable_error": ("photoclip.core.encoder.loading", "is_unavailable_error"),
    "shipped_sets": ("photoclip.core.tagging.labelsets", "shipped_sets"),
    "split_labels": ("photoclip.core.tagging.labelsets", "split_labels"),
    "threshold_text": ("photoclip.core.tagging.scoring", "threshold_text"),
}

__all__ = [
    "DEFAULT_FLOOR",
    "FINETUNE_LR",
    "MANUAL_SET",
    "SCRATCH_LR",
    "Albums",
    "LabelSetSpec",
    "LabelSets",
    "LabelSpec",
    "ModelInfo",
    "Tagger",
    "TrainConfig",
    "TrainResult",
    "Watcher",
    "base_threshold",
    "check_floor",
    "check_model_name",
    "check_name",
    "check_templates",
    "check_threshold",
    "decode",
    "default_templates",
    "effective_threshold",
    "ensure_thumbnail",
    "is_image_path",
    "is_unavailable_error",
    "make_thumbnail",
    "open_formats",
    "report_downloads",
    "shipped_sets",
    "split_labels",
    "threshold_text",
]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # next time a plain module attribute
    return value
