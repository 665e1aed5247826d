"""The training page's "Your models": the library's base model and those trained on it, with
their held-out accuracy, which one is in use, and a button to switch to the selected one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.library import Library
from photoclip.gui.views.model_catalogue import CatalogueDialog
from photoclip.gui.views.training_results import fmt

USE_SELECTED_TIP = ("Re-embeds every photo with that model; search keeps the current one until "
                    "it is done")


class ModelsBox(QGroupBox):
    use_requested = Signal(str, str)  # (source: a model folder or hub id, name) to switch to
    selection_changed = Signal()

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__("Your models", parent)
        self.library = library
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Model", "Held-out accuracy", ""])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self.selection_changed)
        self.use_selected_button = QPushButton("Use selected model")
        self.use_selected_button.setToolTip(USE_SELECTED_TIP)
        self.use_selected_button.clicked.connect(self._use_selected)
        self.catalogue_button = QPushButton("Model catalogue…")
        self.catalogue_button.setToolTip("Every model photoclip knows: languages, size, speed; "
                                         "download one and switch to it")
        self.catalogue_button.clicked.connect(self.open_catalogue)
        self.catalogue: CatalogueDialog | None = None
        self._blocked: str | None = None  # why switching must wait (update_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.catalogue_button)
        buttons.addStretch(1)
        buttons.addWidget(self.use_selected_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def refresh(self) -> None:
        entries = self.library.models()
        selected = self.selected()
        self.table.setRowCount(len(entries))
        for row, e in enumerate(entries):
            shown = e.name if e.kind != "base" else (Path(e.name).name or e.name)
            name = QTableWidgetItem(shown)
            name.setData(Qt.ItemDataRole.UserRole, (e.name, e.source))
            name.setToolTip(f"{e.kind} model: {e.source}")
            acc = e.accuracy
            figure = QTableWidgetItem(fmt(acc) if acc is not None else "")
            figure.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            mark = QTableWidgetItem("in use" if e.in_use else "switching" if e.pending else "")
            if e.in_use:
                font = name.font()
                font.setBold(True)
                name.setFont(font)
            for col, item in enumerate((name, figure, mark)):
                self.table.setItem(row, col, item)
            if selected is not None and selected[0] == e.name:
                self.table.selectRow(row)

    def selected(self) -> tuple[str, str] | None:
        """(name, source) of the selected model."""
        rows = {i.row() for i in self.table.selectedItems()}
        if not rows:
            return None
        item = self.table.item(min(rows), 0)
        if item is None:
            return None
        name, source = item.data(Qt.ItemDataRole.UserRole)
        return str(name), str(source)

    def update_button(self, busy: bool, note: str | None) -> None:
        """Use selected: not while a job runs, nor while `note` says why not (the window is
        loading the model), nor for the model in use."""
        selected = self.selected()
        self.use_selected_button.setEnabled(
            not busy and note is None and selected is not None
            and selected[1] != self.library.settings.model)
        self.use_selected_button.setToolTip(note or USE_SELECTED_TIP)
        self._blocked = note or ("Wait for the running job to finish" if busy else None)
        if self.catalogue is not None:
            self.catalogue.set_blocked(self._blocked)

    def open_catalogue(self) -> None:
        """The catalogue to pick from; a pick is a use_requested, as Use selected model is."""
        if self.catalogue is None:
            self.catalogue = CatalogueDialog(self.library, self)
            self.catalogue.use_requested.connect(self.use_requested)
        else:
            self.catalogue.refresh()
        self.catalogue.set_blocked(self._blocked)
        self.catalogue.show()
        self.catalogue.raise_()

    def _use_selected(self) -> None:
        selected = self.selected()
        if selected is not None:
            self.use_requested.emit(selected[1], selected[0])
