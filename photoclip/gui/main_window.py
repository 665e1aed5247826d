"""The main window: search field, photo grid, drop folders to add them, status bar."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMargins, QThreadPool, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QLineEdit,
    QListView,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.indexer import thumbnail_path
from photoclip.core.library import Library
from photoclip.core.types import Progress, SearchHit
from photoclip.gui.models import THUMB, GridItem, PathRole, PhotoGridModel
from photoclip.gui.workers import Call, JobWorker

log = logging.getLogger(__name__)

# Wait this long after the last keystroke before searching: fast typists send one query.
SEARCH_DEBOUNCE_MS = 250
SEARCH_TOP = 200


class MainWindow(QMainWindow):
    model_ready = Signal()
    search_done = Signal(int)  # number of results shown
    index_finished = Signal()

    def __init__(self, *, library: Library | None = None, load_model: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("photoclip")
        self.resize(1100, 760)
        self.setAcceptDrops(True)
        self.library = library if library is not None else Library()
        self.pool = QThreadPool.globalInstance()
        self._calls: set[Call] = set()
        self._job: JobWorker | None = None
        self._pending_roots: list[str] = []
        self._search_seq = 0
        self._model_loaded = False
        self._closed = False

        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText(
            "Describe a photo: 'dog on a beach -people'   (Ctrl+F)")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.textChanged.connect(self._schedule_search)
        self._debounce = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.run_search)

        self.grid_model = PhotoGridModel()
        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setUniformItemSizes(True)
        self.grid.setIconSize(THUMB)
        self.grid.setGridSize(THUMB.grownBy(QMargins(12, 12, 12, 30)))
        self.grid.setSpacing(6)
        self.grid.setWordWrap(False)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setModel(self.grid_model)
        self.grid.activated.connect(self._open_photo)

        self.empty_label = QLabel()
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet("color: #666; font-size: 15px; padding: 24px;")

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.search_field)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.grid, 1)
        self.setCentralWidget(central)

        self.status = QStatusBar()
        self.setStatusBar(self.status)
        self.state_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(260)
        self.progress_bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_job)
        self.status.addWidget(self.state_label, 1)
        self.status.addPermanentWidget(self.progress_bar)
        self.status.addPermanentWidget(self.cancel_button)

        self._build_menu()
        self._refresh_empty_state()
        if load_model:
            self.load_model()

    # -- menus ------------------------------------------------------------------------------

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        add = QAction("&Add Folder…", self, shortcut=QKeySequence("Ctrl+O"))
        add.triggered.connect(self._choose_folder)
        file_menu.addAction(add)
        reindex = QAction("&Update Library", self, shortcut=QKeySequence("F5"))
        reindex.triggered.connect(lambda: self.start_index(None))
        file_menu.addAction(reindex)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        find = QAction("Find", self, shortcut=QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: (self.search_field.setFocus(),
                                        self.search_field.selectAll()))
        self.addAction(find)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos")
        if folder:
            self.add_folders([folder])

    # -- model ------------------------------------------------------------------------------

    def load_model(self) -> None:
        self.state_label.setText(f"Loading model {self.library.settings.model}…")

        def load() -> str:
            _ = self.library.vectors  # loads the encoder, then heals the vector cache
            return self.library.encoder.device

        self._call(load, "model")

    def _on_model(self, device: str) -> None:
        self._model_loaded = True
        n = self.library.catalog.count_photos("ok")
        self.state_label.setText(f"Model ready on {device} · {n} photos")
        self.model_ready.emit()
        if self._pending_roots:
            roots, self._pending_roots = self._pending_roots, []
            self.start_index(roots)
        elif self.search_field.text().strip():
            self.run_search()

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
        self.show_error(message)

    def show_error(self, message: str) -> None:
        # Non-modal: the message stays in the status bar; the window keeps working.
        self.state_label.setText(f"⚠ {message}")
        self.state_label.setToolTip(message)
        log.warning("%s", message)

    # -- search -----------------------------------------------------------------------------

    def _schedule_search(self) -> None:
        self._debounce.start()

    def run_search(self) -> None:
        query = self.search_field.text().strip()
        self._search_seq += 1
        if not query:
            self.grid_model.set_items([])
            self._refresh_empty_state()
            return
        if not self._model_loaded:
            return  # searched again as soon as the model is ready
        lib = self.library
        self._call(lambda: lib.searcher().search(query, top=SEARCH_TOP),
                   ("search", self._search_seq))

    def _show_hits(self, hits: list[SearchHit]) -> None:
        photos = self.library.catalog.photos_by_ids(h.photo_id for h in hits)
        thumbs = self.library.paths.thumbnails
        items = []
        for h in hits:
            p = photos.get(h.photo_id)
            items.append(GridItem(h, thumbnail_path(thumbs, p.hash) if p and p.hash else None))
        self.grid_model.set_items(items)
        self._refresh_empty_state()
        self.search_done.emit(len(items))

    def _refresh_empty_state(self) -> None:
        if self.grid_model.rowCount():
            self.empty_label.setVisible(False)
            return
        if not self.library.catalog.roots():
            text = ("Drop a folder of photos here (or File ▸ Add Folder…) — photoclip indexes "
                    "it, then find any photo by typing what is in it.")
        elif self.search_field.text().strip():
            text = "No matching photos."
        else:
            text = "Type what you are looking for: “sunset over the sea”, “cat -dog”."
        self.empty_label.setText(text)
        self.empty_label.setVisible(True)

    def _open_photo(self, index: Any) -> None:
        path = index.data(PathRole)
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    # -- adding and indexing ----------------------------------------------------------------

    def add_folders(self, folders: list[str]) -> None:
        try:
            roots = self.library.add_roots(folders)
        except Exception as exc:
            self.show_error(str(exc))
            return
        self._refresh_empty_state()
        paths = [r.path for r in roots]
        if not self._model_loaded:
            self._pending_roots += paths
            self.state_label.setText(f"Added {len(paths)} folder(s); indexing starts when the "
                                     "model is ready…")
            return
        self.start_index(paths)

    def start_index(self, root_paths: list[str] | None) -> None:
        if self._job is not None:
            # One indexing job at a time; the queued folders follow when it ends.
            self._pending_roots += root_paths or [r.path for r in self.library.catalog.roots()]
            return
        lib = self.library
        wanted = set(root_paths) if root_paths is not None else None
        roots = [r for r in lib.catalog.roots() if wanted is None or r.path in wanted]
        indexer = lib.indexer()
        self._job = JobWorker(lambda cancel: indexer.run(roots, cancel), self)
        self._job.progress.connect(self._on_progress)
        self._job.failed.connect(self.show_error)
        self._job.done.connect(self._on_job_done)
        self.progress_bar.setVisible(True)
        self.progress_bar.setRange(0, 0)
        self.cancel_button.setVisible(True)
        self.state_label.setText("Scanning folders…")
        self._job.start()

    def _on_progress(self, p: Progress) -> None:
        if p.job == "scan":
            self.state_label.setText(f"Scanning… {p.done} photos found")
            return
        if p.finished:
            self.state_label.setText(f"Indexing finished: {p.message}")
            return
        self.progress_bar.setRange(0, max(p.total, 1))
        self.progress_bar.setValue(p.done)
        rate = f" · {p.rate:.1f} photos/s" if p.rate else ""
        failed = f" · {p.failed} skipped" if p.failed else ""
        self.state_label.setText(f"Indexing {p.done} / {p.total}{rate}{failed}")

    def cancel_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.state_label.setText("Stopping after this batch…")

    def _on_job_done(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.wait()
            job.deleteLater()
        self.progress_bar.setVisible(False)
        self.cancel_button.setVisible(False)
        self._refresh_empty_state()
        self.index_finished.emit()
        if self._pending_roots:
            roots, self._pending_roots = self._pending_roots, []
            self.start_index(sorted(set(roots)))
        elif self.search_field.text().strip():
            self.run_search()

    # -- drag and drop ----------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(Path(u.toLocalFile()).is_dir() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folders = [u.toLocalFile() for u in event.mimeData().urls()
                   if u.isLocalFile() and Path(u.toLocalFile()).is_dir()]
        if folders:
            event.acceptProposedAction()
            self.add_folders(folders)

    # -- closing ----------------------------------------------------------------------------

    def closeEvent(self, event: Any) -> None:
        if self._closed:
            super().closeEvent(event)
            return
        self._closed = True
        if self._job is not None:
            self._job.cancel()
            self._job.wait()
        self.pool.waitForDone(5000)
        self.library.close()
        super().closeEvent(event)
