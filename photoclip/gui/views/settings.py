"""Settings: library folder, model, device, batch size, sidecar style."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QDir
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from photoclip.config import Settings


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, library_folder: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("photoclip settings")
        self.setMinimumWidth(560)
        self._settings = settings

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

        self.sidecar = QComboBox()
        self.sidecar.addItem("photo.jpg.xmp (digiKam, darktable)", "photo.jpg.xmp")
        self.sidecar.addItem("photo.xmp (Lightroom)", "photo.xmp")
        self.sidecar.setCurrentIndex(max(0, self.sidecar.findData(settings.sidecar_style)))

        form = QFormLayout(self)
        form.addRow("Library folder", library_row)
        form.addRow("", self.library_note)
        form.addRow("Model", model_row)
        form.addRow("Device", self.device)
        form.addRow("CPU precision", self.precision)
        form.addRow("Batch size", self.batch)
        form.addRow("Decode threads", self.workers)
        form.addRow("XMP sidecars", self.sidecar)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def result_settings(self) -> Settings:
        return replace(
            self._settings,
            model=self.model.text().strip() or self._settings.model,
            device=self.device.currentText(),
            precision=str(self.precision.currentData()),
            batch_size=self.batch.value(),
            decode_workers=self.workers.value(),
            sidecar_style=str(self.sidecar.currentData()),
        )

    def library_folder(self) -> str:
        return self.library.text().strip()

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


def _with_button(edit: QLineEdit, text: str, slot: object) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton(text)
    button.clicked.connect(slot)
    layout.addWidget(button)
    return row
