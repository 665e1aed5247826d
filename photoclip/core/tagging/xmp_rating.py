"""A photo's stars in its XMP sidecar: `xmp:Rating`, which digiKam, Lightroom, darktable and
exiftool read and write.

photoclip writes the rating as an attribute of the packet's rdf:Description (as digiKam and
exiftool do) and records the value it wrote under its own namespace (`photoclip:Rating`): a
rating photoclip takes back (the photo was set to 0 stars, or its sidecar is retired) is removed
only while it is still the one photoclip wrote, so a rating another app wrote, or changed since,
stays. Reading accepts the attribute and the element form; Lightroom's -1 ("rejected") reads as
0 stars.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

XMP = "http://ns.adobe.com/xap/1.0/"
PHOTOCLIP = "https://photoclip.invalid/ns/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RATING = f"{{{XMP}}}Rating"
OURS = f"{{{PHOTOCLIP}}}Rating"
MAX_STARS = 5


def _stars(text: str | None) -> int | None:
    """A rating value as 0-5 stars; None when it is no number."""
    try:
        value = round(float((text or "").strip()))
    except (ValueError, OverflowError):
        return None
    return max(0, min(MAX_STARS, value))


def _current(descriptions: Sequence[ET.Element]) -> str | None:
    for desc in descriptions:
        if RATING in desc.attrib:
            return desc.attrib[RATING]
        elem = desc.find(RATING)
        if elem is not None:
            return elem.text or ""
    return None


def _drop(descriptions: Sequence[ET.Element]) -> None:
    for desc in descriptions:
        desc.attrib.pop(RATING, None)
        for elem in desc.findall(RATING):
            desc.remove(elem)


def apply_rating(descriptions: Sequence[ET.Element], target: ET.Element,
                 rating: int | None) -> bool:
    """Bring the packet's rating in line with photoclip's `rating` for the photo: None leaves
    it as it is, 1-5 writes it, 0 takes back the one photoclip wrote (if still there). True when
    the packet held a rating photoclip had written."""
    ours = next((d.attrib[OURS] for d in descriptions if OURS in d.attrib), None)
    if rating is None:
        return ours is not None
    if rating > 0:
        _drop(descriptions)
        for desc in descriptions:
            desc.attrib.pop(OURS, None)
        target.set(RATING, str(rating))
        target.set(OURS, str(rating))
    elif ours is not None:
        if _stars(_current(descriptions)) == _stars(ours):
            _drop(descriptions)
        for desc in descriptions:
            desc.attrib.pop(OURS, None)
    return ours is not None


def rating_in(root: ET.Element) -> int | None:
    """The stars a parsed packet gives its photo (0-5), None when it has no rating."""
    descriptions = list(root.iter(f"{{{RDF}}}Description"))
    return _stars(_current(descriptions)) if _current(descriptions) is not None else None
