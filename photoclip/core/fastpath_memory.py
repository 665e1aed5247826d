"""The CPU fast path, measured once per model and machine rather than once per library.

Which precision runs a model fastest at fp32's results (core/fastpath.py) depends on the model's
weights and on the machine: the CPU, its core count and the torch build. Not on the library.
Kept per library only, the ~10 s measurement ran again at every new library's first `add`, and
that `add` indexed in fp32 (a third of int8's speed for ViT-B/32 on this project's test machine)
until it had. So the choice is also kept in the user's cache, under a key for this machine and
one for the model's files, and a library that has not measured takes it from there.

The file is small JSON, written whole and atomically; a damaged or unreadable file only means
measuring again.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import tempfile
import threading
from functools import cache
from importlib import metadata
from pathlib import Path

from photoclip.core.encoder.onnx_text import fingerprint

log = logging.getLogger(__name__)

ENV_CACHE = "PHOTOCLIP_MACHINE_CACHE"  # folder of the file (default: the user cache dir)
FILE = "fast-path.json"
_lock = threading.Lock()


def cache_file() -> Path:
    folder = os.environ.get(ENV_CACHE)
    if not folder:
        from platformdirs import user_cache_dir

        folder = user_cache_dir("photoclip", appauthor=False)
    return Path(folder).expanduser() / FILE


@cache
def machine() -> str:
    """This machine as far as speed goes: architecture, CPU model, cores, torch build."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        torch = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch = "none"
    return f"{platform.machine()} | {cpu} | {os.cpu_count()} cores | torch {torch}"


def model_key(model: str) -> str:
    """A hub id as it is; a model folder by its path and the fingerprint the ONNX text export
    also uses (its files' names, sizes and times), so weights saved over it are measured
    again."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return model
    return f"{folder.resolve()} | {fingerprint(folder, model)[:16]}"


def _read() -> dict[str, dict[str, str]]:
    try:
        data = json.loads(cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recall(model: str) -> str | None:
    """The choice measured for `model` on this machine, or None."""
    found = _read().get(machine(), {})
    choice = found.get(model_key(model)) if isinstance(found, dict) else None
    return choice if isinstance(choice, str) else None


def remember(model: str, choice: str) -> None:
    """Keep `choice` for `model` on this machine (best effort: a cache that cannot be written
    costs a measurement, never the command)."""
    with _lock:
        data = _read()
        mine = data.get(machine())
        if not isinstance(mine, dict):
            mine = data[machine()] = {}
        mine[model_key(model)] = choice
        path = cache_file()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".fast-path.", dir=path.parent)
        except OSError as exc:
            log.info("could not keep the fast path in %s: %s", path, exc)
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except OSError as exc:
            log.info("could not keep the fast path in %s: %s", path, exc)
            Path(tmp).unlink(missing_ok=True)


def known(library: dict[str, str], model: str) -> str | None:
    """The fast path for `model`: the library's own measurement, else this machine's (adopted
    into `library`, so later checks need no disk), else None (not measured)."""
    found = library.get(model)
    if found is None:
        found = recall(model)
        if found is not None:
            library[model] = found
    return found


def precision(library: dict[str, str], model: str) -> str:
    """What `model` runs in on this CPU: `known`, or fp32 until it has been measured."""
    return known(library, model) or "fp32"


def keep(library: dict[str, str], model: str, choice: str) -> None:
    """A measurement's choice, into the library's settings and this machine's cache."""
    library[model] = choice
    remember(model, choice)
