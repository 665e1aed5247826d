"""The label sets page: which sets tag the library, their labels, prompts and thresholds.

The list of sets is here (create, enable, add a built-in one, delete); the selected set is
edited in a LabelSetEditor, which saves each edit through the core as soon as it is made.
Re-tagging runs the core's tagging job in a JobRunner.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDir, Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.api import LabelSetSpec, check_name, shipped_sets
from photoclip.core.errors import PhotoclipError
from photoclip.core.library import Library
from photoclip.core.types import LabelSet, Progress
from photoclip.gui.jobs import Calls, JobEnd, JobRunner, LatestCall
from photoclip.gui.views.labelset_editor import MUTED, LabelSetEditor
from photoclip.gui.views.labelset_tradeoff import TradeoffPanel
from photoclip.gui.views.labelsets_table import (
    S_KIND,
    S_LABELS,
    S_NAME,
    S_TAGS,
    Counts,
    fill_builtins,
    fill_sets_table,
)
from photoclip.gui.views.messages import MessageLabel

log = logging.getLogger(__name__)

SET_FILES = "Label sets (*.yaml *.yml *.json);;YAML (*.yaml *.yml);;JSON (*.json)"
RETAG_TIP = ("Apply this set to every photo in the library now (uses the stored photo vectors: "
             "no photo is re-read)")


class LabelSetsPage(QWidget):
    sets_changed = Signal()  # a set was created, edited, enabled or deleted
    retag_finished = Signal(str)  # the run's summary (or why it stopped)
    progressed = Signal(object)  # each Progress of a re-tag run
    refreshed = Signal()  # the table shows the sets as they are now

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.store = library.label_sets
        self.jobs = JobRunner(self)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.failed.connect(self.show_error)
        self.jobs.finished.connect(self._on_done)
        self.calls = Calls(self)  # label set files are read and written off the UI thread
        self._reads = LatestCall(self.calls)  # the sets and their counts: the newest read wins
        self.reading = False  # a read of the sets is on its way
        self._sets: dict[int, LabelSet] = {}  # as the last read found them, by id
        self._counts: dict[int, Counts] = {}  # their tag counts: label id -> (tags, yes, no)
        self._job_set = ""
        self.current: LabelSet | None = None
        # Why re-tagging must wait for the library's model (the window sets it), None: ready.
        self._model_note: str | None = None

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_sets_panel())
        splitter.addWidget(self._build_editor())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 900])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.refresh()

    # -- building ---------------------------------------------------------------------------

    def _build_sets_panel(self) -> QWidget:
        panel = QWidget()
        title = QLabel("Label sets")
        title.setStyleSheet("font-weight: bold; font-size: 15px;")
        hint = QLabel("Checked sets tag every photo as it is added. Select a set to edit it.")
        hint.setWordWrap(True)
        hint.setStyleSheet(MUTED)

        self.sets_table = QTableWidget(0, 4)
        self.sets_table.setHorizontalHeaderLabels(["Set", "Labels per photo", "Labels", "Tags"])
        self.sets_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.sets_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.sets_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sets_table.verticalHeader().setVisible(False)
        self.sets_table.setAlternatingRowColors(True)
        header = self.sets_table.horizontalHeader()
        header.setSectionResizeMode(S_NAME, QHeaderView.ResizeMode.Stretch)
        for col in (S_KIND, S_LABELS, S_TAGS):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.sets_table.itemChanged.connect(self._set_item_changed)
        self.sets_table.currentCellChanged.connect(self._set_selected)

        self.new_set_name = QLineEdit()
        self.new_set_name.setPlaceholderText("New set name, e.g. pets")
        self.new_set_name.returnPressed.connect(self.create_set)
        self.create_button = QPushButton("Create")
        self.create_button.clicked.connect(self.create_set)
        new_row = QHBoxLayout()
        new_row.addWidget(self.new_set_name, 1)
        new_row.addWidget(self.create_button)

        self.builtin_combo = QComboBox()
        self.builtin_combo.setToolTip("Label sets that ship with photoclip")
        self.builtin_combo.activated.connect(self._builtin_chosen)
        self.delete_button = QPushButton("Delete set…")
        self.delete_button.clicked.connect(self.delete_set)
        bottom = QHBoxLayout()
        bottom.addWidget(self.builtin_combo, 1)
        bottom.addWidget(self.delete_button)
        # Files a user edits or shares, as `photoclip labels import/export` reads and writes.
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Read a label set from a YAML or JSON file: a set of that "
                                      "name is created, or updated to the file's labels")
        self.import_button.clicked.connect(self.import_set)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write the selected set to a YAML (or .json) file to edit "
                                      "or share, then Import it")
        self.export_button.clicked.connect(self.export_set)
        files = QHBoxLayout()
        files.addWidget(self.import_button)
        files.addWidget(self.export_button)
        files.addStretch(1)

        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addWidget(self.sets_table, 1)
        layout.addLayout(new_row)
        layout.addLayout(bottom)
        layout.addLayout(files)
        return panel

    def _build_editor(self) -> QWidget:
        self.editor_stack = QStackedWidget()
        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet("color: #555; font-size: 15px; padding: 24px;")
        self.editor_stack.addWidget(self.empty_label)

        editor = QWidget()
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; font-size: 15px;")
        self.subtitle = QLabel()
        self.subtitle.setStyleSheet(MUTED)
        self.retag_button = QPushButton("Re-tag library")
        self.retag_button.setToolTip(RETAG_TIP)
        self.retag_button.clicked.connect(self.retag)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_retag)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.addWidget(self.title)
        titles.addWidget(self.subtitle)
        head.addLayout(titles, 1)
        head.addWidget(self.progress_bar)
        head.addWidget(self.cancel_button)
        head.addWidget(self.retag_button)

        self.editor = LabelSetEditor(self.store)
        self.editor.saved.connect(self._saved)
        self.editor.failed.connect(self.show_error)
        self.editor.stale.connect(self.refresh)
        self.message_label = MessageLabel()
        self.tradeoff = TradeoffPanel(self.library)  # how sure before tagging: its own module
        self.tradeoff.saved.connect(lambda set_id, _: self.refresh(select=set_id))
        self.tradeoff.saved.connect(self.sets_changed)

        layout = QVBoxLayout(editor)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.tradeoff)
        layout.addWidget(self.message_label)
        self.editor_stack.addWidget(editor)
        return self.editor_stack

    # -- showing ----------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()  # tags arrive from indexing, the preview and the command line meanwhile

    def tags_changed(self, _photo_id: int = 0) -> None:
        """A photo's tags were changed elsewhere (the preview): the counts follow. A hidden
        page catches up when it is shown."""
        if self.isVisible():
            self.refresh()

    def set_model_state(self, note: str | None) -> None:
        """None: the library's model is loaded, re-tagging can start; else why it cannot yet
        (shown as the Re-tag button's tooltip). A page on its own is ready from the start."""
        self._model_note = note
        self.tradeoff.set_model_state(note)
        self._update_buttons()

    def refresh(self, select: int | None = None) -> None:
        """Re-read the sets and their tag counts (off the UI thread: the counts cost the
        library's tags); keep (or move) the selection. `refreshed` says the table shows them."""
        wanted = select if select is not None else (self.current.id if self.current else None)
        store = self.store
        self.reading = True

        def read() -> tuple[list[LabelSet], dict[int, Counts], dict[str, int]]:
            sets = store.label_sets()
            counts = {ls.id: store.tag_counts(ls.id) for ls in sets}
            return sets, counts, {n: len(spec.labels) for n, spec in shipped_sets().items()}

        self._reads.run(read, lambda data: self._fill(*data, wanted), self._read_failed)

    def _read_failed(self, message: str) -> None:
        self.reading = False
        self.show_error(message)

    def _fill(self, sets: list[LabelSet], counts: dict[int, Counts], builtins: dict[str, int],
              wanted: int | None) -> None:
        self.reading = False
        self._sets, self._counts = {ls.id: ls for ls in sets}, counts
        row_of_wanted = fill_sets_table(self.sets_table, sets, counts, wanted)
        fill_builtins(self.builtin_combo, builtins, {ls.name for ls in sets})
        self._show(sets[row_of_wanted] if sets else None)
        self.refreshed.emit()

    def _show(self, ls: LabelSet | None) -> None:
        """Edit `ls`, with the tag counts of the last read (none yet: a set just made)."""
        self.current = ls
        self.tradeoff.show_set(ls)
        if ls is None:
            self.empty_label.setText(
                "No label sets yet.\nCreate one on the left (type a name, then its labels), "
                "or add a built-in set: scenes, animals, events, documents.")
            self.editor_stack.setCurrentIndex(0)
            self.editor.show_set(None)
            self._update_buttons()
            return
        self.editor_stack.setCurrentIndex(1)
        self.title.setText(ls.name)
        state = "enabled" if ls.enabled else "disabled: new photos are not tagged with it"
        self.subtitle.setText(f"{len(ls.labels)} labels · {state}")
        self.editor.show_set(ls, self._counts.get(ls.id, {}))
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.current is not None
        busy = self.jobs.busy
        self.delete_button.setEnabled(has and not busy)
        self.export_button.setEnabled(has)
        self.import_button.setEnabled(not busy)
        ready = self._model_note is None
        self.retag_button.setEnabled(has and not busy and ready and bool(self.current and
                                                                         self.current.labels))
        self.retag_button.setToolTip(self._model_note or RETAG_TIP)

    # -- messages ---------------------------------------------------------------------------

    def show_error(self, message: str) -> None:
        self.message_label.show_error(message)

    def show_info(self, message: str) -> None:
        self.message_label.show_info(message)

    def _saved(self, set_id: int, what: str) -> None:
        """The editor saved an edit of the set: show it, say so."""
        self.refresh(select=set_id)
        self.show_info(f"{what} Saved; new photos are tagged with it. Re-tag library to apply it "
                       "to the photos you already have.")
        self.sets_changed.emit()

    # -- choosing and creating sets ---------------------------------------------------------

    def _set_selected(self, row: int, _col: int, _prev_row: int, _prev_col: int) -> None:
        item = self.sets_table.item(row, S_NAME) if row >= 0 else None
        if item is None:
            return
        set_id = int(item.data(Qt.ItemDataRole.UserRole))
        if self.current is None or self.current.id != set_id:
            self.message_label.clear()
            known = self._sets.get(set_id)  # as last read; a set the read missed, read now
            self._show(known if known is not None else self.store.label_set_by_id(set_id))

    def select_set(self, name: str) -> None:
        for row in range(self.sets_table.rowCount()):
            item = self.sets_table.item(row, S_NAME)
            if item is not None and item.text() == name:
                self.sets_table.setCurrentCell(row, S_NAME)
                return

    def _set_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != S_NAME:
            return
        set_id = int(item.data(Qt.ItemDataRole.UserRole))
        enabled = item.checkState() == Qt.CheckState.Checked
        # Later: the table's items are rebuilt, and this one is still in use by its view.
        QTimer.singleShot(0, lambda: self.set_enabled(set_id, enabled))

    def set_enabled(self, set_id: int, enabled: bool) -> None:
        self.store.set_enabled(set_id, enabled)
        name = self.store.label_set_by_id(set_id).name
        self.refresh(select=set_id)
        self.show_info(f"'{name}' enabled: new photos are tagged with it." if enabled else
                       f"'{name}' disabled: its tags stay, new photos are not tagged with it.")
        self.sets_changed.emit()

    def create_set(self) -> None:
        text = self.new_set_name.text()
        try:
            name = check_name(text, "label set")
            existing = self.store.label_set(name)
            if existing is not None:
                raise PhotoclipError(f"There already is a set named '{existing.name}': "
                                     "choose another name.")
            saved, _ = self.store.save_set(LabelSetSpec(name=name, labels=()))
        except PhotoclipError as exc:
            self.show_error(str(exc))
            self.new_set_name.setFocus()
            return
        self.new_set_name.clear()
        self._show(saved)  # at once: the user types its labels next
        self.refresh(select=saved.id)
        self.show_info(f"Created '{saved.name}'. Now add its labels below, e.g. cat, dog, "
                       "rabbit.")
        self.editor.new_label.setFocus()
        self.sets_changed.emit()

    def _builtin_chosen(self, index: int) -> None:
        name = self.builtin_combo.itemData(index)
        if name is None:
            return
        saved, _ = self.store.save_set(shipped_sets()[name])
        self._show(saved)
        self.refresh(select=saved.id)
        self.show_info(f"Added the built-in set '{saved.name}'. Re-tag library to tag the "
                       "photos you already have.")
        self.sets_changed.emit()

    def delete_set(self) -> None:
        ls = self.current
        if ls is None or self.jobs.busy:
            return
        tags = sum(c[0] for c in self._counts.get(ls.id, {}).values())  # as last read
        answer = QMessageBox.question(
            self, "Delete label set",
            f"Delete the label set '{ls.name}' with its {len(ls.labels)} labels and "
            f"{tags} tags?\n\nYour photos are not touched; tags already written to XMP "
            "sidecars stay there until the next sidecar update.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        store, name = self.store, ls.name  # deleting every tag of a set: off the UI thread

        def deleted(removed: int) -> None:
            self.current = None if self.current == ls else self.current
            self.refresh()
            self.show_info(f"Deleted '{name}' and its {removed} tags.")
            self.sets_changed.emit()

        self.calls.run(lambda: store.remove_set(name), deleted, self.show_error)

    # -- files ------------------------------------------------------------------------------

    def import_set(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a label set", QDir.homePath(),
                                              SET_FILES)
        if not path:
            return
        store = self.store

        def read() -> tuple[LabelSet, bool, list[str]]:
            before = store.label_sets()
            saved, created = store.import_file(path)
            had = next((ls.labels for ls in before if ls.id == saved.id), ())
            names = {lb.name.casefold() for lb in saved.labels}
            return saved, created, [lb.name for lb in had if lb.name.casefold() not in names]

        self.calls.run(read, lambda r: self._imported(*r, Path(path).name), self.show_error)

    def _imported(self, saved: LabelSet, created: bool, removed: list[str], file: str) -> None:
        self.refresh(select=saved.id)
        gone = (f" Removed with their tags: {', '.join(removed)}." if removed else "")
        what = "Imported" if created else "Updated"
        self.show_info(f"{what} '{saved.name}' ({len(saved.labels)} labels) from {file}.{gone} "
                       "Re-tag library to apply it to the photos you already have.")
        self.sets_changed.emit()

    def export_set(self) -> None:
        ls = self.current
        if ls is None:
            return
        start = str(Path(QDir.homePath()) / f"{ls.name}.yaml")
        path, chosen = QFileDialog.getSaveFileName(self, f"Export '{ls.name}'", start, SET_FILES)
        if not path:
            return
        if not Path(path).suffix:
            path += ".json" if chosen.startswith("JSON") else ".yaml"
        store, name = self.store, ls.name
        self.calls.run(lambda: store.export(name, path),
                       lambda r: self.show_info(f"Wrote '{r[0]}' to {r[1]}: edit it, then "
                                                "Import it here (or on another computer)."),
                       self.show_error)

    # -- re-tagging -------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def retag(self) -> None:
        ls = self.current
        if ls is None or self.jobs.busy:
            return
        if self._model_note is not None:
            self.show_error(self._model_note)
            return
        if not ls.labels:
            self.show_error(f"'{ls.name}' has no labels yet: add some first.")
            return
        lib, name = self.library, ls.name
        self._job_set = name

        def job(cancel: Any) -> Any:
            return lib.tagger().run([name], cancel=cancel)

        self.jobs.start(job)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat(f"Tagging with {name}… %v / %m")
        self.progress_bar.setVisible(True)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.show_info(f"Tagging the library with '{name}'…")
        self._update_buttons()

    def _on_progress(self, p: Progress) -> None:
        self.progressed.emit(p)
        self.progress_bar.setRange(0, max(p.total, 1))
        self.progress_bar.setValue(p.done)
        if not p.finished:
            self.show_info(f"Tagging with '{self._job_set}': {p.done} / {p.total} photos")

    def cancel_retag(self) -> None:
        if self.jobs.busy:
            self.jobs.cancel()
            self.cancel_button.setEnabled(False)
            self.show_info("Stopping after this batch…")

    def _on_done(self, end: JobEnd) -> None:
        self.progress_bar.setVisible(False)
        self.cancel_button.setVisible(False)
        self.refresh()
        last = end.last
        if end.cancelled and not (last and last.finished):
            summary = (f"Stopped: {last.done if last else 0} photos tagged with "
                       f"'{self._job_set}' so far.")
            self.show_info(summary)
        elif last is not None and last.finished:
            summary = f"'{self._job_set}': {last.message}."
            self.show_info(summary)
        else:
            summary = self.message_label.text()  # the failure, already shown
        self._update_buttons()
        self.retag_finished.emit(summary)

    def shutdown(self) -> None:
        """Stop a running re-tag (the window is closing); what is done is kept."""
        self.jobs.stop()
        self.calls.close()
        self.tradeoff.shutdown()
