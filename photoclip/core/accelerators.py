"""Whether torch could find a GPU here, told without importing torch (about 2 s cold).

Commands that need no model (`status`, `tags`...) still name the device a model would run on,
and the CPU precision depends on it. On a machine where torch certainly sees no accelerator
(a CPU-only build of torch, or no GPU driver), that answer is "cpu" without asking torch; any
doubt goes to `photoclip.core.encoder.resolve_device`, which asks torch and is the authority.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# Shared libraries a torch build ships only when it can drive a GPU (CUDA, ROCm, XPU).
_GPU_LIBS = ("*torch_cuda*", "*torch_hip*", "*torch_xpu*", "*c10_cuda*", "*c10_hip*")
# Where a Linux GPU driver shows itself; /dev/kfd is ROCm's, /dev/dxg WSL's.
_LINUX_DRIVERS = ("/proc/driver/nvidia/gpus", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def surely_cpu_only() -> bool:
    """True only when torch would certainly answer "cpu" for the device "auto"."""
    if sys.platform == "darwin":
        return False  # Apple's Metal (mps) needs torch to tell
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return False
    if spec is None or spec.origin is None:
        return False  # let resolve_device say what is wrong
    lib = Path(spec.origin).parent / "lib"
    try:
        gpu_build = any(any(lib.glob(pattern)) for pattern in _GPU_LIBS)
    except OSError:
        return False
    if not gpu_build:
        return True
    if sys.platform.startswith("linux"):
        return not any(_present(path) for path in _LINUX_DRIVERS)
    return False


def _present(path: str) -> bool:
    p = Path(path)
    try:
        return any(p.iterdir()) if p.is_dir() else p.exists()
    except OSError:
        return True  # can't tell: ask torch


def resolve_device(requested: str = "auto") -> str:
    """`photoclip.core.encoder.resolve_device`, without importing torch (or the encoder) where
    torch could only answer "cpu"."""
    if (requested or "auto").strip().lower() == "auto" and surely_cpu_only():
        return "cpu"
    from photoclip.core.encoder import resolve_device as ask_torch

    return ask_torch(requested)
