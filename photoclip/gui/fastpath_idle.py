"""The CPU fast path, measured when the window is idle.

With precision "auto" on the CPU, the library runs fp32 until `Library.calibrate_fast_path` has
measured bf16 and int8 against it once for its model (~10 s of full CPU). The window does that
in the background once the model is loaded and the indexer has nothing to do: never while
indexing (the two would slow each other and skew the measurement), so a batch that starts
meanwhile cancels it and the next quiet moment starts it again. The choice takes effect the
next time the model loads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from photoclip.core.types import Progress
from photoclip.gui.jobs import JobEnd, JobRunner

if TYPE_CHECKING:
    from photoclip.gui.main_window import MainWindow

log = logging.getLogger(__name__)

MEASURING = "Measuring the CPU fast path (once)…"
# The watcher's notes that say it has caught up and waits for the disk to change.
IDLE_EVENTS = ("catch-up", "batch")


class FastPathIdle(QObject):
    """Runs the measurement in its own JobRunner when the window's indexer goes idle."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.library = window.library
        self.state_label = window.state_label
        self.runner = JobRunner(self)
        self.runner.finished.connect(self._done)
        window.indexing.progress.connect(self.indexing_note)
        window.loader.started.connect(self._not_now)  # the model is (re)loading
        self._wanted = False  # the indexer said it is idle, and nothing since
        self._given_up = False  # it failed: not again in this session (the log says why)
        self._closed = False
        self._before = ""

    def indexing_note(self, p: Progress) -> None:
        """Every Progress of the window's indexer: idle starts the measurement, work stops it."""
        if p.job != "watch":
            self._not_now()
            return
        event = p.extra.get("event")
        # "watching" with no online folder: no catch-up follows, the library has nothing to do.
        if event in IDLE_EVENTS or (event == "watching" and not p.extra.get("roots")):
            self._wanted = True
            self._try()

    def stop(self) -> None:
        """The window closes: cancel the measurement (nothing is kept) and wait for it."""
        self._closed = True
        self.runner.stop()

    def _not_now(self) -> None:
        self._wanted = False
        if self.runner.busy and not self.runner.cancelled:
            self.runner.cancel()  # measured again at the next quiet moment

    def _try(self) -> None:
        if (not self._wanted or self._closed or self._given_up or self.runner.busy
                or not self.library.fast_path_unmeasured):
            return
        self._before = self.state_label.text()
        self.state_label.setText(MEASURING)
        self.runner.start(self._job)

    def _job(self, cancel: threading.Event) -> Iterator[Progress]:
        steps = self.library.calibrate_fast_path()
        try:
            for p in steps:
                if cancel.is_set():
                    return
                yield p
        finally:
            if isinstance(steps, Generator):
                steps.close()  # cancelled: the measurement is dropped, not saved half done

    def _done(self, end: JobEnd) -> None:
        if self.state_label.text() == MEASURING:
            self.state_label.setText(self._before)
        if end.error is not None:
            self._given_up = True
            log.warning("the CPU fast path could not be measured: %s", end.error)
        elif end.completed and end.last is not None:
            log.info("CPU fast path: %s (used from the next model load)", end.last.message)
        if not self._closed:
            self._try()  # idle again since a cancel: start over
