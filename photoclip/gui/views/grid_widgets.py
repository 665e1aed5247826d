"""The Photos page's stock widgets, configured once: the thumbnail grid (and what keeps a photo
at its top as rows come and go) and a date filter."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractItemModel, QDate, QMargins, QObject, QPoint, Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QDateEdit, QListView

from photoclip.gui.models import PhotoGridModel
from photoclip.gui.thumbnails import THUMB

NO_DATE = QDate(1900, 1, 1)  # QDateEdit's minimum, shown as "any"


def photo_grid(model: QAbstractItemModel) -> QListView:
    """An icon grid of thumbnails that stays smooth with 100,000 rows (uniform items, batched
    layout, no moving). Ctrl/Shift-click and a rubber band select several; they drag out
    (onto an album) but never move within the grid."""
    grid = QListView()
    grid.setViewMode(QListView.ViewMode.IconMode)
    grid.setResizeMode(QListView.ResizeMode.Adjust)
    grid.setUniformItemSizes(True)
    grid.setLayoutMode(QListView.LayoutMode.Batched)
    grid.setIconSize(THUMB)
    grid.setGridSize(THUMB.grownBy(QMargins(12, 12, 12, 30)))
    grid.setWordWrap(False)
    grid.setMovement(QListView.Movement.Static)
    grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    grid.setSelectionRectVisible(True)
    grid.setDragEnabled(True)
    grid.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
    grid.setModel(model)
    return grid


class ScrollAnchor(QObject):
    """Keeps a photo at the grid's top left while the view lays its rows out again (it lays
    them out in batches, over a few turns of the event loop)."""

    def __init__(self, grid: QListView, model: PhotoGridModel) -> None:
        super().__init__(grid)
        self.grid, self.model = grid, model
        self._anchor: tuple[int, int] | None = None  # (photo kept at the top, tries left)
        self._timer = QTimer(self, singleShot=True, interval=10)
        self._timer.timeout.connect(self._keep)

    def first_visible(self) -> int | None:
        """The photo at the grid's top left when it is scrolled down (None at its top)."""
        if self.grid.verticalScrollBar().value() == 0:
            return None
        step = self.grid.gridSize()
        for y in (4, step.height() // 2):
            for x in (4, step.width() // 2):
                index = self.grid.indexAt(QPoint(x, y))
                if index.isValid():
                    return self.model.item(index.row()).photo_id
        return None

    def scroll_to(self, photo_id: int) -> None:
        self._anchor = (photo_id, 20)
        self._keep()

    def stop(self) -> None:
        self._timer.stop()

    def _keep(self) -> None:
        photo_id, tries = self._anchor or (0, 0)
        row = self.model.row_of(photo_id) if self._anchor else None
        if row is None:
            self._anchor = None
            return
        index = self.model.index(row)
        self.grid.scrollTo(index, QListView.ScrollHint.PositionAtTop)
        rect = self.grid.visualRect(index)
        if tries and not (rect.isValid() and 0 <= rect.top() < self.grid.gridSize().height() // 2):
            self._anchor = (photo_id, tries - 1)
            self._timer.start()
        else:
            self._anchor = None


def date_edit(tip: str) -> QDateEdit:
    """A date filter whose lowest date reads "any" (no bound)."""
    edit = QDateEdit()
    edit.setCalendarPopup(True)
    edit.setMinimumDate(NO_DATE)
    edit.setSpecialValueText("any")
    edit.setDate(NO_DATE)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setToolTip(tip)
    return edit


def fill_folders(combo: QComboBox, roots: list[str]) -> bool:
    """List the library's folders in the folder filter, keeping the one chosen; False when
    the folder chosen is gone (the filter is back at "All folders"), without a signal."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    combo.addItem("All folders", None)
    for root in roots:
        combo.addItem(Path(root).name or root, root)
        combo.setItemData(combo.count() - 1, root, Qt.ItemDataRole.ToolTipRole)
    index = combo.findData(current)
    combo.setCurrentIndex(max(0, index))
    combo.blockSignals(False)
    return current is None or index >= 0
