"""XMP sidecars: valid XMP that libexiv2 (digiKam's reader) understands, merged with what other
apps wrote, written atomically, and never a byte written to an original."""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import exiv2
import pytest
import skimage

from photoclip.core.catalog import Catalog
from photoclip.core.errors import PhotoclipError
from photoclip.core.tagging import LabelSetSpec, LabelSpec, SidecarWriter, TagStore, sidecar_path
from photoclip.core.tagging.xmp import read_keywords, write_sidecar
from photoclip.core.types import PhotoRecord

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"

# A sidecar as exiftool writes it (one rdf:Description per namespace), with a title, a rating,
# a digiKam colour label, and keywords photoclip did not write.
FOREIGN = """<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='Image::ExifTool 12.57'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
 <rdf:Description rdf:about='' xmlns:dc='http://purl.org/dc/elements/1.1/'>
  <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li><rdf:li>cat</rdf:li></rdf:Bag></dc:subject>
  <dc:title><rdf:Alt><rdf:li xml:lang='x-default'>Summer</rdf:li></rdf:Alt></dc:title>
 </rdf:Description>
 <rdf:Description rdf:about='' xmlns:digiKam='http://www.digikam.org/ns/1.0/'>
  <digiKam:ColorLabel>3</digiKam:ColorLabel>
 </rdf:Description>
 <rdf:Description rdf:about='' xmlns:lr='http://ns.adobe.com/lightroom/1.0/'>
  <lr:hierarchicalSubject><rdf:Bag><rdf:li>places|Paris</rdf:li></rdf:Bag></lr:hierarchicalSubject>
 </rdf:Description>
 <rdf:Description rdf:about='' xmlns:xmp='http://ns.adobe.com/xap/1.0/' xmp:Rating='4'/>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>
"""


def exiv2_read(path: Path) -> dict[str, str]:
    """Key -> value as libexiv2 reads the sidecar (an independent XMP implementation)."""
    image = exiv2.ImageFactory.open(str(path))
    image.readMetadata()
    return {d.key(): d.toString() for d in image.xmpData()}


def test_a_new_sidecar_is_xmp_that_other_readers_understand(tmp_path):
    side = tmp_path / "IMG_1.jpg.xmp"
    assert write_sidecar(side, ["cat", "sofa"], ["animals|cat", "home|sofa"])
    ET.fromstring(side.read_bytes())  # well-formed XML
    meta = exiv2_read(side)
    assert meta["Xmp.dc.subject"] == "cat, sofa"
    assert meta["Xmp.lr.hierarchicalSubject"] == "animals|cat, home|sofa"
    assert read_keywords(side) == (["cat", "sofa"], ["animals|cat", "home|sofa"])


def test_merging_keeps_other_apps_fields_and_keywords(tmp_path):
    side = tmp_path / "IMG_2.xmp"
    side.write_text(FOREIGN, encoding="utf-8")
    assert write_sidecar(side, ["cat", "dog"], ["animals|cat", "animals|dog"])
    meta = exiv2_read(side)
    assert meta["Xmp.dc.subject"] == "holiday, cat, dog"  # no duplicate "cat"
    assert meta["Xmp.lr.hierarchicalSubject"] == "places|Paris, animals|cat, animals|dog"
    assert meta["Xmp.dc.title"] == 'lang="x-default" Summer'
    assert meta["Xmp.xmp.Rating"] == "4"
    assert meta["Xmp.digiKam.ColorLabel"] == "3"

    # Tags change: only what photoclip wrote goes; the user's "cat" was there before us.
    assert write_sidecar(side, ["rabbit"], ["animals|rabbit"])
    meta = exiv2_read(side)
    assert meta["Xmp.dc.subject"] == "holiday, cat, rabbit"
    assert meta["Xmp.lr.hierarchicalSubject"] == "places|Paris, animals|rabbit"
    assert meta["Xmp.xmp.Rating"] == "4"

    assert write_sidecar(side, [], [])  # no tags left: the sidecar is as the other app left it
    meta = exiv2_read(side)
    assert meta["Xmp.dc.subject"] == "holiday, cat"
    assert meta["Xmp.lr.hierarchicalSubject"] == "places|Paris"
    assert not any(k.startswith("Xmp.photoclip") for k in meta)


def test_rewriting_the_same_tags_leaves_the_file_alone(tmp_path):
    side = tmp_path / "a.jpg.xmp"
    side.write_text(FOREIGN, encoding="utf-8")
    assert write_sidecar(side, ["cat"], ["animals|cat"])
    before = side.read_bytes()
    os.utime(side, ns=(1, 1))
    assert not write_sidecar(side, ["cat"], ["animals|cat"])
    assert side.read_bytes() == before
    assert side.stat().st_mtime_ns == 1


def test_sidecar_styles():
    assert sidecar_path("/p/IMG_1.JPG") == Path("/p/IMG_1.JPG.xmp")
    assert sidecar_path("/p/IMG_1.JPG", "photo.xmp") == Path("/p/IMG_1.xmp")
    with pytest.raises(PhotoclipError, match=r"photo\.jpg\.xmp, photo\.xmp"):
        sidecar_path("/p/IMG_1.JPG", "IMG_1.XMP")


@pytest.fixture
def tagged_library(tmp_path):
    """Real photos in a catalog, each with tags; returns (catalog, folder, photo paths)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    names = ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"]
    for name in names:
        shutil.copy(SKIMAGE_DATA / name, folder / name)
    shutil.copy(SKIMAGE_DATA / "rocket.jpg", folder / "rocket.png")  # RAW+JPEG-like pair
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    root = catalog.add_root(str(folder))
    store = TagStore(catalog)
    ls, _ = store.save_set(LabelSetSpec("things", (LabelSpec("cat"), LabelSpec("cup"),
                                                    LabelSpec("rocket"), LabelSpec("sky"))))
    label = {lb.name: lb.id for lb in ls.labels}
    paths = {}
    for name in [*names, "rocket.png"]:
        path = folder / name
        pid = catalog.upsert_photo(PhotoRecord(root.id, str(path), path.stat().st_size, 1, name))
        paths[name] = (pid, path)
    store.set_user_tag(paths["chelsea.png"][0], label["cat"])
    store.set_user_tag(paths["coffee.png"][0], label["cup"])
    store.set_user_tag(paths["rocket.jpg"][0], label["rocket"])
    store.set_user_tag(paths["rocket.png"][0], label["sky"])
    store.reject(paths["astronaut.png"][0], label["rocket"])  # a "no" is not a keyword
    yield catalog, folder, {n: p for n, (_, p) in paths.items()}
    catalog.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_writing_sidecars_never_writes_an_original(tagged_library, monkeypatch):
    catalog, folder, photos = tagged_library
    before = {p: (sha256(p), p.stat().st_mtime_ns) for p in photos.values()}
    opened_for_writing: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and not isinstance(file, int):
            opened_for_writing.append(os.fspath(file))
        return real_open(file, mode, *args, **kwargs)

    def spy_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND):
            opened_for_writing.append(os.fspath(path))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    writer = SidecarWriter(catalog)
    for _ in writer.run():
        pass
    monkeypatch.undo()

    assert writer.report.written == 4
    assert writer.report.failed == 0
    assert opened_for_writing  # the spy saw the sidecar writes...
    originals = {str(p) for p in photos.values()}
    assert not originals & set(opened_for_writing)  # ...and no original among them
    assert {p: (sha256(p), p.stat().st_mtime_ns) for p in photos.values()} == before
    assert not list(folder.glob(".*.tmp"))  # no temp file left behind

    assert read_keywords(folder / "chelsea.png.xmp") == (["cat"], ["things|cat"])
    assert read_keywords(folder / "rocket.jpg.xmp") == (["rocket"], ["things|rocket"])
    assert not (folder / "astronaut.png.xmp").exists()  # only a rejection: nothing to write


def test_lightroom_style_shares_one_sidecar_between_same_named_photos(tagged_library):
    catalog, folder, _ = tagged_library
    writer = SidecarWriter(catalog, "photo.xmp")
    for _ in writer.run(folder=str(folder)):
        pass
    assert writer.report.written == 3
    assert read_keywords(folder / "rocket.xmp") == (["rocket", "sky"],
                                                   ["things|rocket", "things|sky"])
    assert exiv2_read(folder / "coffee.xmp")["Xmp.dc.subject"] == "cup"


def test_a_sidecar_that_is_not_xmp_is_left_alone_and_the_job_goes_on(tagged_library):
    catalog, folder, _ = tagged_library
    broken = folder / "coffee.png.xmp"
    broken.write_text("<not xmp")
    (folder / "chelsea.png.xmp").mkdir()  # cannot be written at all
    writer = SidecarWriter(catalog)
    for _ in writer.run():
        pass
    assert writer.report.failed == 2
    assert writer.report.written == 2
    assert broken.read_text() == "<not xmp"
    assert {Path(s).name for s, _ in writer.report.errors} == {"coffee.png.xmp",
                                                              "chelsea.png.xmp"}
    assert any("not valid XML" in why for _, why in writer.report.errors)


def test_removing_every_tag_clears_photoclips_keywords_from_existing_sidecars(tagged_library):
    catalog, folder, _ = tagged_library
    for _ in SidecarWriter(catalog).run():
        pass
    store = TagStore(catalog)
    store.remove_set("things")
    writer = SidecarWriter(catalog)
    for _ in writer.run():
        pass
    assert writer.report.written == 4
    assert read_keywords(folder / "chelsea.png.xmp") == ([], [])
