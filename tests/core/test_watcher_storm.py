"""A seeded storm of folder renames, moves, whole-folder copies (copytree) and deletions over
tagged photos (issue 17 item 2): after quiet the library equals the disk, and no user tag is
lost while a photo with its content is still in the library."""

from __future__ import annotations

import random
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_watcher_random import Disk, _hidden
from watchdog.events import DirCreatedEvent
from watchdog.observers.api import BaseObserver, EventEmitter
from watcher_support import Running, photo_id, rows, tag, tags_of, write_photo

from photoclip.core.indexing import hash_path
from photoclip.core.library import Library


@pytest.fixture
def lib(tmp_path, tiny_encoder):
    root = (tmp_path / "Pictures").resolve()
    write_photo(root / "a" / "tagged.jpg", 1)
    write_photo(root / "b" / "other.jpg", 2)
    library = Library(tmp_path / "lib", encoder=tiny_encoder)
    library.add_roots([str(root)])
    list(library.indexer().run())
    tag(library, root / "a" / "tagged.jpg")
    yield library
    library.close()


def _root(lib):
    return Path(lib.catalog.roots()[0].path)


def test_deleting_a_tagged_photo_hands_its_tags_to_an_identical_copy(lib):
    root = _root(lib)
    copy = root / "b" / "copy.jpg"
    shutil.copy2(root / "a" / "tagged.jpg", copy)
    list(lib.indexer().run())  # a copy made long ago (not one update() just added)
    indexer = lib.indexer()
    kept = photo_id(lib, root / "a" / "tagged.jpg")
    (root / "a" / "tagged.jpg").unlink()
    list(indexer.update([str(root / "a" / "tagged.jpg")]))
    assert tags_of(lib, copy) == {"holiday"}
    assert photo_id(lib, copy) == kept  # the tagged row took the copy's place
    assert lib.catalog.count_photos() == 2


def test_a_tagged_photo_whose_move_is_seen_after_its_deletion_keeps_its_tags(lib):
    root = _root(lib)
    old, new = root / "a" / "tagged.jpg", root / "c" / "moved.jpg"
    new.parent.mkdir()
    old.rename(new)
    indexer = lib.indexer()
    list(indexer.update([], [str(root / "a")]))  # the folder's event came first, alone
    assert photo_id(lib, old) is None
    list(indexer.update([str(new)]))
    assert tags_of(lib, new) == {"holiday"}


def test_a_tagged_photo_deleted_in_an_update_and_found_again_by_a_rescan_keeps_its_tags(lib):
    """The watcher's catch-up rescans (a folder it could not watch, a root back online) index
    what they find with run(), not update(): a photo whose deletion an update() saw and whose
    moved file only the rescan finds must still get the user's tags back."""
    root = _root(lib)
    old, new = root / "a" / "tagged.jpg", root / "c" / "moved.jpg"
    new.parent.mkdir()
    old.rename(new)
    indexer = lib.indexer()
    list(indexer.update([], [str(root / "a")]))  # only the deletion was heard
    assert photo_id(lib, old) is None
    list(indexer.run())  # the catch-up rescan finds the moved file
    assert tags_of(lib, new) == {"holiday"}


def _put_in_album_and_rate(lib, path):
    """Decisions of the user's that are not tags: an album, stars and the favourite flag."""
    pid = photo_id(lib, path)
    lib.albums.create("Trip")
    lib.albums.add("Trip", [pid])
    lib.albums.rate([pid], 4)
    lib.albums.favourite([pid])


def _albums_and_stars(lib, path):
    pid = photo_id(lib, path)
    return lib.albums.albums_of([pid]).get(pid, []), lib.albums.ratings([pid])[pid]


def test_an_album_photo_whose_move_is_seen_after_its_deletion_keeps_album_and_stars(lib):
    root = _root(lib)
    old, new = root / "b" / "other.jpg", root / "c" / "moved.jpg"  # no tags, only these
    _put_in_album_and_rate(lib, old)
    new.parent.mkdir()
    old.rename(new)
    indexer = lib.indexer()
    list(indexer.update([], [str(root / "b")]))
    assert photo_id(lib, old) is None
    list(indexer.update([str(new)]))
    assert _albums_and_stars(lib, new) == (["Trip"], (4, True))


def test_deleting_an_album_photo_hands_album_and_stars_to_an_identical_copy(lib):
    root = _root(lib)
    original, copy = root / "b" / "other.jpg", root / "a" / "copy.jpg"
    _put_in_album_and_rate(lib, original)
    shutil.copy2(original, copy)
    list(lib.indexer().run())  # a copy made long ago
    original.unlink()
    list(lib.indexer().update([str(original)]))
    assert _albums_and_stars(lib, copy) == (["Trip"], (4, True))
    assert lib.albums.get("Trip").count == 1


def test_a_folder_the_backend_could_not_watch_is_watched_again_and_caught_up(lib):
    """watchdog's inotify backend watches a new folder when it reads its creation; one made
    inside a folder renamed before then is reported under a path that is already gone and is
    never watched. Its photos, and every later change there, must not go unheard."""
    root = _root(lib)
    tell = threading.Event()
    emitters: list[EventEmitter] = []

    class Unwatched(EventEmitter):
        """Hears nothing, but for the first one, when told: the creation of a folder whose
        path is gone (it now lives, unwatched, under the renamed parent)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            emitters.append(self)

        def queue_events(self, timeout: float) -> None:
            if self is emitters[0] and tell.is_set():
                tell.clear()
                self.queue_event(DirCreatedEvent(str(root / "copy" / "sub")))
            self.stopped_event.wait(timeout)

    with Running(lib, observer_factory=lambda: BaseObserver(Unwatched, timeout=0.05)) as w:
        unheard = write_photo(root / "renamed" / "sub" / "unheard.jpg", 77)
        tell.set()
        w.settle()
        assert w.events("catch-up")[-1]["reason"] == "rescan"
    assert photo_id(lib, unheard) is not None
    assert len(emitters) >= 2  # the root is watched again, from the tree as it is now


class Storm(Disk):
    """Disk's operations plus copies of whole folders, weighted towards reshuffling folders."""

    def copy_dir(self) -> None:
        if dirs := self.dirs(with_root=False):
            d = self.rng.choice(dirs)
            targets = [t for t in self.dirs() if t != d and d not in t.parents]
            shutil.copytree(d, self.rng.choice(targets) / f"cdir{self._next()}")

    OPS = (("create", 3), ("delete", 2), ("rename", 2), ("move", 3), ("copy", 2),
           ("mkdir", 2), ("rename_dir", 4), ("move_dir", 3), ("copy_dir", 2),
           ("delete_dir", 0.3))


def _tags_by_content(lib: Library) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for digest, label in rows(lib, "SELECT p.hash, l.name FROM tags t JOIN photos p "
                                   "ON p.id = t.photo_id JOIN labels l ON l.id = t.label_id "
                                   "WHERE t.source = 'user'"):
        found.setdefault(digest, set()).add(label)
    return found


# native-13 once never settled: copytree made a folder inside a copy that was renamed before
# watchdog's inotify backend got to it, so that folder was never watched and a later move in
# it went unheard (see the test below).
@pytest.mark.parametrize(("mode", "seed"), [("native", 11), ("polling", 12), ("polling", 14),
                                            ("native", 13)])
def test_a_storm_of_folder_renames_and_copies_loses_no_user_tag(tmp_path, tiny_encoder, mode,
                                                                 seed):
    root = (tmp_path / "Pictures").resolve()
    for n in range(12):
        write_photo(root / f"album{n % 4}" / f"start{n}.jpg", n)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.settings.batch_size = 8
    try:
        lib.add_roots([str(root)])
        list(lib.indexer().run())
        tagged: dict[str, str] = {}  # content hash: label
        for n in range(0, 12, 2):
            path = root / f"album{n % 4}" / f"start{n}.jpg"
            tag(lib, path, f"label{n}")
            tagged[hash_path(str(path))] = f"label{n}"
        disk = Storm(root, random.Random(seed))
        with Running(lib, polling=(mode == "polling")) as w:
            for _ in range(150):
                disk.random_op()
                if disk.rng.random() < 0.1:
                    time.sleep(disk.rng.uniform(0.05, 0.3))
            w.settle(timeout=120)
        on_disk = {hash_path(str(p)) for p in root.rglob("*.jpg") if not _hidden(p, root)}
        kept = _tags_by_content(lib)
        lost = {h: label for h, label in tagged.items()
                if h in on_disk and label not in kept.get(h, set())}
        assert lost == {}
        assert lib.catalog.count_photos() == len(disk.files())
    finally:
        lib.close()


def test_a_tagged_photo_moved_over_another_photo_keeps_its_tags(lib):
    """`mv tagged.jpg other.jpg`: the other photo's path now holds the tagged content (a
    changed file, not a new one); the tags follow the content there."""
    root = _root(lib)
    src, dst = root / "a" / "tagged.jpg", root / "b" / "other.jpg"
    src.replace(dst)
    list(lib.indexer().update([str(src), str(dst)]))
    assert photo_id(lib, src) is None
    assert tags_of(lib, dst) == {"holiday"}
    # and when the two are heard in two batches, the deletion first
    dst.replace(src)
    indexer = lib.indexer()
    list(indexer.update([str(dst)]))
    list(indexer.update([str(src)]))
    assert tags_of(lib, src) == {"holiday"}


@pytest.mark.parametrize("how", ["update", "run"])
def test_two_photos_that_swap_names_keep_their_own_decisions(lib, how):
    """a -> tmp, b -> a, tmp -> b: each path now holds the other photo; the user's tags,
    albums and stars go with the photos, not the names."""
    root = _root(lib)
    a, b = root / "a" / "tagged.jpg", root / "b" / "other.jpg"
    _put_in_album_and_rate(lib, b)
    tmp = root / "a" / "tmp.jpg"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    indexer = lib.indexer()
    list(indexer.update([str(a), str(b), str(tmp)]) if how == "update" else indexer.run())
    assert tags_of(lib, b) == {"holiday"}
    assert tags_of(lib, a) == set()
    assert _albums_and_stars(lib, a) == (["Trip"], (4, True))
    assert _albums_and_stars(lib, b) == ([], (0, False))


@pytest.mark.parametrize("heard_together", [1, 2, 4])
def test_a_photo_swapped_trashed_restored_and_moved_over_another_keeps_its_tags(
        tmp_path, tiny_encoder, heard_together):
    """Found by the editor storm: the tags of a photo whose content wandered through a name
    swap, the trash, back, and over a third photo end where its content ends, however the
    steps are grouped into the watcher's batches."""
    root = (tmp_path / "P").resolve()
    a, b = write_photo(root / "x" / "a.jpg", 1), write_photo(root / "y" / "b.jpg", 2)
    c = write_photo(root / "z" / "c.jpg", 3)
    trash = root / ".Trash-1000"
    trash.mkdir()
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    try:
        lib.add_roots([str(root)])
        list(lib.indexer().run())
        tag(lib, b, "B")
        indexer = lib.indexer()

        def swap() -> list[Path]:
            t = a.with_name("t.jpg")
            a.rename(t)
            b.rename(a)
            t.rename(b)
            return [a, b, t]

        def to_trash() -> list[Path]:
            a.rename(trash / "a.jpg")
            return [a]

        def back() -> list[Path]:
            (trash / "a.jpg").rename(a)
            return [a]

        def over() -> list[Path]:
            a.replace(c)
            return [a, c]

        heard: list[Path] = []
        for n, step in enumerate((swap, to_trash, back, over), 1):
            heard += step()
            if n % heard_together == 0:
                list(indexer.update([str(p) for p in heard]))
                heard = []
        assert tags_of(lib, c) == {"B"}
    finally:
        lib.close()
