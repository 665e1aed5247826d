"""A photo renamed to a hidden name, into a hidden folder or into an ignored place leaves the
library like a deleted one (issue 17 item 7), with either backend, whether or not it was
indexed yet."""

from __future__ import annotations

import time

import pytest
from watcher_support import Running, photo_id, wait_until, write_photo

from photoclip.core.library import Library


@pytest.fixture
def root(tmp_path):
    folder = (tmp_path / "Pictures").resolve()
    write_photo(folder / "top.jpg", 10)
    (folder / ".hidden").mkdir()
    return folder


@pytest.fixture
def lib(tmp_path, tiny_encoder, root):
    library = Library(root / "photoclip-library", encoder=tiny_encoder)  # inside the root
    library.settings.batch_size = 8
    library.add_roots([str(root)])
    list(library.indexer().run())
    yield library
    library.close()


@pytest.fixture(params=["native", "polling"])
def mode(request):
    return request.param


def _places(root, lib):
    return {
        "hidden name": root / ".new.jpg",
        "hidden folder": root / ".hidden" / "new.jpg",
        "not an image": root / "new.jpg.part",
        "library folder": lib.paths.root / "new.jpg",
    }


@pytest.mark.parametrize("where", ["hidden name", "hidden folder", "not an image",
                                   "library folder"])
def test_an_indexed_photo_renamed_out_of_sight_leaves_the_library(lib, root, mode, where):
    dest = _places(root, lib)[where]
    with Running(lib, polling=(mode == "polling")) as w:
        new = write_photo(root / "new.jpg", 20)
        wait_until(lambda: photo_id(lib, new) is not None, 20, "the new photo to be indexed")
        new.rename(dest)
        w.settle()
        assert photo_id(lib, new) is None
        assert photo_id(lib, dest) is None
        assert photo_id(lib, root / "top.jpg") is not None


@pytest.mark.parametrize("delay", [0.0, 0.12, 0.3])
def test_a_new_photo_renamed_to_a_hidden_name_soon_after_leaves_no_row(lib, root, mode, delay):
    """Renamed while its creation may still be in the burst, or just after it was indexed."""
    with Running(lib, polling=(mode == "polling")) as w:
        new = write_photo(root / "new.jpg", 21)
        time.sleep(delay)
        new.rename(root / ".new.jpg")
        w.settle()
        time.sleep(0.5)  # a few more polls: nothing comes back
        w.settle()
        assert photo_id(lib, new) is None


def test_a_photo_only_the_catch_up_saw_renamed_to_a_hidden_name_leaves(lib, root):
    """Polling compares snapshots: a photo made after the watch's first snapshot, indexed by
    the catch-up that follows, and renamed away before the next poll is in no snapshot, so no
    event ever names it. The watcher looks at what a scan indexed again after a poll."""
    new = root / "new.jpg"
    w = Running(lib, polling=True, poll_interval_s=2.0)
    real_run = w.watcher.indexer.run
    seen = []

    def catch_up_seeing_a_new_photo(roots=None, cancel=None):
        if not seen:  # the watch (and its first snapshot) is already scheduled
            write_photo(new, 30)
        yield from real_run(roots, cancel)
        if not seen:
            seen.append(photo_id(lib, new))
            new.rename(root / ".new.jpg")  # well before the first poll

    w.watcher.indexer.run = catch_up_seeing_a_new_photo
    with w:
        w.settle()
        assert seen[0] is not None  # the catch-up had indexed it
        assert photo_id(lib, new) is None
