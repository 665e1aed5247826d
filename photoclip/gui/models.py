"""The photo grid's model: photos (search hits or the browsed library) with async thumbnails."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap

from photoclip.gui.thumbnails import THUMB, ThumbnailLoader

PhotoIdRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
ScoreRole = Qt.ItemDataRole.UserRole + 3

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class GridItem:
    photo_id: int
    path: str
    thumbnail: Path | None
    score: float | None = None  # None when browsing (no query)


class PhotoGridModel(QAbstractListModel):
    """Holds plain tuples only; pixmaps are fetched on demand for the rows the view paints,
    so 100,000 photos cost a list, not 100,000 images."""

    def __init__(self, loader: ThumbnailLoader | None = None) -> None:
        super().__init__()
        self._items: list[GridItem] = []
        self._rows_by_thumb: dict[str, list[int]] = {}
        self.loader = loader or ThumbnailLoader()
        self.loader.ready.connect(self._thumbnail_ready)
        placeholder = QPixmap(THUMB)
        placeholder.fill(QColor("#dcdcdc"))
        self._placeholder = QIcon(placeholder)

    def set_items(self, items: list[GridItem]) -> None:
        self.loader.clear_pending()
        self.beginResetModel()
        self._items = list(items)
        self._rows_by_thumb = {}
        for row, item in enumerate(self._items):
            if item.thumbnail is not None:
                self._rows_by_thumb.setdefault(str(item.thumbnail), []).append(row)
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
            return Path(item.path).name
        if role == Qt.ItemDataRole.DecorationRole:
            if item.thumbnail is None:
                return self._placeholder
            pix = self.loader.get(item.thumbnail, item.path)
            return QIcon(pix) if pix is not None else self._placeholder
        if role == Qt.ItemDataRole.ToolTipRole:
            score = f"\nscore {item.score:.3f}" if item.score is not None else ""
            return f"{item.path}{score}"
        if role == PhotoIdRole:
            return item.photo_id
        if role == PathRole:
            return item.path
        if role == ScoreRole:
            return item.score
        return None

    def _thumbnail_ready(self, key: str) -> None:
        for row in self._rows_by_thumb.get(key, ()):
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
