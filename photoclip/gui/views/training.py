"""The training page: fine-tune the library's model on the user's albums, watch it learn, see
held-out accuracy before and after, and switch the library to the new model.

The work is the core's: `Library.trainer(...).run()` (the `photoclip train` job) and
`Library.switch_model()` (`photoclip models use`), each driven by the page's JobRunner, never
on the UI thread. A completed switch re-tags every enabled label set with the new model, as
`models use` does, so the tags and their "why" come from the same model. The photos to learn
from are chosen in a SourceBox, the models listed in a ModelsBox, the figures shown in a
ResultsBox.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.api import FINETUNE_LR, SCRATCH_LR, TrainConfig, TrainResult, check_model_name
from photoclip.core.errors import PhotoclipError
from photoclip.core.library import Library
from photoclip.core.types import Progress
from photoclip.gui.jobs import Calls, JobEnd, JobRunner
from photoclip.gui.views.blindspots import BlindSpotsBox
from photoclip.gui.views.evaluation import EVALUATE_TIP, EvaluationDialog
from photoclip.gui.views.messages import MessageLabel
from photoclip.gui.views.models_table import ModelsBox
from photoclip.gui.views.plot import LinePlot
from photoclip.gui.views.training_results import ResultsBox
from photoclip.gui.views.training_source import SourceBox

log = logging.getLogger(__name__)

LOSS_COLOUR = "#c0392b"
ACCURACY_COLOUR = "#2471a3"
_PHASES = {"prepare": "Preparing", "load": "Loading the model", "decode": "Reading photos",
           "evaluate": "Measuring", "train": "Training", "wise": "Blending with the original",
           "save": "Saving", "scan": "Looking for photos", "index": "Re-embedding photos",
           "switch": "Switching"}


def _num(value: object, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) else default


class TrainingPage(QWidget):
    training_finished = Signal(bool)  # True when a new model was saved
    model_switched = Signal(str)  # the library now uses this model (its folder or hub id)
    retag_finished = Signal(str)  # the re-tag after a switch ended (its summary)

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.result: TrainResult | None = None
        self.jobs = JobRunner(self)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.failed.connect(self.show_error)
        self.jobs.finished.connect(self._on_done)
        self._job_kind = ""  # "train" | "switch" | "retag"
        self._switch_name = ""
        # Why switching models must wait (the window's model is loading), None: it need not.
        self._model_note: str | None = None
        # Why evaluating must wait (the window's model is loading or failed), None: it need not.
        self._eval_note: str | None = None
        self.evaluation: EvaluationDialog | None = None

        self.source = SourceBox(library, Calls(self))
        self.source.changed.connect(self._update_buttons)
        self.models = ModelsBox(library)
        self.models.selection_changed.connect(self._update_buttons)
        self.models.use_requested.connect(self.use_model)
        left = QVBoxLayout()
        left.addWidget(self.source)
        left.addWidget(self._build_settings())
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.evaluate_button = QPushButton("Evaluate…")
        self.evaluate_button.setToolTip(EVALUATE_TIP)
        self.evaluate_button.clicked.connect(self.evaluate)
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.evaluate_button)
        buttons.addWidget(self.cancel_button)
        left.addLayout(buttons)
        left.addWidget(self.models, 1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setFixedWidth(440)
        left.setContentsMargins(0, 0, 0, 0)

        layout = QHBoxLayout(self)
        layout.addWidget(left_widget)
        layout.addLayout(self._build_progress(), 1)
        self.setAcceptDrops(True)  # a folder dropped on the page is the albums folder
        self.refresh()

    # -- building ---------------------------------------------------------------------------

    def _build_progress(self) -> QVBoxLayout:
        """The right side: the phase, the progress bar, the plot, the figures, the message."""
        right = QVBoxLayout()
        self.phase_label = QLabel("Choose the photos to learn from, then Start training.")
        self.phase_label.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        self.plot = LinePlot()
        self.plot.add_series("loss", LOSS_COLOUR, "left")
        self.plot.add_series("held-out accuracy", ACCURACY_COLOUR, "right", markers=True)
        self.plot.left_title = "left axis"
        self.plot.right_title = "right axis, after each epoch"
        self.plot.empty_text = "The training loss and accuracy appear here as the model learns"
        self.results = ResultsBox()
        self.results.use_button.clicked.connect(self._use_trained)
        right.addWidget(self.phase_label)
        right.addWidget(self.progress_bar)
        right.addWidget(self.plot, 1)
        right.addWidget(self.results)
        self.blindspots = BlindSpotsBox(self.library)  # probes before / after a fine-tune
        right.addWidget(self.blindspots)
        self.message_label = MessageLabel()
        right.addWidget(self.message_label)
        return right

    def _build_settings(self) -> QGroupBox:
        box = QGroupBox("Settings")
        defaults = TrainConfig()
        self.epochs = QSpinBox()
        self.epochs.setRange(0, 1000)  # 0: picked from the photos, the model and the device
        self.epochs.setSpecialValueText("auto")
        self.epochs.setValue(defaults.epochs or 0)
        self.epochs.setToolTip("Passes over the training photos; auto: picked from the photos, the "
                               "model and the device, with early stopping")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 4096)  # 1 (no contrast to learn from): "auto"
        self.batch_size.setSpecialValueText("auto")
        self.batch_size.setValue(defaults.batch_size or 1)
        self.batch_size.setToolTip("Photos per step; more compare each photo with more others")
        self.lr_edit = QLineEdit()
        self.lr_edit.setToolTip("Peak learning rate (warm-up, then cosine decay). Empty: the "
                                "recipe's default")
        self.eval_split = QSpinBox()
        self.eval_split.setRange(5, 50)
        self.eval_split.setSuffix(" % of each album")
        self.eval_split.setValue(round(defaults.eval_split * 100))
        self.eval_split.setToolTip("Photos set aside, never trained on, to measure the model "
                                   "before and after honestly")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("default: the albums' folder name")
        self.scratch_check = QCheckBox("Train every weight from a random start (small models)")
        self.scratch_check.toggled.connect(self._lr_placeholder)
        form = QFormLayout(box)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Learning rate", self.lr_edit)
        form.addRow("Held out", self.eval_split)
        form.addRow("New model name", self.name_edit)
        form.addRow(self.scratch_check)
        self._lr_placeholder()
        return box

    # -- state ------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()  # folders, label sets and models may have changed meanwhile

    def refresh(self) -> None:
        self.source.refresh()
        self.models.refresh()
        self._update_buttons()
        self.source.summarise()

    def _update_buttons(self) -> None:
        busy = self.jobs.busy
        evaluating = self.evaluation is not None and self.evaluation.busy
        self.start_button.setEnabled(not busy and not evaluating)
        self.evaluate_button.setEnabled(not busy and self._eval_note is None)
        self.evaluate_button.setToolTip(self._eval_note or EVALUATE_TIP)
        self.cancel_button.setEnabled(busy)
        for w in (self.epochs, self.batch_size, self.lr_edit, self.eval_split, self.name_edit,
                  self.scratch_check):
            w.setEnabled(not busy)
        self.source.set_busy(busy)
        # Switching replaces the library's encoder: not while the window is loading it.
        self.models.update_button(busy, self._model_note)
        self.results.update_button(
            not busy and self.result is not None
            and self.result.path != self.library.settings.model, self._model_note)

    def set_model_state(self, note: str | None, *, evaluation: str | None = None) -> None:
        """None: the library's model may be switched; else why not yet (the window is loading
        it), shown as the Use buttons' tooltip. Training itself loads its own copy of the base
        model, so Start does not wait. Evaluating measures the window's model: `evaluation`
        says why it must wait (loading, or not loaded). A page on its own is ready at once."""
        self._model_note = note
        self._eval_note = evaluation
        self.blindspots.set_note(evaluation)
        self._update_buttons()

    def _lr_placeholder(self) -> None:
        lr = SCRATCH_LR if self.scratch_check.isChecked() else FINETUNE_LR
        self.lr_edit.setPlaceholderText(f"{lr:g} (the recipe's default)")

    def show_error(self, message: str) -> None:
        self.message_label.show_error(message)

    def show_info(self, message: str) -> None:
        self.message_label.show_info(message)

    def _config(self) -> TrainConfig:
        text = self.lr_edit.text().strip().replace(",", ".")
        lr: float | None = None
        if text:
            try:
                lr = float(text)
            except ValueError:
                raise PhotoclipError(f"The learning rate {text!r} is not a number: e.g. 1e-5, "
                                     "or leave it empty for the recipe's default.") from None
            if not 0 < lr < 1:
                raise PhotoclipError(f"A learning rate of {lr:g} would not train: use a small "
                                     "positive number such as 1e-5 (empty: the default).")
        batch = self.batch_size.value()
        return TrainConfig(epochs=self.epochs.value() or None,
                           batch_size=None if batch == 1 else batch,
                           lr=lr, from_scratch=self.scratch_check.isChecked(),
                           eval_split=self.eval_split.value() / 100)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.source.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.source.dropEvent(event)

    # -- evaluating -------------------------------------------------------------------------

    def evaluate(self) -> None:
        """Measure the library's model on the chosen photos, as `photoclip eval` does."""
        if self.evaluation is not None and self.evaluation.busy:
            self.evaluation.raise_()
            return
        try:
            read = self.source.reader()
        except PhotoclipError as exc:
            self.show_error(str(exc))
            return
        self.show_info("")
        if self.evaluation is not None:
            self.evaluation.deleteLater()
        self.evaluation = EvaluationDialog(self.library, read, self.source.describe(), self)
        self.evaluation.jobs.finished.connect(lambda _end: self._update_buttons())
        self.evaluation.show()
        self._update_buttons()

    # -- training ---------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def start(self) -> None:
        if self.jobs.busy:
            return
        try:
            read = self.source.reader()
            config = self._config()
            name = self.name_edit.text().strip() or None
            if name is not None:
                check_model_name(name)
        except PhotoclipError as exc:
            self.show_error(str(exc))
            return
        lib = self.library

        def job(cancel: Any) -> Any:
            albums = read()
            trainer = lib.trainer(albums, name=name, config=config)
            yield Progress("prepare", 0, 0, message=f"training {trainer.name} on "
                           f"{len(albums.samples)} photos", extra={"labels": len(albums.labels)})
            yield from trainer.run(cancel)
            return trainer  # the page reads its result (None when stopped) and name

        self.result = None
        self.plot.clear()
        self.results.clear()
        self.show_info("")
        self._run(job, "train")
        self.phase_label.setText("Starting…")

    def _run(self, job: Any, kind: str) -> None:
        self._job_kind = kind
        self.jobs.start(job)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setVisible(True)
        self._update_buttons()

    def cancel(self) -> None:
        if self.jobs.busy:
            self.jobs.cancel()
            self.cancel_button.setEnabled(False)
            self.phase_label.setText("Stopping after this step…")

    def _on_progress(self, p: Progress) -> None:
        if p.total:
            self.progress_bar.setRange(0, p.total)
            self.progress_bar.setValue(p.done)
        else:
            self.progress_bar.setRange(0, 0)
        phase = _PHASES.get(p.job, p.job.capitalize())
        if self._job_kind == "switch":
            self._on_switch_progress(p, phase)
            return
        if self._job_kind == "retag":
            if not p.finished:
                self.phase_label.setText(f"The library now uses {self._switch_name} · "
                                         f"re-tagging: {p.done} / {p.total} photos")
            return
        if p.job == "prepare":
            self.phase_label.setText(p.message[:1].upper() + p.message[1:])
        elif p.job == "train":
            self._on_step(p)
        elif p.job == "evaluate":
            self.phase_label.setText(f"{phase} {p.message}…" if not p.done else
                                     f"{phase}: {p.message}")
            self.results.show_figures("before" if "before" in p.message else "after", p.extra)
        elif p.job == "decode":
            failed = f" ({p.failed} unreadable, skipped)" if p.failed else ""
            self.phase_label.setText(f"{phase}: {p.done} / {p.total}{failed}")
        else:
            self.phase_label.setText(f"{phase}: {p.message}" if p.message else phase)

    def _on_step(self, p: Progress) -> None:
        extra = p.extra
        self.plot.x_max = float(p.total)
        if "loss" not in extra:  # resuming from a checkpoint
            self.phase_label.setText(f"Training: {p.message}")
            return
        step, loss = _num(extra.get("step"), p.done), _num(extra["loss"])
        self.plot.add("loss", step, loss)
        if "accuracy" in extra:
            self.plot.add("held-out accuracy", step, _num(extra["accuracy"]))
        acc = self.plot.series["held-out accuracy"].points
        acc_text = f" · held-out accuracy {acc[-1][1]:.2f}" if acc else ""
        self.phase_label.setText(
            f"Training: epoch {extra.get('epoch')} of {self.epochs.value()} · step {p.done} / "
            f"{p.total} · loss {loss:.3f}{acc_text}")

    def _on_switch_progress(self, p: Progress, phase: str) -> None:
        if p.job == "index" and not p.finished:
            self.phase_label.setText(f"Re-embedding your photos with {self._switch_name}: "
                                     f"{p.done} / {p.total}")
        elif p.job == "scan":
            self.phase_label.setText(f"Looking for photos… {p.done} found")
        elif p.message:
            self.phase_label.setText(f"{phase}: {p.message}")

    def _on_done(self, end: JobEnd) -> None:
        self.progress_bar.setVisible(False)
        if self._job_kind == "train":
            self._training_done(end)
        elif self._job_kind == "retag":
            self._retag_done(end)
        else:
            self._switch_done(end)
        self.models.refresh()
        self._update_buttons()

    def _training_done(self, end: JobEnd) -> None:
        trainer, last = end.value, end.last  # the job returns its Trainer
        result: TrainResult | None = getattr(trainer, "result", None)
        if result is None:
            name = getattr(trainer, "name", None)
            if end.cancelled:
                step = (int(_num(last.extra.get("step")))
                        if last is not None and last.job == "train" else 0)
                where = f" at step {step}" if step else ""
                resume = (f" Start again with the same settings (and name {name}) to resume "
                          "where it stopped." if step and name else "")
                self.phase_label.setText(f"Stopped{where}.")
                self.show_info(f"Training stopped{where}; the library's model is unchanged."
                               f"{resume}")
            else:
                self.phase_label.setText("Training did not finish.")
            self.training_finished.emit(False)
            return
        self.result = result
        self.results.show_result(result)
        self.blindspots.measure_after(result.path)
        self.phase_label.setText(
            f"Done: zero-shot accuracy {result.before.zero_shot_accuracy:.3f} → "
            f"{result.after.zero_shot_accuracy:.3f}")
        failed = (f" {len(result.failures)} photos could not be read and were skipped."
                  if result.failures else "")
        if result.unchanged:
            self.show_info(f"Saved as '{result.name}', but fine-tuning did not help on the "
                           "held-out photos: the best blend was the original model itself, so "
                           f"there is no need to switch.{failed}")
        elif not result.helped:
            self.show_info(f"Saved as '{result.name}', but it did not beat the model you have on "
                           f"the held-out photos: keeping your current model is better.{failed}")
        else:
            self.show_info(f"Saved as '{result.name}'.{failed} Use this model to search and tag "
                           "with it.")
        self.training_finished.emit(True)

    # -- switching models -------------------------------------------------------------------

    def _use_trained(self) -> None:
        if self.result is not None:
            self.use_model(self.result.path, self.result.name)

    def use_model(self, source: str, name: str) -> None:
        """Switch the library to `source` (a model folder or hub id), as `models use` does."""
        if self.jobs.busy or self._model_note is not None:
            return
        lib = self.library
        self._switch_name = name

        def job(cancel: Any) -> Any:
            return lib.switch_model(source, cancel)

        self.show_info("")
        self._run(job, "switch")
        self.phase_label.setText(f"Loading {name}…")

    def _switch_done(self, end: JobEnd) -> None:
        name, last, cancelled = self._switch_name, end.last, end.cancelled
        if last is not None and last.job == "switch" and last.finished:
            self.phase_label.setText(f"The library now uses {name}.")
            self.show_info(f"Search and tagging now use {name}.")
            self.model_switched.emit(self.library.settings.model)
            self._retag()
        elif cancelled:
            self.phase_label.setText("Switch stopped.")
            self.show_info(f"The library still uses its previous model; Use {name} again to "
                           "finish re-embedding (the photos done so far are kept).")
        else:
            self.phase_label.setText("Switch did not finish.")

    def _retag(self) -> None:
        """Tags follow the model: every enabled label set again, with the model just switched
        to (the library holds it loaded), as `photoclip models use` does."""
        lib = self.library

        def job(cancel: Any) -> Any:
            sets = [s.name for s in lib.label_sets.label_sets(enabled_only=True) if s.labels]
            if sets:
                yield from lib.tagger().run(sets, cancel=cancel)
            return sets

        self._run(job, "retag")
        self.phase_label.setText(f"The library now uses {self._switch_name} · re-tagging…")

    def _retag_done(self, end: JobEnd) -> None:
        name, last, sets = self._switch_name, end.last, end.value
        self.phase_label.setText(f"The library now uses {name}.")
        if end.error is None and not sets:
            summary = f"Search and tagging now use {name}."
        elif last is not None and last.finished:
            summary = (f"Search and tagging now use {name}; tags re-done with it "
                       f"({', '.join(sets)}): {last.message}.")
        elif end.cancelled:
            summary = (f"Search and tagging now use {name}; re-tagging stopped, so some tags "
                       "are still from the previous model: Re-tag library on the Label sets "
                       "page finishes it.")
        else:
            summary = (f"Search and tagging now use {name}, but re-tagging did not finish: "
                       "Re-tag library on the Label sets page.")
        self.show_info(summary)
        self.retag_finished.emit(summary)

    def shutdown(self) -> None:
        """Stop a running job (the window is closing); training keeps a checkpoint."""
        self.jobs.stop()
        self.blindspots.shutdown()
        if self.evaluation is not None:
            self.evaluation.shutdown()
