"""The grid's selection and what can be done to it at once: rate (0-5 keys), favourite (F),
add to or take out of an album, tag — undone by Ctrl+Z, one change after another (the last
UNDO_LEVELS of them), and done again by Ctrl+Shift+Z.

Every change runs off the UI thread as one core call (`Library.albums.*_edit`) that also reads
back the library's stars and favourites, so the grid shows what the catalog now holds. Undo
runs the change's own `Edit.undo`; redo runs the change again on the same photos. The bar
over the grid says how many photos are selected and what the last change (or undo) did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListView,
    QMenu,
    QToolButton,
    QWidget,
)

from photoclip.core.library import Library
from photoclip.gui.jobs import Calls
from photoclip.gui.models import Marks, PhotoGridModel

Edit = Any  # photoclip.core.library_albums.Edit: core reaches the GUI only through Library
Change = Callable[[Any, list[int]], Edit]  # (Library.albums, photo ids) -> the Edit made
STAR_KEYS = {getattr(Qt.Key, f"Key_{n}"): n for n in range(6)}
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
UNDO_LEVELS = 50  # changes Ctrl+Z can take back, newest first


def stars_text(n: int) -> str:
    return "★" * n + "☆" * (5 - n)


class BulkActions(QObject):
    """Changes to the selected photos, run one at a time off the UI thread; the last
    UNDO_LEVELS can be undone (and what was undone redone)."""

    done = Signal(str)  # what the change did, in words ("12 photos rated 4★")
    failed = Signal(str)
    edited = Signal(object)  # the Edit (album membership or tags may have changed)
    space = Signal()  # Space on the grid (the page shows or hides the preview)
    delete = Signal()  # Delete or Backspace on the grid (photoclip never deletes photos)
    similar = Signal(list)  # "Find similar": photos like all of these ids

    def __init__(self, library: Library, calls: Calls, grid: QListView,
                 model: PhotoGridModel) -> None:
        super().__init__(grid)
        self.library, self.calls, self.grid, self.model = library, calls, grid, model
        self.undo_stack: list[tuple[Edit, Callable[[Any], Edit]]] = []  # (edit, do it again)
        self.redo_stack: list[tuple[Edit, Callable[[Any], Edit]]] = []
        self.busy = False
        self.album: str | None = None  # the plain album the grid shows (photos can leave it)
        grid.installEventFilter(self)
        grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        grid.customContextMenuRequested.connect(self._context_menu)
        self.album_names: list[str] = []  # plain albums, for "Add to album" (the panel's list)

    @property
    def last(self) -> Edit | None:
        """The change Ctrl+Z takes back next."""
        return self.undo_stack[-1][0] if self.undo_stack else None

    @property
    def next_redo(self) -> Edit | None:
        """The change Ctrl+Shift+Z makes again next."""
        return self.redo_stack[-1][0] if self.redo_stack else None

    # -- what is selected -------------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.grid.selectionModel().selectedIndexes()})
        return self.model.ids(rows)

    def select_all(self) -> None:
        """Every photo found, not only the rows the grid has been given so far."""
        self.model.show_up_to(self.model.total)
        self.grid.selectAll()

    # -- changes ----------------------------------------------------------------------------

    def rate(self, stars: int, ids: list[int] | None = None) -> None:
        self._run(lambda a, ids: a.rate_edit(ids, stars), ids)

    def favourite(self, on: bool | None = None, ids: list[int] | None = None) -> None:
        """on=None: favourite, unless every selected photo already is (then no longer)."""
        chosen = self.selected_ids() if ids is None else ids
        if on is None:
            on = not all(self.model.marks.get(i, (0, False))[1] for i in chosen)
        self._run(lambda a, ids: a.favourite_edit(ids, bool(on)), chosen)

    def add_to_album(self, name: str, ids: list[int] | None = None) -> None:
        self._run(lambda a, ids: a.add_edit(name, ids), ids)

    def remove_from_album(self, name: str, ids: list[int] | None = None) -> None:
        self._run(lambda a, ids: a.remove_edit(name, ids), ids)

    def tag(self, label: str, ids: list[int] | None = None, on: bool = True) -> None:
        """Tag the photos by hand (on=False: take the tag off; an auto tag is rejected)."""
        label = " ".join(label.split())
        if label:
            self._run(lambda a, ids: a.tag_edit(ids, label, on), ids)

    def decide(self, label: str, accept: bool = True, ids: list[int] | None = None) -> None:
        """Accept (or reject) a label's auto tags on the photos, as the tag panel does for one."""
        label = " ".join(label.split())
        if label:
            self._run(lambda a, ids: a.decide_edit(ids, label, accept), ids)

    def undo(self) -> None:
        """Take back the newest change not yet undone (Ctrl+Z); it can be redone."""
        if not self.undo_stack or self.busy:
            return
        edit, again = self.undo_stack.pop()
        albums = self.library.albums

        def call() -> tuple[Edit, Marks]:
            edit.undo()
            return edit, albums.marked()

        def undone(r: tuple[Edit, Marks]) -> None:
            self.redo_stack.append((edit, again))
            self._finish(r, f"Undone: {edit.what}")

        self.busy = True
        self.calls.run(call, undone, self._failed)

    def redo(self) -> None:
        """Make again the change undone last (Ctrl+Shift+Z), on the same photos."""
        if not self.redo_stack or self.busy:
            return
        _edit, again = self.redo_stack.pop()
        self._start(again, lambda r: self._push(r, again, "Redone: "))

    def _run(self, change: Change, ids: list[int] | None) -> None:
        chosen = self.selected_ids() if ids is None else ids
        if not chosen or self.busy:
            return

        def again(albums: Any) -> Edit:
            return change(albums, chosen)

        self._start(again, lambda r: self._push(r, again, "", fresh=True))

    def _start(self, change: Callable[[Any], Edit],
               finish: Callable[[tuple[Edit, Marks]], None]) -> None:
        albums = self.library.albums

        def call() -> tuple[Edit, Marks]:
            return change(albums), albums.marked()

        self.busy = True
        self.calls.run(call, finish, self._failed)

    def _push(self, result: tuple[Edit, Marks], again: Callable[[Any], Edit], said: str,
              fresh: bool = False) -> None:
        """A change made (fresh: a new one, which ends what could be redone) goes on the undo
        stack, unless it changed nothing."""
        edit = result[0]
        if fresh:
            self.redo_stack.clear()
        if edit.photo_ids:
            self.undo_stack = [*self.undo_stack, (edit, again)][-UNDO_LEVELS:]
        self._finish(result, said + edit.what + ("  (Ctrl+Z undoes)" if edit.photo_ids else ""))

    def _finish(self, result: tuple[Edit, Marks], text: str) -> None:
        self.busy = False
        edit, marks = result
        self.model.set_marks(marks)
        self.done.emit(text)
        self.edited.emit(edit)

    def _failed(self, message: str) -> None:
        self.busy = False
        self.failed.emit(message)

    # -- keys and the context menu ----------------------------------------------------------

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if obj is self.grid and event.type() == QEvent.Type.KeyPress and isinstance(
                event, QKeyEvent):
            return self.key(event)
        return super().eventFilter(obj, event)

    def key(self, event: QKeyEvent) -> bool:
        """0-5 rate, F favourite, Ctrl+Z undo, Ctrl+Shift+Z redo, Ctrl+A every photo found (and
        Space, Delete)."""
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if event.key() == Qt.Key.Key_Space:
            self.space.emit()
        elif event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete.emit()
        elif event.matches(QKeySequence.StandardKey.Undo):
            self.undo()
        elif event.matches(QKeySequence.StandardKey.Redo) or (
                event.key() == Qt.Key.Key_Z and mods == CTRL_SHIFT):
            self.redo()
        elif event.matches(QKeySequence.StandardKey.SelectAll):
            self.select_all()
        elif mods == Qt.KeyboardModifier.NoModifier and event.key() in STAR_KEYS:
            self.rate(STAR_KEYS[Qt.Key(event.key())])
        elif mods == Qt.KeyboardModifier.NoModifier and event.key() == Qt.Key.Key_F:
            self.favourite()
        else:
            return False
        return True

    def menu(self) -> QMenu:
        """Rate, favourite, albums, tag, undo: for the selection (context menu and bar)."""
        menu = QMenu(self.grid)
        rate = menu.addMenu("Rate")
        for n in range(5, -1, -1):
            act = rate.addAction(f"{stars_text(n)}   ({n})" if n else "No stars   (0)")
            act.triggered.connect(lambda _=False, n=n: self.rate(n))
        menu.addAction("Favourite / not   (F)").triggered.connect(lambda: self.favourite())
        add = menu.addMenu("Add to album")
        for name in self.album_names:
            add.addAction(name).triggered.connect(lambda _=False, n=name: self.add_to_album(n))
        add.addSeparator()
        add.addAction("New album…").triggered.connect(self._new_album)
        if self.album is not None:
            name = self.album
            menu.addAction(f"Take out of {name}").triggered.connect(
                lambda: self.remove_from_album(name))
        menu.addAction("Add a tag…").triggered.connect(lambda: self._ask_tag(True))
        menu.addAction("Remove a tag…").triggered.connect(lambda: self._ask_tag(False))
        menu.addAction("Accept a label's auto tags…").triggered.connect(
            lambda: self._ask_decide(True))
        menu.addAction("Reject a label's auto tags…").triggered.connect(
            lambda: self._ask_decide(False))
        menu.addAction("Find similar to these").triggered.connect(
            lambda: self.similar.emit(self.selected_ids()))
        menu.addSeparator()
        undo = menu.addAction("Undo" + (f": {self.last.what}" if self.last else ""))
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        undo.setEnabled(self.last is not None)
        undo.triggered.connect(self.undo)
        redo = menu.addAction("Redo" + (f": {self.next_redo.what}" if self.next_redo else ""))
        redo.setShortcut(QKeySequence("Ctrl+Shift+Z"))
        redo.setEnabled(self.next_redo is not None)
        redo.triggered.connect(self.redo)
        return menu

    def _context_menu(self, pos: QPoint) -> None:
        if self.selected_ids():
            self.menu().popup(self.grid.viewport().mapToGlobal(pos))

    def _ask_tag(self, on: bool) -> None:
        n = len(self.selected_ids())
        text, ok = QInputDialog.getText(
            self.grid, "Add a tag" if on else "Remove a tag",
            f"Tag the {n} selected photos with:" if on else
            f"Take this tag off the {n} selected photos:")
        if ok:
            self.tag(text, on=on)

    def _ask_decide(self, accept: bool) -> None:
        n = len(self.selected_ids())
        text, ok = QInputDialog.getText(
            self.grid, "Accept auto tags" if accept else "Reject auto tags",
            f"{'Accept' if accept else 'Reject'} this label's auto tags on the {n} selected "
            "photos (LABEL or SET|LABEL):")
        if ok:
            self.decide(text, accept)

    def _new_album(self) -> None:
        ids = self.selected_ids()
        name, ok = QInputDialog.getText(self.grid, "New album",
                                        f"Put the {len(ids)} selected photos in a new album:")
        name = " ".join(name.split())
        if not ok or not name:
            return
        first = True

        def again(albums: Any) -> Edit:
            nonlocal first
            if first:  # redone, the album is there (an undo takes the photos out, not it)
                albums.create(name)
                first = False
            return albums.add_edit(name, ids)

        self._start(again, lambda r: self._push(r, again, "", fresh=True))


class SelectionBar(QWidget):
    """Over the grid: "12 selected", what the last change did, and buttons for the changes."""

    def __init__(self, bulk: BulkActions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bulk = bulk
        self.count_label = QLabel()
        self.count_label.setStyleSheet("font-weight: bold;")
        self.note = QLabel()
        self.note.setStyleSheet("color: #555;")
        self.menu_button = QToolButton()
        self.menu_button.setText("Selection ▾")
        self.menu_button.setToolTip("Rate, favourite, put in an album or tag the selected photos")
        self.menu_button.clicked.connect(self._show_menu)
        self.undo_button = QToolButton()
        self.undo_button.setText("Undo")
        self.undo_button.setToolTip("Take back the last change (Ctrl+Z)")
        self.undo_button.clicked.connect(bulk.undo)
        self.redo_button = QToolButton()
        self.redo_button.setText("Redo")
        self.redo_button.clicked.connect(bulk.redo)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.count_label)
        layout.addWidget(self.note, 1)
        layout.addWidget(self.menu_button)
        layout.addWidget(self.undo_button)
        layout.addWidget(self.redo_button)
        bulk.done.connect(self.note.setText)
        bulk.failed.connect(lambda m: self.note.setText(f"⚠ {m}"))
        bulk.done.connect(lambda _t: self.refresh())
        self.refresh()

    def _show_menu(self) -> None:
        b = self.menu_button
        self.bulk.menu().popup(b.mapToGlobal(b.rect().bottomLeft()))

    def refresh(self) -> None:
        n = len(self.bulk.grid.selectionModel().selectedIndexes())
        self.count_label.setText(f"{n:,} selected" if n else "")
        self.count_label.setToolTip("Ctrl/Shift-click or drag to select more; Ctrl+A: all; "
                                    "0-5 rate, F favourite, Ctrl+Z undo")
        self.menu_button.setEnabled(n > 0)
        last, again = self.bulk.last, self.bulk.next_redo
        self.undo_button.setEnabled(last is not None)
        self.undo_button.setToolTip(f"Undo: {last.what}   (Ctrl+Z)" if last else
                                    "Nothing to undo")
        self.redo_button.setEnabled(again is not None)
        self.redo_button.setToolTip(f"Redo: {again.what}   (Ctrl+Shift+Z)" if again else
                                    "Nothing to redo")
