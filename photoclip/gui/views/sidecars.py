"""Write sidecars now: the `xmp` job (`photoclip xmp`) from the window, in one place.

`SidecarWriting` (one per window) runs `Library.sidecar_writer().run` in a JobRunner worker
and says how it ended: the writer's summary, or its failure line. `SidecarPanel` is its face:
"Write sidecars now", a progress bar with Cancel, then the result; the Settings dialog holds
one. `SidecarWindow` is the same panel in a small window of its own, for File ▸ Write Tags to
Sidecars Now, and for a job still running when the Settings dialog is closed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QSize, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.library import Library
from photoclip.core.types import Progress
from photoclip.gui.jobs import JobEnd, JobRunner
from photoclip.gui.views.messages import MessageLabel

NEVER_WRITTEN = "your photos are never written"
WINDOW_NOTE = ("Writes every photo's tags to its XMP sidecar (photo.jpg.xmp or photo.xmp, as "
               f"chosen in Settings), where digiKam, Lightroom and darktable read them; "
               f"{NEVER_WRITTEN}.")


class SidecarWriting(QObject):
    """The "Write sidecars now" job of one window: one run at a time, off the UI thread."""

    started = Signal()
    progress = Signal(int, int)  # sidecars checked, of how many
    finished = Signal(str, bool)  # what it did (or why it stopped), whether something failed

    def __init__(self, library: Library, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.runner = JobRunner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.result: tuple[str, bool] | None = None  # the last run's (message, failed)
        self._window: SidecarWindow | None = None

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def start(self, style: str | None = None) -> bool:
        """Write every photo's sidecar, in `style` (None: the library's setting); False when a
        run is already under way."""
        library = self.library

        def job(cancel: threading.Event) -> Generator[Progress, None, Any]:
            writer = library.sidecar_writer(style)  # in the worker: it reads the catalog
            yield from writer.run(cancel=cancel)
            return writer

        if not self.runner.start(job):
            return False
        self.result = None
        self.started.emit()
        return True

    def cancel(self) -> None:
        self.runner.cancel()

    def stop(self) -> None:
        """Cancel and wait (the window is closing: the library closes next)."""
        self.runner.stop()

    def show_window(self, start: bool = False) -> SidecarWindow:
        """The job's own window (File ▸ Write Tags to Sidecars Now), started when asked."""
        if self._window is None:
            parent = self.parent()
            self._window = SidecarWindow(self, parent if isinstance(parent, QWidget) else None)
        if start:
            self.start()
        self._window.show()
        self._window.raise_()
        self._window.activateWindow()
        return self._window

    def _on_progress(self, p: Progress) -> None:
        self.progress.emit(p.done, p.total)

    def _on_finished(self, end: JobEnd) -> None:
        self.result = outcome(end)
        self.finished.emit(*self.result)


def outcome(end: JobEnd) -> tuple[str, bool]:
    """What a run of the writer did, in a line, and whether something went wrong."""
    if end.error is not None:
        return end.error, True
    writer: Any = end.value
    if writer is None:  # stopped before it began
        return "Stopped before any sidecar was written.", False
    summary = _sentence(writer.summary())
    if end.cancelled and not end.completed:
        r = writer.report
        done = r.written + r.unchanged + r.removed + r.cleaned + r.failed
        total = end.last.total if end.last is not None else done
        return (f"Stopped after {done} of {total} sidecars: {writer.summary()} (those written "
                "are kept)."), bool(r.failed)
    if writer.report.failed:
        return f"{summary}. {writer.failure_line()}", True
    if end.last is not None and end.last.total == 0:
        return "No photo has tags yet: there is nothing to write.", False
    return f"{summary}.", False


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class SidecarPanel(QWidget):
    """ "Write sidecars now", its progress with Cancel, then what it did. `style` says the
    sidecar name to write (None: the library's setting)."""

    def __init__(self, writing: SidecarWriting,
                 style: Callable[[], str | None] = lambda: None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.writing = writing
        self._style = style
        self.write_button = QPushButton("Write sidecars now")
        self.write_button.setToolTip("Write every photo's tags to its sidecar now (the photos "
                                     "themselves are never written).")
        self.write_button.clicked.connect(self.start)
        self.bar = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after this sidecar; those written are kept.")
        self.cancel_button.clicked.connect(self._cancel)
        self.result = WrappedLine()
        self.result.setVisible(False)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.write_button)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        row.addStretch(0)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(row)
        column.addWidget(self.result)
        writing.started.connect(self._on_started)
        writing.progress.connect(self._on_progress)
        writing.finished.connect(self._on_finished)
        if writing.busy:
            self._on_started()
        elif writing.result is not None:
            self._on_finished(*writing.result)
        else:
            self._show_busy(False)

    def start(self) -> bool:
        return self.writing.start(self._style())

    def _cancel(self) -> None:
        self.writing.cancel()
        self.cancel_button.setEnabled(False)
        self.result.show_info("Stopping after this sidecar…")
        self.result.setVisible(True)

    def _show_busy(self, busy: bool) -> None:
        self.write_button.setEnabled(not busy)
        self.bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.cancel_button.setEnabled(busy)

    def _on_started(self) -> None:
        self._show_busy(True)
        self.bar.setRange(0, 0)  # until the writer has counted the sidecars
        self.result.show_info("Looking for the photos' tags…")
        self.result.setVisible(True)

    def _on_progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)
        if self.cancel_button.isEnabled():
            self.result.show_info(f"Writing sidecars: {done} of {total}")

    def _on_finished(self, message: str, failed: bool) -> None:
        self._show_busy(False)
        if failed:
            self.result.show_error(message)
        else:
            self.result.show_info(message)
        self.result.setVisible(True)

class WrappedLine(MessageLabel):
    """A line that wraps and asks for the height of all its lines at the width it has, so its
    window grows to show it whole rather than squeezing it under the buttons. (A plain QLabel
    that wraps only guesses its height, and a window does not grow for such a guess.)"""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        policy = self.sizePolicy()
        policy.setHeightForWidth(False)  # its minimum height says it instead (see _fit)
        self.setSizePolicy(policy)
        self.setText(text)

    def setText(self, text: str) -> None:
        super().setText(text)
        self._fit()

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        height = self.heightForWidth(self.width()) if self.width() >= 100 else -1
        return hint if height < 0 else QSize(hint.width(), height)  # before its layout: a guess

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self.width() < 100:
            return
        height = max(self.heightForWidth(self.width()), 0)  # -1: no text
        if height != self.minimumHeight():
            self.setMinimumHeight(height)
            self.updateGeometry()


class SidecarWindow(QDialog):
    """The panel in a window of its own. Closing it (Close, Esc, the title bar's button) while
    sidecars are written stops the run, keeping those written, and the window stays to show
    how far it got."""

    def __init__(self, writing: SidecarWriting, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Write tags to sidecars")
        self.writing = writing
        note = QLabel(WINDOW_NOTE)
        note.setWordWrap(True)
        note.setStyleSheet("color: #666;")
        self.panel = SidecarPanel(writing)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        column = QVBoxLayout(self)
        column.addWidget(note)
        column.addWidget(self.panel)
        column.addStretch(1)
        column.addWidget(buttons)
        self.resize(520, self.sizeHint().height())  # a size, not a minimum: see SettingsDialog

    def reject(self) -> None:
        if self.writing.busy:
            self.panel.cancel_button.click()  # stop; the window stays to say how far it got
            return
        super().reject()
