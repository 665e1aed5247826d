"""Asynchronous thumbnails: read from the on-disk cache (made by the indexer) off the UI
thread, regenerate a missing one from the original, keep recent ones in memory."""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap

from photoclip.core.api import ensure_thumbnail
from photoclip.core.errors import ImageError
from photoclip.gui.jobs import Calls

log = logging.getLogger(__name__)

THUMB = QSize(160, 160)
# Pixmaps kept in memory: 2,000 x 160 px x 4 B is ~200 MB at worst, ~40 screens of grid.
MEMORY_CACHE = 2000


def load_thumbnail(cache: Path, original: str) -> QImage | None:
    """A photo's grid image: its cached thumbnail (made from the original when missing),
    fitted to THUMB; None when neither can be read. Safe off the UI thread (QImage is)."""
    try:  # an empty or truncated cached thumbnail is remade from the original too
        ensure_thumbnail(cache, original)
    except (ImageError, OSError) as exc:
        log.debug("no thumbnail for %s: %s", original, exc)
        return None
    image = QImage(str(cache))
    if image.isNull():
        return None
    return fit(image, THUMB)


def fit(image: QImage, size: QSize) -> QImage:
    """Scaled to fit and centred on a transparent square, so grid captions line up."""
    scaled = image.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                          Qt.TransformationMode.SmoothTransformation)
    canvas = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    canvas.fill(Qt.GlobalColor.transparent)
    painter = QPainter(canvas)
    painter.drawImage((size.width() - scaled.width()) // 2,
                      (size.height() - scaled.height()) // 2, scaled)
    painter.end()
    return canvas


class ThumbnailLoader(QObject):
    ready = Signal(str)  # cache path whose pixmap is now available

    def __init__(self, pool: QThreadPool | None = None) -> None:
        super().__init__()
        # A pool of its own: thumbnails must not queue behind a search or a model load.
        self.pool = pool or QThreadPool()
        self.pool.setMaxThreadCount(2)
        self._calls = Calls(self, self.pool)
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._pending: set[str] = set()

    def get(self, cache: Path, original: str) -> QPixmap | None:
        key = str(cache)
        pix = self._cache.get(key)
        if pix is not None:
            self._cache.move_to_end(key)
            return pix
        if key not in self._pending:
            # One that cannot be read stays pending: not tried again until the grid changes.
            self._pending.add(key)
            self._calls.run(lambda: load_thumbnail(cache, original),
                            lambda image: self._on_loaded(key, image))
        return None

    def _on_loaded(self, key: str, image: QImage | None) -> None:
        if image is None:
            return
        self._pending.discard(key)
        self._cache[key] = QPixmap.fromImage(image)
        if len(self._cache) > MEMORY_CACHE:
            self._cache.popitem(last=False)
        self.ready.emit(key)

    def clear_pending(self) -> None:
        self._calls.clear()  # drop queued loads for rows no longer shown
        self._pending.clear()

    def wait(self, msecs: int = 5000) -> None:
        self.pool.waitForDone(msecs)
