"""The training page's "Photos to learn from": albums (a folder with one subfolder per label),
a label set (the tags the user set or accepted), or the library's own albums (ticked, each
album a label, as `train --album`), with a summary of what they hold.

The albums folder starts empty (the library's photo folders are not albums: their subfolders
are years and events, not labels); it is typed, dropped, or chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDir, QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.errors import PhotoclipError
from photoclip.core.library import Library
from photoclip.gui.jobs import Calls, LatestCall
from photoclip.gui.views.messages import ERROR_STYLE

if TYPE_CHECKING:
    from photoclip.core.api import Albums

MUTED = "color: #666;"
# What a usable albums folder looks like (the core needs 2 labels with 2 photos each: one to
# learn from, one held out to measure with).
ALBUMS_HELP = ("One subfolder per label, e.g. albums/cat/*.jpg and albums/dog/*.jpg: at "
               "least 2 subfolders with at least 2 photos each (more photos teach it more). "
               "The subfolders' names become the labels.")


class SourceBox(QGroupBox):
    changed = Signal()  # another folder or label set was chosen

    def __init__(self, library: Library, calls: Calls, parent: QWidget | None = None) -> None:
        super().__init__("Photos to learn from", parent)
        self.library = library
        self._summaries = LatestCall(calls)
        self.albums_radio = QRadioButton("A folder of albums: one subfolder per label")
        self.albums_radio.setChecked(True)
        self.set_radio = QRadioButton("A label set: the tags you set or accepted")
        self.library_radio = QRadioButton("Albums in this library: each album you tick a label")
        self._album_reads = LatestCall(calls)
        self.album_list = QListWidget()  # the library's albums, ticked to learn from
        self.album_list.setMaximumHeight(110)
        self.album_list.itemChanged.connect(self._changed)
        group = QButtonGroup(self)
        group.addButton(self.albums_radio)
        group.addButton(self.set_radio)
        group.addButton(self.library_radio)
        group.buttonToggled.connect(self._changed)

        # Editable: a folder is typed (Enter), dropped, or chosen; earlier ones are listed.
        self.folder_combo = QComboBox()
        self.folder_combo.setEditable(True)
        self.folder_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.folder_combo.setMinimumContentsLength(20)
        self.folder_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.folder_combo.setToolTip(ALBUMS_HELP)
        edit = QLineEdit()
        self.folder_combo.setLineEdit(edit)
        edit.setPlaceholderText("Type, drop or choose a folder of albums")
        edit.setAcceptDrops(False)  # a dropped folder is taken by the box (dropEvent)
        edit.editingFinished.connect(self._typed)
        self.folder_combo.activated.connect(self._changed)
        self.setAcceptDrops(True)
        self.choose_button = QPushButton("Choose…")
        self.choose_button.clicked.connect(self._choose_folder)
        folder_row = QHBoxLayout()
        folder_row.setContentsMargins(20, 0, 0, 0)
        folder_row.addWidget(self.folder_combo, 1)
        folder_row.addWidget(self.choose_button)

        self.set_combo = QComboBox()
        self.set_combo.currentIndexChanged.connect(self._changed)
        set_row = QHBoxLayout()
        set_row.setContentsMargins(20, 0, 0, 0)
        set_row.addWidget(self.set_combo, 1)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet(MUTED)

        layout = QVBoxLayout(self)
        layout.addWidget(self.albums_radio)
        layout.addLayout(folder_row)
        layout.addWidget(self.set_radio)
        layout.addLayout(set_row)
        layout.addWidget(self.library_radio)
        album_row = QHBoxLayout()
        album_row.setContentsMargins(20, 0, 0, 0)
        album_row.addWidget(self.album_list, 1)
        layout.addLayout(album_row)
        layout.addWidget(self.summary)

    def refresh(self) -> None:
        self._refresh_folders()
        self._refresh_sets()
        library = self.library
        self._album_reads.run(lambda: library.albums.all(), self._fill_albums)

    def _fill_albums(self, albums: list[Any]) -> None:
        ticked = set(self.chosen_albums())
        self.album_list.blockSignals(True)
        self.album_list.clear()
        for a in albums:
            item = QListWidgetItem(f"{a.name}  (smart)" if a.smart else f"{a.name}  ({a.count})")
            item.setData(Qt.ItemDataRole.UserRole, a.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if a.name in ticked
                               else Qt.CheckState.Unchecked)
            self.album_list.addItem(item)
        self.album_list.blockSignals(False)
        self.library_radio.setToolTip("" if albums else "No albums yet: make some on the "
                                      "Photos page (select photos, Selection ▸ Add to album)")

    def chosen_albums(self) -> list[str]:
        """The library's albums ticked to learn from."""
        lst = self.album_list
        return [str(lst.item(n).data(Qt.ItemDataRole.UserRole)) for n in range(lst.count())
                if lst.item(n).checkState() == Qt.CheckState.Checked]

    def set_busy(self, busy: bool) -> None:
        """Nothing to choose while a job runs."""
        self.albums_radio.setEnabled(not busy)
        self.set_radio.setEnabled(not busy)
        self.library_radio.setEnabled(not busy)
        self.folder_combo.setEnabled(not busy and self.albums_radio.isChecked())
        self.choose_button.setEnabled(not busy and self.albums_radio.isChecked())
        self.set_combo.setEnabled(not busy and self.set_radio.isChecked())
        self.album_list.setEnabled(not busy and self.library_radio.isChecked())
        self.setAcceptDrops(not busy)

    def _refresh_folders(self) -> None:
        """Nothing to re-read: the folders listed are the ones the user gave this session."""

    def _refresh_sets(self) -> None:
        current = self.set_combo.currentData()
        self.set_combo.blockSignals(True)
        self.set_combo.clear()
        for ls in self.library.label_sets.label_sets():
            self.set_combo.addItem(f"{ls.name} ({len(ls.labels)} labels)", ls.name)
        if self.set_combo.count() == 0:
            self.set_combo.setPlaceholderText("No label sets yet")
        self.set_combo.setCurrentIndex(max(0, self.set_combo.findData(current))
                                       if self.set_combo.count() else -1)
        self.set_combo.blockSignals(False)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "A folder with one subfolder per label", self.albums_folder() or QDir.homePath())
        if folder:
            self.set_albums_folder(folder)

    def set_albums_folder(self, folder: str) -> None:
        folder = str(Path(folder).expanduser()) if folder.strip() else ""
        self.folder_combo.blockSignals(True)
        if folder and self.folder_combo.findData(folder) < 0:
            self.folder_combo.addItem(folder, folder)
            self.folder_combo.setItemData(self.folder_combo.count() - 1, folder,
                                          Qt.ItemDataRole.ToolTipRole)
        self.folder_combo.setCurrentIndex(self.folder_combo.findData(folder) if folder else -1)
        self.folder_combo.setEditText(folder)
        self.folder_combo.blockSignals(False)
        if self.albums_radio.isChecked():
            self._changed()
        else:
            self.albums_radio.setChecked(True)  # which says it changed

    def albums_folder(self) -> str:
        """The folder as typed or chosen ("" for none)."""
        return self.folder_combo.currentText().strip()

    def _typed(self) -> None:
        text = self.albums_folder()
        if text != str(self.folder_combo.currentData() or ""):
            self.set_albums_folder(text)

    # -- dropping a folder ------------------------------------------------------------------

    @staticmethod
    def dropped_folder(mime: QMimeData) -> str | None:
        """The first local folder among dropped things, if any."""
        for url in mime.urls():
            if url.isLocalFile() and Path(url.toLocalFile()).is_dir():
                return url.toLocalFile()
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.folder_combo.isEnabled() and self.dropped_folder(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folder = self.dropped_folder(event.mimeData())
        if folder and self.folder_combo.isEnabled():
            event.acceptProposedAction()
            self.set_albums_folder(folder)

    def _changed(self, *_args: object) -> None:
        self.changed.emit()
        self.summarise()

    def reader(self) -> Callable[[], Albums]:
        """A function reading the chosen photos (to run off the UI thread: it walks folders).
        Raises PhotoclipError, saying what to choose, when nothing usable is chosen."""
        lib = self.library
        if self.albums_radio.isChecked():
            folder = self.albums_folder()
            if not folder:
                raise PhotoclipError("Choose a folder of albums (type it, drop it here, or "
                                     f"use Choose…). {ALBUMS_HELP}")
            return lambda: lib.read_albums(folder)
        if self.library_radio.isChecked():
            names = self.chosen_albums()
            if len(names) < 2:
                raise PhotoclipError("Tick at least two albums (each becomes a label, and each "
                                     "needs at least 2 photos).")
            return lambda: lib.albums.training_data(names)
        name = self.set_combo.currentData()
        if not name:
            raise PhotoclipError("There is no label set to learn from yet: create one on the "
                                 "Label sets page and tag some photos, or use albums.")
        return lambda: lib.read_label_set(str(name))

    def describe(self) -> str:
        """The chosen photos in words: "albums in /x/y" or "label set pets"."""
        if self.albums_radio.isChecked():
            return f"the albums in {self.albums_folder()}"
        if self.library_radio.isChecked():
            return "the albums " + ", ".join(self.chosen_albums())
        return f"the label set {self.set_combo.currentData()}"

    def summarise(self) -> None:
        """What the chosen photos are: labels and photo counts (or why they will not do)."""
        self._summaries.drop()
        try:
            read = self.reader()
        except PhotoclipError as exc:
            self.summary.setStyleSheet(MUTED)
            self.summary.setText(str(exc))
            return
        self.summary.setStyleSheet(MUTED)
        self.summary.setText("Looking at the photos…")
        self._summaries.run(read, self._on_summary, self._on_summary_error)

    def _on_summary(self, albums: Albums) -> None:
        counts = albums.counts()
        parts = [f"{label} ({n})" for label, n in zip(albums.labels, counts, strict=True)]
        shown = " · ".join(parts[:8]) + (f" · … {len(parts) - 8} more" if len(parts) > 8
                                          else "")
        self.summary.setStyleSheet(MUTED)
        self.summary.setText(f"{len(albums.labels)} labels, {sum(counts)} photos: {shown}")

    def _on_summary_error(self, message: str) -> None:
        self.summary.setStyleSheet(ERROR_STYLE)
        self.summary.setText(f"⚠ {message}")
