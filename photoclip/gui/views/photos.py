"""The Photos page: the search field with its folder and date filters, the photo grid, and the
preview pane of the selected photo.

Everything that reads the catalog or runs the model happens off the UI thread: browsing,
searching, the folder list, the selected photo's facts. The newest request wins (a query typed
over, a filter changed again drops the older answer). New photos landing (`photos_landed`)
re-run the query shown, at most twice a second, keeping the selection and what the grid shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.api import Tagger
from photoclip.core.library import Library
from photoclip.core.types import Photo, Root
from photoclip.gui.jobs import Calls, LatestCall
from photoclip.gui.models import (
    DEFAULT_STEP,
    LADDER,
    PhotoGridModel,
    Results,
    album_results,
    browse_results,
    search_results,
    similar_results,
)
from photoclip.gui.views.albums import AlbumsPanel, query_with_filters
from photoclip.gui.views.grid_widgets import (
    NO_DATE,
    ScrollAnchor,
    date_edit,
    fill_folders,
    photo_grid,
)
from photoclip.gui.views.messages import MessageLabel
from photoclip.gui.views.preview import PreviewPane
from photoclip.gui.views.selection import BulkActions, SelectionBar
from photoclip.gui.views.sorting import SortBox, count_text, empty_text
from photoclip.gui.views.timeline import Timeline
from photoclip.gui.views.viewer import Viewer

# Wait this long after the last keystroke before searching: fast typists send one query.
SEARCH_DEBOUNCE_MS = 250
# New photos landing re-run the query at most this often: the grid fills as indexing goes
# without re-sorting the library after every batch.
LANDED_INTERVAL_MS = 500


class PhotosPage(QWidget):
    search_done = Signal(int)  # photos found (shown now or as the grid scrolls)
    message = Signal(str)  # a problem to show in the window's message area, with the fix
    status = Signal(str)  # what the page is waiting for, for the window's status line

    def __init__(self, library: Library, calls: Calls, tagger: Callable[[], Tagger | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self._searches = LatestCall(calls)  # browse and search: the newest one's rows count
        self._roots = LatestCall(calls)
        self._photo_reads = LatestCall(calls)
        self._model_ready = False
        self._model_problem: str | None = None  # why a search cannot run (the window says)
        self._indexing = False  # the window's indexer is running (see the empty grid's text)
        self._has_roots: bool | None = None  # unknown until the folder list is read
        # The grid shows photos like this one (a path) or these (photo ids, a selection).
        self._similar_path: str | list[int] | None = None
        self._album: str | None = None  # the grid shows this (plain) album
        self._step = DEFAULT_STEP
        self._last_run = 0.0  # time.monotonic() of the last query sent
        self._running_fresh = False  # a new query (not a refresh) is on its way
        self._results: Results | None = None
        self._failed = False  # the query shown failed: its error is in `note`
        self._in_flight = False  # the newest query has not answered yet

        self._build_search_bar()
        self._build_results_bar()
        self._build_grid()
        self.bulk = BulkActions(library, calls, self.grid, self.grid_model)
        self.selection_bar = SelectionBar(self.bulk)
        for sig in (self.grid.selectionModel().selectionChanged, self.grid_model.modelReset):
            sig.connect(self.selection_bar.refresh)
        self.bulk.edited.connect(self._edited)
        self.bulk.similar.connect(self.find_similar_to)
        self.bulk.space.connect(self.toggle_preview)
        self.bulk.delete.connect(lambda: self.message.emit(
            "photoclip never deletes your photos; to stop showing a folder, use File ▸ Remove "
            "Folder…."))
        self.viewer = Viewer(library, calls, self.bulk, self)
        self.albums = AlbumsPanel(library, calls, lambda: query_with_filters(  # a smart album's
            "" if self._similar_path else self.search_field.text(), *self._filters()))
        self.albums.chosen.connect(self.show_album)
        self.albums.dropped.connect(lambda name, ids: self.bulk.add_to_album(name, ids))
        self.albums.names_changed.connect(lambda names: setattr(self.bulk, "album_names", names))
        self.preview = PreviewPane()
        self.preview.find_similar.connect(self.find_similar)
        self.preview.tags.attach(library, tagger)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.albums)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.selection_bar)
        left_layout.addWidget(self.empty_label)
        left_layout.addWidget(self.timeline.beside(), 1)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setSizes([180, 760, 340])

        layout = QVBoxLayout(self)
        layout.addLayout(self.search_bar)
        layout.addLayout(self.results_bar)
        layout.addWidget(self.splitter, 1)
        self.refresh_filters()

    # -- building ---------------------------------------------------------------------------

    def _build_search_bar(self) -> None:
        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText(
            "Describe a photo: 'dog on a beach -people'   (Ctrl+F)")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.textChanged.connect(self._query_changed)
        self.search_field.returnPressed.connect(self.run_search)
        self._debounce = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.run_search)
        self._landed = QTimer(self, singleShot=True)
        self._landed.timeout.connect(self._refresh)

        self.folder_filter = QComboBox()
        self.folder_filter.setMinimumWidth(180)
        self.folder_filter.setToolTip("Only photos in this folder")
        self.folder_filter.addItem("All folders", None)
        self.folder_filter.currentIndexChanged.connect(self._query_changed)
        self.after_filter = date_edit("Taken on or after")
        self.before_filter = date_edit("Taken before")
        for edit in (self.after_filter, self.before_filter):
            edit.dateChanged.connect(self._query_changed)

        self.search_bar = QHBoxLayout()
        self.search_bar.addWidget(self.search_field, 1)
        self.search_bar.addWidget(self.folder_filter)
        self.search_bar.addWidget(QLabel("from"))
        self.search_bar.addWidget(self.after_filter)
        self.search_bar.addWidget(QLabel("to"))
        self.search_bar.addWidget(self.before_filter)

    def _build_results_bar(self) -> None:
        """Under the search field: what the search said (its error, with the fix), how many
        photos it found of how many, "more / fewer", and whether the grid shows scores."""
        self.note = MessageLabel()
        self.count_label = QLabel()
        self.count_label.setTextFormat(Qt.TextFormat.RichText)
        self.count_label.linkActivated.connect(lambda _link: self.show_more())
        self.fewer_button = QToolButton()
        self.fewer_button.setText("Fewer")
        self.fewer_button.setToolTip("Stricter: only photos that stand out more")
        self.fewer_button.clicked.connect(self.show_fewer)
        self.more_button = QToolButton()
        self.more_button.setText("More")
        self.more_button.setToolTip("Looser: photos that match less well too")
        self.more_button.clicked.connect(self.show_more)
        self.scores_box = QCheckBox("Scores")
        self.scores_box.setToolTip("Show each photo's similarity to the search on the grid")
        self.scores_box.toggled.connect(lambda on: self.grid_model.set_show_scores(on))
        self.sort_box = SortBox()
        self.sort_box.changed.connect(lambda _order: self.run_search())
        self.results_bar = QHBoxLayout()
        self.results_bar.addWidget(self.note, 1)
        for w in (self.count_label, self.fewer_button, self.more_button, self.scores_box,
                  self.sort_box):
            self.results_bar.addWidget(w)
        self._show_search_controls(False)

    def _build_grid(self) -> None:
        self.grid_model = PhotoGridModel(thumbnail_for=self.library.thumbnail_path)
        self.grid = photo_grid(self.grid_model)
        self.anchor = ScrollAnchor(self.grid, self.grid_model)
        self.timeline = Timeline(self.grid, self.grid_model, self.anchor)
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid.activated.connect(lambda i: self.viewer.open_at(i.row()))

        self.empty_label = QLabel()
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: #555; font-size: 15px; padding: 24px;")

    # -- state the window tells the page ----------------------------------------------------

    def set_model_ready(self, ready: bool) -> None:
        """Searching needs the model; a query typed while it loaded runs once it is ready."""
        self._model_ready = ready
        self._model_problem = None  # loaded, or loading again
        if ready and self.search_field.text().strip():
            self.run_search()

    def set_model_problem(self, text: str) -> None:
        """The model cannot be had (the window's panel says why): a search needing it says so."""
        self._model_problem = text
        self.run_search()

    def set_indexing(self, indexing: bool) -> None:
        self._indexing = indexing

    def photos_landed(self, count: int = 0) -> None:
        """New photos are in the catalog (an indexing batch, a watcher batch): the query shown
        runs again, at most every LANDED_INTERVAL_MS, keeping the selection and the scroll."""
        if self._landed.isActive():  # `count` (0: unknown) only says that some did
            return
        waited = (time.monotonic() - self._last_run) * 1000
        self._landed.start(max(0, round(LANDED_INTERVAL_MS - waited)))

    def refresh_if_browsing(self) -> None:
        """A watcher batch landed: as photos_landed (any query re-runs, not only browsing)."""
        self.photos_landed()

    def restore_state(self, qs: QSettings) -> None:
        sizes = qs.value("window/splitter")
        if sizes is not None:
            self.splitter.restoreState(sizes)
        self.sort_box.restore(qs)

    def save_state(self, qs: QSettings) -> None:
        qs.setValue("window/splitter", self.splitter.saveState())
        self.sort_box.save(qs)

    def toggle_preview(self) -> None:
        self.preview.setVisible(not self.preview.isVisible())

    def shutdown(self) -> None:
        """Wait for the thumbnails and the preview being read (the window is closing)."""
        for timer in (self._landed, self._debounce, self.anchor):
            timer.stop()
        for call in (self._searches, self._roots, self._photo_reads):
            call.drop()
        self.albums.shutdown()
        self.viewer.shutdown()
        self.preview.tags.shutdown()
        self.grid_model.loader.wait()
        self.preview.wait()

    # -- search and browse ------------------------------------------------------------------

    def focus_search(self) -> None:
        self.search_field.setFocus()
        self.search_field.selectAll()

    def _query_changed(self) -> None:
        """The query or a filter changed: what was said about the old one goes."""
        self._similar_path = None
        if self._album is not None:  # a search is of the whole library again
            self._album = self.bulk.album = None
            self.albums.select(None)
        self.note.clear()
        if self._failed:  # the error state ends with the query that caused it
            self._failed = False
            self.refresh_empty_state()
        self._debounce.start()

    def _filters(self) -> tuple[str | None, str | None, str | None]:
        """(folder, taken on or after, taken before) as chosen; None: any."""
        def day(edit: QDateEdit) -> str | None:
            d = edit.date()
            return None if d == NO_DATE else d.toString("yyyy-MM-dd")

        return self.folder_filter.currentData(), day(self.after_filter), day(self.before_filter)

    @property
    def cutoff(self) -> tuple[float, int]:
        """(cutoff, top) the next search uses, as the CLI's --cutoff and --top."""
        return LADDER[self._step]

    def run_search(self, *, keep: bool = False) -> None:
        """Run the query shown: browse with no query, else search (once the model is ready).
        keep=True: the same query again (new photos), keeping selection and scroll."""
        self._debounce.stop()
        query = self.search_field.text().strip()
        folder, after, before = self._filters()
        lib = self.library
        self.sort_box.set_mode("album" if self._album is not None else
                               "search" if self._searching() else "browse")
        order = self.sort_box.order
        if self._album is not None:
            name = self._album
            self._send(lambda: album_results(lib, name, order), keep)
        elif self._similar_path is not None:
            like, (cutoff, top) = self._similar_path, self.cutoff
            self._send(lambda: similar_results(lib, like, top, cutoff or None, order), keep)
        elif not query:
            self._send(lambda: browse_results(lib, folder, after, before, order), keep)
        elif not self._model_ready and lib.searcher().needs_model(query):  # filters alone don't
            self._searches.drop()
            self._running_fresh = self._in_flight = False
            if self._model_problem:
                self.note.show_error(self._model_problem)
            else:
                self.note.show_info("Search starts when the model is ready…")
        else:
            cutoff, top = self.cutoff
            self._send(lambda: search_results(lib, lambda: lib.searcher().search(
                query, top=top, folder=folder, after=after, before=before,
                cutoff=cutoff or None), order), keep)

    def _send(self, fetch: Callable[[], Results], keep: bool) -> None:
        self._last_run = time.monotonic()
        if not keep:  # "waiting for the model" and the like were about the query before
            self.note.clear()
        # A refresh while a new query is on its way is that new query: it starts the grid over.
        keep = keep and not self._running_fresh
        self._running_fresh = not keep
        self._in_flight = True
        fetch = self.grid_model.planned(fetch) if keep else fetch  # the diff, off this thread
        self._searches.run(fetch, lambda r: self._show_results(r, keep), self._search_failed)

    def _refresh(self) -> None:
        if self._similar_path is None and self.search_field.text().strip() and (
                not self._model_ready):
            return
        self.run_search(keep=True)

    def show_album(self, name: str | None, query: str | None = None) -> None:
        """The album list was clicked: a plain album's photos, a smart album's search, or
        (None) the whole library."""
        if query is not None:
            self.search_field.setText(query)
            self.run_search()
            return
        self.search_field.blockSignals(True)
        self.search_field.clear()
        self.search_field.blockSignals(False)
        self._similar_path = None
        self._album = self.bulk.album = name
        self.run_search()

    def _edited(self, edit: object) -> None:
        """A change to the selection: the album list's counts, an album shown, the tags."""
        self.albums.refresh()
        self.preview.tags.refresh()
        if self._album is not None:
            self.run_search(keep=True)

    def find_similar(self, photo_id: int) -> None:
        photo = self.preview.photo
        if photo is not None and photo.id == photo_id:
            self._show_similar(f"similar to {Path(photo.path).name}", photo.path)

    def find_similar_to(self, photo_ids: list[int]) -> None:
        """Photos like all of the selected ones at once (the selection menu)."""
        self._show_similar(f"similar to {len(photo_ids):,} selected photos", list(photo_ids))

    def _show_similar(self, text: str, like: str | list[int]) -> None:
        if not self._model_ready:
            self.note.show_info("Find similar starts when the model is ready…")
            return
        self.search_field.blockSignals(True)
        self.search_field.setText(text)
        self.search_field.blockSignals(False)
        self.note.clear()
        self._album = self.bulk.album = None  # the whole library's photos like these
        self.albums.select(None)
        self._similar_path = like
        self.run_search()

    def find_like_files(self, paths: Sequence[str]) -> None:
        """Photos like these files (dropped on the window; they need not be in the library)."""
        self.search_field.setText(" + ".join(f'similar:"{p}"' for p in paths))
        self.run_search()

    def show_more(self) -> None:
        self._set_step(self._step + 1)

    def show_fewer(self) -> None:
        self._set_step(self._step - 1)

    def _set_step(self, step: int) -> None:
        step = max(0, min(len(LADDER) - 1, step))
        if step != self._step:
            self._step = step
            self.run_search(keep=True)  # the photos shown stay where they are

    # -- showing what came back -------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No query waiting to be sent or to answer: the grid shows what the catalog has."""
        return not (self._in_flight or self._debounce.isActive() or self._landed.isActive())

    def _show_results(self, results: Results, keep: bool) -> None:
        self._running_fresh = self._in_flight = False
        self._failed = False
        self._results = results
        anchor = self.anchor.first_visible() if keep else None
        self.grid_model.set_rows(results.rows, results.photos, keep=keep, plan=results.plan)
        self.grid_model.set_marks(results.marks)
        self.timeline.set_months(results.months)
        self._show_count()
        self.refresh_empty_state()
        if not keep:
            if results.rows:
                self.grid.setCurrentIndex(self.grid_model.index(0))
            else:
                self.preview.show_photo(None)
        elif anchor is not None:
            self.anchor.scroll_to(anchor)
        self.search_done.emit(len(results.rows))

    def _search_failed(self, message: str) -> None:
        """A search's error stays with it: beside the field, with no rows of an older query
        under it, until the query changes."""
        self._running_fresh = self._in_flight = False
        self._results = None
        self._failed = True
        self.grid_model.set_rows([])
        self.preview.show_photo(None)
        self.note.show_error(message)
        self._show_search_controls(False)
        self.refresh_empty_state()
        self.search_done.emit(0)

    def _searching(self) -> bool:
        return bool(self._similar_path or self.search_field.text().strip())

    def _show_search_controls(self, searching: bool) -> None:
        for w in (self.fewer_button, self.more_button, self.scores_box):
            w.setVisible(searching)
        self.count_label.setVisible(self._results is not None)

    def _show_count(self) -> None:
        r = self._results
        searching = self._searching()
        self._show_search_controls(searching)
        if r is None:
            return
        found, size = len(r.rows), r.library_size
        cutoff, top = self.cutoff
        more = searching and self._step < len(LADDER) - 1 and found < size and (
            cutoff > 0 or found >= top)
        text, tip = count_text(found, size, cutoff, top, searching=searching, more=more)
        self.count_label.setText(text)
        self.count_label.setToolTip(tip)
        self.more_button.setEnabled(more)
        self.fewer_button.setEnabled(searching and self._step > 0)

    def refresh_empty_state(self) -> None:
        text = "" if self.grid_model.rowCount() else empty_text(
            failed=self._failed, has_roots=self._has_roots, album=self._album,
            searching=self._searching(), indexing=self._indexing)
        self.empty_label.setText(text)
        self.empty_label.setVisible(bool(text))

    def refresh_filters(self) -> None:
        """Read the library's folders (off the UI thread) into the folder filter."""
        lib = self.library
        self._roots.run(lambda: lib.catalog.roots(), self._fill_filters, self.message.emit)

    def _fill_filters(self, roots: list[Root]) -> None:
        self._has_roots = bool(roots)
        if not fill_folders(self.folder_filter, [r.path for r in roots]):
            self._query_changed()  # the folder filtered on was removed: show all again
        self.refresh_empty_state()

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._photo_reads.drop()
        if not current.isValid():
            self.preview.show_photo(None)
            return
        row = current.row()
        item = self.grid_model.item(row)
        photo = self.grid_model.photo(row)
        if photo is not None:
            self.preview.show_photo(photo, item.score)
            return
        self.preview.show_loading(item.path)  # its facts come from the catalog
        lib, photo_id = self.library, item.photo_id
        self._photo_reads.run(lambda: lib.catalog.photo(photo_id),
                              lambda p: self._photo_read(p, item.score))

    def _photo_read(self, photo: Photo | None, score: float | None) -> None:
        if photo is not None:
            self.grid_model.remember(photo)
        self.preview.show_photo(photo, score)
