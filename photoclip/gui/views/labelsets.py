"""The label sets page: which sets tag the library, their labels, prompts and thresholds.

Every edit is saved through the core as soon as it is made (TagStore.save_set with a
LabelSetSpec, as `photoclip labels import` does); input the core would refuse is reported in
the page and nothing is saved. Re-tagging runs the core's tagging job in a JobWorker.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFocusEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.errors import PhotoclipError
from photoclip.core.library import Library
from photoclip.core.tagging import MANUAL_SET, TagStore, default_templates, shipped_sets
from photoclip.core.tagging.labelsets import (
    LabelSetSpec,
    LabelSpec,
    check_floor,
    check_name,
    check_templates,
    check_threshold,
    split_labels,
)
from photoclip.core.tagging.scoring import DEFAULT_FLOOR, base_threshold, effective_threshold
from photoclip.core.types import LabelSet, Progress
from photoclip.gui.views.messages import MessageLabel
from photoclip.gui.workers import JobWorker

log = logging.getLogger(__name__)

BAD_FIELD = "border: 1px solid #b00020;"
MUTED = "color: #666;"
_SOURCE_TEXT = {"default": "default", "set": "set", "label": "yours",
                "calibrated": "learned"}
_SOURCE_TIP = {
    "default": "The app's default for this kind of set.",
    "set": "The set's threshold.",
    "label": "A threshold you gave this label.",
    "calibrated": "Learned from the tags you accepted and rejected (re-learned at each re-tag).",
}
RETAG_TIP = ("Apply this set to every photo in the library now (uses the stored photo vectors: "
             "no photo is re-read)")
# Columns of the two tables.
S_NAME, S_KIND, S_LABELS, S_TAGS = range(4)
L_NAME, L_THRESHOLD, L_FROM, L_PHOTOS, L_YES, L_NO = range(6)


def _number(text: str, what: str, low: float, high: float, example: str) -> float | None:
    """A number typed by the user (a decimal comma is fine); empty means "the default"."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise PhotoclipError(f"{text!r} is not a number: type a {what} from {low:g} to "
                             f"{high:g} (e.g. {example}), or leave it empty for the "
                             "default.") from None
    if not low <= value <= high:
        raise PhotoclipError(f"A {what} goes from {low:g} to {high:g}; {value:g} is out of "
                             f"range. Try e.g. {example}, or leave it empty for the default.")
    return value


class _TemplatesEdit(QPlainTextEdit):
    """A text box that says when the user is done with it (QPlainTextEdit has no signal)."""

    editingFinished = Signal()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        if self.document().isModified():
            self.document().setModified(False)
            self.editingFinished.emit()


class LabelSetsPage(QWidget):
    sets_changed = Signal()  # a set was created, edited, enabled or deleted
    retag_finished = Signal(str)  # the run's summary (or why it stopped)
    progressed = Signal(object)  # each Progress of a re-tag run

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.store = TagStore(library.catalog)
        self._job: JobWorker | None = None
        self._job_set = ""
        self._last: Progress | None = None
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

        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addWidget(self.sets_table, 1)
        layout.addLayout(new_row)
        layout.addLayout(bottom)
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

        self.kind_combo = QComboBox()
        self.kind_combo.addItem("One — the best matching label", False)
        self.kind_combo.addItem("Several — every label that passes", True)
        self.kind_combo.setToolTip("Can a photo get several labels of this set (a cat and a "
                                   "dog), or only the best one (indoor or outdoor)?")
        self.kind_combo.activated.connect(self._kind_changed)
        self.threshold_edit = QLineEdit()
        self.threshold_edit.setMaximumWidth(140)
        self.threshold_edit.setToolTip(
            "How sure the model must be, 0 to 1, for a label to tag a photo. Higher: fewer, "
            "surer tags. A label's own threshold (in the table) wins over this one.")
        self.threshold_edit.editingFinished.connect(self._threshold_changed)
        self.floor_edit = QLineEdit()
        self.floor_edit.setMaximumWidth(140)
        self.floor_edit.setToolTip(
            "Similarity (cosine) below which no label of this set tags a photo, however it "
            "compares with the other labels: a photo that fits nothing gets nothing.")
        self.floor_edit.editingFinished.connect(self._floor_changed)
        form = QGridLayout()
        form.addWidget(QLabel("Labels per photo"), 0, 0)
        form.addWidget(self.kind_combo, 0, 1)
        form.addWidget(QLabel("Threshold"), 0, 2)
        form.addWidget(self.threshold_edit, 0, 3)
        form.addWidget(QLabel("Similarity floor"), 0, 4)
        form.addWidget(self.floor_edit, 0, 5)
        form.setColumnStretch(6, 1)

        templates_title = QLabel("Prompt templates")
        templates_title.setStyleSheet("font-weight: bold;")
        self.templates_note = QLabel()
        self.templates_note.setStyleSheet(MUTED)
        self.templates_note.setWordWrap(True)
        self.templates_edit = _TemplatesEdit()
        self.templates_edit.setTabChangesFocus(True)
        self.templates_edit.setFixedHeight(96)
        self.templates_edit.editingFinished.connect(self._templates_changed)

        labels_title = QLabel("Labels")
        labels_title.setStyleSheet("font-weight: bold;")
        labels_note = QLabel("Double-click a name or threshold to change it; empty the "
                             "threshold to use the set's.")
        labels_note.setStyleSheet(MUTED)
        self.labels_table = QTableWidget(0, 6)
        self.labels_table.setHorizontalHeaderLabels(
            ["Label", "Threshold", "From", "Photos", "Confirmed", "Rejected"])
        tips = ["The word or phrase the photos are compared with",
                "Score (0 to 1) this label needs to tag a photo",
                "Where the threshold comes from",
                "Photos with this tag now",
                "Tags you set or accepted",
                "Tags you rejected (auto-tagging will not bring them back)"]
        for col, tip in enumerate(tips):
            item = self.labels_table.horizontalHeaderItem(col)
            if item is not None:
                item.setToolTip(tip)
        self.labels_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.labels_table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                          | QAbstractItemView.EditTrigger.EditKeyPressed
                                          | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.labels_table.verticalHeader().setVisible(False)
        self.labels_table.setAlternatingRowColors(True)
        header = self.labels_table.horizontalHeader()
        header.setSectionResizeMode(L_NAME, QHeaderView.ResizeMode.Stretch)
        for col in range(L_THRESHOLD, L_NO + 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.labels_table.itemChanged.connect(self._label_item_changed)
        self.labels_table.itemSelectionChanged.connect(self._update_buttons)

        self.new_label = QLineEdit()
        self.new_label.setPlaceholderText("New label, e.g. golden retriever "
                                          "(commas add several)")
        self.new_label.returnPressed.connect(self.add_labels)
        self.add_label_button = QPushButton("Add label")
        self.add_label_button.clicked.connect(self.add_labels)
        self.remove_label_button = QPushButton("Remove selected")
        self.remove_label_button.clicked.connect(self.remove_selected_labels)
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_label, 1)
        add_row.addWidget(self.add_label_button)
        add_row.addWidget(self.remove_label_button)

        self.message_label = MessageLabel()

        layout = QVBoxLayout(editor)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addLayout(head)
        layout.addLayout(form)
        layout.addSpacing(4)
        layout.addWidget(templates_title)
        layout.addWidget(self.templates_note)
        layout.addWidget(self.templates_edit)
        layout.addSpacing(4)
        labels_head = QHBoxLayout()
        labels_head.addWidget(labels_title)
        labels_head.addWidget(labels_note, 1)
        layout.addLayout(labels_head)
        layout.addWidget(self.labels_table, 1)
        layout.addLayout(add_row)
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
        self._update_buttons()

    def refresh(self, select: int | None = None) -> None:
        """Re-read the sets from the catalog; keep (or move) the selection."""
        wanted = select if select is not None else (self.current.id if self.current else None)
        sets = self.store.label_sets()
        with QSignalBlocker(self.sets_table):
            self.sets_table.setRowCount(len(sets))
            row_of_wanted = 0
            for row, ls in enumerate(sets):
                counts = self.store.tag_counts(ls.id)
                name = QTableWidgetItem(ls.name)
                name.setData(Qt.ItemDataRole.UserRole, ls.id)
                name.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsUserCheckable)
                name.setCheckState(Qt.CheckState.Checked if ls.enabled
                                   else Qt.CheckState.Unchecked)
                name.setToolTip("Tags you typed by hand that no set has" if ls.name == MANUAL_SET
                                else "Checked: tags new photos as they are added")
                cells = [name, _cell("several" if ls.multi_label else "one"),
                         _cell(str(len(ls.labels)), right=True),
                         _cell(str(sum(c[0] for c in counts.values())), right=True)]
                for col, item in enumerate(cells):
                    self.sets_table.setItem(row, col, item)
                if ls.id == wanted:
                    row_of_wanted = row
            if sets:
                self.sets_table.setCurrentCell(row_of_wanted, S_NAME)
        self._refresh_builtins({ls.name for ls in sets})
        self._show(sets[row_of_wanted] if sets else None)

    def _refresh_builtins(self, have: set[str]) -> None:
        available = [n for n in shipped_sets() if n not in have]
        with QSignalBlocker(self.builtin_combo):
            self.builtin_combo.clear()
            self.builtin_combo.addItem("Add a built-in set…", None)
            for name in available:
                spec = shipped_sets()[name]
                self.builtin_combo.addItem(f"{name} ({len(spec.labels)} labels)", name)
        self.builtin_combo.setVisible(bool(available))

    def _show(self, ls: LabelSet | None) -> None:
        self.current = ls
        if ls is None:
            self.empty_label.setText(
                "No label sets yet.\nCreate one on the left (type a name, then its labels), "
                "or add a built-in set: scenes, animals, events, documents.")
            self.editor_stack.setCurrentIndex(0)
            self._update_buttons()
            return
        self.editor_stack.setCurrentIndex(1)
        self.title.setText(ls.name)
        state = "enabled" if ls.enabled else "disabled: new photos are not tagged with it"
        self.subtitle.setText(f"{len(ls.labels)} labels · {state}")
        self.kind_combo.setCurrentIndex(1 if ls.multi_label else 0)
        default = base_threshold(replace(ls, threshold=None))
        self.threshold_edit.setPlaceholderText(f"default {default:.2f}")
        self.threshold_edit.setText("" if ls.threshold is None else f"{ls.threshold:g}")
        self.floor_edit.setPlaceholderText(f"default {DEFAULT_FLOOR:.2f}")
        self.floor_edit.setText("" if ls.floor is None else f"{ls.floor:g}")
        for edit in (self.threshold_edit, self.floor_edit):
            edit.setStyleSheet("")
        n = len(default_templates())
        if ls.templates is None:
            self.templates_note.setText(
                f"Each label is put in every template, {{}} marking where it goes. Empty: the "
                f"built-in ensemble of {n} templates (shown greyed).")
        else:
            self.templates_note.setText(
                "Each label is put in every template, {} marking where it goes. Empty the box "
                f"to go back to the built-in ensemble of {n} templates.")
        self.templates_edit.setPlaceholderText("\n".join(default_templates()))
        self.templates_edit.setPlainText("\n".join(ls.templates or ()))
        self.templates_edit.document().setModified(False)
        self.templates_edit.setStyleSheet("")
        self._fill_labels(ls)
        self._update_buttons()

    def _fill_labels(self, ls: LabelSet) -> None:
        counts = self.store.tag_counts(ls.id)
        muted = QColor("#777")
        with QSignalBlocker(self.labels_table):
            self.labels_table.setRowCount(len(ls.labels))
            for row, lb in enumerate(ls.labels):
                value, source = effective_threshold(lb, ls)
                tags, yes, no = counts.get(lb.id, (0, 0, 0))
                name = QTableWidgetItem(lb.name)
                name.setData(Qt.ItemDataRole.UserRole, lb.id)
                threshold = QTableWidgetItem(f"{value:.2f}" if source in ("default", "set")
                                             else f"{value:.3g}")
                threshold.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                           | Qt.AlignmentFlag.AlignVCenter)
                if source in ("default", "set"):
                    threshold.setForeground(muted)  # inherited, not the label's own
                threshold.setToolTip(_SOURCE_TIP[source] + " Empty it to use the set's.")
                from_item = _cell(_SOURCE_TEXT[source])
                from_item.setToolTip(_SOURCE_TIP[source])
                cells = [name, threshold, from_item, _cell(str(tags), right=True),
                         _cell(str(yes), right=True), _cell(str(no), right=True)]
                for col, item in enumerate(cells):
                    if col > L_THRESHOLD:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    self.labels_table.setItem(row, col, item)

    def _update_buttons(self) -> None:
        has = self.current is not None
        busy = self._job is not None
        self.delete_button.setEnabled(has and not busy)
        ready = self._model_note is None
        self.retag_button.setEnabled(has and not busy and ready and bool(self.current and
                                                                         self.current.labels))
        self.retag_button.setToolTip(self._model_note or RETAG_TIP)
        self.remove_label_button.setEnabled(has and bool(self.labels_table.selectedItems()))

    # -- messages ---------------------------------------------------------------------------

    def show_error(self, message: str) -> None:
        self.message_label.show_error(message)

    def show_info(self, message: str) -> None:
        self.message_label.show_info(message)

    def _saved(self, what: str) -> None:
        self.show_info(f"{what} Saved; new photos are tagged with it. Re-tag library to apply it "
                       "to the photos you already have.")

    # -- choosing and creating sets ---------------------------------------------------------

    def _set_selected(self, row: int, _col: int, _prev_row: int, _prev_col: int) -> None:
        item = self.sets_table.item(row, S_NAME) if row >= 0 else None
        if item is None:
            return
        set_id = int(item.data(Qt.ItemDataRole.UserRole))
        if self.current is None or self.current.id != set_id:
            self.message_label.clear()
            self._show(self.store.label_set_by_id(set_id))

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
        self.refresh(select=saved.id)
        self.show_info(f"Created '{saved.name}'. Now add its labels below, e.g. cat, dog, "
                       "rabbit.")
        self.new_label.setFocus()
        self.sets_changed.emit()

    def _builtin_chosen(self, index: int) -> None:
        name = self.builtin_combo.itemData(index)
        if name is None:
            return
        saved, _ = self.store.save_set(shipped_sets()[name])
        self.refresh(select=saved.id)
        self.show_info(f"Added the built-in set '{saved.name}'. Re-tag library to tag the "
                       "photos you already have.")
        self.sets_changed.emit()

    def delete_set(self) -> None:
        ls = self.current
        if ls is None or self._job is not None:
            return
        tags = sum(c[0] for c in self.store.tag_counts(ls.id).values())
        answer = QMessageBox.question(
            self, "Delete label set",
            f"Delete the label set '{ls.name}' with its {len(ls.labels)} labels and "
            f"{tags} tags?\n\nYour photos are not touched; tags already written to XMP "
            "sidecars stay there until the next sidecar update.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        removed = self.store.remove_set(ls.name)
        self.current = None
        self.refresh()
        self.show_info(f"Deleted '{ls.name}' and its {removed} tags.")
        self.sets_changed.emit()

    # -- editing the selected set -----------------------------------------------------------

    def _fresh(self) -> LabelSet | None:
        """The selected set as the catalog has it now."""
        if self.current is None:
            return None
        return self.store.label_set_by_id(self.current.id)

    def _save(self, spec: LabelSetSpec, what: str) -> bool:
        try:
            saved, _ = self.store.save_set(spec)
        except PhotoclipError as exc:
            self.show_error(str(exc))
            return False
        self.refresh(select=saved.id)
        self._saved(what)
        self.sets_changed.emit()
        return True

    def _kind_changed(self, index: int) -> None:
        ls = self._fresh()
        multi = bool(self.kind_combo.itemData(index))
        if ls is None or ls.multi_label == multi:
            return
        self._save(replace(LabelSetSpec.of(ls), multi_label=multi),
                   "Several labels per photo." if multi else "One label per photo.")

    def _threshold_changed(self) -> None:
        ls = self._fresh()
        if ls is None:
            return
        try:
            value = _number(self.threshold_edit.text(), "threshold", 0.0, 1.0, "0.6")
            value = None if value is None else check_threshold(value)
        except PhotoclipError as exc:
            self.threshold_edit.setStyleSheet(BAD_FIELD)
            self.show_error(str(exc))
            return
        self.threshold_edit.setStyleSheet("")
        if value == ls.threshold:
            return
        self._save(replace(LabelSetSpec.of(ls), threshold=value),
                   f"Set threshold {value:g}." if value is not None else
                   "Set threshold back to the default.")

    def _floor_changed(self) -> None:
        ls = self._fresh()
        if ls is None:
            return
        try:
            value = _number(self.floor_edit.text(), "similarity floor", -1.0, 1.0, "0.2")
            value = None if value is None else check_floor(value)
        except PhotoclipError as exc:
            self.floor_edit.setStyleSheet(BAD_FIELD)
            self.show_error(str(exc))
            return
        self.floor_edit.setStyleSheet("")
        if value == ls.floor:
            return
        self._save(replace(LabelSetSpec.of(ls), floor=value),
                   f"Similarity floor {value:g}." if value is not None else
                   "Similarity floor back to the default.")

    def _templates_changed(self) -> None:
        ls = self._fresh()
        if ls is None:
            return
        lines = [t for t in (x.strip() for x in self.templates_edit.toPlainText().splitlines())
                 if t]
        try:
            templates = check_templates(lines) if lines else None
        except PhotoclipError as exc:
            self.templates_edit.setStyleSheet(BAD_FIELD)
            self.show_error(str(exc))
            return
        self.templates_edit.setStyleSheet("")
        if templates == ls.templates:
            return
        self._save(replace(LabelSetSpec.of(ls), templates=templates),
                   f"{len(templates)} prompt templates." if templates else
                   "Back to the built-in prompt templates.")

    def add_labels(self) -> None:
        ls = self._fresh()
        if ls is None:
            return
        text = self.new_label.text()
        try:
            names = split_labels(text)
            if not names:
                raise PhotoclipError("A label name cannot be empty: type a word or short "
                                     "phrase, e.g. golden retriever.")
            have = {lb.name.casefold(): lb.name for lb in ls.labels}
            new: list[LabelSpec] = []
            for raw in names:
                name = check_name(raw, "label")
                if name.casefold() in have:
                    raise PhotoclipError(f"'{have[name.casefold()]}' is already a label of "
                                         f"'{ls.name}'.")
                have[name.casefold()] = name
                new.append(LabelSpec(name))
        except PhotoclipError as exc:
            self.new_label.setStyleSheet(BAD_FIELD)
            self.show_error(str(exc))
            return
        self.new_label.setStyleSheet("")
        spec = LabelSetSpec.of(ls)
        added = ", ".join(f"'{lb.name}'" for lb in new)
        if self._save(replace(spec, labels=spec.labels + tuple(new)), f"Added {added}."):
            self.new_label.clear()
            self.new_label.setFocus()

    def remove_selected_labels(self) -> None:
        ls = self._fresh()
        if ls is None:
            return
        rows = sorted({i.row() for i in self.labels_table.selectedItems()})
        ids = {int(self.labels_table.item(r, L_NAME).data(Qt.ItemDataRole.UserRole))
               for r in rows}
        gone = [lb for lb in ls.labels if lb.id in ids]
        if not gone:
            return
        counts = self.store.tag_counts(ls.id)
        tags = sum(counts.get(lb.id, (0, 0, 0))[0] for lb in gone)
        names = ", ".join(f"'{lb.name}'" for lb in gone)
        if tags:
            answer = QMessageBox.question(
                self, "Remove labels",
                f"Remove {names}? {tags} tags (and your decisions on them) go with "
                f"{'it' if len(gone) == 1 else 'them'}.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return
        spec = LabelSetSpec.of(ls)
        self._save(replace(spec, labels=tuple(lb for lb in spec.labels
                                              if lb.name not in {g.name for g in gone})),
                   f"Removed {names}.")

    def _label_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() not in (L_NAME, L_THRESHOLD):
            return
        name_item = self.labels_table.item(item.row(), L_NAME)
        if name_item is None:
            return
        label_id = int(name_item.data(Qt.ItemDataRole.UserRole))
        column, text = item.column(), item.text()
        # Later: saving rebuilds the table, and the item's editor is still closing.
        QTimer.singleShot(0, lambda: self.edit_label(label_id, column, text))

    def edit_label(self, label_id: int, column: int, text: str) -> None:
        """A label's name (L_NAME) or threshold (L_THRESHOLD) as the user typed it."""
        ls = self._fresh()
        if ls is None:
            return
        label = next((lb for lb in ls.labels if lb.id == label_id), None)
        if label is None:
            self.refresh()
            return
        if column == L_NAME:
            try:
                renamed = self.store.rename_label(label_id, text)
            except PhotoclipError as exc:
                self._fill_labels(ls)  # back to the name it has
                self.show_error(str(exc))
                return
            if renamed.name != label.name:
                self.refresh()
                self._saved(f"Renamed '{label.name}' to '{renamed.name}' (its tags stay).")
                self.sets_changed.emit()
            return
        try:
            value = _number(text, "threshold", 0.0, 1.0, "0.6")
            value = None if value is None else check_threshold(value)
        except PhotoclipError as exc:
            self._fill_labels(ls)
            self.show_error(f"{label.name}: {exc}")
            return
        if value == label.threshold and not label.calibrated:
            self._fill_labels(ls)  # unchanged (or an inherited value typed back)
            return
        spec = LabelSetSpec.of(ls)
        labels = tuple(LabelSpec(lb.name, value, False) if lb.name == label.name else lb
                       for lb in spec.labels)
        self._save(replace(spec, labels=labels),
                   f"'{label.name}' threshold {value:g}." if value is not None else
                   f"'{label.name}' uses the set's threshold again.")

    # -- re-tagging -------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._job is not None

    def retag(self) -> None:
        ls = self.current
        if ls is None or self._job is not None:
            return
        if self._model_note is not None:
            self.show_error(self._model_note)
            return
        if not ls.labels:
            self.show_error(f"'{ls.name}' has no labels yet: add some first.")
            return
        lib, name = self.library, ls.name
        self._job_set = name
        self._last = None

        def job(cancel: Any) -> Any:
            return lib.tagger().run([name], cancel=cancel)

        self._job = JobWorker(job, self)
        self._job.progress.connect(self._on_progress)
        self._job.failed.connect(self.show_error)
        self._job.done.connect(self._on_done)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat(f"Tagging with {name}… %v / %m")
        self.progress_bar.setVisible(True)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.show_info(f"Tagging the library with '{name}'…")
        self._update_buttons()
        self._job.start()

    def _on_progress(self, p: Progress) -> None:
        self._last = p
        self.progressed.emit(p)
        self.progress_bar.setRange(0, max(p.total, 1))
        self.progress_bar.setValue(p.done)
        if not p.finished:
            self.show_info(f"Tagging with '{self._job_set}': {p.done} / {p.total} photos")

    def cancel_retag(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.cancel_button.setEnabled(False)
            self.show_info("Stopping after this batch…")

    def _on_done(self) -> None:
        job, self._job = self._job, None
        if job is None:
            return
        job.wait()
        job.deleteLater()
        self.progress_bar.setVisible(False)
        self.cancel_button.setVisible(False)
        self.refresh()
        last = self._last
        if job.cancelled and not (last and last.finished):
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
        if self._job is not None:
            self._job.cancel()
            self._job.wait()


def _cell(text: str, right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item
