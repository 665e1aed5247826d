"""The preview pane: a large view of the selected photo, its facts, and what to do with it."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QImageReader, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.types import Photo

# Decode previews at most this large: sharp on a 4K screen's side pane, cheap for a 50-MP file.
PREVIEW_MAX_SIDE = 1600


class _Signals(QObject):
    loaded = Signal(int, QImage)  # request number, image


class _LoadPreview(QRunnable):
    def __init__(self, seq: int, path: str, signals: _Signals) -> None:
        super().__init__()
        self.seq, self.path, self.signals = seq, path, signals

    def run(self) -> None:
        reader = QImageReader(self.path)
        reader.setAutoTransform(True)  # EXIF orientation, as the user's camera meant it
        size = reader.size()
        if size.isValid() and max(size.width(), size.height()) > PREVIEW_MAX_SIDE:
            reader.setScaledSize(size.scaled(QSize(PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE),
                                             Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        self.signals.loaded.emit(self.seq, image)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


class PreviewPane(QWidget):
    find_similar = Signal(int)  # photo id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photo: Photo | None = None
        self._image = QPixmap()
        self._seq = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals()
        self._signals.loaded.connect(self._on_loaded)

        self.image_label = QLabel("Select a photo")
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setMinimumSize(200, 200)
        self.image_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.image_label.setStyleSheet("background: #2b2b2b; color: #aaa;")

        self.name = QLabel()
        self.name.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.name.setWordWrap(True)
        self.folder = QLabel()
        self.folder.setWordWrap(True)
        self.folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.date = QLabel()
        self.dims = QLabel()
        self.size = QLabel()
        self.score = QLabel()
        facts = QFormLayout()
        facts.addRow("Folder", self.folder)
        facts.addRow("Date", self.date)
        facts.addRow("Size", self.dims)
        facts.addRow("File", self.size)
        facts.addRow("Score", self.score)

        self.similar_button = QPushButton("Find similar")
        self.similar_button.clicked.connect(self._similar)
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(self.open_photo)
        self.folder_button = QPushButton("Show in folder")
        self.folder_button.clicked.connect(self._show_in_folder)
        buttons = QHBoxLayout()
        for b in (self.similar_button, self.open_button, self.folder_button):
            buttons.addWidget(b)

        # Extra sections (tags, "why this tag") are added by the window as features land.
        self.extra = QVBoxLayout()

        layout = QVBoxLayout(self)
        layout.addWidget(self.image_label, 1)
        layout.addWidget(self.name)
        layout.addLayout(facts)
        layout.addLayout(buttons)
        layout.addLayout(self.extra)
        self.show_photo(None)

    def show_photo(self, photo: Photo | None, score: float | None = None) -> None:
        self.photo = photo
        self._seq += 1
        enabled = photo is not None
        for b in (self.similar_button, self.open_button, self.folder_button):
            b.setEnabled(enabled)
        if photo is None:
            self._image = QPixmap()
            self.image_label.setPixmap(QPixmap())
            self.image_label.setText("Select a photo")
            for label in (self.name, self.folder, self.date, self.dims, self.size, self.score):
                label.setText("")
            return
        p = Path(photo.path)
        self.name.setText(p.name)
        self.folder.setText(str(p.parent))
        self.date.setText(_date_text(photo))
        self.dims.setText(f"{photo.width} × {photo.height}"  # noqa: RUF001
                          if photo.width else "unknown")
        self.size.setText(human_size(photo.size))
        self.score.setText(f"{score:.3f}" if score is not None else "—")
        self.image_label.setText("Loading…")
        self._pool.clear()
        self._pool.start(_LoadPreview(self._seq, photo.path, self._signals))

    def _on_loaded(self, seq: int, image: QImage) -> None:
        if seq != self._seq:
            return  # the user moved on to another photo
        if image.isNull():
            self._image = QPixmap()
            self.image_label.setText("Cannot show this file (moved, or unreadable)")
            return
        self._image = QPixmap.fromImage(image)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._image.isNull():
            return
        self.image_label.setPixmap(self._image.scaled(
            self.image_label.size(), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation))

    @property
    def has_image(self) -> bool:
        return not self._image.isNull()

    def _similar(self) -> None:
        if self.photo is not None:
            self.find_similar.emit(self.photo.id)

    def open_photo(self) -> None:
        if self.photo is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.photo.path))

    def _show_in_folder(self) -> None:
        if self.photo is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(self.photo.path)))

    def wait(self) -> None:
        self._pool.waitForDone(5000)


def _date_text(photo: Photo) -> str:
    if photo.taken_at:
        return photo.taken_at.replace("T", " ")
    stamp = dt.datetime.fromtimestamp(photo.mtime_ns / 1e9)
    return f"{stamp:%Y-%m-%d %H:%M} (file date)"
