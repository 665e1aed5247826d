"""Work off the UI thread, in one place: long core jobs (`JobRunner`) and short calls (`Calls`).

A long job is a core generator of Progress (indexing, watching, re-tagging, training, switching
models). A `JobRunner` drives one at a time in a worker thread, turns each Progress into a
signal, pauses it between batches, cancels it (keeping what is done) and says once how it ended
(`finished`, with a `JobEnd`). Pages connect to its signals; none writes the thread lifecycle
itself.

A short call (a search, loading the model, "why this tag") is a callable run on a thread pool;
its value comes back, on the UI thread, to the handler given with it (`Calls.run`), or its
error's message to the error handler. `LatestCall` keeps only the newest call's answer: a
search typed over, a photo the user moved on from.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QObject,
    QRunnable,
    QThread,
    QThreadPool,
    Signal,
)

from photoclip.core.errors import PhotoclipError
from photoclip.core.types import Progress

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a thread running Python may keep the interpreter lock while another waits for it.
# Python's default, 5 ms, let workers running Python (a model load, a diff of 100,000 rows)
# keep the UI thread waiting 109-122 ms at a time among several threads; at 1 ms, 28-40 ms
# (`photoclip bench --gui`, 2 cores). The cost is more frequent switching between workers.
UI_SWITCH_INTERVAL_S = 0.001


def share_the_interpreter() -> None:
    """Let the UI thread in sooner when workers run Python (the window's processes call it)."""
    sys.setswitchinterval(UI_SWITCH_INTERVAL_S)
Job = Callable[[threading.Event], Iterator[Progress]]


def user_message(exc: BaseException) -> str:
    if isinstance(exc, PhotoclipError):
        return str(exc)
    return f"Unexpected error: {type(exc).__name__}: {exc}"


# -- long jobs ---------------------------------------------------------------------------------


class Pausable(Protocol):
    """A job that pauses itself (the watcher keeps collecting events while paused)."""

    @property
    def paused(self) -> bool: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class _Gate:
    """The runner's own pause: the worker waits here after each Progress while it is shut."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()

    @property
    def paused(self) -> bool:
        return not self.open.is_set()

    def pause(self) -> None:
        self.open.clear()

    def resume(self) -> None:
        self.open.set()


@dataclass(frozen=True)
class JobEnd:
    """How a job ended: `cancelled` by the user (what was done is kept), the `last` Progress it
    reported, the `error` message it failed with, and the generator's return `value`."""

    cancelled: bool
    last: Progress | None
    error: str | None
    value: Any = None

    @property
    def completed(self) -> bool:
        """It ran to its end and said so (its last Progress is `finished`)."""
        return self.error is None and self.last is not None and self.last.finished


class _JobThread(QThread):
    progress = Signal(object, object)  # (this thread, Progress)
    failed = Signal(object, str)  # (this thread, message)
    ended = Signal(object, object)  # (this thread, the generator's return value)

    def __init__(self, job: Job, cancel: threading.Event, gate: threading.Event,
                 parent: QObject) -> None:
        super().__init__(parent)
        self._job, self._cancel, self._gate = job, cancel, gate

    def run(self) -> None:
        value: Any = None
        try:
            value = _drive(self._job(self._cancel), self._emit)
        except Exception as exc:
            log.exception("job failed")
            self.failed.emit(self, user_message(exc))
        finally:
            self.ended.emit(self, value)

    def _emit(self, p: Progress) -> None:
        self.progress.emit(self, p)
        self._gate.wait()


def _drive(steps: Iterator[Progress], emit: Callable[[Progress], None]) -> Any:
    """Drive `steps`, handing each Progress to `emit`; the generator's return value (if any)."""
    if not isinstance(steps, Generator):
        for p in steps:
            emit(p)
        return None
    while True:
        try:
            p = next(steps)
        except StopIteration as stop:
            return stop.value
        emit(p)


class JobRunner(QObject):
    """Runs one long job at a time in a worker thread.

    `start(job)` calls `job(cancel)` in the worker and iterates it; every Progress comes out as
    `progress`, a failure as `failed` (a user's message), and the end, exactly once per start,
    as `finished(JobEnd)`, all on the UI thread. `pause()` holds the job after its current batch
    (or asks a `Pausable` given to start to pause itself); `cancel()` asks it to stop after the
    current batch; `stop()` cancels and waits, delivering what is left before it returns.
    """

    progress = Signal(object)  # Progress
    failed = Signal(str)
    finished = Signal(object)  # JobEnd

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: _JobThread | None = None
        self._cancel = threading.Event()
        self._gate = _Gate()
        self._pauser: Pausable = self._gate
        self._last: Progress | None = None
        self._error: str | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def paused(self) -> bool:
        return self._pauser.paused

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def last(self) -> Progress | None:
        """The newest Progress of the running (or last) job."""
        return self._last

    def start(self, job: Job, *, pauser: Pausable | None = None) -> bool:
        """Start `job` unless one is running (then False). A pause() made before start holds
        the new job at its first Progress."""
        if self._thread is not None:
            return False
        self._cancel = threading.Event()
        self._last, self._error = None, None
        self._pauser = pauser if pauser is not None else self._gate
        thread = _JobThread(job, self._cancel, self._gate.open, self)
        thread.progress.connect(self._on_progress)
        thread.failed.connect(self._on_failed)
        thread.ended.connect(self._on_ended)
        self._thread = thread
        thread.start()
        return True

    def pause(self) -> None:
        self._pauser.pause()

    def resume(self) -> None:
        self._pauser.resume()

    def cancel(self) -> None:
        self._cancel.set()
        self._gate.resume()  # a paused job must wake up to stop
        if self._pauser is not self._gate:
            self._pauser.resume()

    def wait(self) -> None:
        """Block until the worker thread has ended (its signals may still be queued)."""
        if self._thread is not None:
            self._thread.wait()

    def stop(self) -> None:
        """Cancel the job and wait for it; `finished` has been emitted when this returns."""
        thread = self._thread
        if thread is None:
            return
        self.cancel()
        thread.wait()
        # Deliver what the worker queued for us (its last progress, failure and end) now.
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)
        if self._thread is thread:
            self._finish(thread, None)

    def _on_progress(self, thread: _JobThread, p: Progress) -> None:
        if thread is self._thread:
            self._last = p
            self.progress.emit(p)

    def _on_failed(self, thread: _JobThread, message: str) -> None:
        if thread is self._thread:
            self._error = message
            self.failed.emit(message)

    def _on_ended(self, thread: _JobThread, value: object) -> None:
        if thread is self._thread:
            thread.wait()  # the thread's run() has returned; let it finish exiting
            self._finish(thread, value)

    def _finish(self, thread: _JobThread, value: object) -> None:
        self._thread = None
        thread.deleteLater()
        self._gate.resume()  # the next job starts running unless paused again
        self.finished.emit(JobEnd(self._cancel.is_set(), self._last, self._error, value))


# -- short calls -------------------------------------------------------------------------------


class _CallSignals(QObject):
    result = Signal(object, object)  # (the call, its value)
    error = Signal(object, str)  # (the call, the message)


class _Call(QRunnable, Generic[T]):
    def __init__(self, fn: Callable[[], T], on_result: Callable[[T], None],
                 on_error: Callable[[str], None] | None, signals: _CallSignals) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Calls holds it until its answer is delivered
        self.fn, self.on_result, self.on_error, self.signals = fn, on_result, on_error, signals

    def run(self) -> None:
        try:
            value = self.fn()
        except Exception as exc:
            log.debug("call failed", exc_info=True)
            self.signals.error.emit(self, user_message(exc))
        else:
            self.signals.result.emit(self, value)


class Calls(QObject):
    """Short calls on a thread pool (the global one unless given); each answer goes to the
    handlers given with the call, on the UI thread. After `close()` answers are dropped."""

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self.pool = pool if pool is not None else QThreadPool.globalInstance()
        self._signals = _CallSignals(self)
        self._signals.result.connect(self._on_result)
        self._signals.error.connect(self._on_error)
        self._pending: set[_Call[Any]] = set()
        self._closed = False

    def run(self, fn: Callable[[], T], on_result: Callable[[T], None],
            on_error: Callable[[str], None] | None = None) -> None:
        """Run `fn()` on the pool; then `on_result(value)`, or `on_error(message)` (None: the
        failure is only logged)."""
        call = _Call(fn, on_result, on_error, self._signals)
        self._pending.add(call)
        self.pool.start(call)

    def clear(self) -> None:
        """Drop the calls still waiting for a thread (those running answer as usual)."""
        for call in list(self._pending):
            if self.pool.tryTake(call):
                self._pending.discard(call)

    def close(self, msecs: int = 5000) -> None:
        """Wait for the running calls, and drop every answer from now on."""
        self._closed = True
        self.clear()
        self.pool.waitForDone(msecs)

    def _on_result(self, call: _Call[Any], value: object) -> None:
        self._pending.discard(call)
        if not self._closed:
            call.on_result(value)

    def _on_error(self, call: _Call[Any], message: str) -> None:
        self._pending.discard(call)
        if self._closed:
            return
        if call.on_error is not None:
            call.on_error(message)
        else:
            log.warning("%s", message)


class LatestCall:
    """Calls of which only the newest one's answer counts: starting one (or `drop()`) makes the
    answers of those before it be ignored."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        self._seq = 0

    def run(self, fn: Callable[[], T], on_result: Callable[[T], None],
            on_error: Callable[[str], None] | None = None) -> None:
        self._seq += 1
        seq = self._seq

        def result(value: T) -> None:
            if seq == self._seq:
                on_result(value)

        def error(message: str) -> None:
            if seq == self._seq and on_error is not None:
                on_error(message)

        self.calls.run(fn, result, error)

    def drop(self) -> None:
        """Ignore the answer of the call under way (the user moved on)."""
        self._seq += 1
