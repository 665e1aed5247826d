"""Lines that say what happened: a page's error-with-its-fix or news (`MessageLabel`), and the
status bar's one-line labels that never widen the window (`ElidedLabel`)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QHelpEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QToolTip, QWidget

ERROR_STYLE = "color: #b00020;"
INFO_STYLE = "color: #2e6b30;"


class MessageLabel(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def show_error(self, message: str) -> None:
        self.setStyleSheet(ERROR_STYLE)
        self.setText(f"⚠ {message}")

    def show_info(self, message: str) -> None:
        self.setStyleSheet(INFO_STYLE)
        self.setText(message)


class ElidedLabel(QLabel):
    """A one-line label that shows as much of its text as fits, ending in "…", rather than
    widening the window to fit all of it. text() is the whole text; so is the tooltip (its own,
    else the text when cut)."""

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def elided(self) -> str:
        """The text as shown."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             self.contentsRect().width())

    def paintEvent(self, _event: QPaintEvent) -> None:
        # Ended here, not when Python frees it: anything that keeps this frame alive (a
        # traceback, a profiler) would leave the painter active past the paint.
        painter = QPainter(self)
        try:
            self.style().drawItemText(painter, self.contentsRect(), int(self.alignment()),
                                      self.palette(), self.isEnabled(), self.elided(),
                                      self.foregroundRole())
        finally:
            painter.end()

    def event(self, e: QEvent) -> bool:
        if isinstance(e, QHelpEvent) and e.type() == QEvent.Type.ToolTip and (
                not self.toolTip() and self.elided() != self.text()):
            QToolTip.showText(e.globalPos(), self.text(), self)
            return True
        return super().event(e)
