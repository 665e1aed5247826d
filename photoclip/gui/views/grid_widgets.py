"""The Photos page's stock widgets, configured once: the thumbnail grid and a date filter."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QDate, QMargins
from PySide6.QtWidgets import QDateEdit, QListView

from photoclip.gui.thumbnails import THUMB

NO_DATE = QDate(1900, 1, 1)  # QDateEdit's minimum, shown as "any"


def photo_grid(model: QAbstractItemModel) -> QListView:
    """An icon grid of thumbnails that stays smooth with 100,000 rows (uniform items, batched
    layout, no dragging)."""
    grid = QListView()
    grid.setViewMode(QListView.ViewMode.IconMode)
    grid.setResizeMode(QListView.ResizeMode.Adjust)
    grid.setUniformItemSizes(True)
    grid.setLayoutMode(QListView.LayoutMode.Batched)
    grid.setIconSize(THUMB)
    grid.setGridSize(THUMB.grownBy(QMargins(12, 12, 12, 30)))
    grid.setWordWrap(False)
    grid.setMovement(QListView.Movement.Static)
    grid.setModel(model)
    return grid


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
