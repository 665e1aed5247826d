"""The Training page's standalone evaluation: how well the library's model knows the chosen
albums (or label set) — zero-shot accuracy, text→photo recall@1/@5, the modality gap and the
quick-mode figures, the same as `photoclip eval`.

The work is the core's `Library.evaluate(albums).run()`, driven by a JobRunner off the UI thread;
photos a fine-tuned model was trained on are left out, as the command does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.library import Library
from photoclip.core.types import Progress
from photoclip.gui.jobs import JobEnd, JobRunner
from photoclip.gui.views.messages import MessageLabel
from photoclip.gui.views.training_results import fmt

# The figures, in the order of `photoclip eval`'s table, with what each one means.
FIGURES = (
    ("zero_shot_accuracy", "Zero-shot accuracy",
     "Share of photos whose album the model names best among all the labels (prompt ensemble)"),
    ("zero_shot_accuracy_single_prompt", "  with one prompt",
     "The same with the single prompt 'a photo of a {label}.'"),
    ("recall_at_1", "Text→photo recall@1",
     "Each label's text finds its best-matching photo: the share that is in its album"),
    ("recall_at_5", "Text→photo recall@5",
     "Each label's text finds its 5 best-matching photos: the share in its album (out of "
     "5, or of the album's size when smaller)"),
    ("modality_gap", "Modality gap",
     "Distance between the centres of the photo and the text vectors (lower: closer)"),
    ("prototype_accuracy", "Quick: album prototypes",
     "Accuracy of each album's average photo (with its label's text), fitted on half of "
     "each album"),
    ("linear_probe_accuracy", "Quick: linear head",
     "Accuracy of a linear classifier on the photo vectors, fitted on half of each album"),
)
EVALUATE_TIP = ("Measure the library's model on the chosen albums or label set (zero-shot "
                "accuracy, recall, modality gap); nothing is trained or changed")


class EvaluationDialog(QDialog):
    """Measures the library's model on the photos `read()` returns (run off the UI thread) and
    shows the figures. Non-modal; Cancel stops it between batches."""

    finished_figures = Signal(dict)  # the figures, once measured

    def __init__(self, library: Library, read: Callable[[], Any], source: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Evaluate the model")
        self.setMinimumWidth(560)
        self.library = library
        self.jobs = JobRunner(self)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.finished.connect(self._on_done)
        self.figures: dict[str, QLabel] = {}

        model = library.settings.model if not library.one_off_model else library.model
        self.heading = QLabel(f"<b>{model}</b> on {source}")
        self.heading.setWordWrap(True)
        self.phase = QLabel("Starting…")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        grid = QGridLayout()
        for row, (key, title, tip) in enumerate(FIGURES):
            name = QLabel(title)
            name.setToolTip(tip)
            value = QLabel(fmt(None))
            value.setAlignment(Qt.AlignmentFlag.AlignRight)
            value.setMinimumWidth(80)
            value.setToolTip(tip)
            if row == 0:
                name.setStyleSheet("font-weight: bold;")
                value.setStyleSheet("font-weight: bold;")
            grid.addWidget(name, row, 0)
            grid.addWidget(value, row, 1)
            self.figures[key] = value
        grid.setColumnStretch(2, 1)
        self.note = MessageLabel()
        self.note.setStyleSheet("color: #666;")
        buttons = QDialogButtonBox()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.AcceptRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.phase)
        layout.addWidget(self.progress)
        layout.addLayout(grid)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self._start(read)

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def _start(self, read: Callable[[], Any]) -> None:
        lib = self.library

        def job(cancel: Any) -> Any:
            albums = read()
            yield Progress("prepare", 0, 0, message=f"{len(albums.labels)} labels, "
                           f"{len(albums.samples)} photos")
            evaluation = lib.evaluate(albums)  # the library's model, loaded by the window
            yield from evaluation.run(cancel)
            return evaluation

        self.jobs.start(job)
        self._buttons()

    def _buttons(self) -> None:
        self.cancel_button.setVisible(self.jobs.busy)
        self.close_button.setVisible(not self.jobs.busy)

    def cancel(self) -> None:
        if self.jobs.busy:
            self.jobs.cancel()
            self.cancel_button.setEnabled(False)
            self.phase.setText("Stopping after this batch…")

    def _on_progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
        if p.job == "prepare":
            self.phase.setText(f"Reading {p.message}…")
        elif p.job == "embed":
            self.phase.setText(f"Measuring: {p.done} / {p.total} photos")
        elif p.job == "decode":
            failed = f" ({p.failed} unreadable, skipped)" if p.failed else ""
            self.phase.setText(f"Reading photos: {p.done} / {p.total}{failed}")

    def _on_failed(self, message: str) -> None:
        self.note.show_error(message)

    def _on_done(self, end: JobEnd) -> None:
        self.progress.setVisible(False)
        self._buttons()
        evaluation = end.value
        result = getattr(evaluation, "result", None)
        if result is None:
            self.phase.setText("Stopped: nothing measured." if end.cancelled
                               else "The evaluation did not finish.")
            return
        figures = result.as_dict()
        for key, label in self.figures.items():
            label.setText(fmt(figures.get(key)))
        chance = 1 / result.labels if result.labels else 0.0
        self.phase.setText(f"{result.images} photos, {result.labels} labels "
                           f"(chance accuracy {chance:.2f})")
        notes = []
        if evaluation.excluded:
            notes.append(f"{evaluation.excluded} photos the model was trained on were left "
                         "out.")
        if evaluation.failures:
            notes.append(f"{len(evaluation.failures)} photos could not be read and were "
                         "skipped.")
        if result.quick_images:
            notes.append(f"The quick figures were fitted on half of each album and measured "
                         f"on the other half ({result.quick_images} photos).")
        self.note.show_info(" ".join(notes))
        self.note.setStyleSheet("color: #666;")
        self.finished_figures.emit(figures)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.jobs.stop()  # a closed window stops measuring
        super().closeEvent(event)

    def shutdown(self) -> None:
        self.jobs.stop()
