"""The full-screen viewer: one photo of the grid's results as large as the screen allows.

Double-click or Enter on the grid opens it; ← → (and Home / End) go through the results, 0-5
rate the photo, F marks it favourite, I shows or hides the EXIF summary (camera, lens,
exposure, ISO, date taken), Z zooms to the photo's own pixels (drag to pan) and back, Ctrl+Z
undoes, Esc closes (the grid then shows the photo the viewer was on). Each photo is decoded
off the UI thread, already scaled to the screen (a JPEG decodes at a fraction of its size);
its albums, tags and EXIF are read off it too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QSize, Qt
from PySide6.QtGui import (
    QCloseEvent,
    QImage,
    QImageIOHandler,
    QImageReader,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from photoclip.core.library import Library
from photoclip.gui.jobs import Calls, LatestCall
from photoclip.gui.views.exif import exif_summary
from photoclip.gui.views.selection import CTRL_SHIFT, STAR_KEYS, BulkActions, stars_text

HINT = ("← →  previous / next    0-5  stars    F  favourite    I  info    Z  zoom (drag to pan)"
        "    Ctrl+Z  undo    Esc  close")  # Ctrl+Shift+Z redoes
# Zoomed in, a photo is decoded at its own size up to this many pixels a side (a 100-megapixel
# scan would be 400 MB of pixels): room to pan, not to run out of memory.
ZOOM_MAX = QSize(8192, 8192)


def decode(path: str, box: QSize) -> QImage:
    """The photo, turned as its EXIF says, scaled to fit `box` (a null QImage if unreadable).
    Runs off the UI thread (QImage, unlike QPixmap, may be made there)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid():
        if reader.transformation() & QImageIOHandler.Transformation.TransformationRotate90:
            box = box.transposed()  # the box is for the turned photo; scaling comes first
        if size.width() > box.width() or size.height() > box.height():
            reader.setScaledSize(size.scaled(box, Qt.AspectRatioMode.KeepAspectRatio))
    return reader.read()


class Viewer(QWidget):
    def __init__(self, library: Library, calls: Calls, bulk: BulkActions,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("photoclip")
        self.setStyleSheet("background: #111; color: #ddd;")
        self.library, self.bulk, self.model = library, bulk, bulk.model
        self._decodes = LatestCall(calls)
        self._facts = LatestCall(calls)
        self._exif_reads = LatestCall(calls)
        self.row = -1
        self.zoomed = False  # the photo at its own size, panned by dragging
        self.image: QImage | None = None  # the photo shown, as decoded
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.area = QScrollArea()
        self.area.setWidget(self.picture)
        self.area.setWidgetResizable(True)
        self.area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.area.viewport().installEventFilter(self)
        self._drag: QPoint | None = None
        self.caption = QLabel()
        self.caption.setStyleSheet("font-size: 15px; color: #eee;")
        self.facts = QLabel()
        self.exif = QLabel()  # the EXIF summary, shown with I
        self.exif.setStyleSheet("color: #bbb;")
        self.exif.setVisible(False)
        self.hint = QLabel(HINT)
        self.hint.setStyleSheet("color: #888;")
        layout = QVBoxLayout(self)
        layout.addWidget(self.area, 1)
        for label in (self.caption, self.exif, self.facts, self.hint):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(label)
        bulk.done.connect(self._changed)

    @property
    def photo_id(self) -> int | None:
        return self.model.item(self.row).photo_id if 0 <= self.row < self.model.total else None

    def open_at(self, row: int) -> None:
        if not 0 <= row < self.model.total:
            return
        self.showFullScreen()
        self.activateWindow()
        self.go(row)

    def go(self, row: int) -> None:
        """Show the photo of result `row` (kept within the results)."""
        self.row = max(0, min(self.model.total - 1, row))
        item = self.model.item(self.row)
        self.image = None
        self.picture.setPixmap(QPixmap())
        self.picture.setText("Loading…")
        self._caption()
        self.facts.setText("")
        box = ZOOM_MAX if self.zoomed else self.area.viewport().size().expandedTo(
            QSize(640, 480))
        path = item.path
        self._decodes.run(lambda: decode(path, box), self._decoded)
        self._read_facts()
        self._read_exif()

    def toggle_exif(self) -> None:
        """Show or hide the EXIF summary line (I), kept for the next photos."""
        self.exif.setVisible(not self.exif.isVisible())
        self._read_exif()

    def _read_exif(self) -> None:
        self._exif_reads.drop()
        if not self.exif.isVisible() or self.photo_id is None:
            return
        path = self.model.item(self.row).path
        self.exif.setText("Reading EXIF…")
        self._exif_reads.run(lambda: exif_summary(path),
                             lambda text: self.exif.setText(text or "No EXIF in this file"))

    def _decoded(self, image: QImage) -> None:
        if image.isNull():
            self.picture.setText("Cannot show this file (moved, or unreadable)")
            return
        self.image = image
        self._fit()

    def _fit(self) -> None:
        if self.image is None:
            return
        if self.zoomed:
            self.picture.setPixmap(QPixmap.fromImage(self.image))
            self.picture.adjustSize()
            return
        self.picture.setPixmap(QPixmap.fromImage(self.image).scaled(
            self.area.viewport().size(), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation))

    def toggle_zoom(self) -> None:
        """Between the photo fitted to the screen and its own pixels (decoded again)."""
        self.zoomed = not self.zoomed
        self.area.setWidgetResizable(not self.zoomed)
        if self.row >= 0:
            self.go(self.row)

    def eventFilter(self, obj: Any, event: Any) -> bool:
        """Dragging the zoomed photo pans it."""
        if obj is self.area.viewport() and isinstance(event, QMouseEvent):
            kind = event.type()
            if kind == QEvent.Type.MouseButtonPress:
                self._drag = event.position().toPoint()
            elif kind == QEvent.Type.MouseMove and self._drag is not None:
                pos = event.position().toPoint()
                delta, self._drag = pos - self._drag, pos
                h, v = self.area.horizontalScrollBar(), self.area.verticalScrollBar()
                h.setValue(h.value() - delta.x())
                v.setValue(v.value() - delta.y())
            elif kind == QEvent.Type.MouseButtonRelease:
                self._drag = None
        return super().eventFilter(obj, event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _caption(self) -> None:
        if self.photo_id is None:
            return
        stars, fav = self.model.marks.get(self.photo_id, (0, False))
        name = Path(self.model.item(self.row).path).name
        self.caption.setText(f"{name}    {stars_text(stars)}{'   ♥' if fav else ''}    "
                             f"{self.row + 1:,} / {self.model.total:,}")

    def _read_facts(self) -> None:
        lib, pid = self.library, self.photo_id
        if pid is None:
            return

        def read() -> str:
            albums = lib.albums.albums_of([pid]).get(pid, [])
            tags = [label for _set, label in lib.label_sets.effective_tags([pid]).get(pid, [])]
            return "    ".join(part for part in (
                "Albums: " + ", ".join(albums) if albums else "",
                "Tags: " + ", ".join(tags) if tags else "") if part)

        self._facts.run(read, self.facts.setText)

    def _changed(self, _what: str) -> None:
        if self.isVisible():
            self._caption()
            self._read_facts()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, pid = event.key(), self.photo_id
        plain = not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier)
        moves = {Qt.Key.Key_Right: self.row + 1, Qt.Key.Key_Left: self.row - 1,
                 Qt.Key.Key_Home: 0, Qt.Key.Key_End: self.model.total - 1}
        if key in moves:
            self.go(moves[Qt.Key(key)])
        elif key == Qt.Key.Key_Escape:
            self.close()
        elif plain and key == Qt.Key.Key_Z:
            self.toggle_zoom()
        elif plain and key == Qt.Key.Key_I:
            self.toggle_exif()
        elif event.matches(QKeySequence.StandardKey.Undo):
            self.bulk.undo()
        elif event.matches(QKeySequence.StandardKey.Redo) or (
                key == Qt.Key.Key_Z and event.modifiers() == CTRL_SHIFT):
            self.bulk.redo()
        elif plain and key in STAR_KEYS and pid is not None:
            self.bulk.rate(STAR_KEYS[Qt.Key(key)], [pid])
        elif plain and key == Qt.Key.Key_F and pid is not None:
            self.bulk.favourite(None, [pid])
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Back to the grid, on the photo the viewer showed last."""
        self._decodes.drop()
        self._facts.drop()
        self._exif_reads.drop()
        if 0 <= self.row < self.model.total:
            self.model.show_up_to(self.row + 1)
            self.bulk.grid.setCurrentIndex(self.model.index(self.row))
        super().closeEvent(event)

    def shutdown(self) -> None:
        self._decodes.drop()
        self._facts.drop()
        self._exif_reads.drop()
        self.hide()
