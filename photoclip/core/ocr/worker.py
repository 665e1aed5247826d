"""Reading one photo's text, in this process or fenced off in a child process.

onnxruntime is native code: a hostile image that makes it crash (a segfault, an abort) or hang
would take the whole app or the indexer with it. `IsolatedReader` runs decode, the skip probe
and recognition in a child process (spawned: no inherited threads or Qt state) at a lower CPU
priority, waits at most `timeout_s` per photo, and when the child dies or hangs records that
photo as failed with the reason and starts a fresh child for the next one.

`read_photo` is the one recipe both use: decode at a bounded size, ask the detector whether
the photo is worth reading, read it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import threading
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any, Protocol

from photoclip.core.errors import ImageError
from photoclip.core.imaging import decode
from photoclip.core.ocr.engine import Line, OcrEngine, OcrError, OcrUnavailable
from photoclip.core.ocr.skip import worth_reading

log = logging.getLogger(__name__)

# Shortest side photos are decoded at (JPEG draft mode picks the nearest scale above): enough
# for the engine's MAX_SIDE reading of a 4:3 photo, and for tiles of a panorama.
DECODE_MIN_SIDE = 1024
# Longest a photo may take in the child before it is given up as hung: a 12-MP photo in 8
# tiles reads in ~12 s on one loaded core; ten times that is no longer slow, it is stuck.
TIMEOUT_S = 120.0
# The child's niceness: reading text yields the CPU to embedding and to the window.
NICE = 10
# The engine the child makes ("module:function" so tests can pass a fake one).
DEFAULT_FACTORY = "photoclip.core.ocr.worker:default_engine"

Result = tuple[str, list[Line]]  # state (text | none | skipped), lines


class ReaderClosed(Exception):
    """The reader was closed while a photo was being read (the pass is stopping): that
    photo is not recorded as failed."""


class PhotoReader(Protocol):
    def read_photo(self, path: str, skip: bool) -> Result: ...


def default_engine() -> OcrEngine:
    return OcrEngine()


def read_photo(engine: Any, path: str, skip: bool) -> Result:
    """(state, lines) for the photo at `path`; ImageError or OcrError when it cannot be read."""
    decoded = decode(path, DECODE_MIN_SIDE)
    image = decoded.image
    if skip and not worth_reading(engine, image):
        return "skipped", []
    lines = list(engine.read(image))
    # Boxes in the photo's own (upright) pixels, not the reduced decode's: the preview draws
    # them over whatever size it shows.
    sx, sy = decoded.width / image.width, decoded.height / image.height
    if decoded.width and decoded.height and (sx, sy) != (1.0, 1.0):
        lines = [replace(ln, box=tuple((round(x * sx), round(y * sy)) for x, y in ln.box))
                 for ln in lines]
    return ("text" if lines else "none"), lines


class InProcessReader:
    """Reads in this process (tests with fake engines; `bench`)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def read_photo(self, path: str, skip: bool) -> Result:
        return read_photo(self.engine, path, skip)

    def close(self) -> None:
        pass


def _make(factory: str) -> Any:
    module, _, name = factory.partition(":")
    return getattr(importlib.import_module(module), name)()


def _serve(conn: Connection, factory: str, nice: int) -> None:
    """The child: one request (path, skip) at a time, one answer each, until EOF."""
    with contextlib.suppress(OSError, AttributeError):  # no nice() on Windows
        os.nice(nice)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        engine = _make(factory)
    except Exception as exc:  # the package missing or broken: every request says so
        engine, problem = None, f"{type(exc).__name__}: {exc}"
    while True:
        try:
            path, skip = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if engine is None:
                raise OcrUnavailable(problem)
            conn.send(("ok", read_photo(engine, path, skip)))
        except ImageError as exc:
            conn.send(("error", exc.reason))
        except OcrUnavailable as exc:
            conn.send(("unavailable", str(exc)))
        except Exception as exc:  # OcrError, or anything the engine raised
            conn.send(("error", str(exc) if isinstance(exc, OcrError)
                       else f"text reader failed: {type(exc).__name__}: {exc}"))


class IsolatedReader:
    """Reads in a child process that may crash or hang without harm (see the module)."""

    def __init__(self, factory: str = DEFAULT_FACTORY, *, timeout_s: float = TIMEOUT_S,
                 nice: int = NICE) -> None:
        self.factory = factory
        self.timeout_s = timeout_s
        self.nice = nice
        self.restarts = 0  # children that died or hung (and were replaced)
        self._proc: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._closing = False

    def _start(self) -> Connection:
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            return self._conn
        self._stop_child()
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child, self.factory, self.nice),
                           name="photoclip-ocr", daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        return parent

    def read_photo(self, path: str, skip: bool) -> Result:
        with self._lock:
            if self._closing:
                raise ReaderClosed
            conn = self._start()
            try:
                conn.send((path, skip))
                if not conn.poll(self.timeout_s):
                    self._lost()
                    raise OcrError(f"text reader hung (no answer in {self.timeout_s:g} s)")
                kind, value = conn.recv()
            except (EOFError, OSError):
                if self._closing:
                    raise ReaderClosed from None
                raise OcrError(f"text reader crashed ({self._lost()})") from None
        if kind == "ok":
            state, lines = value
            return str(state), list(lines)
        if kind == "unavailable":
            raise OcrUnavailable(value)
        raise OcrError(str(value))

    def _lost(self) -> str:
        """The child died or hung: say how, and clear it (the next read starts another)."""
        proc = self._proc
        how = "it stopped"
        if proc is not None:
            proc.join(0.5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
            code = proc.exitcode
            if code is not None and code < 0:
                try:
                    how = f"killed by {signal.Signals(-code).name}"
                except ValueError:
                    how = f"killed by signal {-code}"
            elif code is not None:
                how = f"exit code {code}"
        self.restarts += 1
        log.warning("the text reader process was lost (%s); starting another", how)
        self._stop_child()
        return how

    def _stop_child(self) -> None:
        conn, proc = self._conn, self._proc
        self._conn = self._proc = None
        if conn is not None:
            conn.close()  # the child sees EOF and returns
        if proc is not None:
            proc.join(2)
            if proc.is_alive():
                proc.kill()
                proc.join(5)

    def close(self) -> None:
        """Stop the child now, even in the middle of a photo (which is then not recorded)."""
        self._closing = True
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.kill()  # a read waiting on it returns at once
        with self._lock:
            self._stop_child()


def reader_for(engine: Any) -> PhotoReader:
    """What OcrJob reads with: a reader as is, an engine (a fake, in tests) in this process."""
    return engine if hasattr(engine, "read_photo") else InProcessReader(engine)

