"""Live watching with real file operations: after each, the library equals the disk within a
bounded wait, and user tags follow the photos that moved."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
from watcher_support import (
    Running,
    jpeg,
    photo_id,
    stays,
    tag,
    tags_of,
    wait_until,
    write_photo,
)

from photoclip.core.library import Library


@pytest.fixture
def root(tmp_path):
    folder = (tmp_path / "Pictures").resolve()
    for n in range(4):
        write_photo(folder / "2023" / f"img{n}.jpg", n)
    write_photo(folder / "top.jpg", 10)
    return folder


@pytest.fixture
def lib(tmp_path, tiny_encoder, root):
    library = Library(tmp_path / "lib", encoder=tiny_encoder)
    library.settings.batch_size = 8
    library.add_roots([str(root)])
    list(library.indexer().run())
    yield library
    library.close()


@pytest.fixture(params=["native", "polling"])
def mode(request):
    return request.param


def watching(lib, mode="native", **options):
    return Running(lib, polling=(mode == "polling"), **options)


def test_new_photo_is_indexed(lib, root, mode):
    with watching(lib, mode) as w:
        write_photo(root / "2023" / "new.jpg", 100)
        w.settle()
        assert photo_id(lib, root / "2023" / "new.jpg") is not None
        assert w.totals()["indexed"] == 1


def test_edited_photo_is_reembedded_and_keeps_its_tags(lib, root):
    path = root / "top.jpg"
    tag(lib, path)
    before = photo_id(lib, path)
    old_vector = lib.vectors.get([before])[0]
    with watching(lib) as w:
        path.write_bytes(jpeg(200))
        w.settle()
    assert photo_id(lib, path) == before
    assert tags_of(lib, path) == {"holiday"}
    assert (lib.vectors.get([before])[0] != old_vector).any()


def test_deleted_photo_leaves_catalog_and_index(lib, root, mode):
    gone = photo_id(lib, root / "top.jpg")
    with watching(lib, mode) as w:
        (root / "top.jpg").unlink()
        w.settle()
    assert lib.catalog.photo(gone) is None
    assert gone not in lib.vectors


def test_renamed_photo_keeps_id_and_tags_without_reembedding(lib, root, mode):
    old, new = root / "top.jpg", root / "renamed.jpg"
    tag(lib, old)
    pid = photo_id(lib, old)
    with watching(lib, mode) as w:
        old.rename(new)
        w.settle()
        assert w.totals() == {"indexed": 0, "failed": 0, "moved": 1, "removed": 0}
    assert photo_id(lib, new) == pid
    assert tags_of(lib, new) == {"holiday"}
    assert lib.searcher().similar(str(new), top=1)[0].path == str(new)


def test_photo_moved_between_folders_keeps_tags(lib, root):
    src, dest = root / "2023" / "img1.jpg", root / "elsewhere" / "img1.jpg"
    dest.parent.mkdir()
    tag(lib, src)
    pid = photo_id(lib, src)
    with watching(lib) as w:
        shutil.move(src, dest)
        w.settle()
        assert w.totals()["indexed"] == 0
    assert photo_id(lib, dest) == pid
    assert tags_of(lib, dest) == {"holiday"}


def test_renamed_folder_keeps_every_photo_and_tag(lib, root, mode):
    ids = {p.name: photo_id(lib, p) for p in (root / "2023").iterdir()}
    for p in (root / "2023").iterdir():
        tag(lib, p, "summer")
    with watching(lib, mode) as w:
        (root / "2023").rename(root / "Summer 2023")
        w.settle()
        assert w.totals() == {"indexed": 0, "failed": 0, "moved": 4, "removed": 0}
    for name, pid in ids.items():
        assert photo_id(lib, root / "Summer 2023" / name) == pid
        assert tags_of(lib, root / "Summer 2023" / name) == {"summer"}


def test_folder_moved_into_another_keeps_ids(lib, root):
    ids = {p.name: photo_id(lib, p) for p in (root / "2023").iterdir()}
    (root / "archive").mkdir()
    with watching(lib) as w:
        shutil.move(root / "2023", root / "archive" / "2023")
        w.settle()
    for name, pid in ids.items():
        assert photo_id(lib, root / "archive" / "2023" / name) == pid


def test_deleted_folder_leaves_the_library(lib, root, mode):
    with watching(lib, mode) as w:
        shutil.rmtree(root / "2023")
        w.settle()
        assert w.totals()["removed"] == 4
    assert lib.catalog.count_photos() == 1


def test_a_copy_is_a_second_photo(lib, root):
    pid = photo_id(lib, root / "top.jpg")
    tag(lib, root / "top.jpg")
    with watching(lib) as w:
        shutil.copy2(root / "top.jpg", root / "copy.jpg")
        w.settle()
    assert photo_id(lib, root / "top.jpg") == pid
    assert photo_id(lib, root / "copy.jpg") not in (None, pid)
    assert tags_of(lib, root / "top.jpg") == {"holiday"}


def test_copy_then_delete_in_two_bursts_is_a_move(lib, root):
    """A move across drives: the copy lands first, the original goes once it is done."""
    src, dest = root / "top.jpg", root / "moved" / "top.jpg"
    tag(lib, src)
    pid = photo_id(lib, src)
    with watching(lib) as w:
        dest.parent.mkdir()
        shutil.copy2(src, dest)
        wait_until(lambda: photo_id(lib, dest) is not None, what="the copy to be indexed")
        src.unlink()
        w.settle()
    assert photo_id(lib, dest) == pid
    assert tags_of(lib, dest) == {"holiday"}


def test_delete_and_create_in_one_burst_is_a_move(lib, root):
    src, dest = root / "top.jpg", root / "other" / "top-copy.jpg"
    tag(lib, src)
    pid = photo_id(lib, src)
    data = src.read_bytes()
    with watching(lib) as w:
        src.unlink()
        write_photo(dest, 0).write_bytes(data)
        w.settle()
        assert w.totals()["indexed"] == 0
    assert photo_id(lib, dest) == pid
    assert tags_of(lib, dest) == {"holiday"}


def test_slowly_written_photo_is_indexed_once_complete(lib, root):
    data = jpeg(300, size=(320, 240))
    path = root / "slow.jpg"
    with watching(lib, stable_s=1.0) as w:
        with path.open("wb") as f:
            for i in range(0, len(data), 4096):
                f.write(data[i:i + 4096])
                f.flush()
                time.sleep(0.1)  # paces the writer: each pause is far shorter than stable_s
        w.settle()
        assert w.totals()["failed"] == 0
        assert w.totals()["indexed"] == 1  # once, complete; never half-written


def test_a_camera_import_is_one_batch(lib, root):
    with watching(lib, debounce_s=1.0, max_delay_s=30.0) as w:
        for n in range(40):
            write_photo(root / "DCIM" / f"IMG_{n:04d}.JPG", 1000 + n)
        w.settle()
        batches = [b for b in w.events("batch") if b["indexed"]]
    assert [b["indexed"] for b in batches] == [40]


def test_move_across_roots_keeps_tags(lib, root, tmp_path):
    other = (tmp_path / "Other").resolve()
    other.mkdir()
    lib.add_roots([str(other)])
    tag(lib, root / "top.jpg")
    pid = photo_id(lib, root / "top.jpg")
    with watching(lib) as w:
        shutil.move(root / "top.jpg", other / "top.jpg")
        w.settle()
    assert photo_id(lib, other / "top.jpg") == pid
    assert tags_of(lib, other / "top.jpg") == {"holiday"}


def test_ignores_hidden_folders_sidecars_non_images_and_its_library(tmp_path, tiny_encoder):
    root = (tmp_path / "Pictures").resolve()
    write_photo(root / "a.jpg", 1)
    lib = Library(root / "photoclip-library", encoder=tiny_encoder)  # the library inside a root
    try:
        lib.add_roots([str(root)])
        with watching(lib) as w:
            write_photo(root / ".cache" / "hidden.jpg", 2)
            write_photo(root / ".dot.jpg", 3)
            (root / "a.jpg.xmp").write_text("<x:xmpmeta/>")
            (root / "notes.txt").write_text("not a photo")
            write_photo(root / "b.jpg", 4)  # thumbnails land in the library folder, as .jpg
            w.settle()
        assert sorted(catalog_paths(lib)) == [str(root / "a.jpg"), str(root / "b.jpg")]
        assert list(lib.paths.thumbnails.rglob("*.jpg"))
    finally:
        lib.close()


def catalog_paths(lib):
    return [p.path for p in lib.catalog.browse()]


def test_offline_root_keeps_photos_and_catches_up_when_back(lib, root, tmp_path):
    away = tmp_path / "unplugged"
    tag(lib, root / "top.jpg")
    with watching(lib) as w:
        root.rename(away)  # the drive is unplugged
        wait_until(lambda: w.events("offline"), what="the root to be seen offline")
        assert lib.catalog.count_photos() == 5
        assert not lib.catalog.roots()[0].online
        write_photo(away / "while-away.jpg", 400)  # changed on another computer
        (away / "2023" / "img0.jpg").unlink()
        away.rename(root)  # plugged back in
        wait_until(lambda: w.events("online"), what="the root to come back")
        w.settle()
    assert lib.catalog.roots()[0].online
    assert photo_id(lib, root / "while-away.jpg") is not None
    assert tags_of(lib, root / "top.jpg") == {"holiday"}


def test_changes_made_while_not_watching_are_caught_up_on_start(lib, root):
    tag(lib, root / "2023" / "img2.jpg")
    pid = photo_id(lib, root / "2023" / "img2.jpg")
    (root / "2023").rename(root / "Holidays")
    (root / "top.jpg").unlink()
    write_photo(root / "Holidays" / "new.jpg", 500)
    with watching(lib) as w:
        assert w.events("catch-up")[0]["moved"] == 4
    assert photo_id(lib, root / "Holidays" / "img2.jpg") == pid
    assert tags_of(lib, root / "Holidays" / "img2.jpg") == {"holiday"}


def test_a_root_added_while_watching_is_indexed(lib, tmp_path):
    more = (tmp_path / "More").resolve()
    write_photo(more / "x.jpg", 600)
    with watching(lib) as w:
        lib.add_roots([str(more)])
        w.watcher.roots_changed()
        w.settle()
        write_photo(more / "y.jpg", 601)  # and it is watched from then on
        w.settle()
    assert photo_id(lib, more / "y.jpg") is not None


def test_pause_holds_indexing_until_resume(lib, root):
    with watching(lib) as w:
        w.watcher.pause()
        write_photo(root / "later.jpg", 700)
        wait_until(lambda: w.watcher.pending > 0, what="the event to be seen")
        assert stays(lambda: photo_id(lib, root / "later.jpg") is None, 0.6)
        w.watcher.resume()
        w.settle()
    assert photo_id(lib, root / "later.jpg") is not None


def test_inotify_limit_falls_back_to_polling_with_a_clear_message(lib, root, caplog):
    with watching(lib, watch_limit=1) as w:  # the root alone needs 2 watches
        assert w.watcher.modes == {str(root): "polling"}
        write_photo(root / "2023" / "seen.jpg", 800)
        w.settle()
    assert "inotify watch limit is reached" in caplog.text
    assert "fs.inotify.max_user_watches" in caplog.text


def test_native_watch_refused_by_the_kernel_falls_back_to_polling(lib, root, caplog):
    from watchdog.observers import Observer

    class Refusing(Observer):  # type: ignore[misc,valid-type]
        def schedule(self, *args, **kwargs):
            raise OSError(28, "inotify watch limit reached")

    with watching(lib, observer_factory=Refusing) as w:
        assert w.watcher.modes == {str(root): "polling"}
        write_photo(root / "seen.jpg", 801)
        w.settle()
    assert "inotify watch limit is reached" in caplog.text


def _deaf_observer(made):
    """An observer whose watches never report anything (events lost), and can be killed."""
    from watchdog.observers.api import BaseObserver, EventEmitter

    class Deaf(EventEmitter):
        def queue_events(self, timeout):
            self.stopped_event.wait(timeout)

    def factory():
        observer = BaseObserver(Deaf, timeout=0.05)
        made.append(observer)
        return observer

    return factory


def test_an_event_queue_overflow_triggers_a_catch_up(lib, root):
    import logging

    with watching(lib, observer_factory=_deaf_observer([])) as w:
        write_photo(root / "unseen.jpg", 900)
        assert stays(lambda: photo_id(lib, root / "unseen.jpg") is None, 0.4)
        # what watchdog logs when the kernel's queue overflowed
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost")
        w.settle()
        assert w.events("catch-up")[-1]["reason"] == "rescan"


def test_a_watch_that_dies_triggers_a_catch_up(lib, root):
    made: list = []
    with watching(lib, observer_factory=_deaf_observer(made)) as w:
        write_photo(root / "unseen.jpg", 901)
        for emitter in list(made[0].emitters):
            emitter.stop()  # the backend gave up on this root
        w.settle()
        assert w.watcher.modes == {str(root): "native"}  # watched again


def test_stopping_ends_every_thread_it_started(lib, root):
    before = threading.active_count()
    with watching(lib) as w:
        write_photo(root / "saved.jpg", 950)
        w.settle()
    wait_until(lambda: threading.active_count() <= before, 10, "observer threads to end")


def test_a_symlink_loop_does_not_trap_the_watcher(lib, root):
    os.symlink(root, root / "2023" / "loop")
    with watching(lib) as w:
        write_photo(root / "2023" / "after-loop.jpg", 960)
        w.settle()
    assert photo_id(lib, root / "2023" / "after-loop.jpg") is not None


def test_a_watcher_thread_that_crashes_is_restarted_and_catches_up(lib, root, caplog):
    from watchdog.observers.api import BaseObserver, EventEmitter

    made: list = []
    crash = threading.Event()

    class Crashing(EventEmitter):
        def queue_events(self, timeout):
            if crash.is_set() and self in made[0].emitters:
                raise RuntimeError("backend failure")  # only the first observer's emitter
            self.stopped_event.wait(timeout)

    def factory():
        made.append(BaseObserver(Crashing, timeout=0.05))
        return made[-1]

    with watching(lib, observer_factory=factory) as w:
        write_photo(root / "unseen.jpg", 902)  # this observer reports nothing: only a scan
        crash.set()
        w.settle()
        assert len(made) == 2  # a fresh observer took over
    assert "the file watcher failed (RuntimeError: backend failure)" in caplog.text


def test_a_root_removed_in_the_middle_of_a_batch_is_not_fatal(lib, root, tmp_path, monkeypatch,
                                                             caplog):
    other = (tmp_path / "Other").resolve()
    write_photo(other / "first.jpg", 980)
    lib.add_roots([str(other)])
    states_at = lib.catalog.file_states_at

    def removed_meanwhile(model, paths=(), folders=()):
        # `photoclip remove Other` in another terminal, just after this batch read the roots
        if str(other / "second.jpg") in paths and lib.catalog.root_by_path(str(other)):
            lib.catalog.remove_root(str(other))
        return states_at(model, paths, folders)

    with watching(lib) as w:
        monkeypatch.setattr(lib.catalog, "file_states_at", removed_meanwhile)
        write_photo(other / "second.jpg", 981)
        wait_until(lambda: "removed while indexing" in caplog.text, what="the race to happen")
        write_photo(root / "still-watching.jpg", 982)
        w.settle()
        assert w.watcher.modes == {str(root): "native"}
    assert lib.catalog.photo_by_path(str(other / "first.jpg")) is None
