"""The model catalogue as a table to pick from (issue 19): each model photoclip knows, with its
languages, download size, parameters and speed, which one is in use and which one this
computer's language and hardware suggest. "Download and use" switches the library to it through
the training page's switch job (`photoclip models use`): downloaded with progress, every photo
re-embedded in the background, tags and albums kept.

The catalogue is read off the UI thread (`Library.model_catalog()` reads a shipped file).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.library import Library
from photoclip.gui.jobs import Calls

COLUMNS = ("Model", "Family", "Languages", "Download", "Parameters", "Speed", "")
USE_TIP = ("Downloads the model once, then re-embeds every photo with it in the background; "
           "search keeps the current model until that is done, tags and albums are kept")
NOT_MEASURED = "not measured on this computer yet (photoclip bench --model ID)"
FAMILY_TITLES = {"clip": "CLIP", "siglip": "SigLIP", "siglip2": "SigLIP 2",
                 "metaclip_2": "MetaCLIP 2", "chinese_clip": "Chinese-CLIP", "altclip": "AltCLIP",
                 "vision-text-dual-encoder": "small conv"}
LANGUAGE_TITLES = {"en": "English", "zh": "中文 Chinese", "multilingual": "many languages"}


def millions(n: object) -> str:
    if not isinstance(n, int | float):
        return "–"  # noqa: RUF001
    return f"{n / 1e6:.0f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def row_cells(entry: dict[str, Any]) -> tuple[str, ...]:
    """What one catalogue entry shows, column by column."""
    mb = entry.get("download_mb")
    speed = entry.get("speed")
    state = "in use" if entry.get("in_use") else "suggested" if entry.get("suggested") else ""
    return (entry["id"], FAMILY_TITLES.get(entry["family"], entry["family"]),
            ", ".join(LANGUAGE_TITLES.get(x, x) for x in entry.get("languages") or ()),
            ("built here" if mb == 0 else f"{mb} MB") if isinstance(mb, int | float)
            else "–",  # noqa: RUF001
            millions(entry.get("parameters")),
            f"{speed:.0f} photos/s" if isinstance(speed, int | float) else "–",  # noqa: RUF001
            state)


class CatalogueDialog(QDialog):
    use_requested = Signal(str, str)  # (hub id, name): switch the library to it

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model catalogue")
        self.library = library
        self.entries: list[dict[str, Any]] = []
        self._blocked: str | None = None  # why switching must wait; None: it need not
        self.calls = Calls(self)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update)
        self.table.itemDoubleClicked.connect(lambda _item: self._use())
        self.suggestion = QLabel("Reading the catalogue…")
        self.suggestion.setWordWrap(True)
        self.suggestion.setMinimumHeight(2 * self.suggestion.fontMetrics().lineSpacing() + 4)
        self.use_button = QPushButton("Download and use")
        self.use_button.setToolTip(USE_TIP)
        self.use_button.clicked.connect(self._use)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.use_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.suggestion)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(900, 380)
        self._update()
        self.refresh()

    def refresh(self) -> None:
        lib = self.library
        self.calls.run(lib.model_catalog, self._show, self.suggestion.setText)

    def set_blocked(self, note: str | None) -> None:
        """None: the library may switch models now; else why not yet (a job runs, the window
        is loading the model)."""
        self._blocked = note
        self._update()

    def selected(self) -> dict[str, Any] | None:
        rows = {i.row() for i in self.table.selectedItems()}
        return self.entries[min(rows)] if rows else None

    def _show(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            for col, text in enumerate(row_cells(entry)):
                item = QTableWidgetItem(text)
                if col in (3, 4, 5):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if col == 5 and text == "–":  # noqa: RUF001
                    item.setToolTip(NOT_MEASURED)
                elif entry.get("note"):
                    item.setToolTip(str(entry["note"]))
                if entry.get("in_use") or (col == 6 and entry.get("suggested")):
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, col, item)
        pick = next((e for e in entries if e.get("suggested")), None)
        self.suggestion.setText(
            f"Suggested for this computer: <b>{pick['id']}</b><br>"
            f"{pick['suggested_because'][:1].upper()}{pick['suggested_because'][1:]}."
            if pick else "")
        self._update()

    def _update(self) -> None:
        entry = self.selected()
        self.use_button.setEnabled(entry is not None and not entry.get("in_use")
                                   and self._blocked is None)
        self.use_button.setToolTip(self._blocked or USE_TIP)

    def _use(self) -> None:
        entry = self.selected()
        if entry is None or entry.get("in_use") or self._blocked is not None:
            return
        self.use_requested.emit(entry["id"], entry["id"])
        self.accept()
