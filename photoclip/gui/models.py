"""The photo grid's model: search hits with their thumbnails (from the on-disk cache)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from photoclip.core.types import SearchHit

THUMB = QSize(160, 160)
# Decoded thumbnails kept in memory; 500 x 160 px RGB is ~40 MB at worst.
_PIXMAP_CACHE = 500

ScoreRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class GridItem:
    hit: SearchHit
    thumbnail: Path | None


class PhotoGridModel(QAbstractListModel):
    def __init__(self) -> None:
        super().__init__()
        self._items: list[GridItem] = []
        self._pixmaps: OrderedDict[Path, QPixmap] = OrderedDict()
        placeholder = QPixmap(THUMB)
        placeholder.fill(QColor("#d0d0d0"))
        self._placeholder = QIcon(placeholder)

    def set_items(self, items: list[GridItem]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def item(self, row: int) -> GridItem:
        return self._items[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return Path(item.hit.path).name
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icon(item)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{item.hit.path}\nscore {item.hit.score:.3f}"
        if role == ScoreRole:
            return item.hit.score
        if role == PathRole:
            return item.hit.path
        return None

    def _icon(self, item: GridItem) -> QIcon:
        path = item.thumbnail
        if path is None:
            return self._placeholder
        pix = self._pixmaps.get(path)
        if pix is None:
            pix = QPixmap(str(path))
            if pix.isNull():
                return self._placeholder
            pix = _centered(pix.scaled(THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation))
            self._pixmaps[path] = pix
            if len(self._pixmaps) > _PIXMAP_CACHE:
                self._pixmaps.popitem(last=False)
        else:
            self._pixmaps.move_to_end(path)
        return QIcon(pix)


def _centered(pix: QPixmap) -> QPixmap:
    """Every cell's icon has the same size, so names line up under portrait and landscape."""
    canvas = QPixmap(THUMB)
    canvas.fill(Qt.GlobalColor.transparent)
    painter = QPainter(canvas)
    painter.drawPixmap((THUMB.width() - pix.width()) // 2,
                       (THUMB.height() - pix.height()) // 2, pix)
    painter.end()
    return canvas
