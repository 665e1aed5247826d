"""The preview pane: a large view of the selected photo, its facts, its tags, the words read
in it (the search's matches highlighted, their boxes drawn over the photo), and what to do
with it.

The photo is decoded by the core's imaging, as the grid's thumbnails are (so a HEIC or a camera
RAW previews too, upright as its EXIF orientation says), off the UI thread.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from PySide6.QtCore import QEvent, QObject, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.api import decode, make_thumbnail
from photoclip.core.types import Photo
from photoclip.gui.jobs import Calls, LatestCall
from photoclip.gui.views.photo_text import PhotoTextPanel, draw_boxes
from photoclip.gui.views.tagpanel import TagPanel

if TYPE_CHECKING:
    from photoclip.core.library import Library

# Decode previews at most this large: sharp on a 4K screen's side pane, cheap for a 50-MP file.
PREVIEW_MAX_SIDE = 1600
CANNOT_SHOW = "Cannot show this file (moved, or unreadable)"


def load_preview(path: str) -> QImage:
    """The photo at `path`, upright, at most PREVIEW_MAX_SIDE on its longer side (never
    upscaled). Raises ImageError when it cannot be read. Safe off the UI thread."""
    # decode() keeps the shorter side in [min_side, 2 * min_side]: at least half the preview.
    image = make_thumbnail(decode(path, PREVIEW_MAX_SIDE // 2).image, PREVIEW_MAX_SIDE)
    return to_qimage(image)


def to_qimage(image: Image.Image) -> QImage:
    """An RGB Pillow image as a QImage that owns its pixels."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    data = rgb.tobytes()
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


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
        # One photo at a time, on a pool of its own: a preview never waits behind a search.
        pool = QThreadPool(self)
        pool.setMaxThreadCount(1)
        self._calls = Calls(self, pool)
        self._loads = LatestCall(self._calls)  # the user moving on drops the older photo
        self._texts = LatestCall(self._calls)  # the photo's text, read from the catalog
        self._library: Library | None = None  # attach_text(): where the text comes from
        self._query = ""

        self.image_label = QLabel("Select a photo")
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setMinimumSize(200, 160)
        self.image_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.image_label.setStyleSheet("background: #2b2b2b; color: #aaa;")
        # Refit on the label's own resizes too: showing "why" below takes height from it.
        self.image_label.installEventFilter(self)

        self.name = QLabel()
        self.name.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.name.setWordWrap(True)
        self.folder = QLabel()
        self.folder.setWordWrap(True)
        self.folder.setStyleSheet("color: #555;")
        self.folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder.setToolTip("Folder")
        facts = self._build_facts()

        self.similar_button = QPushButton("Find similar")
        self.similar_button.clicked.connect(self._similar)
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(self.open_photo)
        self.folder_button = QPushButton("Show in folder")
        self.folder_button.setToolTip("Open the photo's folder in the file manager")
        self.folder_button.clicked.connect(self._show_in_folder)
        buttons = QHBoxLayout()
        for b in (self.similar_button, self.open_button, self.folder_button):
            buttons.addWidget(b)

        self.text_panel = PhotoTextPanel()  # hidden unless the photo has text read
        self.tags = TagPanel()

        # Extra sections are added by the window as features land.
        self.extra = QVBoxLayout()

        layout = QVBoxLayout(self)
        layout.addWidget(self.image_label, 3)
        layout.addWidget(self.name)
        layout.addWidget(self.folder)
        layout.addLayout(facts)
        layout.addLayout(buttons)
        layout.addWidget(self.text_panel)
        layout.addWidget(self.tags, 2)
        layout.addLayout(self.extra)
        self.show_photo(None)

    def _build_facts(self) -> QHBoxLayout:
        """One line of facts: date · pixels · file size · search score."""
        self.date = QLabel()
        self.date.setToolTip("Date taken (EXIF), else the file's date")
        self.dims = QLabel()
        self.dims.setToolTip("Width × height in pixels")  # noqa: RUF001
        self.file_size = QLabel()
        self.file_size.setToolTip("File size")
        self.score = QLabel()
        self.score.setToolTip("Similarity to the search")
        facts = QHBoxLayout()
        facts.setSpacing(6)
        self._dots: list[QLabel] = []
        for n, label in enumerate((self.date, self.dims, self.file_size, self.score)):
            if n:
                dot = QLabel("·")
                dot.setStyleSheet("color: #888;")
                self._dots.append(dot)
                facts.addWidget(dot)
            facts.addWidget(label)
        facts.addStretch(1)
        return facts

    def attach_text(self, library: Library) -> None:
        """Show the words read in each photo, from `library` (off the UI thread)."""
        self._library = library
        self._read_text()

    def set_query(self, query: str) -> None:
        """The search shown: its words are highlighted in the photo's text and boxed."""
        if query != self._query:
            self._query = query
            self._read_text()

    def show_photo(self, photo: Photo | None, score: float | None = None) -> None:
        self.photo = photo
        self._loads.drop()
        self._texts.drop()
        self.text_panel.show_match(None)
        enabled = photo is not None
        for b in (self.similar_button, self.open_button, self.folder_button):
            b.setEnabled(enabled)
        self.tags.show_photo(photo)
        if photo is None:
            self._image = QPixmap()
            self.image_label.setPixmap(QPixmap())
            self.image_label.setText("Select a photo")
            for label in (self.name, self.folder, self.date, self.dims, self.file_size,
                          self.score):
                label.setText("")
            for dot in self._dots:
                dot.setVisible(False)
            return
        p = Path(photo.path)
        self.name.setText(p.name)
        self.folder.setText(str(p.parent))
        self.date.setText(_date_text(photo))
        self.dims.setText(f"{photo.width} × {photo.height}"  # noqa: RUF001
                          if photo.width else "size unknown")
        self.file_size.setText(human_size(photo.size))
        self.score.setText(f"score {score:.3f}" if score is not None else "")
        for dot in self._dots:
            dot.setVisible(True)
        self._dots[-1].setVisible(score is not None)
        self._image = QPixmap()
        self.image_label.setText("Loading…")
        self._calls.clear()
        path = photo.path
        self._loads.run(lambda: load_preview(path), self._on_loaded, self._on_unreadable)
        self._read_text()

    def _read_text(self) -> None:
        lib, photo, query = self._library, self.photo, self._query
        if lib is None or photo is None or not photo.hash:
            return
        digest = photo.hash
        self._texts.run(lambda: lib.ocr.match(digest, query), self._on_text,
                        lambda _message: None)  # no text shown is all a failure costs

    def _on_text(self, match: object) -> None:
        self.text_panel.show_match(match)
        self._fit()

    def show_loading(self, path: str) -> None:
        """A photo whose facts are still being read: its name and folder meanwhile."""
        self.show_photo(None)
        self.name.setText(Path(path).name)
        self.folder.setText(str(Path(path).parent))
        self.image_label.setText("Loading…")

    def _on_loaded(self, image: QImage) -> None:
        if image.isNull():
            self._on_unreadable("")
            return
        self._image = QPixmap.fromImage(image)
        self._fit()

    def _on_unreadable(self, _message: str) -> None:
        self._image = QPixmap()
        self.image_label.setPixmap(QPixmap())
        self.image_label.setText(CANNOT_SHOW)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.image_label and event.type() == QEvent.Type.Resize:
            self._fit()
        return super().eventFilter(obj, event)

    def _fit(self) -> None:
        if self._image.isNull():
            return
        shown = self._image.scaled(
            self.image_label.size(), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation)
        photo = self.photo
        size = (photo.width or 0, photo.height or 0) if photo is not None else (0, 0)
        self.image_label.setPixmap(draw_boxes(shown, self.text_panel.match, size))

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
        self._calls.close()


def _date_text(photo: Photo) -> str:
    if photo.taken_at:
        return photo.taken_at.replace("T", " ")
    stamp = dt.datetime.fromtimestamp(photo.mtime_ns / 1e9)
    return f"{stamp:%Y-%m-%d %H:%M} (file date)"
