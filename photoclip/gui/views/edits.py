"""Possible edits of tagged photos: a new photo that looks like an edit of one that is gone
(renamed and re-saved while photoclip was closed), similar enough to ask, not to move the
user's tags unasked. The status bar says "2 possible edits to review…"; the dialog shows each
pair, the vanished photo before and the new one after, with Apply (carry the tags over) and
Dismiss, one by one or all at once.

Every read and change goes through `Library.edits` on the thread pool, and the thumbnails are
read there too; the UI thread only shows the answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.library import Library
from photoclip.gui.jobs import Calls
from photoclip.gui.thumbnails import THUMB, load_thumbnail
from photoclip.gui.views.messages import MessageLabel

INTRO = ("These new photos look like edits of photos that are gone (renamed and re-saved). "
         "Apply carries the tags you gave the original over to the new photo; Dismiss leaves "
         "the new photo as it is. Photos that both still exist are never merged.")


def _edits(n: int) -> str:
    return f"{n} possible edit" + ("" if n == 1 else "s")


class EditsDialog(QDialog):
    changed = Signal(int)  # how many pairs are left to judge

    def __init__(self, library: Library, calls: Calls, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Possible edits of tagged photos")
        self.resize(760, 520)
        self.library, self.calls = library, calls
        self._read_seq = 0
        self.pending = 0  # changes and reads asked for and not yet answered
        self.suggestions: list[Any] = []
        self.rows: dict[int, QFrame] = {}
        self.thumbs: dict[tuple[int, str], QLabel] = {}
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.summary = QLabel("Looking…")
        self.list = QWidget()
        self.grid = QVBoxLayout(self.list)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.list)
        self.note = MessageLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.apply_all = QPushButton("Apply All")
        self.apply_all.setToolTip("Carry the tags over for every pair listed")
        self.apply_all.clicked.connect(lambda: self.apply(None))
        self.dismiss_all = QPushButton("Dismiss All")
        self.dismiss_all.setToolTip("Forget every pair listed; no tag moves")
        self.dismiss_all.clicked.connect(lambda: self.dismiss(None))
        for b in (self.apply_all, self.dismiss_all):
            buttons.addButton(b, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.summary)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.note)
        layout.addWidget(buttons)

    @property
    def idle(self) -> bool:
        return self.pending == 0

    def _run(self, fn: Callable[[], Any], done: Callable[[Any], None]) -> None:
        self.pending += 1

        def ok(value: Any) -> None:
            self.pending -= 1
            done(value)

        def failed(message: str) -> None:
            self.pending -= 1
            self.note.show_error(message)

        self.calls.run(fn, ok, failed)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        """Read the pairs again (off the UI thread)."""
        edits = self.library.edits
        self._read_seq += 1
        seq = self._read_seq

        def show(suggestions: Sequence[Any]) -> None:
            if seq == self._read_seq:  # an older read's answer is not shown
                self._show(suggestions)

        self._run(edits.suggestions, show)

    def _show(self, suggestions: Sequence[Any]) -> None:
        self.suggestions = list(suggestions)
        for row in self.rows.values():
            row.deleteLater()
        self.rows, self.thumbs = {}, {}
        for s in self.suggestions:
            row = self._row(s)
            self.rows[s.id] = row
            self.grid.insertWidget(self.grid.count() - 1, row)
        n = len(self.suggestions)
        self.summary.setText(f"{_edits(n)} to review:" if n else
                             "No possible edits to review.")
        self.apply_all.setEnabled(bool(n))
        self.dismiss_all.setEnabled(bool(n))
        self.changed.emit(n)
        self._load_thumbnails(self.suggestions)

    def _row(self, s: Any) -> QFrame:
        row = QFrame()
        row.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(row)
        for col, (path, caption) in enumerate(((s.old_path, "before (gone)"),
                                               (s.new_path, "after"))):
            thumb = QLabel(caption)
            thumb.setFixedSize(THUMB.width() // 2 + 8, THUMB.height() // 2 + 8)
            thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
            thumb.setToolTip(f"{caption}: {path}")
            thumb.setStyleSheet("color: #888; background: #f4f4f4;")
            grid.addWidget(thumb, 0, col)
            under = QLabel(caption)
            under.setAlignment(Qt.AlignmentFlag.AlignCenter)
            under.setStyleSheet("color: #666;")
            grid.addWidget(under, 1, col)
            self.thumbs[(s.id, "old" if col == 0 else "new")] = thumb
        text = QLabel(f"<b>{escape(Path(s.new_path).name)}</b><br>may be an edit of "
                      f"{escape(Path(s.old_path).name)} "
                      f"<span style='color:#666'>(similarity {s.similarity:.3f})</span><br>"
                      f"To carry over: {escape(s.decisions)}")
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setWordWrap(True)
        text.setToolTip(f"{s.old_path}\n→ {s.new_path}")
        grid.addWidget(text, 0, 2, 2, 1)
        grid.setColumnStretch(2, 1)
        apply_button = QPushButton("Apply")
        apply_button.setObjectName("apply")
        apply_button.setToolTip("Carry these tags over to the new photo")
        apply_button.clicked.connect(lambda _=False, i=s.id: self.apply([i]))
        dismiss = QPushButton("Dismiss")
        dismiss.setObjectName("dismiss")
        dismiss.setToolTip("Not an edit: forget this pair; no tag moves")
        dismiss.clicked.connect(lambda _=False, i=s.id: self.dismiss([i]))
        column = QVBoxLayout()
        column.addWidget(apply_button)
        column.addWidget(dismiss)
        column.addStretch(1)
        grid.addLayout(column, 0, 3, 2, 1)
        return row

    def _load_thumbnails(self, suggestions: list[Any]) -> None:
        library = self.library

        def read() -> dict[tuple[int, str], QImage]:
            out: dict[tuple[int, str], QImage] = {}
            for s in suggestions:
                for side, path, digest in (("old", s.old_path, s.old_hash),
                                           ("new", s.new_path, s.new_hash)):
                    image = load_thumbnail(library.thumbnail_path(digest), path) if digest \
                        else None
                    if image is not None:
                        out[(s.id, side)] = image
            return out

        def show(images: dict[tuple[int, str], QImage]) -> None:
            for key, image in images.items():
                label = self.thumbs.get(key)
                if label is not None:
                    label.setPixmap(QPixmap.fromImage(image).scaled(
                        label.size(), Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation))

        self._run(read, show)

    def apply(self, ids: list[int] | None) -> None:
        edits = self.library.edits
        self._set_enabled(ids, False)

        def done(result: tuple[list[Any], list[Any]]) -> None:
            applied, refused = result
            said = [f"Carried the tags of {_edits(len(applied))} over."] if applied else []
            said += [f"{Path(r.suggestion.new_path).name}: {r.reason}." for r in refused]
            if refused:
                self.note.show_error(" ".join(said))
            elif said:
                self.note.show_info(said[0])
            self.refresh()

        self._run(lambda: edits.apply(ids), done)

    def dismiss(self, ids: list[int] | None) -> None:
        edits = self.library.edits
        self._set_enabled(ids, False)

        def done(gone: list[Any]) -> None:
            self.note.show_info(f"Dismissed {_edits(len(gone))}; no tag moved.")
            self.refresh()

        self._run(lambda: edits.dismiss(ids), done)

    def _set_enabled(self, ids: list[int] | None, on: bool) -> None:
        for sid, row in self.rows.items():
            if ids is None or sid in ids:
                row.setEnabled(on)

    def row_buttons(self, sid: int) -> tuple[QPushButton, QPushButton]:
        """A pair's Apply and Dismiss buttons."""
        row = self.rows[sid]
        buttons = {b.objectName(): b for b in row.findChildren(QPushButton)}
        return buttons["apply"], buttons["dismiss"]


class EditsLink(QPushButton):
    """The status bar's "2 possible edits to review…", opening the dialog (hidden when there
    are none); counted off the UI thread after each indexing batch."""

    def __init__(self, library: Library, calls: Calls, parent: QWidget) -> None:
        super().__init__(parent)
        self.library, self.calls = library, calls
        self.dialog: EditsDialog | None = None
        self.setFlat(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setStyleSheet("QPushButton { color: #1a5fb4; text-decoration: underline; "
                           "border: none; padding: 0 6px; }")
        self.setToolTip("New photos that look like edits of tagged photos that are gone: "
                        "carry their tags over, or not")
        self.clicked.connect(self.open)
        self.setVisible(False)

    def set_count(self, n: int) -> None:
        self.setText(f"{_edits(n)} to review…")
        self.setVisible(bool(n))

    def open(self) -> None:
        if self.dialog is None:
            self.dialog = EditsDialog(self.library, self.calls, self.window())
            self.dialog.changed.connect(self.set_count)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()

    def refresh(self) -> None:
        """Photos were indexed: count the pairs again (off the UI thread)."""
        edits = self.library.edits
        self.calls.run(lambda: len(edits.suggestions()), self.set_count)
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.refresh()
