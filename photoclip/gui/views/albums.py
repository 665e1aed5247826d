"""The Photos page's album list: "All photos", then the library's albums and smart albums.

Clicking an album shows its photos in the grid; clicking a smart album runs its saved search.
Photos dragged from the grid onto a plain album go into it. New, new smart, rename and delete
are buttons under the list; every read and change of the catalog runs off the UI thread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.library import Library
from photoclip.gui.jobs import Calls, LatestCall
from photoclip.gui.models import PHOTO_IDS_MIME
from photoclip.gui.views.messages import ERROR_STYLE

NAME = Qt.ItemDataRole.UserRole + 1  # the album's name (None: all photos)
QUERY = Qt.ItemDataRole.UserRole + 2  # a smart album's query (None: a plain album)
ALL_PHOTOS = "All photos"


def query_with_filters(query: str, folder: str | None, after: str | None,
                       before: str | None) -> str:
    """The search shown as one query of the search language (docs/SEARCH.md), the folder and
    date filters chosen beside the field written into it (`folder:"…" after:… before:…`), so
    a smart album made from it keeps them; a filter the query already has is left to it."""
    query = " ".join(query.split())
    parts = [query]
    for key, value in (("folder", folder), ("after", after), ("before", before)):
        if value and not re.search(rf"(^|\s)-?{key}:", query):
            quote = any(ch.isspace() for ch in value) and '"' not in value
            parts.append(f'{key}:"{value}"' if quote else f"{key}:{value}")
    return " ".join(p for p in parts if p)


class AlbumList(QListWidget):
    """The list itself: takes photos dropped from the grid onto a plain album."""

    dropped = Signal(str, list)  # (album, photo ids)

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)

    def target(self, pos: QPoint) -> str | None:
        """The plain album under `pos`, if any (a smart album's query picks its photos)."""
        item = self.itemAt(pos)
        if item is None or item.data(NAME) is None or item.data(QUERY) is not None:
            return None
        return str(item.data(NAME))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(PHOTO_IDS_MIME):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasFormat(PHOTO_IDS_MIME) and self.target(event.position().toPoint()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        name = self.target(event.position().toPoint())
        if name is None or not event.mimeData().hasFormat(PHOTO_IDS_MIME):
            event.ignore()
            return
        ids = [int(i) for i in json.loads(bytes(event.mimeData().data(PHOTO_IDS_MIME).data()))]
        event.acceptProposedAction()
        self.dropped.emit(name, ids)


class AlbumsPanel(QWidget):
    chosen = Signal(object, object)  # (album name or None for all photos, smart query or None)
    dropped = Signal(str, list)  # photos dropped on an album: (name, photo ids)
    names_changed = Signal(list)  # the plain albums' names, for "Add to album"

    def __init__(self, library: Library, calls: Calls,
                 current_query: Callable[[], str] = lambda: "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library, self.calls = library, calls
        self.current_query = current_query  # the search shown (a new smart album's default)
        self._reads = LatestCall(calls)
        self._then: list[str | None] = []  # the album to highlight once the list is read again
        self.list = AlbumList()
        self.list.dropped.connect(self.dropped)
        self.list.setStyleSheet("QListWidget::item { padding: 3px 2px; }")
        self.list.itemClicked.connect(self._clicked)
        self.list.setToolTip("Click an album to see its photos; drag photos from the grid "
                             "onto an album to add them")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(ERROR_STYLE)
        self.note.setVisible(False)
        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        self.new_button = self._button("New", "A new album (photos are added by hand)",
                                       self.ask_new)
        self.smart_button = self._button("Smart", "A new smart album: a saved search, run "
                                         "again as the library changes", self.ask_smart)
        self.rename_button = self._button("Rename", "Rename the album", self.ask_rename)
        self.delete_button = self._button("Delete", "Delete the album (its photos stay)",
                                          self.ask_delete)
        for b in (self.new_button, self.smart_button, self.rename_button, self.delete_button):
            buttons.addWidget(b)
        title = QLabel("Albums")
        title.setStyleSheet("font-weight: bold;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        self._fill([])
        self.refresh()

    def _button(self, text: str, tip: str, slot: Callable[[], None]) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    # -- reading ----------------------------------------------------------------------------

    def refresh(self) -> None:
        library = self.library  # the albums door imports on first use: in the worker too
        self._reads.run(lambda: library.albums.all(), self._fill, self._say)

    def _fill(self, albums: list[Any]) -> None:
        current = self._then.pop() if self._then else self.current_name()
        self._then.clear()
        self.list.clear()
        first = QListWidgetItem(ALL_PHOTOS)
        first.setData(NAME, None)
        self.list.addItem(first)
        for a in albums:
            item = QListWidgetItem(f"{a.name}  (smart)" if a.smart else f"{a.name}  ({a.count:,})")
            item.setData(NAME, a.name)
            item.setData(QUERY, a.query)
            item.setToolTip(f"Smart album: {a.query}" if a.smart else
                            f"{a.count:,} photos; drop more here")
            self.list.addItem(item)
        self.select(current)
        self._enable()
        self.names_changed.emit([a.name for a in albums if not a.smart])

    def names(self) -> list[str]:
        return [str(self.list.item(n).data(NAME)) for n in range(1, self.list.count())]

    def current_name(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else item.data(NAME)

    def select(self, name: str | None) -> None:
        """Highlight an album (None: all photos) without showing it again."""
        for n in range(self.list.count()):
            if self.list.item(n).data(NAME) == name:
                self.list.setCurrentRow(n)
                break
        else:
            self.list.setCurrentRow(0)
        self._enable()

    def _enable(self) -> None:
        chosen = self.current_name() is not None
        self.rename_button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen)

    def _clicked(self, item: QListWidgetItem) -> None:
        self._enable()
        self.chosen.emit(item.data(NAME), item.data(QUERY))

    # -- changing ---------------------------------------------------------------------------

    def create_album(self, name: str, query: str | None = None) -> None:
        albums = self.library.albums
        self._change(lambda: albums.create(name, query), then=name)

    def rename_album(self, name: str, new_name: str) -> None:
        albums = self.library.albums
        self._change(lambda: albums.rename(name, new_name), then=new_name,
                     renamed=lambda a: self.chosen.emit(a.name, a.query))

    def delete_album(self, name: str) -> None:
        albums = self.library.albums
        self._change(lambda: albums.delete(name), then=None)
        self.chosen.emit(None, None)

    def _change(self, call: Callable[[], Any], then: str | None,
                renamed: Callable[[Any], None] | None = None) -> None:
        self.note.setVisible(False)

        def done(value: object) -> None:
            self._then.append(then)
            self.refresh()
            if renamed is not None:
                renamed(value)

        def failed(message: str) -> None:
            self._say(message)
            self.refresh()

        self.calls.run(call, done, failed)

    def _say(self, message: str) -> None:
        self.note.setText(f"⚠ {message}")
        self.note.setVisible(True)

    def ask_new(self) -> None:
        name, ok = QInputDialog.getText(self, "New album", "Name of the new album:")
        if ok and name.strip():
            self.create_album(name)

    def ask_smart(self) -> None:
        query, ok = QInputDialog.getText(
            self, "New smart album", "Its search (words and filters, e.g. beach rating:>=4 "
            "after:2020-01-01):", text=self.current_query())
        if not ok or not query.strip():
            return
        name, ok = QInputDialog.getText(self, "New smart album", "Name of the smart album:")
        if ok and name.strip():
            self.create_album(name, query.strip())

    def ask_rename(self) -> None:
        old = self.current_name()
        if old is None:
            return
        name, ok = QInputDialog.getText(self, "Rename album", f"New name for {old}:", text=old)
        if ok and name.strip() and name.strip() != old:
            self.rename_album(old, name)

    def ask_delete(self) -> None:
        name = self.current_name()
        if name is None:
            return
        sure = QMessageBox.question(
            self, "Delete album", f"Delete the album {name}? Its photos stay in the library "
            "and on disk.")
        if sure == QMessageBox.StandardButton.Yes:
            self.delete_album(name)

    def shutdown(self) -> None:
        self._reads.drop()
