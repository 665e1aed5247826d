"""XMP sidecars: how tags leave the app. Originals are never opened for writing.

A sidecar carries the tags as dc:subject ("cat") and lr:hierarchicalSubject ("animals|cat"),
which digiKam, Lightroom, darktable and exiftool read. An existing sidecar is merged, not
replaced: every other property (rating, labels, develop settings...) and every keyword photoclip
did not write stays as it was. To know which keywords are its own, photoclip records what it
wrote under its own namespace; a keyword it wrote earlier and whose tag is gone is removed.

The files are parsed with the standard library's expat-based ElementTree: it resolves no
external entities, and expat (>= 2.4, bundled with Python 3.11) refuses entity-expansion bombs.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from photoclip.core import storage
from photoclip.core.catalog import Catalog
from photoclip.core.catalog.database import under
from photoclip.core.errors import PhotoclipError
from photoclip.core.tagging.guards import FileRefused, printable, read_regular, xml_text
from photoclip.core.tagging.store import TagStore
from photoclip.core.tagging.xmp_rating import apply_rating, rating_in
from photoclip.core.types import Progress

log = logging.getLogger(__name__)

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    # photoclip's own record of the keywords it wrote (a reserved, never-resolving host).
    "photoclip": "https://photoclip.invalid/ns/1.0/",
}
# Prefixes other tools use, so a merged sidecar keeps the names a person reading it expects.
_KNOWN_PREFIXES = {
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "MicrosoftPhoto": "http://ns.microsoft.com/photo/1.0/",
    "darktable": "http://darktable.sf.net/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
}
STYLES = ("photo.jpg.xmp", "photo.xmp")
# x:xmptk of a sidecar photoclip created: such a file may be deleted once it holds nothing else.
CREATOR = "photoclip"
_XPACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_XPACKET_END = '\n<?xpacket end="w"?>\n'
_NS_LOCK = threading.Lock()
_FIXED_URIS = {*NS.values(), *_KNOWN_PREFIXES.values()}
_FIXED_PREFIXES = {*NS, *_KNOWN_PREFIXES}
# The largest sidecar read: real ones are a few KB (develop settings included); a bigger one is
# not XMP, or is /dev/zero behind a link.
MAX_SIDECAR = 16 * 2**20


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


for _prefix, _uri in {**_KNOWN_PREFIXES, **NS}.items():
    ET.register_namespace(_prefix, _uri)


class SidecarError(PhotoclipError):
    """An existing sidecar could not be read as XMP, or is no file of ours to replace (a FIFO,
    a device, a symbolic link, too big); it is left untouched."""


def sidecar_path(photo: str | os.PathLike[str], style: str = "photo.jpg.xmp") -> Path:
    """`photo.jpg.xmp` (digiKam, darktable) or `photo.xmp` (Lightroom, Capture One)."""
    path = Path(photo)
    if style == "photo.jpg.xmp":
        out = path.with_name(path.name + ".xmp")
    elif style == "photo.xmp":
        out = path.with_suffix(".xmp")
    else:
        raise PhotoclipError(f"Unknown sidecar style {style!r}: use one of {', '.join(STYLES)}.")
    if out == path:  # a photo named *.xmp cannot be indexed, but never risk writing an original
        raise PhotoclipError(f"{photo}: its sidecar would be the photo itself; not writing it.")
    return out


# -- merge ------------------------------------------------------------------------------------


def _bag_items(elem: ET.Element | None) -> list[str]:
    if elem is None:
        return []
    out = []
    for li in elem.iter(_q("rdf", "li")):
        text = (li.text or "").strip()
        if text:
            out.append(text)
    return out


def _bag(parent: ET.Element, prefix: str, name: str, items: Sequence[str]) -> None:
    prop = ET.SubElement(parent, _q(prefix, name))
    bag = ET.SubElement(prop, _q("rdf", "Bag"))
    for item in items:
        ET.SubElement(bag, _q("rdf", "li")).text = item


def _parse(data: bytes) -> ET.Element:
    """Parse a sidecar, keeping its namespace prefixes for when it is written back."""
    try:
        with _NS_LOCK:
            for _event, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
                if (prefix and not prefix.startswith("ns") and uri not in _FIXED_URIS
                        and prefix not in _FIXED_PREFIXES):
                    ET.register_namespace(prefix, uri)
        return ET.fromstring(data)
    except (ET.ParseError, ValueError) as exc:
        raise SidecarError(f"not well-formed XMP (not valid XML: {exc}); fix or remove it") from exc


def merge(existing: bytes | None, keywords: Sequence[str], hierarchical: Sequence[str],
          rating: int | None = None) -> bytes:
    """The sidecar's new bytes: its own content, with photoclip's keywords (and, unless None,
    its rating: see xmp_rating) brought up to date. Characters XML cannot carry are dropped
    from the keywords, so the result is well-formed."""
    return _serialize(_merged_tree(existing, keywords, hierarchical, rating)[0])


def _serialize(root: ET.Element) -> bytes:
    try:
        ET.indent(root, space=" ")
        text = ET.tostring(root, encoding="unicode")
    except RecursionError:
        raise SidecarError("not XMP: its elements are nested too deeply") from None
    return (_XPACKET_BEGIN + text + _XPACKET_END).encode("utf-8")


def _merged_tree(
    existing: bytes | None, keywords: Sequence[str], hierarchical: Sequence[str],
    rating: int | None = None,
) -> tuple[ET.Element, bool]:
    """(the merged packet, whether `existing` held keywords or a rating photoclip had
    written)."""
    keywords = [k for k in map(xml_text, keywords) if k]
    hierarchical = [k for k in map(xml_text, hierarchical) if k]
    if existing is not None and existing.strip():
        root = _parse(existing)
        if root.tag == _q("rdf", "RDF"):
            rdf = root
            meta = ET.Element(_q("x", "xmpmeta"))
            meta.append(rdf)
            root = meta
        else:
            found = root.find(f".//{_q('rdf', 'RDF')}")
            if found is None:
                raise SidecarError("no rdf:RDF element: not an XMP packet")
            rdf = found
    else:
        # The tool mark says photoclip made this file (see `retire`).
        root = ET.Element(_q("x", "xmpmeta"), {_q("x", "xmptk"): CREATOR})
        rdf = ET.SubElement(root, _q("rdf", "RDF"))

    descriptions = rdf.findall(_q("rdf", "Description"))
    if not descriptions:
        descriptions = [ET.SubElement(rdf, _q("rdf", "Description"), {_q("rdf", "about"): ""})]

    # What is there now, and what of it photoclip wrote last time.
    subjects: list[str] = []
    hier: list[str] = []
    ours_before: set[str] = set()
    hier_before: set[str] = set()
    target = descriptions[0]
    for desc in descriptions:
        for child in list(desc):
            if child.tag == _q("dc", "subject"):
                subjects += _bag_items(child)
                target = desc
            elif child.tag == _q("lr", "hierarchicalSubject"):
                hier += _bag_items(child)
            elif child.tag == _q("photoclip", "subject"):
                ours_before |= set(_bag_items(child))
            elif child.tag == _q("photoclip", "hierarchicalSubject"):
                hier_before |= set(_bag_items(child))
            else:
                continue
            desc.remove(child)
    rated_before = apply_rating(descriptions, target, rating)

    for desc in descriptions:
        # A description emptied by moving its keywords to `target` is noise in the file.
        if desc is not target and len(desc) == 0 and set(desc.attrib) <= {_q("rdf", "about")}:
            rdf.remove(desc)

    new_subjects, ours = _merged(subjects, ours_before, keywords)
    new_hier, ours_hier = _merged(hier, hier_before, hierarchical)
    if new_subjects:
        _bag(target, "dc", "subject", new_subjects)
    if new_hier:
        _bag(target, "lr", "hierarchicalSubject", new_hier)
    if ours:
        _bag(target, "photoclip", "subject", ours)
    if ours_hier:
        _bag(target, "photoclip", "hierarchicalSubject", ours_hier)
    return root, bool(ours_before or hier_before or rated_before)


def _only_ours(root: ET.Element) -> bool:
    """True when photoclip created this packet and, its keywords taken out, nothing else is
    in it: no other property, keyword or attribute another app or the user put there."""
    if root.tag != _q("x", "xmpmeta") or root.attrib != {_q("x", "xmptk"): CREATOR}:
        return False
    children = list(root)
    if len(children) != 1 or children[0].tag != _q("rdf", "RDF") or children[0].attrib:
        return False
    return all(d.tag == _q("rdf", "Description") and len(d) == 0
               and set(d.attrib) <= {_q("rdf", "about")} for d in children[0])


def _merged(
    current: Sequence[str], ours_before: set[str], ours_now: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(the new list, the part of it that is photoclip's). Keywords others wrote stay, in their
    order, and stay theirs (a tag photoclip later drops does not take the user's keyword with
    it); ours follow; none twice."""
    foreign = [k for k in dict.fromkeys(current) if k not in ours_before]
    ours = [k for k in dict.fromkeys(ours_now) if k not in foreign]
    return foreign + ours, ours


def read_keywords(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """(dc:subject, lr:hierarchicalSubject) of a sidecar; for checks and the GUI."""
    data = read_sidecar(Path(path))
    if data is None:
        raise FileNotFoundError(2, "No such file or directory", str(path))
    root = _parse(data)
    return (_bag_items(root.find(f".//{_q('dc', 'subject')}")),
            _bag_items(root.find(f".//{_q('lr', 'hierarchicalSubject')}")))


def read_rating(path: str | os.PathLike[str]) -> int | None:
    """The stars (0-5) the sidecar at `path` gives its photo; None when it has no rating or
    there is no sidecar (other apps' sidecars are read this way: `photoclip xmp --read`)."""
    data = read_sidecar(Path(path))
    return None if data is None or not data.strip() else rating_in(_parse(data))


def holds_ours(path: Path) -> bool:
    """True when the sidecar at `path` holds keywords photoclip wrote."""
    data = read_sidecar(path)
    if data is None or NS["photoclip"].encode() not in data:
        return False
    root = _parse(data)
    return any(root.iter(_q("photoclip", "subject"))) or any(
        root.iter(_q("photoclip", "hierarchicalSubject")))


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename over: a crash leaves old or new, never half.
    The temp file's name (`.photo.jpg.xmp.<pid>.<random>.tmp`) is hidden, is no image and no
    sidecar to any reader, and tells the next run whether its writer is gone."""
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644  # mkstemp makes 0600; a sidecar is as readable as the photo beside it
    storage.atomic_write(path, data, mode=mode)


def remove_stale_temps(folder: Path) -> list[Path]:
    """Temp sidecars in `folder` that a killed `xmp` run left (its process is gone)."""
    return storage.remove_stale_temps(folder, lambda target: target.lower().endswith(".xmp"))


def read_sidecar(path: Path) -> bytes | None:
    """A sidecar's bytes, None when there is none. Only a regular file of at most MAX_SIDECAR
    bytes is read: a FIFO, a device, a folder or a symbolic link (which may point at another
    photo's sidecar, or at /dev/zero) raises SidecarError and is neither read nor replaced."""
    try:
        return read_regular(path, MAX_SIDECAR, follow_symlinks=False, what="sidecar")
    except FileRefused as exc:
        raise SidecarError(str(exc)) from None


def write_sidecar(path: Path, keywords: Sequence[str], hierarchical: Sequence[str],
                  rating: int | None = None) -> bool:
    """Merge tags (and, unless None, the photo's stars) into the sidecar at `path`; False when
    it already said exactly that, or when there is nothing to say to a file that holds none of
    photoclip's keywords (another app's sidecar is not rewritten for nothing)."""
    existing = read_sidecar(path)
    if existing is None and not (keywords or hierarchical or rating):
        return False
    root, had_ours = _merged_tree(existing, keywords, hierarchical, rating)
    if not (keywords or hierarchical or had_ours or rating):
        return False
    data = _serialize(root)
    if data == existing:
        return False
    atomic_write(path, data)
    return True


def retire(path: Path) -> str:
    """Take photoclip's keywords out of a sidecar no photo needs any more (the other style's
    after `--style` changed, a moved or deleted photo's old one): a file photoclip created
    that then holds nothing else is deleted ("removed"); any other file keeps all but
    photoclip's keywords ("cleaned"), and one with none of them is not touched ("unchanged").
    "absent" when there is no file."""
    existing = read_sidecar(path)
    if existing is None:
        return "absent"
    root, had_ours = _merged_tree(existing, (), (), 0)
    if _only_ours(root):
        path.unlink()  # read_sidecar saw a regular file, never a link to somewhere else
        return "removed"
    if not had_ours:
        return "unchanged"
    data = _serialize(root)
    if data == existing:
        return "unchanged"
    atomic_write(path, data)
    return "cleaned"


# -- the job ----------------------------------------------------------------------------------


@dataclass
class SidecarReport:
    written: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (sidecar, reason)
    denied: int = 0  # of `failed`: refused by the system's permissions
    removed: int = 0  # sidecars photoclip had created and no photo needs: deleted
    cleaned: int = 0  # other apps' sidecars no photo needs: photoclip's keywords taken out
    seconds: float = 0.0


class SidecarWriter:
    """Write the tags of the library's photos (or one folder's) to their sidecars."""

    def __init__(self, catalog: Catalog, style: str = "photo.jpg.xmp") -> None:
        sidecar_path("x.jpg", style)  # fail early on a bad style setting
        self.catalog = catalog
        self.store = TagStore(catalog)
        self.style = style
        self.report = SidecarReport()
        self.stars: dict[Path, int] = {}  # sidecar -> the best rating of its photos (plan())

    def _photos(self, folder: str | None) -> list[tuple[int, str]]:
        sql = "SELECT id, path FROM photos WHERE status = 'ok'"
        params: list[object] = []
        if folder:
            lo, hi = under(os.path.abspath(os.path.expanduser(folder)))
            sql += " AND path >= ? AND path < ?"
            params += [lo, hi]
        return [(int(i), str(p)) for i, p in self.catalog.query(sql + " ORDER BY path", params)]

    def plan(self, folder: str | None = None,
             photos: list[tuple[int, str]] | None = None) -> dict[Path, list[tuple[str, str]]]:
        """sidecar -> (set, label) tags to write. With the `photo.xmp` style a RAW and its JPEG
        share one sidecar, so it gets the union of their tags."""
        photos = self._photos(folder) if photos is None else photos
        tags = self.store.effective_tags([i for i, _ in photos])
        ratings = self.catalog.ratings(i for i, _ in photos)
        plan: dict[Path, list[tuple[str, str]]] = {}
        self.stars = {}
        for pid, path in photos:
            side = sidecar_path(path, self.style)
            mine = tags.get(pid, [])
            stars = ratings.get(pid, (0, False))[0]
            self.stars[side] = max(stars, self.stars.get(side, 0))
            # An untagged photo's sidecar is only opened if it exists: it may hold old keywords.
            if mine or stars or side in plan or os.path.lexists(side):
                entry = plan.setdefault(side, [])
                entry += [t for t in mine if t not in entry]
        return plan

    def other_style(self, photos: list[tuple[int, str]], plan: Mapping[Path, object]) -> list[Path]:
        """The sidecars of the other style that exist beside these photos: after `--style`
        changed, photoclip's keywords move out of them (see `retire`)."""
        found: set[Path] = set()
        for _, path in photos:
            for style in STYLES:
                if style != self.style:
                    side = sidecar_path(path, style)
                    if side not in plan and os.path.lexists(side):
                        found.add(side)
        return sorted(found)

    def run(self, folder: str | None = None,
            cancel: threading.Event | None = None) -> Iterator[Progress]:
        started = time.monotonic()
        report = self.report = SidecarReport()
        photos = self._photos(folder)
        plan = self.plan(photos=photos)
        old = self.other_style(photos, plan)
        total = len(plan) + len(old)
        yield Progress("xmp", 0, total, message=f"{total} sidecars to check")
        for parent in sorted({side.parent for side in [*plan, *old]}):
            remove_stale_temps(parent)  # debris of a run that was killed mid-write
        jobs: list[tuple[Path, list[tuple[str, str]] | None]] = [
            *sorted(plan.items()), *((side, None) for side in old)]
        for n, (side, tags) in enumerate(jobs, start=1):
            try:
                if tags is None:
                    self.count(retire(side))
                elif write_sidecar(side, sorted({label for _, label in tags}),
                                   sorted(f"{s}|{label}" for s, label in tags),
                                   self.stars.get(side, 0)):
                    report.written += 1
                else:
                    report.unchanged += 1
            except OSError as exc:
                if storage.is_disk_full(exc):
                    # Every further sidecar would fail the same way; the ones written are whole.
                    report.seconds = time.monotonic() - started
                    raise PhotoclipError(
                        f"the disk holding {side.parent} is full: free space there, then run "
                        f"`photoclip xmp` again ({report.written} sidecars were written, "
                        "none half)") from exc
                self._refused(side, exc.strerror or str(exc), denied=isinstance(
                    exc, PermissionError))
            except SidecarError as exc:
                self._refused(side, str(exc))
            except Exception as exc:  # one bad sidecar never stops the others
                log.exception("sidecar %s", side)
                self._refused(side, f"unexpected error: {type(exc).__name__}")
            if n % 200 == 0 or n == total:
                yield Progress("xmp", n, total, failed=report.failed)
            if cancel is not None and cancel.is_set():
                report.seconds = time.monotonic() - started
                return
        report.seconds = time.monotonic() - started
        yield Progress("xmp", total, total, failed=report.failed, finished=True,
                       message=self.summary())

    def count(self, outcome: str) -> None:
        """Count one `retire` outcome in the report."""
        if outcome == "removed":
            self.report.removed += 1
        elif outcome == "cleaned":
            self.report.cleaned += 1
        else:
            self.report.unchanged += 1

    def _refused(self, side: Path, reason: str, denied: bool = False) -> None:
        report = self.report
        report.failed += 1
        report.denied += denied
        report.errors.append((str(side), reason))
        log.warning("sidecar %s left alone: %s", printable(str(side)), reason)

    def failure_line(self) -> str:
        """One line on the sidecars left alone, with the advice that fits their cause."""
        r = self.report
        if not r.errors:
            return ""
        side, why = r.errors[0]
        line = (f"{r.failed} sidecar(s) were left alone, e.g. {printable(side)}: "
                f"{printable(why)}")
        if r.denied:
            line += " (check the folder's permissions)"
        return line

    def summary(self) -> str:
        r = self.report
        parts = [f"{r.written} sidecars written", f"{r.unchanged} unchanged"]
        if r.removed:
            parts.append(f"{r.removed} unneeded sidecars removed")
        if r.cleaned:
            parts.append(f"photoclip's keywords taken out of {r.cleaned} other apps' sidecars")
        if r.failed:
            parts.append(f"{r.failed} failed")
        return ", ".join(parts)
