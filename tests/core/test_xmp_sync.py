"""Sidecars kept in step (issue 16, item 4): with `xmp_sync` on, tag changes reach the
sidecars by themselves; whatever the setting, a moved photo takes photoclip's keywords with it
and leaves no sidecar of photoclip's behind; another app's file is never touched otherwise."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_tagging_xmp import FOREIGN, exiv2_read

from photoclip.core.catalog import Catalog
from photoclip.core.library_albums import LibraryAlbums
from photoclip.core.tagging import LabelSetSpec, LabelSpec, SidecarSync, SidecarTagger, TagStore
from photoclip.core.tagging.xmp import read_keywords, read_rating, write_sidecar
from photoclip.core.types import PhotoRecord


class Settings:
    def __init__(self, on: bool, style: str = "photo.jpg.xmp") -> None:
        self.on, self.style = on, style

    def __call__(self) -> tuple[bool, str]:
        return self.on, self.style


class Lib:
    """A catalog with photos on disk, a label set, a sync and a tagger that reports to it."""

    def __init__(self, tmp: Path, on: bool, style: str = "photo.jpg.xmp") -> None:
        self.folder = tmp / "photos"
        self.folder.mkdir()
        self.catalog = Catalog(tmp / "catalog.sqlite3")
        self.root = self.catalog.add_root(str(self.folder))
        self.store = TagStore(self.catalog)
        self.store.save_set(LabelSetSpec("things", tuple(map(LabelSpec, ["cat", "cup"]))))
        self.settings = Settings(on, style)
        # A long debounce: only flush() (or close()) writes, unless a test says otherwise.
        self.sync = SidecarSync(self.catalog, self.settings, debounce_s=3600, max_wait_s=3600)
        self.tagger = SidecarTagger(self.catalog, None, self.sync)  # type: ignore[arg-type]
        self.ids: dict[str, int] = {}

    def photo(self, name: str) -> Path:
        path = self.folder / name
        path.write_bytes(b"a photo's bytes: never opened by sidecar code")
        self.ids[name] = self.catalog.upsert_photo(
            PhotoRecord(self.root.id, str(path), 46, 1, f"hash-{name}"))
        return path

    def rename(self, old: str, new: str) -> None:
        """What the indexer does for a rename: the file moves, the catalog row follows, and
        the hook reports it once committed."""
        os.rename(self.folder / old, self.folder / new)
        pid = self.ids.pop(old)
        self.catalog.move_photo(pid, self.root.id, str(self.folder / new), 46, 1)
        self.ids[new] = pid
        self.sync.on_moved([(str(self.folder / old), str(self.folder / new))], [])

    def close(self) -> None:
        self.sync.close()
        self.catalog.close()


@pytest.fixture
def on(tmp_path):
    lib = Lib(tmp_path, on=True)
    yield lib
    lib.close()


@pytest.fixture
def off(tmp_path):
    lib = Lib(tmp_path, on=False)
    yield lib
    lib.close()


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.suffix == ".xmp"}


def test_with_sync_on_the_users_tag_decisions_reach_the_sidecar(on):
    on.photo("a.jpg")
    on.tagger.set_tag(on.ids["a.jpg"], "things|cat")
    assert not (on.folder / "a.jpg.xmp").exists()  # nothing written inside the call...
    on.sync.flush()  # ...but in a pass outside it (the worker's, after a quiet moment)
    assert read_keywords(on.folder / "a.jpg.xmp") == (["cat"], ["things|cat"])
    on.tagger.set_tag(on.ids["a.jpg"], "things|cup")
    on.tagger.unset_tag(on.ids["a.jpg"], "things|cat")
    on.sync.flush()
    assert read_keywords(on.folder / "a.jpg.xmp") == (["cup"], ["things|cup"])


def test_with_sync_off_tag_changes_write_nothing(off):
    off.photo("a.jpg")
    off.tagger.set_tag(off.ids["a.jpg"], "things|cat")
    off.sync.flush()
    assert names(off.folder) == set()


def test_the_worker_writes_by_itself_after_a_quiet_moment(on):
    on.sync.debounce_s = 0.05
    on.photo("a.jpg")
    on.tagger.set_tag(on.ids["a.jpg"], "things|cat")
    deadline = time.monotonic() + 30  # generous: a busy machine; the test waits, not measures
    while not (on.folder / "a.jpg.xmp").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert read_keywords(on.folder / "a.jpg.xmp") == (["cat"], ["things|cat"])
    while worker_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not worker_alive()  # an idle sync holds no thread


def worker_alive() -> bool:
    return any(t.name == "photoclip-sidecars" for t in threading.enumerate())


@pytest.mark.parametrize("setting", [True, False])
def test_a_renamed_photo_takes_its_sidecar_along_and_leaves_nothing_behind(tmp_path, setting):
    lib = Lib(tmp_path, on=setting)
    try:
        lib.photo("a.jpg")
        lib.tagger.set_tag(lib.ids["a.jpg"], "things|cat")
        write_sidecar(lib.folder / "a.jpg.xmp", ["cat"], ["things|cat"])  # `photoclip xmp`
        lib.rename("a.jpg", "b.jpg")
        lib.sync.flush()
        assert names(lib.folder) == {"b.jpg.xmp"}
        assert read_keywords(lib.folder / "b.jpg.xmp") == (["cat"], ["things|cat"])
    finally:
        lib.close()


def test_a_moved_photos_other_app_sidecar_keeps_its_data_and_only_our_keywords_move(off):
    off.photo("a.jpg")
    off.tagger.set_tag(off.ids["a.jpg"], "things|cup")
    old = off.folder / "a.jpg.xmp"
    old.write_text(FOREIGN, encoding="utf-8")  # digiKam's, with a rating and its keywords
    write_sidecar(old, ["cup"], ["things|cup"])  # photoclip merged its keyword in
    off.rename("a.jpg", "b.jpg")
    off.sync.flush()
    meta = exiv2_read(old)  # still there: not photoclip's file
    assert meta["Xmp.dc.subject"] == "holiday, cat"
    assert meta["Xmp.xmp.Rating"] == "4"
    assert read_keywords(off.folder / "b.jpg.xmp") == (["cup"], ["things|cup"])


def test_a_moved_photo_whose_sidecar_photoclip_never_wrote_to_is_left_alone(off):
    off.photo("a.jpg")
    off.tagger.set_tag(off.ids["a.jpg"], "things|cup")
    old = off.folder / "a.jpg.xmp"
    old.write_text(FOREIGN, encoding="utf-8")
    os.utime(old, ns=(1, 1))
    off.rename("a.jpg", "b.jpg")
    off.sync.flush()
    assert old.read_text(encoding="utf-8") == FOREIGN
    assert old.stat().st_mtime_ns == 1
    assert names(off.folder) == {"a.jpg.xmp"}  # the setting is off: no new sidecar either


def test_a_deleted_photos_sidecar_goes_when_it_was_photoclips_alone(off):
    ours, theirs = off.photo("a.jpg"), off.photo("c.jpg")
    write_sidecar(off.folder / "a.jpg.xmp", ["cat"], ["things|cat"])
    (off.folder / "c.jpg.xmp").write_text(FOREIGN, encoding="utf-8")
    write_sidecar(off.folder / "c.jpg.xmp", ["cup"], ["things|cup"])
    for path in (ours, theirs):
        path.unlink()
    off.catalog.delete_photos([off.ids["a.jpg"], off.ids["c.jpg"]])
    off.sync.on_moved([], [str(ours), str(theirs)])
    off.sync.flush()
    assert names(off.folder) == {"c.jpg.xmp"}
    assert read_keywords(off.folder / "c.jpg.xmp") == (["holiday", "cat"], ["places|Paris"])


def test_a_photo_that_is_back_keeps_its_sidecar(off):
    photo = off.photo("a.jpg")
    write_sidecar(off.folder / "a.jpg.xmp", ["cat"], ["things|cat"])
    off.sync.removed([str(photo)])  # reported gone, but the file is there again
    off.sync.flush()
    assert names(off.folder) == {"a.jpg.xmp"}


def test_lightroom_style_a_shared_sidecar_keeps_the_tags_of_the_photo_that_stayed(tmp_path):
    lib = Lib(tmp_path, on=True, style="photo.xmp")
    try:
        lib.photo("a.jpg")
        lib.photo("a.png")  # e.g. a RAW and its JPEG: one a.xmp
        lib.tagger.set_tag(lib.ids["a.jpg"], "things|cat")
        lib.tagger.set_tag(lib.ids["a.png"], "things|cup")
        lib.sync.flush()
        assert read_keywords(lib.folder / "a.xmp") == (["cat", "cup"],
                                                      ["things|cat", "things|cup"])
        lib.rename("a.jpg", "b.jpg")
        report = lib.sync.flush()
        assert report.failed == 0
        assert read_keywords(lib.folder / "a.xmp") == (["cup"], ["things|cup"])
        assert read_keywords(lib.folder / "b.xmp") == (["cat"], ["things|cat"])
    finally:
        lib.close()


def test_turning_the_setting_on_applies_at_once(off):
    off.photo("a.jpg")
    off.settings.on = True
    off.tagger.set_tag(off.ids["a.jpg"], "things|cat")
    off.sync.close()  # closing writes what is pending
    assert read_keywords(off.folder / "a.jpg.xmp") == (["cat"], ["things|cat"])


def test_a_sidecar_that_cannot_be_written_is_reported_and_the_rest_are_written(on):
    on.photo("a.jpg")
    on.photo("b.jpg")
    (on.folder / "a.jpg.xmp").mkdir()
    for name in ("a.jpg", "b.jpg"):
        on.tagger.set_tag(on.ids[name], "things|cat")
    report = on.sync.flush()
    assert report.failed == 1
    assert report.written == 1
    assert on.sync.report.errors[0][0].endswith("a.jpg.xmp")


def test_with_sync_off_a_library_without_sidecars_has_nothing_to_do(off):
    off.photo("a.jpg")
    off.tagger.set_tag(off.ids["a.jpg"], "things|cat")
    off.rename("a.jpg", "b.jpg")
    off.sync.removed([str(off.folder / "gone.jpg")])
    assert not off.sync.pending  # no work queued, no thread started for it


def albums_of(lib: Lib) -> LibraryAlbums:
    """What Library.albums hands out, over this test's catalog and sync."""
    return LibraryAlbums(SimpleNamespace(catalog=lib.catalog, sidecar_sync=lib.sync))  # type: ignore[arg-type]


def test_with_sync_on_a_rating_goes_through_the_sync_with_the_tags(on):
    on.photo("a.jpg")
    on.tagger.set_tag(on.ids["a.jpg"], "things|cat")
    on.sync.flush()
    assert albums_of(on).rate([on.ids["a.jpg"]], 4) == [on.ids["a.jpg"]]
    assert read_rating(on.folder / "a.jpg.xmp") is None  # not written by rate() itself...
    on.sync.flush()  # ...but by the sync's pass, the one writer of synced sidecars
    assert read_rating(on.folder / "a.jpg.xmp") == 4
    assert read_keywords(on.folder / "a.jpg.xmp") == (["cat"], ["things|cat"])
    albums_of(on).rate([on.ids["a.jpg"]], 0)
    on.sync.flush()
    assert read_rating(on.folder / "a.jpg.xmp") is None  # the rating photoclip wrote is taken back


def test_with_sync_off_a_rating_writes_no_sidecar(off):
    off.photo("a.jpg")
    albums_of(off).rate([off.ids["a.jpg"]], 4)
    off.sync.flush()
    assert names(off.folder) == set()


@pytest.mark.parametrize("setting", [True, False])
def test_a_renamed_photo_keeps_its_rating_in_its_new_sidecar(tmp_path, setting):
    lib = Lib(tmp_path, on=setting)
    try:
        lib.photo("a.jpg")
        lib.tagger.set_tag(lib.ids["a.jpg"], "things|cat")
        lib.catalog.set_rating([lib.ids["a.jpg"]], 3)
        write_sidecar(lib.folder / "a.jpg.xmp", ["cat"], ["things|cat"], 3)  # `photoclip xmp`
        lib.rename("a.jpg", "b.jpg")
        lib.sync.flush()
        assert names(lib.folder) == {"b.jpg.xmp"}
        assert read_rating(lib.folder / "b.jpg.xmp") == 3
    finally:
        lib.close()


def test_a_shared_sidecar_gets_the_best_rating_of_its_photos(tmp_path):
    lib = Lib(tmp_path, on=True, style="photo.xmp")
    try:
        lib.photo("a.jpg")
        lib.photo("a.png")  # a RAW and its JPEG: one a.xmp
        albums = albums_of(lib)
        albums.rate([lib.ids["a.jpg"]], 2)
        albums.rate([lib.ids["a.png"]], 5)
        lib.sync.flush()
        assert read_rating(lib.folder / "a.xmp") == 5
        albums.rate([lib.ids["a.png"]], 1)
        lib.sync.flush()
        assert read_rating(lib.folder / "a.xmp") == 2
    finally:
        lib.close()


def test_another_apps_rating_stays_when_photoclip_has_none(on):
    on.photo("a.jpg")
    side = on.folder / "a.jpg.xmp"
    side.write_text(FOREIGN_RATED)
    on.tagger.set_tag(on.ids["a.jpg"], "things|cat")
    on.sync.flush()
    assert read_keywords(side)[0] == ["cat"]
    assert read_rating(side) == 3  # unrated in the catalog: digiKam's stars are left alone


FOREIGN_RATED = """<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="3"/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""
