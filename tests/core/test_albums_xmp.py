"""Stars in XMP sidecars: xmp:Rating written beside photoclip's keywords, as libexiv2 (digiKam's
reader, an independent XMP implementation) reads it, with other apps' ratings kept and read."""

from __future__ import annotations

import exiv2
from test_tagging_xmp import exiv2_read  # libexiv2, an independent XMP reader

from photoclip.core.tagging.xmp import read_keywords, read_rating, retire, write_sidecar

FOREIGN = """<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
 <rdf:Description rdf:about='' xmlns:xmp='http://ns.adobe.com/xap/1.0/' xmp:Rating='3'
   xmlns:crs='http://ns.adobe.com/camera-raw-settings/1.0/' crs:Exposure2012='+0.50'/>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>
"""


def test_stars_are_written_beside_the_keywords_and_read_back(tmp_path):
    side = tmp_path / "IMG_1.jpg.xmp"
    assert write_sidecar(side, ["beach"], ["places|beach"], 4)
    meta = exiv2_read(side)
    assert meta["Xmp.xmp.Rating"] == "4"
    assert meta["Xmp.dc.subject"] == "beach"
    assert read_rating(side) == 4
    # A new rating replaces photoclip's old one; the keywords stay.
    assert write_sidecar(side, ["beach"], ["places|beach"], 2)
    assert exiv2_read(side)["Xmp.xmp.Rating"] == "2"
    assert read_keywords(side) == (["beach"], ["places|beach"])
    assert not write_sidecar(side, ["beach"], ["places|beach"], 2)  # nothing new


def test_another_apps_rating_is_read_and_kept_until_the_user_rates(tmp_path):
    side = tmp_path / "IMG_2.jpg.xmp"
    side.write_text(FOREIGN)
    assert read_rating(side) == 3
    # photoclip's keywords go in; the other app's rating and develop settings stay.
    assert write_sidecar(side, ["cat"], ["animals|cat"], 0)
    meta = exiv2_read(side)
    assert meta["Xmp.xmp.Rating"] == "3"
    assert meta["Xmp.crs.Exposure2012"] == "+0.50"
    assert meta["Xmp.dc.subject"] == "cat"
    # The user rates it in photoclip: that wins, and the rest still stays.
    assert write_sidecar(side, ["cat"], ["animals|cat"], 5)
    meta = exiv2_read(side)
    assert meta["Xmp.xmp.Rating"] == "5"
    assert meta["Xmp.crs.Exposure2012"] == "+0.50"


def test_a_rating_taken_back_leaves_no_trace_but_another_apps_change_stays(tmp_path):
    side = tmp_path / "IMG_3.jpg.xmp"
    write_sidecar(side, [], [], 4)
    assert write_sidecar(side, [], [], 0)
    assert read_rating(side) is None
    assert "Rating" not in side.read_text()
    # photoclip wrote 4, then another app changed it to 1: taking ours back keeps theirs.
    write_sidecar(side, ["x"], ["s|x"], 4)
    side.write_text(side.read_text().replace('xmp:Rating="4"', 'xmp:Rating="1"'))
    write_sidecar(side, ["x"], ["s|x"], 0)
    assert read_rating(side) == 1


def test_a_retired_sidecar_with_only_photoclips_rating_is_removed(tmp_path):
    side = tmp_path / "IMG_4.jpg.xmp"
    write_sidecar(side, ["dog"], ["pets|dog"], 3)
    assert retire(side) == "removed"
    assert not side.exists()


def test_ratings_other_apps_write_as_elements_or_out_of_range_are_read(tmp_path):
    image = tmp_path / "IMG_5.xmp"
    # libexiv2 writing the sidecar, as digiKam would.
    xmp = exiv2.XmpData()
    xmp["Xmp.xmp.Rating"] = "2"
    _, packet = exiv2.XmpParser.encode(xmp)  # (status, the packet)
    image.write_text(packet)
    assert read_rating(image) == 2
    element = tmp_path / "IMG_6.xmp"
    element.write_text(FOREIGN.replace(" xmp:Rating='3'", "").replace(
        "crs:Exposure2012='+0.50'/>",
        "crs:Exposure2012='+0.50'><xmp:Rating>-1</xmp:Rating></rdf:Description>"))
    assert read_rating(element) == 0  # Lightroom's "rejected"
    assert read_rating(tmp_path / "none.xmp") is None
