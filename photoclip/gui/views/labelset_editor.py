"""The label set editor: one set's kind, threshold, floor, prompt templates and labels.

Every edit is saved through the core as soon as it is made (`Library.label_sets.save_set` with a
LabelSetSpec, as `photoclip labels import` does); input the core would refuse is reported
(`failed`) and nothing is saved. What was saved is said with `saved`, for the page to show.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFocusEvent
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
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.api import (
    DEFAULT_FLOOR,
    LabelSets,
    LabelSetSpec,
    LabelSpec,
    base_threshold,
    check_floor,
    check_name,
    check_templates,
    check_threshold,
    default_templates,
    effective_threshold,
    split_labels,
    threshold_text,
)
from photoclip.core.errors import PhotoclipError
from photoclip.core.types import LabelSet
from photoclip.gui.jobs import Calls

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
# Columns of the labels table.
L_NAME, L_THRESHOLD, L_FROM, L_PHOTOS, L_YES, L_NO = range(6)


def parse_number(text: str, what: str, low: float, high: float, example: str) -> float | None:
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


class TemplatesEdit(QPlainTextEdit):
    """A text box that says when the user is done with it (QPlainTextEdit has no signal)."""

    editingFinished = Signal()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        if self.document().isModified():
            self.document().setModified(False)
            self.editingFinished.emit()


class LabelSetEditor(QWidget):
    saved = Signal(int, str)  # (set id, what was saved, in a sentence)
    failed = Signal(str)  # why an edit was refused, with what to type instead
    stale = Signal()  # the set changed meanwhile: read it again

    def __init__(self, store: LabelSets, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.current: LabelSet | None = None
        self._counts: dict[int, tuple[int, int, int]] = {}  # the shown set's, as last read
        self.calls = Calls(self)  # removing labels deletes their tags: on the pool

        templates_title = QLabel("Prompt templates")
        templates_title.setStyleSheet("font-weight: bold;")
        self.templates_note = QLabel()
        self.templates_note.setStyleSheet(MUTED)
        self.templates_note.setWordWrap(True)
        self.templates_edit = TemplatesEdit()
        self.templates_edit.setTabChangesFocus(True)
        self.templates_edit.setFixedHeight(96)
        self.templates_edit.editingFinished.connect(self._templates_changed)

        form = self._build_form()
        add_row = self._build_labels()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addSpacing(4)
        layout.addWidget(templates_title)
        layout.addWidget(self.templates_note)
        layout.addWidget(self.templates_edit)
        layout.addSpacing(4)
        layout.addLayout(self._labels_head())
        layout.addWidget(self.labels_table, 1)
        layout.addLayout(add_row)

    def _build_form(self) -> QGridLayout:
        """Labels per photo, threshold and similarity floor, on one row."""
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
        return form

    def _labels_head(self) -> QHBoxLayout:
        labels_title = QLabel("Labels")
        labels_title.setStyleSheet("font-weight: bold;")
        labels_note = QLabel("Double-click a name or threshold to change it; empty the "
                             "threshold to use the set's.")
        labels_note.setStyleSheet(MUTED)
        labels_head = QHBoxLayout()
        labels_head.addWidget(labels_title)
        labels_head.addWidget(labels_note, 1)
        return labels_head

    def _build_labels(self) -> QHBoxLayout:
        """The labels table; returns the row under it (new label, add, remove)."""
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
        self.labels_table.itemSelectionChanged.connect(self.update_buttons)

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
        return add_row

    def show_set(self, ls: LabelSet | None,
                 counts: dict[int, tuple[int, int, int]] | None = None) -> None:
        """Show `ls` (None: no set is selected; the editor is hidden then), with its labels'
        tag counts when the caller read them (off the UI thread)."""
        self.current = ls
        if ls is None:
            self.update_buttons()
            return
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
        self.fill_labels(ls, counts)
        self.update_buttons()

    def fill_labels(self, ls: LabelSet,
                    counts: dict[int, tuple[int, int, int]] | None = None) -> None:
        # None: a redraw after an edit of this set (a label's name or threshold), whose counts
        # by label id have not changed since the page read them off the UI thread.
        counts = self._counts if counts is None else counts
        self._counts = counts
        muted = QColor("#777")
        with QSignalBlocker(self.labels_table):
            self.labels_table.setRowCount(len(ls.labels))
            for row, lb in enumerate(ls.labels):
                value, source = effective_threshold(lb, ls)
                tags, yes, no = counts.get(lb.id, (0, 0, 0))
                name = QTableWidgetItem(lb.name)
                name.setData(Qt.ItemDataRole.UserRole, lb.id)
                threshold = QTableWidgetItem(threshold_text(value))
                threshold.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                           | Qt.AlignmentFlag.AlignVCenter)
                if source in ("default", "set"):
                    threshold.setForeground(muted)  # inherited, not the label's own
                threshold.setToolTip(_SOURCE_TIP[source] + " Empty it to use the set's.")
                from_item = cell(_SOURCE_TEXT[source])
                from_item.setToolTip(_SOURCE_TIP[source])
                cells = [name, threshold, from_item, cell(str(tags), right=True),
                         cell(str(yes), right=True), cell(str(no), right=True)]
                for col, item in enumerate(cells):
                    if col > L_THRESHOLD:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    self.labels_table.setItem(row, col, item)

    def update_buttons(self) -> None:
        self.remove_label_button.setEnabled(self.current is not None
                                            and bool(self.labels_table.selectedItems()))

    def _fresh(self) -> LabelSet | None:
        """The selected set as the catalog has it now."""
        if self.current is None:
            return None
        return self.store.label_set_by_id(self.current.id)

    def _save(self, spec: LabelSetSpec, what: str) -> bool:
        try:
            saved, _ = self.store.save_set(spec)
        except PhotoclipError as exc:
            self.failed.emit(str(exc))
            return False
        self.saved.emit(saved.id, what)
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
            value = parse_number(self.threshold_edit.text(), "threshold", 0.0, 1.0, "0.6")
            value = None if value is None else check_threshold(value)
        except PhotoclipError as exc:
            self.threshold_edit.setStyleSheet(BAD_FIELD)
            self.failed.emit(str(exc))
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
            value = parse_number(self.floor_edit.text(), "similarity floor", -1.0, 1.0, "0.2")
            value = None if value is None else check_floor(value)
        except PhotoclipError as exc:
            self.floor_edit.setStyleSheet(BAD_FIELD)
            self.failed.emit(str(exc))
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
            self.failed.emit(str(exc))
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
            self.failed.emit(str(exc))
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
        cells = [self.labels_table.item(r, L_NAME) for r in rows]
        ids = {int(item.data(Qt.ItemDataRole.UserRole)) for item in cells if item is not None}
        gone = [lb for lb in ls.labels if lb.id in ids]
        if not gone:
            return
        tags = sum(self._counts.get(lb.id, (0, 0, 0))[0] for lb in gone)
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
        spec = replace(spec, labels=tuple(lb for lb in spec.labels
                                          if lb.name not in {g.name for g in gone}))
        # Off the UI thread, the editor disabled until it lands: no other edit is built on
        # the set before this one is saved.
        self.setEnabled(False)
        store = self.store

        def done(saved: LabelSet) -> None:
            self.setEnabled(True)
            self.saved.emit(saved.id, f"Removed {names}.")

        def failed(message: str) -> None:
            self.setEnabled(True)
            self.failed.emit(message)

        self.calls.run(lambda: store.save_set(spec)[0], done, failed)

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
            self.stale.emit()
            return
        if column == L_NAME:
            try:
                renamed = self.store.rename_label(label_id, text)
            except PhotoclipError as exc:
                self.fill_labels(ls)  # back to the name it has
                self.failed.emit(str(exc))
                return
            if renamed.name != label.name:
                self.saved.emit(ls.id, f"Renamed '{label.name}' to '{renamed.name}' (its tags "
                                "stay).")
            return
        try:
            value = parse_number(text, "threshold", 0.0, 1.0, "0.6")
            value = None if value is None else check_threshold(value)
        except PhotoclipError as exc:
            self.fill_labels(ls)
            self.failed.emit(f"{label.name}: {exc}")
            return
        if value == label.threshold and not label.calibrated:
            self.fill_labels(ls)  # unchanged (or an inherited value typed back)
            return
        spec = LabelSetSpec.of(ls)
        labels = tuple(LabelSpec(lb.name, value, False) if lb.name == label.name else lb
                       for lb in spec.labels)
        self._save(replace(spec, labels=labels),
                   f"'{label.name}' threshold {value:g}." if value is not None else
                   f"'{label.name}' uses the set's threshold again.")


def cell(text: str, right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item
