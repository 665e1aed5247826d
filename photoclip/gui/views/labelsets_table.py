"""The Label sets page's table of sets and its "Add a built-in set…" box, filled from a read
made off the UI thread."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QComboBox, QTableWidget, QTableWidgetItem

from photoclip.core.api import MANUAL_SET
from photoclip.core.types import LabelSet
from photoclip.gui.views.labelset_editor import cell

Counts = dict[int, tuple[int, int, int]]  # a set's label id -> (tags, accepted, rejected)
# Columns of the sets table.
S_NAME, S_KIND, S_LABELS, S_TAGS = range(4)


def fill_sets_table(table: QTableWidget, sets: list[LabelSet], counts: dict[int, Counts],
                    wanted: int | None) -> int:
    """One row per set (checked: it tags new photos), its tag count from `counts`; the row of
    set `wanted` (else the first) becomes current. Returns that row."""
    row_of_wanted = 0
    with QSignalBlocker(table):
        table.setRowCount(len(sets))
        for row, ls in enumerate(sets):
            name = QTableWidgetItem(ls.name)
            name.setData(Qt.ItemDataRole.UserRole, ls.id)
            name.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                          | Qt.ItemFlag.ItemIsUserCheckable)
            name.setCheckState(Qt.CheckState.Checked if ls.enabled else Qt.CheckState.Unchecked)
            name.setToolTip("Tags you typed by hand that no set has" if ls.name == MANUAL_SET
                            else "Checked: tags new photos as they are added")
            cells = [name, cell("several" if ls.multi_label else "one"),
                     cell(str(len(ls.labels)), right=True),
                     cell(str(sum(c[0] for c in counts.get(ls.id, {}).values())), right=True)]
            for col, item in enumerate(cells):
                table.setItem(row, col, item)
            if ls.id == wanted:
                row_of_wanted = row
        if sets:
            table.setCurrentCell(row_of_wanted, S_NAME)
    return row_of_wanted


def fill_builtins(combo: QComboBox, builtins: dict[str, int], have: set[str]) -> None:
    """The shipped sets (name -> label count) the library does not have yet."""
    available = [(n, k) for n, k in builtins.items() if n not in have]
    with QSignalBlocker(combo):
        combo.clear()
        combo.addItem("Add a built-in set…", None)
        for name, count in available:
            combo.addItem(f"{name} ({count} labels)", name)
    combo.setVisible(bool(available))
