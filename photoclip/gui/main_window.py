"""The main window: a shell around the pages (Photos, Label sets, Training), with the menus, the
status bar, dropped folders and photos, and the library's model and background indexer.

Everything slow (model load, search, indexing, thumbnails, previews) runs off the UI thread
(`photoclip.gui.jobs`); the window only ever waits for signals.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QMainWindow,
    QProgressBar,
    QPushButton,
    QStatusBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.api import Tagger, Watcher, is_image_path
from photoclip.core.library import Library
from photoclip.core.types import Progress
from photoclip.gui.counts import Counts, FolderRemoval
from photoclip.gui.fastpath_idle import FastPathIdle
from photoclip.gui.jobs import Calls, JobEnd, JobRunner
from photoclip.gui.text_pass import TextPassStatus
from photoclip.gui.views.edits import EditsLink
from photoclip.gui.views.failures import FailuresLink
from photoclip.gui.views.firstrun import FirstRunPanel, ModelLoader, ModelProblem, megabytes
from photoclip.gui.views.labelsets import LabelSetsPage
from photoclip.gui.views.messages import ElidedLabel
from photoclip.gui.views.photos import PhotosPage
from photoclip.gui.views.settings import SettingsDialog, choose_photos_folder
from photoclip.gui.views.sidecars import SidecarWriting
from photoclip.gui.views.training import TrainingPage

log = logging.getLogger(__name__)

# Why the pages' model-bound buttons (Re-tag library, Use model) are disabled: their tooltips.
MODEL_LOADING = "Available once the model is ready: waiting for the model to load…"
MODEL_FAILED = ("Needs the model, which did not load: see the panel above the pages (Try "
                "again, or Choose a model folder…).")
# The search line while the model cannot be had (the Photos page says only that it waits).
SEARCH_NEEDS_MODEL = "Search needs the model, which could not be loaded: see the panel above."


class MainWindow(QMainWindow):
    model_ready = Signal()
    index_finished = Signal()

    def __init__(self, *, library: Library | None = None, load_model: bool = True,
                 watch_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("photoclip")
        self.resize(1280, 800)
        self.setAcceptDrops(True)
        self.library = library if library is not None else Library()
        self.library.exports_in_child = True  # the ONNX text export never holds this process
        self.calls = Calls(self)
        # The background indexer: a Watcher that catches up every folder, then follows the
        # disk. It runs in the runner for as long as the window is open.
        self.indexing = JobRunner(self)
        self.indexing.progress.connect(self._on_progress)
        self.indexing.failed.connect(self.show_message)
        self.indexing.finished.connect(self._on_indexing_done)
        self._watcher: Watcher | None = None
        self._watch_options = watch_options or {}
        self._model_loaded = False
        self._model_problem: ModelProblem | None = None  # why the model cannot be had
        self._closed = False
        self._sticky = False  # the message shown is the library's notices (see show_notices)

        # Pages: the photos (search, grid, preview), label sets, training (View menu, Ctrl+1-3).
        self.photos = PhotosPage(self.library, self.calls, self._ready_tagger)
        self.photos.message.connect(self.show_message)
        self.photos.status.connect(lambda text: self.state_label.setText(text))
        self.photos.preview.tags.message.connect(self.show_message)
        self.model_ready.connect(self.photos.preview.tags.refresh)
        # The first-run panel: the model's download, or what to do when it cannot be had.
        self.first_run = FirstRunPanel()
        self.first_run.download_shown.connect(self._on_model_download)
        self.loader = ModelLoader(self.library, self.calls, self.first_run)
        self.loader.started.connect(self._on_model_loading)
        self.loader.loaded.connect(self._on_model)
        self.loader.failed.connect(self._on_model_failed)
        self.loader.applied.connect(self._settings_applied)
        self.loader.refused.connect(self._settings_refused)
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(self.photos, "Photos")
        self.labelsets_page = LabelSetsPage(self.library)
        self.pages.addTab(self.labelsets_page, "Label sets")
        self.training_page = TrainingPage(self.library)
        self.training_page.model_switched.connect(self._on_model_switched)
        self.training_page.retag_finished.connect(self._label_sets_changed)  # tags re-done
        self.pages.addTab(self.training_page, "Training")
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.first_run)
        column.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        # Tags changed on one page show on the other: the label sets' counts follow the
        # preview's accept / reject / add; the preview's rows and completer follow label set
        # edits and re-tag runs.
        self.photos.preview.tags.changed.connect(self.labelsets_page.tags_changed)
        self.photos.bulk.edited.connect(lambda _edit: self.labelsets_page.tags_changed())
        self.labelsets_page.sets_changed.connect(self._label_sets_changed)
        self.labelsets_page.retag_finished.connect(self._label_sets_changed)
        self._set_model_state(MODEL_LOADING)  # no model until load_model() says so

        self._build_status_bar()
        self.fastpath = FastPathIdle(self)  # measured once the indexer is idle, never during
        self.text_pass = TextPassStatus(self)  # text pass progress, the preview's photo text
        self._build_menu()
        self._restore_window_state()
        self.show_notices()
        self.photos.run_search()  # browse the library until the user types
        if load_model:
            self.load_model()

    # -- building ---------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        self.status = QStatusBar()
        self.setStatusBar(self.status)
        # One line each, cut with "…" to the room there is (a long message or notice must not
        # widen the window); the tooltip has the whole text.
        self.state_label = ElidedLabel()
        self.message_label = ElidedLabel()  # non-modal errors, with the fix
        self.message_label.setStyleSheet("color: #b00020;")
        self.message_label.setWordWrap(False)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(240)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._toggle_pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_job)
        self.failures = FailuresLink(self.library, self.calls, self)  # "3 could not be read…"
        self.failures.retry.connect(self.update_library)
        self.index_finished.connect(self.failures.refresh)
        self.counts = Counts(self.library, self.calls, self.state_label, self.failures.set_count,
                             self)
        self.folder_removal = FolderRemoval(self.library, self.calls, self)
        self.folder_removal.removed.connect(self._folders_removed)
        self.folder_removal.failed.connect(self.show_message)
        self.status.addWidget(self.state_label)
        self.status.addWidget(self.failures)
        self.edits = EditsLink(self.library, self.calls, self)  # "2 possible edits to review…"
        self.index_finished.connect(self.edits.refresh)
        self.status.addWidget(self.edits)
        self.status.addWidget(self.message_label, 1)
        for w in (self.progress_bar, self.pause_button, self.cancel_button):
            self.status.addPermanentWidget(w)
            w.setVisible(False)

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Add Folder…", "Ctrl+O", self._choose_folder)
        self._action(file_menu, "&Remove Folder…", "", self.folder_removal.choose)
        self._action(file_menu, "&Update Library", "F5", self.update_library)
        self._action(file_menu, "Files That Could &Not Be Read…", "", self.failures.open)
        self._action(file_menu, "Review Possible &Edits…", "", self.edits.open)
        self.sidecars = SidecarWriting(self.library, self)  # also Settings' "Write sidecars now"
        self._action(file_menu, "&Write Tags to Sidecars Now", "",
                     lambda: self.sidecars.show_window(start=True))
        file_menu.addSeparator()
        self._action(file_menu, "&Settings…", "Ctrl+,", self.open_settings)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        for n, title in enumerate(("&Photos", "&Label Sets", "&Training")):
            self._action(view_menu, title, f"Ctrl+{n + 1}",
                         lambda _=False, n=n: self.pages.setCurrentIndex(n))
        view_menu.addSeparator()
        self._action(view_menu, "&Find", "Ctrl+F", self.focus_search)
        self._action(view_menu, "Toggle &Preview", "Ctrl+P", self.photos.toggle_preview)

    def _action(self, menu: Any, text: str, shortcut: str, slot: Any) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _restore_window_state(self) -> None:
        qs = QSettings()
        geometry = qs.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.photos.restore_state(qs)

    def focus_search(self) -> None:
        self.pages.setCurrentWidget(self.photos)
        self.photos.focus_search()

    # -- model ------------------------------------------------------------------------------

    def load_model(self) -> None:
        self.loader.load()

    def _on_model_loading(self) -> None:
        self._model_loaded = False
        self._model_problem = None
        self.photos.set_model_ready(False)
        self.state_label.setText(f"Loading model {self.library.settings.model}…")
        self.photos.preview.tags.refresh()  # tag changes wait for the model
        self._set_model_state(MODEL_LOADING)

    def _on_model_download(self, done: int, total: int) -> None:
        """The panel showed a download's progress: the status bar follows."""
        if self._model_loaded or self._closed:
            return
        self.state_label.setText(f"Downloading model {self.library.settings.model}: "
                                 f"{megabytes(done, total)}")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(round(1000 * done / max(total, 1)))
        self.progress_bar.setVisible(True)

    def _settings_applied(self, reload: bool) -> None:
        if not self._closed and (reload or not self._model_loaded):
            self.indexing.stop()  # the watcher's indexer holds the old model
            self.load_model()

    def _settings_refused(self, message: str) -> None:
        if self._model_problem is None:  # else the panel says it
            self.show_message(message)

    def _ready_tagger(self) -> Tagger | None:
        """The tagger once the model is loaded (it is built on the model), else None."""
        return self.library.tagger() if self._model_loaded else None

    def _set_model_state(self, note: str | None) -> None:
        """None: the model is ready; else why the pages' model-bound buttons wait. Re-tagging
        waits for the window's model (else its worker would load a second encoder); switching
        models waits only while it loads (the library's encoder is being built), so a model
        that fails to load can still be switched away from."""
        self.labelsets_page.set_model_state(note)
        self.training_page.set_model_state(note if note == MODEL_LOADING else None,
                                           evaluation=note)

    def _on_model(self, device: str) -> None:
        if self._closed:
            return
        self._model_loaded = True
        self.progress_bar.setVisible(False)
        self.show_message("")
        self._set_model_state(None)
        self.counts.show(f"Model ready on {device}")
        self.model_ready.emit()
        self.start_watching()
        self.photos.set_model_ready(True)

    def _on_model_failed(self, problem: ModelProblem) -> None:
        """Never the core's command-line wording: the panel says what happened and offers what
        to do; the status bar points there, and so does a search typed meanwhile."""
        if self._closed:
            return
        self._model_problem = problem
        self.progress_bar.setVisible(False)
        self._set_model_state(MODEL_FAILED)
        self.show_message(problem.short)
        self.state_label.setText("No model")
        self.photos.set_model_problem(SEARCH_NEEDS_MODEL)  # said beside the search field

    # -- messages ---------------------------------------------------------------------------

    def show_message(self, message: str) -> None:
        """Non-modal: the message stays in the status bar; the window keeps working.

        An empty message clears an error, but not the library's notices: those stay until
        another message takes their place."""
        if not message and self._sticky:
            return
        self._sticky = False
        self.message_label.setText(f"⚠ {message}" if message else "")
        self.message_label.setToolTip(message)
        if message:
            log.warning("%s", message)

    def show_notices(self) -> None:
        """What the user should hear once about opening this library (a catalog restored from
        a backup, a read-only library): in the message area, like an error, but kept there
        until another message replaces it."""
        notices = [n for n in self.library.notices if n]
        if not notices:
            return
        # The core logged them when they happened: shown here, not logged twice.
        self.message_label.setText("⚠ " + "  ·  ".join(notices))
        self.message_label.setToolTip("\n\n".join(notices))
        self._sticky = True

    # -- adding and indexing ----------------------------------------------------------------

    def _choose_folder(self) -> None:
        folder = choose_photos_folder(self)
        if folder:
            self.add_folders([folder])

    def remove_folders(self, folders: list[str]) -> None:
        """Forget `folders` (off the UI thread; `folder_removal.removed` says when)."""
        self.folder_removal.remove(folders)

    def _folders_removed(self, _folders: list[str]) -> None:
        if self._closed:
            return
        if self._watcher is not None:
            self._watcher.roots_changed()
        self.photos.refresh_filters()
        self.counts.show("Folder removed")
        self.photos.run_search()

    def add_folders(self, folders: list[str]) -> None:
        """Add folders (off the UI thread: a catalog write and a look at each folder)."""
        self.calls.run(lambda: self.library.add_roots(folders), self._folders_added,
                       self.show_message)

    def _folders_added(self, roots: list[Any]) -> None:
        self.photos.refresh_filters()
        self.photos.refresh_empty_state()
        self.state_label.setText(f"Added {_folders(len(roots))}" + (
            "" if self._model_loaded else "; indexing starts when the model is ready…"))
        if self._watcher is not None:
            self._watcher.roots_changed()  # the watcher catches the new folders up
        else:
            self.start_watching()

    def update_library(self) -> None:
        """F5: a full catch-up of every folder (or start watching again after a stop)."""
        if self._watcher is not None:
            self._watcher.rescan()
        else:
            self.start_watching()

    def start_watching(self) -> None:
        if self.indexing.busy or not self._model_loaded or self._closed:
            return
        watcher = self.library.watcher(**self._watch_options)
        self._watcher = watcher
        self.pause_button.setChecked(False)
        self.state_label.setText("Checking folders for changes…")
        self.photos.set_indexing(True)
        # Paused, the watcher still collects the disk's events: nothing is lost.
        self.indexing.start(watcher.run, pauser=watcher)

    def _set_busy(self, busy: bool) -> None:
        for w in (self.progress_bar, self.pause_button, self.cancel_button):
            w.setVisible(busy or (w is self.pause_button and self.pause_button.isChecked()))

    def _on_progress(self, p: Progress) -> None:
        if p.job == "watch":
            self._on_watch_note(p)
            return
        self._set_busy(True)
        if p.job == "scan":
            self.progress_bar.setRange(0, 0)
            self.state_label.setText(f"Scanning… {p.done} photos found")
            return
        if p.finished:
            return  # the watcher's note for this run follows
        self.progress_bar.setRange(0, max(p.total, 1))
        self.progress_bar.setValue(p.done)
        rate = f" · {p.rate:.1f} photos/s" if p.rate else ""
        failed = f" · {p.failed} skipped" if p.failed else ""
        paused = " · paused" if self.indexing.busy and self.indexing.paused else ""
        self.state_label.setText(f"Indexing {p.done} / {p.total}{rate}{failed}{paused}")
        if p.job == "index":
            self.photos.photos_landed(p.done)  # each committed batch shows (throttled)

    def _on_watch_note(self, p: Progress) -> None:
        event = p.extra.get("event")
        if event in ("batch", "catch-up"):
            self._set_busy(False)
            self.state_label.setText(f"{_sentence(p.message)} · watching for changes")
            self.index_finished.emit()
            self.photos.refresh_if_browsing()  # browsing: show what just arrived
        elif event == "watching":
            self._set_busy(False)
            self.state_label.setText(_sentence(p.message))  # folder names keep their case
        elif p.message:
            self.state_label.setText(p.message)

    def _toggle_pause(self, paused: bool) -> None:
        if not self.indexing.busy:
            return
        if paused:
            self.indexing.pause()
            self.pause_button.setText("Resume")
            self.state_label.setText(self.state_label.text() + " · pausing after this batch")
        else:
            self.indexing.resume()
            self.pause_button.setText("Pause")
        self._set_busy(self.progress_bar.isVisible())

    def cancel_job(self) -> None:
        if self.indexing.busy:
            self.indexing.cancel()
            self.state_label.setText("Stopping after this batch…")

    def _on_indexing_done(self, _end: JobEnd) -> None:
        self._watcher = None
        self.photos.set_indexing(False)
        self._set_busy(False)
        self.pause_button.setChecked(False)
        if not self._closed:
            self.counts.show("Not watching folders (File ▸ Update Library to resume)")
            self.photos.run_search()

    # -- label sets and tags -----------------------------------------------------------------

    def _label_sets_changed(self, *_args: object) -> None:
        """Label sets were edited or re-tagged: the preview's rows and its completer follow
        (a renamed label shows its new name, a removed one goes)."""
        if not self._closed:
            self.photos.preview.tags.refresh()

    # -- settings ---------------------------------------------------------------------------

    def _on_model_switched(self, _model: str) -> None:
        """The training page switched the library's model: index with the new one from now."""
        self.indexing.stop()  # the watcher's indexer holds the old model
        self.load_model()

    def open_settings(self) -> None:
        qs = QSettings()
        dialog = SettingsDialog(self.library.settings,
                                str(qs.value("library", str(self.library.paths.root))), self,
                                sidecars=self.sidecars)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        qs.setValue("library", dialog.library_folder())
        self.loader.apply(dialog.result_settings())  # off the UI thread; reloads if need be

    # -- drag and drop ----------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(Path(u.toLocalFile()).is_dir() or is_image_path(u.toLocalFile())
               for u in event.mimeData().urls() if u.isLocalFile()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folders = [u.toLocalFile() for u in event.mimeData().urls()
                   if u.isLocalFile() and Path(u.toLocalFile()).is_dir()]
        photos = [u.toLocalFile() for u in event.mimeData().urls()
                  if u.isLocalFile() and is_image_path(u.toLocalFile())]
        if folders:
            event.acceptProposedAction()
            self.add_folders(folders)
        elif photos:
            # A dropped photo is a query: photos like it (it need not be in the library).
            event.acceptProposedAction()
            self.pages.setCurrentWidget(self.photos)
            self.photos.find_like_files(photos)
        elif event.mimeData().urls():
            self.show_message("Drop folders to add them, or a photo to find ones like it.")

    # -- closing ----------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closed:
            super().closeEvent(event)
            return
        self._closed = True
        qs = QSettings()
        qs.setValue("window/geometry", self.saveGeometry())
        self.photos.save_state(qs)
        self.indexing.stop()
        self.fastpath.stop()
        self.sidecars.stop()
        self.calls.close()
        self.photos.shutdown()
        self.labelsets_page.shutdown()
        self.training_page.shutdown()
        self.library.close()
        super().closeEvent(event)


def _sentence(text: str) -> str:
    """The first letter up, the rest as it is (str.capitalize would lower folder names)."""
    return text[:1].upper() + text[1:]


def _folders(n: int) -> str:
    return f"{n} folder" + ("" if n == 1 else "s")

