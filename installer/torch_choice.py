#!/usr/bin/env python3
"""Which torch build to install on this machine: the one rule the Makefile and install.sh share.

Prints the extra pip arguments for installing torch (nothing when the default index is right),
one per line, and says on stderr what it chose and why:

- an NVIDIA GPU here (``nvidia-smi`` on PATH or ``/proc/driver/nvidia``) -> the CUDA build:
  on Linux that is the default (PyPI's Linux wheels are the CUDA build); on Windows PyTorch's
  CUDA index (PyPI's Windows wheels are CPU-only);
- macOS -> the default (its wheels use the GPU through MPS);
- otherwise (Linux or Windows with no NVIDIA GPU) -> PyTorch's CPU-only index, added beside
  your own pip configuration, so a CPU machine does not download several GB of CUDA libraries.
  When that index cannot be reached (an offline mirror, a closed network), the default is used
  and the message says so.

Override with ``PHOTOCLIP_TORCH=cpu|cuda|default`` (``auto`` is the rule above), or name the
index yourself with ``TORCH_INDEX_URL`` (set but empty: your pip configuration alone).

Standard library only: it runs before any environment exists.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CUDA_INDEX = "https://download.pytorch.org/whl/cu128"
CHOICES = ("auto", "cpu", "cuda", "default")


@dataclass(frozen=True)
class Machine:
    platform: str  # sys.platform: linux, darwin, win32
    nvidia: bool


@dataclass(frozen=True)
class Choice:
    build: str  # cpu | cuda | default
    pip_args: list[str] = field(default_factory=list)
    reason: str = ""


def has_nvidia_gpu(which: Callable[[str], str | None] = shutil.which,
                   proc: Path = Path("/proc/driver/nvidia")) -> bool:
    return which("nvidia-smi") is not None or proc.exists()


def this_machine() -> Machine:
    return Machine(sys.platform, has_nvidia_gpu())


def reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether the index's host answers on its port at all (no request is sent)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(parsed.path).exists()
    host = parsed.hostname
    if not host:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def choose(machine: Machine, env: Mapping[str, str],
           can_reach: Callable[[str], bool] = reachable) -> Choice:
    if "TORCH_INDEX_URL" in env:
        url = env["TORCH_INDEX_URL"].strip()
        if not url:
            return Choice("default", [], "TORCH_INDEX_URL is empty: your pip configuration")
        return Choice("custom", ["--extra-index-url", url], f"TORCH_INDEX_URL={url}")
    wanted = (env.get("PHOTOCLIP_TORCH") or "auto").strip().lower()
    if wanted not in CHOICES:
        raise ValueError(f"PHOTOCLIP_TORCH={wanted!r}: use one of {', '.join(CHOICES)}")
    why = f"PHOTOCLIP_TORCH={wanted}"
    if wanted == "auto":
        if machine.platform == "darwin":
            return Choice("default", [], "macOS: the default build (uses the GPU through MPS)")
        if machine.nvidia:
            wanted, why = "cuda", "an NVIDIA GPU is present"
        else:
            wanted, why = "cpu", "no NVIDIA GPU found"
    if wanted == "default":
        return Choice("default", [], f"{why}: the default build from your pip configuration")
    if wanted == "cuda":
        if machine.platform == "win32":
            return Choice("cuda", ["--extra-index-url", CUDA_INDEX],
                          f"{why}: the CUDA build from PyTorch's index")
        return Choice("cuda", [], f"{why}: the CUDA build (the default on this platform)")
    if machine.platform == "darwin":
        return Choice("default", [], f"{why}: macOS wheels have no CUDA, the default is it")
    if not can_reach(CPU_INDEX):
        return Choice("default", [], f"{why}, but PyTorch's CPU-only index cannot be reached: "
                      "the default build from your pip configuration (on Linux that may be "
                      "the large CUDA build; set TORCH_INDEX_URL to a CPU index to avoid it)")
    return Choice("cpu", ["--extra-index-url", CPU_INDEX],
                  f"{why}: the CPU-only build from PyTorch's index (no CUDA download)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        choice = choose(this_machine(), os.environ)
    except ValueError as exc:
        print(f"torch_choice: {exc}", file=sys.stderr)
        return 2
    if "--quiet" not in args:
        print(f"torch: {choice.reason}", file=sys.stderr)
    for arg in choice.pip_args:
        print(arg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
