"""The Photos page: the search field with its folder and date filters, the photo grid, and the
preview pane of the selected photo.

Searches (they need the model) run as short calls off the UI thread; a newer query drops the
answer of an older one. Browsing with no query lists the newest photos straight from the
catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QMargins, QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.api import Tagger
from photoclip.core.library import Library
from photoclip.core.types import Photo, SearchHit
from photoclip.gui.jobs import Calls, LatestCall
from photoclip.gui.models import GridItem, PhotoGridModel
from photoclip.gui.thumbnails import THUMB
from photoclip.gui.views.preview import PreviewPane

# Wait this long after the last keystroke before searching: fast typists send one query.
SEARCH_DEBOUNCE_MS = 250
SEARCH_TOP = 500
# Browsing with no query lists the newest photos; the grid is virtual, so this is cheap.
BROWSE_LIMIT = 200_000
NO_DATE = QDate(1900, 1, 1)  # QDateEdit's minimum, shown as "any"


class PhotosPage(QWidget):
    search_done = Signal(int)  # number of photos shown
    message = Signal(str)  # a problem to show in the window's message area, with the fix
    status = Signal(str)  # what the page is waiting for, for the window's status line

    def __init__(self, library: Library, calls: Calls, tagger: Callable[[], Tagger | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self._searches = LatestCall(calls)
        self._model_ready = False
        self._indexing = False  # the window's indexer is running (see the empty grid's text)

        self._build_search_bar()
        self._build_grid()
        self.preview = PreviewPane()
        self.preview.find_similar.connect(self.find_similar)
        self.preview.tags.attach(library, tagger)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.empty_label)
        left_layout.addWidget(self.grid, 1)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([880, 400])

        layout = QVBoxLayout(self)
        layout.addLayout(self.search_bar)
        layout.addWidget(self.splitter, 1)
        self.refresh_filters()

    # -- building ---------------------------------------------------------------------------

    def _build_search_bar(self) -> None:
        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText(
            "Describe a photo: 'dog on a beach -people'   (Ctrl+F)")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.textChanged.connect(self._schedule_search)
        self.search_field.returnPressed.connect(self.run_search)
        self._debounce = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.run_search)

        self.folder_filter = QComboBox()
        self.folder_filter.setMinimumWidth(180)
        self.folder_filter.setToolTip("Only photos in this folder")
        self.folder_filter.currentIndexChanged.connect(self._schedule_search)
        self.after_filter = self._date_edit("Taken on or after")
        self.before_filter = self._date_edit("Taken before")

        self.search_bar = QHBoxLayout()
        self.search_bar.addWidget(self.search_field, 1)
        self.search_bar.addWidget(self.folder_filter)
        self.search_bar.addWidget(QLabel("from"))
        self.search_bar.addWidget(self.after_filter)
        self.search_bar.addWidget(QLabel("to"))
        self.search_bar.addWidget(self.before_filter)

    def _date_edit(self, tip: str) -> QDateEdit:
        edit = QDateEdit()
        edit.setCalendarPopup(True)
        edit.setMinimumDate(NO_DATE)
        edit.setSpecialValueText("any")
        edit.setDate(NO_DATE)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setToolTip(tip)
        edit.dateChanged.connect(self._schedule_search)
        return edit

    def _build_grid(self) -> None:
        self.grid_model = PhotoGridModel()
        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setUniformItemSizes(True)
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)  # smooth with 100k rows
        self.grid.setIconSize(THUMB)
        self.grid.setGridSize(THUMB.grownBy(QMargins(12, 12, 12, 30)))
        self.grid.setWordWrap(False)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setModel(self.grid_model)
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid.activated.connect(lambda _i: self.preview.open_photo())
        self.grid.installEventFilter(self)

        self.empty_label = QLabel()
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: #555; font-size: 15px; padding: 24px;")

    # -- state the window tells the page ----------------------------------------------------

    def set_model_ready(self, ready: bool) -> None:
        """Searching needs the model; a query typed while it loaded runs once it is ready."""
        self._model_ready = ready
        if ready and self.search_field.text().strip():
            self.run_search()

    def set_indexing(self, indexing: bool) -> None:
        self._indexing = indexing

    def restore_state(self, qs: QSettings) -> None:
        sizes = qs.value("window/splitter")
        if sizes is not None:
            self.splitter.restoreState(sizes)

    def save_state(self, qs: QSettings) -> None:
        qs.setValue("window/splitter", self.splitter.saveState())

    def toggle_preview(self) -> None:
        self.preview.setVisible(not self.preview.isVisible())

    def shutdown(self) -> None:
        """Wait for the thumbnails and the preview being read (the window is closing)."""
        self._searches.drop()
        self.grid_model.loader.wait()
        self.preview.wait()

    # -- search and browse ------------------------------------------------------------------

    def focus_search(self) -> None:
        self.search_field.setFocus()
        self.search_field.selectAll()

    def _schedule_search(self) -> None:
        self._debounce.start()

    def _filters(self) -> tuple[str | None, str | None, str | None]:
        """(folder, taken on or after, taken before) as chosen; None: any."""
        def day(edit: QDateEdit) -> str | None:
            d = edit.date()
            return None if d == NO_DATE else d.toString("yyyy-MM-dd")

        return self.folder_filter.currentData(), day(self.after_filter), day(self.before_filter)

    def run_search(self) -> None:
        self._debounce.stop()
        query = self.search_field.text().strip()
        folder, after, before = self._filters()
        lib = self.library
        if not query:
            # No query: browse the library, newest first (no model needed).
            self._searches.drop()
            photos = lib.catalog.browse(BROWSE_LIMIT, folder=folder)
            allowed = (lib.catalog.filter_ids(folder=folder, after=after, before=before)
                       if after or before else None)
            self._show_photos([(p, None) for p in photos if allowed is None or p.id in allowed])
            return
        if not self._model_ready:
            self._searches.drop()
            self.message.emit("")
            self.status.emit("Search starts when the model is ready…")
            return
        self._searches.run(lambda: lib.searcher().search(query, top=SEARCH_TOP, folder=folder,
                                                         after=after, before=before),
                           self._show_hits, self.message.emit)

    def refresh_if_browsing(self) -> None:
        """New photos arrived: a browsed grid shows them (a query's answer stays)."""
        if not self.search_field.text().strip():
            self.run_search()

    def find_similar(self, photo_id: int) -> None:
        photo = self.library.catalog.photo(photo_id)
        if photo is None or not self._model_ready:
            return
        self.search_field.blockSignals(True)
        self.search_field.setText(f"similar to {Path(photo.path).name}")
        self.search_field.blockSignals(False)
        lib = self.library
        self._searches.run(lambda: lib.searcher().similar(photo.path, top=SEARCH_TOP),
                           self._show_hits, self.message.emit)

    def find_like_files(self, paths: Sequence[str]) -> None:
        """Photos like these files (dropped on the window; they need not be in the library)."""
        self.search_field.setText(" + ".join(f'similar:"{p}"' for p in paths))
        self.run_search()

    def _show_hits(self, hits: list[SearchHit]) -> None:
        photos = self.library.catalog.photos_by_ids(h.photo_id for h in hits)
        self._show_photos([(photos[h.photo_id], h.score) for h in hits if h.photo_id in photos])

    def _show_photos(self, rows: list[tuple[Photo, float | None]]) -> None:
        thumb = self.library.thumbnail_path
        items = [GridItem(p.id, p.path, thumb(p.hash) if p.hash else None, s)
                 for p, s in rows]
        self.grid_model.set_items(items)
        self.refresh_empty_state()
        if items:
            self.grid.setCurrentIndex(self.grid_model.index(0))
        else:
            self.preview.show_photo(None)
        self.search_done.emit(len(items))

    def refresh_empty_state(self) -> None:
        if self.grid_model.rowCount():
            self.empty_label.setVisible(False)
            return
        if not self.library.catalog.roots():
            text = ("Drop a folder of photos here (or File ▸ Add Folder…).\n"
                    "photoclip indexes it, then you find any photo by typing what is in it.")
        elif self.search_field.text().strip():
            text = "No matching photos. Try other words, or clear the filters."
        elif self._indexing:
            text = "Indexing… photos appear here as they are added."
        else:
            text = "No photos yet in these folders."
        self.empty_label.setText(text)
        self.empty_label.setVisible(True)

    def refresh_filters(self) -> None:
        current = self.folder_filter.currentData()
        self.folder_filter.blockSignals(True)
        self.folder_filter.clear()
        self.folder_filter.addItem("All folders", None)
        for root in self.library.catalog.roots():
            self.folder_filter.addItem(Path(root.path).name or root.path, root.path)
            self.folder_filter.setItemData(self.folder_filter.count() - 1, root.path,
                                           Qt.ItemDataRole.ToolTipRole)
        self.folder_filter.setCurrentIndex(max(0, self.folder_filter.findData(current)))
        self.folder_filter.blockSignals(False)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self.preview.show_photo(None)
            return
        item = self.grid_model.item(current.row())
        self.preview.show_photo(self.library.catalog.photo(item.photo_id), item.score)

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if obj is self.grid and isinstance(event, QKeyEvent) and (
                event.type() == event.Type.KeyPress):
            if event.key() == Qt.Key.Key_Space:
                self.toggle_preview()
                return True
            if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
                self.message.emit("photoclip never deletes your photos; to stop showing a "
                                  "folder, use File ▸ Remove Folder….")
                return True
        return super().eventFilter(obj, event)
