"""Loading torch and a model in a worker thread without freezing the threads beside it.

A model loads in a worker while the window keeps painting (and a CLI's other threads keep
going). Two things in that load hold Python's interpreter lock for hundreds of milliseconds at
a time, and every other thread waits for them (measured: UI-thread stalls of 190-380 ms on a
2-core machine while `import torch, transformers` ran in a worker):

- the dynamic loader mapping torch's shared libraries (libtorch_cpu is ~430 MB) when
  `import torch` loads its extension module: the import machinery keeps the lock meanwhile;
- the garbage collector's full passes, which the hundreds of thousands of objects that torch,
  transformers and sympy create at import set off, each scanning every object there is.

`heavy_loading()` maps the libraries first through a ctypes *call* of dlopen (a foreign call
lets go of the lock while it runs; the later `import torch` finds them loaded), and keeps the
collector off until the load is done. Then it moves every object alive into the collector's
permanent generation (`gc.freeze`), so later passes do not rescan the model stack's objects
either (and the first pass after the load does not scan all it made at once). With both, the
worst stall measured beside the same load was 37-50 ms.

Only the first load of a process does this: once torch is imported, a model load makes
thousands of objects, not millions, and freezing again would keep whatever cyclic garbage is
alive then for good.
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

# torch's largest libraries, in load order (each one's dependencies come before it).
TORCH_LIBRARIES = ("libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so",
                   "libtorch.so", "libtorch_python.so")
RTLD_NOW = 2  # and RTLD_LOCAL (0): what the import machinery would use

_lock = threading.Lock()
_depth = 0  # nested or concurrent heavy loads: the collector comes back after the last
_was_enabled = True


def preload_torch_libraries() -> list[str]:
    """Map torch's shared libraries without holding the interpreter lock (Linux; elsewhere, or
    once torch is imported, nothing). Returns the names mapped; a library that does not map is
    left to `import torch`, which then says what is wrong as it always would."""
    if sys.platform != "linux" or "torch" in sys.modules:
        return []
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return []
    folder = Path(spec.origin).parent / "lib"
    libdl = ctypes.CDLL(None)  # the process's own symbols: dlopen among them
    dlopen = libdl.dlopen
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    mapped = []
    for name in TORCH_LIBRARIES:
        path = folder / name
        if path.is_file() and dlopen(str(path).encode(), RTLD_NOW):
            mapped.append(name)
    log.debug("mapped %s before importing torch", mapped)
    return mapped


@contextmanager
def heavy_loading() -> Iterator[None]:
    """Around importing torch/transformers and loading a model (see the module docstring)."""
    global _depth, _was_enabled
    if "torch" in sys.modules and _depth == 0:
        yield  # torch is in: nothing heavy to shield the other threads from
        return
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        try:
            preload_torch_libraries()
        except (OSError, AttributeError):  # no dlopen to call: the import maps them itself
            log.debug("could not map torch's libraries ahead", exc_info=True)
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.freeze()  # what the load made is kept for good: never rescanned
                if _was_enabled:
                    gc.enable()
