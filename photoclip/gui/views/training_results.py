"""The training page's before/after figures on the held-out photos, and "Use this model"."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QPushButton, QWidget

from photoclip.core.api import TrainResult

MUTED = "color: #666;"
# Figures shown before/after, in the order of `photoclip train`'s table.
FIGURES = (
    ("zero_shot_accuracy", "Zero-shot accuracy"),
    ("zero_shot_accuracy_single_prompt", "  with one prompt"),
    ("recall_at_1", "Text→photo recall@1"),
    ("recall_at_5", "Text→photo recall@5"),
    ("prototype_accuracy", "Quick: album prototypes"),
    ("linear_probe_accuracy", "Quick: linear head"),
)
USE_TRAINED_TIP = ("Switch the library to the new model: every photo is re-embedded with it; "
                   "search keeps the current model until that is done")


def fmt(value: object) -> str:
    """A figure as shown: three decimals, or a dash when there is none."""
    return "–" if not isinstance(value, int | float) else f"{value:.3f}"  # noqa: RUF001


class ResultsBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Held-out photos, never trained on", parent)
        grid = QGridLayout(self)
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
                value = QLabel(fmt(None))
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
        grid.addWidget(self.use_button, len(FIGURES), 3, Qt.AlignmentFlag.AlignRight)
        grid.setColumnStretch(3, 1)
        grid.setColumnMinimumWidth(3, 260)
        grid.setHorizontalSpacing(18)

    def clear(self) -> None:
        for label in self.figures.values():
            label.setText(fmt(None))
        self.results_note.setText("")

    def show_figures(self, when: str, figures: dict[str, object]) -> None:
        """Figures measured `when` ("before" or "after"); keys not shown are ignored."""
        for key, value in figures.items():
            if (key, when) in self.figures:
                self.figures[(key, when)].setText(fmt(value))

    def show_result(self, result: TrainResult) -> None:
        before, after = result.before.as_dict(), result.after.as_dict()
        for key, _ in FIGURES:
            self.figures[(key, "before")].setText(fmt(before.get(key)))
            self.figures[(key, "after")].setText(fmt(after.get(key)))
        chance = 1 / result.after.labels if result.after.labels else 0.0
        blend = (f" Blended with the original weights (alpha {result.wise_alpha:g}, chosen on "
                 "other held-out photos)." if result.wise_alpha is not None else "")
        self.results_note.setText(
            f"{result.after.images} held-out photos, {result.after.labels} labels (chance "
            f"{chance:.2f}). {result.train_photos} training photos, {result.steps} steps, "
            f"{result.seconds / 60:.1f} min.{blend}")

    def update_button(self, can_use: bool, note: str | None) -> None:
        self.use_button.setEnabled(can_use and note is None)
        self.use_button.setToolTip(note or USE_TRAINED_TIP)
