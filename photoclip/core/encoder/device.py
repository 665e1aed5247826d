"""Which device a model runs on: the one place a device request ("auto", "cuda"...) is settled.

The answer is memoised per process: asking torch is not free (CUDA initialisation), and every
part of a run (the library's encoder, the trainer, the CPU fast path, `status`) must agree on it.
A request that cannot be met raises each time it is asked and is never remembered.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from photoclip.core.errors import ModelLoadError

log = logging.getLogger(__name__)

ENV_TORCH_THREADS = "PHOTOCLIP_TORCH_THREADS"
DEVICES = ("auto", "cpu", "cuda", "mps")

_resolved: dict[str, str] = {}
_resolved_lock = threading.Lock()


def resolve_device(requested: str = "auto") -> str:
    """Turn a device setting into "cpu", "cuda" or "mps"; auto prefers cuda, then mps."""
    requested = (requested or "auto").strip().lower()
    if requested not in DEVICES:
        raise ModelLoadError(f"Unknown device {requested!r}: use one of {', '.join(DEVICES)}.")
    if requested == "cpu":
        return "cpu"
    with _resolved_lock:
        known = _resolved.get(requested)
        if known is None:
            known = _ask_torch(requested)
            _resolved[requested] = known
            log.debug("device %s -> %s", requested, known)
    return known


def forget_resolved_devices() -> None:
    """Ask torch again next time (tests that fake an accelerator; a driver installed while
    the process runs is not something photoclip watches for)."""
    with _resolved_lock:
        _resolved.clear()


def _ask_torch(requested: str) -> str:
    import torch

    cuda_ok = torch.cuda.is_available()
    mps_ok = mps_available(torch)
    if requested == "auto":
        if cuda_ok:
            return "cuda"
        return "mps" if mps_ok else "cpu"
    if requested == "cuda" and not cuda_ok:
        build = torch.version.cuda or "none: a CPU-only build"
        raise ModelLoadError(
            f"Device 'cuda' was requested but no usable CUDA GPU was found "
            f"(torch {torch.__version__}, CUDA {build}). Set the device to 'auto' or 'cpu', "
            "or install a CUDA build of torch and an NVIDIA driver."
        )
    if requested == "mps" and not mps_ok:
        raise ModelLoadError(
            "Device 'mps' was requested but Apple's Metal backend is not available on this "
            "machine. Set the device to 'auto' or 'cpu'."
        )
    return requested


def mps_available(torch_mod: Any) -> bool:
    mps = getattr(torch_mod.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def apply_thread_setting(torch_mod: Any) -> None:
    """PHOTOCLIP_TORCH_THREADS: torch's intra-op threads, when set to a positive integer."""
    raw = os.environ.get(ENV_TORCH_THREADS)
    if not raw:
        return
    try:
        threads = int(raw)
        if threads < 1:
            raise ValueError(raw)
    except ValueError:
        log.warning("ignoring %s=%r: expected a positive integer", ENV_TORCH_THREADS, raw)
        return
    torch_mod.set_num_threads(threads)
    log.info("torch intra-op threads set to %d", threads)
