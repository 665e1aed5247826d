"""The text pass kept up to date while a library is watched (`photoclip watch`, the window).

A thread of its own drives the text pass (OcrJob.run, the one generator `photoclip ocr` drives
too) whenever it is woken: when watching starts, and after every batch the indexer commits.
It never goes in front of embedding: it waits while the watcher is busy or paused, and stops
between photos as soon as the watcher has work again, to go on once it is idle; the reading
itself runs in a child process at a lower CPU priority (worker.py). Each Progress goes to the
listeners (the window shows it in its status bar) and the last one is kept (`latest`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from photoclip.core.ocr.job import OcrJob
from photoclip.core.types import Progress

log = logging.getLogger(__name__)

# How often a waiting follower looks again whether the watcher is idle (it is also woken).
POLL_S = 0.5


class TextFollower:
    """`make_job()` gives the pass to run now (None: nothing to do, or OCR is off); `busy()`
    says the indexer has work (the pass waits, or stops between photos); `enabled()` says
    whether text is read at all (turned off: the pass stops; turned on: it starts)."""

    def __init__(self, make_job: Callable[[], OcrJob | None],
                 busy: Callable[[], bool] = lambda: False,
                 enabled: Callable[[], bool] = lambda: True) -> None:
        self.make_job = make_job
        self.busy = busy
        self.enabled = enabled
        self._was_enabled = enabled()
        self.latest: Progress | None = None
        self.passes = 0  # passes run to their end
        self._listeners: list[Callable[[Progress], None]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def listen(self, callback: Callable[[Progress], None]) -> None:
        """Call `callback` (from the follower's thread) with each Progress of the pass."""
        self._listeners.append(callback)

    def poke(self, *_args: object) -> None:
        """New photos were embedded (an Indexer on_batch), or watching started: read them."""
        if self._stop.is_set():
            return
        self._wake.set()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="photoclip-text-pass",
                                                daemon=True)
                self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop between photos and wait for the thread (the library is closing)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(POLL_S * 10):
                # Turned on (the window's Settings, `ocr --on` elsewhere): read what is there.
                now = self.enabled()
                if now and not self._was_enabled:
                    self._wake.set()
                self._was_enabled = now
                continue
            if self._stop.is_set():
                return
            if self.busy():  # embedding first: look again shortly
                self._stop.wait(POLL_S)
                continue
            self._wake.clear()
            try:
                self._one_pass()
            except Exception:  # a catalog error, say: logged, and the next poke tries again
                log.exception("the text pass stopped")

    def _one_pass(self) -> None:
        job = self.make_job()
        if job is None:
            return
        steps = job.run(self._stop)
        try:
            for p in steps:
                self._tell(p)
                if not p.finished and not self.enabled():
                    self._tell(Progress("ocr", p.done, p.total, finished=True,
                                        message="reading text turned off"))
                    return
                if not p.finished and self.busy():
                    self._wake.set()  # go on once the indexer is idle again
                    self._tell(Progress("ocr", p.done, p.total, failed=p.failed,
                                        message="reading text waits for indexing",
                                        extra={"waiting": True}))
                    return
            self.passes += 1
        finally:
            close = getattr(steps, "close", None)
            if close is not None:
                close()

    def _tell(self, p: Progress) -> None:
        self.latest = p
        for callback in list(self._listeners):
            try:
                callback(p)
            except Exception:
                log.exception("a text pass listener failed")
