"""Run core jobs off the UI thread. Each long job is a core generator; a worker drives it and
turns each yielded Progress into a signal."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, Signal

from photoclip.core.errors import PhotoclipError
from photoclip.core.types import Progress

log = logging.getLogger(__name__)


def user_message(exc: BaseException) -> str:
    if isinstance(exc, PhotoclipError):
        return str(exc)
    return f"Unexpected error: {type(exc).__name__}: {exc}"


class JobWorker(QThread):
    """Drives one generator job; `cancel()` stops it between batches, keeping what is done."""

    progress = Signal(object)  # Progress
    failed = Signal(str)
    done = Signal()

    def __init__(self, make_job: Callable[[threading.Event], Iterator[Progress]],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._make_job = make_job
        self._cancel = threading.Event()
        self._running = threading.Event()  # cleared = paused
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # a paused job must wake up to stop

    def pause(self) -> None:
        """Hold the job between batches (the core yields after each one)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            for p in self._make_job(self._cancel):
                self.progress.emit(p)
                self._running.wait()
        except Exception as exc:
            log.exception("job failed")
            self.failed.emit(user_message(exc))
        finally:
            self.done.emit()


class _CallSignals(QObject):
    result = Signal(object, object)  # (tag, value)
    error = Signal(object, str)


class Call(QRunnable):
    """A short call (search, model load) on the thread pool; result comes back as a signal."""

    def __init__(self, fn: Callable[[], Any], tag: object = None) -> None:
        super().__init__()
        self.fn = fn
        self.tag = tag
        self.signals = _CallSignals()

    def run(self) -> None:
        try:
            value = self.fn()
        except Exception as exc:
            log.debug("call failed", exc_info=True)
            self.signals.error.emit(self.tag, user_message(exc))
        else:
            self.signals.result.emit(self.tag, value)
