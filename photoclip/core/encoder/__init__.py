"""CLIP image and text encoder.

- device:     which device a model runs on, settled once per process (resolve_device)
- preprocess: photo -> model input with PIL and numpy (the model's resize/crop/normalise)
- loading:    hub download with byte progress, folder loading, CPU precision, load errors
- clip:       ClipEncoder and the Encoder protocol the indexer and search use

torch and transformers are imported only when a model is loaded: the CLI, the GUI start-up and
the decode workers import this package, and none of them should pay for torch (seconds, ~1 GB).
"""

from __future__ import annotations

from photoclip.core.encoder.clip import ClipEncoder, Encoder, pooled
from photoclip.core.encoder.device import DEVICES, ENV_TORCH_THREADS, resolve_device
from photoclip.core.encoder.loading import (
    CPU_PRECISIONS,
    DownloadProgress,
    download_model,
    model_id_for,
    report_downloads,
    to_cpu_precision,
)
from photoclip.core.encoder.preprocess import PreprocessRecipe, resize_for_model

__all__ = [
    "CPU_PRECISIONS",
    "DEVICES",
    "ENV_TORCH_THREADS",
    "ClipEncoder",
    "DownloadProgress",
    "Encoder",
    "PreprocessRecipe",
    "download_model",
    "model_id_for",
    "pooled",
    "report_downloads",
    "resize_for_model",
    "resolve_device",
    "to_cpu_precision",
]
