"""The Label sets page's "How sure before tagging" panel: the selected set's precision/coverage
trade-off, measured on the tags the user set or accepted and scored as tagging scores the set
(`Library.thresholds`, core/set_tradeoff.py), and a button that saves a threshold from it.

Measuring reads the catalog and may encode the set's prompts: it runs in a JobRunner, and
needs the library's model (the window says when it is ready, as for re-tagging)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.api import threshold_text
from photoclip.core.library import Library
from photoclip.core.types import LabelSet, Progress
from photoclip.gui.jobs import Calls, JobEnd, JobRunner
from photoclip.gui.views.labelset_editor import MUTED
from photoclip.gui.views.messages import MessageLabel

MEASURE_TIP = ("Score the photos whose tags you set or accepted in this set, exactly as tagging "
               "scores them, and show how precise auto tags are at each threshold")
T_COVERAGE, T_THRESHOLD, T_PRECISION = range(3)
DEFAULT_COVERAGE = 0.8  # core/set_tradeoff.py's TAG_COVERAGE: the row chosen at first


class TradeoffPanel(QGroupBox):
    saved = Signal(int, float)  # (set id, threshold) saved to the set
    measured = Signal(object)  # the trade-off shown (None: measuring failed or was stopped)

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__("How sure before tagging", parent)
        self.library = library
        self.jobs = JobRunner(self)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.failed.connect(self._failed)
        self.jobs.finished.connect(self._done)
        self.calls = Calls(self)  # saving writes the catalog: off the UI thread
        self.current: LabelSet | None = None
        self.result: Any = None  # the SetTradeoff shown, for self.current
        self._job_set: int | None = None
        self._model_note: str | None = None

        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.intro.setStyleSheet(MUTED)
        self.measure_button = QPushButton("Measure on my decisions")
        self.measure_button.setToolTip(MEASURE_TIP)
        self.measure_button.clicked.connect(self.measure)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(180)
        self.progress_bar.setVisible(False)
        top = QHBoxLayout()
        top.addWidget(self.measure_button)
        top.addWidget(self.progress_bar)
        top.addStretch(1)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Photos tagged", "Threshold", "Right"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for col, tip in ((T_COVERAGE, "The share of the photos you decided on that get a tag"),
                         (T_THRESHOLD, "The score a label needs to tag a photo"),
                         (T_PRECISION, "How many of those tags are the label you gave")):
            header = self.table.horizontalHeaderItem(col)
            if header is not None:
                header.setToolTip(tip)
        self.table.currentCellChanged.connect(lambda *_: self._update_buttons())
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.use_button = QPushButton("Use threshold")
        self.use_button.clicked.connect(self.use_selected)
        side = QVBoxLayout()
        side.addWidget(self.summary)
        side.addStretch(1)
        side.addWidget(self.use_button, 0, Qt.AlignmentFlag.AlignLeft)
        body = QHBoxLayout()
        body.addWidget(self.table)
        body.addLayout(side, 1)
        self.body = QWidget()
        self.body.setLayout(body)
        self.body.setVisible(False)
        self.message_label = MessageLabel()

        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(top)
        layout.addWidget(self.body)
        layout.addWidget(self.message_label)
        self.show_set(None)

    # -- state ------------------------------------------------------------------------------

    def set_model_state(self, note: str | None) -> None:
        """None: the library's model is ready; else why measuring must wait (the tooltip)."""
        self._model_note = note
        self._update_buttons()

    def show_set(self, ls: LabelSet | None) -> None:
        """The page selected `ls`: its figures go unless it is the set they were measured on
        (then the threshold in force is updated)."""
        same = ls is not None and self.current is not None and ls.id == self.current.id
        self.current = ls
        if not same:
            self.result = None
            self.body.setVisible(False)
            self.message_label.clear()
        threshold = "" if ls is None else (
            f" Its labels now need a score of {threshold_text(ls.threshold)} (saved for this set)."
            if ls.threshold is not None else " Its labels now use the default threshold.")
        self.intro.setText("Auto tags can be surer than the model's best guess by leaving out "
                           "the photos it is least sure of. Measure it on the photos whose tags "
                           "you set or accepted, then choose how many photos to tag."
                           + threshold)
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.jobs.busy
        ready = self._model_note is None
        has = self.current is not None and bool(self.current.labels)
        self.measure_button.setEnabled(has and ready and not busy)
        self.measure_button.setToolTip(self._model_note or MEASURE_TIP)
        row = self.table.currentRow()
        cov = self.table.item(row, T_COVERAGE) if row >= 0 else None
        self.use_button.setEnabled(self.result is not None and cov is not None and not busy)
        self.use_button.setText("Use threshold" if cov is None else
                                f"Use threshold for {cov.text()} coverage")  # as the row says

    # -- measuring --------------------------------------------------------------------------

    def measure(self) -> None:
        ls = self.current
        if ls is None or self.jobs.busy or self._model_note is not None:
            return
        lib, name = self.library, ls.name
        self._job_set = ls.id

        def job(cancel: Any) -> Any:  # in the worker: its value is the trade-off (JobEnd)
            measuring = lib.thresholds.measure(name)
            yield from measuring.run(cancel)
            return measuring.result

        self.message_label.clear()
        self.jobs.start(job)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setVisible(True)
        self._update_buttons()

    def _on_progress(self, p: Progress) -> None:
        self.progress_bar.setRange(0, max(p.total, 1) if p.total else 0)
        self.progress_bar.setValue(p.done)
        self.progress_bar.setFormat(f"{p.message} %v / %m" if p.total else p.message)

    def _failed(self, message: str) -> None:
        self.message_label.show_error(message)

    def _done(self, end: JobEnd) -> None:
        self.progress_bar.setVisible(False)
        result = end.value if end.completed else None
        if result is not None and self.current is not None and self._job_set == self.current.id:
            self.result = result
            self._show_result(result)
        self._update_buttons()
        self.measured.emit(result)

    def _show_result(self, r: Any) -> None:
        self.table.setRowCount(len(r.curve))
        chosen = 0
        for row, (asked, threshold, precision, got) in enumerate(r.curve):
            cov = QTableWidgetItem(f"{got:.0%}")
            cov.setData(Qt.ItemDataRole.UserRole, asked)
            cov.setToolTip(f"asked for {asked:.0%} of the photos; a threshold tags every photo "
                           "with the same score, so it may tag more")
            values = (cov, QTableWidgetItem(threshold_text(threshold)),
                      QTableWidgetItem(f"{precision:.0%}"))
            for col, item in enumerate(values):
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, col, item)
            if abs(asked - DEFAULT_COVERAGE) < 1e-9:
                chosen = row
        self.table.resizeRowsToContents()
        self.table.resizeColumnsToContents()
        rows_h = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        cols_w = sum(self.table.columnWidth(c) for c in range(self.table.columnCount()))
        frame = 2 * self.table.frameWidth()
        self.table.setFixedSize(cols_w + frame,
                                rows_h + self.table.horizontalHeader().height() + frame)
        self.table.setCurrentCell(chosen, T_COVERAGE)
        own = (f"\n\nLabels with a threshold of their own keep it: "
               f"{', '.join(r.own_thresholds)}." if r.own_thresholds else "")
        self.summary.setText(
            f"Each row: a threshold on the {r.photos} photos you decided on, the share of them "
            "it tags and how many of those tags are right.\n\n"
            f"Checked on photos that did not choose it: chosen on half of them, the threshold "
            f"for {r.coverage_asked:.0%} tagged {r.coverage:.0%} of the other {r.measured_on} "
            f"at {r.precision:.0%} right. The model's best guess on those {r.measured_on}: "
            f"{r.accuracy:.0%} right.{own}")
        self.body.setVisible(True)

    # -- saving -----------------------------------------------------------------------------

    def use_selected(self) -> None:
        ls, r, row = self.current, self.result, self.table.currentRow()
        if ls is None or r is None or not 0 <= row < len(r.curve):
            return
        got, threshold = r.curve[row][3], float(r.curve[row][1])
        lib, name, set_id = self.library, ls.name, ls.id
        self.use_button.setEnabled(False)

        def saved(_: object) -> None:
            self.message_label.show_info(
                f"Saved threshold {threshold_text(threshold)} to '{name}' ({got:.0%} "
                "coverage). Re-tag library to apply it to the photos you already have.")
            self._update_buttons()
            self.saved.emit(set_id, threshold)

        self.calls.run(lambda: lib.thresholds.save(name, threshold), saved, self._save_failed)

    def _save_failed(self, message: str) -> None:
        self.message_label.show_error(message)
        self._update_buttons()

    def shutdown(self) -> None:
        self.jobs.stop()
        self.calls.close()
