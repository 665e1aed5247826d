"""The main window: search field with filters, photo grid, preview pane, status bar.

Everything slow (model load, search, indexing, thumbnails, previews) runs off the UI thread;
the window only ever waits for signals.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QDate,
    QEvent,
    QMargins,
    QModelIndex,
    QSettings,
    QSize,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QHelpEvent,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStatusBar,
    QTabWidget,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.encoder import report_downloads
from photoclip.core.imaging import is_image_path
from photoclip.core.indexer import thumbnail_path
from photoclip.core.library import Library
from photoclip.core.tagging import Tagger
from photoclip.core.types import Photo, Progress, SearchHit
from photoclip.core.watcher import Watcher
from photoclip.gui.models import GridItem, PhotoGridModel
from photoclip.gui.thumbnails import THUMB
from photoclip.gui.views.labelsets import LabelSetsPage
from photoclip.gui.views.preview import PreviewPane
from photoclip.gui.views.settings import SettingsDialog
from photoclip.gui.views.training import TrainingPage
from photoclip.gui.workers import Call, JobWorker

log = logging.getLogger(__name__)

# Wait this long after the last keystroke before searching: fast typists send one query.
SEARCH_DEBOUNCE_MS = 250
SEARCH_TOP = 500
# Browsing with no query lists the newest photos; the grid is virtual, so this is cheap.
BROWSE_LIMIT = 200_000
_NO_DATE = QDate(1900, 1, 1)  # QDateEdit's minimum, shown as "any"
# Why the pages' model-bound buttons (Re-tag library, Use model) are disabled: their tooltips.
MODEL_LOADING = "Available once the model is ready: waiting for the model to load…"
MODEL_FAILED = ("Needs the model, which did not load: see the message at the bottom of the "
                "window (File ▸ Settings to choose another model).")


class MainWindow(QMainWindow):
    model_ready = Signal()
    model_download = Signal()  # a first download made progress: see _download
    search_done = Signal(int)  # number of photos shown
    index_finished = Signal()

    def __init__(self, *, library: Library | None = None, load_model: bool = True,
                 watch_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("photoclip")
        self.resize(1280, 800)
        self.setAcceptDrops(True)
        self.library = library if library is not None else Library()
        self.pool = QThreadPool.globalInstance()
        self._calls: set[Call] = set()
        # The background indexer: a Watcher that catches up every folder, then follows the
        # disk. It runs in one worker for as long as the window is open.
        self._job: JobWorker | None = None
        self._watcher: Watcher | None = None
        self._watch_options = watch_options or {}
        self._search_seq = 0
        self._model_loaded = False
        # The newest (bytes done, total) of a model download, and whether a signal for it is
        # queued: a download reports every chunk from several threads, the label needs only the
        # newest, so at most one update waits in the UI thread's queue.
        self._download = (0, 0)
        self._download_queued = False
        self._closed = False
        self._sticky = False  # the message shown is the library's notices (see show_notices)

        self._build_search_bar()
        self._build_grid()
        self.preview = PreviewPane()
        self.preview.find_similar.connect(self.find_similar)
        self.preview.tags.attach(self.library, self._ready_tagger)
        self.preview.tags.message.connect(self.show_message)
        self.model_ready.connect(self.preview.tags.refresh)
        self.model_download.connect(self._on_model_download)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.empty_label)
        left_layout.addWidget(self.grid, 1)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([880, 400])

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(self.search_bar)
        layout.addWidget(self.splitter, 1)
        # Pages: the photos (search, grid, preview), label sets, training (View menu, Ctrl+1-3).
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(central, "Photos")
        self.labelsets_page = LabelSetsPage(self.library)
        self.pages.addTab(self.labelsets_page, "Label sets")
        self.training_page = TrainingPage(self.library)
        self.training_page.model_switched.connect(self._on_model_switched)
        self.pages.addTab(self.training_page, "Training")
        self.setCentralWidget(self.pages)
        # Tags changed on one page show on the other: the label sets' counts follow the
        # preview's accept / reject / add; the preview's rows and completer follow label set
        # edits and re-tag runs.
        self.preview.tags.changed.connect(self.labelsets_page.tags_changed)
        self.labelsets_page.sets_changed.connect(self._label_sets_changed)
        self.labelsets_page.retag_finished.connect(self._label_sets_changed)
        self._set_model_state(MODEL_LOADING)  # no model until load_model() says so

        self._build_status_bar()
        self._build_menu()
        self._restore_window_state()
        self.refresh_filters()
        self.show_notices()
        self.run_search()  # browse the library until the user types
        if load_model:
            self.load_model()

    # -- building ---------------------------------------------------------------------------

    def _build_search_bar(self) -> None:
        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText(
            "Describe a photo: 'dog on a beach -people'   (Ctrl+F)")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.textChanged.connect(self._schedule_search)
        self.search_field.returnPressed.connect(self.run_search)
        self._debounce = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.run_search)

        self.folder_filter = QComboBox()
        self.folder_filter.setMinimumWidth(180)
        self.folder_filter.setToolTip("Only photos in this folder")
        self.folder_filter.currentIndexChanged.connect(self._schedule_search)
        self.after_filter = self._date_edit("Taken on or after")
        self.before_filter = self._date_edit("Taken before")

        self.search_bar = QHBoxLayout()
        self.search_bar.addWidget(self.search_field, 1)
        self.search_bar.addWidget(self.folder_filter)
        self.search_bar.addWidget(QLabel("from"))
        self.search_bar.addWidget(self.after_filter)
        self.search_bar.addWidget(QLabel("to"))
        self.search_bar.addWidget(self.before_filter)

    def _date_edit(self, tip: str) -> QDateEdit:
        edit = QDateEdit()
        edit.setCalendarPopup(True)
        edit.setMinimumDate(_NO_DATE)
        edit.setSpecialValueText("any")
        edit.setDate(_NO_DATE)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setToolTip(tip)
        edit.dateChanged.connect(self._schedule_search)
        return edit

    def _build_grid(self) -> None:
        self.grid_model = PhotoGridModel()
        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setUniformItemSizes(True)
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)  # smooth with 100k rows
        self.grid.setIconSize(THUMB)
        self.grid.setGridSize(THUMB.grownBy(QMargins(12, 12, 12, 30)))
        self.grid.setWordWrap(False)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setModel(self.grid_model)
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid.activated.connect(lambda _i: self.preview.open_photo())
        self.grid.installEventFilter(self)

        self.empty_label = QLabel()
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: #555; font-size: 15px; padding: 24px;")

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
        self.status.addWidget(self.state_label)
        self.status.addWidget(self.message_label, 1)
        for w in (self.progress_bar, self.pause_button, self.cancel_button):
            self.status.addPermanentWidget(w)
            w.setVisible(False)

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Add Folder…", "Ctrl+O", self._choose_folder)
        self._action(file_menu, "&Remove Folder…", "", self._choose_folder_to_remove)
        self._action(file_menu, "&Update Library", "F5", self.update_library)
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
        self._action(view_menu, "Toggle &Preview", "Ctrl+P",
                     lambda: self.preview.setVisible(not self.preview.isVisible()))

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
        sizes = qs.value("window/splitter")
        if sizes is not None:
            self.splitter.restoreState(sizes)

    # -- model ------------------------------------------------------------------------------

    def load_model(self) -> None:
        self._model_loaded = False
        self.state_label.setText(f"Loading model {self.library.settings.model}…")
        self.preview.tags.refresh()  # tag changes wait for the model
        self._set_model_state(MODEL_LOADING)
        lib = self.library

        def load() -> str:
            with report_downloads(self._downloaded):  # a first run fetches the model from the hub
                _ = lib.vectors  # loads the encoder, then heals the vector cache
            return lib.encoder.device

        self._call(load, "model")

    def _downloaded(self, done: int, total: int) -> None:
        """Download progress, called on the loading thread (see _download)."""
        self._download = (done, total)
        if not self._download_queued:
            self._download_queued = True
            self.model_download.emit()  # queued to the UI thread

    def _on_model_download(self) -> None:
        self._download_queued = False  # before reading: a newer value queues a new update
        done, total = self._download
        if self._model_loaded or self._closed:
            return
        self.state_label.setText(f"Downloading model {self.library.settings.model}: "
                                 f"{_megabytes(done, total)}")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(round(1000 * done / max(total, 1)))
        self.progress_bar.setVisible(True)

    def _ready_tagger(self) -> Tagger | None:
        """The tagger once the model is loaded (it is built on the model), else None."""
        return self.library.tagger() if self._model_loaded else None

    def _set_model_state(self, note: str | None) -> None:
        """None: the model is ready; else why the pages' model-bound buttons wait. Re-tagging
        waits for the window's model (else its worker would load a second encoder); switching
        models waits only while it loads (the library's encoder is being built), so a model
        that fails to load can still be switched away from."""
        self.labelsets_page.set_model_state(note)
        self.training_page.set_model_state(note if note == MODEL_LOADING else None)

    def _on_model(self, device: str) -> None:
        self._model_loaded = True
        self.progress_bar.setVisible(False)
        self.show_message("")
        self._set_model_state(None)
        self._show_counts(f"Model ready on {device}")
        self.model_ready.emit()
        self.start_watching()
        if self.search_field.text().strip():
            self.run_search()

    def _show_counts(self, prefix: str) -> None:
        n = self.library.catalog.count_photos("ok")
        failed = self.library.catalog.count_photos("failed")
        extra = f" · {failed} could not be read" if failed else ""
        self.state_label.setText(f"{prefix} · {n} photos{extra}")

    # -- short calls ------------------------------------------------------------------------

    def _call(self, fn: Any, tag: object) -> None:
        call = Call(fn, tag)
        call.setAutoDelete(False)
        self._calls.add(call)
        call.signals.result.connect(self._on_result)
        call.signals.error.connect(self._on_error)
        self.pool.start(call)

    def _forget(self, tag: object) -> None:
        self._calls = {c for c in self._calls if c.tag != tag}

    def _on_result(self, tag: object, value: Any) -> None:
        self._forget(tag)
        if self._closed:
            return  # a call that finished while the window closed
        if tag == "model":
            self._on_model(value)
        elif isinstance(tag, tuple) and tag == ("search", self._search_seq):
            self._show_hits(value)  # (results of a superseded query are dropped)

    def _on_error(self, tag: object, message: str) -> None:
        self._forget(tag)
        if self._closed:
            return
        if tag == "model":
            self.state_label.setText("No model")
            self.progress_bar.setVisible(False)
            self._set_model_state(MODEL_FAILED)
        self.show_message(message)

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

    # -- search and browse ------------------------------------------------------------------

    def focus_search(self) -> None:
        self.pages.setCurrentIndex(0)
        self.search_field.setFocus()
        self.search_field.selectAll()

    def _schedule_search(self) -> None:
        self._debounce.start()

    def _filters(self) -> dict[str, str | None]:
        def day(edit: QDateEdit) -> str | None:
            d = edit.date()
            return None if d == _NO_DATE else d.toString("yyyy-MM-dd")

        return {"folder": self.folder_filter.currentData(),
                "after": day(self.after_filter), "before": day(self.before_filter)}

    def run_search(self) -> None:
        self._debounce.stop()
        query = self.search_field.text().strip()
        self._search_seq += 1
        filters = self._filters()
        lib = self.library
        if not query:
            # No query: browse the library, newest first (no model needed).
            photos = lib.catalog.browse(BROWSE_LIMIT, folder=filters["folder"])
            allowed = (lib.catalog.filter_ids(**filters)
                       if filters["after"] or filters["before"] else None)
            self._show_photos([(p, None) for p in photos if allowed is None or p.id in allowed])
            return
        if not self._model_loaded:
            self.show_message("")
            self.state_label.setText("Search starts when the model is ready…")
            return
        self._call(lambda: lib.searcher().search(query, top=SEARCH_TOP, **filters),
                   ("search", self._search_seq))

    def find_similar(self, photo_id: int) -> None:
        photo = self.library.catalog.photo(photo_id)
        if photo is None or not self._model_loaded:
            return
        self._search_seq += 1
        self.search_field.blockSignals(True)
        self.search_field.setText(f"similar to {Path(photo.path).name}")
        self.search_field.blockSignals(False)
        lib = self.library
        self._call(lambda: lib.searcher().similar(photo.path, top=SEARCH_TOP),
                   ("search", self._search_seq))

    def _show_hits(self, hits: list[SearchHit]) -> None:
        photos = self.library.catalog.photos_by_ids(h.photo_id for h in hits)
        self._show_photos([(photos[h.photo_id], h.score) for h in hits if h.photo_id in photos])

    def _show_photos(self, rows: list[tuple[Photo, float | None]]) -> None:
        thumbs = self.library.paths.thumbnails
        items = [GridItem(p.id, p.path, thumbnail_path(thumbs, p.hash) if p.hash else None, s)
                 for p, s in rows]
        self.grid_model.set_items(items)
        self._refresh_empty_state()
        if items:
            self.grid.setCurrentIndex(self.grid_model.index(0))
        else:
            self.preview.show_photo(None)
        self.search_done.emit(len(items))

    def _refresh_empty_state(self) -> None:
        if self.grid_model.rowCount():
            self.empty_label.setVisible(False)
            return
        if not self.library.catalog.roots():
            text = ("Drop a folder of photos here (or File ▸ Add Folder…).\n"
                    "photoclip indexes it, then you find any photo by typing what is in it.")
        elif self.search_field.text().strip():
            text = "No matching photos. Try other words, or clear the filters."
        elif self._job is not None:
            text = "Indexing… photos appear here as they are added."
        else:
            text = "No photos yet in these folders."
        self.empty_label.setText(text)
        self.empty_label.setVisible(True)

    def refresh_filters(self) -> None:
        current = self.folder_filter.currentData()
        self.folder_filter.blockSignals(True)
        self.folder_filter.clear()
        self.folder_filter.addItem("All folders", None)
        for root in self.library.catalog.roots():
            self.folder_filter.addItem(Path(root.path).name or root.path, root.path)
            self.folder_filter.setItemData(self.folder_filter.count() - 1, root.path,
                                           Qt.ItemDataRole.ToolTipRole)
        self.folder_filter.setCurrentIndex(max(0, self.folder_filter.findData(current)))
        self.folder_filter.blockSignals(False)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self.preview.show_photo(None)
            return
        item = self.grid_model.item(current.row())
        self.preview.show_photo(self.library.catalog.photo(item.photo_id), item.score)

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if obj is self.grid and isinstance(event, QKeyEvent) and (
                event.type() == event.Type.KeyPress):
            if event.key() == Qt.Key.Key_Space:
                self.preview.setVisible(not self.preview.isVisible())
                return True
            if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
                self.show_message("photoclip never deletes your photos; to stop showing a "
                                  "folder, use File ▸ Remove Folder….")
                return True
        return super().eventFilter(obj, event)

    # -- adding and indexing ----------------------------------------------------------------

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos")
        if folder:
            self.add_folders([folder])

    def _choose_folder_to_remove(self) -> None:
        roots = [r.path for r in self.library.catalog.roots()]
        if not roots:
            return
        folder, ok = QInputDialog.getItem(
            self, "Remove a folder", "Forget this folder (the photos stay on disk):", roots, 0,
            False)
        if ok and folder:
            self.remove_folders([folder])

    def remove_folders(self, folders: list[str]) -> None:
        try:
            self.library.remove_roots(folders)
        except Exception as exc:
            self.show_message(str(exc))
            return
        if self._watcher is not None:
            self._watcher.roots_changed()
        self.refresh_filters()
        self._show_counts("Folder removed")
        self.run_search()

    def add_folders(self, folders: list[str]) -> None:
        try:
            roots = self.library.add_roots(folders)
        except Exception as exc:
            self.show_message(str(exc))
            return
        self.refresh_filters()
        self._refresh_empty_state()
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
        if self._job is not None or not self._model_loaded or self._closed:
            return
        watcher = self.library.watcher(**self._watch_options)
        self._watcher = watcher
        self._job = JobWorker(watcher.run, self)
        self._job.progress.connect(self._on_progress)
        self._job.failed.connect(self.show_message)
        self._job.done.connect(self._on_job_done)
        self.pause_button.setChecked(False)
        self.state_label.setText("Checking folders for changes…")
        self._job.start()

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
        paused = " · paused" if self._watcher is not None and self._watcher.paused else ""
        self.state_label.setText(f"Indexing {p.done} / {p.total}{rate}{failed}{paused}")

    def _on_watch_note(self, p: Progress) -> None:
        event = p.extra.get("event")
        if event in ("batch", "catch-up"):
            self._set_busy(False)
            self.state_label.setText(f"{_sentence(p.message)} · watching for changes")
            self.index_finished.emit()
            if not self.search_field.text().strip():
                self.run_search()  # browsing: show what just arrived
        elif event == "watching":
            self._set_busy(False)
            self.state_label.setText(_sentence(p.message))  # folder names keep their case
        elif p.message:
            self.state_label.setText(p.message)

    def _toggle_pause(self, paused: bool) -> None:
        if self._watcher is None:
            return
        if paused:
            self._watcher.pause()  # events are still collected; nothing is lost
            self.pause_button.setText("Resume")
            self.state_label.setText(self.state_label.text() + " · pausing after this batch")
        else:
            self._watcher.resume()
            self.pause_button.setText("Pause")
        self._set_busy(self.progress_bar.isVisible())

    def cancel_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.state_label.setText("Stopping after this batch…")

    def _on_job_done(self) -> None:
        job, self._job = self._job, None
        self._watcher = None
        if job is not None:
            job.wait()
            job.deleteLater()
        self._set_busy(False)
        self.pause_button.setChecked(False)
        if not self._closed:
            self._show_counts("Not watching folders (File ▸ Update Library to resume)")
            self.run_search()

    # -- label sets and tags -----------------------------------------------------------------

    def _label_sets_changed(self, *_args: object) -> None:
        """Label sets were edited or re-tagged: the preview's rows and its completer follow
        (a renamed label shows its new name, a removed one goes)."""
        if not self._closed:
            self.preview.tags.refresh()

    # -- settings ---------------------------------------------------------------------------

    def _on_model_switched(self, model: str) -> None:
        """The training page switched the library's model: index with the new one from now."""
        if self._job is not None:
            self._job.cancel()  # the watcher's indexer holds the old model
            self._job.wait()
            self._on_job_done()
        self.load_model()

    def open_settings(self) -> None:
        qs = QSettings()
        dialog = SettingsDialog(self.library.settings,
                                str(qs.value("library", str(self.library.paths.root))), self)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        qs.setValue("library", dialog.library_folder())
        if self.library.apply_settings(dialog.result_settings()):
            if self._job is not None:
                self._job.cancel()
                self._job.wait()
                self._on_job_done()
            self.load_model()

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
            self.pages.setCurrentIndex(0)
            self.search_field.setText(" + ".join(f'similar:"{p}"' for p in photos))
            self.run_search()
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
        qs.setValue("window/splitter", self.splitter.saveState())
        if self._job is not None:
            self._job.cancel()
            self._job.wait()
        self.pool.waitForDone(5000)
        self.grid_model.loader.wait()
        self.preview.wait()
        self.labelsets_page.shutdown()
        self.training_page.shutdown()
        self.library.close()
        super().closeEvent(event)


class ElidedLabel(QLabel):
    """A one-line label that shows as much of its text as fits, ending in "…", rather than
    widening the window to fit all of it. text() is the whole text; so is the tooltip (its own,
    else the text when cut)."""

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def elided(self) -> str:
        """The text as shown."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             self.contentsRect().width())

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        self.style().drawItemText(painter, self.contentsRect(), int(self.alignment()),
                                  self.palette(), self.isEnabled(), self.elided(),
                                  self.foregroundRole())

    def event(self, e: QEvent) -> bool:
        if isinstance(e, QHelpEvent) and e.type() == QEvent.Type.ToolTip and (
                not self.toolTip() and self.elided() != self.text()):
            QToolTip.showText(e.globalPos(), self.text(), self)
            return True
        return super().event(e)


def _sentence(text: str) -> str:
    """The first letter up, the rest as it is (str.capitalize would lower folder names)."""
    return text[:1].upper() + text[1:]


def _folders(n: int) -> str:
    return f"{n} folder" + ("" if n == 1 else "s")


def _megabytes(done: int, total: int) -> str:
    """'312/605 MB' (MB as the hub shows sizes: 10^6 bytes); tenths for small models."""
    fmt = ".0f" if total >= 100e6 else ".1f"
    return f"{done / 1e6:{fmt}}/{total / 1e6:{fmt}} MB"
