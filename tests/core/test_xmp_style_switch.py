"""`xmp --style` switched: photoclip's keywords move to the new style; a sidecar photoclip
created and that holds nothing else goes; another app's sidecar keeps everything but
photoclip's keywords, and one photoclip never wrote to is not touched (issue 15, item 11)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_tagging_xmp import FOREIGN, exiv2_read

from photoclip.core.catalog import Catalog
from photoclip.core.tagging import LabelSetSpec, LabelSpec, SidecarWriter, TagStore
from photoclip.core.tagging.xmp import read_keywords, retire, write_sidecar
from photoclip.core.types import PhotoRecord


@pytest.fixture
def library(tmp_path):
    """Four tagged photos (a JPEG and a PNG share a stem) and one untagged."""
    folder = tmp_path / "photos"
    folder.mkdir()
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    root = catalog.add_root(str(folder))
    store = TagStore(catalog)
    ls, _ = store.save_set(LabelSetSpec("things", tuple(map(LabelSpec, ["cat", "cup", "sky"]))))
    label = {lb.name: lb.id for lb in ls.labels}
    tags = {"a.png": "cat", "b.jpg": "cup", "c.jpg": "sky", "c.png": "cat", "d.jpg": None}
    for name, tag in tags.items():
        path = folder / name
        path.write_bytes(b"not really a photo: never opened by the sidecar writer")
        pid = catalog.upsert_photo(PhotoRecord(root.id, str(path), 54, 1, name))
        if tag:
            store.set_user_tag(pid, label[tag])
    yield catalog, folder
    catalog.close()


def write_all(catalog: Catalog, style: str) -> SidecarWriter:
    writer = SidecarWriter(catalog, style)
    for _ in writer.run():
        pass
    assert writer.report.failed == 0, writer.report.errors
    return writer


def sidecars(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.xmp")}


def test_switching_style_moves_photoclips_sidecars_instead_of_doubling_them(library):
    catalog, folder = library
    write_all(catalog, "photo.jpg.xmp")
    assert sidecars(folder) == {"a.png.xmp", "b.jpg.xmp", "c.jpg.xmp", "c.png.xmp"}

    writer = write_all(catalog, "photo.xmp")
    assert sidecars(folder) == {"a.xmp", "b.xmp", "c.xmp"}  # no a.png.xmp beside a.xmp
    assert writer.report.removed == 4
    assert read_keywords(folder / "c.xmp") == (["cat", "sky"], ["things|cat", "things|sky"])
    assert "4 unneeded sidecars removed" in writer.summary()

    # And back: the shared c.xmp goes, each photo gets its own again.
    write_all(catalog, "photo.jpg.xmp")
    assert sidecars(folder) == {"a.png.xmp", "b.jpg.xmp", "c.jpg.xmp", "c.png.xmp"}
    assert read_keywords(folder / "c.png.xmp") == (["cat"], ["things|cat"])


def test_another_apps_sidecar_keeps_its_data_and_loses_only_photoclips_keywords(library):
    catalog, folder = library
    lightroom = folder / "a.xmp"
    lightroom.write_text(FOREIGN, encoding="utf-8")  # the user's own sidecar, before photoclip
    write_all(catalog, "photo.xmp")
    assert exiv2_read(lightroom)["Xmp.dc.subject"] == "holiday, cat"  # ours merged in ("cat")

    write_all(catalog, "photo.jpg.xmp")
    assert lightroom.exists()  # not photoclip's file: it stays...
    meta = exiv2_read(lightroom)
    assert meta["Xmp.dc.subject"] == "holiday, cat"  # ...with the user's keywords
    assert meta["Xmp.lr.hierarchicalSubject"] == "places|Paris"  # ours ("things|cat") gone
    assert meta["Xmp.xmp.Rating"] == "4"
    assert not any(k.startswith("Xmp.photoclip") for k in meta)
    assert read_keywords(folder / "a.png.xmp") == (["cat"], ["things|cat"])


def test_a_sidecar_photoclip_made_that_another_app_then_added_to_is_kept(library):
    catalog, folder = library
    write_all(catalog, "photo.jpg.xmp")
    side = folder / "b.jpg.xmp"
    # digiKam gives the photo a rating: it rewrites the file, keeping photoclip's keywords.
    text = side.read_text(encoding="utf-8").replace(
        "<rdf:Description", "<rdf:Description xmlns:xmp='http://ns.adobe.com/xap/1.0/' "
                            "xmp:Rating='5'", 1)
    side.write_text(text, encoding="utf-8")

    writer = write_all(catalog, "photo.xmp")
    assert writer.report.cleaned == 1
    meta = exiv2_read(side)
    assert meta["Xmp.xmp.Rating"] == "5"
    assert "Xmp.dc.subject" not in meta
    assert read_keywords(folder / "b.xmp") == (["cup"], ["things|cup"])


def test_an_old_style_sidecar_photoclip_never_wrote_to_is_not_touched(library):
    catalog, folder = library
    foreign = folder / "d.jpg.xmp"  # the untagged photo's, from another app
    foreign.write_text(FOREIGN, encoding="utf-8")
    os.utime(foreign, ns=(1, 1))
    write_all(catalog, "photo.xmp")
    assert foreign.read_text(encoding="utf-8") == FOREIGN
    assert foreign.stat().st_mtime_ns == 1


def test_retire_outcomes(tmp_path):
    assert retire(tmp_path / "none.xmp") == "absent"
    ours = tmp_path / "ours.xmp"
    write_sidecar(ours, ["cat"], ["animals|cat"])
    assert retire(ours) == "removed"
    assert not ours.exists()
    theirs = tmp_path / "theirs.xmp"
    theirs.write_text(FOREIGN, encoding="utf-8")
    assert retire(theirs) == "unchanged"
    write_sidecar(theirs, ["dog"], ["animals|dog"])
    assert retire(theirs) == "cleaned"
    assert read_keywords(theirs) == (["holiday", "cat"], ["places|Paris"])


def test_an_untagged_photos_foreign_sidecar_is_not_rewritten(tmp_path):
    side = tmp_path / "x.jpg.xmp"
    side.write_text(FOREIGN, encoding="utf-8")
    assert not write_sidecar(side, [], [])
    assert side.read_text(encoding="utf-8") == FOREIGN
