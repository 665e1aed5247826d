"""The files that could not be read, grouped by reason as `photoclip status` lists them, in a
dialog opened from the status bar ("3 could not be read…") or File ▸ Files That Could Not Be
Read…, with Retry.

Retry checks every folder again (the indexer's catch-up): a file that changed since it failed
(repaired, re-exported, its RAW support installed) is read again; one that did not change is
tried again only once it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.library import Library
from photoclip.gui.jobs import Calls, LatestCall
from photoclip.gui.views.messages import MessageLabel

# Paths listed under each reason; the rest is counted ("… and 120 more").
EXAMPLES = 50
RETRY_TIP = ("Check every folder again now: files changed since they failed are read again. "
             "A file that has not changed is tried again once it changes.")


def _files(n: int) -> str:
    return f"{n} file" + ("" if n == 1 else "s")


class FailuresDialog(QDialog):
    retry = Signal()  # the user asked to read the failed files again

    def __init__(self, library: Library, calls: Calls, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Files that could not be read")
        self.resize(720, 440)
        self.library = library
        self._reads = LatestCall(calls)
        self.summary = QLabel("Looking…")
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Reason, then the files", "Files"])
        self.tree.setColumnWidth(0, 560)
        self.tree.setUniformRowHeights(True)
        self.note = MessageLabel()
        self.note.setText("photoclip skips a file it cannot read and keeps going; your files "
                          "are never changed.")
        self.note.setStyleSheet("color: #666;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip(RETRY_TIP)
        self.retry_button.clicked.connect(self._retry)
        buttons.addButton(self.retry_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.note)
        layout.addWidget(buttons)

    def refresh(self) -> None:
        """Read the failures again (off the UI thread); a hidden dialog waits to be shown."""
        if not self.isVisible():
            return
        lib = self.library
        self._reads.run(lambda: lib.failures(examples=EXAMPLES), self._show,
                        self.note.show_error)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def _show(self, groups: Sequence[Any]) -> None:
        """`groups`: the library's FailureGroups (reason, count, examples)."""
        self.tree.clear()
        total = sum(g.count for g in groups)
        if not total:
            self.summary.setText("Every photo in the library could be read.")
            self.retry_button.setEnabled(False)
            return
        self.retry_button.setEnabled(True)
        self.summary.setText(f"{_files(total)} could not be read, by reason:")
        for g in groups:
            head = QTreeWidgetItem([g.reason, str(g.count)])
            head.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            for path in g.examples:
                child = QTreeWidgetItem([path, ""])
                child.setToolTip(0, path)
                head.addChild(child)
            if g.count > len(g.examples):
                head.addChild(QTreeWidgetItem([f"… and {g.count - len(g.examples)} more", ""]))
            self.tree.addTopLevelItem(head)
        if len(groups) <= 3:
            self.tree.expandAll()

    def _retry(self) -> None:
        self.retry.emit()
        self.note.show_info("Checking every folder again: changed files are read again; this "
                            "list follows when that is done.")


class FailuresLink(QPushButton):
    """The status bar's "3 could not be read…", opening the dialog (hidden when none failed)."""

    retry = Signal()

    def __init__(self, library: Library, calls: Calls, parent: QWidget) -> None:
        super().__init__(parent)
        self.library, self.calls = library, calls
        self.dialog: FailuresDialog | None = None
        self.setFlat(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setStyleSheet("QPushButton { color: #1a5fb4; text-decoration: underline; "
                           "border: none; padding: 0 6px; }")
        self.setToolTip("The files photoclip could not read, and why")
        self.clicked.connect(self.open)
        self.setVisible(False)

    def set_count(self, failed: int) -> None:
        self.setText(f"{failed} could not be read…")
        self.setVisible(bool(failed))

    def open(self) -> None:
        if self.dialog is None:
            self.dialog = FailuresDialog(self.library, self.calls, self.window())
            self.dialog.retry.connect(self.retry)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()

    def refresh(self) -> None:
        """New files were indexed: count the failures again (off the UI thread), and the open
        dialog lists them again."""
        catalog = self.library.catalog
        self.calls.run(lambda: catalog.count_photos("failed"), self.set_count)
        if self.dialog is not None:
            self.dialog.refresh()
