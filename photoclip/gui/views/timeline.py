"""The timeline beside the grid while browsing: the years and months of the photos shown, newest
first, with how many each holds. A click jumps the grid to that month's first photo; scrolling
the grid highlights the month at its top.

The months come with the browse, off the UI thread (`Library.albums.months`, in the grid's
order), so a month's first row is the sum of the counts above it: nothing is read here.
"""

from __future__ import annotations

import bisect
import calendar

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QListView, QListWidget, QListWidgetItem, QWidget

from photoclip.gui.models import PhotoGridModel
from photoclip.gui.views.grid_widgets import ScrollAnchor

ROW = Qt.ItemDataRole.UserRole + 1  # the grid row of the month's (or year's) first photo


class Timeline(QListWidget):
    def __init__(self, grid: QListView, model: PhotoGridModel, anchor: ScrollAnchor) -> None:
        super().__init__()
        self.grid, self.photos, self.anchor = grid, model, anchor
        self.firsts: list[int] = []  # grid row of each month's first photo, in order
        self._month_items: list[QListWidgetItem] = []
        self.setFixedWidth(150)
        self.setToolTip("Jump to a month")
        self.setStyleSheet("QListWidget { border: none; background: transparent; }")
        self.itemClicked.connect(self._jump)
        grid.verticalScrollBar().valueChanged.connect(self._follow)
        self.setVisible(False)

    def beside(self) -> QWidget:
        """The grid with the timeline at its right, as one widget."""
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(self.grid, 1)
        row.addWidget(self)
        return box

    def set_months(self, months: list[tuple[str, int]]) -> None:
        """("YYYY-MM", photos) newest first, in the grid's order; [] hides the timeline (a
        search's results are in order of score, not date)."""
        self.clear()
        self.firsts, self._month_items = [], []
        year, first = None, 0
        bold = QFont(self.font())
        bold.setBold(True)
        for month, n in months:
            y, _, m = month.partition("-")
            if y != year:
                year = y
                head = QListWidgetItem(y or "No date")
                head.setFont(bold)
                head.setData(ROW, first)
                self.addItem(head)
            name = calendar.month_name[int(m)] if m.isdigit() and 1 <= int(m) <= 12 else ""
            if name:
                item = QListWidgetItem(f"   {name}  ({n:,})")
                item.setData(ROW, first)
                item.setToolTip(f"{name} {y}: {n:,} photos")
                self.addItem(item)
                self._month_items.append(item)
                self.firsts.append(first)
            first += n
        self.setVisible(len(months) > 1)

    def _jump(self, item: QListWidgetItem) -> None:
        row = int(item.data(ROW))
        if row >= self.photos.total:
            return
        self.photos.show_up_to(row + 1)
        self.grid.setCurrentIndex(self.photos.index(row))
        self.anchor.scroll_to(self.photos.item(row).photo_id)  # once the grid is laid out

    def _follow(self, _value: int) -> None:
        """Highlight the month of the photo at the grid's top left."""
        index = self.grid.indexAt(QPoint(8, 8))
        if not index.isValid() or not self.firsts:
            return
        n = bisect.bisect_right(self.firsts, index.row()) - 1
        if 0 <= n < len(self._month_items):
            self.blockSignals(True)
            self.setCurrentItem(self._month_items[n])
            self.blockSignals(False)
