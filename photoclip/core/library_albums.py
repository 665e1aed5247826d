"""What `Library.albums` hands out: albums and smart albums, ratings and favourites, an album
exported as a folder of links or copies, ratings read from other apps' sidecars, and albums
as training data. The front ends name photos by path (CLI) or by id (GUI); both end here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photoclip.core import storage
from photoclip.core.catalog.albums import Album
from photoclip.core.catalog.database import in_chunks, under
from photoclip.core.catalog.photos import PHOTO_DATE
from photoclip.core.errors import LabelSetError, PhotoclipError
from photoclip.core.tagging.guards import printable
from photoclip.core.tagging.xmp import STYLES, SidecarError, read_rating, sidecar_path
from photoclip.core.training.data import Albums, read_catalog_albums
from photoclip.core.types import Photo, Progress

if TYPE_CHECKING:
    from photoclip.core.library import Library

log = logging.getLogger(__name__)

# A smart album lists at most this many photos (its text terms also stop where the results
# stop standing out, as search does).
SMART_TOP = 10_000
EXPORT_MODES = ("link", "copy")


@dataclass
class ExportReport:
    folder: str = ""
    written: int = 0  # links or copies made
    unchanged: int = 0  # already there from an earlier export
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (photo, reason)


@dataclass
class RatingReport:
    read: int = 0  # sidecars holding a rating
    changed: int = 0  # photos whose rating the sidecar changed
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (sidecar, reason)


@dataclass
class Edit:
    """One change to many photos that the window can take back (Ctrl+Z): what it did in
    words, the photos it changed, and how to put them back as they were."""

    what: str
    photo_ids: list[int]
    restore: Callable[[], object] = field(repr=False)

    def undo(self) -> None:
        self.restore()


def _photos(n: int) -> str:
    return f"{n:,} photo" + ("" if n == 1 else "s")


class LibraryAlbums:
    """Albums, ratings and favourites of one open library."""

    def __init__(self, library: Library) -> None:
        self.lib = library
        self.catalog = library.catalog

    # -- albums -----------------------------------------------------------------------------

    def all(self) -> list[Album]:
        return self.catalog.albums()

    def get(self, name: str) -> Album:
        """The album called `name` (NotFoundError when there is none)."""
        return self.catalog.find_album(name)

    def create(self, name: str, query: str | None = None) -> Album:
        """A plain album, or with `query` a smart one (checked now, without the model)."""
        if query is not None:
            self.lib.searcher().plan(query)
        return self.catalog.create_album(name, query)

    def set_query(self, name: str, query: str) -> Album:
        self.lib.searcher().plan(query)
        return self.catalog.set_album_query(name, query)

    def rename(self, name: str, new_name: str) -> Album:
        return self.catalog.rename_album(name, new_name)

    def delete(self, name: str) -> Album:
        """Forget the album; its photos stay in the library and on disk."""
        return self.catalog.delete_album(name)

    def photo_ids(self, paths: Iterable[str]) -> list[int]:
        """The library's photos named by path (NotFoundError for one it does not have)."""
        return [self.catalog.find_photo(p).id for p in paths]

    def add(self, name: str, photo_ids: Iterable[int]) -> int:
        """Put photos in a plain album; how many were not in it yet."""
        return self.catalog.add_to_album(name, photo_ids)

    def remove(self, name: str, photo_ids: Iterable[int]) -> int:
        return self.catalog.remove_from_album(name, photo_ids)

    def photos(self, name: str, top: int = SMART_TOP) -> list[Photo]:
        """The album's photos now: a plain album's in the order they were added, a smart
        album's as its query ranks them (re-run each time; text terms load the model)."""
        album = self.get(name)
        if album.query is None:
            ids = self.catalog.album_photo_ids(album.id)[:top]
        else:
            ids = [h.photo_id for h in self.lib.searcher().search(album.query, top=top)]
        found = self.catalog.photos_by_ids(ids)
        return [found[i] for i in ids if i in found]

    def albums_of(self, photo_ids: Sequence[int]) -> dict[int, list[str]]:
        """photo id -> names of the (plain) albums it is in."""
        return self.catalog.albums_of(photo_ids)

    def export(self, name: str, folder: str | os.PathLike[str], mode: str = "link",
               cancel: threading.Event | None = None) -> AlbumExport:
        """The album as a folder of symbolic links or copies (run() it); originals are only
        read. Running it again adds what is new and leaves what is there."""
        if mode not in EXPORT_MODES:
            raise PhotoclipError(f"Export as {' or '.join(EXPORT_MODES)}, not {mode!r}.")
        return AlbumExport(self.photos(name), Path(folder).expanduser(), mode, cancel)

    # -- ratings and favourites -------------------------------------------------------------

    def rate(self, photo_ids: Sequence[int], stars: int) -> list[int]:
        """Give photos 0-5 stars; their sidecars follow when the library keeps sidecars in
        step (`xmp --sync on`), through the sidecar sync, the one writer of synced sidecars.
        Returns the ids whose rating changed."""
        changed = self.catalog.set_rating(photo_ids, stars)
        if changed:
            self.lib.sidecar_sync.changed(changed)
        return changed

    def favourite(self, photo_ids: Sequence[int], on: bool = True) -> list[int]:
        """Mark photos favourite (or not): the catalog's own mark, which no sidecar carries."""
        return self.catalog.set_favourite(photo_ids, on)

    def ratings(self, photo_ids: Iterable[int]) -> dict[int, tuple[int, bool]]:
        """photo id -> (stars, favourite)."""
        return self.catalog.ratings(photo_ids)

    def import_ratings(self, folder: str | None = None,
                       cancel: threading.Event | None = None) -> RatingImport:
        """Stars other apps (digiKam, Lightroom, darktable) wrote to sidecars, into the
        catalog (run() it): `photoclip xmp --read`."""
        return RatingImport(self, folder, cancel)

    def marked(self) -> dict[int, tuple[int, bool]]:
        """photo id -> (stars, favourite) of every photo rated or marked favourite (few, so
        the grid can show them beside any list of rows)."""
        rows = self.catalog.query("SELECT id, rating, favourite FROM photos "
                                  "WHERE (rating > 0 OR favourite = 1) AND status = 'ok'")
        return {int(i): (int(r), bool(f)) for i, r, f in rows}

    def months(self, folder: str | None = None, after: str | None = None,
               before: str | None = None) -> list[tuple[str, int]]:
        """("YYYY-MM", photos) newest first, over the photos `Library.browse` lists with the
        same filters and in the same order, so each month's photos follow one another there
        (the window's timeline: a month's first photo is the sum of the counts before it)."""
        where, params = ["status = 'ok'"], []
        if folder:
            where.append("path >= ? AND path < ?")
            params += list(under(folder))
        for bound, op in ((after, ">="), (before, "<")):
            if bound:
                where.append(f"{PHOTO_DATE} {op} ?")
                params.append(bound)
        rows = self.catalog.query(
            f"SELECT substr({PHOTO_DATE}, 1, 7) AS m, count(*) FROM photos "
            f"WHERE {' AND '.join(where)} GROUP BY m ORDER BY m DESC", params)
        return [(str(m or ""), int(n)) for m, n in rows]

    # -- changes the window can undo ----------------------------------------------------------

    def rate_edit(self, photo_ids: Sequence[int], stars: int) -> Edit:
        before = self.ratings(photo_ids)
        changed = self.rate(photo_ids, stars)

        def restore() -> None:
            by_stars: dict[int, list[int]] = {}
            for pid in changed:
                by_stars.setdefault(before.get(pid, (0, False))[0], []).append(pid)
            for old, ids in by_stars.items():
                self.rate(ids, old)

        return Edit(f"{_photos(len(changed))} rated {stars}★" if stars else
                    f"{_photos(len(changed))} unrated", changed, restore)

    def favourite_edit(self, photo_ids: Sequence[int], on: bool = True) -> Edit:
        changed = self.favourite(photo_ids, on)
        return Edit(f"{_photos(len(changed))} " + ("marked favourite" if on else
                                                    "no longer favourite"),
                    changed, lambda: self.favourite(changed, not on))

    def add_edit(self, name: str, photo_ids: Sequence[int]) -> Edit:
        """Put photos in a plain album; undo takes out only those that were not in it."""
        album = self.get(name)
        had = set(self.catalog.album_photo_ids(album.id)) if not album.smart else set()
        new = [i for i in dict.fromkeys(photo_ids) if i not in had]
        self.add(album.name, new)
        return Edit(f"{_photos(len(new))} added to {album.name}", new,
                    lambda: self.remove(album.name, new))

    def remove_edit(self, name: str, photo_ids: Sequence[int]) -> Edit:
        album = self.get(name)
        had = set(self.catalog.album_photo_ids(album.id)) if not album.smart else set()
        gone = [i for i in dict.fromkeys(photo_ids) if i in had]
        self.remove(album.name, gone)
        return Edit(f"{_photos(len(gone))} taken out of {album.name}", gone,
                    lambda: self.add(album.name, gone))

    def tag_edit(self, photo_ids: Sequence[int], ref: str, on: bool = True) -> Edit:
        """Tag photos by hand without the model, as `tags set`: a user tag auto-tagging never
        removes; `LABEL` or `SET|LABEL`, a new name landing in the hand-made tags' set. With
        on=False take the tag off, as the tag panel does: a hand-made tag is forgotten, an
        auto tag rejected (a "no" auto-tagging keeps)."""
        store = self.lib.label_sets
        ls, label = self._label(ref, create=on)
        ids = list(dict.fromkeys(int(i) for i in photo_ids))
        old = self._tag_rows(label.id, ids)
        changed = ids if on else [int(r[0]) for r in old if r[4] != 0]
        with self.catalog.transaction() as c:
            if on:
                c.executemany(
                    "INSERT INTO tags(photo_id, label_id, score, source, accepted) VALUES "
                    "(?, ?, NULL, 'user', 1) ON CONFLICT(photo_id, label_id) DO UPDATE SET "
                    "score = NULL, source = 'user', accepted = 1, model = NULL, "
                    "updated_at = strftime('%Y-%m-%dT%H:%M:%S', 'now')",
                    [(pid, label.id) for pid in ids])
            else:
                for chunk, marks in in_chunks(changed):
                    c.execute("DELETE FROM tags WHERE source = 'user' AND label_id = ? "
                              f"AND photo_id IN ({marks})", [label.id, *chunk])
                    c.execute("UPDATE tags SET accepted = 0, updated_at = strftime("
                              "'%Y-%m-%dT%H:%M:%S', 'now') WHERE source = 'auto' AND "
                              f"label_id = ? AND photo_id IN ({marks})", [label.id, *chunk])
        self.lib.sidecar_sync.changed(changed)

        shown = label.name if ls.name == store.manual else f"{ls.name}|{label.name}"
        return Edit(f"{_photos(len(changed))} " + (f"tagged {shown}" if on else
                                                   f"no longer tagged {shown}"),
                    changed, lambda: self._put_back(label.id, ids, old, changed))

    def decide_edit(self, photo_ids: Sequence[int], ref: str, accept: bool = True) -> Edit:
        """Accept (or reject) the auto tags of one label (`LABEL` or `SET|LABEL`) on these
        photos, as the tag panel does one photo at a time: accept confirms the suggestions not
        yet decided; reject says no to those and to the accepted ones. Hand-made tags, and
        photos without the auto tag, are left as they are."""
        ls, label = self._label(ref, create=False)
        ids = list(dict.fromkeys(int(i) for i in photo_ids))
        old = self._tag_rows(label.id, ids)
        changed = [int(r[0]) for r in old if r[3] == "auto" and (
            r[4] is None or (not accept and r[4] == 1))]
        with self.catalog.transaction() as c:
            for chunk, marks in in_chunks(changed):
                c.execute(f"UPDATE tags SET accepted = ?, updated_at = strftime("
                          f"'%Y-%m-%dT%H:%M:%S', 'now') WHERE label_id = ? AND photo_id IN "
                          f"({marks})", [int(accept), label.id, *chunk])
        self.lib.sidecar_sync.changed(changed)
        verb = "accepted" if accept else "rejected"
        return Edit(f"{ls.name}|{label.name} {verb} on {_photos(len(changed))}", changed,
                    lambda: self._put_back(label.id, ids, old, changed))

    def _label(self, ref: str, create: bool) -> tuple[Any, Any]:
        """(set, label) named `ref`; with create, a new name is a hand-made tags' label."""
        store = self.lib.label_sets
        found = store.find_labels(ref)
        if len(found) > 1:
            found = [f for f in found if f[0].enabled] or found
        if len(found) > 1:
            names = ", ".join(f"'{s.name}|{lb.name}'" for s, lb in found)
            raise LabelSetError(f"{ref!r} is a label of several sets ({names}): say which.")
        if not found and ("|" in ref or not create):
            raise LabelSetError(f"No label {ref!r}: see the Label sets page.")
        return found[0] if found else store.manual_label(ref)

    def _tag_rows(self, label_id: int, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """The tags rows of one label on these photos, whole (to put back on undo)."""
        old: list[tuple[Any, ...]] = []
        for chunk, marks in in_chunks(ids):
            old += self.catalog.query(
                "SELECT photo_id, label_id, score, source, accepted, model, updated_at "
                f"FROM tags WHERE label_id = ? AND photo_id IN ({marks})", [label_id, *chunk])
        return old

    def _put_back(self, label_id: int, ids: Sequence[int], old: list[tuple[Any, ...]],
                  changed: Sequence[int]) -> None:
        """One label's tags on these photos as they were (`old` rows), for undo."""
        with self.catalog.transaction() as c:
            for chunk, marks in in_chunks(ids):
                c.execute(f"DELETE FROM tags WHERE label_id = ? AND photo_id IN ({marks})",
                          [label_id, *chunk])
            c.executemany("INSERT INTO tags(photo_id, label_id, score, source, accepted, "
                          "model, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", old)
        self.lib.sidecar_sync.changed(changed)

    # -- training data ----------------------------------------------------------------------

    def training_data(self, names: Sequence[str]) -> Albums:
        """Albums (plain or smart) as labelled photos, each album a label."""
        chosen = {self.get(n).name: [p.path for p in self.photos(n)] for n in names}
        return read_catalog_albums(chosen)


def _failed(report: RatingReport | ExportReport, where: Path | str,
            exc: OSError | SidecarError) -> None:
    reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
    report.failed += 1
    report.errors.append((str(where), reason))
    log.warning("%s: %s", printable(str(where)), reason)


class RatingImport:
    """Read the ratings in the sidecars (either style) of the library's photos."""

    def __init__(self, albums: LibraryAlbums, folder: str | None,
                 cancel: threading.Event | None) -> None:
        self.catalog = albums.catalog
        self.folder = os.path.abspath(os.path.expanduser(folder)) if folder else None
        self.cancel = cancel
        self.report = RatingReport()

    def run(self) -> Iterator[Progress]:
        report = self.report = RatingReport()
        photos = self.catalog.browse(limit=10**9, folder=self.folder)
        current = self.catalog.ratings(p.id for p in photos)
        by_stars: dict[int, list[int]] = {}
        yield Progress("ratings", 0, len(photos))
        for n, photo in enumerate(photos, start=1):
            for style in STYLES:
                side = sidecar_path(photo.path, style)
                try:
                    stars = read_rating(side) if os.path.lexists(side) else None
                except (OSError, SidecarError) as exc:
                    _failed(report, side, exc)
                    continue
                if stars is not None:
                    report.read += 1
                    if stars != current.get(photo.id, (0, False))[0]:
                        by_stars.setdefault(stars, []).append(photo.id)
                    break
            if n % 500 == 0:
                yield Progress("ratings", n, len(photos), failed=report.failed)
            if self.cancel is not None and self.cancel.is_set():
                break
        for stars, ids in by_stars.items():
            report.changed += len(self.catalog.set_rating(ids, stars))
        yield Progress("ratings", len(photos), len(photos), failed=report.failed,
                       finished=True, message=f"{report.changed} ratings read from "
                       f"{report.read} sidecars")


class AlbumExport:
    """Links or copies of an album's photos in one folder; names that clash get " (2)"."""

    def __init__(self, photos: list[Photo], folder: Path, mode: str,
                 cancel: threading.Event | None) -> None:
        self.photos = photos
        self.folder = folder
        self.mode = mode
        self.cancel = cancel
        self.report = ExportReport(folder=str(folder))

    def run(self) -> Iterator[Progress]:
        report = self.report = ExportReport(folder=str(self.folder.resolve()))
        if self.folder.exists() and not self.folder.is_dir():
            raise PhotoclipError(f"{self.folder} is a file: give a folder to export into.")
        self.folder.mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        total = len(self.photos)
        yield Progress("export", 0, total)
        for n, photo in enumerate(self.photos, start=1):
            src = Path(photo.path)
            try:
                self._one(src, self._name(src, taken))
            except OSError as exc:
                if storage.is_disk_full(exc):
                    raise PhotoclipError(
                        f"the disk holding {self.folder} is full: {report.written} photos were "
                        "exported, none half; free space and export again") from exc
                _failed(report, src, exc)
            if n % 100 == 0 or n == total:
                yield Progress("export", n, total, failed=report.failed)
            if self.cancel is not None and self.cancel.is_set():
                return
        yield Progress("export", total, total, failed=report.failed, finished=True,
                       message=f"{report.written} exported, {report.unchanged} already there")

    def _name(self, src: Path, taken: set[str]) -> Path:
        """The photo's name in the folder: its own, or "name (2).jpg" when another photo of
        the album has it or another file is there already."""
        stem, suffix = src.stem, src.suffix
        for i in range(1, 100_000):
            name = src.name if i == 1 else f"{stem} ({i}){suffix}"
            dst = self.folder / name
            if name.lower() in taken:
                continue
            if not os.path.lexists(dst) or self._same(src, dst):
                taken.add(name.lower())
                return dst
        raise PhotoclipError(f"{self.folder}: too many files named like {src.name}")

    def _same(self, src: Path, dst: Path) -> bool:
        """`dst` is this photo, exported earlier (a link to it, or a copy of it)."""
        if dst.is_symlink():
            with contextlib.suppress(OSError):
                return Path(os.readlink(dst)) == src
            return False
        try:
            a, b = src.stat(), dst.stat()
        except OSError:
            return False
        return a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)

    def _one(self, src: Path, dst: Path) -> None:
        if os.path.lexists(dst):
            self.report.unchanged += 1
            return
        if self.mode == "link":
            os.symlink(src, dst)
        else:
            if not src.is_file():
                raise FileNotFoundError(2, "No such file or directory", str(src))
            with storage.replacing(dst, mode=src.stat().st_mode & 0o777) as tmp:
                shutil.copyfile(src, tmp)
                shutil.copystat(src, tmp)
        self.report.written += 1
