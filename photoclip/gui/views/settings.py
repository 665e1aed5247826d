"""Settings: library folder, model, device, batch size, reading text in photos (OCR), XMP
sidecars (kept in step or not, their name, and "Write sidecars now")."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QDir, QStandardPaths
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)

from photoclip.config import Settings
from photoclip.gui.views.sidecars import (
    NEVER_WRITTEN,
    SidecarPanel,
    SidecarWriting,
    WrappedLine,
)

OFFER_TITLE = "Write sidecars now?"
OFFER = ("From now on (once you press OK), each photo's sidecar follows its tags as they "
         "change. Write the tags every photo already has to their sidecars now?")


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, library_folder: str,
                 parent: QWidget | None = None, *,
                 sidecars: SidecarWriting | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("photoclip settings")
        self._settings = settings
        self._sidecars = sidecars

        self.library = QLineEdit(library_folder)
        library_row = _with_button(self.library, "Choose…", self._choose_library)
        self.library_note = QLabel("A different library folder is opened at the next start.")
        self.library_note.setStyleSheet("color: #666;")

        self.model = QLineEdit(settings.model)
        self.model.setPlaceholderText("Hugging Face id (openai/clip-vit-base-patch32) or folder")
        model_row = _with_button(self.model, "Folder…", self._choose_model)

        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device.setCurrentText(settings.device)

        self.precision = QComboBox()
        for value, text in (("auto", "automatic (fastest that matches fp32)"),
                            ("fp32", "fp32 (reference quality)"),
                            ("bf16", "bf16"), ("int8", "int8 (quantised)")):
            self.precision.addItem(text, value)
        self.precision.setCurrentIndex(max(0, self.precision.findData(settings.precision)))
        self.precision.setToolTip("How the model computes on the CPU. A GPU always uses fp16.")

        self.batch = QSpinBox()
        self.batch.setRange(1, 1024)
        self.batch.setValue(settings.batch_size)

        self.workers = QSpinBox()
        self.workers.setRange(0, 64)
        self.workers.setSpecialValueText("automatic")
        self.workers.setValue(settings.decode_workers)

        self.ocr = QCheckBox("Read text in photos")
        self.ocr.setToolTip("Read the words in photos (receipts, screenshots, signs) after "
                            "indexing, so search finds them by their text (the same as "
                            "`photoclip ocr --on`). Runs after indexing, at low priority.")
        self.ocr.setChecked(bool(settings.ocr))

        self.sidecar = QComboBox()
        self.sidecar.addItem("photo.jpg.xmp (digiKam, darktable)", "photo.jpg.xmp")
        self.sidecar.addItem("photo.xmp (Lightroom)", "photo.xmp")
        self.sidecar.setCurrentIndex(max(0, self.sidecar.findData(settings.sidecar_style)))
        self.xmp_sync = QCheckBox("Write tags to XMP sidecars")
        self.xmp_sync.setToolTip("Keep each photo's sidecar in step as its tags change (the "
                                 "same as `photoclip xmp --sync on`).")
        self.xmp_sync.setChecked(settings.xmp_sync)
        self.xmp_note = WrappedLine()
        self.xmp_note.setStyleSheet("color: #666;")
        self.sidecar.currentIndexChanged.connect(self._explain_sidecars)
        self._explain_sidecars()
        self.sidecar_panel: SidecarPanel | None = None
        if sidecars is not None:
            self.sidecar_panel = SidecarPanel(sidecars, lambda: str(self.sidecar.currentData()))
        self._offered = settings.xmp_sync  # turned on already: nothing to offer
        self.xmp_sync.toggled.connect(self._offer_to_write)

        form = QFormLayout(self)
        form.addRow("Library folder", library_row)
        form.addRow("", self.library_note)
        form.addRow("Model", model_row)
        form.addRow("Device", self.device)
        form.addRow("CPU precision", self.precision)
        form.addRow("Batch size", self.batch)
        form.addRow("Decode threads", self.workers)
        form.addRow("Text in photos", self.ocr)
        form.addRow("XMP sidecars", self.xmp_sync)
        form.addRow("", self.xmp_note)
        form.addRow("Sidecar name", self.sidecar)
        if self.sidecar_panel is not None:
            form.addRow("", self.sidecar_panel)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        # A width, not a minimum width: Qt keeps the minimum size then, so the dialog grows
        # when a line in it wraps (Write sidecars now's result) rather than hide it.
        self.resize(max(560, self.sizeHint().width()), self.sizeHint().height())

    def result_settings(self) -> Settings:
        return replace(
            self._settings,
            model=self.model.text().strip() or self._settings.model,
            device=self.device.currentText(),
            precision=str(self.precision.currentData()),
            batch_size=self.batch.value(),
            decode_workers=self.workers.value(),
            sidecar_style=str(self.sidecar.currentData()),
            xmp_sync=self.xmp_sync.isChecked(),
            ocr=self.ocr.isChecked(),
        )

    def library_folder(self) -> str:
        return self.library.text().strip()

    def done(self, result: int) -> None:
        """Closed while sidecars are being written: the job goes on in its own window."""
        if self._sidecars is not None and self._sidecars.busy:
            self._sidecars.show_window()
        super().done(result)

    def _explain_sidecars(self) -> None:
        text = self.sidecar.currentText()  # "photo.jpg.xmp (digiKam, darktable)"
        name, _, readers = text.partition(" (")
        self.xmp_note.setText(f"{name} beside each photo, read by {readers.rstrip(')')}; "
                              f"{NEVER_WRITTEN}.")

    def _offer_to_write(self, on: bool) -> None:
        """Turned on for the first time: offer to write the sidecars of the tags there are."""
        if not on or self._offered or self.sidecar_panel is None:
            return
        self._offered = True
        if self._sidecars is not None and self._sidecars.busy:
            return
        answer = QMessageBox.question(
            self, OFFER_TITLE, OFFER,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        if answer == QMessageBox.StandardButton.Yes:
            self.sidecar_panel.start()

    def _choose_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Library folder", self.library.text())
        if folder:
            self.library.setText(folder)

    def _choose_model(self) -> None:
        folder = choose_model_folder(self)
        if folder:
            self.model.setText(folder)


def choose_model_folder(parent: QWidget | None) -> str:
    """Ask for a model folder (one saved with save_pretrained); "" when the user cancels. The
    Settings dialog's Model ▸ Folder… and the window's first-run panel ask the same way."""
    return QFileDialog.getExistingDirectory(
        parent, "Choose a model folder (saved with save_pretrained: config.json and weights)",
        QDir.homePath())


def choose_photos_folder(parent: QWidget | None) -> str:
    """Ask for a folder of photos to add (File ▸ Add Folder…); "" when the user cancels."""
    return QFileDialog.getExistingDirectory(parent, "Add a folder of photos", pictures_folder())


def pictures_folder() -> str:
    """Where Add Folder… starts: the user's Pictures folder, else home (never the folder the
    app happened to be started from)."""
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return pictures if pictures and Path(pictures).is_dir() else QDir.homePath()


def _with_button(edit: QLineEdit, text: str, slot: object) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton(text)
    button.clicked.connect(slot)
    layout.addWidget(button)
    return row
