"""The first-run panel: what the search model is, its download with progress in MB, and what
to do when it cannot be had (no network, a model folder that is gone) — worded for the window.

The core's load errors speak to the command line ("pass --model PATH"); `model_problem` sorts
them into the few cases a window user can act on, and the panel offers the action: try again,
choose a model folder (what Settings ▸ Model takes), or go back to the standard model.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from photoclip.config import DEFAULT_MODEL, Settings
from photoclip.core.api import is_unavailable_error, report_downloads
from photoclip.core.errors import ModelLoadError, PhotoclipError
from photoclip.core.library import Library
from photoclip.gui.jobs import Calls
from photoclip.gui.views.settings import choose_model_folder

log = logging.getLogger(__name__)

WHAT_IT_IS = (
    "photoclip finds photos by what is in them with {model}, a CLIP model: it reads each photo "
    "once and can then match it against anything you type, and tag it from your label sets. "
    "It runs on this computer; your photos never leave it.")
# The hub's size of the standard model's weights (model.safetensors, 10^6 bytes as the hub
# shows sizes), said before a download starts or when it cannot; others say theirs once it runs.
KNOWN_SIZES_MB = {DEFAULT_MODEL: 605}
CHOOSE_TIP = ("A folder holding a CLIP model saved with save_pretrained (config.json and the "
              "weights), e.g. copied from a computer that has the model")
PANEL_STYLE = ("#firstRun { background: #f3f6fb; border: 1px solid #c9d4e5; border-radius: 6px; }"
               " #firstRun QLabel { background: transparent; }")
# Failure kinds, as `model_problem` sorts them.
OFFLINE, MISSING_FOLDER, BAD_FOLDER, ONE_OFF, OTHER = (
    "offline", "missing-folder", "bad-folder", "one-off", "other")


@dataclass(frozen=True)
class ModelProblem:
    """Why the model could not be had, for the window: `kind` (one of the kinds above), the
    `model` (hub id or folder), and `detail`, the underlying reason when there is one."""

    kind: str
    model: str
    detail: str = ""

    @property
    def title(self) -> str:
        return {OFFLINE: "The search model could not be downloaded",
                MISSING_FOLDER: "The model folder is missing",
                BAD_FOLDER: "That folder does not hold a model photoclip can use",
                }.get(self.kind, "The search model could not be loaded")

    @property
    def text(self) -> str:
        """What happened and what to do, in the window's words (never a command line)."""
        name = self.model
        if self.kind == OFFLINE:
            size = KNOWN_SIZES_MB.get(name)
            about = f" (about {size} MB)" if size else ""
            return (f"{name} is downloaded once, on the first start{about}, and the download "
                    "could not begin: is this computer offline? Connect to the internet and Try "
                    "again, or choose a model folder copied from another computer.")
        if self.kind == MISSING_FOLDER:
            return (f"The model folder {name} does not exist any more (an unplugged drive, or "
                    "moved?). Plug it in and Try again, choose the folder where it is now, or "
                    "use the standard model.")
        if self.kind == BAD_FOLDER:
            why = f" ({self.detail})" if self.detail else ""
            return (f"{name} could not be read as a CLIP model{why}. Choose the folder a model "
                    "was saved to with save_pretrained: it holds config.json and the weights.")
        if self.kind == ONE_OFF:
            return (f"This library's photos were read with another model, not with {name}, "
                    "which photoclip was started with for this run. Start photoclip without "
                    "naming a model, or choose it for good in Settings ▸ Model.")
        why = f": {self.detail}" if self.detail else ""
        return f"{name} could not be loaded{why}. Try again, or choose another model."

    @property
    def short(self) -> str:
        """One line for the status bar, pointing at the panel."""
        return f"{self.title}: see the panel above ({self.model})"


def model_problem(model: str, exc: BaseException, *, one_off: bool = False) -> ModelProblem:
    """Sort a failed load into what the window can say and offer. Runs off the UI thread (it
    looks at the disk). `model` is the model's id: a folder's absolute path, or a hub id."""
    kind = getattr(exc, "kind", None)  # a core that says what kind it is, is believed
    detail = _detail(exc)
    if isinstance(kind, str) and kind in (OFFLINE, MISSING_FOLDER, BAD_FOLDER):
        return ModelProblem(kind, model, detail)
    if one_off and not isinstance(exc, ModelLoadError):
        return ModelProblem(ONE_OFF, model)
    local = Path(model).is_absolute()
    if local and not Path(model).is_dir():
        return ModelProblem(MISSING_FOLDER, model)
    if not isinstance(exc, ModelLoadError):
        return ModelProblem(OTHER, model, detail)
    if local:
        return ModelProblem(BAD_FOLDER, model, detail)
    if is_unavailable_error(exc):
        return ModelProblem(OFFLINE, model)
    return ModelProblem(OTHER, model, detail)


def _detail(exc: BaseException) -> str:
    """The underlying reason's first line, without a command-line hint: the cause a load error
    wraps, or the error itself when it has none and speaks to the window already."""
    cause = exc.__cause__
    source = cause if cause is not None else exc
    if cause is None and not isinstance(exc, PhotoclipError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = str(source).strip()
    line = text.splitlines()[0].rstrip(".") if text else type(source).__name__
    if re.search(r"(^|\s)--[a-z]|photoclip [a-z]", line):
        return ""  # a command line to type: not what the window says
    return line[:200]


def megabytes(done: int, total: int) -> str:
    """'312/605 MB' (MB as the hub shows sizes: 10^6 bytes); tenths for small models."""
    fmt = ".0f" if total >= 100e6 else ".1f"
    return f"{done / 1e6:{fmt}}/{total / 1e6:{fmt}} MB"


class FirstRunPanel(QWidget):
    """Shown above the pages while the model is being downloaded or cannot be had; hidden once
    it is ready (and when it loads from disk without news)."""

    retry = Signal()
    choose_folder = Signal()
    use_standard = Signal()
    use_suggested = Signal(str)  # the model this computer's language and hardware suggest
    download_shown = Signal(int, int)  # (bytes done, bytes total), after the panel showed it
    _downloaded = Signal()  # a download callback ran (any thread): see report_download

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        card = QFrame()
        card.setObjectName("firstRun")
        card.setStyleSheet(PANEL_STYLE)
        self.problem: ModelProblem | None = None
        # The newest (done, total) of a download, and whether an update for it is queued: a
        # download reports every chunk from several threads, the panel needs only the newest.
        self._download = (0, 0)
        self._queued = False
        self._active = True  # False once the model is ready: late reports are dropped
        self._downloaded.connect(self._show_download, Qt.ConnectionType.QueuedConnection)

        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; font-size: 15px;")
        self.about = QLabel()
        self.about.setWordWrap(True)
        self.about.setStyleSheet("color: #333;")
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(520)
        self.retry_button = QPushButton("Try again")
        self.retry_button.clicked.connect(self.retry)
        self.choose_button = QPushButton("Choose a model folder…")
        self.choose_button.setToolTip(CHOOSE_TIP)
        self.choose_button.clicked.connect(self.choose_folder)
        self.standard_button = QPushButton(f"Use the standard model ({DEFAULT_MODEL})")
        self.standard_button.setToolTip("Downloaded once from the internet, then kept")
        self.standard_button.clicked.connect(self.use_standard)
        # The suggestion (set_suggestion): shown beside a download or a problem when it is not
        # the model being had, so a Chinese desktop is offered a model that reads Chinese.
        self.suggested: tuple[str, str] | None = None  # (hub id, why)
        self.suggestion = QLabel()
        self.suggestion.setWordWrap(True)
        self.suggestion.setVisible(False)
        self.suggest_button = QPushButton("Use the suggested model")
        self.suggest_button.setVisible(False)
        self.suggest_button.clicked.connect(
            lambda: self.suggested and self.use_suggested.emit(self.suggested[0]))
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 4, 0, 0)
        for b in (self.retry_button, self.choose_button, self.standard_button,
                  self.suggest_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        layout = QVBoxLayout(card)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(self.title)
        layout.addWidget(self.about)
        layout.addWidget(self.detail)
        layout.addWidget(self.progress)
        layout.addWidget(self.suggestion)
        layout.addLayout(buttons)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 4)
        outer.addWidget(card)
        self.setVisible(False)

    # -- the model's states -----------------------------------------------------------------

    def loading(self) -> None:
        """A load starts: the panel stays as it is until a download or a failure has news."""
        self._active = True
        self._queued = False
        self._download = (0, 0)
        for b in (self.retry_button, self.choose_button, self.standard_button,
                  self.suggest_button):
            b.setEnabled(False)  # one load at a time: the library builds one model

    def ready(self) -> None:
        self._active = False
        self.problem = None
        self.setVisible(False)

    def report_download(self, done: int, total: int) -> None:
        """Download progress; called on the loading thread (only the newest is shown)."""
        self._download = (done, total)
        if not self._queued:
            self._queued = True
            self._downloaded.emit()

    def _show_download(self) -> None:
        self._queued = False  # before reading: a newer value queues a new update
        done, total = self._download
        if not self._active or total <= 0:
            return
        self.problem = None
        model = self.property("model") or ""
        self.title.setText("Downloading the search model (first start only)")
        self.about.setText(WHAT_IT_IS.format(model=model))
        self.detail.setStyleSheet("")
        self.detail.setText(f"{megabytes(done, total)} downloaded. You can add folders "
                            "meanwhile: they are indexed once the model is here.")
        self.progress.setValue(round(1000 * done / max(total, 1)))
        self.progress.setVisible(True)
        for b in (self.retry_button, self.choose_button, self.standard_button):
            b.setVisible(False)
        self.suggest_button.setEnabled(True)  # instead of this download
        self._show_suggestion()
        self.setVisible(True)
        self.download_shown.emit(done, total)

    def show_problem(self, problem: ModelProblem) -> None:
        self._active = False
        self.problem = problem
        self.title.setText(problem.title)
        self.about.setText(WHAT_IT_IS.format(model=problem.model))
        self.detail.setStyleSheet("color: #b00020;")
        self.detail.setText(problem.text)
        self.progress.setVisible(False)
        self.retry_button.setVisible(problem.kind != BAD_FOLDER)
        self.choose_button.setVisible(True)
        self.standard_button.setVisible(problem.model != DEFAULT_MODEL)
        for b in (self.retry_button, self.choose_button, self.standard_button,
                  self.suggest_button):
            b.setEnabled(True)
        self._show_suggestion()
        self.setVisible(True)

    def set_suggestion(self, model: str, why: str) -> None:
        """The model suggested for this computer (from the catalogue), and why."""
        self.suggested = (model, why)
        if self.isVisible():
            self._show_suggestion()

    def _show_suggestion(self) -> None:
        current = self.problem.model if self.problem is not None else self.property("model")
        show = self.suggested is not None and self.suggested[0] != current
        if self.suggested is not None and show:
            model, why = self.suggested
            self.suggestion.setText(f"Suggested for this computer: <b>{model}</b> ({why}).")
            self.suggest_button.setText(f"Use {model.rsplit('/', 1)[-1]} instead")
            self.suggest_button.setToolTip(f"{model}: downloaded once, then kept")
        self.suggestion.setVisible(show)
        self.suggest_button.setVisible(show)

    def show_choice_error(self, message: str) -> None:
        """A chosen folder was refused before anything changed: say why, keep the choices."""
        self.detail.setStyleSheet("color: #b00020;")
        self.detail.setText(message)
        for b in (self.retry_button, self.choose_button, self.standard_button):
            b.setEnabled(True)
        self.setVisible(True)

    def set_model(self, model: str) -> None:
        self.setProperty("model", model)


class ModelLoader(QObject):
    """The library's model, loaded off the UI thread (the panel shows a download), and new
    settings saved off it too. Only the newest load's answer counts."""

    started = Signal()  # a load begins
    loaded = Signal(str)  # the device it runs on
    failed = Signal(object)  # a ModelProblem
    applied = Signal(bool)  # settings saved; True: the model must be loaded again
    refused = Signal(str)  # settings not saved, and why

    def __init__(self, library: Library, calls: Calls, panel: FirstRunPanel) -> None:
        super().__init__(panel)
        self.library, self.calls, self.panel = library, calls, panel
        self._seq = 0
        panel.retry.connect(self.load)
        panel.choose_folder.connect(self.choose_folder)
        panel.use_standard.connect(lambda: self.use_model(DEFAULT_MODEL))
        panel.use_suggested.connect(self.use_model)

    def load(self) -> None:
        self._seq += 1
        seq = self._seq
        lib, panel = self.library, self.panel
        shown = lib.settings.model or DEFAULT_MODEL
        panel.set_model(shown)
        panel.loading()
        self.started.emit()
        self.calls.run(lib.model_catalog, self._suggest)  # reads a file: off the UI thread

        def load() -> str | ModelProblem:
            try:
                # A first run fetches the model from the hub: the panel shows the download.
                with report_downloads(panel.report_download):
                    _ = lib.vectors  # loads the encoder, then heals the vector cache
                return lib.encoder.device
            except Exception as exc:
                log.info("the model did not load", exc_info=True)
                return model_problem(lib.model, exc, one_off=lib.one_off_model)

        self.calls.run(load, lambda r: self._answer(r, seq),
                       lambda m: self._answer(ModelProblem(OTHER, shown, m), seq))

    def _suggest(self, entries: list[dict[str, Any]]) -> None:
        pick = next((e for e in entries if e.get("suggested")), None)
        if pick is not None:
            self.panel.set_suggestion(str(pick["id"]), str(pick.get("suggested_because", "")))

    def _answer(self, result: str | ModelProblem, seq: int) -> None:
        if seq != self._seq:
            return  # a newer load is under way
        if isinstance(result, ModelProblem):
            self.panel.show_problem(result)
            self.failed.emit(result)
        else:
            self.panel.ready()
            self.loaded.emit(result)

    def choose_folder(self) -> None:
        """The panel's "Choose a model folder…": what Settings ▸ Model ▸ Folder… asks."""
        folder = choose_model_folder(self.panel.window())
        if folder:
            self.use_model(folder)

    def use_model(self, model: str) -> None:
        """Make `model` the library's model, as Settings ▸ Model does (then `applied`)."""
        self.apply(replace(self.library.settings, model=model))

    def apply(self, new: Settings) -> None:
        """Save settings off the UI thread (the vector cache may be written): `applied` says
        whether the model must be loaded again, `refused` why nothing changed."""
        lib = self.library
        self.panel.loading()

        def apply() -> bool:
            return lib.apply_settings(replace(new, model=usable_model(new.model)))

        self.calls.run(apply, self.applied.emit, self._refused)

    def _refused(self, message: str) -> None:
        if self.panel.problem is not None:
            self.panel.show_choice_error(message)
        self.refused.emit(message)


def usable_model(model: str) -> str:
    """A chosen model folder as the loader wants it, or a refusal before anything changes: a
    hub cache folder (models--org--name) means its newest snapshot. Runs off the UI thread."""
    folder = Path(model).expanduser()
    if not folder.is_dir() or (folder / "config.json").is_file():
        return model  # a hub id, a saved model, or a folder the load will say is missing
    snapshots = sorted((folder / "snapshots").glob("*/config.json"),
                       key=lambda p: p.stat().st_mtime)
    if snapshots:
        return str(snapshots[-1].parent)
    raise PhotoclipError(f"{folder} holds no saved model (there is no config.json in it): "
                         "choose the folder a CLIP model was saved to, which holds config.json "
                         "and the weights.")
