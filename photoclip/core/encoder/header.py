"""What a model folder says about itself without loading the model: its family (config.json)
and single scalar weights (logit_scale, logit_bias) read straight from the safetensors file.

Listing a photo's tags scores its stored vector against stored prompt vectors; the only thing
it needs from the model is the logit scale (and a SigLIP bias). Reading those two numbers from
the file's header and eight bytes of data keeps torch (seconds, ~1 GB) out of that command.
"""

from __future__ import annotations

import json
import logging
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from photoclip.core.encoder.families import Family, family_of_folder

log = logging.getLogger(__name__)

# A safetensors header is JSON of a few hundred bytes per tensor; a CLIP has ~400 tensors.
# Anything far larger is not a file we wrote or trust to parse whole.
MAX_HEADER_BYTES = 64 * 1024 * 1024

_SCALAR_FORMATS = {"F32": ("<f", 4), "F64": ("<d", 8), "F16": ("<e", 2)}


@dataclass(frozen=True)
class Scoring:
    """How label scores are made for a model: family, exp(logit_scale), SigLIP's bias."""

    family: Family
    logit_scale: float
    logit_bias: float | None


def weight_files(folder: Path, name: str) -> list[Path]:
    """The safetensors files that may hold tensor `name`: the shard the index names, else the
    single model.safetensors."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map") or {}
        shard = weight_map.get(name)
        return [folder / str(shard)] if shard else []
    single = folder / "model.safetensors"
    return [single] if single.is_file() else []


def read_scalar(path: Path, name: str) -> float | None:
    """The value of one single-element tensor in a safetensors file, or None if absent."""
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        if not 0 < size <= MAX_HEADER_BYTES:
            raise ValueError(f"{path.name}: implausible safetensors header size {size}")
        header = json.loads(f.read(size))
        entry = header.get(name)
        if not isinstance(entry, dict):
            return None
        dtype = str(entry.get("dtype"))
        start, end = entry["data_offsets"]
        if dtype == "BF16":
            f.seek(8 + size + int(start))
            raw = f.read(2)
            (value,) = struct.unpack("<f", b"\x00\x00" + raw)  # bf16 is the top half of fp32
            return float(value)
        fmt = _SCALAR_FORMATS.get(dtype)
        if fmt is None or int(end) - int(start) != fmt[1]:
            return None  # not a one-element float tensor: let the model load answer
        f.seek(8 + size + int(start))
        (value,) = struct.unpack(fmt[0], f.read(fmt[1]))
        return float(value)


def scoring_from_folder(folder: str | Path, model_id: str) -> Scoring | None:
    """The model's scoring read from its folder, or None when the folder cannot tell (no
    safetensors, a tensor missing, anything unreadable): then loading the model answers."""
    folder = Path(folder)
    try:
        family = family_of_folder(folder, model_id)
        scale = _tensor(folder, "logit_scale")
        if scale is None:
            return None
        bias = None
        if family.sigmoid:
            bias = _tensor(folder, "logit_bias")
            if bias is None:
                return None
        value = math.exp(scale)
        if not math.isfinite(value):
            return None
        return Scoring(family, value, bias)
    except Exception:  # any unreadable folder: the caller loads the model instead
        log.debug("could not read scoring from %s", folder, exc_info=True)
        return None


def _tensor(folder: Path, name: str) -> float | None:
    for path in weight_files(folder, name):
        value = read_scalar(path, name)
        if value is not None:
            return value
    return None
