"""The photo grid's model: photos (search hits or the browsed library) with async thumbnails,
and the background calls that fetch what it shows.

The rows come from one core call run off the UI thread (`browse_results`, `search_results`):
light (id, path, hash, score) tuples, 100,000 of them in a fraction of a second. The model
hands them to the view a chunk at a time (`fetchMore`), and makes everything else a row needs
(its name, its thumbnail's path, its pixmap) only when the view paints that row.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor, QIcon, QPixmap

from photoclip.core.library import DEFAULT_CUTOFF, Library
from photoclip.core.types import Photo
from photoclip.gui.thumbnails import THUMB, ThumbnailLoader

# "More / fewer": the CLI's --cutoff Z and --top K, from strictest to most. A hit must stand Z
# background deviations above the library (0: no cutoff, the best K whatever they score).
LADDER: tuple[tuple[float, int], ...] = (
    (5.0, 500), (4.0, 500), (3.0, 500), (2.0, 500), (1.5, 500), (1.0, 500),
    (0.0, 500), (0.0, 1000), (0.0, 2000), (0.0, 5000), (0.0, 10_000))
DEFAULT_STEP = next(n for n, (z, _) in enumerate(LADDER) if z == DEFAULT_CUTOFF)

PhotoIdRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
ScoreRole = Qt.ItemDataRole.UserRole + 3
# Photos dragged from the grid (onto an album): their ids, as JSON.
PHOTO_IDS_MIME = "application/x-photoclip-photo-ids"
Marks = dict[int, tuple[int, bool]]  # photo id -> (stars, favourite), rated or favourite only

Index = QModelIndex | QPersistentModelIndex
# (photo id, path, content hash) when browsing, (..., score) for a search's hits
Row = tuple[Any, ...]
# Rows handed to the view at first; each fetchMore doubles what is shown, so even the end of
# 100,000 photos is a few fetches away while the first screen costs 500 rows.
CHUNK = 500


@dataclass(frozen=True)
class GridItem:
    photo_id: int
    path: str
    thumbnail: Path | None
    score: float | None = None  # None when browsing (no query)


@dataclass(frozen=True)
class Results:
    """What one browse or search found, fetched off the UI thread: the rows in order, the
    photos of the first ones (the preview shows those without asking the catalog), and how
    many photos the library has."""

    rows: list[Row]
    library_size: int
    photos: dict[int, Photo] = field(default_factory=dict)
    marks: Marks = field(default_factory=dict)  # the library's stars and favourites
    months: list[tuple[str, int]] = field(default_factory=list)  # browsing: ("YYYY-MM", n)
    plan: Plan | None = None  # a refresh's diff against the rows shown (see `planned`)


@dataclass(frozen=True)
class Plan:
    """How the rows a view shows (`old[:shown]`) become the first rows of a new list: runs of
    rows to remove (bottom up) and to insert (top down, [first, end) of the new list)."""

    old: list[Row]
    shown: int
    unchanged: bool = False  # no row the view shows moves
    removed: list[tuple[int, int]] = field(default_factory=list)  # (first, last), inclusive
    inserted: list[tuple[int, int]] = field(default_factory=list)  # (first, end)
    new_shown: int = 0


def plan_update(old: list[Row], shown: int, new: list[Row]) -> Plan:
    """The diff from the rows shown to `new`. Rows kept keep their order (a greedy increasing
    match), so the view keeps its selection on them. Plain Python, no Qt: it runs in the
    worker that fetched `new` (PhotoGridModel.planned), or on the UI thread as a fallback."""
    limit = min(shown, len(new))
    start = 0  # the first shown row that differs
    while start < limit and old[start] == new[start]:
        start += 1
    if start >= shown:  # the change is below what the view has
        return Plan(old, shown, unchanged=True)
    grown = len(new) - len(old)
    if grown > 0 and old[start:shown] == new[start + grown:shown + grown]:
        # One run of photos came (a batch, all newer or older than the rest): one insert.
        return Plan(old, shown, inserted=[(start, start + grown)], new_shown=shown + grown)
    position = dict(zip(new[start:], itertools.count(start), strict=False))
    kept: dict[int, int] = {}  # old row -> new row, both increasing
    last = start - 1
    for row in range(start, shown):
        n = position.get(old[row], -1)
        if n > last:
            kept[row] = last = n
    removed = []
    row = shown - 1
    while row >= start:
        if row in kept:
            row -= 1
            continue
        end = row
        while row >= start and row not in kept:
            row -= 1
        removed.append((row + 1, end))
    new_shown = max(last + 1, min(len(new), shown))
    arrived = set(kept.values())
    inserted = []
    n = start
    while n < new_shown:
        if n in arrived:
            n += 1
            continue
        first = n
        while n < new_shown and n not in arrived:
            n += 1
        inserted.append((first, n))
    return Plan(old, shown, removed=removed, inserted=inserted, new_shown=new_shown)


def browse_results(library: Library, folder: str | None, after: str | None,
                   before: str | None, order: str = "taken") -> Results:
    """The library with no query, newest taken first (or in another order: then no months,
    the timeline being by date taken). Runs off the UI thread."""
    rows = library.browse(folder, after, before, order)  # as they come: no loop holding the GIL
    first = library.catalog.photos_by_ids(r[0] for r in rows[:CHUNK])
    albums = library.albums
    return Results(rows, library.catalog.count_photos("ok"), first, albums.marked(),
                   albums.months(folder, after, before) if order == "taken" else [])


def album_results(library: Library, name: str, order: str | None = None) -> Results:
    """A plain album's photos, in the order they were added or (`order`) as the library is
    browsed. Runs off the UI thread."""
    photos = library.albums.photos(name)
    if order not in (None, "album"):
        by_id = {p.id: p for p in photos}
        photos = [by_id[i] for i in library.catalog.ordered_ids(by_id, order)]
    rows: list[Row] = [(p.id, p.path, p.hash) for p in photos]
    return Results(rows, library.catalog.count_photos("ok"), {p.id: p for p in photos[:CHUNK]},
                   library.albums.marked())


def search_results(library: Library, search: Callable[[], list[Any]],
                   order: str = "score") -> Results:
    """The hits of `search()` (a Searcher call) with their photos, best first or in another
    order of the library's. Runs off the UI thread."""
    hits = search()
    photos = library.catalog.photos_by_ids(h.photo_id for h in hits)
    if order != "score":
        by_id = {h.photo_id: h for h in hits}
        hits = [by_id[i] for i in library.catalog.ordered_ids(by_id, order)]
    rows: list[Row] = [(h.photo_id, photos[h.photo_id].path, photos[h.photo_id].hash, h.score)
                       for h in hits if h.photo_id in photos]
    return Results(rows, library.catalog.count_photos("ok"), photos, library.albums.marked())


def similar_results(library: Library, like: str | list[int], top: int, cutoff: float | None,
                    order: str = "score") -> Results:
    """Photos like the photo at a path, or like several library photos at once (the mean of
    their vectors). Runs off the UI thread."""
    def hits() -> list[Any]:
        s = library.searcher()
        if isinstance(like, str):
            return s.similar(like, top=top, cutoff=cutoff)
        return s.similar_to_photos(like, top=top, cutoff=cutoff)

    return search_results(library, hits, order)


class PhotoGridModel(QAbstractListModel):
    """Holds plain tuples only; names, thumbnail paths and pixmaps are made for the rows the
    view paints, so 100,000 photos cost a list, not 100,000 images."""

    def __init__(self, loader: ThumbnailLoader | None = None,
                 thumbnail_for: Callable[[str], Path] | None = None) -> None:
        super().__init__()
        self._rows: list[Row] = []
        self._shown = 0  # rows the view has been given (see fetchMore)
        self._changing = False
        self._photos: dict[int, Photo] = {}
        self._rows_by_thumb: dict[str, set[int]] = {}
        self._thumbnail_for = thumbnail_for
        self.marks: Marks = {}
        self.show_scores = False
        self.loader = loader or ThumbnailLoader()
        self.loader.ready.connect(self._thumbnail_ready)
        placeholder = QPixmap(THUMB)
        placeholder.fill(QColor("#dcdcdc"))
        self._placeholder = QIcon(placeholder)

    # -- filling ----------------------------------------------------------------------------

    def set_rows(self, rows: list[Row], photos: dict[int, Photo] | None = None, *,
                 keep: bool = False, plan: Plan | None = None) -> None:
        """Show `rows`. keep=False: a new list (the view starts over at its top). keep=True:
        the same query again with photos added or gone; only the rows that changed are
        removed and inserted, so the view keeps its selection and what it shows."""
        self._photos = dict(photos or {}) if not keep else {**self._photos, **(photos or {})}
        self._rows_by_thumb = {}
        self._changing = True  # no fetchMore from a view reacting to one step of the change
        try:
            if keep:
                self._update(list(rows), plan)
            else:
                self.loader.clear_pending()
                self.beginResetModel()
                self._rows = list(rows)
                self._shown = min(len(rows), CHUNK)
                self.endResetModel()
        finally:
            self._changing = False
        self.show_up_to(CHUNK)  # a short list that grew shows its first chunk whole

    def planned(self, fetch: Callable[[], Results]) -> Callable[[], Results]:
        """`fetch` for a refresh (keep=True), which also works out, off the UI thread, how
        the rows shown now become the new ones: at 100,000 rows that diff is what would stall
        the window when a batch of photos lands."""
        old, shown = self._rows, self._shown  # read here, on the UI thread

        def run() -> Results:
            results = fetch()
            return replace(results, plan=plan_update(old, shown, results.rows))

        return run

    def _update(self, new: list[Row], plan: Plan | None) -> None:
        """Turn the shown rows into the first rows of `new` by removing the rows that went
        and inserting those that came, in runs; rows that stayed keep their indexes (and so
        the selection). `plan` is the diff if it was made against the rows shown now."""
        old, shown = self._rows, self._shown
        if plan is None or plan.old is not old or plan.shown != shown:
            plan = plan_update(old, shown, new)  # the rows moved on since: diff them here
        if plan.unchanged:  # nothing the view shows moves
            self._rows = new
            return
        current = old[:shown]  # what the view has, step by step
        for first, end in plan.removed:  # bottom up
            self.beginRemoveRows(QModelIndex(), first, end)
            del current[first:end + 1]
            self._rows, self._shown = current, len(current)
            self.endRemoveRows()
        for first, end in plan.inserted:  # top down
            self.beginInsertRows(QModelIndex(), first, end - 1)
            current[first:first] = new[first:end]
            self._rows, self._shown = current, len(current)
            self.endInsertRows()
        self._rows, self._shown = new, plan.new_shown

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not (parent.isValid() or self._changing) and self._shown < len(self._rows)

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self.show_up_to(self._shown + max(CHUNK, self._shown))

    def show_up_to(self, count: int) -> None:
        """Give the view at least the first `count` rows (all there are, at most)."""
        count = min(count, len(self._rows))
        if count <= self._shown or self._changing:
            return
        self._changing = True
        try:
            self.beginInsertRows(QModelIndex(), self._shown, count - 1)
            self._shown = count
            self.endInsertRows()
        finally:
            self._changing = False

    def set_marks(self, marks: Marks) -> None:
        """The stars and favourites to show (the library's, as read with the rows)."""
        if marks == self.marks:
            return
        self.marks = dict(marks)
        if self._shown:
            self.dataChanged.emit(self.index(0), self.index(self._shown - 1),
                                  [Qt.ItemDataRole.DisplayRole])

    def ids(self, rows: Iterable[int] | None = None) -> list[int]:
        """The photo ids of these rows (all rows found when None, shown or not)."""
        if rows is None:
            return [r[0] for r in self._rows]
        return [self._rows[n][0] for n in rows]

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        return flags | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else flags

    def mimeTypes(self) -> list[str]:
        return [PHOTO_IDS_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        mime = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime.setData(PHOTO_IDS_MIME, json.dumps(self.ids(rows)).encode())
        return mime

    def set_show_scores(self, show: bool) -> None:
        self.show_scores = show
        if self._shown:
            self.dataChanged.emit(self.index(0), self.index(self._shown - 1),
                                  [Qt.ItemDataRole.DisplayRole])

    # -- reading ----------------------------------------------------------------------------

    @property
    def total(self) -> int:
        """Rows found, shown to the view or not yet."""
        return len(self._rows)

    def item(self, row: int) -> GridItem:
        r = self._rows[row]
        return GridItem(r[0], r[1], self._thumbnail(r[2]), r[3] if len(r) > 3 else None)

    def photo(self, row: int) -> Photo | None:
        """The row's photo if it came with the results (else the caller asks the catalog)."""
        return self._photos.get(self._rows[row][0])

    def remember(self, photo: Photo) -> None:
        self._photos[photo.id] = photo

    def row_of(self, photo_id: int) -> int | None:
        """The row of a photo among those the view has."""
        for row in range(self._shown):
            if self._rows[row][0] == photo_id:
                return row
        return None

    def _thumbnail(self, digest: str | None) -> Path | None:
        if digest is None or self._thumbnail_for is None:
            return None
        return self._thumbnail_for(digest)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._shown

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= self._shown:
            return None
        r = self._rows[index.row()]
        photo_id, path, digest, score = r[0], r[1], r[2], r[3] if len(r) > 3 else None
        if role == Qt.ItemDataRole.DisplayRole:
            name = Path(path).name
            stars, fav = self.marks.get(photo_id, (0, False))
            name = ("♥ " if fav else "") + ("★" * stars + " " if stars else "") + name
            return f"{score:.3f}  {name}" if self.show_scores and score is not None else name
        if role == Qt.ItemDataRole.DecorationRole:
            thumb = self._thumbnail(digest)
            if thumb is None:
                return self._placeholder
            pix = self.loader.get(thumb, path)
            if pix is None:  # on its way: repaint this row when it comes
                self._rows_by_thumb.setdefault(str(thumb), set()).add(index.row())
                return self._placeholder
            return QIcon(pix)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{path}\nscore {score:.3f}" if score is not None else path
        if role == PhotoIdRole:
            return photo_id
        if role == PathRole:
            return path
        if role == ScoreRole:
            return score
        return None

    def _thumbnail_ready(self, key: str) -> None:
        for row in sorted(self._rows_by_thumb.pop(key, ())):
            if row < self._shown:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
