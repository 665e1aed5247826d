"""The Training page's "Blind spots" table: the probes of `photoclip eval --probes` (spatial,
negation, counting, binding, written text) on the library's model before a fine-tune and on the
new model after it, worst family first, each with a line on what to type instead.

The probes are `Library.probe()`'s job, driven by this box's own JobRunner, never on the UI
thread. Before: the library's model (the window's loaded copy, so it waits while that loads).
After: the fine-tuned model, loaded by the job itself.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.library import Library
from photoclip.core.types import Progress
from photoclip.gui.jobs import JobEnd, JobRunner

log = logging.getLogger(__name__)

COLUMNS = ("Blind spot", "Before", "After", "What to type instead")
MEASURE_TIP = ("Generated pictures, each a choice between a right and a minimally changed "
               "caption (chance 50%): about a minute for each model on a CPU")
NO_BETTER = QColor("#b03a2e")  # the 95% interval reaches chance: no better than a coin
MUTED = "color: #666;"


def cell_text(fam: dict[str, Any] | None) -> str:
    """'62% (55-69)' (an en dash): accuracy and its 95% interval, or a dash."""
    if fam is None:
        return "–"  # noqa: RUF001
    low, high = fam["ci95"]
    return f"{100 * fam['accuracy']:.0f}% ({100 * low:.0f}–{100 * high:.0f})"  # noqa: RUF001


def worst_first(before: dict[str, dict[str, Any]],
                after: dict[str, dict[str, Any]]) -> list[str]:
    """Family names, lowest accuracy first (after the fine-tune where measured)."""
    names = list(dict.fromkeys([*before, *after]))

    def accuracy(name: str) -> float:
        fam = after.get(name) or before[name]
        return float(fam["accuracy"])

    return sorted(names, key=accuracy)


class BlindSpotsBox(QGroupBox):
    measured = Signal(str)  # "before" or "after": that column is filled in

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__("Blind spots (generated probes, chance 50%)", parent)
        self.library = library
        self.runner = JobRunner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.failed.connect(self._on_failed)
        self.runner.finished.connect(self._on_done)
        # Measured figures per column: family name -> its `families` entry of as_dict().
        self.figures: dict[str, dict[str, dict[str, Any]]] = {"before": {}, "after": {}}
        self._queue: list[tuple[str, str | None]] = []  # (column, model or None: the library's)
        self._running = ""
        self._note: str | None = None  # why the library's model cannot be probed yet

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for col in range(3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.state = QLabel("Measure where the model reads a caption as a bag of words.")
        self.state.setStyleSheet(MUTED)
        self.state.setWordWrap(True)
        self.measure_button = QPushButton("Measure")
        self.measure_button.setToolTip(MEASURE_TIP)
        self.measure_button.clicked.connect(self.measure_before)
        top = QHBoxLayout()
        top.addWidget(self.state, 1)
        top.addWidget(self.measure_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        self.table.setMinimumHeight(6 * self.table.verticalHeader().defaultSectionSize())
        self._update()

    # -- what the page calls ------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def set_note(self, note: str | None) -> None:
        """None: the library's model is loaded and may be probed; else why not yet."""
        self._note = note
        self._update()
        self._next()

    def measure_before(self) -> None:
        """The library's model now, in the Before column (the After column is cleared)."""
        self.figures["after"] = {}
        self._want("before", None)

    def measure_after(self, model: str) -> None:
        """A fine-tuned model (a folder or a name from models()) in the After column; Before
        too, with the library's model, when it has not been measured yet."""
        self._want("after", model)
        if not self.figures["before"]:
            self._want("before", None)

    def shutdown(self) -> None:
        self._queue.clear()
        self.runner.stop()

    # -- running ------------------------------------------------------------------------------

    def _want(self, column: str, model: str | None) -> None:
        self._queue = [q for q in self._queue if q[0] != column] + [(column, model)]
        self._update()
        self._next()

    def _next(self) -> None:
        if self.runner.busy or not self._queue:
            return
        ready = [q for q in self._queue if q[1] is not None or self._note is None]
        if not ready:
            self.state.setText(f"Waiting: {self._note}")
            return
        column, model = ready[0]
        self._queue.remove(ready[0])
        lib = self.library

        def job(cancel: Any) -> Any:
            probe = lib.probe(model=model)
            yield from probe.run(cancel)
            return probe.result

        self._running = column
        self.runner.start(job)
        which = "the fine-tuned model" if column == "after" else "the library's model"
        self.state.setText(f"Probing {which}…")
        self._update()

    def _on_progress(self, p: Progress) -> None:
        if p.total and not p.finished:
            self.state.setText(f"Probing ({self._running}): {p.message}, {p.done} / {p.total}")

    def _on_failed(self, message: str) -> None:
        self.state.setText(f"The probes failed: {message}")

    def _on_done(self, end: JobEnd) -> None:
        column, self._running = self._running, ""
        result = end.value
        if result is not None and end.error is None:
            data = result.as_dict()
            self.figures[column] = {f["family"]: f for f in data["families"]}
            self._fill()
            self.state.setText(
                f"{data['items_per_family']} items per family, seed {data['seed']}; red: the "
                "95% interval reaches chance, no better than a coin.")
            self.measured.emit(column)
        elif end.cancelled:
            self.state.setText("Probes stopped.")
        self._update()
        self._next()

    # -- showing ------------------------------------------------------------------------------

    def _fill(self) -> None:
        before, after = self.figures["before"], self.figures["after"]
        names = worst_first(before, after)
        self.table.setRowCount(len(names))
        for row, name in enumerate(names):
            fam = after.get(name) or before[name]
            cells = (name, cell_text(before.get(name)), cell_text(after.get(name)),
                     fam.get("advice") or fam.get("asks", ""))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col in (1, 2):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                    shown = (before if col == 1 else after).get(name)
                    if shown is not None and shown["ci95"][0] <= shown["chance"]:
                        item.setForeground(NO_BETTER)
                item.setToolTip(f"{name}: {fam.get('asks', '')}")
                self.table.setItem(row, col, item)

    def _update(self) -> None:
        running = self.runner.busy
        self.measure_button.setEnabled(not running and self._note is None)
        self.measure_button.setToolTip(self._note or MEASURE_TIP)
