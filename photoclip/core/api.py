"""What the front ends may use besides Library: pure helpers and value types; nothing here
opens the catalog or loads a model.

The GUI and the CLI reach the core through `photoclip.core.library.Library` (everything with
state: the catalog, the model, the jobs), `photoclip.core.types`, `photoclip.core.errors` and
this module (the import-linter contract "one-door" in pyproject.toml says so). What is here:
checks and defaults for label sets and model names, the numbers the label-set editor shows,
training settings and results, image and thumbnail helpers, and the types of what `Library`
hands out (for annotations).

Importing this module does not import torch: the modules re-exported here load it only when a
model is loaded or training runs.
"""

from __future__ import annotations

from photoclip.core.encoder.loading import report_downloads
from photoclip.core.imaging import decode, is_image_path
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
from photoclip.core.tagging.scoring import DEFAULT_FLOOR, base_threshold, effective_threshold
from photoclip.core.tagging.store import MANUAL_SET
from photoclip.core.tagging.tagger import Tagger
from photoclip.core.thumbnails import ensure as ensure_thumbnail
from photoclip.core.thumbnails import make_thumbnail
from photoclip.core.training.data import Albums
from photoclip.core.training.registry import check_name as check_model_name
from photoclip.core.training.trainer import FINETUNE_LR, SCRATCH_LR, TrainConfig, TrainResult
from photoclip.core.watching import Watcher

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
    "make_thumbnail",
    "report_downloads",
    "shipped_sets",
    "split_labels",
]
