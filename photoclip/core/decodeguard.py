"""What the decode threads share: how many decoded pixels the process holds at once
(PixelBudget), and where Pillow's warnings about odd files go (the log, not stderr).

imaging.DECODE_BUDGET is the budget the decoders share; the decode pool listens for waits on it
(reporting_budget_waits) so that waiting for memory does not count as a slow decode.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import PIL
import PIL.features
import PIL.Image


class PixelBudget:
    """Decoded pixels all decodes in the process may hold at once: a semaphore weighted by each
    image's pixel count (known from its header, before any pixel is decoded).

    The per-image limit alone lets N decode threads hold N large images (three 13,300-px
    squares took `add` to 1.9 GB); with the budget, large images take turns and small ones
    still decode side by side. An image larger than the whole budget waits until it can run
    alone. Turns are first come, first served, so a large image is not starved by small ones.

    A decode that has held its share for `patience_s` is not waited for any more: it is stuck
    (a hung network mount, a pathological file the indexer gives up on at about that time),
    and a stuck file must not stop every other decode. Not re-entrant: one hold per thread.
    """

    def __init__(self, capacity: int, patience_s: float = 30.0) -> None:
        self.capacity = capacity
        self.patience_s = patience_s
        self._cond = threading.Condition()
        self._held: dict[int, tuple[int, float]] = {}  # token -> (pixels, since)
        self._line: deque[int] = deque()  # tokens waiting for their turn, in order
        self._next = 0

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Wait until `pixels` fit beside what the other decodes hold, hold them meanwhile."""
        pixels = max(0, pixels)
        waited = False
        with self._cond:
            self._next += 1
            token = self._next
            self._line.append(token)
            try:
                while True:
                    blocked_for = self._blocked_for(token, pixels)
                    if blocked_for is None:
                        break
                    if not waited:
                        waited = True
                        _report_wait(True)
                    self._cond.wait(blocked_for)
            finally:
                self._line.remove(token)
                self._cond.notify_all()  # the next in line may fit too
            self._held[token] = (pixels, time.monotonic())
        if waited:
            _report_wait(False)
        try:
            yield
        finally:
            with self._cond:
                del self._held[token]
                self._cond.notify_all()
            if pixels >= _TRIM_ABOVE:
                _give_back_memory()

    def in_use(self) -> int:
        """Pixels held now by decodes not yet given up on."""
        with self._cond:
            return self._live(time.monotonic())[0]

    def _live(self, now: float) -> tuple[int, float | None]:
        """(pixels held by decodes within their patience, seconds until the next of them runs
        out of it)."""
        live, soonest = 0, None
        for pixels, since in self._held.values():
            left = since + self.patience_s - now
            if left > 0:
                live += pixels
                soonest = left if soonest is None else min(soonest, left)
        return live, soonest

    def _blocked_for(self, token: int, pixels: int) -> float | None:
        """None when `token` may go now; else how long to wait before looking again."""
        live, soonest = self._live(time.monotonic())
        if self._line[0] == token and (live == 0 or live + pixels <= self.capacity):
            return None
        return soonest if soonest is not None else self.patience_s


# A decode this large leaves hundreds of MB free in its thread's malloc arena, which glibc keeps
# for that thread: without handing it back, each decode thread in turn grows the process by a
# large image (1.35 GB, not 1.16, for three 13,300-px PNGs one after another).
_TRIM_ABOVE = 16_000_000


def _give_back_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where there is none (macOS, Windows, musl)."""
    try:
        fn: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return fn


_wait_listener = threading.local()


@contextmanager
def reporting_budget_waits(listener: Callable[[bool], None]) -> Iterator[None]:
    """While inside, this thread's waits for a PixelBudget call `listener(True)` when one
    starts and `listener(False)` when it ends (the decode pool stops a file's clock meanwhile:
    waiting for memory is not taking long to decode)."""
    previous = getattr(_wait_listener, "fn", None)
    _wait_listener.fn = listener
    try:
        yield
    finally:
        _wait_listener.fn = previous


def _report_wait(waiting: bool) -> None:
    listener = getattr(_wait_listener, "fn", None)
    if listener is not None:
        listener(waiting)


# -- Pillow's warnings -------------------------------------------------------------------------

log = logging.getLogger(__name__)

_PIL_DIR = os.path.dirname(PIL.__file__) + os.sep
_decoding = threading.local()  # the file this thread is decoding, for the log line
_route: Callable[..., None] | None = None  # the showwarning route_pillow_warnings installed


@contextmanager
def decoding(label: object) -> Iterator[None]:
    """Name the file this thread decodes meanwhile, so a warning about it says which."""
    previous = getattr(_decoding, "label", None)
    _decoding.label = label
    try:
        yield
    finally:
        _decoding.label = previous


def route_pillow_warnings() -> None:
    """Send the warnings Pillow raises about odd files (DecompressionBombWarning, "Possibly
    corrupt EXIF data", "Metadata Warning, tag ... had too many entries" ...) to the log instead
    of stderr, where they interleave with progress bars and --json output (466 lines for
    Pillow's own test images). Every other warning is shown as before.

    warnings.catch_warnings would be the local way, but it swaps process-wide state and is not
    safe with several decode threads, so the route is installed once, over what was there. The
    filters still apply first: a process that turns warnings into errors gets errors.
    """
    global _route
    if _route is not None and warnings.showwarning is _route:
        return
    previous = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        if (filename.startswith(_PIL_DIR)
                or issubclass(category, PIL.Image.DecompressionBombWarning)):
            where = getattr(_decoding, "label", None)
            log.info("%s: %s (%s)", where or "decoding an image", message, category.__name__)
            return
        previous(message, category, filename, lineno, file, line)

    warnings.showwarning = _route = show


def quiet_libtiff() -> bool:
    """Stop libtiff printing its errors about damaged TIFFs ("LZWDecode: Using code not yet in
    table.") straight to the process's stderr, from C, where no Python setting reaches. Pillow
    silences libtiff's warnings itself but not its errors; each such file fails with a reason
    all the same (the decoder's error). True if done.

    Done by setting libtiff's error handler to none, in the copy Pillow loaded (found among the
    process's mapped libraries: Linux only; elsewhere the lines still appear). Redirecting file
    descriptor 2 instead would also swallow everything else (progress bars, other threads'
    errors), so it is not done.
    """
    if not PIL.features.check("libtiff"):
        return False
    done = False
    for path in _mapped_libraries("libtiff"):  # Pillow's own copy, and any other loaded
        try:
            lib = ctypes.CDLL(path)
            lib.TIFFSetErrorHandler.argtypes = [ctypes.c_void_p]
            lib.TIFFSetErrorHandler.restype = ctypes.c_void_p
            lib.TIFFSetErrorHandler(None)
        except (OSError, AttributeError) as exc:
            log.debug("libtiff's errors stay on stderr (%s): %s", path, exc)
        else:
            done = True
    return done


def _mapped_libraries(stem: str) -> list[str]:
    """Paths of the shared libraries this process has loaded whose name starts with `stem`."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found: list[str] = []
    for line in lines:
        fields = line.split(None, 5)
        path = fields[5] if len(fields) == 6 else ""
        name = os.path.basename(path)
        if name.startswith((stem + ".", stem + "-")) and ".so" in name and path not in found:
            found.append(path)
    return found


route_pillow_warnings()  # whoever decodes imports this module: CLI, GUI, bench alike
quiet_libtiff()
