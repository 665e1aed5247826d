"""The line under a page's controls that says what happened: an error with its fix, or news."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

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
