"""The training page: fine-tune the library's model on the user's albums, watch it learn, see
held-out accuracy before and after, and switch the library to the new model.

The work is the core's: `Trainer.run()` (the `photoclip train` job) and
`Library.switch_model()` (`photoclip models use`), each driven by a JobWorker, never on the UI
thread.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.errors import PhotoclipError
from photoclip.core.library import Library
from photoclip.core.training import registry
from photoclip.core.training.trainer import FINETUNE_LR, SCRATCH_LR, TrainConfig, TrainResult
from photoclip.core.types import Progress
from photoclip.gui.views.messages import ERROR_STYLE, MessageLabel
from photoclip.gui.views.plot import LinePlot
from photoclip.gui.workers import Call, JobWorker

log = logging.getLogger(__name__)

MUTED = "color: #666;"
LOSS_COLOUR = "#c0392b"
ACCURACY_COLOUR = "#2471a3"
# Figures shown before/after, in the order of `photoclip train`'s table.
FIGURES = (
    ("zero_shot_accuracy", "Zero-shot accuracy"),
    ("zero_shot_accuracy_single_prompt", "  with one prompt"),
    ("recall_at_1", "Text→photo recall@1"),
    ("recall_at_5", "Text→photo recall@5"),
    ("prototype_accuracy", "Quick: album prototypes"),
    ("linear_probe_accuracy", "Quick: linear head"),
)
USE_SELECTED_TIP = ("Re-embeds every photo with that model; search keeps the current one until "
                    "it is done")
USE_TRAINED_TIP = ("Switch the library to the new model: every photo is re-embedded with it; "
                   "search keeps the current model until that is done")
_PHASES = {"prepare": "Preparing", "load": "Loading the model", "decode": "Reading photos",
           "evaluate": "Measuring", "train": "Training", "wise": "Blending with the original",
           "save": "Saving", "scan": "Looking for photos", "index": "Re-embedding photos",
           "switch": "Switching"}


def _num(value: object, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) else default


def _fmt(value: object) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:.3f}"  # noqa: RUF001


class TrainingPage(QWidget):
    training_finished = Signal(bool)  # True when a new model was saved
    model_switched = Signal(str)  # the library now uses this model (its folder or hub id)

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.result: TrainResult | None = None
        self._job: JobWorker | None = None
        self._job_kind = ""  # "train" | "switch"
        self._trainer: Any = None
        self._last: Progress | None = None
        self._switch_name = ""
        self._summary_seq = 0
        self._calls: set[Call] = set()
        self.pool = QThreadPool.globalInstance()
        # Why switching models must wait (the window's model is loading), None: it need not.
        self._model_note: str | None = None

        left = QVBoxLayout()
        left.addWidget(self._build_source())
        left.addWidget(self._build_settings())
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.cancel_button)
        left.addLayout(buttons)
        left.addWidget(self._build_models(), 1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setFixedWidth(440)
        left.setContentsMargins(0, 0, 0, 0)

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
        right.addWidget(self.phase_label)
        right.addWidget(self.progress_bar)
        right.addWidget(self.plot, 1)
        right.addWidget(self._build_results())
        self.message_label = MessageLabel()
        right.addWidget(self.message_label)

        layout = QHBoxLayout(self)
        layout.addWidget(left_widget)
        layout.addLayout(right, 1)
        self.refresh()

    # -- building ---------------------------------------------------------------------------

    def _build_source(self) -> QGroupBox:
        box = QGroupBox("Photos to learn from")
        self.albums_radio = QRadioButton("Albums: a folder with one subfolder per label")
        self.albums_radio.setChecked(True)
        self.set_radio = QRadioButton("A label set: the tags you set or accepted")
        group = QButtonGroup(box)
        group.addButton(self.albums_radio)
        group.addButton(self.set_radio)
        group.buttonToggled.connect(self._source_changed)

        self.folder_combo = QComboBox()
        self.folder_combo.setMinimumContentsLength(20)
        self.folder_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.folder_combo.setToolTip("Each subfolder is an album; its name is what the model "
                                     "learns to call its photos (e.g. Holiday/beach, "
                                     "Holiday/mountains)")
        self.folder_combo.currentIndexChanged.connect(self._source_changed)
        self.choose_button = QPushButton("Choose…")
        self.choose_button.clicked.connect(self._choose_folder)
        folder_row = QHBoxLayout()
        folder_row.setContentsMargins(20, 0, 0, 0)
        folder_row.addWidget(self.folder_combo, 1)
        folder_row.addWidget(self.choose_button)

        self.set_combo = QComboBox()
        self.set_combo.currentIndexChanged.connect(self._source_changed)
        set_row = QHBoxLayout()
        set_row.setContentsMargins(20, 0, 0, 0)
        set_row.addWidget(self.set_combo, 1)

        self.source_summary = QLabel()
        self.source_summary.setWordWrap(True)
        self.source_summary.setStyleSheet(MUTED)

        layout = QVBoxLayout(box)
        layout.addWidget(self.albums_radio)
        layout.addLayout(folder_row)
        layout.addWidget(self.set_radio)
        layout.addLayout(set_row)
        layout.addWidget(self.source_summary)
        return box

    def _build_settings(self) -> QGroupBox:
        box = QGroupBox("Settings")
        defaults = TrainConfig()
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(defaults.epochs)
        self.epochs.setToolTip("Passes over the training photos")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(2, 4096)
        self.batch_size.setValue(defaults.batch_size)
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

    def _build_models(self) -> QGroupBox:
        box = QGroupBox("Your models")
        self.models_table = QTableWidget(0, 3)
        self.models_table.setHorizontalHeaderLabels(["Model", "Held-out accuracy", ""])
        self.models_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.models_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.models_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.models_table.verticalHeader().setVisible(False)
        header = self.models_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.models_table.itemSelectionChanged.connect(self._update_buttons)
        self.use_selected_button = QPushButton("Use selected model")
        self.use_selected_button.setToolTip(USE_SELECTED_TIP)
        self.use_selected_button.clicked.connect(self._use_selected)
        layout = QVBoxLayout(box)
        layout.addWidget(self.models_table, 1)
        layout.addWidget(self.use_selected_button, 0, Qt.AlignmentFlag.AlignRight)
        return box

    def _build_results(self) -> QGroupBox:
        box = QGroupBox("Held-out photos, never trained on")
        grid = QGridLayout(box)
        self.figures: dict[tuple[str, str], QLabel] = {}
        for col, title in ((1, "Before"), (2, "After")):
            head = QLabel(title)
            head.setStyleSheet("font-weight: bold;")
            head.setAlignment(Qt.AlignmentFlag.AlignRight)
            grid.addWidget(head, 0, col)
        for row, (key, title) in enumerate(FIGURES, start=1):
            name = QLabel(title)
            if row == 1:
                name.setStyleSheet("font-weight: bold;")
            grid.addWidget(name, row, 0)
            for col, when in ((1, "before"), (2, "after")):
                value = QLabel(_fmt(None))
                value.setAlignment(Qt.AlignmentFlag.AlignRight)
                value.setMinimumWidth(70)
                if row == 1:
                    value.setStyleSheet("font-weight: bold;")
                self.figures[(key, when)] = value
                grid.addWidget(value, row, col)
        self.results_note = QLabel()
        self.results_note.setWordWrap(True)
        self.results_note.setStyleSheet(MUTED)
        self.results_note.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        grid.addWidget(self.results_note, 1, 3, len(FIGURES) - 1, 1)
        self.use_button = QPushButton("Use this model")
        self.use_button.setEnabled(False)
        self.use_button.setToolTip(USE_TRAINED_TIP)
        self.use_button.clicked.connect(self._use_trained)
        grid.addWidget(self.use_button, len(FIGURES), 3, Qt.AlignmentFlag.AlignRight)
        grid.setColumnStretch(3, 1)
        grid.setColumnMinimumWidth(3, 260)
        grid.setHorizontalSpacing(18)
        return box

    # -- state ------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()  # folders, label sets and models may have changed meanwhile

    def refresh(self) -> None:
        self._refresh_folders()
        self._refresh_sets()
        self._refresh_models()
        self._update_buttons()
        self._summarise()

    def _refresh_folders(self) -> None:
        current = self.folder_combo.currentData()
        known = [str(self.folder_combo.itemData(i)) for i in range(self.folder_combo.count())]
        roots = [r.path for r in self.library.catalog.roots()]
        folders = list(dict.fromkeys([*roots, *known]))
        self.folder_combo.blockSignals(True)
        self.folder_combo.clear()
        for folder in folders:
            self.folder_combo.addItem(folder, folder)
            self.folder_combo.setItemData(self.folder_combo.count() - 1, folder,
                                          Qt.ItemDataRole.ToolTipRole)
        if not folders:
            self.folder_combo.setPlaceholderText("Choose a folder of albums…")
        self.folder_combo.setCurrentIndex(max(0, self.folder_combo.findData(current))
                                          if folders else -1)
        self.folder_combo.blockSignals(False)

    def _refresh_sets(self) -> None:
        from photoclip.core.tagging import TagStore

        current = self.set_combo.currentData()
        self.set_combo.blockSignals(True)
        self.set_combo.clear()
        for ls in TagStore(self.library.catalog).label_sets():
            self.set_combo.addItem(f"{ls.name} ({len(ls.labels)} labels)", ls.name)
        if self.set_combo.count() == 0:
            self.set_combo.setPlaceholderText("No label sets yet")
        self.set_combo.setCurrentIndex(max(0, self.set_combo.findData(current))
                                       if self.set_combo.count() else -1)
        self.set_combo.blockSignals(False)

    def _refresh_models(self) -> None:
        lib = self.library
        current = lib.settings.model
        entries = registry.list_models(lib.catalog)
        if registry.by_source(lib.catalog, current) is None:
            entries.insert(0, registry.ModelEntry(current, current, None, "base", None, ""))
        selected = self._selected_model()
        self.models_table.setRowCount(len(entries))
        for row, e in enumerate(entries):
            shown = e.name if e.kind != "base" else (Path(e.name).name or e.name)
            name = QTableWidgetItem(shown)
            name.setData(Qt.ItemDataRole.UserRole, (e.name, e.source))
            name.setToolTip(f"{e.kind} model: {e.source}")
            acc = ((e.metrics or {}).get("after") or {}).get("zero_shot_accuracy")
            figure = QTableWidgetItem(_fmt(acc) if acc is not None else "")
            figure.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            in_use = e.source == current
            pending = lib.settings.pending_model is not None and e.source == \
                lib.settings.pending_model
            mark = QTableWidgetItem("in use" if in_use else "switching" if pending else "")
            if in_use:
                font = name.font()
                font.setBold(True)
                name.setFont(font)
            for col, item in enumerate((name, figure, mark)):
                self.models_table.setItem(row, col, item)
            if selected is not None and selected[0] == e.name:
                self.models_table.selectRow(row)

    def _selected_model(self) -> tuple[str, str] | None:
        rows = {i.row() for i in self.models_table.selectedItems()}
        if not rows:
            return None
        item = self.models_table.item(min(rows), 0)
        if item is None:
            return None
        name, source = item.data(Qt.ItemDataRole.UserRole)
        return str(name), str(source)

    def _update_buttons(self) -> None:
        busy = self._job is not None
        self.start_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        for w in (self.albums_radio, self.set_radio, self.folder_combo, self.choose_button,
                  self.set_combo, self.epochs, self.batch_size, self.lr_edit, self.eval_split,
                  self.name_edit, self.scratch_check):
            w.setEnabled(not busy)
        self.folder_combo.setEnabled(not busy and self.albums_radio.isChecked())
        self.choose_button.setEnabled(not busy and self.albums_radio.isChecked())
        self.set_combo.setEnabled(not busy and self.set_radio.isChecked())
        selected = self._selected_model()
        # Switching replaces the library's encoder: not while the window is loading it.
        ready = self._model_note is None
        self.use_selected_button.setEnabled(
            not busy and ready and selected is not None
            and selected[1] != self.library.settings.model)
        self.use_button.setEnabled(
            not busy and ready and self.result is not None
            and self.result.path != self.library.settings.model)
        self.use_selected_button.setToolTip(self._model_note or USE_SELECTED_TIP)
        self.use_button.setToolTip(self._model_note or USE_TRAINED_TIP)

    def set_model_state(self, note: str | None) -> None:
        """None: the library's model may be switched; else why not yet (the window is loading
        it), shown as the Use buttons' tooltip. Training itself loads its own copy of the base
        model, so Start does not wait. A page on its own is ready from the start."""
        self._model_note = note
        self._update_buttons()

    def _lr_placeholder(self) -> None:
        lr = SCRATCH_LR if self.scratch_check.isChecked() else FINETUNE_LR
        self.lr_edit.setPlaceholderText(f"{lr:g} (the recipe's default)")

    def show_error(self, message: str) -> None:
        self.message_label.show_error(message)

    def show_info(self, message: str) -> None:
        self.message_label.show_info(message)

    # -- the data ---------------------------------------------------------------------------

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder with one subfolder per label")
        if folder:
            self.set_albums_folder(folder)

    def set_albums_folder(self, folder: str) -> None:
        folder = str(Path(folder).expanduser())
        if self.folder_combo.findData(folder) < 0:
            self.folder_combo.addItem(folder, folder)
        self.albums_radio.setChecked(True)
        self.folder_combo.setCurrentIndex(self.folder_combo.findData(folder))
        self._summarise()

    def _source_changed(self, *_args: object) -> None:
        self._update_buttons()
        self._summarise()

    def _read_albums(self) -> Any:
        """A function reading the chosen photos (run off the UI thread: it walks folders)."""
        from photoclip.core.training.data import read_albums, read_label_set

        catalog = self.library.catalog
        if self.albums_radio.isChecked():
            folder = self.folder_combo.currentData()
            if not folder:
                raise PhotoclipError("Choose a folder of albums: one subfolder of photos per "
                                     "label (Choose…).")
            return lambda: read_albums(str(folder))
        name = self.set_combo.currentData()
        if not name:
            raise PhotoclipError("There is no label set to learn from yet: create one on the "
                                 "Label sets page and tag some photos, or use albums.")
        return lambda: read_label_set(catalog, str(name))

    def _summarise(self) -> None:
        """What the chosen photos are: labels and photo counts (or why they will not do)."""
        self._summary_seq += 1
        try:
            read = self._read_albums()
        except PhotoclipError as exc:
            self.source_summary.setStyleSheet(MUTED)
            self.source_summary.setText(str(exc))
            return
        self.source_summary.setStyleSheet(MUTED)
        self.source_summary.setText("Looking at the photos…")
        call = Call(read, self._summary_seq)
        call.setAutoDelete(False)
        self._calls.add(call)
        call.signals.result.connect(self._on_summary)
        call.signals.error.connect(self._on_summary_error)
        self.pool.start(call)

    def _on_summary(self, seq: object, albums: Any) -> None:
        self._calls = {c for c in self._calls if c.tag != seq}
        if seq != self._summary_seq:
            return
        counts = albums.counts()
        parts = [f"{label} ({n})" for label, n in zip(albums.labels, counts, strict=True)]
        shown = " · ".join(parts[:8]) + (f" · … {len(parts) - 8} more" if len(parts) > 8
                                          else "")
        self.source_summary.setStyleSheet(MUTED)
        self.source_summary.setText(f"{len(albums.labels)} labels, {sum(counts)} photos: "
                                    f"{shown}")

    def _on_summary_error(self, seq: object, message: str) -> None:
        self._calls = {c for c in self._calls if c.tag != seq}
        if seq == self._summary_seq:
            self.source_summary.setStyleSheet(ERROR_STYLE)
            self.source_summary.setText(f"⚠ {message}")

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
        return TrainConfig(epochs=self.epochs.value(), batch_size=self.batch_size.value(),
                           lr=lr, from_scratch=self.scratch_check.isChecked(),
                           eval_split=self.eval_split.value() / 100)

    # -- training ---------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._job is not None

    def start(self) -> None:
        if self._job is not None:
            return
        try:
            read = self._read_albums()
            config = self._config()
            name = self.name_edit.text().strip() or None
            if name is not None:
                registry.check_name(name)
        except PhotoclipError as exc:
            self.show_error(str(exc))
            return
        lib = self.library
        base = lib.settings.model

        def job(cancel: Any) -> Any:
            from photoclip.core.training.trainer import Trainer

            albums = read()
            trainer = Trainer(albums, base=base, checkpoints=lib.paths.checkpoints,
                              catalog=lib.catalog, name=name, device=lib.settings.device,
                              config=config)
            self._trainer = trainer
            yield Progress("prepare", 0, 0, message=f"training {trainer.name} on "
                           f"{len(albums.samples)} photos", extra={"labels": len(albums.labels)})
            yield from trainer.run(cancel)

        self.result = None
        self._trainer = None
        self.plot.clear()
        for label in self.figures.values():
            label.setText(_fmt(None))
        self.results_note.setText("")
        self.show_info("")
        self._run(job, "train")
        self.phase_label.setText("Starting…")

    def _run(self, job: Any, kind: str) -> None:
        self._job_kind = kind
        self._last = None
        self._job = JobWorker(job, self)
        self._job.progress.connect(self._on_progress)
        self._job.failed.connect(self.show_error)
        self._job.done.connect(self._on_done)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setVisible(True)
        self._update_buttons()
        self._job.start()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.cancel_button.setEnabled(False)
            self.phase_label.setText("Stopping after this step…")

    def _on_progress(self, p: Progress) -> None:
        self._last = p
        if p.total:
            self.progress_bar.setRange(0, p.total)
            self.progress_bar.setValue(p.done)
        else:
            self.progress_bar.setRange(0, 0)
        phase = _PHASES.get(p.job, p.job.capitalize())
        if self._job_kind == "switch":
            self._on_switch_progress(p, phase)
            return
        if p.job == "prepare":
            self.phase_label.setText(p.message[:1].upper() + p.message[1:])
        elif p.job == "train":
            self._on_step(p)
        elif p.job == "evaluate":
            self.phase_label.setText(f"{phase} {p.message}…" if not p.done else
                                     f"{phase}: {p.message}")
            when = "before" if "before" in p.message else "after"
            for key, value in p.extra.items():
                if (key, when) in self.figures:
                    self.figures[(key, when)].setText(_fmt(value))
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

    def _on_done(self) -> None:
        job, self._job = self._job, None
        if job is None:
            return
        job.wait()
        job.deleteLater()
        self.progress_bar.setVisible(False)
        kind, last = self._job_kind, self._last
        if kind == "train":
            self._training_done(job.cancelled, last)
        else:
            self._switch_done(job.cancelled, last)
        self._refresh_models()
        self._update_buttons()

    def _training_done(self, cancelled: bool, last: Progress | None) -> None:
        trainer = self._trainer
        result = getattr(trainer, "result", None)
        if result is None:
            name = getattr(trainer, "name", None)
            if cancelled:
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
        before, after = result.before.as_dict(), result.after.as_dict()
        for key, _ in FIGURES:
            self.figures[(key, "before")].setText(_fmt(before.get(key)))
            self.figures[(key, "after")].setText(_fmt(after.get(key)))
        chance = 1 / result.after.labels if result.after.labels else 0.0
        blend = (f" Blended with the original weights (alpha {result.wise_alpha:g}, chosen on "
                 "other held-out photos)." if result.wise_alpha is not None else "")
        self.results_note.setText(
            f"{result.after.images} held-out photos, {result.after.labels} labels (chance "
            f"{chance:.2f}). {result.train_photos} training photos, {result.steps} steps, "
            f"{result.seconds / 60:.1f} min.{blend}")
        self.phase_label.setText(
            f"Done: zero-shot accuracy {result.before.zero_shot_accuracy:.3f} → "
            f"{result.after.zero_shot_accuracy:.3f}")
        failed = (f" {len(result.failures)} photos could not be read and were skipped."
                  if result.failures else "")
        self.show_info(f"Saved as '{result.name}'.{failed} Use this model to search and tag "
                       "with it.")
        self.training_finished.emit(True)

    # -- switching models -------------------------------------------------------------------

    def _use_trained(self) -> None:
        if self.result is not None:
            self.use_model(self.result.path, self.result.name)

    def _use_selected(self) -> None:
        selected = self._selected_model()
        if selected is not None:
            self.use_model(selected[1], selected[0])

    def use_model(self, source: str, name: str) -> None:
        """Switch the library to `source` (a model folder or hub id), as `models use` does."""
        if self._job is not None or self._model_note is not None:
            return
        lib = self.library
        self._switch_name = name

        def job(cancel: Any) -> Any:
            return lib.switch_model(source, cancel)

        self.show_info("")
        self._run(job, "switch")
        self.phase_label.setText(f"Loading {name}…")

    def _switch_done(self, cancelled: bool, last: Progress | None) -> None:
        name = self._switch_name
        if last is not None and last.job == "switch" and last.finished:
            self.phase_label.setText(f"The library now uses {name}.")
            self.show_info(f"Search and tagging now use {name}. Re-tag your label sets to "
                           "apply it to the photos' tags.")
            self.model_switched.emit(self.library.settings.model)
        elif cancelled:
            self.phase_label.setText("Switch stopped.")
            self.show_info(f"The library still uses its previous model; Use {name} again to "
                           "finish re-embedding (the photos done so far are kept).")
        else:
            self.phase_label.setText("Switch did not finish.")

    def shutdown(self) -> None:
        """Stop a running job (the window is closing); training keeps a checkpoint."""
        if self._job is not None:
            self._job.cancel()
            self._job.wait()
